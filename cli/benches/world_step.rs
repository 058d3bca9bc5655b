//! Time of one `World::step` for each storage strategy (boxed, inline, pool,
//! arena), at 1,000, 10,000 and 100,000 particles.
//!
//! Run: `cargo bench --no-default-features --bench world_step`
//!
//! The population random-walks (up to 3 births or deaths a frame), and over
//! the millions of frames criterion runs at small sizes it would drift far
//! from the target, even to zero. So the frames are timed in short chunks on
//! one long-lived world, and between chunks, outside the timed region, a
//! world that has drifted more than 5% from its target is replaced by a
//! fresh one (new seed). Every timed frame is therefore a real step of a
//! world with its population near the target, and the cost of building and
//! dropping worlds is never counted.
//!
//! A world's age matters as much as its size: from about frame 1980 on, a
//! particle's acceleration is a subnormal float and stays one (see
//! `Particle::update`), and subnormal arithmetic makes every frame some 25
//! times slower on x86, whatever the storage. The `world_step/*` groups
//! compare storage on young worlds (replaced before any particle gets that
//! old); `world_step_aged/*` shows the aged regime that long runs reach, and
//! `world_step_aged_flush/*` the same worlds under `Physics::Flush`, which
//! sets those accelerations to zero instead.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use heapsnow_cli::sim::{Physics, Strategy, World};

/// Population targets, one benchmark group each.
const POPULATIONS: [usize; 3] = [1_000, 10_000, 100_000];

/// Frames timed between two population checks: short enough that the
/// population drifts little within a chunk (about 16 particles), long enough
/// that reading the clock costs nothing next to the frames.
const FRAMES_PER_CHUNK: u64 = 64;

/// Population for the aged-world group: one size is enough to show it.
const AGED_POPULATION: usize = 10_000;

/// How far (as a fraction of the target) the population may drift before
/// the world is replaced.
const MAX_DRIFT: f64 = 0.05;

/// A young world is replaced before it reaches this frame, so that no
/// particle's acceleration has become subnormal (that starts near 1980).
const YOUNG_MAX_FRAMES: u64 = 1_900;

/// An aged world is stepped this far before it is timed: every particle
/// born at the start then has a subnormal acceleration.
const AGED_MIN_FRAMES: u64 = 2_100;

/// Which part of a world's life is timed.
#[derive(Clone, Copy, PartialEq)]
enum Age {
    Young,
    Aged,
}

/// A world kept near a target population and in one [`Age`].
struct NearTarget {
    strategy: Strategy,
    physics: Physics,
    target: usize,
    age: Age,
    next_seed: u64,
    world: World,
}

impl NearTarget {
    fn new(strategy: Strategy, physics: Physics, target: usize, age: Age) -> NearTarget {
        let world = fresh_world(strategy, physics, target, age, 0);
        NearTarget {
            strategy,
            physics,
            target,
            age,
            next_seed: 1,
            world,
        }
    }

    /// Replaces the world if it has drifted too far or grown too old
    /// (untimed).
    fn recentre(&mut self) {
        let drift = self.world.len().abs_diff(self.target) as f64 / self.target as f64;
        let too_old = self.age == Age::Young && self.world.frame() >= YOUNG_MAX_FRAMES;
        if drift > MAX_DRIFT || too_old {
            self.world = fresh_world(
                self.strategy,
                self.physics,
                self.target,
                self.age,
                self.next_seed,
            );
            self.next_seed += 1;
        }
    }

    /// Total time of `frames` steps, timed in chunks.
    fn time_steps(&mut self, frames: u64) -> Duration {
        let mut elapsed = Duration::ZERO;
        let mut remaining = frames;
        while remaining > 0 {
            self.recentre();
            let chunk = remaining.min(FRAMES_PER_CHUNK);
            let start = Instant::now();
            for _ in 0..chunk {
                self.world.step();
            }
            elapsed += start.elapsed();
            black_box(&self.world);
            remaining -= chunk;
        }
        elapsed
    }
}

/// A new world of `target` particles, stepped into the aged regime if asked.
fn fresh_world(strategy: Strategy, physics: Physics, target: usize, age: Age, seed: u64) -> World {
    let mut world = World::new(strategy, target, seed).with_physics(physics);
    if age == Age::Aged {
        for _ in 0..AGED_MIN_FRAMES {
            world.step();
        }
    }
    world
}

fn bench_group(c: &mut Criterion, name: &str, physics: Physics, target: usize, age: Age) {
    let mut group = c.benchmark_group(format!("{name}/{target}"));
    if target >= 100_000 || age == Age::Aged {
        // A frame takes long enough here that criterion's default linear
        // sampling would need far more than the measurement time.
        group.sampling_mode(SamplingMode::Flat).sample_size(20);
    }
    for strategy in Strategy::ALL {
        let mut near = NearTarget::new(strategy, physics, target, age);
        group.bench_function(BenchmarkId::from_parameter(strategy), |b| {
            b.iter_custom(|frames| near.time_steps(frames));
        });
    }
    group.finish();
}

fn world_step(c: &mut Criterion) {
    for target in POPULATIONS {
        bench_group(c, "world_step", Physics::Classic, target, Age::Young);
    }
}

fn world_step_aged(c: &mut Criterion) {
    bench_group(
        c,
        "world_step_aged",
        Physics::Classic,
        AGED_POPULATION,
        Age::Aged,
    );
    bench_group(
        c,
        "world_step_aged_flush",
        Physics::Flush,
        AGED_POPULATION,
        Age::Aged,
    );
}

criterion_group!(benches, world_step, world_step_aged);
criterion_main!(benches);
