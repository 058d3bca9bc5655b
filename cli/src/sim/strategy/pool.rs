//! A particle pool: slots reserved up front and reused through a free list,
//! so the steady state allocates nothing at all.
//!
//! Three collections, all sized to the same capacity:
//! - `slots`: every particle slot ever created, live or free. Slots are
//!   never dropped, only overwritten.
//! - `age`: indices of the live slots, oldest first (a ring, so removing the
//!   oldest is O(1)).
//! - `free`: indices of the free slots, first freed first (a ring as well).
//!
//! A birth reuses a free slot; only when none is free (the population is
//! larger than ever before) is a slot created, and the three collections
//! grow together, by doubling. Because `age.len() + free.len()` always
//! equals `slots.len()`, the two rings never need to grow on their own.
//!
//! The free list is FIFO rather than a stack on purpose: deaths take the
//! front of `age` and births append to it, so reusing the slot freed longest
//! ago keeps `age` walking the slots in nearly ascending order, and the
//! per-frame update touches memory almost sequentially, like a ring buffer.

use std::collections::VecDeque;

use crate::sim::{Particle, Physics};

/// Slots reserved even for a world that starts (nearly) empty, so the first
/// few births do not each trigger a growth.
const MIN_SLOTS: usize = 64;

/// Reusable particle slots plus live and free index rings.
pub(crate) struct Pool {
    slots: Vec<Particle>,
    age: VecDeque<usize>,
    free: VecDeque<usize>,
}

impl Pool {
    /// An empty pool with room for `expected_particles` (at least
    /// [`MIN_SLOTS`]) before anything has to grow.
    pub(crate) fn with_capacity(expected_particles: usize) -> Pool {
        let capacity = expected_particles.max(MIN_SLOTS);
        Pool {
            slots: Vec::with_capacity(capacity),
            age: VecDeque::with_capacity(capacity),
            free: VecDeque::with_capacity(capacity),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.age.len()
    }

    pub(crate) fn push_newest(&mut self, particle: Particle) {
        let index = match self.free.pop_front() {
            Some(index) => {
                self.slots[index] = particle;
                index
            }
            None => self.create_slot(particle),
        };
        self.age.push_back(index);
    }

    /// Appends a new slot, growing the rings along with `slots` so that
    /// neither ever reallocates on its own.
    fn create_slot(&mut self, particle: Particle) -> usize {
        let index = self.slots.len();
        self.slots.push(particle);
        let capacity = self.slots.capacity();
        self.age.reserve(capacity - self.age.len());
        self.free.reserve(capacity - self.free.len());
        index
    }

    pub(crate) fn remove_oldest(&mut self) {
        if let Some(index) = self.age.pop_front() {
            self.free.push_back(index);
        }
    }

    pub(crate) fn update_all(&mut self, physics: Physics) {
        for &index in &self.age {
            self.slots[index].update(physics);
        }
    }

    pub(crate) fn for_each(&self, mut f: impl FnMut(&Particle)) {
        for &index in &self.age {
            f(&self.slots[index]);
        }
    }

    /// Capacities of the slots, the age ring and the free list: any
    /// reallocation inside the pool changes one of them.
    #[cfg(test)]
    pub(crate) fn capacities(&self) -> [usize; 3] {
        [
            self.slots.capacity(),
            self.age.capacity(),
            self.free.capacity(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::strategy::{Storage, particle_at};
    use crate::sim::{Strategy, World};

    fn xs(pool: &Pool) -> Vec<f64> {
        let mut xs = Vec::new();
        pool.for_each(|p| xs.push(p.position[0]));
        xs
    }

    fn pool_of(world: &World) -> &Pool {
        match &world.storage {
            Storage::Pool(pool) => pool,
            _ => panic!("not a pool world"),
        }
    }

    #[test]
    fn freed_slots_are_reused_without_growing() {
        let mut pool = Pool::with_capacity(1000);
        let reserved = pool.capacities();
        for i in 0..1000 {
            pool.push_newest(particle_at(i as f64));
        }
        for _ in 0..500 {
            pool.remove_oldest();
        }
        for i in 1000..1500 {
            pool.push_newest(particle_at(i as f64));
        }

        assert_eq!(pool.capacities(), reserved);
        assert_eq!(pool.slots.len(), 1000);
        let expected: Vec<f64> = (500..1500).map(|i| i as f64).collect();
        assert_eq!(xs(&pool), expected);
    }

    #[test]
    fn growing_past_the_reservation_keeps_the_rings_in_step() {
        let mut pool = Pool::with_capacity(0);
        for i in 0..1000 {
            pool.push_newest(particle_at(i as f64));
            let [slots, age, free] = pool.capacities();
            assert!(age >= slots && free >= slots, "{:?}", pool.capacities());
        }
        assert_eq!(xs(&pool), (0..1000).map(|i| i as f64).collect::<Vec<_>>());
    }

    #[test]
    fn stepping_grows_the_pool_only_past_the_peak_population() {
        let mut world = World::new(Strategy::Pool, 1000, 42);
        let mut peak = world.len();
        let mut capacities = pool_of(&world).capacities();

        for _ in 0..20_000 {
            world.step();
            let pool = pool_of(&world);
            if world.len() <= peak {
                assert_eq!(pool.capacities(), capacities, "frame {}", world.frame());
            }
            peak = peak.max(world.len());
            capacities = pool.capacities();
            // A slot is created only when every existing one is live.
            assert_eq!(pool.slots.len(), peak);
        }
    }

    #[test]
    fn after_warm_up_stepping_does_not_grow_the_pool() {
        // Warm up to a population peak, then walk back well below it: with
        // the population under its old peak, nothing may grow.
        let mut world = World::new(Strategy::Pool, 1000, 3);
        let mut steps_below_peak = 0;
        let mut peak = world.len();
        for _ in 0..2_000 {
            world.step();
            peak = peak.max(world.len());
        }
        let warmed_up = pool_of(&world).capacities();
        for _ in 0..20_000 {
            world.step();
            if world.len() > peak {
                break;
            }
            steps_below_peak += 1;
            assert_eq!(pool_of(&world).capacities(), warmed_up);
        }
        assert!(steps_below_peak > 100, "only {steps_below_peak} steps");
    }
}
