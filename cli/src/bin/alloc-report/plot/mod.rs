//! The charts: one file per chart, each a [`Chart`] drawing on any plotters
//! backend, so PNG and SVG come from the same code. Sizes, fonts, colours,
//! the header, the legend, the plot and mesh set-up and the log-axis
//! helpers every chart shares live here.

mod heap;
mod lifetimes;
mod percentiles;
mod scatter;
mod size_classes;
mod timeline;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{Context, Result};
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::cli::ImageFormat;
use crate::stats::RunStats;
use crate::units::{format_bytes, format_ns};

/// Pixel size of every chart.
const SIZE: (u32, u32) = (1280, 800);
/// The embedded DejaVu Sans, registered under this name.
const FONT: &str = "sans-serif";
const TITLE_PX: u32 = 30;
const SUBTITLE_PX: u32 = 17;
const PANEL_TITLE_PX: u32 = 20;
const AXIS_DESC_PX: u32 = 18;
const LABEL_PX: u32 = 15;
const LEGEND_PX: u32 = 15;
const MARGIN_PX: u32 = 16;
/// Room for the last x label, which plotters centres on the axis end.
const MARGIN_RIGHT_PX: u32 = 40;
const X_LABEL_AREA_PX: u32 = 56;
const Y_LABEL_AREA_PX: u32 = 86;
/// Gap between two plots stacked on one x axis.
const STACK_GAP_PX: u32 = 4;
const SUBTITLE_COLOUR: RGBColor = RGBColor(90, 90, 90);
const GRID_BOLD: RGBAColor = RGBAColor(0, 0, 0, 0.16);
const GRID_LIGHT: RGBAColor = RGBAColor(0, 0, 0, 0.05);

/// One colour per run, in command-line order (Tableau 10: distinct, and
/// still distinct for the common colour-vision deficiencies in the first four).
const RUN_COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn run_colour(run_index: usize) -> RGBColor {
    RUN_COLOURS[run_index % RUN_COLOURS.len()]
}

/// Draws one chart in one format into a folder; returns the file written.
type RenderFn = fn(&[RunStats], &Path, ImageFormat) -> Result<PathBuf>;

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart: a file name, a header and a drawing of the runs.
trait Chart {
    /// File name without extension.
    const FILE_STEM: &'static str;
    /// The title at the top.
    const TITLE: &'static str;
    /// The one-line explanation under the title.
    const SUBTITLE: &'static str;

    /// The subtitle drawn for these runs: [`Chart::SUBTITLE`] unless the
    /// chart states something about the data there.
    fn subtitle(_runs: &[RunStats]) -> String {
        Self::SUBTITLE.to_owned()
    }

    /// Draws the runs on `area`, the white part of the chart below the header.
    fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, runs: &[RunStats])
    -> DrawResult<DB>;
}

/// Writes every chart in every format into `out_dir`; returns the files written.
pub fn draw_all(
    runs: &[RunStats],
    out_dir: &Path,
    formats: &[ImageFormat],
) -> Result<Vec<PathBuf>> {
    register_fonts();
    // Charts are independent: draw them on all cores (PNG encoding is most
    // of the time).
    let jobs: [RenderFn; 6] = [
        render::<scatter::Scatter>,
        render::<percentiles::Percentiles>,
        render::<timeline::Timeline>,
        render::<size_classes::SizeClasses>,
        render::<lifetimes::Lifetimes>,
        render::<heap::Heap>,
    ];
    let tasks: Vec<_> = formats
        .iter()
        .flat_map(|&format| jobs.iter().map(move |job| (job, format)))
        .collect();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(tasks.len());
    let chunks: Vec<_> = tasks.chunks(tasks.len().div_ceil(workers)).collect();
    let results: Vec<Result<PathBuf>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(job, format)| job(runs, out_dir, *format))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| {
                // A panic here is a bug, not bad input: still end with an
                // error message rather than a second panic.
                handle.join().unwrap_or_else(|_| {
                    vec![Err(anyhow::anyhow!(
                        "drawing the charts failed (a bug in alloc-report: please report it with the input)"
                    ))]
                })
            })
            .collect()
    });
    results.into_iter().collect()
}

