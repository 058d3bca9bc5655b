//! The output folder of a run, checked before anything runs.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::stats::{SIGNIFICANT_DIGITS, Summary, write_hgrm};
use crate::tsv::TsvFile;

/// The output folder cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to {}: {source}", path.display())]
pub struct OutputError {
    /// The folder or file at fault.
    pub path: PathBuf,
    /// What the operating system said.
    #[source]
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> OutputError + '_ {
    move |source| OutputError {
        path: path.to_owned(),
        source,
    }
}

/// A folder holding `alloc.tsv`, `summary.json` and `latency.hgrm`.
#[derive(Debug, Clone)]
pub struct OutputDir {
    dir: PathBuf,
}

impl OutputDir {
    /// Creates the folder if needed and makes sure each of the three files can
    /// be created in it, so that a bad `--out` fails before any work is done.
    /// Returns the folder and `alloc.tsv`, open with its header written.
    pub fn prepare(dir: &Path) -> Result<(OutputDir, TsvFile), OutputError> {
        std::fs::create_dir_all(dir).map_err(at(dir))?;
        let output = OutputDir {
            dir: dir.to_owned(),
        };
        for path in [output.summary_path(), output.hgrm_path()] {
            File::create(&path).map_err(at(&path))?;
        }
        let tsv_path = output.tsv_path();
        let tsv = TsvFile::create(&tsv_path).map_err(at(&tsv_path))?;
        Ok((output, tsv))
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

    /// Writes `summary.json`.
    pub fn write_summary(&self, summary: &Summary) -> Result<(), OutputError> {
        let path = self.summary_path();
        let mut json = serde_json::to_vec_pretty(summary).map_err(|e| at(&path)(e.into()))?;
        json.push(b'\n');
        std::fs::write(&path, json).map_err(at(&path))
    }

    /// Writes `latency.hgrm` for a histogram of latencies in ns.
    pub fn write_hgrm(&self, histogram: &hdrhistogram::Histogram<u64>) -> Result<(), OutputError> {
        let path = self.hgrm_path();
        let mut out = io::BufWriter::new(File::create(&path).map_err(at(&path))?);
        write_hgrm(&mut out, histogram, SIGNIFICANT_DIGITS)
            .and_then(|()| out.flush())
            .map_err(at(&path))
    }
}
