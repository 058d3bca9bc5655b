//! The readable summary printed on stdout at the end of a run.

use std::fmt::Write;

use heapsnow::recorder::Kind;
use heapsnow::stacks::STACK_FILES;
use heapsnow_cli::units::group_thousands as n;

use crate::recording::{RunResult, Summary};

pub fn render(result: &RunResult) -> String {
    let s = &result.summary;
    let mut out = String::new();
    let threads = if s.threads == 1 {
        "1 world".to_owned()
    } else {
        format!("{} worlds on their own threads", s.threads)
    };
    let _ = writeln!(
        out,
        "{} frames in {:.2} s ({} frames/s), {}, strategy {}, physics {}, allocator {}, seed {}{}",
        n(s.frames),
        s.run.wall_s,
        n(s.frames_per_s.round() as u64),
        threads,
        s.strategy,
        s.physics,
        s.allocator,
        s.seed,
        if s.interrupted { " (interrupted)" } else { "" }
    );
    let _ = writeln!(
        out,
        "particles: {} at the start, {} at the end",
        n(s.particles_initial * u64::from(s.threads)),
        n(s.particles_final)
    );
    if s.run.recording {
        out.push('\n');
        out.push_str(&latency_table(s));
        out.push('\n');
        let wait_share = 100.0 * s.run.wait_ns as f64 / (s.run.wall_s * 1e9).max(1.0);
        let written = if s.run.histograms_only {
            "in the histograms only (--no-tsv)".to_owned()
        } else {
            format!("{} written", n(s.run.events_written))
        };
        let _ = writeln!(
            out,
            "events: {} recorded, {written} ({:.1} per frame); producers waited {:.3} ms in {} waits ({:.3}% of wall time), and spilled {} times",
            n(s.run.events_recorded),
            s.run.events_recorded as f64 / s.frames.max(1) as f64,
            s.run.wait_ns as f64 / 1e6,
            n(s.run.waits),
            wait_share,
            n(s.run.spills)
        );
        let _ = writeln!(
            out,
            "timer: {} clock, resolution {:.1} ns: latencies are measured in steps of about that; \
             the clock's own {:.1} ns per call is taken off each",
            s.run.clock, s.run.timer_floor_ns, s.run.timer_offset_ns
        );
        if s.run.captures_stacks() {
            let _ = writeln!(
                out,
                "stacks: {} events with their call stack ({} distinct stacks)",
                n(s.run.stacks_captured),
                n(s.run.stacks_distinct)
            );
        }
        if s.run.events_dropped > 0 {
            let _ = writeln!(
                out,
                "dropped: {} events, while the drain was stalled with the buffer full",
                n(s.run.events_dropped)
            );
        }
    } else {
        let _ = writeln!(out, "recording off (--no-record): no events");
    }
    let output = &result.output;
    let _ = write!(out, "files: ");
    if !s.run.histograms_only {
        let _ = write!(out, "{}, ", output.tsv_path().display());
    }
    let _ = write!(
        out,
        "{}, {}",
        output.summary_path().display(),
        output.hgrm_path().display()
    );
    if s.run.captures_stacks() {
        for name in STACK_FILES {
            let _ = write!(out, ", {}", output.dir().join(name).display());
        }
    }
    out.push('\n');
    out
}

fn latency_table(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<13}{:>11}{:>9}{:>9}{:>9}{:>9}{:>9}{:>11}{:>9}",
        "latency (ns)", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"
    );
    for kind in Kind::ALL {
        let Some(k) = s.run.kinds.get(kind.as_str()) else {
            continue;
        };
        let _ = writeln!(
            out,
            "{:<13}{:>11}{:>9}{:>9}{:>9}{:>9}{:>9}{:>11}{:>9.1}",
            kind.as_str(),
            n(k.count),
            n(k.p50),
            n(k.p90),
            n(k.p99),
            n(k.p99_9),
            n(k.p99_99),
            n(k.max),
            k.mean
        );
    }
    out
}
