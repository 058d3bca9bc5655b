//! Starting and finishing a recording: the control side of the recorder,
//! which may allocate and lock (it is never on the allocation path).

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU32, Ordering};

use super::buffer::{Session, StackPolicy};
use super::clock::{self, Calibration, ClockSource};
use super::drain::{self, DrainControl, DrainOutcome, Sink, SinkTrouble};
use super::fork;
use super::guard::{self, Guard};
use super::state::State;

/// How a recording runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Slots of 32 bytes in each thread's buffer (rounded up to a power of
    /// two, at least 2); a thread whose buffer is full moves on to a spill
    /// buffer ([`spill_buffers`](Config::spill_buffers)) or else waits for
    /// the drain.
    /// An event takes one slot; a realloc, or a call of 4 GiB or more or
    /// slower than 2^32 ticks, takes two. Reserved when a thread first
    /// records: the default 131,072 take 4 MiB a thread (of huge pages on
    /// Linux), resident only as far as events fill them (2 MiB at a time on
    /// huge pages). A thread whose buffer is half full wakes the drain.
    pub capacity_events: usize,
    /// The time source.
    pub clock: ClockSource,
    /// How long an allocating thread waits for room in a full buffer while
    /// the drain makes no progress at all. Past it the thread stops waiting
    /// and its event is dropped and counted, so a stuck sink can never hang
    /// the program; [`Recording::finish`] gives up on such a drain after the
    /// same time. While the drain makes progress nothing is ever dropped.
    pub stall_limit: Duration,
    /// Capture the call stack of every call that takes at least this long
    /// (on the calling thread, right after the backing call returns). `None`,
    /// the default, captures none.
    pub stacks_over: Option<Duration>,
    /// Also capture the call stack of every N-th allocating call (alloc,
    /// alloc_zeroed, realloc) of each thread: a sample of where allocations
    /// come from. `None`, the default, samples none.
    pub stacks_every: Option<NonZeroU64>,
    /// How many full buffers may wait for the drain at once, all threads
    /// together, while their threads go on in spill buffers of the same
    /// size (free ones reused, else new ones, kept for reuse). A thread
    /// whose buffer is full when that many already wait, waits for the
    /// drain itself. Each thread's events still reach the sink in order.
    /// Spill buffers cost memory only when the drain falls a whole buffer
    /// behind: a busy neighbour took its core, a sink paused. 0 never spills;
    /// at most [`MAX_SPILL_BUFFERS`], so that a drain held up for long (a
    /// sink that blocks spills every thread's events meanwhile, and nobody
    /// waits) holds at most that many buffers' memory.
    pub spill_buffers: u32,
}

/// The default [`Config::spill_buffers`]: a drain that loses its core for
/// three buffers' worth of events (about 11 ms of the default run's bursts)
/// before anyone waits, at up to 8 MiB more memory while it happens.
pub const DEFAULT_SPILL_BUFFERS: u32 = 2;

/// The most [`Config::spill_buffers`] a recording takes: 256 MiB of the
/// default buffers.
pub const MAX_SPILL_BUFFERS: u32 = 64;

/// The default [`Config::capacity_events`]: room for the bursts of a real
/// program. The default run makes 0.8 million events a second on average
/// but 5.8 million in its busiest hundredth of 10 ms windows, faster than
/// the drain converts and writes them: a burst fills the buffer while the
/// drain catches up. At 32,768 (which would stay in a 2 MiB core cache)
/// the default run waited for the drain 2 to 58 times a run; at 65,536 it waits
/// in some runs, a few times (on a noisy 2-core machine, 2 of 8). Those were
/// 56-byte events; 131,072 slots of 32 bytes take the same 4 MiB, and hold
/// about 92,000 events of the default run, whose events are 43 % reallocs.
pub const DEFAULT_CAPACITY_EVENTS: usize = 1 << 17;

/// The default [`Config::stall_limit`].
pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(1);

impl Default for Config {
    fn default() -> Config {
        Config {
            capacity_events: DEFAULT_CAPACITY_EVENTS,
            clock: ClockSource::Auto,
            stall_limit: DEFAULT_STALL_LIMIT,
            stacks_over: None,
            stacks_every: None,
            spill_buffers: DEFAULT_SPILL_BUFFERS,
        }
    }
}

