//! The parts of heapsnow's programs that are not the recorder: the particle
//! world that `particles` simulates, the backing allocator the binaries wrap,
//! their command-line conventions and progress bars, and human-readable
//! numbers for their tables, charts and window.
//!
//! The recorder, its file formats and its statistics are the `heapsnow`
//! library, which users add to their own programs.
#![deny(missing_docs)]

pub mod args;
pub mod backing;
pub mod progress;
pub mod sim;
pub mod units;
