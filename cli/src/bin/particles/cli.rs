//! Command-line options, turned into a plain [`Config`] before the rest of the
//! program sees them.

use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use heapsnow_cli::sim::{Physics, Strategy};
use heapsnow_cli::units;

/// Frames a headless run simulates when neither `--frames` nor `--duration`
/// is given: with the default seed about 9 seconds on this project's 2-core
/// reference machine, and about 6.5 million allocation events.
pub const DEFAULT_HEADLESS_FRAMES: u64 = 2_150_000;

/// Snow particles rise and fade while every heap allocation is timed.
///
/// Each particle is a separately boxed heap object, so the world allocates and
/// frees all the time. A reporting global allocator times every allocation,
/// reallocation and deallocation of the process and writes alloc.tsv,
/// summary.json and latency.hgrm into --out (and, with --stacks-over or
/// --stacks-every, the call stacks: stacks.tsv, slow-stacks.folded and
/// sampled-stacks.folded). Without --headless it opens the demo window;
/// --headless is the benchmark mode and needs no display.
#[derive(Debug, Parser)]
#[command(version, about, long_about, after_help = EXIT_STATUS)]
pub struct Opts {
    /// Run without a window, as fast as possible (the benchmark mode).
    #[arg(long)]
    pub headless: bool,

    /// Stop after this many frames per world [headless default: 2150000].
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub frames: Option<u64>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,

    /// Seed of the world's random generator: the same seed gives the same world
    /// and the same sequence of allocations.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Particles in each world at the start (at most 100000000 in all worlds).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = parse_particles)]
    pub particles: usize,

    /// How particles are stored: boxed is the classic Vec<Box<Particle>>.
    #[arg(long, value_enum, default_value_t = Strategy::Boxed)]
    pub strategy: Strategy,

    /// How accelerations decay: classic is the book's physics, flush avoids its
    /// subnormal slowdown.
    #[arg(long, value_enum, default_value_t = Physics::Classic)]
    pub physics: Physics,

    /// Independent worlds, one per thread, seeded from --seed and their index.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub threads: u32,

    /// Folder for alloc.tsv, summary.json and latency.hgrm (created if missing).
    #[arg(short, long, value_name = "DIR", default_value = "results/latest")]
    pub out: PathBuf,

    /// Do not record: the allocator passes calls straight through (to measure
    /// what recording costs).
    #[arg(long)]
    pub no_record: bool,

    /// Write no alloc.tsv: every event goes into the latency histograms
    /// only (summary.json, latency.hgrm). For long runs: the file grows by
    /// about 56 bytes an event (360 MB for the default run), and formatting
    /// and writing it is most of the recorder's CPU. alloc-report needs the
    /// file. With --no-record, no alloc.tsv either.
    #[arg(long)]
    pub no_tsv: bool,

    /// Room in the recorder's buffer of each recording thread, in 32-byte
    /// slots (1 to 16777216). An event takes one slot, a realloc two. A
    /// thread whose buffer is full goes on in a spill buffer
    /// (--spill-buffers), or else waits for the drain.
    #[arg(
        long,
        value_name = "N",
        default_value_t = heapsnow::recorder::DEFAULT_CAPACITY_EVENTS,
        value_parser = parse_buffer_events
    )]
    pub buffer_events: usize,

    /// How many full buffers may wait for the drain at once (all threads
    /// together) while their threads go on in spill buffers of the same
    /// size; past that a thread waits. Spill buffers take memory only when
    /// the drain falls a whole buffer behind (0 to 64; 0 never spills).
    #[arg(
        long,
        value_name = "N",
        default_value_t = heapsnow::recorder::DEFAULT_SPILL_BUFFERS,
        value_parser = clap::value_parser!(u32)
            .range(0..=i64::from(heapsnow::recorder::MAX_SPILL_BUFFERS))
    )]
    pub spill_buffers: u32,

    /// Capture the call stack of every allocator call that takes at least
    /// this long (500ns, 10us, 1.5ms...): written to slow-stacks.folded
    /// (weight: ns spent) and stacks.tsv; alloc-report draws it as a flame
    /// graph and lists the slowest call sites.
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration, conflicts_with = "no_record")]
    pub stacks_over: Option<Duration>,

    /// Also capture the call stack of every N-th allocation of each thread,
    /// a sample of where allocations come from: sampled-stacks.folded
    /// (weight: allocations).
    #[arg(long, value_name = "N", conflicts_with = "no_record")]
    pub stacks_every: Option<NonZeroU64>,

    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,

    /// Window only: draw as fast as possible, without the 60 fps cap and
    /// without vsync (to measure frames per second).
    #[arg(long)]
    pub uncapped: bool,

    /// Make the simulation panic after this many frames (to test that a
    /// crash still leaves complete files).
    #[arg(long, value_name = "N", hide = true)]
    pub panic_after_frames: Option<u64>,
}

