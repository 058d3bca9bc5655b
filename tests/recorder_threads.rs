//! Eight threads allocating at once through a tiny buffer: every event is
//! recorded, per-thread counts are exact, producers wait instead of dropping,
//! and nothing deadlocks.

mod common;

use std::alloc::{Layout, System};
use std::collections::HashMap;
use std::time::Duration;

use common::{on_threads_at_once, watchdog};
use heapsnow::recorder::{Config, Event, Kind, ReportingAllocator, Sink};

#[global_allocator]
static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);

const THREADS: usize = 8;
const PAIRS_PER_THREAD: u64 = 100_000;
/// A size nothing else in the test process asks for.
const MARKER_BYTES: usize = 1234;

#[derive(Default)]
struct CountMarkers {
    per_thread: HashMap<(u32, Kind), u64>,
    events: u64,
}

impl Sink for CountMarkers {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        self.events += events.len() as u64;
        for event in events
            .iter()
            .filter(|e| e.size_bytes == MARKER_BYTES as u64)
        {
            *self
                .per_thread
                .entry((event.thread, event.kind))
                .or_default() += 1;
        }
        Ok(())
    }
}

/// `PAIRS_PER_THREAD` alloc + dealloc pairs of the marker size.
fn allocate_marker_pairs() {
    let layout = Layout::from_size_align(MARKER_BYTES, 8).unwrap();
    for _ in 0..PAIRS_PER_THREAD {
        // SAFETY: freed right away with the layout it was made with.
        unsafe { std::alloc::dealloc(std::hint::black_box(std::alloc::alloc(layout)), layout) };
    }
}

#[test]
fn eight_threads_through_a_tiny_buffer_lose_nothing() {
    let (numbers, finished) = watchdog(
        Duration::from_secs(120),
        "8 threads through a tiny buffer",
        || {
            let config = Config {
                capacity_events: 256,
                ..Config::default()
            };
            let recording = GLOBAL.start(config, CountMarkers::default()).unwrap();
            let numbers = on_threads_at_once(THREADS, allocate_marker_pairs);
            (numbers, recording.finish().unwrap())
        },
    );

    assert_eq!(
        finished.events_recorded, finished.sink.events,
        "every recorded event reached the sink"
    );
    for number in &numbers {
        for kind in [Kind::Alloc, Kind::Dealloc] {
            assert_eq!(
                finished.sink.per_thread.get(&(*number, kind)).copied(),
                Some(PAIRS_PER_THREAD),
                "thread {number}, {kind}"
            );
        }
    }
    let marker_threads = finished
        .sink
        .per_thread
        .keys()
        .map(|(thread, _)| *thread)
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(marker_threads.len(), THREADS);
    assert!(
        finished.waits > 0 && finished.wait_ns > 0,
        "a 256-event buffer must make producers wait"
    );
}
