//! Particles allocated from arenas (`typed_arena`), one arena per generation
//! of births, freed a whole generation at a time.
//!
//! An arena hands out objects with no per-object allocation and frees
//! nothing until it is dropped, all at once. Particles die oldest first, so
//! the world keeps a queue of generations, oldest first, each an arena
//! reserved in one allocation:
//!
//! - births go into the newest generation until it is full; the next birth
//!   opens a new one, sized for half the current population (at least
//!   [`MIN_GENERATION`]), so a frame allocates only every few hundred
//!   births;
//! - a death only counts one more dead particle at the front of the oldest
//!   generation: the dead stay in memory and are skipped;
//! - once a full generation has no live particle left it is retired: the
//!   arena is dropped and its memory freed in one deallocation;
//! - survivors are moved when the oldest generation holds more dead
//!   particles than the whole world has live ones (after the population
//!   crashed): its survivors go into a new arena just big enough for them,
//!   in the same place in the queue, and the old arena is dropped. So the
//!   memory held stays within a small multiple of the population.
//!
//! Age order is the queue order, then allocation order inside an arena, so
//! the oldest particle is always the first live one of the first generation.

use std::cell::RefCell;
use std::collections::VecDeque;

use typed_arena::Arena as TypedArena;

use crate::sim::{Particle, Physics};

/// The smallest generation, in particles (64 bytes each): small worlds still
/// allocate only every few hundred births.
const MIN_GENERATION: usize = 256;

/// Generations of particle arenas, oldest first.
pub(crate) struct Arena {
    generations: VecDeque<Generation>,
    /// Live particles, over all generations.
    len: usize,
    /// Generations dropped so far (all dead, or survivors moved).
    retired: u64,
    /// Arenas reserved so far, each one allocation.
    opened: u64,
}

/// One arena and how much of it is used.
struct Generation {
    /// `typed_arena` iterates only through `&mut` (its `alloc` takes `&self`
    /// and returns `&mut`); the cell lets [`Arena::for_each`], which draws
    /// through `&self`, iterate too.
    particles: RefCell<TypedArena<Particle>>,
    /// Particles it was reserved for; it takes no birth past this.
    capacity: usize,
    /// Particles allocated in it so far.
    born: usize,
    /// Of those, the oldest `dead` have been removed.
    dead: usize,
}

