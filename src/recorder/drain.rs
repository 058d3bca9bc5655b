//! The drain thread: empties every thread's buffer, converts ticks to
//! nanoseconds and hands batches of events to a [`Sink`].

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use std::collections::HashMap;

use super::buffer::{Session, Taken};
use super::clock::Calibration;
use super::event::{Event, Kind, StackRef};
use super::slot::{RawEvent, STACK_SAMPLED, STACK_SLOW};
use super::state::State;

/// Where the drain delivers events.
///
/// A sink runs on the drain thread, whose allocations are never recorded, so
/// it may allocate, lock and do I/O. The rules it must follow, and what
/// happens when it breaks them:
///
/// - **Keep up.** While a call is running nothing is delivered; once a
///   thread's buffer and the spill buffers are full, that thread waits. If the drain makes no progress for the
///   recording's [`stall_limit`](super::Config::stall_limit) (a sink blocked on a lock an
///   allocating thread holds, a stalled disk or network), waiting threads stop
///   waiting: their events are dropped and counted
///   ([`Finished::events_dropped`](super::Finished::events_dropped)), and
///   [`Recording::finish`](super::Recording::finish) gives up on a drain
///   stuck that long with [`FinishError::DrainStalled`](super::FinishError::DrainStalled).
/// - **Return errors, do not panic.** After an error the sink gets no more
///   batches; the events it did not get are counted and the error is in
///   [`Finished::sink_error`](super::Finished::sink_error). A panic is caught:
///   the drain keeps emptying the buffers so no thread waits, and `finish`
///   returns [`FinishError::SinkPanicked`](super::FinishError::SinkPanicked)
///   with the events delivered and not. (With `panic = "abort"` a panic ends
///   the process, as anywhere else.)
pub trait Sink: Send + 'static {
    /// Takes the next batch of events, in the order they were recorded. After
    /// an error the sink gets no more batches.
    fn write(&mut self, events: &[Event]) -> std::io::Result<()>;

    /// Takes a call stack captured while recording: its return addresses,
    /// innermost first (the recorder's own frames included), and the number
    /// events refer to it by ([`StackRef::id`]). Each distinct stack comes
    /// once, before the first batch with an event that has it.
    fn stack(&mut self, id: u32, frames: &[u64]) -> std::io::Result<()> {
        let _ = (id, frames);
        Ok(())
    }

    /// Called once after the last batch, unless a batch failed; flush here.
    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How many events the drain hands to the sink at once: few enough that
/// the converted events (about 100 KiB) are still in the core's cache when
/// the sink reads them. Against 4,096, the drain took 9 to 11 ns less CPU
/// an event, and the drain and the writer together 17 to 18 ns less (the
/// medians of the differences, two series of 8 alternated 1M-frame runs,
/// perf's cpu-clock per thread); 512 did no better.
const BATCH_EVENTS: usize = 1024;
/// The most events taken from one thread's buffer in one sweep, so that one
/// busy thread cannot starve the others.
const SWEEP_EVENTS_PER_BUFFER: usize = 4096;
/// How long the drain sleeps when every buffer is empty. Every wake-up costs
/// the whole machine (on a virtual machine, a timer interrupt and an exit to
/// the hypervisor): at 100 µs the wake-ups alone slowed the default run's
/// simulation thread by a tenth. A buffer holds far more than one sleep's
/// worth of events.
const IDLE_SLEEP: Duration = Duration::from_millis(2);

/// State shared between the drain thread and the recording's owner.
pub(crate) struct DrainControl {
    /// Set by `finish`: the drain ends once a sweep finds nothing.
    stopping: AtomicBool,
    /// Set by `finish` when it gives up on a stuck drain: the drain must not
    /// touch the buffers again (a new recording may own them).
    abandoned: AtomicBool,
    /// Set when the sink has failed.
    failed: AtomicBool,
    /// Events of this recording taken from the buffers so far.
    drained: AtomicU64,
    /// Bumped each time the drain goes round its loop or comes back from the
    /// sink: the owner's sign that the drain is not stuck.
    heartbeat: AtomicU64,
}

impl DrainControl {
    pub(crate) fn new() -> Arc<DrainControl> {
        Arc::new(DrainControl {
            stopping: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            drained: AtomicU64::new(0),
            heartbeat: AtomicU64::new(0),
        })
    }

