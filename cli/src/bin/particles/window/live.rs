//! Live allocation statistics for the demo: the recorder's drain thread counts
//! allocation latencies into log-spaced buckets, one set of counts per 100 ms
//! slot in a ring covering the last few seconds, and the window reads them.
//!
//! Allocations here are the calls that hand out memory (alloc, alloc_zeroed,
//! realloc); deallocations are recorded in the files but not counted live.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use heapsnow::recorder::{Event, Kind};
use heapsnow::run::Tap;

/// Buckets per factor of ten of latency: neighbouring bounds differ by 12 %.
pub const BUCKETS_PER_DECADE: usize = 20;
/// Decades covered, from 1 ns up to 10 ms. Latencies of 0 ns land in the
/// first bucket and those of 10 ms or more in the last.
pub const DECADES: usize = 7;
/// Number of latency buckets.
pub const BUCKETS: usize = BUCKETS_PER_DECADE * DECADES;
/// Duration of one slot of the ring.
pub const SLOT_NS: u64 = 100_000_000;
/// Slots in the ring: the histogram shows the last 5 seconds.
pub const SLOTS: usize = 50;
/// Slots the title's figures cover: the last second.
pub const TITLE_SLOTS: usize = 10;

/// The lower bound of every bucket, in ns: the smallest whole number of
/// nanoseconds at or above 10^(i / BUCKETS_PER_DECADE).
static LOWER_BOUNDS_NS: std::sync::LazyLock<[u64; BUCKETS]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|i| {
        let decade = 10u64.pow((i / BUCKETS_PER_DECADE) as u32);
        let within = (i % BUCKETS_PER_DECADE) as f64 / BUCKETS_PER_DECADE as f64;
        // Exact at every power of ten, where `within` is 0.
        (decade as f64 * 10f64.powf(within)).ceil() as u64
    })
});

/// The bucket a latency lands in.
pub fn bucket_of(latency_ns: u64) -> usize {
    LOWER_BOUNDS_NS
        .partition_point(|&lower| lower <= latency_ns)
        .saturating_sub(1)
}

/// The smallest latency that lands in `bucket`.
pub fn lower_bound_ns(bucket: usize) -> u64 {
    LOWER_BOUNDS_NS[bucket]
}

/// The largest latency that lands in `bucket` (`u64::MAX` for the last).
pub fn upper_bound_ns(bucket: usize) -> u64 {
    LOWER_BOUNDS_NS
        .get(bucket + 1)
        .map_or(u64::MAX, |next| next - 1)
}

/// Latency counts per bucket over some span of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub buckets: [u64; BUCKETS],
}

impl Default for Counts {
    fn default() -> Counts {
        Counts {
            buckets: [0; BUCKETS],
        }
    }
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The latency at quantile `q` (0..=1), as the largest value of the bucket
    /// it falls in (HdrHistogram's convention): at most 12 % above the exact
    /// figure. `None` when there is nothing counted.
    pub fn value_at_quantile(&self, q: f64) -> Option<u64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        // The rank of the value, 1-based, as HdrHistogram counts it.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        self.buckets
            .iter()
            .enumerate()
            .find_map(|(bucket, &count)| {
                seen += count;
                // The last bucket is open-ended: its lower bound stands for it.
                (seen >= rank).then(|| {
                    if bucket + 1 == BUCKETS {
                        lower_bound_ns(bucket)
                    } else {
                        upper_bound_ns(bucket)
                    }
                })
            })
    }
}

/// The counts of one slot of time.
#[derive(Clone, Copy)]
struct Slot {
    /// Which slot of time this is (`t / SLOT_NS`); `u64::MAX` while unused.
    index: u64,
    counts: [u32; BUCKETS],
}

/// A ring of slots covering the last `SLOTS * SLOT_NS` of time. Times are
/// nanoseconds since any fixed origin.
pub struct RollingHistogram {
    slots: [Slot; SLOTS],
}

impl RollingHistogram {
    /// An empty ring, on the heap (it is 28 KB).
    pub fn new() -> Box<RollingHistogram> {
        Box::new(RollingHistogram {
            slots: [Slot {
                index: u64::MAX,
                counts: [0; BUCKETS],
            }; SLOTS],
        })
    }

