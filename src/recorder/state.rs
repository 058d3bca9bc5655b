//! The state a reporting allocator shares between its allocation path and
//! its control side.

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::ring::Ring;

/// Const-constructible, so the allocator can be a `static`.
pub(crate) struct State {
    /// The ring while recording, null otherwise. Read on every allocation.
    ring: AtomicPtr<Ring>,
    /// Taken only by `start` and `finish`: never on the allocation path, so an
    /// allocating thread can never hold it while another waits inside `alloc`.
    control: Mutex<Control>,
    /// Set once the state is in the fork handler's list.
    registered: AtomicBool,
    /// The next state in that list.
    next: AtomicPtr<State>,
}

pub(crate) struct Control {
    pub recording: bool,
    /// The ring of the last recording, reused by the next.
    pub spare: Option<&'static Ring>,
}

impl State {
    pub(crate) const fn new() -> State {
        State {
            ring: AtomicPtr::new(std::ptr::null_mut()),
            control: Mutex::new(Control {
                recording: false,
                spare: None,
            }),
            registered: AtomicBool::new(false),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The ring to record into, if recording.
    #[inline(always)]
    pub(crate) fn ring(&self) -> Option<&'static Ring> {
        let ring = self.ring.load(Ordering::Acquire);
        // SAFETY: only pointers from `Ring::leak_new` are stored, and rings
        // are never freed.
        unsafe { ring.as_ref() }
    }

    pub(crate) fn publish(&self, ring: &'static Ring) {
        self.ring
            .store(std::ptr::from_ref(ring).cast_mut(), Ordering::Release);
    }

    pub(crate) fn unpublish(&self) {
        self.ring.store(std::ptr::null_mut(), Ordering::Release);
    }

    /// Marks the state as in the fork handler's list; true if it already was.
    pub(crate) fn mark_registered(&self) -> bool {
        self.registered.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn set_next(&self, next: *mut State) {
        self.next.store(next, Ordering::Release);
    }

    pub(crate) fn next(&self) -> *mut State {
        self.next.load(Ordering::Acquire)
    }

    pub(crate) fn lock_control(&self) -> MutexGuard<'_, Control> {
        // The control data stays consistent even if a holder panicked.
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
