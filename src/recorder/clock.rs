//! The recorder's clock: the cheapest source that is correct on this machine.
//!
//! On x86_64, when the kernel itself keeps time with the TSC (its clocksource
//! is `tsc`, which it only picks when the counter is invariant and synchronised
//! across cores), a raw `rdtsc` costs a fraction of `Instant::now()`. Ticks are
//! converted to nanoseconds off the allocation path, by the drain, with a
//! calibration taken at start. Elsewhere the clock is the monotonic clock, in
//! nanoseconds.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

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
/// recording and kept in its ring, so two allocators recording with different
/// sources never mix their ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
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

    /// The source with this `repr(u8)` value.
    #[inline(always)]
    pub(crate) fn from_u8(value: u8) -> TickSource {
        if value == TickSource::Tsc as u8 {
            TickSource::Tsc
        } else {
            TickSource::Monotonic
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

/// Converts ticks of the selected source into nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    /// The source in use.
    pub source: TickSource,
    /// Nanoseconds per tick (1.0 for the monotonic clock).
    pub ns_per_tick: f64,
    /// Tick value at the recorder's epoch.
    pub epoch_ticks: u64,
    /// The smallest non-zero interval two back-to-back reads reported, in ns.
    pub floor_ns: f64,
    /// The median cost of a pair of back-to-back reads, in ns.
    pub pair_cost_ns: f64,
}

impl Calibration {
    /// A duration in ticks, as nanoseconds.
    #[inline]
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick).round() as u64
    }

    /// A tick reading, as nanoseconds since the epoch (0 if before it).
    #[inline]
    pub fn since_epoch_ns(&self, ticks: u64) -> u64 {
        self.ticks_to_ns(ticks.saturating_sub(self.epoch_ticks))
    }
}

/// Whether the kernel keeps time with the TSC.
fn kernel_trusts_tsc() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|source| source.trim() == "tsc")
}

/// Selects the source, measures its rate against `Instant` and its floor, and
/// sets the epoch to now. Takes about 20 ms.
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
        measure_ns_per_tick(source, Duration::from_millis(20))
    } else {
        1.0
    };
    let (floor_ticks, median_ticks) = measure_floor_ticks(source, 100_000);
    Calibration {
        source,
        ns_per_tick,
        epoch_ticks: source.now_ticks(),
        floor_ns: floor_ticks as f64 * ns_per_tick,
        pair_cost_ns: median_ticks as f64 * ns_per_tick,
    }
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

/// The smallest non-zero and the median difference of `pairs` back-to-back reads.
fn measure_floor_ticks(source: TickSource, pairs: usize) -> (u64, u64) {
    let mut diffs: Vec<u64> = (0..pairs)
        .map(|_| {
            let start = source.now_ticks();
            source.now_ticks().saturating_sub(start)
        })
        .collect();
    diffs.sort_unstable();
    let floor = diffs.iter().copied().find(|&d| d > 0).unwrap_or(1);
    (floor, diffs[diffs.len() / 2])
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
        assert!(calibration.floor_ns > 0.0 && calibration.floor_ns < 10_000.0);
    }
}