/// Why a recording could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// This allocator is already recording.
    #[error("the allocator is already recording")]
    AlreadyRecording,
    /// Buffers of this many events cannot exist.
    #[error("cannot make event buffers of {capacity_events} events")]
    OutOfMemory {
        /// The requested capacity.
        capacity_events: usize,
    },
    /// The drain thread could not be started.
    #[error("cannot start the drain thread")]
    Spawn(#[source] std::io::Error),
    /// The configuration asks for call stacks, and heapsnow was built
    /// without its `stacks` feature.
    #[error("call stacks need heapsnow's `stacks` feature (on by default)")]
    StacksUnavailable,
    /// [`Config::spill_buffers`] is over [`MAX_SPILL_BUFFERS`].
    #[error("cannot keep {spill_buffers} spill buffers: at most {MAX_SPILL_BUFFERS}")]
    TooManySpillBuffers {
        /// The number asked for.
        spill_buffers: u32,
    },
}

/// Why a recording ended badly.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// The sink panicked. The drain went on emptying the buffer, so no thread
    /// waited, but the sink got nothing after the panic.
    #[error(
        "the sink panicked ({message}): {events_delivered} events reached it, \
         {events_undelivered} did not"
    )]
    SinkPanicked {
        /// The panic's message.
        message: String,
        /// Events the sink accepted before the panic.
        events_delivered: u64,
        /// Events recorded that the sink never got (the panicking batch
        /// included).
        events_undelivered: u64,
    },
    /// The drain made no progress for the stall limit while finishing (a sink
    /// that blocks): it was left behind, with its sink.
    #[error(
        "the drain made no progress for {stall_limit:?} (a sink that blocks?): \
         gave up on it and on the events it had not delivered"
    )]
    DrainStalled {
        /// The recording's stall limit.
        stall_limit: Duration,
    },
    /// `finish` was called in a child forked while recording: the recording
    /// and its drain belong to the parent.
    #[error("a forked child cannot finish its parent's recording")]
    ForkedChild,
    /// The drain thread itself panicked.
    #[error("the drain thread panicked")]
    DrainPanicked,
}

/// A running recording: events flow from every thread to the sink until
/// [`Recording::finish`]. Dropping it finishes it too, discarding the result.
pub struct Recording<S: Sink> {
    state: &'static State,
    session: &'static Session,
    control: Arc<DrainControl>,
    drain: Option<JoinHandle<DrainOutcome<S>>>,
    calibration: Calibration,
    started: Instant,
    /// The process that started the recording: a forked child is another.
    pid: u32,
}

/// What a finished recording hands back.
#[derive(Debug)]
pub struct Finished<S> {
    /// The sink, after its last batch and `finish`.
    pub sink: S,
    /// Events the recorder accepted; every one of them reached the drain.
    pub events_recorded: u64,
    /// Events the sink accepted: `events_recorded` unless it returned an error.
    pub events_delivered: u64,
    /// Events not recorded because the drain stalled past the stall limit
    /// while the buffer was full. 0 whenever the drain kept making progress.
    pub events_dropped: u64,
    /// Total time allocating threads waited for a free slot, in ns.
    pub wait_ns: u64,
    /// How many times a thread had to wait.
    pub waits: u64,
    /// How many times a thread whose buffer was full went on in a spill
    /// buffer instead of waiting.
    pub spills: u64,
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
    let wants_stacks = config.stacks_over.is_some() || config.stacks_every.is_some();
    if wants_stacks && !cfg!(feature = "stacks") {
        return Err(StartError::StacksUnavailable);
    }
    if config.spill_buffers > MAX_SPILL_BUFFERS {
        return Err(StartError::TooManySpillBuffers {
            spill_buffers: config.spill_buffers,
        });
    }
    fork::register(state);
    let Some(capacity) = config.capacity_events.max(2).checked_next_power_of_two() else {
        return Err(StartError::OutOfMemory {
            capacity_events: config.capacity_events,
        });
    };
    let calibration = clock::calibrate(config.clock);
    let stacks = StackPolicy::new(
        config.stacks_over.map_or(u64::MAX, |over| {
            let over_ns = u64::try_from(over.as_nanos()).unwrap_or(u64::MAX);
            calibration.ticks_for_latency_ns(over_ns)
        }),
        config.stacks_every.map_or(0, NonZeroU64::get),
    );
    let session = Session::leak_new(
        next_generation(),
        calibration.source,
        capacity,
        config.stall_limit,
        stacks,
        config.spill_buffers,
    );
    let drain_control = DrainControl::new();
    // The drain must never record itself, not even the standard library's
    // work as the thread starts: the recording is published only once the drain
    // has marked its thread as ignored.
    let (ready, is_ready) = mpsc::sync_channel(1);
    let drain = {
        let drain_control = Arc::clone(&drain_control);
        std::thread::Builder::new()
            .name("heapsnow-drain".into())
            .spawn(move || {
                guard::ignore_this_thread();
                let _ = ready.send(());
                drain::run(state, session, drain_control, calibration, sink)
            })
    };
    let drain = match drain {
        Ok(drain) if is_ready.recv().is_ok() => drain,
        Ok(_) => {
            return Err(StartError::Spawn(std::io::Error::other(
                "the drain thread ended before it started",
            )));
        }
        Err(e) => return Err(StartError::Spawn(e)),
    };
    session.set_drain(drain.thread().clone());
    control.recording = true;
    state.publish(session);
    Ok(Recording {
        state,
        session,
        control: drain_control,
        drain: Some(drain),
        calibration,
        started: Instant::now(),
        pid: std::process::id(),
    })
}

