//! Aggregates of one run: everything the charts and the summary need,
//! built one event at a time. All are of fixed size but the map of live
//! objects, which grows with the objects allocated and not yet freed (16
//! bytes each, see [`LiveMap`]), never with the rows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hdrhistogram::Histogram;
use heapsnow::recorder::{Event, Kind};

use crate::correlation::SizeLatency;
use crate::heap::{Heap, HeapChange};
use crate::live::{Life, LiveMap};
use crate::stacks::RunStacks;

/// Significant digits of the summary's histograms (latency by kind, size
/// class, lifetimes): the library's, as in `summary.json`.
pub use heapsnow::stats::SIGNIFICANT_DIGITS as SIGFIG;
/// Significant digits of the timeline's per-bucket histograms: there are
/// hundreds of them, and the chart cannot show a 0.1% difference anyway.
const TIMELINE_SIGFIG: u8 = 2;

/// An auto-resizing histogram that accepts any `u64` without panicking.
fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new(sigfig).expect("sigfig is in 0..=5")
}

/// Records `value`; values past what the histogram can grow to (about 2^62)
/// are clamped to its top rather than lost.
fn record(histogram: &mut Histogram<u64>, value: u64) {
    if histogram.record(value).is_err() {
        histogram.saturating_record(value);
    }
}

/// Everything known about one run.
pub struct RunStats {
    /// The run's name in charts and tables.
    pub label: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// Events read.
    pub events: u64,
    /// Latency per kind, indexed by `Kind as usize`.
    pub kinds: [KindStats; 4],
    /// Size against latency, for the scatter chart.
    pub density: Density,
    /// Latency per power-of-two size class.
    pub size_classes: SizeClasses,
    /// Latency and allocation rate over the run's time.
    pub timeline: Timeline,
    /// Object lifetimes, pairing allocations with their release.
    pub lifetimes: Lifetimes,
    /// The live heap over time, from the same pairing.
    pub heap: Heap,
    /// Why the run that wrote the file did not finish, if it did not.
    pub unfinished: Option<String>,
    /// How well size predicts latency, per kind.
    pub size_latency: SizeLatency,
    /// The call stacks the run captured.
    pub stacks: RunStacks,
}

impl RunStats {
    /// Empty aggregates for a run.
    pub fn new(label: String, path: PathBuf) -> RunStats {
        RunStats {
            label,
            path,
            events: 0,
            kinds: std::array::from_fn(|_| KindStats::new()),
            density: Density::new(),
            size_classes: SizeClasses::new(),
            timeline: Timeline::new(),
            lifetimes: Lifetimes::new(),
            heap: Heap::new(),
            unfinished: None,
            size_latency: SizeLatency::new(),
            stacks: RunStacks::default(),
        }
    }

    /// Adds one event to every aggregate.
    pub fn record(&mut self, event: &Event) {
        self.events += 1;
        self.kinds[event.kind as usize].record(event.latency_ns);
        self.density.record(event.size_bytes, event.latency_ns);
        self.size_classes.record(event.size_bytes, event.latency_ns);
        self.timeline.record(event);
        let change = self.lifetimes.record(event);
        self.heap.record(event.t_ns, change);
        self.size_latency
            .record(event.kind, event.size_bytes, event.latency_ns);
        self.stacks.record(event);
    }

    /// Every call's latency added up: the time the run spent in the allocator.
    pub fn total_latency_ns(&self) -> u128 {
        self.kinds.iter().map(|kind| kind.sum_ns).sum()
    }

    /// The statistics of one kind.
    pub fn kind(&self, kind: Kind) -> &KindStats {
        &self.kinds[kind as usize]
    }
}

/// Latency of one kind of call: the library's aggregate, the same as
/// `summary.json`'s.
pub use heapsnow::stats::Latencies as KindStats;

/// A 2D histogram of (log2 size, log10 latency): the scatter chart drawn as
/// a density, whatever the number of events.
pub struct Density {
    counts: Vec<u64>,
}

