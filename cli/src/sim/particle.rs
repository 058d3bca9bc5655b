//! One snow particle: its state, how it is born and how it moves each frame.
//!
//! The physics lives here, once, so the storage strategies differ only in
//! where particles are kept, never in what they do.

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

    /// Advances the particle by one frame.
    ///
    /// The order (velocity first, then position) is the classic one and
    /// decides the exact positions a seed produces.
    ///
    /// Performance note, kept because it is the classic's physics: the
    /// acceleration never reaches zero. Near frame 1980 it becomes a
    /// subnormal float, and near frame 2080 it sticks at the smallest one
    /// (0.7 ulp rounds back up to 1 ulp). From then on every update does
    /// subnormal arithmetic, some 25 times slower on x86. It no longer moves
    /// the particle: adding it to any normal velocity changes nothing.
    pub fn update(&mut self) {
        for axis in 0..2 {
            self.velocity[axis] += self.acceleration[axis];
            self.position[axis] += self.velocity[axis];
            self.acceleration[axis] *= ACCELERATION_DECAY_PER_FRAME;
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

        p.update();
        // v = -1 + 0.1 = -0.9; y = 960 - 0.9; a = 0.07
        assert!((p.velocity[1] - -0.9).abs() < 1e-12);
        assert!((p.position[1] - 959.1).abs() < 1e-12);
        assert!((p.acceleration[1] - 0.07).abs() < 1e-12);

        p.update();
        // v = -0.9 + 0.07 = -0.83; y = 959.1 - 0.83; a = 0.049
        assert!((p.velocity[1] - -0.83).abs() < 1e-12);
        assert!((p.position[1] - 958.27).abs() < 1e-12);
        assert!((p.acceleration[1] - 0.049).abs() < 1e-12);

        p.update();
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
            p.update();
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
            p.update();
            if first_subnormal_frame.is_none() && p.acceleration[1] < f64::MIN_POSITIVE {
                first_subnormal_frame = Some(frame);
            }
        }
        let smallest_subnormal = f64::from_bits(1);
        assert_eq!(p.acceleration[1], smallest_subnormal);
        assert!(matches!(first_subnormal_frame, Some(1975..=1985)));

        // It no longer moves the particle.
        let before = p;
        p.update();
        assert_eq!(p.velocity, before.velocity);
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
