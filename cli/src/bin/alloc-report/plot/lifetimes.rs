//! `lifetimes`: how long objects live, from allocation to the release of
//! the same address, as a distribution per run.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    Chart, DrawResult, LegendEntry, Mark, decade_axis, draw_nothing_to_show, log10_at_least_1,
    mesh, ns_label, plot_on, run_colour, run_legend,
};
use crate::stats::RunStats;
use crate::units::{format_ns, group_thousands, trim};

/// Histogram bins per tenfold lifetime.
const BINS_PER_DECADE: f64 = 10.0;

/// Object lifetimes.
pub struct Lifetimes;

impl Chart for Lifetimes {
    const FILE_STEM: &'static str = "lifetimes";
    const TITLE: &'static str = "Object lifetimes";
    const SUBTITLE: &'static str = "Time from an allocation to the release of the same address \
        (a realloc ends one life and starts another); share of lives per bin";

    fn draw<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        runs: &[RunStats],
    ) -> DrawResult<DB> {
        let area = run_legend(area, runs, |i, run| {
            let lives = &run.lifetimes;
            [LegendEntry::new(
                Mark::Line(run_colour(i).stroke_width(2)),
                format!(
                    "{}: {} lives, median {}, {} still live at the end",
                    run.label,
                    group_thousands(lives.lifetime_ns.len()),
                    format_ns(lives.lifetime_ns.value_at_quantile(0.5) as f64),
                    group_thousands(lives.still_live() as u64),
                ),
            )]
        })?;
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
        let share_max = bins
            .iter()
            .flat_map(|b| b.values())
            .fold(0.0f64, |a, &b| a.max(b));

        let mut chart = plot_on(&area).build_cartesian_2d(
            decade_axis([
                first as f64 / BINS_PER_DECADE,
                (last + 1) as f64 / BINS_PER_DECADE,
            ]),
            0.0..share_max * 1.1,
        )?;
        mesh(&mut chart)
            .x_desc("lifetime (log₁₀ scale)")
            .y_desc("share of lives per bin (10 bins per decade)")
            .x_label_formatter(&ns_label)
            .y_label_formatter(&|share| format!("{}%", trim(*share)))
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
