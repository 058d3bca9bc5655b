//! `percentiles`: latency by percentile, HdrHistogram style (x on the
//! 1/(1-p) log scale), one panel per kind, one line per run.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    Chart, DrawResult, FONT, LegendEntry, Mark, PANEL_TITLE_PX, TickAxis, decade_axis,
    draw_nothing_to_show, log10_at_least_1, mesh, ns_label, plot_on, run_colour, run_legend,
};
use heapsnow::recorder::Kind;

use crate::stats::RunStats;
use crate::summary::kinds_seen;
use crate::units::group_thousands;

/// The x axis ends at 99.999%, 5 "nines".
const NINES: f64 = 5.0;
/// Points per line: every 0.02 of a nine.
const STEPS: usize = 250;

/// Latency by percentile.
pub struct Percentiles;

impl Chart for Percentiles {
    const FILE_STEM: &'static str = "percentiles";
    const TITLE: &'static str = "Latency by percentile";
    const SUBTITLE: &'static str = "HdrHistogram (3 significant digits); \
        the x axis stretches the tail: each step right is ten times rarer";

    fn draw<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        runs: &[RunStats],
    ) -> DrawResult<DB> {
        let area = run_legend(area, runs, |i, run| {
            [LegendEntry::new(
                Mark::Line(run_colour(i).stroke_width(2)),
                &run.label,
            )]
        })?;
        let kinds = kinds_seen(runs);
        if kinds.is_empty() {
            return draw_nothing_to_show(&area, "no events");
        }
        let columns = kinds.len().min(2);
        let rows = kinds.len().div_ceil(columns);
        let panels = area.split_evenly((rows, columns));

        for (kind, panel) in kinds.iter().zip(&panels) {
            let lines: Vec<Vec<(f64, f64)>> = runs
                .iter()
                .map(|run| {
                    let histogram = &run.kind(*kind).latency_ns;
                    if histogram.is_empty() {
                        return Vec::new();
                    }
                    let xs = (0..=STEPS).map(|i| i as f64 * NINES / STEPS as f64);
                    let quantiles = xs.clone().map(|x| 1.0 - 10f64.powf(-x));
                    xs.zip(histogram.value_at_quantiles(quantiles))
                        .map(|(x, value)| (x, log10_at_least_1(value)))
                        .collect()
                })
                .collect();
            let x_ticks: Vec<f64> = (0..=NINES as i32).map(f64::from).collect();

            let mut chart = plot_on(panel)
                .caption(panel_title(*kind, runs), (FONT, PANEL_TITLE_PX))
                .build_cartesian_2d(
                    TickAxis::new(0.0..NINES, x_ticks, Vec::new()),
                    decade_axis(lines.iter().flatten().map(|p| p.1)),
                )?;
            mesh(&mut chart)
                .x_desc("percentile")
                .y_desc("latency")
                .x_label_formatter(&percentile_label)
                .y_label_formatter(&ns_label)
                .draw()?;
            for (i, line) in lines.into_iter().enumerate() {
                chart.draw_series(LineSeries::new(line, run_colour(i).stroke_width(2)))?;
            }
        }
        Ok(())
    }
}

/// Past this many runs, a panel title gives the total calls, not each run's.
const MAX_COUNTS_IN_TITLE: usize = 4;

/// The kind and its number of calls in each run: "alloc: 1,200 / 1,500
/// calls", or in all runs when there are many.
fn panel_title(kind: Kind, runs: &[RunStats]) -> String {
    if runs.len() > MAX_COUNTS_IN_TITLE {
        let total: u64 = runs.iter().map(|run| run.kind(kind).count()).sum();
        return format!(
            "{kind}: {} calls in {} runs",
            group_thousands(total),
            runs.len()
        );
    }
    let counts: Vec<String> = runs
        .iter()
        .map(|run| group_thousands(run.kind(kind).count()))
        .collect();
    format!("{kind}: {} calls", counts.join(" / "))
}

/// `0%`, `90%`, `99%`, `99.9%`... for 0, 1, 2, 3 nines.
fn percentile_label(nines: &f64) -> String {
    let nines = nines.round() as usize;
    match nines {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        n => format!("99.{}%", "9".repeat(n - 2)).replace(".%", "%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_labels_count_nines() {
        let labels: Vec<String> = (0..=5).map(|n| percentile_label(&f64::from(n))).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]);
    }
}