impl Density {
    /// Cells per doubling of size.
    pub const X_PER_OCTAVE: usize = 8;
    /// Cells per tenfold latency.
    pub const Y_PER_DECADE: usize = 20;
    const X_CELLS: usize = 64 * Self::X_PER_OCTAVE + 1;
    const Y_CELLS: usize = 20 * Self::Y_PER_DECADE;

    fn new() -> Density {
        Density {
            counts: vec![0; Self::X_CELLS * Self::Y_CELLS],
        }
    }

    fn record(&mut self, size_bytes: u64, latency_ns: u64) {
        // 0 B and 0 ns have no place on a log axis: they count as 1.
        let x = (size_bytes.max(1) as f64).log2() * Self::X_PER_OCTAVE as f64;
        let y = (latency_ns.max(1) as f64).log10() * Self::Y_PER_DECADE as f64;
        let x = (x as usize).min(Self::X_CELLS - 1);
        let y = (y as usize).min(Self::Y_CELLS - 1);
        self.counts[y * Self::X_CELLS + x] += 1;
    }

    /// Non-empty cells as `(x, y, count)`: the cell spans
    /// `log2(size) in [x, x+1) / X_PER_OCTAVE` and
    /// `log10(latency) in [y, y+1) / Y_PER_DECADE`.
    pub fn cells(&self) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, count)| **count > 0)
            .map(|(i, count)| (i % Self::X_CELLS, i / Self::X_CELLS, *count))
    }
}

/// Latency per power-of-two size class: class 0 holds 0 B, class k >= 1
/// holds sizes in [2^(k-1), 2^k).
pub struct SizeClasses {
    classes: Vec<Option<Histogram<u64>>>,
}

impl SizeClasses {
    fn new() -> SizeClasses {
        SizeClasses {
            classes: vec![None; 65],
        }
    }

    fn record(&mut self, size_bytes: u64, latency_ns: u64) {
        let class = (64 - size_bytes.leading_zeros()) as usize;
        record(
            self.classes[class].get_or_insert_with(|| histogram(SIGFIG)),
            latency_ns,
        );
    }

    /// The smallest size in a class.
    pub fn lower_bound_bytes(class: usize) -> u64 {
        if class == 0 { 0 } else { 1 << (class - 1) }
    }

    /// Non-empty classes, smallest first.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Histogram<u64>)> {
        self.classes
            .iter()
            .enumerate()
            .filter_map(|(class, histogram)| Some((class, histogram.as_ref()?)))
    }
}

/// Latency and allocation rate per time bucket. The run's length is unknown
/// until the end, so the buckets start narrow and double in width (merging
/// pairs) whenever an event falls past the last one.
pub struct Timeline {
    bucket_ns: u64,
    buckets: Vec<TimeBucket>,
    end_ns: u64,
}

/// One slice of a run's time.
pub struct TimeBucket {
    /// Latency of every call in the slice.
    pub latency_ns: Histogram<u64>,
    /// Calls that allocate (alloc, alloc_zeroed, realloc).
    pub allocations: u64,
}

impl Timeline {
    /// The most buckets a timeline holds: enough to see pauses, few enough
    /// to draw and to keep in memory.
    pub const MAX_BUCKETS: usize = 240;
    const FIRST_BUCKET_NS: u64 = 1_000;

    fn new() -> Timeline {
        Timeline {
            bucket_ns: Self::FIRST_BUCKET_NS,
            buckets: Vec::new(),
            end_ns: 0,
        }
    }

    fn record(&mut self, event: &Event) {
        let mut index = event.t_ns / self.bucket_ns;
        while index >= Self::MAX_BUCKETS as u64 {
            self.widen();
            index = event.t_ns / self.bucket_ns;
        }
        let index = index as usize;
        while self.buckets.len() <= index {
            self.buckets.push(TimeBucket {
                latency_ns: histogram(TIMELINE_SIGFIG),
                allocations: 0,
            });
        }
        let bucket = &mut self.buckets[index];
        record(&mut bucket.latency_ns, event.latency_ns);
        if event.kind != Kind::Dealloc {
            bucket.allocations += 1;
        }
        self.end_ns = self.end_ns.max(event.t_ns.saturating_add(event.latency_ns));
    }

