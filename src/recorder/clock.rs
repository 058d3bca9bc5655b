//! The recorder's clock: the cheapest source that is correct on this machine.
//!
//! On x86_64, when the kernel itself keeps time with the TSC (its clocksource
//! is `tsc`, which it only picks when the counter is invariant and synchronised
//! across cores), a raw `rdtsc` costs a fraction of `Instant::now()`. Ticks are
//! converted to nanoseconds off the allocation path, by the drain, with a
//! calibration taken at start. Elsewhere the clock is the monotonic clock, in
//! nanoseconds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::event::Kind;
use super::slot::RawEvent;

/// Which time source the recorder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClockSource {
    /// The TSC if the kernel trusts it, else the monotonic clock.
    #[default]
    Auto,
    /// The CPU's time-stamp counter (x86_64 only; falls back elsewhere).
    Tsc,
    /// The operating system's monotonic clock (`Instant`).
    Monotonic,
}

/// The counter a recording reads on its allocation path. Chosen per
/// recording and kept with it, so two allocators recording with different
/// sources never mix their ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickSource {
    /// The CPU's time-stamp counter, `rdtsc` (x86_64 only).
    Tsc,
    /// The monotonic clock, in nanoseconds since the first read in the process.
    Monotonic,
}

/// Origin of the monotonic ticks.
static MONOTONIC_BASE: OnceLock<Instant> = OnceLock::new();

impl TickSource {
    /// The current time in this source's ticks: what the recorder's own timing
    /// costs, for benchmarks.
    #[inline(always)]
    pub fn now_ticks(self) -> u64 {
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `rdtsc` has no preconditions.
            TickSource::Tsc => unsafe { core::arch::x86_64::_rdtsc() },
            #[cfg(not(target_arch = "x86_64"))]
            TickSource::Tsc => monotonic_ticks(),
            TickSource::Monotonic => monotonic_ticks(),
        }
    }

    /// The name printed with the results: `tsc` or `monotonic`.
    pub fn name(self) -> &'static str {
        match self {
            TickSource::Tsc => "tsc",
            TickSource::Monotonic => "monotonic",
        }
    }
}

#[inline]
fn monotonic_ticks() -> u64 {
    let base = MONOTONIC_BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Converts ticks of the selected source into nanoseconds, and says what
/// the clock itself adds to every measurement.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    /// The source in use.
    pub source: TickSource,
    /// Nanoseconds per tick (1.0 for the monotonic clock).
    pub ns_per_tick: f64,
    /// Tick value at the recorder's epoch.
    pub epoch_ticks: u64,
    /// The clock's resolution: the most common non-zero difference between
    /// two back-to-back reads, in ns. Latencies are multiples of it (less
    /// the offset below), so differences smaller than it are not measured.
    pub resolution_ns: f64,
    /// The clock's own share of every timed window, in ns: the mean window
    /// the recorder measures around a call of known cost (a small System
    /// allocation or free, its event written out after it), less that cost
    /// (the same calls timed as a batch); the median of a few rounds. Taken
    /// around the cheapest calls and around calls of a few tens of ns, and
    /// the two averaged: where they differ (on an AMD EPYC, 8.5 against
    /// 5 ns, as the reads overlap a longer call more), no call is off by
    /// more than half the difference.
    /// Each latency is reported with it subtracted; the raw reading is the
    /// latency plus this (for latencies above 0).
    pub offset_ns: f64,
}

