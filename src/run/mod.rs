//! What a recording writes: the output folder, the sink that turns recorded
//! events into `alloc.tsv` and latency histograms, and [`Recorder`], which
//! puts the two together in one line.

mod lock;
mod output;
mod recorder;
mod sink;

pub use lock::{LOCK_FILE, command_line, lock_owner};
pub use output::{OutputDir, OutputError};
pub use recorder::{Options, Recorder, RecorderError, Report};
pub use sink::{RunSink, Tap};