impl<S: Sink> Recording<S> {
    /// The clock in use, its rate and its floor.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Events the drain has taken so far.
    pub fn events_recorded(&self) -> u64 {
        self.control.drained()
    }

    /// True once the sink has returned an error (say, a full disk) or panicked.
    pub fn sink_failed(&self) -> bool {
        self.control.failed()
    }

    /// Stops recording, waits until the drain has handed every recorded event
    /// to the sink, and returns the sink with the totals.
    pub fn finish(mut self) -> Result<Finished<S>, FinishError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<Finished<S>, FinishError> {
        if std::process::id() != self.pid {
            // The drain thread does not exist in a forked child: never join it.
            std::mem::forget(self.drain.take());
            return Err(FinishError::ForkedChild);
        }
        let _guard = Guard::enter();
        // Threads that load the recording from now on pass straight through;
        // threads waiting for room give up.
        self.state.unpublish();
        self.session.close();
        self.control.stop();
        if let Some(drain) = &self.drain {
            drain.thread().unpark();
        }
        let outcome = self.join_drain();
        let wall_s = self.started.elapsed().as_secs_f64();
        let totals = self.session.wait_totals();
        self.state.lock_control().recording = false;
        let outcome = outcome?;
        let events_recorded = outcome.drained;
        let sink_error = match outcome.trouble {
            None => None,
            Some(SinkTrouble::Error(e)) => Some(e),
            Some(SinkTrouble::Panic(message)) => {
                return Err(FinishError::SinkPanicked {
                    message,
                    events_delivered: outcome.delivered,
                    events_undelivered: events_recorded - outcome.delivered,
                });
            }
        };
        Ok(Finished {
            sink: outcome.sink,
            events_recorded,
            events_delivered: outcome.delivered,
            events_dropped: totals.dropped,
            wait_ns: totals.wait_ns,
            waits: totals.waits,
            spills: totals.spills,
            calibration: self.calibration,
            sink_error,
            wall_s,
        })
    }

    /// Waits for the drain to end, unless it stops making progress for the
    /// stall limit.
    fn join_drain(&mut self) -> Result<DrainOutcome<S>, FinishError> {
        const POLL: Duration = Duration::from_micros(200);
        let Some(drain) = self.drain.take() else {
            return Err(FinishError::DrainPanicked);
        };
        let mut heartbeat = self.control.heartbeat();
        let mut last_progress = Instant::now();
        while !drain.is_finished() {
            std::thread::sleep(POLL);
            let now = self.control.heartbeat();
            if now != heartbeat {
                heartbeat = now;
                last_progress = Instant::now();
            } else if last_progress.elapsed() >= self.session.stall_limit {
                self.control.abandon();
                // Dropping the handle detaches the thread.
                return Err(FinishError::DrainStalled {
                    stall_limit: self.session.stall_limit,
                });
            }
        }
        drain.join().map_err(|_| FinishError::DrainPanicked)
    }
}

/// The generation of the next recording: never 0, the thread-local "none".
fn next_generation() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    loop {
        let generation = NEXT.fetch_add(1, Ordering::Relaxed);
        if generation != 0 {
            return generation;
        }
    }
}

impl<S: Sink> Drop for Recording<S> {
    fn drop(&mut self) {
        if self.drain.is_some() {
            let _ = self.stop();
        }
    }
}

#[cfg(all(test, not(feature = "stacks")))]
mod without_stacks {
    use std::alloc::System;
    use std::num::NonZeroU64;

    use super::*;
    use crate::recorder::{Event, ReportingAllocator};

    struct Nothing;

    impl Sink for Nothing {
        fn write(&mut self, _: &[Event]) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_recording_that_asks_for_stacks_does_not_start() {
        static ALLOCATOR: ReportingAllocator<System> = ReportingAllocator::new(System);
        let config = Config {
            stacks_every: NonZeroU64::new(10),
            ..Config::default()
        };
        let refused = ALLOCATOR.start(config, Nothing);
        assert!(matches!(refused, Err(StartError::StacksUnavailable)));
        let recording = ALLOCATOR.start(Config::default(), Nothing).unwrap();
        assert!(recording.finish().is_ok());
    }
}
