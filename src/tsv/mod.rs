//! The `alloc.tsv` row format, shared by the recorder's writer and the
//! report's reader.
//!
//! One header row, then one row per event. `bytes` and `ns` come first so the
//! gnuplot script of the classic experiment still applies.

mod file;
mod read;
mod write;

pub use file::TsvFile;
pub use read::{FieldProblem, MAX_LINE_BYTES, ReadError, ReadErrorKind, Reader};
pub use write::{HEADER, write_row};

/// Column names, in file order.
pub const COLUMNS: [&str; 8] = [
    "bytes", "ns", "kind", "align", "t_ns", "thread", "addr", "old_addr",
];

/// The realloc the row-format tests write and read: every column set.
#[cfg(test)]
fn sample_realloc() -> crate::recorder::Event {
    use crate::recorder::{Event, Kind};
    Event {
        kind: Kind::Realloc,
        size_bytes: 160,
        align_bytes: 8,
        latency_ns: 42,
        t_ns: 1_000_000,
        thread: 3,
        addr: 0x7f00_dead_beef,
        old_addr: Some(0x10),
    }
}
