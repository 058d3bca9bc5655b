//! `scatter`: the classic figure, allocation size against latency on log
//! axes, drawn as a density so millions of calls stay readable.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    AXIS_DESC_PX, Chart, DrawResult, FONT, GRID_BOLD, GRID_LIGHT, LABEL_PX, LegendEntry, MARGIN_PX,
    MARGIN_RIGHT_PX, Mark, TickAxis, X_LABEL_AREA_PX, Y_LABEL_AREA_PX, bytes_label, decade_range,
    decade_ticks, draw_nothing_to_show, header, legend_rows, ns_label, octave_ticks, run_colour,
};
use crate::stats::{Density, RunStats};
use crate::units::group_thousands;

/// Size against latency.
pub struct Scatter;

impl Chart for Scatter {
    const FILE_STEM: &'static str = "scatter";

    fn draw<DB: DrawingBackend>(
        root: &DrawingArea<DB, Shift>,
        runs: &[RunStats],
    ) -> DrawResult<DB> {
        let area = header(
            root,
            "Allocation latency against size",
            "Every call (alloc, alloc_zeroed, realloc, dealloc), one colour per run; \
             a darker cell holds more calls (log shading)",
        )?;
        let legend: Vec<LegendEntry> = runs
            .iter()
            .enumerate()
            .map(|(i, run)| {
                LegendEntry::new(
                    Mark::Square(run_colour(i).to_rgba()),
                    format!("{} ({} calls)", run.label, group_thousands(run.events)),
                )
            })
            .collect();
        let area = legend_rows(&area, &legend)?;
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
        let (y_lo, y_hi) = decade_range(y_min as f64 / YPD, (y_max + 1) as f64 / YPD);
        let (x_bold, x_light) = octave_ticks(x_lo, x_hi);
        let (y_bold, y_light) = decade_ticks(y_lo, y_hi);

        let mut chart = ChartBuilder::on(&area)
            .margin(MARGIN_PX)
            .margin_right(MARGIN_RIGHT_PX)
            .x_label_area_size(X_LABEL_AREA_PX)
            .y_label_area_size(Y_LABEL_AREA_PX)
            .build_cartesian_2d(
                TickAxis::new(x_lo..x_hi, x_bold, x_light),
                TickAxis::new(y_lo..y_hi, y_bold, y_light),
            )?;
        chart
            .configure_mesh()
            .x_desc("requested size (log₂ scale)")
            .y_desc("latency of the allocator call (log₁₀ scale)")
            .axis_desc_style((FONT, AXIS_DESC_PX))
            .label_style((FONT, LABEL_PX))
            .x_label_formatter(&bytes_label)
            .y_label_formatter(&ns_label)
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
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