    fn widen(&mut self) {
        self.bucket_ns = self.bucket_ns.saturating_mul(2);
        crate::slices::merge_pairs(&mut self.buckets, |first, second| {
            first
                .latency_ns
                .add(&second.latency_ns)
                .expect("auto-resizing histograms with the same precision add");
            first.allocations += second.allocations;
        });
    }

    /// Width of every bucket.
    pub fn bucket_ns(&self) -> u64 {
        self.bucket_ns
    }

    /// The end of the last call seen, since the recorder started.
    pub fn end_ns(&self) -> u64 {
        self.end_ns
    }

    /// Buckets in time order; bucket `i` starts at `i * bucket_ns()`.
    pub fn buckets(&self) -> &[TimeBucket] {
        &self.buckets
    }
}

/// Object lifetimes: alloc to the dealloc of the same address; a realloc
/// ends the life at its old address and starts one at its new address.
pub struct Lifetimes {
    /// Start time and size of every live object, by address: 16 bytes an
    /// object.
    live: LiveMap,
    /// Every completed life.
    pub lifetime_ns: Histogram<u64>,
    /// Frees (and realloc old addresses) with no allocation seen for them:
    /// allocated before recording started, or rows out of order.
    pub unmatched_frees: u64,
    /// Allocations returning an address that was still live: a missed free.
    pub reused_live_addresses: u64,
}

impl Lifetimes {
    fn new() -> Lifetimes {
        Lifetimes {
            live: LiveMap::new(),
            lifetime_ns: histogram(SIGFIG),
            unmatched_frees: 0,
            reused_live_addresses: 0,
        }
    }

    /// Pairs the call with the lives it ends and starts; returns what that
    /// did to the live heap.
    fn record(&mut self, event: &Event) -> HeapChange {
        let mut change = HeapChange::default();
        match event.kind {
            Kind::Alloc | Kind::AllocZeroed => self.begin(event, &mut change),
            Kind::Realloc => {
                // A failed realloc (address 0) leaves the old object alive.
                if event.addr != 0 {
                    if let Some(old_addr) = event.old_addr {
                        self.end(old_addr, event.t_ns, &mut change);
                    }
                    self.begin(event, &mut change);
                }
            }
            Kind::Dealloc => self.end(event.addr, event.t_ns, &mut change),
        }
        change
    }

    /// Starts the life of the object `event` allocated, if it succeeded.
    fn begin(&mut self, event: &Event, change: &mut HeapChange) {
        if event.addr == 0 {
            return;
        }
        let life = Life {
            start_ns: event.t_ns,
            size_bytes: event.size_bytes,
        };
        if let Some(dropped) = self.live.insert(event.addr, life) {
            // Its free is missing, but the address was handed out again:
            // the block is gone.
            self.reused_live_addresses += 1;
            change.freed_bytes += u128::from(dropped.size_bytes);
        }
        change.allocated_bytes = event.size_bytes;
    }

    fn end(&mut self, addr: u64, t_ns: u64, change: &mut HeapChange) {
        match self.live.remove(addr) {
            Some(life) => {
                record(&mut self.lifetime_ns, t_ns.saturating_sub(life.start_ns));
                change.freed_bytes += u128::from(life.size_bytes);
            }
            None => self.unmatched_frees += 1,
        }
    }

    /// Objects allocated and never freed before the end of the file.
    pub fn still_live(&self) -> usize {
        self.live.len()
    }

