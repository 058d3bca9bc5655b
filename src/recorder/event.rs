//! The event record: one allocator call, as sinks and readers see it.

use std::fmt;
use std::str::FromStr;

/// What an allocator call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// `GlobalAlloc::alloc`.
    Alloc = 0,
    /// `GlobalAlloc::alloc_zeroed`.
    AllocZeroed = 1,
    /// `GlobalAlloc::realloc`.
    Realloc = 2,
    /// `GlobalAlloc::dealloc`.
    Dealloc = 3,
}

impl Kind {
    /// Every kind, in the order summaries list them.
    pub const ALL: [Kind; 4] = [Kind::Alloc, Kind::AllocZeroed, Kind::Realloc, Kind::Dealloc];

    /// The name used in TSV files and summaries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Alloc => "alloc",
            Kind::AllocZeroed => "alloc_zeroed",
            Kind::Realloc => "realloc",
            Kind::Dealloc => "dealloc",
        }
    }

    /// The kind with this `repr(u8)` value.
    pub(crate) fn from_u8(value: u8) -> Kind {
        match value {
            0 => Kind::Alloc,
            1 => Kind::AllocZeroed,
            2 => Kind::Realloc,
            _ => Kind::Dealloc,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind name that is not one of `alloc`, `alloc_zeroed`, `realloc`, `dealloc`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {0:?} (expected alloc, alloc_zeroed, realloc or dealloc)")]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Kind, UnknownKind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// One recorded allocator call, with its times converted to nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: Kind,
    /// Requested size (the new size for realloc, the freed size for dealloc).
    pub size_bytes: u64,
    /// Requested alignment.
    pub align_bytes: u64,
    /// Duration of the backing allocator's call.
    pub latency_ns: u64,
    /// When the call started, since the recorder started.
    pub t_ns: u64,
    /// Small thread number, 1 for the first thread the recorder saw.
    pub thread: u32,
    /// Address returned (alloc, realloc) or freed (dealloc); 0 for a failed call.
    pub addr: u64,
    /// Realloc only: the address given back.
    pub old_addr: Option<u64>,
    /// Realloc only: the size given back, so the live heap can be followed.
    pub old_size_bytes: Option<u64>,
    /// The call stack captured for this event, if one was (see
    /// [`Config::stacks_over`](super::Config::stacks_over) and
    /// [`Config::stacks_every`](super::Config::stacks_every)).
    pub stack: Option<StackRef>,
}

/// Which captured call stack an event has, and why it was captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackRef {
    /// The stack's number within its recording: the sink is told its frames
    /// ([`Sink::stack`](super::Sink::stack)) before the first event that has it.
    pub id: u32,
    /// The call was slower than [`Config::stacks_over`](super::Config::stacks_over).
    pub slow: bool,
    /// The call was its thread's N-th allocating call
    /// ([`Config::stacks_every`](super::Config::stacks_every)).
    pub sampled: bool,
}

impl StackRef {
    /// Why the stack was captured, as `alloc.tsv` says it: `slow`,
    /// `sampled` or `slow+sampled`.
    pub fn reason(&self) -> &'static str {
        match (self.slow, self.sampled) {
            (true, true) => "slow+sampled",
            (true, false) => "slow",
            _ => "sampled",
        }
    }

    /// The flags of a [`reason`](StackRef::reason) string.
    pub fn parse_reason(reason: &str) -> Option<(bool, bool)> {
        match reason {
            "slow+sampled" => Some((true, true)),
            "slow" => Some((true, false)),
            "sampled" => Some((false, true)),
            _ => None,
        }
    }
}
