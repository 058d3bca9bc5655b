//! Reading the input files into [`RunStats`], one thread per file (up to the
//! number of cores), with errors that name the file and the line.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use heapsnow::run::lock_owner;
use heapsnow::tsv::Reader;
use indicatif::ProgressBar;

use crate::cli::RunSpec;
use crate::stats::RunStats;

/// Read buffer per file: large reads keep the progress bar's bookkeeping
/// and the system calls out of the profile.
const BUFFER_BYTES: usize = 1 << 20;

/// Reads every run, in parallel. The first error in command-line order wins.
pub fn load_runs(runs: &[RunSpec], progress: &ProgressBar) -> Result<Vec<RunStats>> {
    for run in runs {
        check_is_file(&run.path)?;
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(runs.len());
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<RunStats>>>> =
        runs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(run) = runs.get(i) else { break };
                    let result = load_run(run, progress);
                    *results[i].lock().expect("no worker panics holding it") = Some(result);
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("no worker panics holding it")
                .expect("every run was loaded")
        })
        .collect()
}

/// The bytes there are to read, for the progress bar (unreadable files count 0:
/// their error comes when they are opened).
pub fn total_bytes(runs: &[RunSpec]) -> u64 {
    runs.iter()
        .map(|run| std::fs::metadata(&run.path).map_or(0, |m| m.len()))
        .sum()
}

/// Prints a warning on stderr, above the progress bar. A stderr that cannot
/// be written is no reason to stop.
pub fn warn(progress: &ProgressBar, message: &str) {
    progress.suspend(|| {
        let _ = writeln!(std::io::stderr(), "warning: {message}");
    });
}

/// Why the run that wrote `path` did not finish, if it did not: `particles`
/// writes `summary.json` last, and removes its lock file as it ends, so a
/// lock file without a `summary.json` beside `alloc.tsv` is a run that was
/// killed (or still runs). A file with neither was not written by a
/// `particles` run: nothing is said about it.
fn unfinished(path: &Path) -> Option<String> {
    let dir = folder_of(path);
    if dir.join("summary.json").exists() {
        return None;
    }
    let (owner, running) = lock_owner(dir)?;
    let owner = if owner.is_empty() {
        String::new()
    } else {
        format!(" ({owner})")
    };
    Some(if running {
        format!(
            "the run writing it is still running{owner}: the report covers the rows written so far"
        )
    } else {
        format!(
            "the run did not finish (no summary.json beside it){owner}: it was killed \
             before writing its summary, so its last events may be missing"
        )
    })
}

/// The folder holding `path`, where the run wrote its other files.
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn check_is_file(path: &Path) -> Result<()> {
    if !path.exists() && wrote_no_tsv(folder_of(path)) {
        bail!(
            "{}: the run there wrote no alloc.tsv (--no-tsv: its summary.json says \
             histograms_only); rerun it without --no-tsv to chart its events",
            path.display()
        );
    }
    let metadata = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if metadata.is_dir() {
        let inside = path.join("alloc.tsv");
        let hint = if inside.is_file() {
            format!(" (did you mean {}?)", inside.display())
        } else {
            String::new()
        };
        bail!(
            "{}: is a directory, not an alloc.tsv file{hint}",
            path.display()
        );
    }
    Ok(())
}

/// Whether the run in `dir` kept its events in the histograms only.
fn wrote_no_tsv(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("summary.json")) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .is_ok_and(|summary| summary["histograms_only"] == true)
}

/// Reads one file, streaming.
fn load_run(run: &RunSpec, progress: &ProgressBar) -> Result<RunStats> {
    let path = &run.path;
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let input = BufReader::with_capacity(BUFFER_BYTES, progress.wrap_read(file));
    let located =
        |e: heapsnow::tsv::ReadError| anyhow!("{}:{}: {}", path.display(), e.line, e.kind);
    let mut reader = Reader::new(input).map_err(located)?;
    let mut stats = RunStats::new(run.label.clone(), path.clone());
    while let Some(event) = reader.read_event().map_err(located)? {
        stats.record(&event);
    }
    if let Some(line) = reader.skipped_partial_line() {
        warn(
            progress,
            &format!(
                "{}:{line}: the last line has no newline (a run killed mid-write?): skipped it",
                path.display()
            ),
        );
    }
    stats.unfinished = unfinished(path);
    if let Some(note) = &stats.unfinished {
        warn(progress, &format!("{}: {note}", path.display()));
    }
    if stats.events == 0 {
        bail!(
            "{}: no events: the file holds only a header row",
            path.display()
        );
    }
    stats
        .stacks
        .load(folder_of(path), &|message| warn(progress, message))?;
    Ok(stats)
}
