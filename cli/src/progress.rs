//! The one progress-bar factory of both binaries: on stderr, hidden with
//! `--quiet` or when stderr is not a terminal (never into a log file or a
//! pipe), with an ETA whenever the length is known, and cleared when it ends,
//! however it ends.

use std::fmt;
use std::io::{self, IsTerminal};

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle, TermLike};

/// What a bar counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    /// Frames of the simulation, with the rate in the message.
    Frames,
    /// Milliseconds of a run bounded by time, with the rate in the message.
    Millis,
    /// Bytes read.
    Bytes,
}

/// A bar of `length` units (unknown: `None`), drawn only when `show` is set
/// and stderr is a terminal. Dropping it clears it, so an early return or an
/// error leaves no stale line.
pub fn bar(counting: Counting, length: Option<u64>, show: bool) -> ProgressBar {
    if !show || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let target = ProgressDrawTarget::term_like_with_hz(Box::new(Narrow(Term::stderr())), 20);
    let template = match (counting, length.is_some()) {
        (Counting::Frames, true) => {
            "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} frames, {msg}, eta {eta}"
        }
        (Counting::Millis, true) => "{elapsed_precise} [{wide_bar}] {msg}, eta {eta}",
        (Counting::Frames | Counting::Millis, false) => "{elapsed_precise} {msg}",
        (Counting::Bytes, true) => {
            "{msg:>10} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}"
        }
        (Counting::Bytes, false) => "{msg:>10} {binary_bytes} {binary_bytes_per_sec}",
    };
    ProgressBar::with_draw_target(length, target)
        .with_style(
            ProgressStyle::with_template(template)
                .expect("the templates are valid")
                .progress_chars("=> "),
        )
        .with_finish(ProgressFinish::AndClear)
}

/// The terminal, two columns narrower than it is. indicatif pads each line
/// to the full width and leaves the cursor past the last column; the `^C`
/// a terminal echoes on Ctrl-C then wraps onto a new line, and clearing the
/// bar clears only that one, leaving the bar's line behind. Two spare columns
/// keep the echo on the bar's line, which the clear removes.
struct Narrow(Term);

impl fmt::Debug for Narrow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Narrow(stderr)")
    }
}

impl TermLike for Narrow {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(2).max(1)
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }
}
