//! The particle world: snow-like particles rising from the bottom edge and
//! fading, born and removed at random every frame.
//!
//! The world has no graphics; the window and the headless benchmark drive it
//! through [`World::step`] and draw it through [`World::for_each_particle`].
//! The same physics runs on four storage [`Strategy`]s whose only difference
//! is how much they allocate, so a seed gives the same particles in all four.
//! [`Physics`] chooses between the book's physics and one that flushes
//! subnormal accelerations to zero.
//!
//! ```
//! use heapsnow_cli::sim::{Physics, Strategy, World};
//!
//! let mut world = World::new(Strategy::Pool, 1000, 42).with_physics(Physics::Flush);
//! for _ in 0..100 {
//!     world.step();
//! }
//! assert_eq!(world.frame(), 100);
//! let mut highest_y = f64::INFINITY;
//! world.for_each_particle(|p| highest_y = highest_y.min(p.position[1]));
//! assert!(highest_y < heapsnow_cli::sim::HEIGHT);
//! ```

mod particle;
mod strategy;

use std::fmt;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

pub use particle::{HEIGHT, Particle, Physics, WIDTH};
pub use strategy::Strategy;

use strategy::Storage;

/// Largest number of particles born or removed in one frame.
const MAX_CHURN_PER_FRAME: i32 = 3;

/// The particles, their storage and the one random generator behind every
/// random choice, so that a seed reproduces a run exactly (including its
/// sequence of allocations).
pub struct World {
    rng: StdRng,
    storage: Storage,
    physics: Physics,
    frame: u64,
}

impl World {
    /// A world of `initial_particles` newborn particles stored with
    /// `strategy`, drawing everything from a generator seeded with `seed`,
    /// under the classic physics.
    pub fn new(strategy: Strategy, initial_particles: usize, seed: u64) -> World {
        let mut world = World {
            rng: StdRng::seed_from_u64(seed),
            storage: Storage::new(strategy, initial_particles),
            physics: Physics::Classic,
            frame: 0,
        };
        for _ in 0..initial_particles {
            world.add_particle();
        }
        world
    }

    /// The same world under `physics`. Physics draws nothing at random, so
    /// the seed gives the same births and deaths under either.
    pub fn with_physics(mut self, physics: Physics) -> World {
        self.physics = physics;
        self
    }

    /// Advances one frame: between 3 particles born and 3 removed (drawn
    /// uniformly from -3..=3), then every particle moves and fades.
    ///
    /// Removal takes the oldest particle. The classic rule is "the first
    /// invisible particle, else the oldest", but particles are kept in age
    /// order and fade at the same rate, so the first invisible one is always
    /// the oldest. Removing from an empty world does nothing (the classic
    /// panics).
    pub fn step(&mut self) {
        let churn: i32 = self
            .rng
            .random_range(-MAX_CHURN_PER_FRAME..=MAX_CHURN_PER_FRAME);
        if churn > 0 {
            for _ in 0..churn {
                self.add_particle();
            }
        } else {
            for _ in 0..churn.unsigned_abs() {
                self.storage.remove_oldest();
            }
        }
        self.storage.after_churn();
        self.storage.update_all(self.physics);
        self.frame += 1;
    }

    /// Number of live particles.
    pub fn len(&self) -> usize {
        self.storage.len()
    }

    /// Whether no particle is alive (the population's random walk reached 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frames stepped so far.
    pub fn frame(&self) -> u64 {
        self.frame
    }

    /// The storage strategy this world was built with.
    pub fn strategy(&self) -> Strategy {
        self.storage.strategy()
    }

    /// The physics the particles move under.
    pub fn physics(&self) -> Physics {
        self.physics
    }

    /// Calls `f` on every particle, oldest first (the drawing order).
    ///
    /// # Panics
    ///
    /// With [`Strategy::Arena`], if `f` walks the same world again: an arena
    /// lends its particles out one walk at a time.
    pub fn for_each_particle(&self, f: impl FnMut(&Particle)) {
        self.storage.for_each(f);
    }

    fn add_particle(&mut self) {
        let particle = Particle::spawn(&mut self.rng);
        self.storage.push_newest(particle);
    }
}

impl fmt::Debug for World {
    /// A summary: printing every particle would be useless at 1000 of them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("strategy", &self.strategy())
            .field("physics", &self.physics)
            .field("particles", &self.len())
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn particles(world: &World) -> Vec<Particle> {
        let mut particles = Vec::with_capacity(world.len());
        world.for_each_particle(|p| particles.push(*p));
        particles
    }

    fn stepped(strategy: Strategy, initial_particles: usize, seed: u64, frames: u64) -> World {
        let mut world = World::new(strategy, initial_particles, seed);
        for _ in 0..frames {
            world.step();
        }
        world
    }

    #[test]
    fn new_world_holds_the_initial_particles_on_the_bottom_edge() {
        let world = World::new(Strategy::Boxed, 1000, 1);
        assert_eq!(world.len(), 1000);
        assert!(!world.is_empty());
        assert_eq!(world.frame(), 0);
        assert_eq!(world.strategy(), Strategy::Boxed);
        assert!(particles(&world).iter().all(|p| p.position[1] == HEIGHT));
    }