impl Calibration {
    /// A duration in ticks, as nanoseconds.
    #[inline]
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        round_to_u64(ticks as f64 * self.ns_per_tick)
    }

    /// A timed window in ticks, as the latency of what it timed: the clock's
    /// own share taken off, in ns (0 if the window was shorter than that).
    #[inline]
    pub fn latency_ns(&self, window_ticks: u64) -> u64 {
        round_to_u64(window_ticks as f64 * self.ns_per_tick - self.offset_ns)
    }

    /// The fewest ticks a timed window must span for
    /// [`latency_ns`](Self::latency_ns) to report at least `ns`: the
    /// allocation path compares raw ticks with it.
    pub fn ticks_for_latency_ns(&self, ns: u64) -> u64 {
        let (mut low, mut high) = (0u64, u64::MAX);
        if self.latency_ns(high) < ns {
            return u64::MAX;
        }
        while low < high {
            let middle = low + (high - low) / 2;
            if self.latency_ns(middle) >= ns {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
        low
    }

    /// A tick reading, as nanoseconds since the epoch (0 if before it).
    #[inline]
    pub fn since_epoch_ns(&self, ticks: u64) -> u64 {
        self.ticks_to_ns(ticks.saturating_sub(self.epoch_ticks))
    }
}

/// `ns` rounded to the nearest whole number, halves up; 0 for negative
/// numbers. The drain converts every event with it: `f64::round` is a call
/// into libm on x86_64 without SSE4.1, this is an add and a truncation.
#[inline]
fn round_to_u64(ns: f64) -> u64 {
    if ns > 0.0 { (ns + 0.5) as u64 } else { 0 }
}

/// Whether the kernel keeps time with the TSC.
fn kernel_trusts_tsc() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|source| source.trim() == "tsc")
}

/// How long the TSC's rate is measured against `Instant`: long enough for an
/// error of a few parts per million, short enough to keep start-up cheap.
const RATE_SPAN: Duration = Duration::from_millis(2);
/// Back-to-back reads taken to find the resolution and the offset.
const READ_PAIRS: usize = 20_000;

/// Selects the source, measures its rate against `Instant`, its resolution
/// and its offset, and sets the epoch to now. Takes about 3 ms.
pub(crate) fn calibrate(source: ClockSource) -> Calibration {
    let use_tsc = match source {
        ClockSource::Auto => kernel_trusts_tsc(),
        ClockSource::Tsc => cfg!(target_arch = "x86_64"),
        ClockSource::Monotonic => false,
    };
    let source = if use_tsc {
        TickSource::Tsc
    } else {
        TickSource::Monotonic
    };
    let ns_per_tick = if use_tsc {
        measure_ns_per_tick(source, RATE_SPAN)
    } else {
        1.0
    };
    let reads = measure_back_to_back(source, READ_PAIRS);
    let offset_ns = (measure_offset_ns(source, ns_per_tick, READ_PAIRS, 0)
        + measure_offset_ns(source, ns_per_tick, READ_PAIRS / 4, LONG_PROBE_SPINS))
        / 2.0;
    Calibration {
        source,
        ns_per_tick,
        epoch_ticks: source.now_ticks(),
        resolution_ns: reads.resolution_ticks as f64 * ns_per_tick,
        offset_ns,
    }
}

/// A small allocation, freed at once: the calls the offset is measured on.
const PROBE: Layout = match Layout::from_size_align(64, 8) {
    Ok(layout) => layout,
    Err(_) => panic!("a valid layout"),
};

/// The event the allocation path would write for a probe call.
fn probe_event(kind: Kind, start_ticks: u64, end_ticks: u64, ptr: *mut u8) -> RawEvent {
    RawEvent {
        start_ticks,
        latency_ticks: end_ticks.saturating_sub(start_ticks),
        size_bytes: PROBE.size() as u64,
        addr: ptr as u64,
        old_addr: 0,
        old_size_bytes: 0,
        generation: 0,
        align_log2: PROBE.align().trailing_zeros() as u8,
        kind: kind as u8,
        stack_frames: 0,
        stack_why: 0,
    }
}

/// The offset is measured this many times, a batch and its calls timed one by
/// one in turn, and the median kept: the machine's speed drifts.
const OFFSET_ROUNDS: usize = 8;

/// Spin iterations before each call of the longer probe: some tens of ns.
const LONG_PROBE_SPINS: u32 = 64;