    /// The `n` largest sizes among the objects still live, largest first,
    /// each with the number of objects of that size.
    pub fn largest_still_live(&self, n: usize) -> Vec<(u64, u64)> {
        let mut largest: BTreeMap<u64, u64> = BTreeMap::new();
        for life in self.live.lives() {
            if let Some(count) = largest.get_mut(&life.size_bytes) {
                *count += 1;
            } else if largest.len() < n {
                largest.insert(life.size_bytes, 1);
            } else if largest
                .first_key_value()
                .is_some_and(|(&smallest, _)| smallest < life.size_bytes)
            {
                largest.pop_first();
                largest.insert(life.size_bytes, 1);
            }
        }
        largest.into_iter().rev().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind, t_ns: u64, addr: u64, old_addr: Option<u64>) -> Event {
        Event {
            kind,
            size_bytes: 16,
            align_bytes: 8,
            latency_ns: 10,
            t_ns,
            thread: 1,
            addr,
            old_addr,
            old_size_bytes: old_addr.map(|_| 16),
            stack: None,
        }
    }

    #[test]
    fn pairs_lives_by_address_through_realloc() {
        let mut stats = RunStats::new("a".into(), "a.tsv".into());
        stats.record(&event(Kind::Alloc, 100, 0x10, None));
        stats.record(&event(Kind::Realloc, 300, 0x20, Some(0x10)));
        stats.record(&event(Kind::Dealloc, 1_000, 0x20, None));
        stats.record(&event(Kind::Dealloc, 1_100, 0x30, None));
        stats.record(&event(Kind::AllocZeroed, 1_200, 0x40, None));
        let lives = &stats.lifetimes;
        assert_eq!(lives.lifetime_ns.len(), 2);
        assert_eq!(lives.lifetime_ns.min(), 200);
        assert_eq!(lives.lifetime_ns.max(), 700);
        assert_eq!(lives.unmatched_frees, 1);
        assert_eq!(lives.still_live(), 1);
    }

    /// A call of `size_bytes` (a realloc's new size), with the old size
    /// that a file written since `old_bytes` exists gives.
    fn sized(kind: Kind, t_ns: u64, size_bytes: u64, addr: u64, old: Option<(u64, u64)>) -> Event {
        Event {
            size_bytes,
            old_addr: old.map(|(addr, _)| addr),
            old_size_bytes: old.map(|(_, size)| size),
            ..event(kind, t_ns, addr, None)
        }
    }

    fn heap_after(events: &[Event]) -> RunStats {
        let mut stats = RunStats::new("a".into(), "a.tsv".into());
        for event in events {
            stats.record(event);
        }
        stats
    }

    #[test]
    fn the_heap_follows_allocations_frees_and_reallocs() {
        let stats = heap_after(&[
            sized(Kind::Alloc, 10, 100, 0x10, None),
            sized(Kind::AllocZeroed, 20, 50, 0x20, None),
            // Moved and grown: 100 B leave, 300 B arrive.
            sized(Kind::Realloc, 30, 300, 0x30, Some((0x10, 100))),
            // Shrunk in place.
            sized(Kind::Realloc, 40, 200, 0x30, Some((0x30, 300))),
            sized(Kind::Dealloc, 50, 50, 0x20, None),
        ]);
        let heap = &stats.heap;
        assert_eq!(heap.live_bytes(), 200);
        assert_eq!((heap.peak().bytes, heap.peak().t_ns), (350, 30));
        assert_eq!(stats.lifetimes.still_live(), 1);
        assert_eq!(stats.lifetimes.largest_still_live(5), [(200, 1)]);
    }

    #[test]
    fn failed_calls_and_frees_of_unknown_blocks_change_nothing() {
        let stats = heap_after(&[
            sized(Kind::Alloc, 10, 100, 0x10, None),
            // Failed: no address, nothing allocated, the old block stays.
            sized(Kind::Alloc, 20, 1 << 40, 0, None),
            sized(Kind::Realloc, 30, 1 << 40, 0, Some((0x10, 100))),
            // Allocated before the recording started.
            sized(Kind::Dealloc, 40, 4_096, 0x99, None),
            sized(Kind::Realloc, 50, 64, 0x40, Some((0x98, 32))),
        ]);
        let heap = &stats.heap;
        // The realloc of an unknown block still allocates its new one.
        assert_eq!(heap.live_bytes(), 164);
        assert_eq!((heap.peak().bytes, heap.peak().t_ns), (164, 50));
        assert_eq!(stats.lifetimes.unmatched_frees, 2);
        assert_eq!(stats.lifetimes.largest_still_live(5), [(100, 1), (64, 1)]);
    }