fn render<C: Chart>(runs: &[RunStats], out_dir: &Path, format: ImageFormat) -> Result<PathBuf> {
    let path = out_dir.join(format!("{}.{}", C::FILE_STEM, format.extension()));
    let context = || format!("cannot draw {}", path.display());
    match format {
        ImageFormat::Png => {
            draw_chart::<C, _>(BitMapBackend::new(&path, SIZE), runs).with_context(context)?
        }
        ImageFormat::Svg => {
            draw_chart::<C, _>(SVGBackend::new(&path, SIZE), runs).with_context(context)?
        }
    }
    Ok(path)
}

/// Draws the whole chart on `backend`: white, the header, then the runs.
fn draw_chart<C: Chart, DB: DrawingBackend>(backend: DB, runs: &[RunStats]) -> DrawResult<DB> {
    let root = backend.into_drawing_area();
    root.fill(&WHITE)?;
    let area = header(&root, C::TITLE, &C::subtitle(runs))?;
    C::draw(&area, runs)?;
    root.present()
}

/// Registers the embedded DejaVu Sans, so no system font is needed.
fn register_fonts() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        let fonts = [
            (FontStyle::Normal, dejavu::sans::regular()),
            (FontStyle::Bold, dejavu::sans::bold()),
            (FontStyle::Oblique, dejavu::sans::oblique()),
            (FontStyle::Italic, dejavu::sans::oblique()),
        ];
        for (style, bytes) in fonts {
            if plotters::style::register_font(FONT, style, bytes).is_err() {
                unreachable!("the embedded DejaVu Sans is a valid font");
            }
        }
    });
}

/// Draws the chart's title and a one-line explanation; returns the area below.
fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, _) = root.dim_in_pixel();
    let centre = |y| (width as i32 / 2, y);
    let title_style = (FONT, TITLE_PX, FontStyle::Bold)
        .into_font()
        .color(&BLACK)
        .pos(text_anchor_top_centre());
    let subtitle_style = (FONT, SUBTITLE_PX)
        .into_font()
        .color(&SUBTITLE_COLOUR)
        .pos(text_anchor_top_centre());
    root.draw_text(title, &title_style, centre(12))?;
    root.draw_text(subtitle, &subtitle_style, centre(12 + TITLE_PX as i32 + 8))?;
    let used = 12 + TITLE_PX + 8 + SUBTITLE_PX + 10;
    Ok(root.split_vertically(used).1)
}

fn text_anchor_top_centre() -> plotters::style::text_anchor::Pos {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    Pos::new(HPos::Center, VPos::Top)
}

/// A message in the middle of an area that has nothing to show.
fn draw_nothing_to_show<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    message: &str,
) -> DrawResult<DB> {
    let (width, height) = area.dim_in_pixel();
    let style = (FONT, AXIS_DESC_PX)
        .into_font()
        .color(&SUBTITLE_COLOUR)
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
    area.draw_text(message, &style, (width as i32 / 2, height as i32 / 2))
}

/// A plot on `area` with the margins and label areas every chart uses.
fn plot_on<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
) -> ChartBuilder<'a, 'b, DB> {
    let mut plot = ChartBuilder::on(area);
    plot.margin(MARGIN_PX)
        .margin_right(MARGIN_RIGHT_PX)
        .x_label_area_size(X_LABEL_AREA_PX)
        .y_label_area_size(Y_LABEL_AREA_PX);
    plot
}

/// The upper of two plots stacked on one x axis: close to the lower one,
/// with room for x labels but none for an x description.
fn upper_plot_on<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
) -> ChartBuilder<'a, 'b, DB> {
    let mut plot = plot_on(area);
    plot.margin_bottom(STACK_GAP_PX)
        .x_label_area_size(X_LABEL_AREA_PX / 2);
    plot
}

/// The lower of two plots stacked on one x axis.
fn lower_plot_on<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
) -> ChartBuilder<'a, 'b, DB> {
    let mut plot = plot_on(area);
    plot.margin_top(STACK_GAP_PX);
    plot
}

