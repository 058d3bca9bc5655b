//! Helpers shared by the recorder's integration tests.
#![allow(dead_code)]

use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` on its own thread; if it has not finished within `limit`,
/// reports `what` and ends the process at once (without allocating: a hung
/// recorder may be holding every allocating thread).
pub fn watchdog<T: Send + 'static>(
    limit: Duration,
    what: &'static str,
    body: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    let body = std::thread::spawn(move || {
        let value = body();
        let _ = done.send(());
        value
    });
    match result.recv_timeout(limit) {
        // Disconnected: the body panicked, a test failure rather than a hang.
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match body.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // SAFETY: writes valid buffers to stderr, then ends the process.
            unsafe {
                for part in ["\nHANG: ", what, " did not finish within its time limit\n"] {
                    libc::write(2, part.as_ptr().cast(), part.len());
                }
                libc::_exit(99);
            }
        }
    }
}
