//! The state a reporting allocator shares between its allocation path and
//! its control side: the running recording, and every thread's buffer.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::buffer::{Session, ThreadBuffer};
use super::guard;

/// Const-constructible, so the allocator can be a `static`.
pub(crate) struct State {
    /// The running recording, null otherwise. Read on every allocation.
    session: AtomicPtr<Session>,
    /// Every buffer this allocator has handed out, linked through
    /// `ThreadBuffer::next`. Only grows: buffers are reused, never freed.
    buffers: AtomicPtr<ThreadBuffer>,
    /// Taken only by `start` and `finish`: never on the allocation path, so an
    /// allocating thread can never hold it while another waits inside `alloc`.
    control: Mutex<Control>,
    /// Buffers retired by a thread that spilled, not yet emptied by the
    /// drain: at most the recording's `spill_buffers`.
    spilled: AtomicU32,
    /// Set once the state is in the fork handler's list.
    registered: AtomicBool,
    /// The next state in that list.
    next: AtomicPtr<State>,
}

pub(crate) struct Control {
    pub recording: bool,
}

impl State {
    pub(crate) const fn new() -> State {
        State {
            session: AtomicPtr::new(std::ptr::null_mut()),
            buffers: AtomicPtr::new(std::ptr::null_mut()),
            control: Mutex::new(Control { recording: false }),
            spilled: AtomicU32::new(0),
            registered: AtomicBool::new(false),
            next: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The running recording, if any.
    #[inline(always)]
    pub(crate) fn session(&self) -> Option<&'static Session> {
        let session = self.session.load(Ordering::Acquire);
        // SAFETY: only pointers from `Session::leak_new` are stored, and
        // sessions are never freed.
        unsafe { session.as_ref() }
    }

    pub(crate) fn publish(&self, session: &'static Session) {
        self.session
            .store(std::ptr::from_ref(session).cast_mut(), Ordering::Release);
    }

    pub(crate) fn unpublish(&self) {
        self.session.store(std::ptr::null_mut(), Ordering::Release);
    }

    /// Every buffer handed out so far.
    pub(crate) fn buffers(&self) -> impl Iterator<Item = &'static ThreadBuffer> {
        let mut next = self.buffers.load(Ordering::Acquire);
        std::iter::from_fn(move || {
            // SAFETY: only `&'static ThreadBuffer`s are linked.
            let buffer = unsafe { next.as_ref() }?;
            next = buffer.next();
            Some(buffer)
        })
    }

