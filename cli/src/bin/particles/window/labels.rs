//! The words and numbers the demo shows: latencies with their unit, and the
//! window title.

use std::fmt::Write;

use heapsnow_cli::units::{format_bytes, format_ns};

/// A latency with the unit that keeps it short: `45 ns`, `1.5 µs`, `12 ms`.
/// Three significant digits at most, trailing zeros dropped.
pub fn latency(ns: u64) -> String {
    format_ns(ns as f64)
}

/// A byte count that may be negative, with its binary unit: `77.9 KiB`,
/// `-1 KiB`.
pub fn signed_bytes(bytes: i64) -> String {
    let sign = if bytes < 0 { "-" } else { "" };
    format!("{sign}{}", format_bytes(bytes.unsigned_abs() as f64))
}

/// What the title shows about the recording: the heap now, and the calls of
/// the last second.
pub struct Recorded {
    /// Bytes allocated minus bytes freed since the recording started.
    pub heap_bytes: i64,
    pub allocations_per_s: f64,
    /// `None` when there was no allocation in that second.
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
}

/// The window title: it starts with "particles", then the live figures.
/// `recorded` is `None` when the run does not record.
pub fn title(particles: usize, frames_per_s: f64, recorded: Option<&Recorded>) -> String {
    let mut title = format!("particles: {particles} particles, {frames_per_s:.0} fps");
    match recorded {
        None => title.push_str(", not recording (--no-record)"),
        Some(stats) => {
            let percentile = |ns: Option<u64>| ns.map_or_else(|| "-".to_owned(), latency);
            let _ = write!(
                title,
                ", heap {}, {:.0} allocations/s, latency p50 {} p99 {} (last second)",
                signed_bytes(stats.heap_bytes),
                stats.allocations_per_s,
                percentile(stats.p50_ns),
                percentile(stats.p99_ns),
            );
        }
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_keep_three_digits_and_their_unit() {
        assert_eq!(latency(0), "0 ns");
        assert_eq!(latency(45), "45 ns");
        assert_eq!(latency(999), "999 ns");
        assert_eq!(latency(1_000), "1 µs");
        assert_eq!(latency(1_500), "1.5 µs");
        assert_eq!(latency(12_345), "12.3 µs");
        assert_eq!(latency(100_000), "100 µs");
        assert_eq!(latency(10_000_000), "10 ms");
        assert_eq!(latency(2_000_000_000), "2 s");
    }

    #[test]
    fn heap_sums_keep_their_sign_and_unit() {
        assert_eq!(signed_bytes(0), "0 B");
        assert_eq!(signed_bytes(79_770), "77.9 KiB");
        assert_eq!(signed_bytes(-1_024), "-1 KiB");
        assert_eq!(signed_bytes(i64::MIN), "-8 EiB");
    }

    #[test]
    fn the_title_starts_with_the_program_and_shows_the_figures() {
        let stats = Recorded {
            heap_bytes: 79_770,
            allocations_per_s: 187.4,
            p50_ns: Some(44),
            p99_ns: Some(1_412),
        };
        let title = title(1012, 59.6, Some(&stats));
        assert_eq!(
            title,
            "particles: 1012 particles, 60 fps, heap 77.9 KiB, 187 allocations/s, latency p50 44 ns p99 1.41 µs (last second)"
        );
        let quiet = Recorded {
            heap_bytes: 0,
            allocations_per_s: 0.0,
            p50_ns: None,
            p99_ns: None,
        };
        assert!(super::title(3, 60.0, Some(&quiet)).ends_with("p50 - p99 - (last second)"));
        assert!(super::title(3, 60.0, None).starts_with("particles: 3 particles, 60 fps"));
    }
}
