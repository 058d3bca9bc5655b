//! How an event is laid out in a thread's buffer: one 32-byte slot, and a
//! second one for a realloc or for the rare call too big or too slow for
//! 32-bit fields.
//!
//! An alloc, alloc_zeroed or dealloc whose size and latency each fit in 32
//! bits (every call but those of 4 GiB or more, or slower than 2^32 ticks,
//! about 1.4 s at 3 GHz) takes one slot, half a cache line: the allocation
//! path writes four words. A realloc (its old address and size), or a call
//! too big or too slow for 32 bits, takes a [`Wide`] slot more with the full
//! figures. Nothing is rounded or cut: [`Slot::event`] gives back exactly
//! the [`RawEvent`] that was written. In the default headless run, where 43 %
//! of the events are reallocs, an event takes 45.7 bytes on average.

use super::event::Kind;

/// One event as the allocation path records it: raw ticks, no conversion.
/// Stored as one [`Slot`], or two when [`is_wide`](RawEvent::is_wide).
///
/// An event with a captured call stack is followed in its buffer by the
/// stack's return addresses, [`FRAMES_PER_SLOT`] to a slot, published
/// together with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub start_ticks: u64,
    pub latency_ticks: u64,
    pub size_bytes: u64,
    pub addr: u64,
    /// Realloc only; 0 otherwise.
    pub old_addr: u64,
    /// Realloc only; 0 otherwise.
    pub old_size_bytes: u64,
    /// The recording it was written for.
    pub generation: u32,
    pub align_log2: u8,
    pub kind: u8,
    /// Return addresses in the slots that follow; 0 when no stack was taken.
    pub stack_frames: u8,
    /// Why the stack was taken: [`STACK_SLOW`] and/or [`STACK_SAMPLED`].
    pub stack_why: u8,
}

/// [`RawEvent::stack_why`]: slower than the recording's threshold.
pub(crate) const STACK_SLOW: u8 = 1;
/// [`RawEvent::stack_why`]: its thread's N-th allocating call.
pub(crate) const STACK_SAMPLED: u8 = 2;

/// The first (usually only) slot of an event: 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Slot {
    start_ticks: u64,
    addr: u64,
    /// The low half of the size; the wide slot has the whole of it.
    size_bytes: u32,
    /// The low half of the latency; the wide slot has the whole of it.
    latency_ticks: u32,
    generation: u32,
    align_log2: u8,
    /// The kind, and [`WIDE`] when a [`Wide`] slot follows.
    kind: u8,
    stack_frames: u8,
    stack_why: u8,
}

/// The second slot of a wide event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Wide {
    size_bytes: u64,
    latency_ticks: u64,
    old_addr: u64,
    old_size_bytes: u64,
}

/// [`Slot::kind`]'s flag for an event with a [`Wide`] slot.
const WIDE: u8 = 0x80;

/// Return addresses one slot holds.
pub(crate) const FRAMES_PER_SLOT: usize = size_of::<Slot>() / size_of::<u64>();
const _: () = assert!(size_of::<Slot>() == 32);
const _: () = assert!(size_of::<Wide>() == size_of::<Slot>());
const _: () = assert!(align_of::<Wide>() == align_of::<Slot>());

impl RawEvent {
    /// Whether the event takes a [`Wide`] slot as well as its [`Slot`].
    #[inline(always)]
    pub(crate) fn is_wide(&self) -> bool {
        self.kind == Kind::Realloc as u8
            || (self.size_bytes | self.latency_ticks) > u64::from(u32::MAX)
    }

    /// Its first slot, flagged when a [`Wide`] slot follows.
    #[inline(always)]
    pub(crate) fn slot(&self) -> Slot {
        Slot {
            start_ticks: self.start_ticks,
            addr: self.addr,
            // Cut to their low halves only when the wide slot has them whole.
            size_bytes: self.size_bytes as u32,
            latency_ticks: self.latency_ticks as u32,
            generation: self.generation,
            align_log2: self.align_log2,
            kind: self.kind | if self.is_wide() { WIDE } else { 0 },
            stack_frames: self.stack_frames,
            stack_why: self.stack_why,
        }
    }

    /// Its second slot, for a wide event.
    #[inline(always)]
    pub(crate) fn wide(&self) -> Wide {
        Wide {
            size_bytes: self.size_bytes,
            latency_ticks: self.latency_ticks,
            old_addr: self.old_addr,
            old_size_bytes: self.old_size_bytes,
        }
    }
}

impl Slot {
    /// Whether a [`Wide`] slot follows this one.
    #[inline(always)]
    pub(crate) fn is_wide(&self) -> bool {
        self.kind & WIDE != 0
    }

    /// The event written as this slot and, if [`is_wide`](Slot::is_wide),
    /// `wide`.
    #[inline(always)]
    pub(crate) fn event(&self, wide: Option<&Wide>) -> RawEvent {
        let narrow = Wide {
            size_bytes: u64::from(self.size_bytes),
            latency_ticks: u64::from(self.latency_ticks),
            old_addr: 0,
            old_size_bytes: 0,
        };
        let whole = wide.unwrap_or(&narrow);
        RawEvent {
            start_ticks: self.start_ticks,
            latency_ticks: whole.latency_ticks,
            size_bytes: whole.size_bytes,
            addr: self.addr,
            old_addr: whole.old_addr,
            old_size_bytes: whole.old_size_bytes,
            generation: self.generation,
            align_log2: self.align_log2,
            kind: self.kind & !WIDE,
            stack_frames: self.stack_frames,
            stack_why: self.stack_why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind, size_bytes: u64, latency_ticks: u64) -> RawEvent {
        RawEvent {
            start_ticks: u64::MAX - 1,
            latency_ticks,
            size_bytes,
            addr: 0xffff_8000_dead_beef,
            old_addr: if kind == Kind::Realloc {
                0x1234_5678
            } else {
                0
            },
            old_size_bytes: if kind == Kind::Realloc { 1 << 40 } else { 0 },
            generation: u32::MAX,
            align_log2: 63,
            kind: kind as u8,
            stack_frames: 255,
            stack_why: STACK_SLOW | STACK_SAMPLED,
        }
    }

    /// Writes `event` as the buffer does and reads it back.
    fn round_trip(event: &RawEvent) -> (RawEvent, bool) {
        let wide = event.is_wide();
        let first = event.slot();
        assert_eq!(first.is_wide(), wide);
        let second = wide.then(|| event.wide());
        (first.event(second.as_ref()), wide)
    }

    #[test]
    fn every_event_comes_back_exactly_as_written() {
        let edges = [
            0,
            1,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            1 << 40,
            u64::MAX,
        ];
        for kind in Kind::ALL {
            for size_bytes in edges {
                for latency_ticks in edges {
                    let written = event(kind, size_bytes, latency_ticks);
                    let (read, wide) = round_trip(&written);
                    assert_eq!(read, written);
                    let fits =
                        size_bytes <= u64::from(u32::MAX) && latency_ticks <= u64::from(u32::MAX);
                    assert_eq!(wide, kind == Kind::Realloc || !fits, "{written:?}");
                }
            }
        }
    }

    #[test]
    fn an_ordinary_call_takes_one_slot_and_a_realloc_two() {
        assert!(!event(Kind::Alloc, 80, 30).is_wide());
        assert!(!event(Kind::Dealloc, 80, 30).is_wide());
        assert!(!event(Kind::AllocZeroed, 80, 30).is_wide());
        assert!(event(Kind::Realloc, 80, 30).is_wide());
    }
}