    /// Tells the drain to take what is left and end.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Tells a stuck drain, should it ever come back, to end at once.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Release);
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn drained(&self) -> u64 {
        self.drained.load(Ordering::Relaxed)
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
    /// Events of this recording taken from the buffers: every event recorded.
    pub drained: u64,
    /// Events the sink accepted.
    pub delivered: u64,
    pub trouble: Option<SinkTrouble>,
}

/// The drain thread's body. The caller has marked the thread as ignored.
///
/// Each sweep takes what every thread's buffer holds; when events of several
/// threads were taken, they are put in the order their calls started, so the
/// sink sees one timeline.
pub(crate) fn run<S: Sink>(
    state: &'static State,
    session: &'static Session,
    control: Arc<DrainControl>,
    calibration: Calibration,
    mut sink: S,
) -> DrainOutcome<S> {
    let mut taken: Vec<Taken> = Vec::new();
    let mut frames = Vec::new();
    let mut stacks = Stacks::default();
    let mut batch = Vec::with_capacity(BATCH_EVENTS);
    let mut drained = 0u64;
    let mut delivered = 0u64;
    let mut trouble = None;
    loop {
        control.beat();
        if control.abandoned.load(Ordering::Acquire) {
            break;
        }
        let stopping = control.stopping.load(Ordering::Acquire);
        taken.clear();
        frames.clear();
        let mut threads = 0;
        for buffer in state.buffers() {
            if state.may_take(buffer)
                && buffer.take(SWEEP_EVENTS_PER_BUFFER, &mut taken, &mut frames) > 0
            {
                threads += 1;
            }
        }
        let found = taken.len();
        // Left late by a recording that has ended.
        taken.retain(|event| event.raw.generation == session.generation);
        if threads > 1 {
            taken.sort_by_key(|event| event.raw.start_ticks);
        }
        drained += taken.len() as u64;
        control.drained.store(drained, Ordering::Relaxed);
        for chunk in taken.chunks(BATCH_EVENTS) {
            batch.clear();
            batch.extend(chunk.iter().map(|event| {
                let stack = stacks.refer(event, &frames);
                convert(&event.raw, event.thread, stack, &calibration)
            }));
            // After a failure keep draining, so producers never wait forever,
            // but deliver nothing more.
            if trouble.is_none() {
                let result = deliver(|| {
                    for (id, frames) in stacks.take_new() {
                        sink.stack(id, &frames)?;
                    }
                    sink.write(&batch)
                });
                match result {
                    Ok(()) => delivered += batch.len() as u64,
                    Err(e) => {
                        trouble = Some(e);
                        control.failed.store(true, Ordering::Relaxed);
                    }
                }
                control.beat();
            }
        }
        if found == 0 {
            if stopping {
                break;
            }
            // `finish` unparks the drain, so it never waits out a sleep.
            std::thread::park_timeout(IDLE_SLEEP);
        }
    }
    if trouble.is_none()
        && !control.abandoned.load(Ordering::Acquire)
        && let Err(e) = deliver(|| sink.finish())
    {
        trouble = Some(e);
        control.failed.store(true, Ordering::Relaxed);
    }
    control.beat();
    DrainOutcome {
        sink,
        drained,
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

/// The distinct stacks of a recording, numbered in the order they are seen.
#[derive(Default)]
struct Stacks {
    /// Every stack seen, by its return addresses.
    ids: HashMap<Box<[u64]>, u32>,
    /// The stacks numbered since the sink was last told, in number order.
    untold: Vec<(u32, Box<[u64]>)>,
}

impl Stacks {
    /// The stack of `event`, if it has one, numbered.
    #[inline]
    fn refer(&mut self, event: &Taken, frames: &[u64]) -> Option<StackRef> {
        let raw = &event.raw;
        if raw.stack_why == 0 {
            return None;
        }
        let frames = &frames[event.frames_at..event.frames_at + raw.stack_frames as usize];
        let id = match self.ids.get(frames) {
            Some(&id) => id,
            None => {
                let id = self.ids.len() as u32;
                self.ids.insert(frames.into(), id);
                self.untold.push((id, frames.into()));
                id
            }
        };
        Some(StackRef {
            id,
            slow: raw.stack_why & STACK_SLOW != 0,
            sampled: raw.stack_why & STACK_SAMPLED != 0,
        })
    }

    /// The stacks numbered since the last call, to tell the sink.
    fn take_new(&mut self) -> std::vec::Drain<'_, (u32, Box<[u64]>)> {
        self.untold.drain(..)
    }
}

fn convert(
    raw: &RawEvent,
    thread: u32,
    stack: Option<StackRef>,
    calibration: &Calibration,
) -> Event {
    let kind = Kind::from_u8(raw.kind);
    Event {
        kind,
        size_bytes: raw.size_bytes,
        align_bytes: 1u64 << raw.align_log2,
        latency_ns: calibration.latency_ns(raw.latency_ticks),
        t_ns: calibration.since_epoch_ns(raw.start_ticks),
        thread,
        addr: raw.addr,
        old_addr: (kind == Kind::Realloc).then_some(raw.old_addr),
        old_size_bytes: (kind == Kind::Realloc).then_some(raw.old_size_bytes),
        stack,
    }
}
