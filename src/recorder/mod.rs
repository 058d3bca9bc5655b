//! The reporting global allocator.
//!
//! [`ReportingAllocator`] wraps a backing allocator (System by default) and,
//! while a [`Recording`] runs, times every `alloc`, `alloc_zeroed`, `realloc`
//! and `dealloc` of the process. The allocation path never allocates, never
//! locks, never prints and never panics: it reads the clock around the backing
//! call and writes a fixed-size event into the calling thread's own buffer,
//! reserved outside the global allocator. A drain thread empties every
//! thread's buffer into a [`Sink`]. When its buffer is full an allocating
//! thread goes on in a spill buffer ([`Config::spill_buffers`]), or else
//! waits for the drain, so nothing is lost; that wait is
//! counted apart and never folded into a latency. Only if the drain makes no
//! progress at all for [`Config::stall_limit`] (a sink that blocks) does a
//! waiting thread stop waiting: its event is dropped and counted, so the
//! recorder can never hang the program it measures.
//!
//! Not recorded: anything before [`ReportingAllocator::start`] and after
//! [`Recording::finish`], the recorder's own threads (the drain, from its
//! first instruction), code run inside [`without_recording`], and a child
//! process forked while recording (it passes straight through). A call on
//! another thread that is still running while `finish` ends the recording
//! may be left out: every call that returned before `finish` was called is
//! in.

mod buffer;
mod clock;
mod drain;
mod event;
mod fork;
mod guard;
mod session;
mod slot;
mod stack;
mod state;

use std::alloc::{GlobalAlloc, Layout, System};

pub use clock::{Calibration, ClockSource, TickSource};
pub use drain::Sink;
pub use event::{Event, Kind, StackRef, UnknownKind};
pub use guard::{thread_number, without_recording};
pub use session::{
    Config, DEFAULT_CAPACITY_EVENTS, DEFAULT_SPILL_BUFFERS, DEFAULT_STALL_LIMIT, FinishError,
    Finished, MAX_SPILL_BUFFERS, Recording, StartError,
};

use guard::Guard;
use slot::RawEvent;
use state::State;

/// A `GlobalAlloc` that records every call it forwards to `A`.
///
/// Make it the global allocator, then [`start`](ReportingAllocator::start) a
/// recording; until then (and after it) it passes calls straight through at the
/// cost of one atomic load.
pub struct ReportingAllocator<A = System> {
    inner: A,
    state: State,
}

impl<A> ReportingAllocator<A> {
    /// Wraps `inner`. Const, so it can initialise a `static`.
    pub const fn new(inner: A) -> ReportingAllocator<A> {
        ReportingAllocator {
            inner,
            state: State::new(),
        }
    }

    /// The backing allocator.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Starts recording into `sink`. Fails if a recording is already running
    /// on this allocator.
    pub fn start<S: Sink>(
        &'static self,
        config: Config,
        sink: S,
    ) -> Result<Recording<S>, StartError> {
        session::start(&self.state, config, sink)
    }

    /// Runs one backing call, timing and recording it if a recording runs and
    /// this thread is not already inside the recorder.
    #[inline(always)]
    fn observe(
        &self,
        kind: Kind,
        layout: Layout,
        size_bytes: usize,
        old_addr: u64,
        old_size_bytes: usize,
        call: impl FnOnce() -> *mut u8,
    ) -> *mut u8 {
        let Some(session) = self.state.session() else {
            return call();
        };
        let entered = Guard::enter_with_buffer(session.generation, |current, thread| {
            let buffer = self.state.acquire_buffer(session, current, thread);
            if buffer.is_none() {
                session.count_dropped();
            }
            buffer
        });
        let Some((_guard, buffer)) = entered else {
            return call();
        };
        let clock = session.clock;
        let start_ticks = clock.now_ticks();
        let ptr = call();
        let latency_ticks = clock.now_ticks().saturating_sub(start_ticks);
        let event = move |stack_why| RawEvent {
            start_ticks,
            latency_ticks,
            size_bytes: size_bytes as u64,
            addr: ptr as u64,
            old_addr,
            old_size_bytes: old_size_bytes as u64,
            generation: session.generation,
            align_log2: layout.align().trailing_zeros() as u8,
            kind: kind as u8,
            stack_frames: 0,
            stack_why,
        };
        let spill = |session: &_, full| self.state.spill(session, full);
        let why = stack::reasons(session, buffer, kind, latency_ticks);
        if why != 0 {
            // Still inside the guard: whatever the unwinder allocates passes
            // through unrecorded.
            let _ = stack::push_with_stack(buffer, session, event(why), spill);
            return ptr;
        }
        // A refused event is counted (dropped) or belongs to no recording
        // (closed): either way the call itself has succeeded.
        let _ = buffer.push(session, event(0), spill);
        ptr
    }
}

// SAFETY: every method forwards to the backing allocator with the caller's
// arguments unchanged and returns its result unchanged; recording only reads
// them.
unsafe impl<A: GlobalAlloc> GlobalAlloc for ReportingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        self.observe(Kind::Alloc, layout, layout.size(), 0, 0, || unsafe {
            self.inner.alloc(layout)
        })
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc_zeroed`'s contract for `layout`.
        self.observe(Kind::AllocZeroed, layout, layout.size(), 0, 0, || unsafe {
            self.inner.alloc_zeroed(layout)
        })
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `realloc`'s contract for `ptr`, `layout`
        // and `new_size`; the backing allocator's realloc is used, not alloc +
        // copy + free, so in-place growth shows up as such.
        self.observe(
            Kind::Realloc,
            layout,
            new_size,
            ptr as u64,
            layout.size(),
            || unsafe { self.inner.realloc(ptr, layout, new_size) },
        )
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.observe(Kind::Dealloc, layout, layout.size(), 0, 0, || {
            // SAFETY: the caller upholds `dealloc`'s contract for `ptr` and `layout`.
            unsafe { self.inner.dealloc(ptr, layout) };
            ptr
        });
    }
}
