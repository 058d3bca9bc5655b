//! `particles`: the snow-particle world with every allocation timed.

mod cli;
mod headless;
mod progress;
mod recording;
mod signals;
mod table;
#[cfg(feature = "window")]
mod window;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use heapsnow::recorder::ReportingAllocator;
use heapsnow_cli::backing::{BACKING, Backing};

use recording::{RunRecorder, StartFailure};

#[global_allocator]
static GLOBAL: ReportingAllocator<Backing> = ReportingAllocator::new(BACKING);

/// Exit status for a usage error (bad options, unusable --out, no display).
const EXIT_USAGE: u8 = 2;
/// Exit status for a run whose simulation panicked.
const EXIT_PANIC: u8 = 101;

fn main() -> ExitCode {
    let opts = heapsnow_cli::args::parse::<cli::Opts>("particles");
    if let Err(error) = opts.check_limits() {
        error.exit();
    }
    let config = opts.into_config(heapsnow::run::command_line());
    match run(&config) {
        Ok(code) => code,
        Err(failure) => {
            report_error(&failure.error);
            ExitCode::from(failure.code)
        }
    }
}

/// Prints `Error: ...` on stderr. A stderr that cannot be written (a closed
/// terminal) is not worth a panic: the exit status still tells.
fn report_error(error: &anyhow::Error) {
    let _ = writeln!(std::io::stderr(), "Error: {error:#}");
}

/// Writes the results table to stdout. A reader that stopped reading (a
/// closed pipe, as with `| head -1`) is not an error: the files are
/// complete, and the run ends as it would have. Any other failure (`>
/// /dev/full`) is returned.
fn print_table(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result,
    }
}

struct Failure {
    error: anyhow::Error,
    code: u8,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure { error, code: 1 }
    }
}

fn run(config: &cli::Config) -> Result<ExitCode, Failure> {
    let usage = |error| Failure {
        error,
        code: EXIT_USAGE,
    };
    if !config.headless {
        if config.threads > 1 {
            return Err(usage(anyhow::anyhow!(
                "--threads {} needs --headless: the window draws one world, on its own thread",
                config.threads
            )));
        }
        #[cfg(feature = "window")]
        window::check_display().map_err(usage)?;
        #[cfg(not(feature = "window"))]
        return Err(usage(anyhow::anyhow!(
            "this build has no window (built without the `window` feature): run with --headless"
        )));
    }
    // Opened before anything is recorded: a window that cannot open leaves no files.
    #[cfg(feature = "window")]
    let demo = if config.headless {
        None
    } else {
        Some(window::open(config).map_err(usage)?)
    };
    let signals = signals::Signals::install().context("cannot install the signal handlers")?;
    #[cfg(feature = "window")]
    let tap = demo.as_ref().map(window::Demo::tap);
    #[cfg(not(feature = "window"))]
    let tap = None;
    let recorder = RunRecorder::start(config, tap).map_err(|failure| match failure {
        StartFailure::Output(error) => usage(error),
        StartFailure::Other(error) => Failure { error, code: 1 },
    })?;
    #[cfg(feature = "window")]
    let result = match demo {
        Some(demo) => window::run(demo, config, recorder, &signals)?,
        None => headless::run(config, recorder, &signals)?,
    };
    #[cfg(not(feature = "window"))]
    let result = headless::run(config, recorder, &signals)?;

    let printed = print_table(&table::render(&result));
    if let Some(error) = result.write_error {
        return Err(error.into());
    }
    if let Some(error) = &result.summary.run.error {
        return Err(Failure {
            error: anyhow::anyhow!("{error} (the files hold everything recorded until then)"),
            code: EXIT_PANIC,
        });
    }
    if let Some(signal) = result
        .summary
        .interrupted
        .then(|| signals.received())
        .flatten()
    {
        // A closed terminal (SIGHUP) cannot show the table either: the
        // signal is the news.
        return Ok(ExitCode::from(128 + signal as u8));
    }
    printed.with_context(|| {
        format!(
            "cannot print the results to stdout (the files in {} are complete)",
            result.output.dir().display()
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