    /// Counts one latency at time `now_ns`, reusing the slot of that time if
    /// it still holds counts of an older one. A time older than the ring
    /// covers is dropped.
    pub fn record(&mut self, now_ns: u64, latency_ns: u64) {
        let index = now_ns / SLOT_NS;
        let slot = &mut self.slots[(index % SLOTS as u64) as usize];
        if slot.index == u64::MAX || slot.index < index {
            *slot = Slot {
                index,
                counts: [0; BUCKETS],
            };
        }
        if slot.index == index {
            let count = &mut slot.counts[bucket_of(latency_ns)];
            *count = count.saturating_add(1);
        }
    }

    /// Adds the counts of the last `slots` slots up to `now_ns` (the current,
    /// partial slot included) into `into`.
    pub fn add_last(&self, now_ns: u64, slots: usize, into: &mut Counts) {
        let now_index = now_ns / SLOT_NS;
        for index in (0..=now_index).rev().take(slots.min(SLOTS)) {
            let slot = &self.slots[(index % SLOTS as u64) as usize];
            if slot.index == index {
                for (total, &count) in into.buckets.iter_mut().zip(&slot.counts) {
                    *total += u64::from(count);
                }
            }
        }
    }

    /// How much time the last `slots` slots up to `now_ns` span: the current
    /// slot only counts for the part that has passed.
    pub fn span_ns(now_ns: u64, slots: usize) -> u64 {
        let whole = (slots.clamp(1, SLOTS) as u64 - 1) * SLOT_NS;
        (whole + now_ns % SLOT_NS).min(now_ns).max(1)
    }
}

/// The statistics shared by the drain thread (writer) and the window (reader).
///
/// Both critical sections are short and allocation-free: the writer bumps a
/// few counters per batch, the reader adds up at most 50 slots into a
/// [`Counts`] it owns.
pub struct LiveStats {
    origin: Instant,
    histogram: Mutex<Box<RollingHistogram>>,
}

impl LiveStats {
    pub fn new() -> Arc<LiveStats> {
        Arc::new(LiveStats {
            origin: Instant::now(),
            histogram: Mutex::new(RollingHistogram::new()),
        })
    }

    /// The recorder tap that feeds these statistics. Slots go by the time the
    /// drain thread sees a batch, on the same clock the window reads with; the
    /// drain polls every 100 µs, far finer than a slot.
    pub fn tap(self: &Arc<LiveStats>) -> Tap {
        let live = Arc::clone(self);
        Box::new(move |events: &[Event]| {
            let now_ns = live.now_ns();
            let mut histogram = live.lock();
            for event in events.iter().filter(|event| event.kind != Kind::Dealloc) {
                histogram.record(now_ns, event.latency_ns);
            }
        })
    }

    /// The counts of the last `slots` slots.
    pub fn last(&self, slots: usize) -> Counts {
        let mut counts = Counts::default();
        let now_ns = self.now_ns();
        self.lock().add_last(now_ns, slots, &mut counts);
        counts
    }

    /// Allocations per second over the last `slots` slots.
    pub fn rate_per_s(&self, counts: &Counts, slots: usize) -> f64 {
        counts.total() as f64 * 1e9 / RollingHistogram::span_ns(self.now_ns(), slots) as f64
    }

    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// A panic elsewhere cannot leave the counters half-updated in a way that
    /// matters for a display, so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Box<RollingHistogram>> {
        self.histogram
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_start_their_own_bucket() {
        for decade in 0..DECADES {
            let bucket = decade * BUCKETS_PER_DECADE;
            let power = 10u64.pow(decade as u32);
            assert_eq!(lower_bound_ns(bucket), power);
            assert_eq!(bucket_of(power), bucket, "{power} ns");
            if bucket > 0 {
                assert_eq!(bucket_of(power - 1), bucket - 1, "{} ns", power - 1);
            }
        }
    }

