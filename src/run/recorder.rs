//! [`Recorder`]: record a whole program into a folder in one line, and get
//! `alloc.tsv`, `summary.json` and `latency.hgrm` when it ends.

use std::error::Error;
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::{OutputDir, OutputError, RunSink, Tap};
use crate::recorder::{Config, FinishError, Recording, ReportingAllocator, StartError};
use crate::stacks::{
    SAMPLED_FOLDED, SLOW_FOLDED, STACK_FILES, STACKS_TSV, StackTable, Symbolizer, write_folded,
    write_stacks_tsv,
};
use crate::stats::{LatencyHistograms, RunSummary};
use crate::tsv::TsvFile;

/// Records every allocation of the program into a folder until it is
/// dropped or [finished](Recorder::finish), then writes the folder's three
/// files and prints one line on stderr saying where they are.
///
/// ```no_run
/// use std::alloc::System;
/// use heapsnow::recorder::ReportingAllocator;
///
/// #[global_allocator]
/// static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);
///
/// fn main() -> Result<(), heapsnow::RecorderError> {
///     let _recorder = heapsnow::Recorder::start_in(&GLOBAL, "alloc-results")?;
///     let squares: Vec<u64> = (0..1000).map(|n| n * n).collect();
///     drop(squares);
///     Ok(())
/// } // `_recorder` is dropped here: the files are written.
/// ```
///
/// The folder is locked for this recording (see [`OutputDir::prepare`]):
/// an older run's files in it are removed at the start. At the end
/// `latency.hgrm`, then `summary.json` ([`RunSummary`]), are written whole.
///
/// Bind the recorder to a named variable: `let _ = ...` drops it at once,
/// and the recording is empty.
///
/// Dropping it finishes the recording too; any error is then printed as one
/// line on stderr, never a panic. Call [`finish`](Recorder::finish) to get
/// the error (and the summary) instead.
#[must_use = "the recording ends when the Recorder is dropped: bind it, as in `let _recorder = ...`"]
pub struct Recorder {
    inner: Option<Inner>,
}

struct Inner {
    output: OutputDir,
    events: Events,
    command: String,
    started: Instant,
    stacks_over_ns: Option<u64>,
    stacks_every: Option<u64>,
    /// No `alloc.tsv` (`Options::tsv` false).
    histograms_only: bool,
}

/// Where the events go.
enum Events {
    /// To the recorder, which writes `alloc.tsv`.
    Recorded(Recording<RunSink>),
    /// Nowhere (`Options::record` false): `alloc.tsv` keeps only its header
    /// (if there is one).
    NotRecorded(Option<TsvFile>),
}

/// How a [`Recorder`] records. `Options::default()` is what
/// [`Recorder::start_in`] uses.
pub struct Options {
    /// The recorder's buffer, clock and stall limit.
    pub config: Config,
    /// False to record nothing and write the files of an empty recording: a
    /// baseline to compare a recorded run with.
    pub record: bool,
    /// False to write no `alloc.tsv`: every event goes into the latency
    /// histograms only (`summary.json`, `latency.hgrm`). For long runs, where
    /// the file would grow by about 56 bytes an event; formatting and
    /// writing it is also most of the recorder's CPU.
    pub tsv: bool,
    /// Also hands every batch of events to this function, on the drain
    /// thread (see [`RunSink::with_tap`]).
    pub tap: Option<Tap>,
    /// The command line for `summary.json`; `None` for this process's own
    /// ([`command_line`](super::command_line)).
    pub command: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            config: Config::default(),
            record: true,
            tsv: true,
            tap: None,
            command: None,
        }
    }
}

