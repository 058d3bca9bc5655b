//! The reporting global allocator.

mod event;

pub use event::{Event, Kind, UnknownKind};
