//! Call stacks captured on the allocating threads: under eight threads
//! sampling every 10th allocation through a small buffer, nothing deadlocks,
//! counts stay exact, the samples fall exactly every 10th allocating call of
//! each thread, and the frames name this test's own functions; slow calls get
//! their stack exactly when they pass the threshold.
#![cfg(feature = "stacks")]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{on_threads_at_once, watchdog};
use heapsnow::recorder::{self, Config, Event, Kind, ReportingAllocator, Sink};
use heapsnow::stacks::Symbolizer;

/// System, but slow for one size: a backing allocator with calls of known
/// slowness.
struct SlowForOneSize;

const SLOW_BYTES: usize = 4321;
const SLOW_FOR: Duration = Duration::from_micros(60);

// SAFETY: forwards to System unchanged; only waits first for one size.
unsafe impl GlobalAlloc for SlowForOneSize {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() == SLOW_BYTES {
            let start = Instant::now();
            while start.elapsed() < SLOW_FOR {
                std::hint::spin_loop();
            }
        }
        // SAFETY: the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: ReportingAllocator<SlowForOneSize> = ReportingAllocator::new(SlowForOneSize);

/// One recording at a time on the one allocator.
static SERIAL: Mutex<()> = Mutex::new(());

const THREADS: usize = 8;
const PAIRS_PER_THREAD: u64 = 20_000;
const MARKER_BYTES: usize = 1234;

#[derive(Default)]
struct Keep {
    events: Vec<Event>,
    stacks: HashMap<u32, Vec<u64>>,
}

impl Sink for Keep {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        self.events.extend_from_slice(events);
        Ok(())
    }

    fn stack(&mut self, id: u32, frames: &[u64]) -> std::io::Result<()> {
        let earlier = self.stacks.insert(id, frames.to_vec());
        assert!(earlier.is_none(), "stack {id} told twice");
        Ok(())
    }
}

#[inline(never)]
fn allocate_markers() {
    let layout = Layout::from_size_align(MARKER_BYTES, 8).unwrap();
    for _ in 0..PAIRS_PER_THREAD {
        // SAFETY: freed right away with the layout it was made with.
        unsafe { std::alloc::dealloc(std::hint::black_box(std::alloc::alloc(layout)), layout) };
    }
}

fn names(stacks: &HashMap<u32, Vec<u64>>, id: u32) -> Vec<String> {
    Symbolizer::new().frames(&stacks[&id])
}

#[test]
fn eight_threads_sampling_every_10th_call_lose_nothing_and_name_their_code() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (numbers, finished) = watchdog(
        Duration::from_secs(120),
        "8 threads sampling stacks",
        || {
            let config = Config {
                capacity_events: 256,
                stacks_every: NonZeroU64::new(10),
                ..Config::default()
            };
            let recording = GLOBAL.start(config, Keep::default()).unwrap();
            let numbers = on_threads_at_once(THREADS, allocate_markers);
            (numbers, recording.finish().unwrap())
        },
    );
    let sink = &finished.sink;
    assert_eq!(finished.events_recorded, sink.events.len() as u64);
    assert_eq!(finished.events_dropped, 0);
    for &number in &numbers {
        let mine: Vec<&Event> = sink.events.iter().filter(|e| e.thread == number).collect();
        for kind in [Kind::Alloc, Kind::Dealloc] {
            let markers = mine
                .iter()
                .filter(|e| e.kind == kind && e.size_bytes == MARKER_BYTES as u64)
                .count() as u64;
            assert_eq!(markers, PAIRS_PER_THREAD, "thread {number}, {kind}");
        }
        // Exactly every 10th allocating call of the thread is sampled.
        let sampled: Vec<usize> = mine
            .iter()
            .filter(|e| e.kind != Kind::Dealloc)
            .enumerate()
            .filter(|(_, e)| e.stack.is_some_and(|s| s.sampled))
            .map(|(index, _)| index)
            .collect();
        assert!(
            sampled.len() as u64 >= PAIRS_PER_THREAD / 10,
            "thread {number}"
        );
        assert!(
            sampled.windows(2).all(|pair| pair[1] - pair[0] == 10),
            "thread {number}: samples not 10 calls apart"
        );
        assert!(
            mine.iter()
                .all(|e| e.kind != Kind::Dealloc || e.stack.is_none()),
            "a release is never sampled"
        );
    }
    let marker_stack = sink
        .events
        .iter()
        .find(|e| e.size_bytes == MARKER_BYTES as u64 && e.stack.is_some())
        .and_then(|e| e.stack)
        .expect("a sampled marker allocation");
    let frames = names(&sink.stacks, marker_stack.id);
    assert!(
        frames.iter().any(|f| f.ends_with("allocate_markers")),
        "the stack names the test's function: {frames:?}"
    );
    assert!(
        !frames.iter().any(|f| f.contains("heapsnow::recorder")),
        "the recorder's own frames are cut: {frames:?}"
    );
    assert!(
        sink.stacks.len() < 200,
        "the same call site gives the same stack: {} distinct",
        sink.stacks.len()
    );
}

#[inline(never)]
fn allocate_slowly(count: usize) {
    let slow = Layout::from_size_align(SLOW_BYTES, 8).unwrap();
    let fast = Layout::from_size_align(MARKER_BYTES, 8).unwrap();
    for _ in 0..count {
        // SAFETY: each block is freed right away with its own layout.
        unsafe {
            std::alloc::dealloc(std::hint::black_box(std::alloc::alloc(slow)), slow);
            std::alloc::dealloc(std::hint::black_box(std::alloc::alloc(fast)), fast);
        }
    }
}

#[test]
fn a_call_past_the_threshold_gets_its_stack_and_no_faster_one_does() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const OVER: Duration = Duration::from_micros(20);
    let finished = watchdog(Duration::from_secs(120), "slow calls with stacks", || {
        let config = Config {
            stacks_over: Some(OVER),
            ..Config::default()
        };
        let recording = GLOBAL.start(config, Keep::default()).unwrap();
        let worker = std::thread::spawn(|| {
            allocate_slowly(200);
            recorder::thread_number()
        });
        let number = worker.join().unwrap();
        (number, recording.finish().unwrap())
    });
    let (number, finished) = finished;
    let sink = &finished.sink;
    let over_ns = OVER.as_nanos() as u64;
    for event in &sink.events {
        let slow = event.stack.is_some_and(|s| s.slow);
        assert_eq!(
            slow,
            event.latency_ns >= over_ns,
            "a stack exactly for calls of at least {over_ns} ns: {event:?}"
        );
    }
    let slow_ones: Vec<&Event> = sink
        .events
        .iter()
        .filter(|e| {
            e.thread == number && e.size_bytes == SLOW_BYTES as u64 && e.kind == Kind::Alloc
        })
        .collect();
    assert_eq!(slow_ones.len(), 200);
    for event in &slow_ones {
        let stack = event.stack.expect("a 60 µs call has its stack");
        let frames = names(&sink.stacks, stack.id);
        assert!(
            frames.iter().any(|f| f.ends_with("allocate_slowly")),
            "{frames:?}"
        );
    }
}
