//! Per-kind latency histograms, fed event by event.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::recorder::{Event, Kind};

/// Precision of every histogram: values are exact to 3 significant digits.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Latencies above this (one minute) are clamped to it.
const MAX_TRACKED_NS: u64 = 60_000_000_000;

/// Latency percentiles of one kind of call, in ns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindSummary {
    /// Number of calls.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

/// The latencies of one kind of call: an HdrHistogram of them (exact to
/// [`SIGNIFICANT_DIGITS`] significant digits, from 1 ns to a minute), and
/// their exact largest value and sum, which the histogram alone rounds.
///
/// The one latency aggregate of heapsnow: `summary.json`, `latency.hgrm`,
/// `alloc-report` and the demo window all count latencies with it.
#[derive(Clone, Debug)]
pub struct Latencies {
    /// Every latency. A latency of 0 (below the clock's resolution) is
    /// counted as 1 ns, the histogram's lowest value; one above a minute as a
    /// minute.
    pub latency_ns: Histogram<u64>,
    /// Exact sum of the latencies.
    pub sum_ns: u128,
    /// Exact largest latency.
    pub max_ns: u64,
}

impl Default for Latencies {
    fn default() -> Latencies {
        Latencies::new()
    }
}

impl Latencies {
    /// No latencies yet. The histogram takes 216 KiB.
    pub fn new() -> Latencies {
        Latencies::with_digits(SIGNIFICANT_DIGITS)
    }

    /// No latencies yet, in a histogram exact to `significant_digits` (at
    /// most 5): fewer digits, less memory (1 digit: 3 KiB).
    pub fn with_digits(significant_digits: u8) -> Latencies {
        Latencies {
            latency_ns: Histogram::new_with_bounds(1, MAX_TRACKED_NS, significant_digits.min(5))
                .expect("constant bounds are valid"),
            sum_ns: 0,
            max_ns: 0,
        }
    }

    /// Adds one latency.
    pub fn record(&mut self, latency_ns: u64) {
        self.record_n(latency_ns, 1);
    }

    /// Adds `count` latencies of `latency_ns`.
    pub fn record_n(&mut self, latency_ns: u64, count: u64) {
        self.latency_ns
            .saturating_record_n(latency_ns.max(1), count);
        self.sum_ns += u128::from(latency_ns) * u128::from(count);
        self.max_ns = self.max_ns.max(latency_ns);
    }

    /// Adds every latency of `other`, which must have the same precision.
    pub fn add(&mut self, other: &Latencies) {
        self.latency_ns
            .add(&other.latency_ns)
            .expect("histograms with the same bounds add up");
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Forgets every latency, keeping the histogram's memory.
    pub fn reset(&mut self) {
        self.latency_ns.reset();
        self.sum_ns = 0;
        self.max_ns = 0;
    }

    /// Number of latencies.
    pub fn count(&self) -> u64 {
        self.latency_ns.len()
    }

    /// Exact mean latency, 0 without latencies.
    pub fn mean_ns(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            count => self.sum_ns as f64 / count as f64,
        }
    }

    /// The percentiles of `summary.json`.
    pub fn summary(&self) -> KindSummary {
        let histogram = &self.latency_ns;
        KindSummary {
            count: self.count(),
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            p99_9: histogram.value_at_quantile(0.999),
            p99_99: histogram.value_at_quantile(0.9999),
            max: self.max_ns,
            mean: self.mean_ns(),
        }
    }
}

/// Latencies below this many ns are counted in a flat table first: each
/// has a bucket of its own in a histogram of [`SIGNIFICANT_DIGITS`] digits,
/// so counting them there and adding the counts later loses nothing.
const FRONT_NS: usize = 2048;

/// Counts of the small latencies of the calls being recorded, per kind, and
/// which counts are not 0: an increment per call where a histogram works out
/// a bucket. Empty between calls of [`LatencyHistograms::record_calls`].
#[derive(Clone)]
struct Front {
    counts: Box<[u64]>,
    touched: Vec<usize>,
}

impl Default for Front {
    fn default() -> Front {
        Front {
            counts: vec![0; Kind::ALL.len() * FRONT_NS].into_boxed_slice(),
            touched: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Front")
    }
}

/// One latency histogram per kind, and event counts per thread.
#[derive(Clone, Debug, Default)]
pub struct LatencyHistograms {
    per_kind: [Latencies; 4],
    front: Front,
    /// Events per thread, but for the latest run of one thread's events,
    /// counted in `run` (events come in runs of one thread: a map lookup
    /// per run rather than per event).
    per_thread: BTreeMap<u32, u64>,
    /// The thread of the latest run and its events so far.
    run: (u32, u64),
}

impl LatencyHistograms {
    /// Empty histograms.
    pub fn new() -> LatencyHistograms {
        LatencyHistograms::default()
    }

    /// Adds one event.
    pub fn record(&mut self, event: &Event) {
        self.record_call(event.kind, event.latency_ns, event.thread);
    }

    /// Adds one call of `kind` that took `latency_ns` on thread `thread`.
    pub fn record_call(&mut self, kind: Kind, latency_ns: u64, thread: u32) {
        self.per_kind[kind as usize].record(latency_ns);
        self.count_thread(thread);
    }

