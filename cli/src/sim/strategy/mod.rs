//! Where the particles live: the four storage strategies under comparison,
//! and the enum that dispatches between them.
//!
//! Dispatch is a plain `enum` rather than `Box<dyn ...>` so that choosing a
//! strategy costs no allocation of its own.

mod arena;
mod boxed;
mod inline;
mod pool;

use std::fmt;

pub(crate) use arena::Arena;
pub(crate) use boxed::Boxed;
pub(crate) use inline::Inline;
pub(crate) use pool::Pool;

use super::{Particle, Physics};

/// How the world stores its particles. Physics is identical in all four;
/// only the allocation behaviour differs.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The classic: `Vec<Box<Particle>>`, remove from the front, shrink to
    /// fit every frame (one allocation per particle, constant churn).
    #[default]
    Boxed,
    /// Particles by value in one ring buffer: no per-particle allocation.
    Inline,
    /// Slots reserved up front and reused: no allocation in the steady state.
    Pool,
    /// Generations of arenas (typed-arena): one allocation per few hundred
    /// births, freed a generation at a time once all its particles are gone.
    Arena,
}

impl Strategy {
    /// Every strategy, in the order reports list them.
    pub const ALL: [Strategy; 4] = [
        Strategy::Boxed,
        Strategy::Inline,
        Strategy::Pool,
        Strategy::Arena,
    ];

    /// The name used on the command line and in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Boxed => "boxed",
            Strategy::Inline => "inline",
            Strategy::Pool => "pool",
            Strategy::Arena => "arena",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The storage behind a world, one variant per [`Strategy`].
///
/// Every variant keeps particles in age order, oldest first.
pub(crate) enum Storage {
    Boxed(Boxed),
    Inline(Inline),
    Pool(Pool),
    Arena(Arena),
}

impl Storage {
    /// Empty storage for `strategy`, sized for `expected_particles` where the
    /// strategy reserves up front.
    pub(crate) fn new(strategy: Strategy, expected_particles: usize) -> Storage {
        match strategy {
            Strategy::Boxed => Storage::Boxed(Boxed::new()),
            Strategy::Inline => Storage::Inline(Inline::new()),
            Strategy::Pool => Storage::Pool(Pool::with_capacity(expected_particles)),
            Strategy::Arena => Storage::Arena(Arena::with_capacity(expected_particles)),
        }
    }

    pub(crate) fn strategy(&self) -> Strategy {
        match self {
            Storage::Boxed(_) => Strategy::Boxed,
            Storage::Inline(_) => Strategy::Inline,
            Storage::Pool(_) => Strategy::Pool,
            Storage::Arena(_) => Strategy::Arena,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Storage::Boxed(s) => s.len(),
            Storage::Inline(s) => s.len(),
            Storage::Pool(s) => s.len(),
            Storage::Arena(s) => s.len(),
        }
    }

    /// Adds `particle` as the newest.
    pub(crate) fn push_newest(&mut self, particle: Particle) {
        match self {
            Storage::Boxed(s) => s.push_newest(particle),
            Storage::Inline(s) => s.push_newest(particle),
            Storage::Pool(s) => s.push_newest(particle),
            Storage::Arena(s) => s.push_newest(particle),
        }
    }

    /// Removes the oldest particle; does nothing when empty.
    pub(crate) fn remove_oldest(&mut self) {
        match self {
            Storage::Boxed(s) => s.remove_oldest(),
            Storage::Inline(s) => s.remove_oldest(),
            Storage::Pool(s) => s.remove_oldest(),
            Storage::Arena(s) => s.remove_oldest(),
        }
    }

    /// End-of-churn housekeeping, once per frame after the births and
    /// deaths. Only the classic strategy does anything here.
    pub(crate) fn after_churn(&mut self) {
        match self {
            Storage::Boxed(s) => s.shrink_to_fit(),
            Storage::Inline(_) | Storage::Pool(_) | Storage::Arena(_) => {}
        }
    }

    /// Advances every particle by one frame under `physics`.
    pub(crate) fn update_all(&mut self, physics: Physics) {
        match self {
            Storage::Boxed(s) => s.update_all(physics),
            Storage::Inline(s) => s.update_all(physics),
            Storage::Pool(s) => s.update_all(physics),
            Storage::Arena(s) => s.update_all(physics),
        }
    }

    /// Calls `f` on every particle, oldest first.
    pub(crate) fn for_each(&self, f: impl FnMut(&Particle)) {
        match self {
            Storage::Boxed(s) => s.for_each(f),
            Storage::Inline(s) => s.for_each(f),
            Storage::Pool(s) => s.for_each(f),
            Storage::Arena(s) => s.for_each(f),
        }
    }
}

/// A still particle at `x`, for the strategies' tests.
#[cfg(test)]
pub(crate) fn particle_at(x: f64) -> Particle {
    Particle {
        position: [x, 0.0],
        velocity: [0.0; 2],
        acceleration: [0.0; 2],
        color: [1.0; 4],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn command_line_names_match_as_str() {
        for strategy in Strategy::ALL {
            let parsed = Strategy::from_str(strategy.as_str(), false).unwrap();
            assert_eq!(parsed, strategy);
            assert_eq!(strategy.to_string(), strategy.as_str());
        }
        assert_eq!(Strategy::default(), Strategy::Boxed);
        assert_eq!(Strategy::value_variants(), &Strategy::ALL);
    }
}