/// A probe call: `spins` iterations of a loop the compiler keeps, then `call`.
#[inline(always)]
fn probe_call<R>(spins: u32, call: impl FnOnce() -> R) -> R {
    for i in 0..spins {
        black_box(i);
    }
    call()
}

/// Events the offset's measurement writes round: 32 KiB.
const EVENT_RING: usize = 1024;

/// The clock's share of a timed window. Small System allocations and frees
/// are timed two ways: as one batch timed as a whole (their true cost), and
/// one by one, each call between two reads as the recorder times it, its
/// event written out after it as the allocation path writes one. The
/// offset is the difference per call: the median of a few rounds of both,
/// one after the other. With `spins`, each call spins that long first,
/// inside its window. Timing real calls rather than two
/// back-to-back reads takes in how the reads overlap with the work between
/// them, a few ns that back-to-back reads miss; writing the events takes in
/// the stores still draining while the next call runs. Against one round
/// of each without the events, the events raised the offset by about 0.6 ns
/// and the rounds by about 0.75 ns more, and the cheapest calls of
/// `examples/clock_accuracy.rs` went from reading 2.6 ns slow to 1.2 ns.
fn measure_offset_ns(source: TickSource, ns_per_tick: f64, pairs: usize, spins: u32) -> f64 {
    // Written round a small ring, as the allocation path writes its buffer.
    let mut events = vec![probe_event(Kind::Alloc, 0, 0, std::ptr::null_mut()).slot(); EVENT_RING];
    let mut offsets_ns: Vec<f64> = (0..OFFSET_ROUNDS)
        .map(|_| {
            let pairs = pairs / OFFSET_ROUNDS;
            let start = Instant::now();
            for _ in 0..pairs {
                // SAFETY: a valid layout, freed at once with the same layout.
                let ptr = probe_call(spins, || unsafe { System.alloc(PROBE) });
                // SAFETY: as above.
                probe_call(spins, || unsafe { System.dealloc(black_box(ptr), PROBE) });
            }
            let pair_ns = start.elapsed().as_nanos() as f64 / pairs as f64;
            let mut windows = Vec::with_capacity(2 * pairs);
            for i in 0..pairs {
                let start = source.now_ticks();
                // SAFETY: as above.
                let ptr = probe_call(spins, || unsafe { System.alloc(PROBE) });
                let middle = source.now_ticks();
                let alloc = probe_event(Kind::Alloc, start, middle, ptr);
                events[2 * i % EVENT_RING] = alloc.slot();
                // SAFETY: as above.
                probe_call(spins, || unsafe { System.dealloc(black_box(ptr), PROBE) });
                let end = source.now_ticks();
                let dealloc = probe_event(Kind::Dealloc, middle, end, ptr);
                events[(2 * i + 1) % EVENT_RING] = dealloc.slot();
                windows.push(alloc.latency_ticks);
                windows.push(dealloc.latency_ticks);
            }
            black_box(&events);
            let window_ns = summarise_back_to_back(windows).mean_ticks * ns_per_tick;
            window_ns - pair_ns / 2.0
        })
        .collect();
    offsets_ns.sort_by(f64::total_cmp);
    offsets_ns[OFFSET_ROUNDS / 2].max(0.0)
}

/// Counts ticks over `span` of `Instant` time.
fn measure_ns_per_tick(source: TickSource, span: Duration) -> f64 {
    let (start_instant, start_ticks) = (Instant::now(), source.now_ticks());
    loop {
        let (instant, ticks) = (Instant::now(), source.now_ticks());
        let elapsed = instant - start_instant;
        if elapsed >= span && ticks > start_ticks {
            return elapsed.as_nanos() as f64 / (ticks - start_ticks) as f64;
        }
    }
}

