//! One snow particle: its state, how it is born and how it moves each frame.
//!
//! The physics lives here, once, so the storage strategies differ only in
//! where particles are kept, never in what they do.

use std::fmt;

use rand::{Rng, RngExt};

/// Width of the world, in pixels.
pub const WIDTH: f64 = 1280.0;
/// Height of the world, in pixels. Particles are born on this bottom edge.
pub const HEIGHT: f64 = 960.0;

/// Opacity of a newborn particle.
pub(crate) const BIRTH_ALPHA: f32 = 0.99;
/// Factor applied to the opacity every frame.
pub(crate) const FADE_PER_FRAME: f32 = 0.995;
/// Factor applied to the acceleration every frame.
pub(crate) const ACCELERATION_DECAY_PER_FRAME: f64 = 0.7;

/// How a particle's acceleration decays, the one choice the world's physics
/// offers.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Physics {
    /// The book's: `acceleration *= 0.7` every frame. It never reaches zero:
    /// from about frame 2080 it sticks at the smallest subnormal double, and
    /// every older particle then costs subnormal arithmetic each frame.
    #[default]
    Classic,
    /// As classic, but an acceleration below `f64::MIN_POSITIVE` (the smallest
    /// normal double) is set to zero: no subnormal arithmetic, and the same
    /// positions (a subnormal acceleration no longer moves a particle anyway).
    Flush,
}

impl Physics {
    /// Both, in the order reports list them.
    pub const ALL: [Physics; 2] = [Physics::Classic, Physics::Flush];

    /// The name used on the command line and in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Physics::Classic => "classic",
            Physics::Flush => "flush",
        }
    }
}

impl fmt::Display for Physics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One particle. Units are pixels and frames: velocity in pixels per frame,
/// acceleration in pixels per frame squared. `y` grows downwards, so a
/// negative vertical velocity rises.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Particle {
    /// `[x, y]` in pixels.
    pub position: [f64; 2],
    /// `[x, y]` in pixels per frame.
    pub velocity: [f64; 2],
    /// `[x, y]` in pixels per frame squared.
    pub acceleration: [f64; 2],
    /// RGBA, each in `0.0..=1.0`. Only the alpha changes (it fades).
    pub color: [f32; 4],
}

impl Particle {
    /// A newborn particle at a random x on the bottom edge, rising.
    ///
    /// Draws exactly three values from `rng`, in this order: x in
    /// `[0, WIDTH]`, vertical velocity in `[-2, 0)`, vertical acceleration in
    /// `[0, 0.15)`. The order is part of the contract: it is what makes a
    /// seed reproduce the same world.
    pub fn spawn<R: Rng + ?Sized>(rng: &mut R) -> Particle {
        let x = rng.random_range(0.0..=WIDTH);
        let velocity_y = rng.random_range(-2.0..0.0);
        let acceleration_y = rng.random_range(0.0..0.15);
        Particle {
            position: [x, HEIGHT],
            velocity: [0.0, velocity_y],
            acceleration: [0.0, acceleration_y],
            color: [1.0, 1.0, 1.0, BIRTH_ALPHA],
        }
    }

