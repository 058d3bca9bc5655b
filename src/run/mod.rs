//! What a simulator run writes: the output folder and the sink that turns
//! recorded events into `alloc.tsv` and latency histograms.

mod lock;
mod output;
mod sink;

pub use lock::{LOCK_FILE, lock_owner};
pub use output::{OutputDir, OutputError};
pub use sink::{RunSink, Tap};
