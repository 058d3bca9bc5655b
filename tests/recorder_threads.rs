//! Eight threads allocating at once through a tiny buffer: every event is
//! recorded, per-thread counts are exact, a realloc (two slots in the
//! buffer) comes out whole and in its thread's order, producers wait instead
//! of dropping, and nothing deadlocks.

mod common;

use std::alloc::{Layout, System};
use std::collections::HashMap;
use std::time::Duration;

use common::{on_threads_at_once, watchdog};
use heapsnow::recorder::{Config, Event, Kind, ReportingAllocator, Sink};

#[global_allocator]
static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);

const THREADS: usize = 8;
const ROUNDS_PER_THREAD: u64 = 70_000;
/// Sizes nothing else in the test process asks for: allocated, then grown.
const MARKER_BYTES: usize = 1234;
const GROWN_BYTES: usize = 2 * MARKER_BYTES;

#[derive(Default)]
struct CountMarkers {
    per_thread: HashMap<(u32, Kind), u64>,
    events: u64,
    /// Each thread's last marker allocation, which its next realloc grows.
    last_alloc: HashMap<u32, u64>,
    /// Reallocs whose old address or old size is not that allocation's.
    reallocs_astray: u64,
}

impl Sink for CountMarkers {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        self.events += events.len() as u64;
        for event in events {
            match (event.kind, event.size_bytes as usize) {
                (Kind::Alloc, MARKER_BYTES) => {
                    self.last_alloc.insert(event.thread, event.addr);
                }
                (Kind::Realloc, GROWN_BYTES) => {
                    let grown = self.last_alloc.remove(&event.thread);
                    if event.old_addr != grown || event.old_size_bytes != Some(MARKER_BYTES as u64)
                    {
                        self.reallocs_astray += 1;
                    }
                }
                (Kind::Dealloc, GROWN_BYTES) => {}
                _ => continue,
            }
            *self
                .per_thread
                .entry((event.thread, event.kind))
                .or_default() += 1;
        }
        Ok(())
    }
}

/// `ROUNDS_PER_THREAD` rounds of an alloc of the marker size, a realloc
/// that grows it, and a dealloc.
fn allocate_grow_and_free_markers() {
    let layout = Layout::from_size_align(MARKER_BYTES, 8).unwrap();
    let grown = Layout::from_size_align(GROWN_BYTES, 8).unwrap();
    for _ in 0..ROUNDS_PER_THREAD {
        // SAFETY: the block is grown from the layout it was made with, and
        // freed once with the grown layout.
        unsafe {
            let ptr = std::hint::black_box(std::alloc::alloc(layout));
            let ptr = std::hint::black_box(std::alloc::realloc(ptr, layout, GROWN_BYTES));
            std::alloc::dealloc(ptr, grown);
        }
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
            let numbers = on_threads_at_once(THREADS, allocate_grow_and_free_markers);
            (numbers, recording.finish().unwrap())
        },
    );

    assert_eq!(
        finished.events_recorded, finished.sink.events,
        "every recorded event reached the sink"
    );
    for number in &numbers {
        for kind in [Kind::Alloc, Kind::Realloc, Kind::Dealloc] {
            assert_eq!(
                finished.sink.per_thread.get(&(*number, kind)).copied(),
                Some(ROUNDS_PER_THREAD),
                "thread {number}, {kind}"
            );
        }
    }
    assert_eq!(
        finished.sink.reallocs_astray, 0,
        "every realloc names the block its thread allocated just before"
    );
    let marker_threads = finished
        .sink
        .per_thread
        .keys()
        .map(|(thread, _)| *thread)
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(marker_threads.len(), THREADS);
    // Both ways a full buffer is dealt with happen here, among threads that
    // exit: spilling (two full buffers at most wait for the drain, and the
    // reallocs above show each thread's order kept across them), and
    // waiting once two already wait.
    assert!(
        finished.spills > 0,
        "a 256-event buffer must make producers spill"
    );
    assert!(
        finished.waits > 0 && finished.wait_ns > 0,
        "a 256-event buffer must make producers wait"
    );
}
