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

/// The columns every `alloc.tsv` has, in file order.
pub const COLUMNS: [&str; 8] = [
    "bytes", "ns", "kind", "align", "t_ns", "thread", "addr", "old_addr",
];

/// Every column the recorder writes, in file order: [`COLUMNS`], then
/// `old_bytes` (realloc only: the size given back), `stack` (the number of
/// the event's captured call stack in `stacks.tsv`, empty for none) and
/// `stack_reason` (`slow`, `sampled` or `slow+sampled`). Files without the
/// last three (older runs) are read as having no old sizes and no stacks.
pub const ALL_COLUMNS: [&str; 11] = [
    "bytes",
    "ns",
    "kind",
    "align",
    "t_ns",
    "thread",
    "addr",
    "old_addr",
    "old_bytes",
    "stack",
    "stack_reason",
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
        old_size_bytes: Some(80),
        stack: Some(crate::recorder::StackRef {
            id: 5,
            slow: true,
            sampled: false,
        }),
    }
}
