//! `lifetimes`: how long objects live, from allocation to the release of
//! the same address, as a distribution per run.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    AXIS_DESC_PX, Chart, DrawResult, FONT, GRID_BOLD, GRID_LIGHT, LABEL_PX, LegendEntry, MARGIN_PX,
    MARGIN_RIGHT_PX, Mark, TickAxis, X_LABEL_AREA_PX, Y_LABEL_AREA_PX, decade_range, decade_ticks,
    draw_nothing_to_show, header, legend_rows, log10_at_least_1, ns_label, run_colour,
};
use crate::stats::RunStats;
use crate::units::{format_ns, group_thousands, trim};

/// Histogram bins per tenfold lifetime.
const BINS_PER_DECADE: f64 = 10.0;

/// Object lifetimes.
pub struct Lifetimes;

impl Chart for Lifetimes {
    const FILE_STEM: &'static str = "lifetimes";

    fn draw<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        runs: &[RunStats],
    ) -> DrawResult<DB> {
        let area = header(
            root,
            "Object lifetimes",
            "Time from an allocation to the release of the same address \
             (a realloc ends one life and starts another); share of lives per bin",
        )?;
        let legend: Vec<LegendEntry> = runs
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let lives = &run.lifetimes;
                LegendEntry::new(
                    Mark::Line(run_colour(i).stroke_width(2)),
                    format!(
                        "{}: {} lives, median {}, {} still live at the end",
                        run.label,
                        group_thousands(lives.lifetime_ns.len()),
                        format_ns(lives.lifetime_ns.value_at_quantile(0.5) as f64),
                        group_thousands(lives.still_live() as u64),
                    ),
                )
            })
            .collect();
        let area = legend_rows(&area, &legend)?;
        // Share of lives (%) per log bin, per run.
        let bins: Vec<BTreeMap<i64, f64>> = runs
            .iter()
            .map(|run| {
                let histogram = &run.lifetimes.lifetime_ns;
                let mut bins = BTreeMap::new();
                for value in histogram.iter_recorded() {
                    let bin =
                        (log10_at_least_1(value.value_iterated_to()) * BINS_PER_DECADE).floor();
                    *bins.entry(bin as i64).or_insert(0.0) +=
                        value.count_at_value() as f64 * 100.0 / histogram.len() as f64;
                }
                bins
            })
            .collect();
        let first = bins.iter().filter_map(|b| b.keys().next()).min();
        let last = bins.iter().filter_map(|b| b.keys().next_back()).max();
        let (Some(&first), Some(&last)) = (first, last) else {
            return draw_nothing_to_show(
                &area,
                "no object was both allocated and freed in these files",
            );
        };
        let (x_lo, x_hi) = decade_range(
            first as f64 / BINS_PER_DECADE,
            (last + 1) as f64 / BINS_PER_DECADE,
        );
        let (x_bold, x_light) = decade_ticks(x_lo, x_hi);
        let share_max = bins
            .iter()
            .flat_map(|b| b.values())
            .fold(0.0f64, |a, &b| a.max(b));

        let mut chart = ChartBuilder::on(&area)
            .margin(MARGIN_PX)
            .margin_right(MARGIN_RIGHT_PX)
            .x_label_area_size(X_LABEL_AREA_PX)
            .y_label_area_size(Y_LABEL_AREA_PX)
            .build_cartesian_2d(
                TickAxis::new(x_lo..x_hi, x_bold, x_light),
                0.0..share_max * 1.1,
            )?;
        chart
            .configure_mesh()
            .x_desc("lifetime (log₁₀ scale)")
            .y_desc("share of lives per bin (10 bins per decade)")
            .axis_desc_style((FONT, AXIS_DESC_PX))
            .label_style((FONT, LABEL_PX))
            .x_label_formatter(&ns_label)
            .y_label_formatter(&|share| format!("{}%", trim(*share)))
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .draw()?;
        for (i, bins) in bins.iter().enumerate() {
            let Some((&run_first, _)) = bins.first_key_value() else {
                continue;
            };
            let run_last = *bins.keys().next_back().unwrap_or(&run_first);
            // A staircase over every bin from the first to the last, empty ones at 0.
            let steps = (run_first..=run_last).flat_map(|bin| {
                let share = bins.get(&bin).copied().unwrap_or(0.0);
                [
                    (bin as f64 / BINS_PER_DECADE, share),
                    ((bin + 1) as f64 / BINS_PER_DECADE, share),
                ]
            });
            let colour = run_colour(i);
            chart.draw_series(
                AreaSeries::new(steps, 0.0, colour.mix(0.18)).border_style(colour.stroke_width(2)),
            )?;
        }
        Ok(())
    }
}
