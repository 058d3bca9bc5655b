//! `heap`: the live heap over each run's time, the bytes allocated during
//! the recording and not yet freed, with each run's peak marked.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    Chart, DrawResult, FONT, LABEL_PX, LegendEntry, Mark, TickAxis, draw_nothing_to_show, mesh,
    plot_on, run_colour, run_legend, time_unit,
};
use crate::stats::RunStats;
use crate::units::{format_bytes, trim};

/// Past this many runs the peaks are marked without their value: the
/// labels would pile up (the colours repeat past 8 runs anyway).
const MAX_PEAK_LABELS: usize = 8;
/// Most labelled ticks on the byte axis, past 0.
const MAX_BYTE_TICKS: f64 = 8.0;

/// Live heap over time.
pub struct Heap;

impl Chart for Heap {
    const FILE_STEM: &'static str = "heap";
    const TITLE: &'static str = "Live heap over time";
    const SUBTITLE: &'static str = "Bytes allocated during the recording and not yet freed, \
        highest value per time slice; the peak marked";

    fn draw<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        runs: &[RunStats],
    ) -> DrawResult<DB> {
        // The run's name alone: legend labels are cut past 32 characters,
        // the peak has its label in the plot and summary.md has the rest.
        let area = run_legend(area, runs, |i, run| {
            [LegendEntry::new(
                Mark::Line(run_colour(i).stroke_width(2)),
                run.label.clone(),
            )]
        })?;
        let peak_max = runs
            .iter()
            .map(|run| run.heap.peak().bytes)
            .max()
            .unwrap_or(0);
        if peak_max == 0 {
            return draw_nothing_to_show(&area, "no memory was allocated in these files");
        }
        let end_ns = runs
            .iter()
            .map(|run| run.timeline.end_ns())
            .max()
            .unwrap_or(0);
        let (unit_ns, unit) = time_unit(end_ns);
        let x_hi = end_ns.max(1) as f64 / unit_ns;
        // Room above the highest peak for its label.
        let y_hi = peak_max as f64 * 1.12;

        let mut chart = plot_on(&area).build_cartesian_2d(
            0.0..x_hi,
            TickAxis::new(0.0..y_hi, byte_ticks(y_hi), Vec::new()),
        )?;
        mesh(&mut chart)
            .x_desc(format!("time since the recorder started ({unit})"))
            .y_desc("live heap")
            .x_label_formatter(&|x| trim(*x))
            .y_label_formatter(&|bytes| format_bytes(*bytes))
            .draw()?;
        for (i, run) in runs.iter().enumerate() {
            let colour = run_colour(i);
            chart.draw_series(
                AreaSeries::new(steps(run, unit_ns), 0.0, colour.mix(0.12))
                    .border_style(colour.stroke_width(2)),
            )?;
        }
        for (i, run) in runs.iter().enumerate() {
            let peak = run.heap.peak();
            if peak.bytes == 0 {
                continue;
            }
            let x = peak.t_ns as f64 / unit_ns;
            let colour = run_colour(i);
            let dot =
                EmptyElement::at((x, peak.bytes as f64)) + Circle::new((0, 0), 5, colour.filled());
            if runs.len() > MAX_PEAK_LABELS {
                chart.draw_series(std::iter::once(dot))?;
                continue;
            }
            // Beside the dot, on the side with more room.
            let (h_pos, dx) = if x > x_hi / 2.0 {
                (HPos::Right, -8)
            } else {
                (HPos::Left, 8)
            };
            let font = (FONT, LABEL_PX)
                .into_font()
                .color(&colour)
                .pos(Pos::new(h_pos, VPos::Bottom));
            let label = format!("peak {}", format_bytes(peak.bytes as f64));
            chart.draw_series(std::iter::once(dot + Text::new(label, (dx, -4), font)))?;
        }
        Ok(())
    }
}

/// A run's live heap as a staircase: each slice's highest value across
/// the slice, the last slice cut short by the end of the run.
fn steps(run: &RunStats, unit_ns: f64) -> Vec<(f64, f64)> {
    let heap = &run.heap;
    let bucket_ns = heap.bucket_ns() as f64;
    let end_ns = run.timeline.end_ns() as f64;
    heap.buckets()
        .iter()
        .enumerate()
        .flat_map(|(i, bucket)| {
            let start_ns = i as f64 * bucket_ns;
            let stop_ns = (start_ns + bucket_ns).min(end_ns).max(start_ns);
            let bytes = bucket.max_bytes as f64;
            [(start_ns / unit_ns, bytes), (stop_ns / unit_ns, bytes)]
        })
        .collect()
}

/// Labelled ticks of a byte axis from 0 to `hi_bytes`: multiples of a
/// power of two of the largest binary unit under `hi_bytes` (B, KiB, MiB,
/// ...), so that every label reads short ("1.5 MiB", "384 KiB"), at most
/// [`MAX_BYTE_TICKS`] of them past 0.
fn byte_ticks(hi_bytes: f64) -> Vec<f64> {
    const LARGEST_UNIT: f64 = 1_152_921_504_606_846_976.0; // 1 EiB
    let hi_bytes = hi_bytes.max(1.0);
    let mut unit = 1.0;
    while hi_bytes >= unit * 1024.0 && unit < LARGEST_UNIT {
        unit *= 1024.0;
    }
    let mut step = 2f64.powf((hi_bytes / unit / MAX_BYTE_TICKS).log2().ceil()) * unit;
    if step < 1.0 {
        step = 1.0;
    }
    let count = (hi_bytes / step).floor() as u64;
    (0..=count).map(|i| i as f64 * step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(hi_bytes: f64) -> Vec<String> {
        byte_ticks(hi_bytes).into_iter().map(format_bytes).collect()
    }

    #[test]
    fn byte_ticks_read_short_in_binary_units() {
        assert_eq!(
            labels(3.5 * 1024.0 * 1024.0),
            [
                "0 B", "512 KiB", "1 MiB", "1.5 MiB", "2 MiB", "2.5 MiB", "3 MiB", "3.5 MiB"
            ]
        );
        assert_eq!(
            labels(1000.0 * 1024.0),
            [
                "0 B", "128 KiB", "256 KiB", "384 KiB", "512 KiB", "640 KiB", "768 KiB", "896 KiB"
            ]
        );
        assert_eq!(labels(3.0), ["0 B", "1 B", "2 B", "3 B"]);
        assert_eq!(labels(0.0), ["0 B", "1 B"]);
        for hi in [1.0, 1023.0, 1024.0, 1e6, 1e12, u64::MAX as f64, 1e38] {
            let ticks = byte_ticks(hi);
            assert!(ticks.len() >= 2 && ticks.len() <= 9, "{hi}: {ticks:?}");
            assert!(ticks.iter().all(|&t| t <= hi.max(1.0)), "{hi}: {ticks:?}");
        }
    }
}
