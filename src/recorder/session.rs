//! Starting and finishing a recording: the control side of the recorder,
//! which may allocate and lock (it is never on the allocation path).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use super::clock::{self, Calibration, ClockSource};
use super::drain::{self, DrainControl, DrainOutcome, Sink};
use super::guard::Guard;
use super::ring::Ring;
use super::state::State;

/// How a recording runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Events the buffer holds before producers wait for the drain (rounded
    /// up to a power of two). Each takes 56 bytes.
    pub capacity_events: usize,
    /// The time source.
    pub clock: ClockSource,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            capacity_events: 1 << 20,
            clock: ClockSource::Auto,
        }
    }
}

/// Why a recording could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// This allocator is already recording.
    #[error("the allocator is already recording")]
    AlreadyRecording,
    /// The event buffer could not be reserved.
    #[error("cannot reserve an event buffer of {capacity_events} events")]
    OutOfMemory {
        /// The requested capacity.
        capacity_events: usize,
    },
    /// The drain thread could not be started.
    #[error("cannot start the drain thread")]
    Spawn(#[source] std::io::Error),
}

/// Why a recording ended badly.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// The drain thread panicked (inside the sink): its events are lost.
    #[error("the drain thread panicked")]
    DrainPanicked,
}

/// A running recording: events flow from every thread to the sink until
/// [`Recording::finish`]. Dropping it finishes it too, discarding the result.
pub struct Recording<S: Sink> {
    state: &'static State,
    ring: &'static Ring,
    control: Arc<DrainControl>,
    drain: Option<JoinHandle<DrainOutcome<S>>>,
    calibration: Calibration,
    started: Instant,
}

/// What a finished recording hands back.
#[derive(Debug)]
pub struct Finished<S> {
    /// The sink, after its last batch and `finish`.
    pub sink: S,
    /// Events the recorder accepted; every one of them reached the drain.
    pub events_recorded: u64,
    /// Total time allocating threads waited for a free slot, in ns.
    pub wait_ns: u64,
    /// How many times a thread had to wait.
    pub waits: u64,
    /// The clock and its calibration.
    pub calibration: Calibration,
    /// The first error the sink returned, if any: from then on it got no events.
    pub sink_error: Option<std::io::Error>,
    /// Time from start to finish, in seconds.
    pub wall_s: f64,
}

pub(crate) fn start<S: Sink>(
    state: &'static State,
    config: Config,
    sink: S,
) -> Result<Recording<S>, StartError> {
    // The set-up allocates; none of it is part of the measurement.
    let _guard = Guard::enter();
    let mut control = state.lock_control();
    if control.recording {
        return Err(StartError::AlreadyRecording);
    }
    let ring = match control.spare.take() {
        Some(spare) if spare.capacity() >= config.capacity_events => {
            spare.reset();
            spare
        }
        // A smaller spare is leaked: see `Ring::leak_new`.
        _ => Ring::leak_new(config.capacity_events).ok_or(StartError::OutOfMemory {
            capacity_events: config.capacity_events,
        })?,
    };
    let calibration = clock::calibrate(config.clock);
    let drain_control = DrainControl::new();
    let drain = {
        let drain_control = Arc::clone(&drain_control);
        std::thread::Builder::new()
            .name("heapsnow-drain".into())
            .spawn(move || drain::run(ring, drain_control, calibration, sink))
    };
    let drain = match drain {
        Ok(drain) => drain,
        Err(e) => {
            control.spare = Some(ring);
            return Err(StartError::Spawn(e));
        }
    };
    control.recording = true;
    state.publish(ring);
    Ok(Recording {
        state,
        ring,
        control: drain_control,
        drain: Some(drain),
        calibration,
        started: Instant::now(),
    })
}

impl<S: Sink> Recording<S> {
    /// The clock in use, its rate and its floor.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Events accepted so far.
    pub fn events_recorded(&self) -> u64 {
        self.ring.tickets_taken()
    }

    /// True once the sink has returned an error (say, a full disk).
    pub fn sink_failed(&self) -> bool {
        self.control.failed()
    }

    /// Stops recording, waits until the drain has handed every recorded event
    /// to the sink, and returns the sink with the totals.
    pub fn finish(mut self) -> Result<Finished<S>, FinishError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<Finished<S>, FinishError> {
        let _guard = Guard::enter();
        self.state.unpublish();
        let events_recorded = self.ring.close();
        self.control.stop_after(events_recorded);
        let outcome = self.drain.take().map(JoinHandle::join);
        let wall_s = self.started.elapsed().as_secs_f64();
        let (wait_ticks, waits) = self.ring.wait_totals();
        {
            let mut control = self.state.lock_control();
            control.recording = false;
            control.spare = Some(self.ring);
        }
        let Some(Ok(outcome)) = outcome else {
            return Err(FinishError::DrainPanicked);
        };
        debug_assert_eq!(outcome.drained, events_recorded);
        Ok(Finished {
            sink: outcome.sink,
            events_recorded,
            wait_ns: self.calibration.ticks_to_ns(wait_ticks),
            waits,
            calibration: self.calibration,
            sink_error: outcome.error,
            wall_s,
        })
    }
}

impl<S: Sink> Drop for Recording<S> {
    fn drop(&mut self) {
        if self.drain.is_some() {
            let _ = self.stop();
        }
    }
}
