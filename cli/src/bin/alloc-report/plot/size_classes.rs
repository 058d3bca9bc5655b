//! `size_classes`: latency (p50, p99) and call count per power-of-two size
//! class.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    Chart, DrawResult, LegendEntry, Mark, TickAxis, decade_axis, decade_range, decade_ticks,
    draw_nothing_to_show, log10_at_least_1, lower_plot_on, mesh, ns_label, run_colour, run_legend,
    upper_plot_on,
};
use crate::stats::{RunStats, SizeClasses as Classes};
use crate::units::{format_bytes, format_count};

/// Latency by size class.
pub struct SizeClasses;

impl Chart for SizeClasses {
    const FILE_STEM: &'static str = "size_classes";
    const TITLE: &'static str = "Latency by size class";
    const SUBTITLE: &'static str = "Every call, grouped by requested size rounded down \
        to a power of two (\"1 KiB\" holds 1024 to 2047 bytes)";

    fn draw<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        runs: &[RunStats],
    ) -> DrawResult<DB> {
        let classes: Vec<usize> = runs
            .iter()
            .flat_map(|run| run.size_classes.iter().map(|(class, _)| class))
            .collect();
        let (Some(&first), Some(&last)) = (classes.iter().min(), classes.iter().max()) else {
            return draw_nothing_to_show(area, "no events");
        };
        let x_range = first as f64 - 0.5..last as f64 + 0.5;
        let step = (last - first + 1).div_ceil(24).max(1);
        let x_ticks: Vec<f64> = (first..=last)
            .filter(|class| class % step == 0)
            .map(|class| class as f64)
            .collect();
        let x_label =
            |class: &f64| format_bytes(Classes::lower_bound_bytes(class.round() as usize) as f64);

        let area = run_legend(area, runs, |i, run| {
            let (p50_style, p99_style, bar_colour) = styles(i);
            [
                LegendEntry::new(Mark::Line(p50_style), format!("{} p50", run.label)),
                LegendEntry::new(Mark::Line(p99_style), format!("{} p99", run.label)),
                LegendEntry::new(Mark::Square(bar_colour), format!("{} calls", run.label)),
            ]
        })?;

        // (class, p50, p99, count) per run.
        let points: Vec<Vec<(f64, f64, f64, u64)>> = runs
            .iter()
            .map(|run| {
                run.size_classes
                    .iter()
                    .map(|(class, histogram)| {
                        (
                            class as f64,
                            log10_at_least_1(histogram.value_at_quantile(0.5)),
                            log10_at_least_1(histogram.value_at_quantile(0.99)),
                            histogram.len(),
                        )
                    })
                    .collect()
            })
            .collect();

        let (top, bottom) = area.split_vertically(area.dim_in_pixel().1 * 58 / 100);
        let latencies = points.iter().flatten().flat_map(|p| [p.1, p.2]);
        let mut chart = upper_plot_on(&top).build_cartesian_2d(
            TickAxis::new(x_range.clone(), x_ticks.clone(), Vec::new()),
            decade_axis(latencies),
        )?;
        mesh(&mut chart)
            .y_desc("latency")
            .x_label_formatter(&x_label)
            .y_label_formatter(&ns_label)
            .draw()?;
        for (i, points) in points.iter().enumerate() {
            let (p50_style, p99_style, _) = styles(i);
            let p99 = points.iter().map(|p| (p.0, p.2));
            chart.draw_series(LineSeries::new(p99.clone(), p99_style))?;
            chart.draw_series(p99.map(|p| TriangleMarker::new(p, 6, p99_style.color.filled())))?;
            let p50 = points.iter().map(|p| (p.0, p.1));
            chart.draw_series(LineSeries::new(p50.clone(), p50_style))?;
            chart.draw_series(p50.map(|p| Circle::new(p, 5, p50_style.color.filled())))?;
        }

        // Counts on a log scale: one bar per run, side by side in each class.
        let count_max = points.iter().flatten().map(|p| p.3).max().unwrap_or(1);
        let (_, c_hi) = decade_range(0.0, log10_at_least_1(count_max));
        let c_lo = -0.3; // room under the first decade, so a count of 1 shows
        let (c_bold, c_light) = decade_ticks(0.0, c_hi);
        let mut chart = lower_plot_on(&bottom).build_cartesian_2d(
            TickAxis::new(x_range, x_ticks, Vec::new()),
            TickAxis::new(c_lo..c_hi, c_bold, c_light),
        )?;
        mesh(&mut chart)
            .x_desc("requested size class")
            .y_desc("calls (log scale)")
            .x_label_formatter(&x_label)
            .y_label_formatter(&|c| format_count(super::pow10(*c)))
            .draw()?;
        let width = 0.8 / runs.len() as f64;
        for (i, points) in points.iter().enumerate() {
            let (_, _, bar_colour) = styles(i);
            chart.draw_series(points.iter().map(|p| {
                let left = p.0 - 0.4 + i as f64 * width;
                Rectangle::new(
                    [(left, c_lo), (left + width, log10_at_least_1(p.3))],
                    bar_colour.filled(),
                )
            }))?;
        }
        Ok(())
    }
}

/// Styles of a run: (p50 line, p99 line, count bars).
fn styles(run_index: usize) -> (ShapeStyle, ShapeStyle, RGBAColor) {
    let colour = run_colour(run_index);
    (
        colour.stroke_width(3),
        colour.mix(0.55).stroke_width(2),
        colour.mix(0.8),
    )
}