    #[test]
    fn same_seed_gives_the_same_world() {
        let a = stepped(Strategy::Boxed, 1000, 7, 500);
        let b = stepped(Strategy::Boxed, 1000, 7, 500);
        assert_eq!(a.frame(), 500);
        assert_eq!(particles(&a), particles(&b));
    }

    #[test]
    fn different_seeds_give_different_worlds() {
        let a = stepped(Strategy::Boxed, 1000, 7, 500);
        let b = stepped(Strategy::Boxed, 1000, 8, 500);
        assert_ne!(particles(&a), particles(&b));
    }

    #[test]
    fn all_strategies_give_identical_particles() {
        for (initial_particles, seed) in [(1000, 42), (0, 5), (3, 6)] {
            let boxed = stepped(Strategy::Boxed, initial_particles, seed, 2000);
            let expected = particles(&boxed);
            assert!(!expected.is_empty(), "{initial_particles} particles");
            for strategy in [Strategy::Inline, Strategy::Pool, Strategy::Arena] {
                let world = stepped(strategy, initial_particles, seed, 2000);
                assert_eq!(world.strategy(), strategy);
                assert_eq!(world.frame(), 2000);
                assert_eq!(
                    particles(&world),
                    expected,
                    "{strategy} from {initial_particles} particles, seed {seed}"
                );
            }
        }
    }

    #[test]
    fn flush_physics_moves_particles_to_the_same_places() {
        // Subnormal accelerations no longer move a particle, so flushing
        // them changes the speed of a step, not its result. 3000 particles
        // take about 3500 frames to die off, so at frame 2500 hundreds of
        // them are old enough (past frame 1980) for subnormal accelerations.
        for strategy in Strategy::ALL {
            let classic = stepped(strategy, 3000, 42, 2500);
            let mut flush = World::new(strategy, 3000, 42).with_physics(Physics::Flush);
            for _ in 0..2500 {
                flush.step();
            }
            assert_eq!(
                (classic.physics(), flush.physics()),
                (Physics::Classic, Physics::Flush)
            );
            let (classic, flush) = (particles(&classic), particles(&flush));
            assert_eq!(classic.len(), flush.len(), "{strategy}");
            let mut subnormal = 0;
            for (c, f) in classic.iter().zip(&flush) {
                assert_eq!(
                    (c.position, c.velocity),
                    (f.position, f.velocity),
                    "{strategy}"
                );
                if c.acceleration[1] != 0.0 && c.acceleration[1] < f64::MIN_POSITIVE {
                    subnormal += 1;
                    assert_eq!(f.acceleration[1], 0.0);
                }
            }
            assert!(
                subnormal > 100,
                "{strategy}: {subnormal} subnormal particles"
            );
        }
    }

    #[test]
    fn an_emptied_world_keeps_stepping() {
        // From 0 particles the population walks around zero, so removal from
        // an empty world happens over and over; it must be a no-op.
        for strategy in Strategy::ALL {
            let mut world = World::new(strategy, 0, 5);
            let mut frames_empty_before_step = 0;
            for _ in 0..2000 {
                frames_empty_before_step += u32::from(world.is_empty());
                world.step();
            }
            assert!(
                frames_empty_before_step > 10,
                "{strategy}: {frames_empty_before_step}"
            );
        }
    }

    #[test]
    fn removal_takes_the_oldest() {
        for strategy in Strategy::ALL {
            let mut storage = Storage::new(strategy, 4);
            for x in [1.0, 2.0, 3.0, 4.0] {
                storage.push_newest(Particle {
                    position: [x, HEIGHT],
                    velocity: [0.0; 2],
                    acceleration: [0.0; 2],
                    color: [1.0; 4],
                });
            }
            storage.remove_oldest();
            storage.remove_oldest();
            storage.after_churn();
            let mut xs = Vec::new();
            storage.for_each(|p| xs.push(p.position[0]));
            assert_eq!(xs, [3.0, 4.0], "{strategy}");

            storage.remove_oldest();
            storage.remove_oldest();
            storage.remove_oldest();
            assert_eq!(storage.len(), 0, "{strategy}");
        }
    }

    #[test]
    fn particles_are_listed_oldest_first() {
        // The oldest has faded the most; alpha never increases down the list.
        for strategy in Strategy::ALL {
            let world = stepped(strategy, 1000, 9, 300);
            let alphas: Vec<f32> = particles(&world).iter().map(|p| p.color[3]).collect();
            assert!(alphas.windows(2).all(|w| w[0] <= w[1]), "{strategy}");
            assert!(alphas[0] < alphas[alphas.len() - 1], "{strategy}");
        }
    }

    #[test]
    fn debug_summarises_instead_of_listing_particles() {
        let world = stepped(Strategy::Inline, 10, 1, 2);
        let text = format!("{world:?}");
        assert!(
            text.starts_with("World { strategy: Inline, physics: Classic, particles: "),
            "{text}"
        );
        assert!(text.contains("frame: 2"), "{text}");
    }
}
