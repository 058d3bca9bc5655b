//! The output folder of a run: locked for one run, cleared of an older
//! run's files and checked before anything runs, written so that each file
//! is whole.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lock::{DirLock, LockError};

use serde::Serialize;

use crate::stacks::STACK_FILES;
use crate::stats::{SIGNIFICANT_DIGITS, write_hgrm};
use crate::tsv::TsvFile;

/// The output folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file or the folder cannot be written.
    #[error("cannot write to {}", path.display())]
    Io {
        /// The folder or file at fault.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Another run writes into the folder.
    #[error(
        "{} is in use by another run ({}): one run at a time writes into a folder; wait for it to end or choose another folder",
        dir.display(),
        if owner.is_empty() { "it has just started" } else { owner }
    )]
    Busy {
        /// The folder.
        dir: PathBuf,
        /// The other run's pid and command line.
        owner: String,
    },
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A folder holding `alloc.tsv`, `summary.json` and `latency.hgrm`, locked
/// for one run at a time.
///
/// `summary.json` and `latency.hgrm` are each written whole or not at all
/// (a temporary file renamed into place), `summary.json` last: while it is
/// missing, the run has not finished.
#[derive(Debug, Clone)]
pub struct OutputDir {
    dir: PathBuf,
    _lock: Arc<DirLock>,
}

impl OutputDir {
    /// Creates the folder if needed, locks it for this run (see
    /// [`LOCK_FILE`](super::LOCK_FILE)), removes the files of an older run
    /// and makes sure each file can be written, so that a bad `--out` fails
    /// before any work is done and leaves nothing behind. Returns the folder
    /// and `alloc.tsv`, created with its header row.
    pub fn prepare(dir: &Path) -> Result<(OutputDir, TsvFile), OutputError> {
        let output = OutputDir::prepare_dir(dir)?;
        let tsv_path = output.tsv_path();
        let tsv = TsvFile::create(&tsv_path).map_err(at(&tsv_path))?;
        Ok((output, tsv))
    }

    /// [`prepare`](OutputDir::prepare) for a recording that keeps its
    /// events in the histograms only: an older run's `alloc.tsv` is removed
    /// and none is made.
    pub fn prepare_histograms_only(dir: &Path) -> Result<OutputDir, OutputError> {
        let output = OutputDir::prepare_dir(dir)?;
        remove_if_present(&output.tsv_path())?;
        Ok(output)
    }

    /// Creates and locks the folder, and clears and checks every file but
    /// `alloc.tsv`.
    fn prepare_dir(dir: &Path) -> Result<OutputDir, OutputError> {
        std::fs::create_dir_all(dir).map_err(at(dir))?;
        let lock = DirLock::acquire(dir).map_err(|e| match e {
            LockError::Busy { owner } => OutputError::Busy {
                dir: dir.to_owned(),
                owner,
            },
            LockError::Io(source) => at(&dir.join(super::LOCK_FILE))(source),
        })?;
        let output = OutputDir {
            dir: dir.to_owned(),
            _lock: Arc::new(lock),
        };
        // Results of an older run go first, so the folder never mixes two.
        let stack_files = STACK_FILES.map(|name| dir.join(name));
        for path in [output.summary_path(), output.hgrm_path()] {
            remove_if_present(&path)?;
            let temporary = temporary_path(&path);
            remove_if_present(&temporary)?;
            File::create(&temporary).map_err(at(&temporary))?;
            remove_if_present(&temporary)?;
        }
        for path in &stack_files {
            remove_if_present(path)?;
            remove_if_present(&temporary_path(path))?;
        }
        Ok(output)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `alloc.tsv`.
    pub fn tsv_path(&self) -> PathBuf {
        self.dir.join("alloc.tsv")
    }

    /// `summary.json`.
    pub fn summary_path(&self) -> PathBuf {
        self.dir.join("summary.json")
    }

    /// `latency.hgrm`.
    pub fn hgrm_path(&self) -> PathBuf {
        self.dir.join("latency.hgrm")
    }

    /// Writes `summary.json`, whole or not at all: a
    /// [`RunSummary`](crate::stats::RunSummary), or a program's own document
    /// with one flattened in.
    pub fn write_summary(&self, summary: &impl Serialize) -> Result<(), OutputError> {
        let path = self.summary_path();
        let mut json = serde_json::to_vec_pretty(summary).map_err(|e| at(&path)(e.into()))?;
        json.push(b'\n');
        write_whole(&path, |out| out.write_all(&json))
    }

    /// Writes the file `name` of the folder, whole or not at all.
    pub fn write_file(
        &self,
        name: &str,
        write: impl FnOnce(&mut io::BufWriter<&File>) -> io::Result<()>,
    ) -> Result<(), OutputError> {
        write_whole(&self.dir.join(name), write)
    }

    /// Writes `latency.hgrm` for a histogram of latencies in ns, whole or
    /// not at all.
    pub fn write_hgrm(&self, histogram: &hdrhistogram::Histogram<u64>) -> Result<(), OutputError> {
        write_whole(&self.hgrm_path(), |out| {
            write_hgrm(out, histogram, SIGNIFICANT_DIGITS)
        })
    }
}

/// Where `path` is written before it is renamed into place.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp"))
}

fn remove_if_present(path: &Path) -> Result<(), OutputError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(at(path)(e)),
        _ => Ok(()),
    }
}

/// Writes a temporary file beside `path`, then renames it to `path`: a
/// reader (or a run killed half-way) never sees part of it. On failure the
/// temporary file is removed and `path` left as it was.
fn write_whole(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<&File>) -> io::Result<()>,
) -> Result<(), OutputError> {
    let temporary = temporary_path(path);
    let result = File::create(&temporary).and_then(|file| {
        let mut out = io::BufWriter::new(&file);
        write(&mut out)?;
        out.flush()?;
        drop(out);
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    });
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        at(path)(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_older_run_is_cleared_and_files_appear_whole() {
        let dir = tempfile::tempdir().unwrap();
        for stale in ["summary.json", "latency.hgrm", ".summary.json.tmp"] {
            std::fs::write(dir.path().join(stale), "an older run").unwrap();
        }
        let (output, tsv) = OutputDir::prepare(dir.path()).unwrap();
        drop(tsv);
        assert_eq!(names(dir.path()), [".heapsnow.lock", "alloc.tsv"]);
        output
            .write_hgrm(&crate::stats::LatencyHistograms::new().all())
            .unwrap();
        assert_eq!(
            names(dir.path()),
            [".heapsnow.lock", "alloc.tsv", "latency.hgrm"]
        );
        drop(output);
        assert_eq!(names(dir.path()), ["alloc.tsv", "latency.hgrm"]);
    }

    #[test]
    fn a_folder_for_histograms_only_loses_an_older_alloc_tsv_and_gets_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alloc.tsv"), "an older run").unwrap();
        let output = OutputDir::prepare_histograms_only(dir.path()).unwrap();
        assert_eq!(names(dir.path()), [".heapsnow.lock"]);
        drop(output);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        let error = write_whole(&path, |out| {
            out.write_all(b"{ half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        let source = std::error::Error::source(&error).unwrap();
        assert_eq!(source.to_string(), "disk full");
        assert!(
            !error.to_string().contains("disk full"),
            "said once: {error}"
        );
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_second_run_into_the_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = OutputDir::prepare(dir.path()).unwrap();
        let error = OutputDir::prepare(dir.path()).unwrap_err();
        assert!(matches!(error, OutputError::Busy { .. }), "{error}");
        assert!(
            error.to_string().contains("in use by another run"),
            "{error}"
        );
    }
}