impl Generation {
    fn with_capacity(capacity: usize) -> Generation {
        Generation {
            particles: RefCell::new(TypedArena::with_capacity(capacity)),
            capacity,
            born: 0,
            dead: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.born == self.capacity
    }

    fn live(&self) -> usize {
        self.born - self.dead
    }
}

impl Arena {
    /// One generation reserved for `expected_particles` (at least
    /// [`MIN_GENERATION`]), so the initial particles share one allocation.
    pub(crate) fn with_capacity(expected_particles: usize) -> Arena {
        Arena {
            generations: VecDeque::from([Generation::with_capacity(
                expected_particles.max(MIN_GENERATION),
            )]),
            len: 0,
            retired: 0,
            opened: 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push_newest(&mut self, particle: Particle) {
        if self.generations.back().is_none_or(Generation::is_full) {
            let capacity = (self.len / 2).max(MIN_GENERATION);
            self.generations
                .push_back(Generation::with_capacity(capacity));
            self.opened += 1;
        }
        let newest = self
            .generations
            .back_mut()
            .expect("a generation with room was just ensured");
        newest.particles.get_mut().alloc(particle);
        newest.born += 1;
        self.len += 1;
    }

    pub(crate) fn remove_oldest(&mut self) {
        if self.len == 0 {
            return;
        }
        // With a live particle somewhere, the oldest generation has one:
        // a generation is retired as soon as it is full and all dead, and
        // only the newest can be short of full.
        let oldest = self
            .generations
            .front_mut()
            .expect("a live particle lives in a generation");
        oldest.dead += 1;
        self.len -= 1;
        self.free_the_oldest();
    }

    /// Retires the oldest generation if it is full and all dead, or moves
    /// its survivors into a smaller arena if it holds more dead particles
    /// than the world has live ones.
    fn free_the_oldest(&mut self) {
        let Some(oldest) = self.generations.front_mut() else {
            return;
        };
        if oldest.is_full() && oldest.live() == 0 {
            self.generations.pop_front();
            self.retired += 1;
        } else if oldest.dead >= MIN_GENERATION && oldest.dead > self.len {
            // The room it has left is kept: if it is the newest, it goes on
            // taking births.
            let room = oldest.capacity - oldest.born;
            let mut moved = Generation::with_capacity(oldest.live() + room);
            moved.born = oldest.live();
            moved.particles.get_mut().alloc_extend(
                oldest
                    .particles
                    .get_mut()
                    .iter_mut()
                    .skip(oldest.dead)
                    .map(|p| *p),
            );
            *oldest = moved;
            self.retired += 1;
            self.opened += 1;
        }
    }

    pub(crate) fn update_all(&mut self, physics: Physics) {
        for generation in &mut self.generations {
            for particle in generation
                .particles
                .get_mut()
                .iter_mut()
                .skip(generation.dead)
            {
                particle.update(physics);
            }
        }
    }

    /// Calls `f` on every live particle, oldest first.
    ///
    /// # Panics
    ///
    /// If `f` iterates the same world again (the arena is borrowed mutably
    /// for the walk).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Particle)) {
        for generation in &self.generations {
            let mut particles = generation.particles.borrow_mut();
            for particle in particles.iter_mut().skip(generation.dead) {
                f(particle);
            }
        }
    }

    /// Generations alive.
    #[cfg(test)]
    fn generation_count(&self) -> usize {
        self.generations.len()
    }

    /// Particle slots reserved over all generations: the memory held.
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.generations.iter().map(|g| g.capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::strategy::{Storage, particle_at};
    use crate::sim::{Strategy, World};

    fn xs(arena: &Arena) -> Vec<f64> {
        let mut xs = Vec::new();
        arena.for_each(|p| xs.push(p.position[0]));
        xs
    }

    fn arena_of(world: &World) -> &Arena {
        match &world.storage {
            Storage::Arena(arena) => arena,
            _ => panic!("not an arena world"),
        }
    }

    #[test]
    fn births_fill_one_generation_before_opening_the_next() {
        let mut arena = Arena::with_capacity(1000);
        for i in 0..1000 {
            arena.push_newest(particle_at(i as f64));
        }
        assert_eq!((arena.generation_count(), arena.slots()), (1, 1000));
        // The next birth opens a generation for half the population.
        arena.push_newest(particle_at(1000.0));
        assert_eq!((arena.generation_count(), arena.slots()), (2, 1500));
        for i in 1001..1500 {
            arena.push_newest(particle_at(i as f64));
        }
        assert_eq!(arena.generation_count(), 2);
        assert_eq!(xs(&arena), (0..1500).map(f64::from).collect::<Vec<_>>());
    }

    #[test]
    fn a_generation_is_retired_when_its_last_particle_dies() {
        // Generations of 300, 256 (the minimum) and 278 (556 / 2).
        let mut arena = Arena::with_capacity(300);
        for i in 0..600 {
            arena.push_newest(particle_at(i as f64));
        }
        assert_eq!((arena.generation_count(), arena.slots()), (3, 834));
        for _ in 0..299 {
            arena.remove_oldest();
        }
        assert_eq!((arena.generation_count(), arena.retired), (3, 0));
        arena.remove_oldest();
        assert_eq!((arena.generation_count(), arena.retired), (2, 1));
        assert_eq!(arena.slots(), 256 + 278);
        assert_eq!(xs(&arena), (300..600).map(f64::from).collect::<Vec<_>>());
        for _ in 0..350 {
            arena.remove_oldest();
        }
        assert_eq!((arena.len(), arena.retired), (0, 2));
        // The newest generation keeps its room for the next births.
        assert_eq!(arena.generation_count(), 1);
        arena.push_newest(particle_at(7.0));
        assert_eq!(xs(&arena), [7.0]);
    }

    #[test]
    fn after_a_population_crash_the_survivors_are_moved() {
        let mut arena = Arena::with_capacity(10_000);
        for i in 0..10_000 {
            arena.push_newest(particle_at(i as f64));
        }
        for _ in 0..9_990 {
            arena.remove_oldest();
        }
        // 10 survivors no longer hold a 10,000-particle arena.
        assert!(arena.slots() <= 2 * MIN_GENERATION, "{}", arena.slots());
        assert!(arena.retired > 0);
        assert_eq!(
            xs(&arena),
            (9_990..10_000).map(f64::from).collect::<Vec<_>>()
        );
        // Births and deaths go on in order.
        for i in 10_000..10_600 {
            arena.push_newest(particle_at(i as f64));
        }
        for _ in 0..100 {
            arena.remove_oldest();
        }
        assert_eq!(
            xs(&arena),
            (10_090..10_600).map(f64::from).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_long_run_frees_generations_and_holds_a_bounded_memory() {
        let mut world = World::new(Strategy::Arena, 1000, 42);
        let frames = 50_000;
        for _ in 0..frames {
            world.step();
            let arena = arena_of(&world);
            assert!(arena.generation_count() <= 6, "frame {}", world.frame());
            assert!(
                arena.slots() <= 3 * world.len() + 3 * MIN_GENERATION,
                "frame {}: {} slots for {} particles",
                world.frame(),
                arena.slots(),
                world.len()
            );
        }
        let arena = arena_of(&world);
        // Memory is given back over time, a generation at a time...
        assert!(arena.retired > 50, "{} retired", arena.retired);
        // ...and arenas are allocated rarely: about one per 500 births.
        assert!(
            arena.opened * 200 < frames,
            "{} arenas in {frames} frames",
            arena.opened
        );
    }
}