    #[test]
    fn files_without_old_sizes_are_followed_exactly() {
        // Written before `old_bytes` existed: the realloc row has no old size.
        let mut realloc = sized(Kind::Realloc, 30, 300, 0x30, Some((0x10, 100)));
        realloc.old_size_bytes = None;
        let stats = heap_after(&[
            sized(Kind::Alloc, 10, 100, 0x10, None),
            realloc,
            sized(Kind::Alloc, 40, 8, 0x50, None),
        ]);
        assert_eq!(stats.heap.live_bytes(), 308);
        assert_eq!(stats.heap.peak().bytes, 308);
    }

    #[test]
    fn an_address_handed_out_again_ends_the_older_object() {
        // Its free is missing from the file: it cannot still hold memory.
        let stats = heap_after(&[
            sized(Kind::Alloc, 10, 100, 0x10, None),
            sized(Kind::Alloc, 20, 30, 0x10, None),
        ]);
        assert_eq!(stats.heap.live_bytes(), 30);
        assert_eq!(stats.lifetimes.reused_live_addresses, 1);
    }

    #[test]
    fn the_largest_live_sizes_are_counted() {
        let sizes = [8, 4_096, 8, 1 << 40, 24, 4_096, 16, 4_096, 32, 8];
        let events: Vec<Event> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| sized(Kind::Alloc, i as u64, size, 0x100 * (i as u64 + 1), None))
            .collect();
        let stats = heap_after(&events);
        assert_eq!(
            stats.lifetimes.largest_still_live(3),
            [(1 << 40, 1), (4_096, 3), (32, 1)]
        );
        assert_eq!(stats.lifetimes.largest_still_live(0), []);
        assert_eq!(
            stats.heap.live_bytes(),
            sizes.iter().map(|&s| u128::from(s)).sum::<u128>()
        );
    }

    #[test]
    fn timeline_widens_and_keeps_every_event() {
        let mut stats = RunStats::new("a".into(), "a.tsv".into());
        for i in 0..10_000u64 {
            let kind = if i % 2 == 0 {
                Kind::Alloc
            } else {
                Kind::Dealloc
            };
            stats.record(&event(kind, i * 1_000_000, 0x10, None));
        }
        let timeline = &stats.timeline;
        assert!(timeline.buckets().len() <= Timeline::MAX_BUCKETS);
        let events: u64 = timeline.buckets().iter().map(|b| b.latency_ns.len()).sum();
        let allocations: u64 = timeline.buckets().iter().map(|b| b.allocations).sum();
        assert_eq!((events, allocations), (10_000, 5_000));
        assert!(timeline.bucket_ns() * Timeline::MAX_BUCKETS as u64 > 9_999 * 1_000_000);
    }

    #[test]
    fn extreme_values_do_not_panic() {
        let mut stats = RunStats::new("a".into(), "a.tsv".into());
        let mut extreme = event(Kind::Alloc, u64::MAX, u64::MAX, None);
        extreme.latency_ns = u64::MAX;
        extreme.size_bytes = u64::MAX;
        stats.record(&extreme);
        extreme.size_bytes = 0;
        extreme.latency_ns = 0;
        extreme.t_ns = 0;
        stats.record(&extreme);
        assert_eq!(stats.kind(Kind::Alloc).count(), 2);
        assert_eq!(stats.kind(Kind::Alloc).max_ns, u64::MAX);
        assert_eq!(stats.density.cells().map(|c| c.2).sum::<u64>(), 2);
    }
}
