//! Per-thread state of the allocation path: the re-entry guard, the small
//! thread number, and the thread's event buffer.
//!
//! All of it is one const-initialised thread-local of `Cell`s of types without
//! a destructor, so touching it never allocates, never registers a TLS
//! destructor and stays valid while a thread is being torn down.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use super::buffer::ThreadBuffer;

struct Local {
    /// True while this thread is inside the recorder (or is the drain thread):
    /// its allocations then go straight to the backing allocator.
    inside: Cell<bool>,
    /// This thread's number, 0 until the recorder first sees the thread.
    number: Cell<u32>,
    /// The buffer this thread writes its events into, null until it has one.
    buffer: Cell<*const ThreadBuffer>,
    /// The recording `buffer` was last checked for.
    generation: Cell<u32>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            inside: Cell::new(false),
            number: Cell::new(0),
            buffer: Cell::new(std::ptr::null()),
            generation: Cell::new(0),
        }
    };
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
        LOCAL
            .try_with(|local| {
                if local.inside.get() {
                    None
                } else {
                    local.inside.set(true);
                    Some(Guard(()))
                }
            })
            .ok()
            .flatten()
    }

    /// Enters the recorder and returns this thread's buffer for the recording
    /// of `generation`, asking `acquire` for one when the thread has none for
    /// it yet. `None` if the thread is inside already or has no buffer.
    #[inline(always)]
    pub(crate) fn enter_with_buffer(
        generation: u32,
        acquire: impl FnOnce(*const ThreadBuffer, u32) -> Option<&'static ThreadBuffer>,
    ) -> Option<(Guard, &'static ThreadBuffer)> {
        LOCAL
            .try_with(|local| {
                if local.inside.get() {
                    return None;
                }
                local.inside.set(true);
                let guard = Guard(());
                let buffer = local.buffer.get();
                if local.generation.get() == generation && !buffer.is_null() {
                    // SAFETY: only `&'static ThreadBuffer`s are stored.
                    return Some((guard, unsafe { &*buffer }));
                }
                let buffer = acquire(buffer, number_of(local))?;
                local.buffer.set(buffer);
                local.generation.set(generation);
                Some((guard, buffer))
            })
            .ok()
            .flatten()
    }
}

/// Makes `buffer` the calling thread's buffer for the rest of the
/// recording it was taken for (a spill buffer). False if the thread's
/// thread-locals are gone.
pub(crate) fn switch_buffer(buffer: &'static ThreadBuffer) -> bool {
    LOCAL.try_with(|local| local.buffer.set(buffer)).is_ok()
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|local| local.inside.set(false));
    }
}

/// Marks the current thread as permanently inside the recorder: nothing it
/// allocates from now on is recorded. For the drain thread.
pub(crate) fn ignore_this_thread() {
    let _ = LOCAL.try_with(|local| local.inside.set(true));
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

fn number_of(local: &Local) -> u32 {
    let mut value = local.number.get();
    if value == 0 {
        value = NEXT_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed);
        local.number.set(value);
    }
    value
}

/// This thread's small number, handing out the next one on first use.
#[inline]
pub fn thread_number() -> u32 {
    LOCAL.try_with(number_of).unwrap_or(0)
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
