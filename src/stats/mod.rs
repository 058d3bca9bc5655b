//! Latency statistics: per-kind HdrHistograms, the classic `.hgrm` text
//! format, and the `summary.json` document.

mod hgrm;
mod histograms;
mod summary;

pub use hgrm::write_hgrm;
pub use histograms::{KindSummary, Latencies, LatencyHistograms, SIGNIFICANT_DIGITS};
pub use summary::RunSummary;
