//! `timeline`: latency (p50, p99, max) and allocation rate over each run's
//! time, so pauses and bursts show.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    Chart, DrawResult, LegendEntry, Mark, decade_axis, draw_nothing_to_show, log10_at_least_1,
    lower_plot_on, mesh, ns_label, run_colour, run_legend, time_unit, upper_plot_on,
};
use crate::stats::RunStats;
use crate::units::{format_count, trim};

/// Latency and rate over time.
pub struct Timeline;

/// One run's points: (time in the axis unit, value).
struct Series {
    p50: Vec<(f64, f64)>,
    p99: Vec<(f64, f64)>,
    max: Vec<(f64, f64)>,
    rate_per_s: Vec<(f64, f64)>,
}

impl Chart for Timeline {
    const FILE_STEM: &'static str = "timeline";
    const TITLE: &'static str = "Latency and allocation rate over time";
    const SUBTITLE: &'static str = "Per time slice: median, 99th percentile and slowest call; \
        below, allocating calls (alloc, alloc_zeroed, realloc) per second";

    fn draw<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        runs: &[RunStats],
    ) -> DrawResult<DB> {
        let area = run_legend(area, runs, |i, run| {
            let (p50_style, p99_style, max_style) = styles(i);
            [
                LegendEntry::new(Mark::Line(p50_style), format!("{} p50", run.label)),
                LegendEntry::new(Mark::Dashed(p99_style), format!("{} p99", run.label)),
                LegendEntry::new(Mark::Line(max_style), format!("{} max", run.label)),
            ]
        })?;
        let end_ns = runs
            .iter()
            .map(|run| run.timeline.end_ns())
            .max()
            .unwrap_or(0);
        if runs.iter().all(|run| run.timeline.buckets().is_empty()) {
            return draw_nothing_to_show(&area, "no events");
        }
        let (unit_ns, unit) = time_unit(end_ns);
        // The last slice is at least 1 ns wide (see `series`): keep it on the axis.
        let x_hi = end_ns.max(1) as f64 / unit_ns;
        let series: Vec<Series> = runs.iter().map(|run| series(run, unit_ns)).collect();

        let (top, bottom) = area.split_vertically(area.dim_in_pixel().1 * 62 / 100);
        let latencies = series
            .iter()
            .flat_map(|s| s.p50.iter().chain(&s.max))
            .map(|p| p.1);
        let x_desc = format!("time since the recorder started ({unit})");

        let mut chart =
            upper_plot_on(&top).build_cartesian_2d(0.0..x_hi, decade_axis(latencies))?;
        mesh(&mut chart)
            .y_desc("latency")
            .x_label_formatter(&|x| trim(*x))
            .y_label_formatter(&ns_label)
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let (p50_style, p99_style, max_style) = styles(i);
            chart.draw_series(LineSeries::new(s.max.iter().copied(), max_style))?;
            chart.draw_series(DashedLineSeries::new(
                s.p99.iter().copied(),
                7,
                5,
                p99_style,
            ))?;
            chart.draw_series(LineSeries::new(s.p50.iter().copied(), p50_style))?;
        }

        let rate_max = series
            .iter()
            .flat_map(|s| &s.rate_per_s)
            .map(|p| p.1)
            .fold(0.0, f64::max)
            .max(1.0);
        let mut chart =
            lower_plot_on(&bottom).build_cartesian_2d(0.0..x_hi, 0.0..rate_max * 1.08)?;
        mesh(&mut chart)
            .x_desc(x_desc)
            .y_desc("allocations / s")
            .x_label_formatter(&|x| trim(*x))
            .y_label_formatter(&|y| format_count(*y))
            .y_labels(6)
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let colour = run_colour(i);
            chart.draw_series(
                AreaSeries::new(s.rate_per_s.iter().copied(), 0.0, colour.mix(0.15))
                    .border_style(colour.stroke_width(2)),
            )?;
        }
        Ok(())
    }
}

/// Line styles of a run: (p50, p99, max); the rate uses the p99 style.
fn styles(run_index: usize) -> (ShapeStyle, ShapeStyle, ShapeStyle) {
    let colour = run_colour(run_index);
    (
        colour.stroke_width(3),
        colour.stroke_width(2),
        colour.mix(0.45).stroke_width(1),
    )
}

fn series(run: &RunStats, unit_ns: f64) -> Series {
    let timeline = &run.timeline;
    let bucket_ns = timeline.bucket_ns() as f64;
    let mut s = Series {
        p50: Vec::new(),
        p99: Vec::new(),
        max: Vec::new(),
        rate_per_s: Vec::new(),
    };
    for (i, bucket) in timeline.buckets().iter().enumerate() {
        let start_ns = i as f64 * bucket_ns;
        // The last slice is cut short by the end of the run.
        let width_ns = bucket_ns.min(timeline.end_ns() as f64 - start_ns).max(1.0);
        let middle = (start_ns + width_ns / 2.0) / unit_ns;
        s.rate_per_s.push((
            start_ns / unit_ns,
            bucket.allocations as f64 * 1e9 / width_ns,
        ));
        s.rate_per_s.push((
            (start_ns + width_ns) / unit_ns,
            bucket.allocations as f64 * 1e9 / width_ns,
        ));
        let latency = &bucket.latency_ns;
        if latency.is_empty() {
            continue;
        }
        s.p50
            .push((middle, log10_at_least_1(latency.value_at_quantile(0.5))));
        s.p99
            .push((middle, log10_at_least_1(latency.value_at_quantile(0.99))));
        s.max.push((middle, log10_at_least_1(latency.max())));
    }
    s
}
