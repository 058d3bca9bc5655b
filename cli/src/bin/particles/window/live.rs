//! Live allocation statistics for the demo: the recorder's drain thread
//! counts allocation latencies into the library's latency histograms
//! (`heapsnow::stats::Latencies`, at one significant digit), one per 100 ms
//! slot in a ring covering the last few seconds, and the window reads them.
//!
//! Allocations here are the calls that hand out memory (alloc, alloc_zeroed,
//! realloc); deallocations are recorded in the files but not counted in the
//! latencies.
//!
//! The drain also keeps a running sum of the heap: bytes allocated minus
//! bytes freed since the recording started. It pairs nothing, so a block
//! allocated before the recording and freed during it is taken off too:
//! the sum can read below the live heap (below 0 just after the start),
//! where `alloc-report`'s heap, which pairs addresses, does not.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use heapsnow::recorder::{Event, Kind};
use heapsnow::run::Tap;
use heapsnow::stats::Latencies;

/// Precision of the live histograms: one significant digit puts a value at
/// most 1/16 (6 %) from the figure shown, and keeps a slot at 4 KiB, cheap
/// to add up every frame.
const SIGNIFICANT_DIGITS: u8 = 1;
/// Decades the overlay shows, from 1 ns up to 10 ms.
pub const DECADES: usize = 7;
/// Duration of one slot of the ring.
pub const SLOT_NS: u64 = 100_000_000;
/// Slots in the ring: the histogram shows the last 5 seconds.
pub const SLOTS: usize = 50;
/// Slots the title's figures cover: the last second.
pub const TITLE_SLOTS: usize = 10;

/// Allocation latencies over some span of time.
#[derive(Clone, Debug)]
pub struct Counts {
    pub latencies: Latencies,
}

impl Default for Counts {
    fn default() -> Counts {
        Counts {
            latencies: Latencies::with_digits(SIGNIFICANT_DIGITS),
        }
    }
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.latencies.count()
    }

    /// The latency at quantile `q` (0..=1), HdrHistogram's way: at most 6 %
    /// above the exact figure. `None` when there is nothing counted.
    pub fn value_at_quantile(&self, q: f64) -> Option<u64> {
        (self.total() > 0).then(|| self.latencies.latency_ns.value_at_quantile(q))
    }

    /// Each distinct latency counted (to the histogram's precision: the
    /// middle of the values it stands for, within 3 %) with its count,
    /// smallest first.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let histogram = &self.latencies.latency_ns;
        histogram.iter_recorded().map(|v| {
            (
                histogram.median_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            )
        })
    }
}

/// The counts of one slot of time.
struct Slot {
    /// Which slot of time this is (`t / SLOT_NS`); `u64::MAX` while unused.
    index: u64,
    counts: Counts,
}

/// A ring of slots covering the last `SLOTS * SLOT_NS` of time. Times are
/// nanoseconds since any fixed origin.
pub struct RollingHistogram {
    slots: [Slot; SLOTS],
}

impl RollingHistogram {
    /// An empty ring (about 200 KB).
    pub fn new() -> Box<RollingHistogram> {
        Box::new(RollingHistogram {
            slots: std::array::from_fn(|_| Slot {
                index: u64::MAX,
                counts: Counts::default(),
            }),
        })
    }

    /// Counts one latency at time `now_ns`, reusing the slot of that time if
    /// it still holds counts of an older one. A time older than the ring
    /// covers is dropped.
    pub fn record(&mut self, now_ns: u64, latency_ns: u64) {
        let index = now_ns / SLOT_NS;
        let slot = &mut self.slots[(index % SLOTS as u64) as usize];
        if slot.index == u64::MAX || slot.index < index {
            // Reset in place: no allocation while the lock is held.
            slot.index = index;
            slot.counts.latencies.reset();
        }
        if slot.index == index {
            slot.counts.latencies.record(latency_ns);
        }
    }

