//! The classic storage: one heap allocation per particle, removal from the
//! front of a `Vec`, and `shrink_to_fit` every frame.
//!
//! Every one of those costs is deliberate: this is the allocation churn the
//! program exists to measure. Do not optimise it.

use crate::sim::{Particle, Physics};

/// `Vec<Box<Particle>>` in age order, oldest first.
pub(crate) struct Boxed {
    #[expect(
        clippy::vec_box,
        reason = "one heap allocation per particle is the behaviour under study"
    )]
    particles: Vec<Box<Particle>>,
}

impl Boxed {
    /// Starts empty, as the classic does, so the initial particles grow the
    /// vector through its reallocations.
    pub(crate) fn new() -> Boxed {
        Boxed {
            particles: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.particles.len()
    }

    pub(crate) fn push_newest(&mut self, particle: Particle) {
        self.particles.push(Box::new(particle));
    }

    /// `Vec::remove(0)`: frees one box and shifts every other pointer down,
    /// O(n) like the classic.
    pub(crate) fn remove_oldest(&mut self) {
        if !self.particles.is_empty() {
            self.particles.remove(0);
        }
    }

    /// Reallocates the vector to its exact length whenever it has spare
    /// room: the classic calls this every frame.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.particles.shrink_to_fit();
    }

    pub(crate) fn update_all(&mut self, physics: Physics) {
        for particle in &mut self.particles {
            particle.update(physics);
        }
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&Particle)) {
        for particle in &self.particles {
            f(particle);
        }
    }
}
