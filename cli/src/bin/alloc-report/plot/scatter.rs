//! `scatter`: the classic figure, allocation size against latency on log
//! axes, drawn as a density so millions of calls stay readable, with the
//! book's question answered in the subtitle: how well size predicts latency.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    Chart, DrawResult, LegendEntry, Mark, TickAxis, bytes_label, decade_axis, draw_nothing_to_show,
    mesh, ns_label, octave_ticks, plot_on, run_colour, run_legend,
};
use crate::stats::{Density, RunStats};
use crate::summary::{format_r_squared, format_rho};
use crate::units::group_thousands;

/// Runs whose correlations fit on the subtitle's one line.
const MAX_RUNS_IN_SUBTITLE: usize = 4;

/// Size against latency.
pub struct Scatter;

impl Chart for Scatter {
    const FILE_STEM: &'static str = "scatter";
    const TITLE: &'static str = "Allocation latency against size";
    const SUBTITLE: &'static str = "Every call (alloc, alloc_zeroed, realloc, dealloc), \
        one colour per run; a darker cell holds more calls (log shading)";

    /// Spearman's ρ and the log-log R² over all calls of each run.
    fn subtitle(runs: &[RunStats]) -> String {
        match runs {
            [run] => {
                let c = run.size_latency.of_all();
                format!(
                    "All {} calls: Spearman ρ(size, latency) = {}; size explains R² = {} of the \
                     variance of log latency. Darker cells hold more calls",
                    group_thousands(c.calls),
                    format_rho(&c),
                    format_r_squared(&c)
                )
            }
            runs if runs.len() <= MAX_RUNS_IN_SUBTITLE => {
                let parts: Vec<String> = runs
                    .iter()
                    .map(|run| {
                        let c = run.size_latency.of_all();
                        format!("{} {}, {}", run.label, format_rho(&c), format_r_squared(&c))
                    })
                    .collect();
                format!(
                    "Spearman ρ(size, latency) and R² of log latency on log size, all calls: {}",
                    parts.join("; ")
                )
            }
            _ => "Spearman ρ(size, latency) and R² of log latency on log size per run: \
                  see summary.md. Darker cells hold more calls"
                .to_owned(),
        }
    }

    fn draw<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        runs: &[RunStats],
    ) -> DrawResult<DB> {
        let area = run_legend(area, runs, |i, run| {
            [LegendEntry::new(
                Mark::Square(run_colour(i).to_rgba()),
                format!("{} ({} calls)", run.label, group_thousands(run.events)),
            )]
        })?;
        const XPO: f64 = Density::X_PER_OCTAVE as f64;
        const YPD: f64 = Density::Y_PER_DECADE as f64;
        let cells: Vec<Vec<(usize, usize, u64)>> = runs
            .iter()
            .map(|run| run.density.cells().collect())
            .collect();
        let all = cells.iter().flatten();
        let (Some(x_min), Some(x_max)) = (
            all.clone().map(|c| c.0).min(),
            all.clone().map(|c| c.0).max(),
        ) else {
            return draw_nothing_to_show(&area, "no events");
        };
        let y_min = all.clone().map(|c| c.1).min().unwrap_or(0);
        let y_max = all.map(|c| c.1).max().unwrap_or(0);

        let x_lo = (x_min as f64 / XPO).floor();
        let x_hi = ((x_max + 1) as f64 / XPO).ceil().max(x_lo + 1.0);
        let (x_bold, x_light) = octave_ticks(x_lo, x_hi);

        let mut chart = plot_on(&area).build_cartesian_2d(
            TickAxis::new(x_lo..x_hi, x_bold, x_light),
            decade_axis([y_min as f64 / YPD, (y_max + 1) as f64 / YPD]),
        )?;
        mesh(&mut chart)
            .x_desc("requested size (log₂ scale)")
            .y_desc("latency of the allocator call (log₁₀ scale)")
            .x_label_formatter(&bytes_label)
            .y_label_formatter(&ns_label)
            .draw()?;

        for (i, cells) in cells.iter().enumerate() {
            let colour = run_colour(i);
            let max_count = cells.iter().map(|c| c.2).max().unwrap_or(1).max(2) as f64;
            chart.draw_series(cells.iter().map(|&(x, y, count)| {
                let shade = 0.2 + 0.8 * (count as f64).ln() / max_count.ln();
                Rectangle::new(
                    [
                        (x as f64 / XPO, y as f64 / YPD),
                        ((x + 1) as f64 / XPO, (y + 1) as f64 / YPD),
                    ],
                    colour.mix(shade).filled(),
                )
            }))?;
        }
        Ok(())
    }
}
