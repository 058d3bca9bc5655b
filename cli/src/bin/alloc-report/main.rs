//! `alloc-report`: turns `alloc.tsv` files into charts and a markdown summary.
//!
//! Reading streams every file once into fixed-size aggregates
//! (HdrHistograms, a density grid, time slices) and a map of live addresses,
//! so memory does not grow with the number of rows, only with the objects
//! live at once (16 bytes each: address, start time and size).

mod cli;
mod correlation;
mod flame;
mod heap;
mod live;
mod load;
mod plot;
mod slices;
mod stacks;
mod stats;
mod summary;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use heapsnow_cli::progress::{self, Counting};
use heapsnow_cli::{args, units};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A stderr that cannot be written is no reason to panic.
            let _ = writeln!(std::io::stderr(), "Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let config = args::parse::<cli::Opts>("alloc-report").into_config()?;
    let progress = progress::bar(
        Counting::Bytes,
        Some(load::total_bytes(&config.runs)),
        config.progress,
    );
    let runs = load::load_runs(&config.runs, &progress)?;
    progress.set_message("drawing");

    let out_dir = &config.out_dir;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create the output folder {}", out_dir.display()))?;
    let mut written = plot::draw_all(&runs, out_dir, &config.formats)?;
    written.extend(flame::draw_all(&runs, out_dir)?);
    let summary_path = out_dir.join("summary.md");
    std::fs::write(&summary_path, summary::render(&runs))
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    written.push(summary_path);
    progress.finish_and_clear();

    if config.verbose {
        print_written(&written).with_context(|| {
            format!(
                "cannot print the list of files to stdout (they are written in {})",
                out_dir.display()
            )
        })?;
    }
    Ok(())
}

/// Lists the files written on stdout. A reader that stopped reading (a
/// closed pipe, as with `| head -1`) is not an error; any other failure
/// (`> /dev/full`) is.
fn print_written(paths: &[std::path::PathBuf]) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let result = paths
        .iter()
        .try_for_each(|path| writeln!(stdout, "{}", path.display()))
        .and_then(|()| stdout.flush());
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}
