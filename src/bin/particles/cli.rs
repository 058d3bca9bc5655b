//! Command-line options, turned into a plain [`Config`] before the rest of the
//! program sees them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use heapsnow::sim::{Physics, Strategy};

/// Frames a headless run simulates when neither `--frames` nor `--duration`
/// is given: with the default seed about 9 seconds on this project's 2-core
/// reference machine, and about 6.5 million allocation events.
pub const DEFAULT_HEADLESS_FRAMES: u64 = 2_150_000;

/// Snow particles rise and fade while every heap allocation is timed.
///
/// Each particle is a separately boxed heap object, so the world allocates and
/// frees all the time. A reporting global allocator times every allocation,
/// reallocation and deallocation of the process and writes alloc.tsv,
/// summary.json and latency.hgrm into --out. Without --headless it opens the
/// demo window; --headless is the benchmark mode and needs no display.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
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

    /// Particles in each world at the start.
    #[arg(long, value_name = "N", default_value_t = 1000)]
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
    #[arg(long, value_name = "DIR", default_value = "results/latest")]
    pub out: PathBuf,

    /// Do not record: the allocator passes calls straight through (to measure
    /// what recording costs).
    #[arg(long)]
    pub no_record: bool,

    /// Events the recorder buffers before allocating threads wait for its drain.
    #[arg(long, value_name = "N", default_value_t = 1 << 20)]
    pub buffer_events: usize,

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
    pub buffer_events: usize,
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
            buffer_events: self.buffer_events,
            quiet: self.quiet,
            uncapped: self.uncapped,
            panic_after_frames: self.panic_after_frames,
            command,
        }
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

/// The command line as one string, arguments with spaces quoted.
pub fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            if arg.contains(char::is_whitespace) || arg.is_empty() {
                format!("{arg:?}")
            } else {
                arg
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    fn bad_durations_are_refused() {
        for bad in ["0", "-1", "abc", "inf"] {
            assert!(
                Opts::try_parse_from(["particles", "--duration", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
