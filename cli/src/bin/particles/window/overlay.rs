//! The overlay along the bottom of the window: a histogram of allocation
//! latency over the last few seconds, log-spaced bars with decade labels.

use graphics::character::CharacterCache;
use graphics::{Context, Graphics, Transformed, line, rectangle, text};
use heapsnow_cli::sim::{HEIGHT, WIDTH};
use piston_window::{G2dTexture, Glyphs};

use super::colors::linear_rgba;
use super::labels;
use super::live::{Counts, DECADES, SLOT_NS, SLOTS};

/// Bars per decade of latency.
pub const BARS_PER_DECADE: usize = 5;
/// Number of bars.
pub const BARS: usize = BARS_PER_DECADE * DECADES;

/// The overlay's height: the caption, the bars and the axis labels.
const OVERLAY_HEIGHT: f64 = 180.0;
const MARGIN_LEFT: f64 = 48.0;
const MARGIN_RIGHT: f64 = 48.0;
/// From the bottom edge of the window to the bars' baseline.
const BASELINE_ABOVE_BOTTOM: f64 = 34.0;
const BAR_AREA_HEIGHT: f64 = 110.0;
/// Part of each bar's slot that it fills. Under a software renderer (Xvfb
/// with lavapipe) every pixel drawn costs, and the bars only exist when
/// recording: full-width bars took about 4 % off the frame rate there. For
/// the same reason the overlay has no panel behind it.
const BAR_FILL: f64 = 0.5;
const FONT_SIZE: u32 = 14;

/// The overlay's colours, decoded for the sRGB surface once.
pub struct Overlay {
    bar: [f32; 4],
    ink: [f32; 4],
}

impl Overlay {
    pub fn new() -> Overlay {
        Overlay {
            bar: linear_rgba([0.96, 0.62, 0.26, 0.92]),
            ink: linear_rgba([0.86, 0.88, 0.88, 1.0]),
        }
    }

    /// Draws the overlay: the bars of `counts`, or a note when the run does
    /// not record (`counts` is `None`). Colours first, then all the text, so
    /// the frame needs one pass of each.
    pub fn draw<G>(
        &self,
        counts: Option<&Counts>,
        glyphs: &mut Glyphs<'static>,
        c: Context,
        g: &mut G,
    ) where
        G: Graphics<Texture = G2dTexture>,
    {
        let top = HEIGHT - OVERLAY_HEIGHT;
        let baseline = HEIGHT - BASELINE_ABOVE_BOTTOM;
        let plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
        let bar_width = plot_width / BARS as f64;

        let bars = counts.map(bars);
        if let Some(bars) = &bars {
            let tallest = bars.iter().copied().max().unwrap_or(0);
            for (i, &count) in bars.iter().enumerate() {
                let height = BAR_AREA_HEIGHT * bar_height(count, tallest);
                let x = MARGIN_LEFT + (i as f64 + (1.0 - BAR_FILL) / 2.0) * bar_width;
                rectangle(
                    self.bar,
                    [x, baseline - height, bar_width * BAR_FILL, height],
                    c.transform,
                    g,
                );
            }
        }
        line(
            self.ink,
            0.5,
            [MARGIN_LEFT, baseline, WIDTH - MARGIN_RIGHT, baseline],
            c.transform,
            g,
        );
        for decade in 0..=DECADES {
            let x = MARGIN_LEFT + (decade * BARS_PER_DECADE) as f64 * bar_width;
            line(
                self.ink,
                0.5,
                [x, baseline, x, baseline + 5.0],
                c.transform,
                g,
            );
        }

        let caption = match &bars {
            Some(_) => {
                let total = counts.map_or(0, Counts::total);
                format!(
                    "allocation latency over the last {} s: {total} allocations (bar height: log of the count)   H hides",
                    SLOTS as u64 * SLOT_NS / 1_000_000_000
                )
            }
            None => "not recording (--no-record): no live statistics   H hides".to_owned(),
        };
        self.text(&caption, [MARGIN_LEFT, top + 22.0], glyphs, c, g);
        for decade in 0..=DECADES {
            let label = labels::latency(10u64.pow(decade as u32));
            let width = glyphs.width(FONT_SIZE, &label).unwrap_or(0.0);
            let x = MARGIN_LEFT + (decade * BARS_PER_DECADE) as f64 * bar_width - width / 2.0;
            self.text(&label, [x, baseline + 21.0], glyphs, c, g);
        }
    }

    fn text<G>(
        &self,
        text: &str,
        [x, y]: [f64; 2],
        glyphs: &mut Glyphs<'static>,
        c: Context,
        g: &mut G,
    ) where
        G: Graphics<Texture = G2dTexture>,
    {
        // A glyph that fails to load is left out: a label is not worth
        // stopping the demo for.
        let _ = text::Text::new_color(self.ink, FONT_SIZE).round().draw(
            text,
            glyphs,
            &c.draw_state,
            c.transform.trans(x, y),
            g,
        );
    }
}

/// The bar a latency falls in: bar `i` holds latencies from 10^(i/5) ns up
/// to the next bar's; 0 ns counts with 1 ns, 10 ms and more in the last bar.
fn bar_of(latency_ns: u64) -> usize {
    let bar = (latency_ns.max(1) as f64).log10() * BARS_PER_DECADE as f64;
    // A hair over, so that exact powers of ten start their own bar.
    ((bar + 1e-9) as usize).min(BARS - 1)
}

/// The bar counts: every latency counted, added into its bar.
pub fn bars(counts: &Counts) -> [u64; BARS] {
    let mut bars = [0; BARS];
    for (latency_ns, count) in counts.iter() {
        bars[bar_of(latency_ns)] += count;
    }
    bars
}

/// Height of a bar as a fraction of the tallest, on a log scale so that the
/// rare slow allocations stay visible next to the common fast ones.
fn bar_height(count: u64, tallest: u64) -> f64 {
    if count == 0 || tallest == 0 {
        0.0
    } else {
        (count as f64).ln_1p() / (tallest as f64).ln_1p()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_hold_a_fifth_of_a_decade_each() {
        assert_eq!(bar_of(0), 0);
        assert_eq!(bar_of(1), 0);
        assert_eq!(bar_of(10), 5);
        assert_eq!(bar_of(100), 10);
        assert_eq!(bar_of(1_000), 15);
        assert_eq!(bar_of(39), 7); // 10^(8/5) = 39.8
        assert_eq!(bar_of(40), 8);
        assert_eq!(bar_of(63), 8); // 10^(9/5) = 63.1
        assert_eq!(bar_of(64), 9);
        assert_eq!(bar_of(10_000_000), BARS - 1);
        assert_eq!(bar_of(u64::MAX), BARS - 1);
    }

    #[test]
    fn bars_add_up_every_latency() {
        let mut counts = Counts::default();
        for (latency_ns, times) in [(40, 5), (44, 1), (46, 2), (1_000, 7)] {
            for _ in 0..times {
                counts.latencies.record(latency_ns);
            }
        }
        let bars = bars(&counts);
        assert_eq!(bars.iter().sum::<u64>(), counts.total());
        assert_eq!(bars[8], 8);
        assert_eq!(bars[15], 7);
    }

    #[test]
    fn bar_heights_are_logarithmic() {
        assert_eq!(bar_height(0, 100), 0.0);
        assert_eq!(bar_height(100, 100), 1.0);
        let one = bar_height(1, 1000);
        assert!(one > 0.09 && one < 0.11, "{one}"); // ln 2 / ln 1001
        assert!(bar_height(10, 1000) > 0.3);
    }
}
