//! The classic colours on today's surface: piston_window 0.148 renders into an
//! sRGB framebuffer, which treats what the shaders output as linear light and
//! encodes it, so colours written as sRGB values must be decoded first or they
//! come out washed out (the background would be a light grey).

/// The classic background, as sRGB values: RGBA (0.15, 0.17, 0.17, 0.9).
pub const BACKGROUND_SRGB: [f32; 4] = [0.15, 0.17, 0.17, 0.9];

/// Decodes one sRGB channel value to linear light.
pub fn srgb_to_linear(channel: f32) -> f32 {
    if channel <= 0.040_45 {
        channel / 12.92
    } else {
        ((channel + 0.055) / 1.055).powf(2.4)
    }
}

/// An sRGB colour ready for the surface: the colour channels decoded, alpha
/// (a coverage, not a light level) kept as it is.
pub fn linear_rgba([r, g, b, a]: [f32; 4]) -> [f32; 4] {
    [srgb_to_linear(r), srgb_to_linear(g), srgb_to_linear(b), a]
}

/// The colour to draw a particle with, so that it lands on the background
/// with the same pixel value as in the classic program.
///
/// The classic OpenGL window blended in sRGB values; an sRGB surface blends in
/// linear light, where a half-transparent white particle comes out much
/// brighter (a fading particle would seem to linger). So the alpha is chosen
/// to give, over the background, the pixel the classic blend gives. Over other
/// particles it is close, not exact.
pub fn particle_rgba(classic_srgb: [f32; 4]) -> [f32; 4] {
    let [r, g, b, alpha] = classic_srgb;
    // The background's green channel stands for all three (0.15 vs 0.17 moves
    // the result by less than one 8-bit step).
    let background_srgb = BACKGROUND_SRGB[1];
    let background = srgb_to_linear(background_srgb);
    let brightest = srgb_to_linear(r.max(g).max(b));
    let classic_pixel = alpha * r.max(g).max(b) + (1.0 - alpha) * background_srgb;
    let span = brightest - background;
    let alpha = if span > f32::EPSILON {
        ((srgb_to_linear(classic_pixel) - background) / span).clamp(0.0, 1.0)
    } else {
        alpha
    };
    [
        srgb_to_linear(r),
        srgb_to_linear(g),
        srgb_to_linear(b),
        alpha,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes one linear-light channel value as sRGB, as the surface does.
    fn linear_to_srgb(channel: f32) -> f32 {
        if channel <= 0.003_130_8 {
            channel * 12.92
        } else {
            1.055 * channel.powf(1.0 / 2.4) - 0.055
        }
    }

    /// What an sRGB surface shows for `color` (linear, as drawn) blended over
    /// the background, as an sRGB value.
    fn shown_over_background(color: [f32; 4]) -> f32 {
        let background = srgb_to_linear(BACKGROUND_SRGB[1]);
        linear_to_srgb(color[3] * color[1] + (1.0 - color[3]) * background)
    }

    #[test]
    fn decoding_matches_the_srgb_curve() {
        assert_eq!(srgb_to_linear(0.0), 0.0);
        assert!((srgb_to_linear(1.0) - 1.0).abs() < 1e-6);
        // Mid grey 0.5 in sRGB is about 21.4 % of the light.
        assert!((srgb_to_linear(0.5) - 0.214).abs() < 1e-3);
        for value in [0.0, 0.02, 0.15, 0.17, 0.5, 0.9, 1.0] {
            assert!(
                (linear_to_srgb(srgb_to_linear(value)) - value).abs() < 1e-5,
                "{value}"
            );
        }
    }

    #[test]
    fn the_background_comes_out_as_the_classic_one() {
        let [r, g, b, a] = linear_rgba(BACKGROUND_SRGB);
        // As stored by the sRGB surface, in 8-bit steps: 38, 43, 43.
        let stored = |linear: f32| (linear_to_srgb(linear) * 255.0).round() as u8;
        assert_eq!([stored(r), stored(g), stored(b)], [38, 43, 43]);
        assert_eq!(a, 0.9);
        // Not converting would have shown a washed-out grey.
        assert!(stored(0.15) > 100);
    }

    #[test]
    fn fading_particles_look_as_in_the_classic_blend() {
        let background = BACKGROUND_SRGB[1];
        for alpha in [0.99, 0.7, 0.5, 0.2, 0.05, 0.02] {
            let classic = alpha + (1.0 - alpha) * background;
            let shown = shown_over_background(particle_rgba([1.0, 1.0, 1.0, alpha]));
            assert!(
                (shown - classic).abs() < 0.5 / 255.0,
                "alpha {alpha}: {shown} vs {classic}"
            );
        }
        // Without the correction a half-transparent particle is far brighter.
        let naive = shown_over_background([1.0, 1.0, 1.0, 0.5]);
        assert!(naive - (0.5 + 0.5 * background) > 0.1);
    }
}
