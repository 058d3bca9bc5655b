//! The readable summary printed on stdout at the end of a run.

use std::fmt::Write;

use heapsnow::recorder::Kind;

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
        "{} frames in {:.2} s ({:.0} frames/s), {}, strategy {}, allocator {}, seed {}{}",
        s.frames,
        s.run.wall_s,
        s.frames_per_s,
        threads,
        s.strategy,
        s.allocator,
        s.seed,
        if s.interrupted { " (interrupted)" } else { "" }
    );
    let _ = writeln!(
        out,
        "particles: {} at the start, {} at the end",
        s.particles_initial * u64::from(s.threads),
        s.particles_final
    );
    if s.run.recording {
        out.push('\n');
        out.push_str(&latency_table(s));
        out.push('\n');
        let wait_share = 100.0 * s.run.wait_ns as f64 / (s.run.wall_s * 1e9).max(1.0);
        let _ = writeln!(
            out,
            "events: {} recorded, {} written ({:.1} per frame); producers waited {:.3} ms in {} waits ({:.3}% of wall time)",
            s.run.events_recorded,
            s.run.events_written,
            s.run.events_recorded as f64 / s.frames.max(1) as f64,
            s.run.wait_ns as f64 / 1e6,
            s.run.waits,
            wait_share
        );
        let _ = writeln!(
            out,
            "timer: {} clock, resolution {:.1} ns: latencies are measured in steps of about that; \
             the clock's own {:.1} ns per call is taken off each",
            s.run.clock, s.run.timer_floor_ns, s.run.timer_offset_ns
        );
        if s.run.events_dropped > 0 {
            let _ = writeln!(
                out,
                "dropped: {} events, while the drain was stalled with the buffer full",
                s.run.events_dropped
            );
        }
    } else {
        let _ = writeln!(out, "recording off (--no-record): no events");
    }
    let output = &result.output;
    let _ = writeln!(
        out,
        "files: {}, {}, {}",
        output.tsv_path().display(),
        output.summary_path().display(),
        output.hgrm_path().display()
    );
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
            k.count,
            k.p50,
            k.p90,
            k.p99,
            k.p99_9,
            k.p99_99,
            k.max,
            k.mean
        );
    }
    out
}