/// Why a [`Recorder`] could not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// The folder cannot be used: not writable, or another run owns it.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The recorder could not start (already recording, no memory for its
    /// buffer, no drain thread).
    #[error("cannot start recording")]
    Start(#[from] StartError),
    /// The recording ended badly (a sink or drain that panicked or stalled).
    #[error("the recording failed")]
    Finish(#[from] FinishError),
    /// Writing `alloc.tsv` failed (a full disk): it holds the whole rows
    /// written until then, and `summary.json` and `latency.hgrm` describe
    /// them.
    #[error("cannot write {}", path.display())]
    Events {
        /// `alloc.tsv`.
        path: std::path::PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
}

/// What a finished [`Recorder`] wrote.
#[derive(Debug)]
pub struct Report<S = RunSummary> {
    /// What `summary.json` says.
    pub summary: S,
    /// The folder, still locked until the report is dropped.
    pub output: OutputDir,
    /// The histograms behind `summary.json` and `latency.hgrm`.
    pub histograms: LatencyHistograms,
    /// Why writing `alloc.tsv` failed, if it did (see
    /// [`RecorderError::Events`]); [`Recorder::finish`] returns it as its error.
    pub events_error: Option<RecorderError>,
}

impl Recorder {
    /// Starts recording every allocation of the process through `allocator`
    /// (the program's `#[global_allocator]`) into the folder `dir`, created
    /// if needed. Fails before anything is recorded if the folder cannot be
    /// written or another run owns it.
    pub fn start_in<A>(
        allocator: &'static ReportingAllocator<A>,
        dir: impl AsRef<Path>,
    ) -> Result<Recorder, RecorderError> {
        Recorder::start_with(allocator, dir, Options::default())
    }

    /// [`start_in`](Recorder::start_in) with options.
    pub fn start_with<A>(
        allocator: &'static ReportingAllocator<A>,
        dir: impl AsRef<Path>,
        options: Options,
    ) -> Result<Recorder, RecorderError> {
        let (output, tsv) = if options.tsv {
            let (output, tsv) = OutputDir::prepare(dir.as_ref())?;
            (output, Some(tsv))
        } else {
            (OutputDir::prepare_histograms_only(dir.as_ref())?, None)
        };
        let config = options.config;
        let stacks_over_ns = config
            .stacks_over
            .map(|over| u64::try_from(over.as_nanos()).unwrap_or(u64::MAX));
        let stacks_every = config.stacks_every.map(u64::from);
        let events = if options.record {
            let mut sink = match tsv {
                Some(tsv) => RunSink::new(tsv),
                None => RunSink::histograms_only(),
            };
            if let Some(tap) = options.tap {
                sink = sink.with_tap(tap);
            }
            Events::Recorded(allocator.start(options.config, sink)?)
        } else {
            Events::NotRecorded(tsv)
        };
        Ok(Recorder {
            inner: Some(Inner {
                output,
                events,
                command: options.command.unwrap_or_else(super::command_line),
                started: Instant::now(),
                stacks_over_ns,
                stacks_every,
                histograms_only: !options.tsv,
            }),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        self.inner().output.dir()
    }

    /// True once writing `alloc.tsv` has failed: a long run may as well stop.
    pub fn failed(&self) -> bool {
        matches!(&self.inner().events, Events::Recorded(recording) if recording.sink_failed())
    }

    /// Stops recording, writes the three files and prints one line on stderr
    /// saying where they are.
    pub fn finish(mut self) -> Result<Report, RecorderError> {
        let inner = self.take();
        let mut report = inner.finish_with(std::mem::take)?;
        announce(&report);
        match report.events_error.take() {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// Stops recording and writes the three files, with the keys of
    /// `summary.json` that `complete` returns: it gets the [`RunSummary`] of
    /// the recording to adjust or extend. Prints nothing.
    ///
    /// Unlike [`finish`](Recorder::finish), this returns the report also when
    /// writing `alloc.tsv` failed: see [`Report::events_error`].
    pub fn finish_with<S: Serialize>(
        mut self,
        complete: impl FnOnce(&mut RunSummary) -> S,
    ) -> Result<Report<S>, RecorderError> {
        self.take().finish_with(complete)
    }

    fn inner(&self) -> &Inner {
        self.inner
            .as_ref()
            .expect("a Recorder holds its recording until it finishes")
    }

    fn take(&mut self) -> Inner {
        self.inner
            .take()
            .expect("a Recorder holds its recording until it finishes")
    }
}

impl Inner {
    fn finish_with<S: Serialize>(
        self,
        complete: impl FnOnce(&mut RunSummary) -> S,
    ) -> Result<Report<S>, RecorderError> {
        let mut run = RunSummary {
            recording: matches!(self.events, Events::Recorded(_)),
            histograms_only: self.histograms_only,
            command: self.command,
            wall_s: self.started.elapsed().as_secs_f64(),
            stacks_over_ns: self.stacks_over_ns,
            stacks_every: self.stacks_every,
            ..RunSummary::default()
        };
        let mut stacks = None;
        let mut events_error = None;
        let histograms = match self.events {
            Events::Recorded(recording) => {
                let finished = recording.finish()?;
                run.events_recorded = finished.events_recorded;
                run.events_written = finished.sink.tsv.as_ref().map_or(0, TsvFile::rows_written);
                run.events_dropped = finished.events_dropped;
                run.wait_ns = finished.wait_ns;
                run.waits = finished.waits;
                run.spills = finished.spills;
                run.timer_floor_ns = finished.calibration.resolution_ns;
                run.timer_offset_ns = finished.calibration.offset_ns;
                run.clock = finished.calibration.source.name().to_owned();
                run.wall_s = finished.wall_s;
                if let Some(source) = finished.sink_error {
                    let error = RecorderError::Events {
                        path: self.output.tsv_path(),
                        source,
                    };
                    run.error = Some(one_line(&error));
                    events_error = Some(error);
                }
                stacks = Some(finished.sink.stacks);
                finished.sink.histograms
            }
            Events::NotRecorded(tsv) => {
                if let Some(mut tsv) = tsv {
                    tsv.flush().map_err(|source| RecorderError::Events {
                        path: tsv.path().to_owned(),
                        source,
                    })?;
                }
                LatencyHistograms::new()
            }
        };
        run.kinds = histograms.summaries();
        run.thread_events = histograms.per_thread();
        if let Some(stacks) = stacks.filter(|_| run.captures_stacks()) {
            run.stacks_captured = stacks.events();
            run.stacks_distinct = stacks.len() as u64;
            write_stack_files(&self.output, &stacks, run.stacks_every.unwrap_or(0))?;
        }
        let summary = complete(&mut run);
        // summary.json last: its presence says the run finished its files.
        self.output.write_hgrm(&histograms.all())?;
        self.output.write_summary(&summary)?;
        Ok(Report {
            summary,
            output: self.output,
            histograms,
            events_error,
        })
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        match inner.finish_with(std::mem::take) {
            Ok(report) => {
                announce(&report);
                if let Some(error) = &report.events_error {
                    print_error(error);
                }
            }
            Err(error) => print_error(&error),
        }
    }
}

/// Names the captured stacks' frames and writes `stacks.tsv`,
/// `slow-stacks.folded` and `sampled-stacks.folded` (each sampled call
/// stands for `every` allocations).
fn write_stack_files(
    output: &OutputDir,
    stacks: &StackTable,
    every: u64,
) -> Result<(), OutputError> {
    let mut symbolizer = Symbolizer::new();
    let mut joined = Vec::new();
    output.write_file(STACKS_TSV, |out| {
        joined = write_stacks_tsv(out, stacks, &mut symbolizer)?;
        Ok(())
    })?;
    output.write_file(SLOW_FOLDED, |out| {
        write_folded(out, stacks, &joined, |weights| weights.slow_ns).map(drop)
    })?;
    output.write_file(SAMPLED_FOLDED, |out| {
        write_folded(out, stacks, &joined, |weights| {
            weights.sampled_events.saturating_mul(every)
        })
        .map(drop)
    })
}

/// An error and its causes on one line, as `anyhow` prints them with `{:#}`.
fn one_line(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

// A stderr that cannot be written (a closed terminal) is no reason to panic.
fn announce(report: &Report) {
    let mut files = if report.summary.histograms_only {
        Vec::new()
    } else {
        vec!["alloc.tsv"]
    };
    files.extend(["summary.json", "latency.hgrm"]);
    if report.summary.captures_stacks() {
        files.extend(STACK_FILES);
    }
    let _ = writeln!(
        io::stderr(),
        "heapsnow: wrote {} allocation events to {} ({})",
        report.summary.events_written,
        report.output.dir().display(),
        files.join(", ")
    );
}

fn print_error(error: &dyn Error) {
    let _ = writeln!(io::stderr(), "heapsnow: {}", one_line(error));
}