/// What back-to-back reads of a clock show.
#[derive(Debug, PartialEq)]
struct BackToBack {
    /// The most common non-zero difference (the smallest on a tie).
    resolution_ticks: u64,
    /// The mean difference, the slowest 1 % left out (interrupts, not the clock).
    /// Only the tests read it for back-to-back reads; the offset uses it for
    /// windows around a call.
    mean_ticks: f64,
}

fn measure_back_to_back(source: TickSource, pairs: usize) -> BackToBack {
    let diffs: Vec<u64> = (0..pairs)
        .map(|_| {
            let start = source.now_ticks();
            source.now_ticks().saturating_sub(start)
        })
        .collect();
    summarise_back_to_back(diffs)
}

fn summarise_back_to_back(mut diffs: Vec<u64>) -> BackToBack {
    diffs.sort_unstable();
    let kept = &diffs[..(diffs.len() - diffs.len() / 100).max(1)];
    let mean_ticks = kept.iter().sum::<u64>() as f64 / kept.len() as f64;
    let mut resolution_ticks = 1;
    let mut best_run = 0;
    for run in diffs.chunk_by(|a, b| a == b).filter(|run| run[0] > 0) {
        if run.len() > best_run {
            (resolution_ticks, best_run) = (run[0], run.len());
        }
    }
    BackToBack {
        resolution_ticks,
        mean_ticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_clock_agrees_with_instant() {
        let calibration = calibrate(ClockSource::Auto);
        let source = calibration.source;
        let (instant, ticks) = (Instant::now(), source.now_ticks());
        std::thread::sleep(Duration::from_millis(50));
        let measured_ns = calibration.ticks_to_ns(source.now_ticks() - ticks) as f64;
        let expected_ns = instant.elapsed().as_nanos() as f64;
        assert!(
            (measured_ns / expected_ns - 1.0).abs() < 0.02,
            "{} says {measured_ns} ns where Instant says {expected_ns} ns",
            source.name()
        );
        assert!(calibration.resolution_ns > 0.0 && calibration.resolution_ns < 10_000.0);
        assert!(calibration.offset_ns >= 0.0 && calibration.offset_ns < 10_000.0);
    }

    #[test]
    fn the_resolution_is_the_common_step_and_the_offset_its_trimmed_mean() {
        // A clock that moves in steps of 26 ticks, read back to back: mostly
        // 0 or one step, a rare 1-tick reading, one interrupt.
        let mut diffs = vec![0; 60];
        diffs.extend([26; 38]);
        diffs.push(1);
        diffs.push(100_000);
        let reads = summarise_back_to_back(diffs);
        assert_eq!(reads.resolution_ticks, 26, "not the rare 1-tick reading");
        assert!(
            (reads.mean_ticks - (38.0 * 26.0 + 1.0) / 99.0).abs() < 1e-9,
            "the interrupt is left out of the mean: {}",
            reads.mean_ticks
        );
    }

    #[test]
    fn the_offset_comes_off_every_latency_and_never_below_zero() {
        let calibration = Calibration {
            source: TickSource::Tsc,
            ns_per_tick: 0.5,
            epoch_ticks: 0,
            resolution_ns: 10.0,
            offset_ns: 7.0,
        };
        assert_eq!(calibration.latency_ns(100), 43);
        assert_eq!(calibration.latency_ns(10), 0);
    }

    #[test]
    fn nanoseconds_round_to_nearest_with_halves_up() {
        assert_eq!(round_to_u64(2.49), 2);
        assert_eq!(round_to_u64(2.5), 3);
        assert_eq!(round_to_u64(0.4), 0);
        assert_eq!(round_to_u64(-3.0), 0);
        assert_eq!(round_to_u64(f64::NAN), 0);
        assert_eq!(round_to_u64(1e30), u64::MAX);
        let calibration = Calibration {
            source: TickSource::Tsc,
            ns_per_tick: 0.4,
            epoch_ticks: 0,
            resolution_ns: 10.0,
            offset_ns: 0.0,
        };
        assert_eq!(calibration.ticks_to_ns(1_000_000_007), 400_000_003);
    }
}
