//! Per-thread state of the allocation path: the re-entry guard and the small
//! thread number.
//!
//! Both are const-initialised `Cell`s of types without a destructor, so
//! touching them never allocates, never registers a TLS destructor and stays
//! valid while a thread is being torn down.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

thread_local! {
    /// True while this thread is inside the recorder (or is the drain thread):
    /// its allocations then go straight to the backing allocator.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
    /// This thread's number, 0 until the recorder first sees the thread.
    static THREAD_NUMBER: Cell<u32> = const { Cell::new(0) };
}

/// The next thread number to hand out: 1 for the first thread seen.
static NEXT_THREAD_NUMBER: AtomicU32 = AtomicU32::new(1);

/// Marks the current thread as inside the recorder until dropped.
pub(crate) struct Guard(());

impl Guard {
    /// Enters the recorder, or `None` if this thread is already inside it
    /// (a re-entrant allocation) or its thread-locals are gone.
    #[inline]
    pub(crate) fn enter() -> Option<Guard> {
        INSIDE
            .try_with(|inside| {
                if inside.get() {
                    None
                } else {
                    inside.set(true);
                    Some(Guard(()))
                }
            })
            .ok()
            .flatten()
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        let _ = INSIDE.try_with(|inside| inside.set(false));
    }
}

/// Marks the current thread as permanently inside the recorder: nothing it
/// allocates from now on is recorded. For the drain thread.
pub(crate) fn ignore_this_thread() {
    let _ = INSIDE.try_with(|inside| inside.set(true));
}

/// Runs `f` without recording the current thread's allocations.
///
/// For code that must not disturb the measurement, such as a progress display
/// running on a simulation thread.
pub fn without_recording<R>(f: impl FnOnce() -> R) -> R {
    // `None` means the thread is inside already: nothing to add.
    let _guard = Guard::enter();
    f()
}

/// This thread's small number, handing out the next one on first use.
#[inline]
pub fn thread_number() -> u32 {
    THREAD_NUMBER
        .try_with(|number| {
            let mut value = number.get();
            if value == 0 {
                value = NEXT_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed);
                number.set(value);
            }
            value
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_refuses_reentry_and_releases_on_drop() {
        let outer = Guard::enter().expect("first entry");
        assert!(Guard::enter().is_none(), "re-entry must be refused");
        drop(outer);
        assert!(Guard::enter().is_some(), "released after drop");
    }

    #[test]
    fn thread_numbers_are_stable_and_distinct() {
        let here = thread_number();
        assert_eq!(here, thread_number());
        let there = std::thread::spawn(thread_number).join().unwrap();
        assert_ne!(here, there);
        assert!(here >= 1 && there >= 1);
    }
}
