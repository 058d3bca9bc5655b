//! `alloc-report`: turns `alloc.tsv` files into charts and a markdown summary.
//!
//! Reading streams every file once into fixed-size aggregates
//! (HdrHistograms, a density grid, time slices, a map of live addresses), so
//! memory does not grow with the number of rows.

mod cli;
mod correlation;
mod load;
mod plot;
mod progress;
mod stats;
mod summary;
use heapsnow::units;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let config = cli::Opts::parse().into_config()?;
    let progress = progress::bytes_bar(load::total_bytes(&config.runs), config.progress);
    let runs = load::load_runs(&config.runs, &progress)?;
    progress.set_message("drawing");

    let out_dir = &config.out_dir;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create the output folder {}", out_dir.display()))?;
    let mut written = plot::draw_all(&runs, out_dir, &config.formats)?;
    let summary_path = out_dir.join("summary.md");
    std::fs::write(&summary_path, summary::render(&runs))
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    written.push(summary_path);
    progress.finish_and_clear();

    if config.verbose {
        for path in written {
            println!("{}", path.display());
        }
    }
    Ok(())
}
