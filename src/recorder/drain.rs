//! The drain thread: empties the ring in order, converts ticks to
//! nanoseconds and hands batches of events to a [`Sink`].

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::clock::Calibration;
use super::event::{Event, Kind};
use super::ring::{RawEvent, Ring};

/// Where the drain delivers events.
///
/// A sink runs on the drain thread, whose allocations are never recorded, so
/// it may allocate, lock and do I/O. The rules it must follow, and what
/// happens when it breaks them:
///
/// - **Keep up.** While a call is running nothing is delivered; once the ring
///   is full, allocating threads wait. If the drain makes no progress for the
///   recording's [`stall_limit`](super::Config::stall_limit) (a sink blocked on a lock an
///   allocating thread holds, a stalled disk or network), waiting threads stop
///   waiting: their events are dropped and counted
///   ([`Finished::events_dropped`](super::Finished::events_dropped)), and
///   [`Recording::finish`](super::Recording::finish) gives up on a drain
///   stuck that long with [`FinishError::DrainStalled`](super::FinishError::DrainStalled).
/// - **Return errors, do not panic.** After an error the sink gets no more
///   batches; the events it did not get are counted and the error is in
///   [`Finished::sink_error`](super::Finished::sink_error). A panic is caught:
///   the drain keeps emptying the ring so no thread waits, and `finish`
///   returns [`FinishError::SinkPanicked`](super::FinishError::SinkPanicked)
///   with the events delivered and not. (With `panic = "abort"` a panic ends
///   the process, as anywhere else.)
pub trait Sink: Send + 'static {
    /// Takes the next batch of events, in the order they were recorded. After
    /// an error the sink gets no more batches.
    fn write(&mut self, events: &[Event]) -> std::io::Result<()>;

    /// Called once after the last batch, unless a batch failed; flush here.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many events the drain hands to the sink at once.
const BATCH_EVENTS: usize = 4096;
/// How long the drain sleeps when the ring is empty. Every wake-up costs the
/// whole machine (on a virtual machine, a timer interrupt and an exit to the
/// hypervisor): at 100 µs the wake-ups alone slowed the default run's
/// simulation thread by a tenth. The ring holds far more than one sleep's
/// worth of events.
const IDLE_SLEEP: Duration = Duration::from_millis(2);
/// `stop_at` while the recording runs.
const RUNNING: u64 = u64::MAX;

/// State shared between the drain thread and the recording's owner.
pub(crate) struct DrainControl {
    /// Ticket count at which the drain stops; `RUNNING` until the ring closes.
    stop_at: AtomicU64,
    /// Set when the sink has failed.
    failed: AtomicBool,
    /// Bumped each time the drain goes round its loop or comes back from the
    /// sink: the owner's sign that the drain is not stuck.
    heartbeat: AtomicU64,
}

impl DrainControl {
    pub(crate) fn new() -> Arc<DrainControl> {
        Arc::new(DrainControl {
            stop_at: AtomicU64::new(RUNNING),
            failed: AtomicBool::new(false),
            heartbeat: AtomicU64::new(0),
        })
    }

    /// Tells the drain to stop once it has taken `recorded` events.
    pub(crate) fn stop_after(&self, recorded: u64) {
        self.stop_at.store(recorded, Ordering::Release);
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn heartbeat(&self) -> u64 {
        self.heartbeat.load(Ordering::Relaxed)
    }

    fn beat(&self) {
        self.heartbeat.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why the sink stopped receiving events.
pub(crate) enum SinkTrouble {
    Error(std::io::Error),
    Panic(String),
}

/// What the drain thread gives back when it ends.
pub(crate) struct DrainOutcome<S> {
    pub sink: S,
    /// Events taken from the ring: every event recorded.
    pub drained: u64,
    /// Events the sink accepted.
    pub delivered: u64,
    pub trouble: Option<SinkTrouble>,
}

/// The drain thread's body. The caller has marked the thread as ignored.
pub(crate) fn run<S: Sink>(
    ring: &'static Ring,
    control: Arc<DrainControl>,
    calibration: Calibration,
    mut sink: S,
) -> DrainOutcome<S> {
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
    let mut next_ticket = 0u64;
    let mut delivered = 0u64;
    let mut trouble = None;
    loop {
        control.beat();
        while batch.len() < BATCH_EVENTS {
            let Some(raw) = ring.take(next_ticket) else {
                break;
            };
            batch.push(convert(&raw, &calibration));
            next_ticket += 1;
        }
        if !batch.is_empty() {
            ring.release(next_ticket);
            // After a failure keep draining, so producers never wait forever,
            // but deliver nothing more.
            if trouble.is_none() {
                match deliver(|| sink.write(&batch)) {
                    Ok(()) => delivered += batch.len() as u64,
                    Err(e) => {
                        trouble = Some(e);
                        control.failed.store(true, Ordering::Relaxed);
                    }
                }
            }
            batch.clear();
            continue;
        }
        let stop_at = control.stop_at.load(Ordering::Acquire);
        if next_ticket >= stop_at {
            break;
        }
        if stop_at == RUNNING {
            // `finish` unparks the drain, so it never waits out a sleep.
            std::thread::park_timeout(IDLE_SLEEP);
        } else {
            // Closed: the last producers are finishing their writes.
            std::thread::yield_now();
        }
    }
    if trouble.is_none()
        && let Err(e) = deliver(|| sink.finish())
    {
        trouble = Some(e);
        control.failed.store(true, Ordering::Relaxed);
    }
    control.beat();
    DrainOutcome {
        sink,
        drained: next_ticket,
        delivered,
        trouble,
    }
}

/// Calls the sink, turning a panic into [`SinkTrouble::Panic`].
fn deliver(call: impl FnOnce() -> std::io::Result<()>) -> Result<(), SinkTrouble> {
    match std::panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SinkTrouble::Error(e)),
        Err(panic) => Err(SinkTrouble::Panic(panic_message(&*panic))),
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn convert(raw: &RawEvent, calibration: &Calibration) -> Event {
    let kind = Kind::from_u8(raw.kind);
    Event {
        kind,
        size_bytes: raw.size_bytes,
        align_bytes: 1u64 << raw.align_log2,
        latency_ns: calibration.latency_ns(raw.latency_ticks),
        t_ns: calibration.since_epoch_ns(raw.start_ticks),
        thread: raw.thread,
        addr: raw.addr,
        old_addr: (kind == Kind::Realloc).then_some(raw.old_addr),
    }
}