    /// Adds the counts of the last `slots` slots up to `now_ns` (the current,
    /// partial slot included) into `into`.
    pub fn add_last(&self, now_ns: u64, slots: usize, into: &mut Counts) {
        let now_index = now_ns / SLOT_NS;
        for index in (0..=now_index).rev().take(slots.min(SLOTS)) {
            let slot = &self.slots[(index % SLOTS as u64) as usize];
            if slot.index == index {
                into.latencies.add(&slot.counts.latencies);
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
/// Both critical sections are short and allocation-free: the writer counts
/// a batch into one slot, the reader adds up at most 50 slots into a
/// [`Counts`] it made beforehand.
pub struct LiveStats {
    origin: Instant,
    histogram: Mutex<Box<RollingHistogram>>,
    /// The running sum of [`heap_change_bytes`], written by the drain only.
    heap_bytes: AtomicI64,
}

/// What one call did to the heap, as far as the call alone tells: a
/// successful allocation adds its size, a free takes its size off, a
/// successful realloc adds its new size and takes its old size off (a
/// failed one, address 0, leaves the old block as it was).
fn heap_change_bytes(event: &Event) -> i64 {
    let bytes = |size: u64| i64::try_from(size).unwrap_or(i64::MAX);
    if event.addr == 0 {
        return 0;
    }
    match event.kind {
        Kind::Alloc | Kind::AllocZeroed => bytes(event.size_bytes),
        Kind::Dealloc => -bytes(event.size_bytes),
        Kind::Realloc => {
            bytes(event.size_bytes).saturating_sub(bytes(event.old_size_bytes.unwrap_or(0)))
        }
    }
}

impl LiveStats {
    pub fn new() -> Arc<LiveStats> {
        Arc::new(LiveStats {
            origin: Instant::now(),
            histogram: Mutex::new(RollingHistogram::new()),
            heap_bytes: AtomicI64::new(0),
        })
    }

    /// The recorder tap that feeds these statistics. Slots go by the time the
    /// drain thread sees a batch, on the same clock the window reads with; the
    /// drain polls every 100 µs, far finer than a slot.
    pub fn tap(self: &Arc<LiveStats>) -> Tap {
        let live = Arc::clone(self);
        // The drain is the one writer: it keeps the sum and publishes it.
        let mut heap_bytes = 0i64;
        Box::new(move |events: &[Event]| {
            heap_bytes = events.iter().fold(heap_bytes, |sum, event| {
                sum.saturating_add(heap_change_bytes(event))
            });
            live.heap_bytes.store(heap_bytes, Ordering::Relaxed);
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

    /// Bytes allocated minus bytes freed since the recording started, up to
    /// the last batch the drain saw.
    pub fn heap_bytes(&self) -> i64 {
        self.heap_bytes.load(Ordering::Relaxed)
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

    fn counts_of(values: &[(u64, u64)]) -> Counts {
        let mut counts = Counts::default();
        for &(latency_ns, times) in values {
            for _ in 0..times {
                counts.latencies.record(latency_ns);
            }
        }
        counts
    }

    #[test]
    fn quantiles_come_from_the_library_histogram_within_6_percent() {
        assert_eq!(Counts::default().value_at_quantile(0.5), None);
        let counts = counts_of(&[(40, 98), (5_000, 2)]);
        for (q, exact) in [(0.5, 40), (0.98, 40), (0.99, 5_000)] {
            let shown = counts.value_at_quantile(q).unwrap();
            assert!(
                exact <= shown && shown as f64 <= exact as f64 * 1.0625,
                "q {q}: {shown} for {exact}"
            );
        }
        assert_eq!(counts.iter().map(|(_, n)| n).sum::<u64>(), 100);
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
        let maxima = |counts: &Counts| counts.iter().map(|(value, _)| value).collect::<Vec<_>>();
        let at_5s = counted(&histogram, 4 * second + 99_999_999, SLOTS);
        assert_eq!(at_5s.total(), 3);
        assert_eq!(at_5s.latencies.max_ns, 3_000);
        // The last second only holds the newest value.
        let last_second = counted(&histogram, 4 * second + 99_999_999, TITLE_SLOTS);
        assert_eq!(last_second.total(), 1);
        assert_eq!(last_second.latencies.sum_ns, 3_000);
        // 100 ms later the first slot has left the window...
        assert_eq!(counted(&histogram, 5 * second, SLOTS).total(), 2);
        // ...and a value at 5 s reuses its place in the ring.
        histogram.record(5 * second + 1, 7);
        let after = counted(&histogram, 5 * second + 1, SLOTS);
        assert_eq!(after.total(), 3);
        assert_eq!(after.latencies.sum_ns, 7 + 300 + 3_000);
        // A late value for a slot already reused is dropped.
        histogram.record(50_000_000, 30);
        let again = counted(&histogram, 5 * second + 1, SLOTS);
        assert_eq!(maxima(&again), maxima(&after));
        assert_eq!(again.latencies.sum_ns, after.latencies.sum_ns);
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
            old_size_bytes: None,
            stack: None,
        };
        tap(&[
            event(Kind::Alloc, 40),
            event(Kind::AllocZeroed, 40),
            event(Kind::Realloc, 900),
            event(Kind::Dealloc, 20),
        ]);
        let counts = live.last(SLOTS);
        assert_eq!(counts.total(), 3);
        assert_eq!(counts.latencies.sum_ns, 40 + 40 + 900);
    }

    #[test]
    fn the_tap_keeps_a_running_sum_of_the_heap() {
        let live = LiveStats::new();
        let mut tap = live.tap();
        let event = |kind, size_bytes, addr, old_size_bytes: Option<u64>| Event {
            kind,
            size_bytes,
            align_bytes: 8,
            latency_ns: 10,
            t_ns: 0,
            thread: 1,
            addr,
            old_addr: old_size_bytes.map(|_| 0x10),
            old_size_bytes,
            stack: None,
        };
        assert_eq!(live.heap_bytes(), 0);
        tap(&[
            event(Kind::Alloc, 1_000, 0x10, None),
            event(Kind::AllocZeroed, 24, 0x20, None),
            // Failed: nothing allocated.
            event(Kind::Alloc, 1 << 40, 0, None),
        ]);
        assert_eq!(live.heap_bytes(), 1_024);
        tap(&[
            // Grown from 1,000 to 4,000 bytes.
            event(Kind::Realloc, 4_000, 0x30, Some(1_000)),
            // Failed: the old block stays as it was.
            event(Kind::Realloc, 1 << 40, 0, Some(4_000)),
            event(Kind::Dealloc, 24, 0x20, None),
        ]);
        assert_eq!(live.heap_bytes(), 4_000);
        // A block from before the recording is taken off too.
        tap(&[event(Kind::Dealloc, 5_000, 0x99, None)]);
        assert_eq!(live.heap_bytes(), -1_000);
        tap(&[]);
        assert_eq!(live.heap_bytes(), -1_000);
    }
}