/// The mesh of `chart` in the fonts and grid lines every chart uses; the
/// chart adds its axis descriptions and label formats, then draws it.
fn mesh<'a, 'b, X, Y, DB>(
    chart: &'b mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
) -> MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged + ValueFormatter<X::ValueType>,
    Y: Ranged + ValueFormatter<Y::ValueType>,
    DB: DrawingBackend,
{
    let mut mesh = chart.configure_mesh();
    mesh.axis_desc_style((FONT, AXIS_DESC_PX))
        .label_style((FONT, LABEL_PX))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT);
    mesh
}

/// A log10 axis over the whole decades covering every one of `values`
/// (log10 values).
fn decade_axis(values: impl IntoIterator<Item = f64>) -> TickAxis {
    let (min, max) = values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(min, max), value| {
            (min.min(value), max.max(value))
        });
    let (lo, hi) = decade_range(min, max);
    let (bold, light) = decade_ticks(lo, hi);
    TickAxis::new(lo..hi, bold, light)
}

/// Whole decades covering `[lo, hi]` (log10 values), at least one wide.
fn decade_range(lo: f64, hi: f64) -> (f64, f64) {
    let lo = lo.floor();
    let hi = hi.ceil().max(lo + 1.0);
    (lo, hi)
}

/// Tick marks of a log10 axis spanning whole decades `[lo, hi]`: labelled
/// ticks at decades (every other one past 8 decades), light grid lines at
/// 2..9 times each decade.
fn decade_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let span = (hi - lo).round() as i32;
    let step = if span > 8 { 2 } else { 1 };
    let bold = (0..=span)
        .filter(|i| i % step == 0)
        .map(|i| lo + f64::from(i))
        .collect();
    let light = (0..span)
        .flat_map(|i| (2..10).map(move |m| lo + f64::from(i) + f64::from(m).log10()))
        .collect();
    (bold, light)
}

/// Labelled ticks of a log2 axis spanning whole octaves `[lo, hi]`: at most
/// about 16 labels, on multiples of the step.
fn octave_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let span = (hi - lo).round() as i64;
    let step = (span as f64 / 16.0).ceil().max(1.0) as i64;
    let first = lo.round() as i64;
    let bold = (first..=first + span)
        .filter(|o| o.rem_euclid(step) == 0)
        .map(|o| o as f64)
        .collect();
    let light = (first..=first + span).map(|o| o as f64).collect();
    (bold, light)
}

/// Label of a log10 nanosecond axis position.
fn ns_label(log10_ns: &f64) -> String {
    format_ns(pow10(*log10_ns))
}

/// Label of a log2 byte axis position.
fn bytes_label(log2_bytes: &f64) -> String {
    format_bytes(2f64.powi(log2_bytes.round() as i32))
}

/// The unit of a time axis that ends at `end_ns`: (ns per unit, name).
fn time_unit(end_ns: u64) -> (f64, &'static str) {
    if end_ns < 10_000 {
        (1.0, "ns")
    } else if end_ns < 10_000_000 {
        (1e3, "µs")
    } else if end_ns < 10_000_000_000 {
        (1e6, "ms")
    } else {
        (1e9, "s")
    }
}

/// `10^x`, exact at whole numbers (so 10^3 labels as "1 µs", not "999.99 ns").
fn pow10(x: f64) -> f64 {
    if (x - x.round()).abs() < 1e-9 {
        10f64.powi(x.round() as i32)
    } else {
        10f64.powf(x)
    }
}

/// `log10(value)`, with 0 drawn as 1.
fn log10_at_least_1(value: u64) -> f64 {
    (value.max(1) as f64).log10()
}

