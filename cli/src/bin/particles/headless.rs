//! The benchmark mode: worlds stepped as fast as they go on their own
//! threads, no display, while the main thread watches the clock, the signals
//! and the recorder, and shows progress.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use heapsnow::recorder;
use heapsnow_cli::sim::World;

use crate::cli::Config;
use crate::progress;
use crate::recording::{RunRecorder, RunResult, SimOutcome};
use crate::signals::Signals;

/// How often the main thread looks at the run.
const POLL: Duration = Duration::from_millis(20);

/// What one simulation thread reports when it ends.
struct WorldEnd {
    thread_number: u32,
    particles: u64,
}

/// The seed of world `index`: world 0 gets `seed` itself, so one thread
/// reproduces the single-world run.
pub fn world_seed(seed: u64, index: u32) -> u64 {
    seed ^ u64::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

pub fn run(config: &Config, recorder: RunRecorder, signals: &Signals) -> Result<RunResult> {
    // The main thread only starts, watches and ends the worlds: none of its
    // work (thread handles, the progress bar, polling) is the measured
    // program, so none of it is recorded, and a seed gives the same events
    // whether or not stderr is a terminal.
    recorder::without_recording(|| watch(config, recorder, signals))
}

fn watch(config: &Config, recorder: RunRecorder, signals: &Signals) -> Result<RunResult> {
    let stop = Arc::new(AtomicBool::new(false));
    let frames_done: Arc<Vec<AtomicU64>> =
        Arc::new((0..config.threads).map(|_| AtomicU64::new(0)).collect());
    let progress = progress::bar(config);
    let started = Instant::now();
    let worlds = (0..config.threads)
        .map(|index| spawn_world(config, index, Arc::clone(&stop), Arc::clone(&frames_done)))
        .collect::<Result<Vec<_>>>()?;

    let mut signal = None;
    while !worlds.iter().all(JoinHandle::is_finished) {
        signal = signal.or_else(|| signals.received());
        let out_of_time = config
            .duration
            .is_some_and(|limit| started.elapsed() >= limit);
        if signal.is_some() || out_of_time || recorder.failed() {
            stop.store(true, Ordering::Relaxed);
        }
        progress.update(
            frames_done.iter().map(|f| f.load(Ordering::Relaxed)).sum(),
            started.elapsed(),
        );
        std::thread::sleep(POLL);
    }

    let mut sim = SimOutcome {
        signal: signal.or_else(|| signals.received()),
        ..SimOutcome::default()
    };
    for world in worlds {
        match world.join() {
            Ok(end) => {
                sim.sim_threads.push(end.thread_number);
                sim.particles_final += end.particles;
            }
            Err(panic) => {
                let message = panic_message(&*panic);
                sim.error
                    .get_or_insert(format!("the simulation panicked: {message}"));
            }
        }
    }
    sim.wall_s = started.elapsed().as_secs_f64();
    sim.frames = frames_done.iter().map(|f| f.load(Ordering::Relaxed)).sum();
    progress.finish(sim.frames);
    recorder.finish(config, sim)
}

fn spawn_world(
    config: &Config,
    index: u32,
    stop: Arc<AtomicBool>,
    frames_done: Arc<Vec<AtomicU64>>,
) -> Result<JoinHandle<WorldEnd>> {
    let (strategy, physics, particles, seed, frames) = (
        config.strategy,
        config.physics,
        config.particles,
        config.seed,
        config.frames,
    );
    let panic_after_frames = config.panic_after_frames;
    std::thread::Builder::new()
        .name(format!("world-{index}"))
        .spawn(move || {
            let thread_number = recorder::thread_number();
            let mut world =
                World::new(strategy, particles, world_seed(seed, index)).with_physics(physics);
            let limit = frames.unwrap_or(u64::MAX);
            let counter = &frames_done[index as usize];
            let mut frame = 0;
            while frame < limit && !stop.load(Ordering::Relaxed) {
                world.step();
                frame += 1;
                counter.store(frame, Ordering::Relaxed);
                if panic_after_frames == Some(frame) {
                    panic!("asked to panic after {frame} frames (--panic-after-frames)");
                }
            }
            WorldEnd {
                thread_number,
                particles: world.len() as u64,
            }
        })
        .context("cannot start a simulation thread")
}

pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_zero_keeps_the_seed_and_others_differ() {
        assert_eq!(world_seed(42, 0), 42);
        let seeds: std::collections::HashSet<u64> = (0..64).map(|i| world_seed(42, i)).collect();
        assert_eq!(seeds.len(), 64);
    }
}
