//! A child forked while a recording runs has no drain thread: recording there
//! would fill its buffer and then wait for room that never comes. A
//! `pthread_atfork` handler unpublishes every allocator's recording in the child,
//! so the child's calls pass straight through, unrecorded. fork + exec is
//! unaffected: the new program starts afresh.

use std::sync::Once;
use std::sync::atomic::{AtomicPtr, Ordering};

use super::state::State;

/// Every state that has ever recorded, linked through `State::next`. States
/// live in `static` allocators, so the list only grows.
static STATES: AtomicPtr<State> = AtomicPtr::new(std::ptr::null_mut());
static HANDLER: Once = Once::new();

/// Makes sure `state` stops recording in forked children.
pub(crate) fn register(state: &'static State) {
    HANDLER.call_once(|| {
        #[cfg(unix)]
        // SAFETY: `in_child` is an `extern "C" fn()` that only does atomic
        // loads and stores, which is async-signal-safe as a fork handler
        // must be. A failure (ENOMEM) leaves children recording into a buffer
        // nobody drains; the stall limit still keeps them from hanging.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
    if state.mark_registered() {
        return;
    }
    let this = std::ptr::from_ref(state).cast_mut();
    let mut head = STATES.load(Ordering::Acquire);
    loop {
        state.set_next(head);
        match STATES.compare_exchange_weak(head, this, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

#[cfg(unix)]
extern "C" fn in_child() {
    let mut next = STATES.load(Ordering::Acquire);
    // SAFETY: only `&'static State`s are linked into the list.
    while let Some(state) = unsafe { next.as_ref() } {
        state.unpublish();
        next = state.next();
    }
}