/// A linear axis (over log values, for the log charts) whose ticks are
/// given: labelled `bold` ticks and unlabelled `light` grid lines.
/// (plotters' own `with_key_points` lacks a label formatter for `f64`.)
#[derive(Clone)]
struct TickAxis {
    range: Range<f64>,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl TickAxis {
    fn new(range: Range<f64>, bold: Vec<f64>, light: Vec<f64>) -> TickAxis {
        TickAxis { range, bold, light }
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.range.end - self.range.start;
        if span <= 0.0 || !value.is_finite() {
            return (limit.0 + limit.1) / 2;
        }
        let fraction = (value - self.range.start) / span;
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// How a legend entry shows its series.
#[derive(Clone, Copy)]
enum Mark {
    /// A line in this style.
    Line(ShapeStyle),
    /// A dashed line in this style.
    Dashed(ShapeStyle),
    /// A filled square (areas, bars, density cells).
    Square(RGBAColor),
}

/// One legend entry: a mark and its text.
struct LegendEntry {
    mark: Mark,
    label: String,
}

impl LegendEntry {
    fn new(mark: Mark, label: impl Into<String>) -> LegendEntry {
        LegendEntry {
            mark,
            label: label.into(),
        }
    }
}

const LEGEND_ROW_PX: i32 = 24;
const LEGEND_MARK_PX: i32 = 26;

/// Draws the legend of `runs`, each run's `entries` in command-line order
/// (see [`legend_rows`]); returns the area below it.
fn run_legend<DB: DrawingBackend, E: IntoIterator<Item = LegendEntry>>(
    area: &DrawingArea<DB, Shift>,
    runs: &[RunStats],
    entries: impl Fn(usize, &RunStats) -> E,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let legend: Vec<LegendEntry> = runs
        .iter()
        .enumerate()
        .flat_map(|(i, run)| entries(i, run))
        .collect();
    legend_rows(area, &legend)
}

/// The most rows a legend takes: past them the plot would have no room left.
const LEGEND_MAX_ROWS: usize = 3;
/// Labels longer than this many characters are cut with an ellipsis.
const LEGEND_MAX_LABEL_CHARS: usize = 32;
const LEGEND_GAP_PX: i32 = 28;

/// `label`, cut to [`LEGEND_MAX_LABEL_CHARS`] by an ellipsis in the middle
/// (runs named alike tend to differ at their start or their end).
fn legend_label(label: &str) -> String {
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= LEGEND_MAX_LABEL_CHARS {
        return label.to_owned();
    }
    let head = (LEGEND_MAX_LABEL_CHARS - 1) / 2;
    let tail = LEGEND_MAX_LABEL_CHARS - 1 - head;
    let mut cut: String = chars[..head].iter().collect();
    cut.push('…');
    cut.extend(&chars[chars.len() - tail..]);
    cut
}

/// Lays out entries of the given widths into at most [`LEGEND_MAX_ROWS`]
/// rows of at most `max_row_px`: the indices of each row's entries, and how
/// many entries did not fit. When some do not fit, the last row keeps
/// `note_px` free for a note saying so.
fn legend_layout(widths_px: &[i32], max_row_px: i32, note_px: i32) -> (Vec<Vec<usize>>, usize) {
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut row_px = 0;
    for (i, &entry_px) in widths_px.iter().enumerate() {
        let row = rows.last_mut().expect("rows is never empty");
        if !row.is_empty() && row_px + LEGEND_GAP_PX + entry_px > max_row_px {
            if rows.len() == LEGEND_MAX_ROWS {
                break;
            }
            rows.push(vec![i]);
            row_px = entry_px;
        } else {
            row_px += if row.is_empty() { 0 } else { LEGEND_GAP_PX } + entry_px;
            row.push(i);
        }
    }
    let shown = |rows: &[Vec<usize>]| rows.iter().map(Vec::len).sum::<usize>();
    if shown(&rows) < widths_px.len() {
        // Make room for the note at the end of the last row.
        let last = rows.last_mut().expect("rows is never empty");
        let mut last_px: i32 = last.iter().map(|&i| widths_px[i] + LEGEND_GAP_PX).sum();
        while !last.is_empty() && last_px + note_px > max_row_px {
            let removed = last.pop().expect("not empty");
            last_px -= widths_px[removed] + LEGEND_GAP_PX;
        }
    }
    let hidden = widths_px.len() - shown(&rows);
    (rows, hidden)
}

/// Draws the legend as centred rows above the plot, where it can never hide
/// data; returns the area below it. The legend takes at most
/// [`LEGEND_MAX_ROWS`] rows, whatever the number of runs or the length of
/// their labels: long labels are cut with an ellipsis, and entries past the
/// last row are left out with a note ("+12 more: see summary.md").
fn legend_rows<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let font =
        (FONT, LEGEND_PX)
            .into_font()
            .color(&BLACK)
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ));
    let (width, _) = area.dim_in_pixel();
    let max_row_px = width as i32 - 2 * MARGIN_PX as i32;
    let labels: Vec<String> = entries.iter().map(|e| legend_label(&e.label)).collect();
    let widths_px = labels
        .iter()
        .map(|label| {
            let (text_px, _) = area.estimate_text_size(label, &font)?;
            Ok(LEGEND_MARK_PX + 6 + text_px as i32)
        })
        .collect::<Result<Vec<i32>, _>>()?;
    let note = |hidden: usize| format!("+{hidden} more: see summary.md");
    let (note_px, _) = area.estimate_text_size(&note(entries.len()), &font)?;
    let (rows, hidden) = legend_layout(&widths_px, max_row_px, note_px as i32);
    let last_row = rows.len() - 1;
    for (row_index, row) in rows.iter().enumerate() {
        let mut row_px: i32 = row.iter().map(|&i| widths_px[i]).sum::<i32>()
            + LEGEND_GAP_PX * (row.len() as i32 - 1).max(0);
        let row_note = (row_index == last_row && hidden > 0).then(|| note(hidden));
        if let Some(note) = &row_note {
            row_px += area.estimate_text_size(note, &font)?.0 as i32
                + if row.is_empty() { 0 } else { LEGEND_GAP_PX };
        }
        let mut x = (width as i32 - row_px) / 2;
        let y = LEGEND_ROW_PX / 2 + row_index as i32 * LEGEND_ROW_PX;
        for &i in row {
            let (x0, x1) = (x + 2, x + LEGEND_MARK_PX - 2);
            match entries[i].mark {
                Mark::Line(style) => area.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))?,
                Mark::Dashed(style) => area.draw(&plotters::element::DashedPathElement::new(
                    vec![(x0, y), (x1, y)],
                    6,
                    4,
                    style,
                ))?,
                Mark::Square(colour) => {
                    let middle = x + LEGEND_MARK_PX / 2;
                    area.draw(&Rectangle::new(
                        [(middle - 7, y - 7), (middle + 7, y + 7)],
                        colour.filled(),
                    ))?
                }
            }
            area.draw_text(&labels[i], &font, (x + LEGEND_MARK_PX + 6, y))?;
            x += widths_px[i] + LEGEND_GAP_PX;
        }
        if let Some(note) = row_note {
            area.draw_text(&note, &font.color(&SUBTITLE_COLOUR), (x, y))?;
        }
    }
    Ok(area
        .split_vertically(rows.len() as i32 * LEGEND_ROW_PX + 4)
        .1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axes_have_readable_ticks() {
        let (bold, light) = decade_ticks(1.0, 4.0);
        assert_eq!(bold, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(light.len(), 3 * 8);
        assert_eq!(
            bold.iter().map(ns_label).collect::<Vec<_>>(),
            ["10 ns", "100 ns", "1 µs", "10 µs"]
        );
        let (bold, _) = octave_ticks(3.0, 40.0);
        assert!(bold.len() <= 17);
        assert_eq!(bytes_label(&10.0), "1 KiB");
    }

    #[test]
    fn legends_stay_within_their_rows_whatever_the_runs() {
        // 110 runs, 3 entries each: a few rows, the rest counted in the note.
        let (rows, hidden) = legend_layout(&[150; 330], 1248, 200);
        assert_eq!(rows.len(), LEGEND_MAX_ROWS);
        let shown: usize = rows.iter().map(Vec::len).sum();
        assert_eq!(shown + hidden, 330);
        assert!(hidden > 300);
        let last_px: i32 = rows[2].len() as i32 * (150 + LEGEND_GAP_PX) + 200;
        assert!(last_px <= 1248, "the note fits");
        // An entry wider than a row still gets a row of its own.
        let (rows, hidden) = legend_layout(&[5000, 10], 1248, 200);
        assert_eq!((rows, hidden), (vec![vec![0], vec![1]], 0));
        // Few entries: all shown, no note.
        let (rows, hidden) = legend_layout(&[100, 100], 1248, 200);
        assert_eq!((rows, hidden), (vec![vec![0, 1]], 0));

        let long = format!("start{}end", "x".repeat(50));
        let cut = legend_label(&long);
        assert_eq!(cut.chars().count(), LEGEND_MAX_LABEL_CHARS);
        assert!(cut.starts_with("start") && cut.ends_with("xend") && cut.contains('…'));
        assert_eq!(legend_label("system"), "system");
    }
}
