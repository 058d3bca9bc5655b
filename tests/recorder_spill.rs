//! Spill buffers: while the drain is held up, a thread whose buffer is full
//! goes on in a spill buffer instead of waiting, up to
//! `Config::spill_buffers` at once; every event still arrives, each thread's
//! in the order it made them. The drain is held up by a sink that pauses
//! (as a drain that loses its core would), under a watchdog.

mod common;

use std::alloc::{Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use common::watchdog;
use heapsnow::recorder::{Config, Event, Finished, Kind, Recording, ReportingAllocator, Sink};

#[global_allocator]
static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);

/// One test at a time: they share the allocator.
static SERIAL: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Slots in each thread's buffer: every marker call takes one. More than
/// the drain takes from one buffer in a sweep (4,096), so that a drain
/// which took a spill buffer's events before it had emptied the full one
/// would deliver them out of order.
const CAPACITY: usize = 8192;
/// Marker allocations have sizes from here up, one size per allocation, so
/// their order can be checked; a second series starts at twice this.
/// Below glibc's mmap threshold, even the last of the second series.
const MARKER_BYTES: usize = 60_000;

/// Holds the sink (and so the drain) while closed.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
    /// Set once the sink is held at the closed gate.
    holding: AtomicBool,
}

impl Gate {
    fn close(&self) {
        *self.closed.lock().unwrap() = true;
        self.holding.store(false, Ordering::SeqCst);
    }

    fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.opened.notify_all();
    }

    fn pass(&self) {
        let mut closed = self.closed.lock().unwrap();
        while *closed {
            self.holding.store(true, Ordering::SeqCst);
            closed = self.opened.wait(closed).unwrap();
        }
    }

    /// Closes the gate and returns once the drain is held there (an
    /// allocation of this thread gives it a batch to deliver).
    fn hold_drain(&self) {
        self.close();
        drop(std::hint::black_box(vec![0u8; 1]));
        while !self.holding.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Keeps every event; waits at the gate after each batch.
struct Pausing {
    events: Vec<Event>,
    gate: Arc<Gate>,
}

impl Sink for Pausing {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        self.events.extend_from_slice(events);
        self.gate.pass();
        Ok(())
    }
}

fn start(spill_buffers: u32) -> (Recording<Pausing>, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let config = Config {
        capacity_events: CAPACITY,
        spill_buffers,
        ..Config::default()
    };
    let sink = Pausing {
        events: Vec::new(),
        gate: Arc::clone(&gate),
    };
    (GLOBAL.start(config, sink).unwrap(), gate)
}

/// Makes `count` marker calls (alloc, dealloc, alloc...) from size `from`
/// up: one slot each. Returns the thread's recorder number.
fn markers(from: usize, count: usize) -> u32 {
    for size in from..from + count / 2 {
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: freed right away with the layout it was made with.
        unsafe { std::alloc::dealloc(std::hint::black_box(std::alloc::alloc(layout)), layout) };
    }
    heapsnow::recorder::thread_number()
}

/// Asserts that `thread`'s marker events from size `from` are exactly
/// `count` calls, alloc then dealloc of each size in turn, in that order.
fn assert_in_order(finished: &Finished<Pausing>, thread: u32, from: usize, count: usize) {
    let got: Vec<(Kind, u64)> = finished
        .sink
        .events
        .iter()
        .filter(|e| e.thread == thread)
        .filter(|e| (from..from + count / 2).contains(&(e.size_bytes as usize)))
        .map(|e| (e.kind, e.size_bytes))
        .collect();
    let expected: Vec<(Kind, u64)> = (from..from + count / 2)
        .flat_map(|size| [(Kind::Alloc, size as u64), (Kind::Dealloc, size as u64)])
        .collect();
    assert_eq!(got.len(), expected.len(), "thread {thread}: marker events");
    let first_wrong = got.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_wrong, None, "thread {thread}: markers out of order");
}

/// Waits until the drain has taken every event: its count stays put for
/// 50 ms.
fn caught_up(recording: &Recording<Pausing>) {
    let mut seen = recording.events_recorded();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = recording.events_recorded();
        if now == seen {
            return;
        }
        seen = now;
    }
}

fn assert_all_delivered(finished: &Finished<Pausing>) {
    assert_eq!(finished.events_dropped, 0);
    assert_eq!(finished.events_delivered, finished.events_recorded);
    assert_eq!(finished.sink.events.len() as u64, finished.events_recorded);
}

#[test]
fn a_held_up_drain_makes_nobody_wait_while_spill_buffers_last_and_gives_them_back() {
    let _serial = one_at_a_time();
    let finished = watchdog(Duration::from_secs(60), "spilling twice", || {
        let (recording, gate) = start(2);
        // Two and a half buffers' worth while the drain is held: two spills.
        let count = CAPACITY * 5 / 2;
        gate.hold_drain();
        let me = markers(MARKER_BYTES, count);
        gate.open();
        // Once the drain has emptied them, the two full buffers are let go:
        // holding it up again spills twice more.
        caught_up(&recording);
        gate.hold_drain();
        markers(2 * MARKER_BYTES, count);
        gate.open();
        (me, recording.finish().unwrap())
    });
    let (me, finished) = finished;
    assert_all_delivered(&finished);
    assert_eq!(finished.waits, 0, "nobody waits while spill buffers last");
    assert_eq!(finished.spills, 4);
    assert_in_order(&finished, me, MARKER_BYTES, CAPACITY * 5 / 2);
    assert_in_order(&finished, me, 2 * MARKER_BYTES, CAPACITY * 5 / 2);
}

