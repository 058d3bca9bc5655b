//! Helpers shared by the recorder's integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Barrier, mpsc};
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

/// Runs `body` on `threads` new threads released together by a barrier,
/// and returns each thread's recorder thread number, in spawn order.
pub fn on_threads_at_once(threads: usize, body: fn()) -> Vec<u32> {
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let me = heapsnow::recorder::thread_number();
                barrier.wait();
                body();
                me
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).collect()
}
