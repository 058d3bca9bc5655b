//! The recorder's side of a run, shared by the headless mode and the window:
//! check the output folder, start recording, and on the way out drain
//! everything and write the three files.

use std::io::Write;

use anyhow::{Context, Result};
use heapsnow::recorder::{Config as RecorderConfig, Recording};
use heapsnow::run::{OutputDir, OutputError, RunSink, Tap};
use heapsnow::stats::{LatencyHistograms, Summary};
use heapsnow::tsv::TsvFile;
use heapsnow_cli::backing::BACKING_NAME;

use crate::GLOBAL;
use crate::cli::Config;

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
pub struct RunRecorder {
    output: OutputDir,
    events: Events,
}

/// Where the run's events go.
enum Events {
    /// To the recorder, which writes `alloc.tsv`.
    Recorded(Recording<RunSink>),
    /// Nowhere (`--no-record`): `alloc.tsv` keeps only its header.
    NotRecorded(TsvFile),
}

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
        let (output, tsv) = OutputDir::prepare(&config.out).map_err(StartFailure::Output)?;
        let events = if config.record {
            let mut sink = RunSink::new(tsv);
            if let Some(tap) = tap {
                sink = sink.with_tap(tap);
            }
            let recorder_config = RecorderConfig {
                capacity_events: config.buffer_events,
                ..RecorderConfig::default()
            };
            Events::Recorded(
                GLOBAL
                    .start(recorder_config, sink)
                    .context("cannot start the recorder")
                    .map_err(StartFailure::Other)?,
            )
        } else {
            Events::NotRecorded(tsv)
        };
        Ok(RunRecorder { output, events })
    }

    /// True once writing `alloc.tsv` has failed: the run should stop.
    pub fn failed(&self) -> bool {
        matches!(&self.events, Events::Recorded(recording) if recording.sink_failed())
    }

    /// Stops recording, drains every event into `alloc.tsv`, and writes
    /// `latency.hgrm` and `summary.json`. Both describe the rows that reached
    /// `alloc.tsv` (`events_written`), also when writing it failed.
    pub fn finish(self, config: &Config, sim: SimOutcome) -> Result<RunResult> {
        let mut summary = Summary {
            events_recorded: 0,
            events_written: 0,
            events_dropped: 0,
            interrupted: sim.signal.is_some(),
            kinds: Default::default(),
            wait_ns: 0,
            timer_floor_ns: 0.0,
            frames: sim.frames,
            particles_final: sim.particles_final,
            wall_s: sim.wall_s,
            allocator: BACKING_NAME.to_owned(),
            strategy: config.strategy.as_str().to_owned(),
            threads: config.threads,
            seed: config.seed,
            command: config.command.clone(),
            recording: config.record,
            clock: String::new(),
            timer_offset_ns: 0.0,
            waits: 0,
            frames_per_s: if sim.wall_s > 0.0 {
                sim.frames as f64 / sim.wall_s
            } else {
                0.0
            },
            particles_initial: config.particles as u64,
            sim_threads: sim.sim_threads,
            thread_events: Default::default(),
            error: sim.error,
        };
        let mut write_error = None;
        let histograms = match self.events {
            Events::Recorded(recording) => {
                let finished = recording.finish().context("recording failed")?;
                summary.events_recorded = finished.events_recorded;
                summary.events_written = finished.sink.tsv.rows_written();
                summary.events_dropped = finished.events_dropped;
                if finished.events_dropped > 0 {
                    // Like every message of the binary: a closed stderr is no panic.
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: {} events were dropped: the recorder's drain made no progress \
                         for {:?} while its buffer was full",
                        finished.events_dropped,
                        heapsnow::recorder::DEFAULT_STALL_LIMIT
                    );
                }
                summary.wait_ns = finished.wait_ns;
                summary.waits = finished.waits;
                summary.timer_floor_ns = finished.calibration.resolution_ns;
                summary.timer_offset_ns = finished.calibration.offset_ns;
                summary.clock = finished.calibration.source.name().to_owned();
                if let Some(e) = finished.sink_error {
                    let e = anyhow::Error::new(e).context(format!(
                        "cannot write {}",
                        finished.sink.tsv.path().display()
                    ));
                    summary.error.get_or_insert_with(|| format!("{e:#}"));
                    write_error = Some(e);
                }
                finished.sink.histograms
            }
            Events::NotRecorded(mut tsv) => {
                tsv.flush()
                    .with_context(|| format!("cannot write {}", tsv.path().display()))?;
                LatencyHistograms::new()
            }
        };
        summary.kinds = histograms.summaries();
        summary.thread_events = histograms.per_thread().clone();
        // summary.json last: its presence says the run finished its files.
        self.output.write_hgrm(&histograms.all())?;
        self.output.write_summary(&summary)?;
        Ok(RunResult {
            summary,
            output: self.output,
            write_error,
        })
    }
}

/// Why a run could not start.
#[derive(Debug)]
pub enum StartFailure {
    /// `--out` is unusable: a usage error, reported before anything runs.
    Output(OutputError),
    Other(anyhow::Error),
}
