//! `summary.json`: one object describing a run. The keys listed in DESIGN.md
//! are fixed (other tools read them); the rest add detail.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::KindSummary;

/// The contents of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Events the recorder accepted.
    pub events_recorded: u64,
    /// Rows in `alloc.tsv`; equal to `events_recorded` unless writing failed.
    pub events_written: u64,
    /// Events not recorded because the recorder's drain stalled past its
    /// stall limit with the buffer full; 0 whenever the drain kept up.
    #[serde(default)]
    pub events_dropped: u64,
    /// True when a signal ended the run.
    pub interrupted: bool,
    /// Latency percentiles per kind of call, in ns.
    pub kinds: BTreeMap<String, KindSummary>,
    /// Time allocating threads waited for the drain, in ns.
    pub wait_ns: u64,
    /// The clock's resolution: the most common non-zero interval between two
    /// back-to-back reads, in ns. Latencies are measured in steps of it.
    pub timer_floor_ns: f64,
    /// Frames simulated, over all worlds.
    pub frames: u64,
    /// Particles alive at the end, over all worlds.
    pub particles_final: u64,
    /// Duration of the simulation, in seconds.
    pub wall_s: f64,
    /// The backing allocator: `system`, `mimalloc` or `jemalloc`.
    pub allocator: String,
    /// The particle storage: `boxed`, `inline`, `pool` or `arena`.
    pub strategy: String,
    /// The physics: `classic` (the book's) or `flush` (subnormal
    /// accelerations set to zero). Files from before the option say nothing:
    /// they ran the classic physics.
    #[serde(default = "classic_physics")]
    pub physics: String,
    /// Simulation threads (one world each).
    pub threads: u32,
    /// The seed of the first world.
    pub seed: u64,
    /// The exact command line.
    pub command: String,
    /// False for a `--no-record` run.
    pub recording: bool,
    /// The clock the recorder read: `tsc` or `monotonic`.
    pub clock: String,
    /// The clock's own share of every timed window (the mean interval between
    /// two back-to-back reads), in ns: already taken off every latency. A
    /// latency's raw reading is its value plus this.
    #[serde(default)]
    pub timer_offset_ns: f64,
    /// How many times an allocating thread waited for the drain.
    pub waits: u64,
    /// Frames per second over all worlds.
    pub frames_per_s: f64,
    /// Particles per world at the start.
    pub particles_initial: u64,
    /// Thread numbers (as in `alloc.tsv`) of the simulation threads.
    pub sim_threads: Vec<u32>,
    /// Events per thread number.
    pub thread_events: BTreeMap<u32, u64>,
    /// What went wrong, if the run failed.
    pub error: Option<String>,
}

fn classic_physics() -> String {
    "classic".to_owned()
}