    /// Adds many calls, each as [`record_call`](Self::record_call) would,
    /// faster: the drain of a run counts every event with it.
    pub fn record_calls(&mut self, calls: impl IntoIterator<Item = (Kind, u64, u32)>) {
        for (kind, latency_ns, thread) in calls {
            match usize::try_from(latency_ns) {
                Ok(small) if small < FRONT_NS => {
                    let at = kind as usize * FRONT_NS + small;
                    let count = &mut self.front.counts[at];
                    if *count == 0 {
                        self.front.touched.push(at);
                    }
                    *count += 1;
                }
                _ => self.per_kind[kind as usize].record(latency_ns),
            }
            self.count_thread(thread);
        }
        for at in self.front.touched.drain(..) {
            let count = std::mem::take(&mut self.front.counts[at]);
            self.per_kind[at / FRONT_NS].record_n((at % FRONT_NS) as u64, count);
        }
    }

    /// Counts one event of `thread`.
    #[inline]
    fn count_thread(&mut self, thread: u32) {
        if self.run.0 == thread {
            self.run.1 += 1;
        } else {
            let (ended, events) = std::mem::replace(&mut self.run, (thread, 1));
            if events > 0 {
                *self.per_thread.entry(ended).or_default() += events;
            }
        }
    }

    /// The latencies of one kind.
    pub fn kind(&self, kind: Kind) -> &Latencies {
        &self.per_kind[kind as usize]
    }

    /// The histogram of every event, all kinds together.
    pub fn all(&self) -> Histogram<u64> {
        let mut all = Latencies::new();
        for latencies in &self.per_kind {
            all.add(latencies);
        }
        all.latency_ns
    }

    /// Events seen per thread number.
    pub fn per_thread(&self) -> BTreeMap<u32, u64> {
        let mut per_thread = self.per_thread.clone();
        let (thread, events) = self.run;
        if events > 0 {
            *per_thread.entry(thread).or_default() += events;
        }
        per_thread
    }

    /// Percentiles of each kind that occurred, keyed by kind name.
    pub fn summaries(&self) -> BTreeMap<String, KindSummary> {
        Kind::ALL
            .into_iter()
            .map(|kind| (kind, self.kind(kind)))
            .filter(|(_, latencies)| latencies.count() > 0)
            .map(|(kind, latencies)| (kind.as_str().to_owned(), latencies.summary()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind, latency_ns: u64, thread: u32) -> Event {
        Event {
            kind,
            size_bytes: 8,
            align_bytes: 8,
            latency_ns,
            t_ns: 0,
            thread,
            addr: 1,
            old_addr: None,
            old_size_bytes: None,
            stack: None,
        }
    }

    #[test]
    fn percentiles_per_kind_and_counts_per_thread() {
        let mut histograms = LatencyHistograms::new();
        for latency_ns in 1..=1000 {
            histograms.record(&event(Kind::Alloc, latency_ns, 1));
        }
        histograms.record(&event(Kind::Dealloc, 0, 2));
        let summaries = histograms.summaries();
        let alloc = &summaries["alloc"];
        assert_eq!(alloc.count, 1000);
        assert_eq!(alloc.p50, 500);
        assert_eq!(alloc.p99, 990);
        assert_eq!(alloc.max, 1000);
        assert_eq!(alloc.mean, 500.5, "mean is exact");
        assert_eq!(summaries["dealloc"].max, 0, "max is exact");
        assert_eq!(
            summaries["dealloc"].p50, 1,
            "0 ns counts as the histogram's lowest value"
        );
        assert!(!summaries.contains_key("realloc"));
        assert_eq!(histograms.per_thread().get(&1), Some(&1000));
        assert_eq!(histograms.all().len(), 1001);
    }

    #[test]
    fn calls_recorded_together_count_as_calls_recorded_one_by_one() {
        let (mut together, mut one_by_one) = (LatencyHistograms::new(), LatencyHistograms::new());
        // Latencies on both sides of the flat table's end, 0, and huge ones,
        // of every kind and a few threads, in several batches.
        let calls: Vec<(Kind, u64, u32)> = (0..20_000u64)
            .map(|i| {
                let latency_ns = match i % 5 {
                    0 => i % 3000,
                    1 => FRONT_NS as u64 - 1 + i % 3,
                    2 => 0,
                    3 => i * 7_919 % 5_000_000,
                    _ => u64::MAX - i,
                };
                (
                    Kind::ALL[(i % 4) as usize],
                    latency_ns,
                    (i / 1000 % 3) as u32,
                )
            })
            .collect();
        for batch in calls.chunks(4096) {
            together.record_calls(batch.iter().copied());
        }
        for &(kind, latency_ns, thread) in &calls {
            one_by_one.record_call(kind, latency_ns, thread);
        }
        for kind in Kind::ALL {
            let (a, b) = (together.kind(kind), one_by_one.kind(kind));
            assert_eq!(a.latency_ns, b.latency_ns, "{kind}");
            assert_eq!((a.sum_ns, a.max_ns), (b.sum_ns, b.max_ns), "{kind}");
        }
        assert_eq!(together.per_thread(), one_by_one.per_thread());
        assert_eq!(together.summaries(), one_by_one.summaries());
    }

    #[test]
    fn threads_are_counted_whether_their_events_come_in_runs_or_interleaved() {
        let mut histograms = LatencyHistograms::new();
        let threads = [0, 0, 7, 3, 7, 7, 7, 0, 3, 3];
        for thread in threads {
            histograms.record(&event(Kind::Alloc, 5, thread));
        }
        let expected = BTreeMap::from([(0, 3), (3, 3), (7, 4)]);
        assert_eq!(histograms.per_thread(), expected);
        assert_eq!(
            histograms.per_thread(),
            expected,
            "asking twice counts once"
        );
    }
}
