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
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alloc => "alloc",
            Kind::AllocZeroed => "alloc_zeroed",
            Kind::Realloc => "realloc",
            Kind::Dealloc => "dealloc",
        }
    }

    /// The kind with this `repr(u8)` value.
    #[allow(dead_code)] // for the recorder's event buffer (core issue)
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
}
