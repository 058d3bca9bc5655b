//! The run's progress: frames done out of `--frames`, or time out of
//! `--duration`, with the frame rate. The bar itself comes from the shared
//! factory (`heapsnow_cli::progress`).

use std::time::Duration;

use heapsnow_cli::progress::{self, Counting};
use indicatif::ProgressBar;

use crate::cli::Config;

pub struct Progress {
    bar: ProgressBar,
    /// Total frames over all worlds, when the run is bounded by frames.
    total_frames: Option<u64>,
}

pub fn bar(config: &Config) -> Progress {
    let total_frames = config
        .frames
        .map(|f| f.saturating_mul(u64::from(config.threads)));
    let bar = match (total_frames, config.duration) {
        (Some(frames), _) => progress::bar(Counting::Frames, Some(frames), !config.quiet),
        (None, Some(duration)) => progress::bar(
            Counting::Millis,
            Some(duration.as_millis() as u64),
            !config.quiet,
        ),
        (None, None) => progress::bar(Counting::Frames, None, !config.quiet),
    };
    Progress { bar, total_frames }
}

impl Progress {
    pub fn update(&self, frames: u64, elapsed: Duration) {
        let per_second = frames as f64 / elapsed.as_secs_f64().max(1e-9);
        match self.total_frames {
            Some(_) => self.bar.set_position(frames),
            None => self.bar.set_position(elapsed.as_millis() as u64),
        }
        self.bar.set_message(format!(
            "{} frames/s",
            heapsnow_cli::units::group_thousands(per_second as u64)
        ));
    }

    pub fn finish(&self, frames: u64) {
        if self.total_frames.is_some() {
            self.bar.set_position(frames);
        }
        self.bar.finish_and_clear();
    }
}
