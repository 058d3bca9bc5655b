//! The drain thread: empties the ring in order, converts ticks to
//! nanoseconds and hands batches of events to a [`Sink`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::clock::Calibration;
use super::event::{Event, Kind};
use super::guard;
use super::ring::{RawEvent, Ring};

/// Where the drain delivers events. Runs on the drain thread, whose own
/// allocations are never recorded, so a sink may allocate, lock and do I/O.
pub trait Sink: Send + 'static {
    /// Takes the next batch of events, in the order they were recorded. After
    /// an error the sink gets no more batches.
    fn write(&mut self, events: &[Event]) -> std::io::Result<()>;

    /// Called once after the last batch; flush here.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many events the drain hands to the sink at once.
const BATCH_EVENTS: usize = 4096;
/// How long the drain sleeps when the ring is empty.
const IDLE_SLEEP: Duration = Duration::from_micros(100);
/// `stop_at` while the recording runs.
const RUNNING: u64 = u64::MAX;

/// State shared between the drain thread and the recording's owner.
pub(crate) struct DrainControl {
    /// Ticket count at which the drain stops; `RUNNING` until the ring closes.
    stop_at: AtomicU64,
    /// Set when the sink has failed.
    failed: AtomicBool,
}

impl DrainControl {
    pub(crate) fn new() -> Arc<DrainControl> {
        Arc::new(DrainControl {
            stop_at: AtomicU64::new(RUNNING),
            failed: AtomicBool::new(false),
        })
    }

    /// Tells the drain to stop once it has taken `recorded` events.
    pub(crate) fn stop_after(&self, recorded: u64) {
        self.stop_at.store(recorded, Ordering::Release);
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

/// What the drain thread gives back when it ends.
pub(crate) struct DrainOutcome<S> {
    pub sink: S,
    pub drained: u64,
    pub error: Option<std::io::Error>,
}

/// The drain thread's body.
pub(crate) fn run<S: Sink>(
    ring: &'static Ring,
    control: Arc<DrainControl>,
    calibration: Calibration,
    mut sink: S,
) -> DrainOutcome<S> {
    guard::ignore_this_thread();
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
    let mut next_ticket = 0u64;
    let mut error = None;
    loop {
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
            // but write nothing more.
            if error.is_none()
                && let Err(e) = sink.write(&batch)
            {
                error = Some(e);
                control.failed.store(true, Ordering::Relaxed);
            }
            batch.clear();
            continue;
        }
        let stop_at = control.stop_at.load(Ordering::Acquire);
        if next_ticket >= stop_at {
            break;
        }
        if stop_at == RUNNING {
            std::thread::sleep(IDLE_SLEEP);
        } else {
            // Closed: the last producers are finishing their writes.
            std::thread::yield_now();
        }
    }
    if error.is_none()
        && let Err(e) = sink.finish()
    {
        error = Some(e);
        control.failed.store(true, Ordering::Relaxed);
    }
    DrainOutcome {
        sink,
        drained: next_ticket,
        error,
    }
}

fn convert(raw: &RawEvent, calibration: &Calibration) -> Event {
    let kind = Kind::from_u8(raw.kind);
    Event {
        kind,
        size_bytes: raw.size_bytes,
        align_bytes: 1u64 << raw.align_log2,
        latency_ns: calibration.ticks_to_ns(u64::from(raw.latency_ticks)),
        t_ns: calibration.since_epoch_ns(raw.start_ticks),
        thread: raw.thread,
        addr: raw.addr,
        old_addr: (kind == Kind::Realloc).then_some(raw.old_addr),
    }
}
