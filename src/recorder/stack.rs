//! Capturing the call stack of an allocating call, on the allocating thread.
//!
//! Only return addresses are taken here: walking the stack reads unwind
//! tables and takes no lock the recorder's callers could hold (on Linux,
//! libgcc's unwinder finds them with `_dl_find_object`, which does not lock).
//! Turning addresses into names happens off the allocation path, in the sink.

use super::Kind;
use super::buffer::{Refused, Session, Spill, ThreadBuffer};
use super::slot::{RawEvent, STACK_SAMPLED, STACK_SLOW};

/// The most return addresses taken from one stack, the recorder's own
/// frames included; deeper stacks lose their outermost frames.
pub(crate) const MAX_FRAMES: usize = 128;

/// Why this call's stack is to be captured ([`STACK_SLOW`],
/// [`STACK_SAMPLED`]), or 0: one compare, and a branch not taken, when
/// stacks are off. (Checking whether they are on, then the threshold, took
/// two taken branches a call.)
#[inline(always)]
pub(crate) fn reasons(
    session: &Session,
    buffer: &ThreadBuffer,
    kind: Kind,
    latency_ticks: u64,
) -> u8 {
    if latency_ticks < session.stacks.look_from_ticks {
        return 0;
    }
    reasons_for(session, buffer, kind, latency_ticks)
}

/// [`reasons`] for a call the policy must look at.
#[cold]
#[inline(never)]
fn reasons_for(session: &Session, buffer: &ThreadBuffer, kind: Kind, latency_ticks: u64) -> u8 {
    let stacks = &session.stacks;
    if !stacks.is_on() {
        return 0;
    }
    let mut why = 0;
    if latency_ticks >= stacks.over_ticks {
        why |= STACK_SLOW;
    }
    if stacks.every != 0 && kind != Kind::Dealloc && buffer.sample_due(stacks.every) {
        why |= STACK_SAMPLED;
    }
    why
}

/// Captures the calling thread's stack and adds `event` (its `stack_why`
/// set) with it to the thread's buffer. The caller holds the re-entry guard, so anything the
/// unwinder allocates passes through unrecorded.
#[cold]
#[inline(never)]
pub(crate) fn push_with_stack(
    buffer: &'static ThreadBuffer,
    session: &Session,
    event: RawEvent,
    spill: impl Spill,
) -> Result<(), Refused> {
    let mut frames = [0u64; MAX_FRAMES];
    let count = walk(&mut frames);
    buffer.push_with_frames(session, event, &frames[..count], spill)
}

/// Fills `frames` with the calling thread's return addresses, innermost
/// first; returns how many.
#[cfg(feature = "stacks")]
#[inline(always)]
fn walk(frames: &mut [u64; MAX_FRAMES]) -> usize {
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
    count
}

/// Without the `stacks` feature a recording that asks for stacks does not
/// start ([`StartError::StacksUnavailable`](super::StartError::StacksUnavailable)),
/// so this is never reached.
#[cfg(not(feature = "stacks"))]
fn walk(_frames: &mut [u64; MAX_FRAMES]) -> usize {
    0
}
