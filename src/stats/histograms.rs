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

impl KindSummary {
    /// Summarises a histogram of latencies whose exact maximum and sum are
    /// known (the histogram alone rounds them to its buckets).
    pub fn of(histogram: &Histogram<u64>, exact: Exact) -> KindSummary {
        let count = histogram.len();
        KindSummary {
            count,
            p50: histogram.value_at_quantile(0.5),
            p90: histogram.value_at_quantile(0.9),
            p99: histogram.value_at_quantile(0.99),
            p99_9: histogram.value_at_quantile(0.999),
            p99_99: histogram.value_at_quantile(0.9999),
            max: exact.max_ns,
            mean: if count == 0 {
                0.0
            } else {
                exact.sum_ns as f64 / count as f64
            },
        }
    }
}

/// The exact largest latency and sum of latencies of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exact {
    /// Largest latency.
    pub max_ns: u64,
    /// Sum of all latencies.
    pub sum_ns: u128,
}

/// One latency histogram per kind, and event counts per thread.
#[derive(Clone, Debug)]
pub struct LatencyHistograms {
    per_kind: [Histogram<u64>; 4],
    exact: [Exact; 4],
    per_thread: BTreeMap<u32, u64>,
}

impl Default for LatencyHistograms {
    fn default() -> LatencyHistograms {
        LatencyHistograms::new()
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

impl LatencyHistograms {
    /// Empty histograms.
    pub fn new() -> LatencyHistograms {
        LatencyHistograms {
            per_kind: std::array::from_fn(|_| new_histogram()),
            exact: [Exact::default(); 4],
            per_thread: BTreeMap::new(),
        }
    }

    /// Adds one event.
    pub fn record(&mut self, event: &Event) {
        // A latency of 0 (below the clock's resolution) is counted as 1 ns,
        // the histogram's lowest value.
        let latency_ns = event.latency_ns.max(1);
        self.per_kind[event.kind as usize].saturating_record(latency_ns);
        let exact = &mut self.exact[event.kind as usize];
        exact.max_ns = exact.max_ns.max(event.latency_ns);
        exact.sum_ns += u128::from(event.latency_ns);
        *self.per_thread.entry(event.thread).or_default() += 1;
    }

    /// The histogram of one kind.
    pub fn kind(&self, kind: Kind) -> &Histogram<u64> {
        &self.per_kind[kind as usize]
    }

    /// The histogram of every event, all kinds together.
    pub fn all(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for histogram in &self.per_kind {
            all.add(histogram)
                .expect("histograms with the same bounds add up");
        }
        all
    }

    /// Events seen per thread number.
    pub fn per_thread(&self) -> &BTreeMap<u32, u64> {
        &self.per_thread
    }

    /// Percentiles of each kind that occurred, keyed by kind name.
    pub fn summaries(&self) -> BTreeMap<String, KindSummary> {
        Kind::ALL
            .into_iter()
            .filter(|&kind| !self.kind(kind).is_empty())
            .map(|kind| {
                (
                    kind.as_str().to_owned(),
                    KindSummary::of(self.kind(kind), self.exact[kind as usize]),
                )
            })
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
}