    #[test]
    fn values_land_in_the_bucket_of_their_log() {
        // 10^(1 + 6/20) = 19.95: 19 is below that bound, 20 at it.
        assert_eq!(bucket_of(19), 25);
        assert_eq!(bucket_of(20), 26);
        assert_eq!(bucket_of(45), 33); // 10^(33/20) = 44.7
        assert_eq!(bucket_of(1_500), 63); // 10^(63/20) = 1412.5, 10^(64/20) = 1584.9
        // Off the ends: 0 ns with 1 ns, 10 ms and beyond in the last bucket.
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 0);
        assert_eq!(bucket_of(9_999_999), BUCKETS - 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        // Every value is within its bucket's bounds, and bounds tile the axis.
        for value in (1..100_000).chain([1_234_567, 9_999_999]) {
            let bucket = bucket_of(value);
            assert!(
                lower_bound_ns(bucket) <= value && value <= upper_bound_ns(bucket),
                "{value}"
            );
        }
        for bucket in 1..BUCKETS {
            assert_eq!(upper_bound_ns(bucket - 1) + 1, lower_bound_ns(bucket));
        }
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let mut counts = Counts::default();
        assert_eq!(counts.value_at_quantile(0.5), None);
        counts.buckets[bucket_of(40)] += 98;
        counts.buckets[bucket_of(5_000)] += 2;
        assert_eq!(
            counts.value_at_quantile(0.5),
            Some(upper_bound_ns(bucket_of(40)))
        );
        assert_eq!(
            counts.value_at_quantile(0.98),
            Some(upper_bound_ns(bucket_of(40)))
        );
        assert_eq!(
            counts.value_at_quantile(0.99),
            Some(upper_bound_ns(bucket_of(5_000)))
        );
        let p50 = counts.value_at_quantile(0.5).unwrap();
        assert!((40..=45).contains(&p50), "{p50}");
        counts.buckets[BUCKETS - 1] += 1000;
        assert_eq!(
            counts.value_at_quantile(1.0),
            Some(lower_bound_ns(BUCKETS - 1))
        );
    }

    #[test]
    fn the_window_drops_old_values() {
        let mut histogram = RollingHistogram::new();
        let second = 1_000_000_000;
        histogram.record(50_000_000, 30); // slot 0
        histogram.record(2 * second + 10, 300); // slot 20
        histogram.record(4 * second + 99_999_999, 3_000); // slot 49

        let counted = |histogram: &RollingHistogram, now_ns: u64, slots: usize| {
            let mut counts = Counts::default();
            histogram.add_last(now_ns, slots, &mut counts);
            counts
        };
        let at_5s = counted(&histogram, 4 * second + 99_999_999, SLOTS);
        assert_eq!(at_5s.total(), 3);
        assert_eq!(at_5s.buckets[bucket_of(30)], 1);
        // The last second only holds the newest value.
        let last_second = counted(&histogram, 4 * second + 99_999_999, TITLE_SLOTS);
        assert_eq!(last_second.total(), 1);
        assert_eq!(last_second.buckets[bucket_of(3_000)], 1);
        // 100 ms later the first slot has left the window...
        assert_eq!(counted(&histogram, 5 * second, SLOTS).total(), 2);
        // ...and a value at 5 s reuses its place in the ring.
        histogram.record(5 * second + 1, 7);
        let after = counted(&histogram, 5 * second + 1, SLOTS);
        assert_eq!(after.total(), 3);
        assert_eq!(after.buckets[bucket_of(30)], 0);
        assert_eq!(after.buckets[bucket_of(7)], 1);
        // A late value for a slot already reused is dropped.
        histogram.record(50_000_000, 30);
        assert_eq!(counted(&histogram, 5 * second + 1, SLOTS), after);
        // Long after, nothing is left.
        assert_eq!(counted(&histogram, 60 * second, SLOTS).total(), 0);
    }

    #[test]
    fn spans_count_the_current_slot_in_part() {
        assert_eq!(
            RollingHistogram::span_ns(3_050_000_000, TITLE_SLOTS),
            950_000_000
        );
        // Early on, the span is the time that has passed.
        assert_eq!(
            RollingHistogram::span_ns(250_000_000, TITLE_SLOTS),
            250_000_000
        );
        assert_eq!(RollingHistogram::span_ns(0, TITLE_SLOTS), 1);
    }

    #[test]
    fn the_tap_counts_allocations_not_frees() {
        let live = LiveStats::new();
        let mut tap = live.tap();
        let event = |kind, latency_ns| Event {
            kind,
            size_bytes: 16,
            align_bytes: 8,
            latency_ns,
            t_ns: 0,
            thread: 1,
            addr: 1,
            old_addr: None,
        };
        tap(&[
            event(Kind::Alloc, 40),
            event(Kind::AllocZeroed, 40),
            event(Kind::Realloc, 900),
            event(Kind::Dealloc, 20),
        ]);
        let counts = live.last(SLOTS);
        assert_eq!(counts.total(), 3);
        assert_eq!(counts.buckets[bucket_of(40)], 2);
        assert_eq!(counts.buckets[bucket_of(900)], 1);
        assert_eq!(counts.buckets[bucket_of(20)], 0);
    }
}
