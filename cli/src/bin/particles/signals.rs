//! Ctrl-C (SIGINT), SIGTERM, SIGHUP (a closed terminal or ssh session) and
//! SIGQUIT (`Ctrl-\`): the first asks the run to stop cleanly and write its
//! files (exit status 128 + the signal), a second one ends the process at
//! once (then `summary.json` is missing: the run did not finish).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::flag;

/// Which stop signal arrived, if any.
pub struct Signals {
    received: Arc<AtomicUsize>,
}

impl Signals {
    pub fn install() -> io::Result<Signals> {
        let received = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            // Registered first, so it sees the flag as the previous signal left it.
            flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&stopping))?;
            flag::register(signal, Arc::clone(&stopping))?;
            flag::register_usize(signal, Arc::clone(&received), signal as usize)?;
        }
        Ok(Signals { received })
    }

    /// The signal number, once one has arrived.
    pub fn received(&self) -> Option<i32> {
        match self.received.load(Ordering::Relaxed) {
            0 => None,
            signal => i32::try_from(signal).ok(),
        }
    }
}