    /// A buffer for the calling thread (number `thread`) in `session`: the
    /// one it has (`current`) if it fits, else a free one, else one whose
    /// owner has exited and which is drained, else a new one. `None` only if
    /// the system has no memory for a new one. Runs inside the re-entry guard.
    #[cold]
    pub(crate) fn acquire_buffer(
        &self,
        session: &Session,
        current: *const ThreadBuffer,
        thread: u32,
    ) -> Option<&'static ThreadBuffer> {
        let tid = current_tid();
        let here = std::ptr::from_ref(self) as usize;
        // Ours: in this allocator's list, held by this thread (its id and its
        // number: an exited thread's id may have been given to us).
        let ours = |buffer: &ThreadBuffer| {
            buffer.state() == here && buffer.owner_tid() == tid && buffer.thread() == thread
        };
        // SAFETY: only `&'static ThreadBuffer`s are stored as a thread's buffer.
        let current = unsafe { current.as_ref() }.filter(|current| ours(current));
        if let Some(current) = current {
            if current.capacity() == session.capacity {
                return Some(current);
            }
            current.release();
        }
        // One we left when recording through another allocator.
        if let Some(buffer) = self.buffers().find(|buffer| {
            ours(buffer) && !buffer.in_spill() && buffer.capacity() == session.capacity
        }) {
            return Some(buffer);
        }
        self.claim_or_make(session.capacity, tid, thread, None)
    }

    /// A buffer of `capacity` slots for thread `tid` (number `thread`),
    /// other than `besides`: a free one, else one whose owner has exited and
    /// which is drained, else a new one. `None` only if the system has no
    /// memory for a new one.
    fn claim_or_make(
        &self,
        capacity: usize,
        tid: u32,
        thread: u32,
        besides: Option<&ThreadBuffer>,
    ) -> Option<&'static ThreadBuffer> {
        for buffer in self.buffers() {
            if buffer.capacity() != capacity
                || buffer.in_spill()
                || besides.is_some_and(|besides| std::ptr::eq(besides, buffer))
            {
                continue;
            }
            // Read after `in_spill`: a retired buffer is freed before it is
            // marked not retired.
            let owner = buffer.owner_tid();
            // Free, or left by an exited thread (perhaps one whose id the
            // kernel has since given to us) and drained.
            let reusable =
                owner == 0 || ((owner == tid || !thread_alive(owner)) && buffer.drained());
            if reusable && buffer.claim(owner, tid, thread) {
                return Some(buffer);
            }
        }
        let here = std::ptr::from_ref(self) as usize;
        let buffer = ThreadBuffer::leak_new(here, capacity, tid, thread)?;
        let this = std::ptr::from_ref(buffer).cast_mut();
        let mut head = self.buffers.load(Ordering::Acquire);
        loop {
            buffer.set_next(head);
            match self.buffers.compare_exchange_weak(
                head,
                this,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(buffer),
                Err(now) => head = now,
            }
        }
    }

    /// Owner side, when the calling thread's buffer `full` is full: a spill
    /// buffer, made the thread's buffer, whose events the drain takes only
    /// once it has emptied `full`. `None` (so the thread waits) when the
    /// recording has ended, when `spill_buffers` filled buffers already wait
    /// for the drain, or when there is no memory. Runs inside the re-entry
    /// guard.
    #[cold]
    #[inline(never)]
    pub(crate) fn spill(
        &self,
        session: &Session,
        full: &'static ThreadBuffer,
    ) -> Option<&'static ThreadBuffer> {
        if session.is_closed() {
            return None;
        }
        self.spilled
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |spilled| {
                (spilled < session.spill_buffers).then_some(spilled + 1)
            })
            .ok()?;
        let next = self
            // Not `full` itself, which the drain may have emptied since.
            .claim_or_make(session.capacity, current_tid(), full.thread(), Some(full))
            .filter(|next| {
                guard::switch_buffer(next) || {
                    next.release();
                    false
                }
            });
        let Some(next) = next else {
            self.spilled.fetch_sub(1, Ordering::AcqRel);
            return None;
        };
        next.spill_from(full);
        session.count_spill();
        session.wake_drain();
        Some(next)
    }

    /// Drain side: whether `buffer`'s events may be taken now. A spill
    /// buffer's events wait until the drain has emptied the buffer its
    /// thread filled before it; that one is then let go, free for any
    /// thread.
    pub(crate) fn may_take(&self, buffer: &ThreadBuffer) -> bool {
        let Some(before) = buffer.continues() else {
            return true;
        };
        if !before.drained() || before.continues().is_some() {
            return false;
        }
        buffer.let_go_of_continued(before);
        self.spilled.fetch_sub(1, Ordering::AcqRel);
        true
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

/// The calling thread's kernel id: unique among the live threads.
fn current_tid() -> u32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        (unsafe { libc::gettid() }) as u32
    }
    #[cfg(not(target_os = "linux"))]
    {
        // A per-thread token elsewhere: the address of a thread-local.
        thread_local!(static TOKEN: u8 = const { 0 });
        TOKEN.with(|token| std::ptr::from_ref(token) as usize as u32) | 1
    }
}

/// Whether the thread with kernel id `tid` still runs in this process. Off
/// Linux the answer is always yes: buffers of exited threads are then not
/// reused.
fn thread_alive(tid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: signal 0 only checks that the thread exists; nothing is sent.
        let result = unsafe {
            libc::syscall(
                libc::SYS_tgkill,
                libc::getpid(),
                libc::c_long::from(tid as i32),
                0,
            )
        };
        result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = tid;
        true
    }
}