/// Starts a recording with `spill_buffers`, holds the drain, and has
/// another thread open the gate after `held` while this one makes `count`
/// marker calls. Returns this thread's number and the finished recording.
fn markers_while_held(
    spill_buffers: u32,
    held: Duration,
    count: usize,
    what: &'static str,
) -> (u32, Finished<Pausing>) {
    watchdog(Duration::from_secs(60), what, move || {
        let (recording, gate) = start(spill_buffers);
        gate.hold_drain();
        let opener = {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || {
                std::thread::sleep(held);
                gate.open();
            })
        };
        let me = markers(MARKER_BYTES, count);
        opener.join().unwrap();
        (me, recording.finish().unwrap())
    })
}

#[test]
fn past_its_spill_buffers_a_thread_waits_and_loses_nothing() {
    let _serial = one_at_a_time();
    // Five buffers' worth: three fill, then the thread waits.
    let (me, finished) = markers_while_held(
        2,
        Duration::from_millis(200),
        CAPACITY * 5,
        "spilling, then waiting",
    );
    assert_all_delivered(&finished);
    // Two while the drain is held; more may follow once it runs again.
    assert!(finished.spills >= 2, "{} spills", finished.spills);
    assert!(
        finished.waits > 0,
        "the thread waits once both spill buffers are full"
    );
    assert!(
        finished.wait_ns >= 100_000_000,
        "it waits for the gate: {} ns",
        finished.wait_ns
    );
    assert_in_order(&finished, me, MARKER_BYTES, CAPACITY * 5);
}

#[test]
fn without_spill_buffers_a_full_buffer_waits() {
    let _serial = one_at_a_time();
    let (me, finished) = markers_while_held(
        0,
        Duration::from_millis(100),
        CAPACITY * 2,
        "no spill buffers",
    );
    assert_all_delivered(&finished);
    assert_eq!(finished.spills, 0);
    assert!(finished.waits > 0);
    assert_in_order(&finished, me, MARKER_BYTES, CAPACITY * 2);
}

#[test]
fn threads_that_spill_and_exit_keep_every_event_in_order() {
    let _serial = one_at_a_time();
    let finished = watchdog(
        Duration::from_secs(60),
        "threads spilling and exiting",
        || {
            let (recording, gate) = start(2);
            gate.hold_drain();
            // Each thread fills its buffer and half a spill buffer, then exits
            // while the drain is still held.
            let threads: Vec<u32> = (0..2)
                .map(|n| {
                    std::thread::spawn(move || markers((n + 1) * MARKER_BYTES, CAPACITY * 3 / 2))
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|thread| thread.join().unwrap())
                .collect();
            gate.open();
            (threads, recording.finish().unwrap())
        },
    );
    let (threads, finished) = finished;
    assert_all_delivered(&finished);
    assert_eq!(finished.waits, 0);
    assert_eq!(finished.spills, 2);
    for (n, &thread) in threads.iter().enumerate() {
        assert_in_order(&finished, thread, (n + 1) * MARKER_BYTES, CAPACITY * 3 / 2);
    }
}

#[test]
fn many_threads_spilling_through_tiny_buffers_over_many_recordings_keep_order() {
    const THREADS: usize = 8;
    const CALLS: usize = 4_000;
    let _serial = one_at_a_time();
    let recordings = watchdog(Duration::from_secs(120), "many threads spilling", || {
        (0..10)
            .map(|_| {
                let gate = Arc::new(Gate::default());
                let config = Config {
                    // 64 slots: threads spill, wait, exit and take each
                    // other's buffers all the time.
                    capacity_events: 64,
                    spill_buffers: 2,
                    ..Config::default()
                };
                let sink = Pausing {
                    events: Vec::new(),
                    gate,
                };
                let recording = GLOBAL.start(config, sink).unwrap();
                let threads: Vec<u32> = (0..THREADS)
                    .map(|_| std::thread::spawn(|| markers(MARKER_BYTES, CALLS)))
                    .collect::<Vec<_>>()
                    .into_iter()
                    .map(|thread| thread.join().unwrap())
                    .collect();
                (threads, recording.finish().unwrap())
            })
            .collect::<Vec<_>>()
    });
    let spills: u64 = recordings.iter().map(|(_, finished)| finished.spills).sum();
    assert!(spills > 0, "threads spilled");
    for (threads, finished) in &recordings {
        assert_all_delivered(finished);
        for &thread in threads {
            assert_in_order(finished, thread, MARKER_BYTES, CALLS);
        }
    }
}
