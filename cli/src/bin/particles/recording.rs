//! The recorder's side of a run, shared by the headless mode and the window:
//! the library's [`Recorder`] with the simulation's own keys added to
//! `summary.json`.

use std::io::Write;

use anyhow::Result;
use heapsnow::Recorder;
use heapsnow::recorder::Config as RecorderConfig;
use heapsnow::run::{Options, OutputDir, RecorderError, Tap};
use heapsnow::stats::RunSummary;
use heapsnow_cli::backing::BACKING_NAME;
use serde::{Deserialize, Serialize};

use crate::GLOBAL;
use crate::cli::Config;

/// `particles`' `summary.json`: the keys of any recording, then the
/// simulation's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(flatten)]
    pub run: RunSummary,
    /// True when a signal ended the run.
    pub interrupted: bool,
    /// Frames simulated, over all worlds.
    pub frames: u64,
    /// Particles alive at the end, over all worlds.
    pub particles_final: u64,
    /// The backing allocator: `system`, `mimalloc` or `jemalloc`.
    pub allocator: String,
    /// The particle storage: `boxed`, `inline`, `pool` or `arena`.
    pub strategy: String,
    /// The physics: `classic` (the book's) or `flush` (subnormal
    /// accelerations set to zero). Files from before the option say nothing:
    /// they ran the classic physics.
    #[serde(default = "classic_physics")]
    pub physics: String,
    /// Simulation threads (one world each).
    pub threads: u32,
    /// The seed of the first world.
    pub seed: u64,
    /// Frames per second over all worlds.
    pub frames_per_s: f64,
    /// Particles per world at the start.
    pub particles_initial: u64,
    /// Thread numbers (as in `alloc.tsv`) of the simulation threads.
    pub sim_threads: Vec<u32>,
}

fn classic_physics() -> String {
    "classic".to_owned()
}

/// What the simulation did, whichever way it ended.
#[derive(Debug, Default)]
pub struct SimOutcome {
    pub frames: u64,
    pub particles_final: u64,
    pub wall_s: f64,
    /// Thread numbers of the simulation threads.
    pub sim_threads: Vec<u32>,
    /// The stop signal, if one ended the run.
    pub signal: Option<i32>,
    /// Why the simulation failed (a panic), if it did.
    pub error: Option<String>,
}

/// A run's output folder and, unless `--no-record`, its recording.
pub struct RunRecorder(Recorder);

/// The files are written; this is what they say.
pub struct RunResult {
    pub summary: Summary,
    pub output: OutputDir,
    /// Why writing `alloc.tsv` failed, if it did.
    pub write_error: Option<anyhow::Error>,
}

impl RunRecorder {
    /// Checks the output folder (nothing runs if it is unusable), then starts
    /// recording unless the run has `--no-record`.
    pub fn start(config: &Config, tap: Option<Tap>) -> Result<RunRecorder, StartFailure> {
        let options = Options {
            config: RecorderConfig {
                capacity_events: config.buffer_events,
                spill_buffers: config.spill_buffers,
                stacks_over: config.stacks_over,
                stacks_every: config.stacks_every,
                ..RecorderConfig::default()
            },
            record: config.record,
            tsv: config.tsv,
            tap,
            command: Some(config.command.clone()),
        };
        match Recorder::start_with(&GLOBAL, &config.out, options) {
            Ok(recorder) => Ok(RunRecorder(recorder)),
            Err(RecorderError::Output(e)) => Err(StartFailure::Output(e.into())),
            Err(e) => Err(StartFailure::Other(e.into())),
        }
    }

    /// True once writing `alloc.tsv` has failed: the run should stop.
    pub fn failed(&self) -> bool {
        self.0.failed()
    }

    /// Stops recording, drains every event into `alloc.tsv`, and writes
    /// `latency.hgrm` and `summary.json`. Both describe the rows that reached
    /// `alloc.tsv` (`events_written`), also when writing it failed.
    pub fn finish(self, config: &Config, sim: SimOutcome) -> Result<RunResult> {
        let report = self.0.finish_with(|run| {
            run.wall_s = sim.wall_s;
            if sim.error.is_some() {
                run.error = sim.error;
            }
            Summary {
                run: std::mem::take(run),
                interrupted: sim.signal.is_some(),
                frames: sim.frames,
                particles_final: sim.particles_final,
                allocator: BACKING_NAME.to_owned(),
                strategy: config.strategy.as_str().to_owned(),
                physics: config.physics.as_str().to_owned(),
                threads: config.threads,
                seed: config.seed,
                frames_per_s: if sim.wall_s > 0.0 {
                    sim.frames as f64 / sim.wall_s
                } else {
                    0.0
                },
                particles_initial: config.particles as u64,
                sim_threads: sim.sim_threads,
            }
        })?;
        if report.summary.run.events_dropped > 0 {
            // Like every message of the binary: a closed stderr is no panic.
            let _ = writeln!(
                std::io::stderr(),
                "warning: {} events were dropped: the recorder's drain made no progress \
                 for {:?} while its buffer was full",
                report.summary.run.events_dropped,
                heapsnow::recorder::DEFAULT_STALL_LIMIT
            );
        }
        Ok(RunResult {
            summary: report.summary,
            output: report.output,
            write_error: report.events_error.map(anyhow::Error::new),
        })
    }
}

/// Why a run could not start.
#[derive(Debug)]
pub enum StartFailure {
    /// `--out` is unusable: a usage error, reported before anything runs.
    Output(anyhow::Error),
    Other(anyhow::Error),
}