const EXIT_STATUS: &str = "\
Exit status:
  0    the run finished; alloc.tsv, latency.hgrm and summary.json are complete
       (also when stdout is a pipe closed early, as by `| head -1`)
  1    alloc.tsv or stdout could not be written (a full disk), or recording
       failed; alloc.tsv holds whole rows, and summary.json (if there was
       room for it) counts them
  2    bad options or sizes past their limits, an unusable --out, or another
       run writing into it; nothing ran and the folder is untouched
  101  the simulation panicked; the files are complete up to the panic
  129, 130, 131, 143
       SIGHUP, Ctrl-C, SIGQUIT or SIGTERM stopped the run; the files are
       complete, with \"interrupted\": true. A second signal ends it at once,
       leaving alloc.tsv (whole rows) and no summary.json";

/// What a run does, whatever asked for it.
#[derive(Debug, Clone)]
pub struct Config {
    pub headless: bool,
    /// Frames per world; `None` runs until stopped.
    pub frames: Option<u64>,
    pub duration: Option<Duration>,
    pub seed: u64,
    pub particles: usize,
    pub strategy: Strategy,
    pub physics: Physics,
    pub threads: u32,
    pub out: PathBuf,
    pub record: bool,
    /// Write `alloc.tsv` (not `--no-tsv`).
    pub tsv: bool,
    pub buffer_events: usize,
    pub spill_buffers: u32,
    pub stacks_over: Option<Duration>,
    pub stacks_every: Option<NonZeroU64>,
    pub quiet: bool,
    /// Read by the window only.
    #[cfg_attr(not(feature = "window"), allow(dead_code))]
    pub uncapped: bool,
    pub panic_after_frames: Option<u64>,
    /// The command line, for summary.json.
    pub command: String,
}

impl Opts {
    pub fn into_config(self, command: String) -> Config {
        let frames = match (self.frames, self.duration) {
            (None, None) if self.headless => Some(DEFAULT_HEADLESS_FRAMES),
            (frames, _) => frames,
        };
        Config {
            headless: self.headless,
            frames,
            duration: self.duration,
            seed: self.seed,
            particles: self.particles,
            strategy: self.strategy,
            physics: self.physics,
            threads: self.threads,
            out: self.out,
            record: !self.no_record,
            tsv: !self.no_tsv,
            buffer_events: self.buffer_events,
            spill_buffers: self.spill_buffers,
            stacks_over: self.stacks_over,
            stacks_every: self.stacks_every,
            quiet: self.quiet,
            uncapped: self.uncapped,
            panic_after_frames: self.panic_after_frames,
            command,
        }
    }
}

/// The most particles a run starts with, over all its worlds: about 9 GB
/// with boxed storage (a particle, its heap block and its pointer), and a
/// `alloc.tsv` row each before the first frame.
pub const MAX_PARTICLES: usize = 100_000_000;
/// The largest recorder buffer: 2^24 slots of 32 bytes, 512 MiB a recording thread.
pub const MAX_BUFFER_EVENTS: usize = 1 << 24;

fn parse_particles(text: &str) -> Result<usize, String> {
    parse_at_most(
        text,
        0,
        MAX_PARTICLES,
        "particles (more cannot fit in memory)",
    )
}

fn parse_buffer_events(text: &str) -> Result<usize, String> {
    parse_at_most(
        text,
        1,
        MAX_BUFFER_EVENTS,
        "32-byte slots (512 MiB a thread)",
    )
}

