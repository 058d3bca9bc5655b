//! The progress bar: on stderr, hidden with `--quiet` or when stderr is not
//! a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    let length = match (total_frames, config.duration) {
        (Some(frames), _) => frames,
        (None, Some(duration)) => duration.as_millis() as u64,
        (None, None) => 0,
    };
    let hidden = config.quiet || !std::io::stderr().is_terminal();
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(length), target);
    let template = if total_frames.is_some() {
        "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} frames, {msg}"
    } else {
        "{elapsed_precise} [{bar:40}] {msg}"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> "),
    );
    Progress { bar, total_frames }
}

impl Progress {
    pub fn update(&self, frames: u64, elapsed: Duration) {
        let per_second = frames as f64 / elapsed.as_secs_f64().max(1e-9);
        match self.total_frames {
            Some(_) => self.bar.set_position(frames),
            None => self.bar.set_position(elapsed.as_millis() as u64),
        }
        self.bar.set_message(format!("{per_second:.0} frames/s"));
    }

    pub fn finish(&self, frames: u64) {
        if self.total_frames.is_some() {
            self.bar.set_position(frames);
        }
        self.bar.finish_and_clear();
    }
}
