//! Particles stored by value in one ring buffer (`VecDeque`).
//!
//! No per-particle allocation and no shrinking: the buffer only reallocates
//! when the population outgrows it (doubling, so amortised), and removing
//! the oldest particle is O(1) at the front of the ring.

use std::collections::VecDeque;

use crate::sim::{Particle, Physics};

/// `VecDeque<Particle>` in age order, oldest at the front.
pub(crate) struct Inline {
    particles: VecDeque<Particle>,
}

impl Inline {
    pub(crate) fn new() -> Inline {
        Inline {
            particles: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.particles.len()
    }

    pub(crate) fn push_newest(&mut self, particle: Particle) {
        self.particles.push_back(particle);
    }

    pub(crate) fn remove_oldest(&mut self) {
        self.particles.pop_front();
    }

    pub(crate) fn update_all(&mut self, physics: Physics) {
        for particle in &mut self.particles {
            particle.update(physics);
        }
    }

    pub(crate) fn for_each(&self, f: impl FnMut(&Particle)) {
        self.particles.iter().for_each(f);
    }
}
