//! Capturing the call stack of an allocating call, on the allocating thread.
//!
//! Only return addresses are taken here: walking the stack reads unwind
//! tables and takes no lock the recorder's callers could hold (on Linux,
//! libgcc's unwinder finds them with `_dl_find_object`, which does not lock).
//! Turning addresses into names happens off the allocation path, in the sink.

use super::buffer::{RawEvent, Refused, Session, ThreadBuffer};

/// The most return addresses taken from one stack, the recorder's own
/// frames included; deeper stacks lose their outermost frames.
pub(crate) const MAX_FRAMES: usize = 128;

/// Captures the calling thread's stack and adds `event` with it to the
/// thread's buffer. The caller holds the re-entry guard, so anything the
/// unwinder allocates passes through unrecorded.
#[cold]
#[inline(never)]
pub(crate) fn push_with_stack(
    buffer: &ThreadBuffer,
    session: &Session,
    mut event: RawEvent,
    why: u8,
) -> Result<(), Refused> {
    let mut frames = [0u64; MAX_FRAMES];
    let mut count = 0;
    // SAFETY: `trace_unsynchronized` is unsafe only because some platforms'
    // unwinders (dbghelp on Windows) must not run on two threads at once; on
    // the platforms whose unwinder is libgcc's or libunwind's, as on Linux,
    // concurrent walks are safe. The closure only stores into a local array.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            frames[count] = frame.ip() as u64;
            count += 1;
            count < MAX_FRAMES
        });
    }
    event.stack_why = why;
    buffer.push_with_frames(session, event, &frames[..count])
}