/// A whole number in `min..=max`; the message names the limit.
fn parse_at_most(text: &str, min: usize, max: usize, what: &str) -> Result<usize, String> {
    let value: u128 = text
        .parse()
        .map_err(|_| format!("expected a whole number from {min} to {max}, found {text:?}"))?;
    match usize::try_from(value) {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ if value < min as u128 => Err(format!("at least {min}, found {value}")),
        _ => Err(format!("at most {max} {what}, found {value}")),
    }
}

impl Opts {
    /// Checks the limits that involve several options: exits with status 2
    /// and a usage message, as for any bad option, before anything runs.
    pub fn check_limits(&self) -> Result<(), clap::Error> {
        let total = self.particles.saturating_mul(self.threads as usize);
        if total > MAX_PARTICLES {
            use clap::CommandFactory;
            return Err(Opts::command().bin_name("particles").error(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "--particles {} with --threads {} makes {total} particles: at most {MAX_PARTICLES} in all worlds (more cannot fit in memory)",
                    self.particles, self.threads
                ),
            ));
        }
        Ok(())
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds, found {text:?}"))?;
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!(
            "expected a positive number of seconds, found {text:?}"
        ));
    }
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_consistent() {
        use clap::CommandFactory;
        Opts::command().debug_assert();
    }

    #[test]
    fn headless_without_limits_gets_the_default_frames() {
        let config = Opts::parse_from(["particles", "--headless"]).into_config(String::new());
        assert_eq!(config.frames, Some(DEFAULT_HEADLESS_FRAMES));
        let config = Opts::parse_from(["particles", "--headless", "--duration", "2.5"])
            .into_config(String::new());
        assert_eq!(config.frames, None);
        assert_eq!(config.duration, Some(Duration::from_millis(2500)));
    }

    #[test]
    fn sizes_past_their_limits_are_refused_with_the_limit() {
        for (option, bad, limit) in [
            ("--particles", "18446744073709551615", "100000000"),
            ("--particles", "100000001", "100000000"),
            ("--particles", "99999999999999999999999", "100000000"),
            ("--buffer-events", "16777217", "16777216"),
            ("--buffer-events", "0", "at least 1"),
        ] {
            let error = Opts::try_parse_from(["particles", option, bad]).unwrap_err();
            assert!(error.to_string().contains(limit), "{option} {bad}: {error}");
        }
        let opts = Opts::try_parse_from(["particles", "--particles", "100000000"]).unwrap();
        assert!(opts.check_limits().is_ok());
        let opts =
            Opts::try_parse_from(["particles", "--particles", "1000000", "--threads", "101"])
                .unwrap();
        let error = opts.check_limits().unwrap_err();
        assert!(error.to_string().contains("100000000"), "{error}");
    }

    #[test]
    fn strategy_and_physics_reach_the_config() {
        let config = Opts::parse_from(["particles", "--headless"]).into_config(String::new());
        assert_eq!(
            (config.strategy, config.physics),
            (Strategy::Boxed, Physics::Classic)
        );
        let config = Opts::parse_from(["particles", "--strategy", "arena", "--physics", "flush"])
            .into_config(String::new());
        assert_eq!(
            (config.strategy, config.physics),
            (Strategy::Arena, Physics::Flush)
        );
        assert!(Opts::try_parse_from(["particles", "--physics", "fast"]).is_err());
    }

    #[test]
    fn stack_options_reach_the_config() {
        let config = Opts::parse_from([
            "particles",
            "--stacks-over",
            "10us",
            "--stacks-every",
            "1000",
        ])
        .into_config(String::new());
        assert_eq!(config.stacks_over, Some(Duration::from_micros(10)));
        assert_eq!(config.stacks_every, NonZeroU64::new(1000));
        for bad in [["--stacks-over", "10"], ["--stacks-every", "0"]] {
            assert!(
                Opts::try_parse_from(["particles", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
        let both = ["particles", "--no-record", "--stacks-every", "5"];
        assert!(Opts::try_parse_from(both).is_err(), "stacks need recording");
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["0", "-1", "abc", "inf"] {
            assert!(
                Opts::try_parse_from(["particles", "--duration", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