    /// Advances the particle by one frame under `physics`.
    ///
    /// The order (velocity first, then position) is the classic one and
    /// decides the exact positions a seed produces.
    ///
    /// Performance note: under [`Physics::Classic`] the acceleration never
    /// reaches zero. Near frame 1980 it becomes a subnormal float, and near
    /// frame 2080 it sticks at the smallest one (0.7 ulp rounds back up to
    /// 1 ulp). From then on every update does subnormal arithmetic, some 25
    /// times slower on x86. It no longer moves the particle: adding it to any
    /// normal velocity changes nothing. [`Physics::Flush`] sets it to zero
    /// instead, as soon as it falls below the smallest normal double.
    #[inline]
    pub fn update(&mut self, physics: Physics) {
        for axis in 0..2 {
            self.velocity[axis] += self.acceleration[axis];
            self.position[axis] += self.velocity[axis];
            self.acceleration[axis] *= ACCELERATION_DECAY_PER_FRAME;
            if physics == Physics::Flush && self.acceleration[axis].abs() < f64::MIN_POSITIVE {
                self.acceleration[axis] = 0.0;
            }
        }
        self.color[3] *= FADE_PER_FRAME;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn particle(velocity_y: f64, acceleration_y: f64) -> Particle {
        Particle {
            position: [100.0, HEIGHT],
            velocity: [0.0, velocity_y],
            acceleration: [0.0, acceleration_y],
            color: [1.0, 1.0, 1.0, BIRTH_ALPHA],
        }
    }

    #[test]
    fn update_follows_hand_computed_frames() {
        let mut p = particle(-1.0, 0.1);

        p.update(Physics::Classic);
        // v = -1 + 0.1 = -0.9; y = 960 - 0.9; a = 0.07
        assert!((p.velocity[1] - -0.9).abs() < 1e-12);
        assert!((p.position[1] - 959.1).abs() < 1e-12);
        assert!((p.acceleration[1] - 0.07).abs() < 1e-12);

        p.update(Physics::Classic);
        // v = -0.9 + 0.07 = -0.83; y = 959.1 - 0.83; a = 0.049
        assert!((p.velocity[1] - -0.83).abs() < 1e-12);
        assert!((p.position[1] - 958.27).abs() < 1e-12);
        assert!((p.acceleration[1] - 0.049).abs() < 1e-12);

        p.update(Physics::Classic);
        // v = -0.83 + 0.049 = -0.781; y = 958.27 - 0.781
        assert!((p.velocity[1] - -0.781).abs() < 1e-12);
        assert!((p.position[1] - 957.489).abs() < 1e-12);

        // x never moves: no horizontal velocity or acceleration.
        assert_eq!(p.position[0], 100.0);
        let alpha = 0.99_f32 * 0.995 * 0.995 * 0.995;
        assert!((p.color[3] - alpha).abs() < 1e-6);
        assert_eq!(&p.color[..3], &[1.0, 1.0, 1.0]);
    }

    #[test]
    fn particle_turns_invisible_after_about_780_frames() {
        // The classic removal rule calls a particle invisible below 0.02.
        // 0.99 * 0.995^k < 0.02  <=>  k > ln(0.02 / 0.99) / ln(0.995) ~ 778.6
        let mut p = particle(-1.0, 0.0);
        let mut frames = 0;
        while p.color[3] >= 0.02 {
            p.update(Physics::Classic);
            frames += 1;
        }
        assert!((778..=781).contains(&frames), "invisible after {frames}");
    }

    #[test]
    fn acceleration_sticks_at_the_smallest_subnormal() {
        // Pins the slow path documented on `update` (and measured by the
        // world_step_aged benchmark): if the physics ever flushes it to zero,
        // update that documentation too.
        let mut p = particle(-1.0, 0.149);
        let mut first_subnormal_frame = None;
        for frame in 1..=3000 {
            p.update(Physics::Classic);
            if first_subnormal_frame.is_none() && p.acceleration[1] < f64::MIN_POSITIVE {
                first_subnormal_frame = Some(frame);
            }
        }
        let smallest_subnormal = f64::from_bits(1);
        assert_eq!(p.acceleration[1], smallest_subnormal);
        assert!(matches!(first_subnormal_frame, Some(1975..=1985)));

        // It no longer moves the particle.
        let before = p;
        p.update(Physics::Classic);
        assert_eq!(p.velocity, before.velocity);
    }

    #[test]
    fn flush_zeroes_accelerations_below_the_smallest_normal() {
        let mut classic = particle(-1.0, 0.149);
        let mut flushed = classic;
        let mut zero_from = None;
        for frame in 1..=3000 {
            classic.update(Physics::Classic);
            flushed.update(Physics::Flush);
            let a = flushed.acceleration[1];
            // Never subnormal: either normal or exactly zero.
            assert!(a == 0.0 || a >= f64::MIN_POSITIVE, "frame {frame}: {a:e}");
            if a == 0.0 && zero_from.is_none() {
                zero_from = Some(frame);
                // Zero exactly where the classic one went below MIN_POSITIVE.
                assert!(classic.acceleration[1] < f64::MIN_POSITIVE);
                assert!(classic.acceleration[1] > 0.0);
            }
            if zero_from.is_none() {
                assert_eq!(flushed, classic, "frame {frame}");
            }
        }
        assert!(matches!(zero_from, Some(1975..=1985)), "{zero_from:?}");
        assert_eq!(flushed.acceleration, [0.0, 0.0]);
        assert_eq!(classic.acceleration[1], f64::from_bits(1));
        // The subnormal acceleration no longer moved the classic particle,
        // so both are in the same place.
        assert_eq!(flushed.position, classic.position);
        assert_eq!(flushed.velocity, classic.velocity);
    }

    #[test]
    fn flush_leaves_normal_and_negative_accelerations_alone() {
        let mut p = particle(-1.0, 0.0);
        p.acceleration = [-1e-300, 2.0 * f64::MIN_POSITIVE / 0.7];
        p.update(Physics::Flush);
        assert_eq!(p.acceleration[0], -1e-300 * 0.7);
        assert!(p.acceleration[1] >= f64::MIN_POSITIVE);
        p.acceleration = [-f64::MIN_POSITIVE, f64::MIN_POSITIVE];
        p.update(Physics::Flush);
        assert_eq!(p.acceleration, [0.0, 0.0]);
    }

    #[test]
    fn spawn_stays_in_its_ranges() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut min_x = f64::INFINITY;
        let mut max_x = f64::NEG_INFINITY;
        for _ in 0..10_000 {
            let p = Particle::spawn(&mut rng);
            assert!((0.0..=WIDTH).contains(&p.position[0]));
            assert_eq!(p.position[1], HEIGHT);
            assert_eq!(p.velocity[0], 0.0);
            assert!((-2.0..0.0).contains(&p.velocity[1]));
            assert_eq!(p.acceleration[0], 0.0);
            assert!((0.0..0.15).contains(&p.acceleration[1]));
            assert_eq!(p.color, [1.0, 1.0, 1.0, 0.99]);
            min_x = min_x.min(p.position[0]);
            max_x = max_x.max(p.position[0]);
        }
        // Uniform over the whole width, not squeezed into a corner.
        assert!(min_x < 10.0 && max_x > WIDTH - 10.0);
    }

    #[test]
    fn spawn_draws_x_then_velocity_then_acceleration() {
        let mut spawned = StdRng::seed_from_u64(11);
        let p = Particle::spawn(&mut spawned);

        let mut by_hand = StdRng::seed_from_u64(11);
        let x: f64 = by_hand.random_range(0.0..=WIDTH);
        let velocity_y: f64 = by_hand.random_range(-2.0..0.0);
        let acceleration_y: f64 = by_hand.random_range(0.0..0.15);

        assert_eq!(p.position, [x, HEIGHT]);
        assert_eq!(p.velocity, [0.0, velocity_y]);
        assert_eq!(p.acceleration, [0.0, acceleration_y]);
    }
}
