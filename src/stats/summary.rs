//! `summary.json`: one object describing a recording. [`RunSummary`] holds
//! the keys that make sense for any program; a program adds its own by
//! flattening them next to it (as `particles` does with its frames, seed and
//! strategy). The keys listed in DESIGN.md are fixed: other tools read them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::KindSummary;

impl RunSummary {
    /// True when the recording was asked to capture call stacks (and so
    /// wrote the stack files).
    pub fn captures_stacks(&self) -> bool {
        self.stacks_over_ns.is_some() || self.stacks_every.is_some()
    }
}

/// The keys of `summary.json` that every recording has.
///
/// A program that wants keys of its own writes a struct of them with this one
/// flattened in:
///
/// ```
/// use heapsnow::stats::RunSummary;
///
/// #[derive(serde::Serialize)]
/// struct MySummary {
///     #[serde(flatten)]
///     run: RunSummary,
///     requests: u64,
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Events the recorder accepted.
    pub events_recorded: u64,
    /// Rows in `alloc.tsv`; equal to `events_recorded` unless writing failed
    /// (0 with [`histograms_only`](RunSummary::histograms_only)).
    pub events_written: u64,
    /// True when the recording wrote no `alloc.tsv` (`--no-tsv`): its events
    /// went into the histograms only.
    #[serde(default)]
    pub histograms_only: bool,
    /// Events not recorded because the recorder's drain stalled past its
    /// stall limit with the buffer full; 0 whenever the drain kept up.
    #[serde(default)]
    pub events_dropped: u64,
    /// Latency percentiles per kind of call, in ns.
    pub kinds: BTreeMap<String, KindSummary>,
    /// Time allocating threads waited for the drain, in ns.
    pub wait_ns: u64,
    /// How many times an allocating thread waited for the drain.
    pub waits: u64,
    /// How many times an allocating thread whose buffer was full went on in
    /// a spill buffer instead of waiting.
    #[serde(default)]
    pub spills: u64,
    /// The clock's resolution: the most common non-zero interval between two
    /// back-to-back reads, in ns. Latencies are measured in steps of it.
    pub timer_floor_ns: f64,
    /// The clock's own share of every timed window (the mean interval between
    /// two back-to-back reads), in ns: already taken off every latency. A
    /// latency's raw reading is its value plus this.
    #[serde(default)]
    pub timer_offset_ns: f64,
    /// The clock the recorder read: `tsc` or `monotonic` (empty when nothing
    /// was recorded).
    pub clock: String,
    /// How long the program ran, in seconds: from the start of the recording
    /// to its end, unless the program says otherwise.
    pub wall_s: f64,
    /// False for a run that recorded nothing on purpose (a baseline).
    pub recording: bool,
    /// Events per thread number (as in `alloc.tsv`).
    pub thread_events: BTreeMap<u32, u64>,
    /// The exact command line.
    pub command: String,
    /// Call stacks were captured for calls of at least this many ns
    /// (`stacks-over`); `None` when not asked for.
    #[serde(default)]
    pub stacks_over_ns: Option<u64>,
    /// Call stacks were captured for every N-th allocating call of each
    /// thread (`stacks-every`); `None` when not asked for.
    #[serde(default)]
    pub stacks_every: Option<u64>,
    /// Events of `alloc.tsv` with a captured call stack.
    #[serde(default)]
    pub stacks_captured: u64,
    /// Distinct call stacks among them (the rows of `stacks.tsv`).
    #[serde(default)]
    pub stacks_distinct: u64,
    /// What went wrong, if the run failed.
    pub error: Option<String>,
}
