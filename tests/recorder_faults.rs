//! The recorder attacked with faults: it must never hang the program it
//! measures, never record itself, and say exactly what it lost.
//!
//! Every test runs under a watchdog that ends the whole process within
//! seconds if the recorder hangs: a hung allocator would also hang the test
//! harness, so a failed `recv_timeout` alone would not be enough.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use common::watchdog;
use heapsnow::recorder::{
    self, ClockSource, Config, Event, FinishError, Kind, ReportingAllocator, Sink, TickSource,
};

/// Sleeps in `alloc` for one marker size: a backing allocator with a slow
/// call of known length, for latencies beyond 32 bits of ticks.
struct SlowOnMarker;

const SLOW_BYTES: usize = 4321;
static SLOW_FOR_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

// SAFETY: forwards every call to System unchanged; it only sleeps first.
unsafe impl GlobalAlloc for SlowOnMarker {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() == SLOW_BYTES {
            std::thread::sleep(Duration::from_nanos(SLOW_FOR_NS.load(Ordering::Relaxed)));
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
static GLOBAL: ReportingAllocator<SlowOnMarker> = ReportingAllocator::new(SlowOnMarker);

/// One recording at a time: the tests share the global allocator.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

fn alloc_pairs(bytes: usize, pairs: u64) {
    let layout = Layout::from_size_align(bytes, 8).unwrap();
    for _ in 0..pairs {
        // SAFETY: freed right away with the layout it was made with.
        unsafe { std::alloc::dealloc(black_box(std::alloc::alloc(layout)), layout) };
    }
}

/// Keeps every event, and the number of the thread that delivers them
/// (the drain's).
#[derive(Default)]
struct Collect {
    events: Vec<Event>,
    drain_thread: Option<u32>,
}

impl Sink for Collect {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        self.drain_thread = Some(recorder::thread_number());
        self.events.extend_from_slice(events);
        Ok(())
    }
}

#[test]
fn starting_while_32_threads_allocate_never_hangs_and_never_records_the_drain() {
    let _one = one_at_a_time();
    watchdog(Duration::from_secs(60), "start/finish under load", || {
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..32)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let me = recorder::thread_number();
                    while !stop.load(Ordering::Relaxed) {
                        alloc_pairs(24, 100);
                    }
                    me
                })
            })
            .collect();
        // Other tests of this file run beside this one, and the harness's
        // threads allocate too: events from threads other than the workers
        // are expected. The drain's own thread must never appear.
        let mut seen_threads = HashSet::new();
        let mut drain_threads = HashSet::new();
        for _ in 0..20 {
            let config = Config {
                capacity_events: 2,
                ..Config::default()
            };
            let recording = GLOBAL.start(config, Collect::default()).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            let finished = recording.finish().unwrap();
            assert_eq!(finished.events_recorded, finished.events_delivered);
            assert_eq!(
                finished.events_dropped, 0,
                "the drain kept up: nothing dropped"
            );
            seen_threads.extend(finished.sink.events.iter().map(|e| e.thread));
            drain_threads.extend(finished.sink.drain_thread);
        }
        stop.store(true, Ordering::Relaxed);
        let workers: HashSet<u32> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        assert!(
            !drain_threads.is_empty(),
            "the drain delivered at least one batch"
        );
        assert!(
            drain_threads.is_disjoint(&workers),
            "the drain runs on its own thread"
        );
        let recorded_drains: Vec<_> = seen_threads.intersection(&drain_threads).collect();
        assert!(
            recorded_drains.is_empty(),
            "the drain recorded itself: events from its threads {recorded_drains:?}"
        );
        assert!(
            seen_threads.intersection(&workers).count() >= 16,
            "most workers' allocations were recorded: {} of 32",
            seen_threads.intersection(&workers).count()
        );
    });
}

/// Panics on its third batch.
#[derive(Debug, Default)]
struct PanicOnThirdBatch {
    batches: u32,
}

impl Sink for PanicOnThirdBatch {
    fn write(&mut self, _: &[Event]) -> std::io::Result<()> {
        self.batches += 1;
        if self.batches == 3 {
            panic!("sink failure on purpose");
        }
        Ok(())
    }
}

#[test]
fn a_panicking_sink_never_blocks_producers_and_finish_says_what_was_lost() {
    let _one = one_at_a_time();
    let error = watchdog(Duration::from_secs(30), "a panicking sink", || {
        let config = Config {
            capacity_events: 64,
            ..Config::default()
        };
        let recording = GLOBAL.start(config, PanicOnThirdBatch::default()).unwrap();
        let workers: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| alloc_pairs(48, 50_000)))
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(recording.sink_failed());
        let recorded = recording.events_recorded();
        (recording.finish().unwrap_err(), recorded)
    });
    match error {
        (
            FinishError::SinkPanicked {
                message,
                events_delivered,
                events_undelivered,
            },
            recorded,
        ) => {
            assert!(message.contains("sink failure on purpose"), "{message}");
            assert!(events_delivered > 0 && events_undelivered > 0);
            assert!(
                events_delivered + events_undelivered >= recorded,
                "{events_delivered} + {events_undelivered} must account for the {recorded} events recorded before finish"
            );
        }
        (other, _) => panic!("expected SinkPanicked, got {other}"),
    }
}

/// Takes a lock the test can hold while it allocates: the deadlock a sink
/// that locks can cause.
struct LockingSink {
    lock: Arc<Mutex<()>>,
    events: u64,
}

impl Sink for LockingSink {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        let _held = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.events += events.len() as u64;
        Ok(())
    }
}

#[test]
fn a_sink_blocked_by_an_allocating_thread_costs_dropped_events_not_a_hang() {
    let _one = one_at_a_time();
    let stall_limit = Duration::from_millis(100);
    watchdog(
        Duration::from_secs(30),
        "a sink blocked on a lock",
        move || {
            let lock = Arc::new(Mutex::new(()));
            let config = Config {
                capacity_events: 64,
                stall_limit,
                ..Config::default()
            };
            let sink = LockingSink {
                lock: Arc::clone(&lock),
                events: 0,
            };
            let recording = GLOBAL.start(config, sink).unwrap();
            let started = Instant::now();
            {
                // This thread holds the sink's lock and allocates far more than
                // the buffer holds: without the stall limit, a deadlock.
                let _held = lock.lock().unwrap();
                alloc_pairs(40, 1000);
            }
            let blocked_for = started.elapsed();
            assert!(
                blocked_for < Duration::from_secs(5),
                "producers must stop waiting after the stall limit ({stall_limit:?}), took {blocked_for:?}"
            );
            let finished = recording.finish().unwrap();
            assert!(finished.events_dropped > 0, "the stall dropped events");
            assert_eq!(
                finished.events_recorded, finished.sink.events,
                "what was recorded was delivered"
            );
            assert!(finished.events_recorded + finished.events_dropped >= 2000);
        },
    );
}

/// Takes its time over every batch, but always comes back.
struct SlowSink {
    events: u64,
}

impl Sink for SlowSink {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        std::thread::sleep(Duration::from_millis(2));
        self.events += events.len() as u64;
        Ok(())
    }
}

#[test]
fn a_slow_sink_that_makes_progress_loses_nothing() {
    let _one = one_at_a_time();
    watchdog(Duration::from_secs(60), "a slow sink", || {
        let config = Config {
            capacity_events: 256,
            stall_limit: Duration::from_millis(200),
            ..Config::default()
        };
        let recording = GLOBAL.start(config, SlowSink { events: 0 }).unwrap();
        let workers: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| alloc_pairs(56, 10_000)))
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        let finished = recording.finish().unwrap();
        assert_eq!(finished.events_dropped, 0);
        assert!(finished.waits > 0, "a slow sink makes producers wait");
        assert_eq!(finished.events_recorded, finished.sink.events);
        assert!(finished.events_recorded >= 80_000);
    });
}

/// Never comes back from its first batch until released.
#[derive(Debug)]
struct StuckSink {
    release: Arc<Mutex<()>>,
}

impl Sink for StuckSink {
    fn write(&mut self, _: &[Event]) -> std::io::Result<()> {
        drop(self.release.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(())
    }
}

#[test]
fn finish_gives_up_on_a_drain_stuck_in_its_sink() {
    let _one = one_at_a_time();
    let stall_limit = Duration::from_millis(200);
    watchdog(
        Duration::from_secs(30),
        "finish with a stuck sink",
        move || {
            let release = Arc::new(Mutex::new(()));
            let held = release.lock().unwrap();
            let config = Config {
                capacity_events: 64,
                stall_limit,
                ..Config::default()
            };
            let recording = GLOBAL
                .start(
                    config,
                    StuckSink {
                        release: Arc::clone(&release),
                    },
                )
                .unwrap();
            alloc_pairs(72, 10);
            let started = Instant::now();
            let error = recording.finish().unwrap_err();
            assert!(matches!(error, FinishError::DrainStalled { .. }), "{error}");
            assert!(started.elapsed() < Duration::from_secs(5));
            drop(held);
            // The allocator records again afterwards, with a fresh buffer.
            let recording = GLOBAL.start(Config::default(), Collect::default()).unwrap();
            alloc_pairs(72, 10);
            assert!(recording.finish().unwrap().events_recorded >= 20);
        },
    );
}

#[cfg(unix)]
#[test]
fn a_child_forked_while_recording_passes_through_and_never_hangs() {
    let _one = one_at_a_time();
    watchdog(Duration::from_secs(30), "a forked child", || {
        let config = Config {
            capacity_events: 16,
            ..Config::default()
        };
        let recording = GLOBAL.start(config, Collect::default()).unwrap();
        // SAFETY: the child only allocates (through the recorder under test),
        // calls `finish` on its copy of the recording and `_exit`s.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            alloc_pairs(32, 10_000);
            let code = match recording.finish() {
                Err(FinishError::ForkedChild) => 0,
                _ => 1,
            };
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child, without blocking.
            let waited = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
            if waited == child {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: kills our own child.
                unsafe { libc::kill(child, libc::SIGKILL) };
                panic!("the forked child hung in the allocator");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status}"
        );
        // fork + exec still works, and the parent keeps recording.
        let exec = std::process::Command::new("true").status().unwrap();
        assert!(exec.success());
        alloc_pairs(32, 100);
        let finished = recording.finish().unwrap();
        assert!(finished.events_recorded >= 200);
        assert_eq!(finished.events_dropped, 0);
    });
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_call_longer_than_32_bits_of_ticks_is_reported_in_full() {
    let _one = one_at_a_time();
    let config = Config {
        clock: ClockSource::Tsc,
        ..Config::default()
    };
    let recording = GLOBAL.start(config, Collect::default()).unwrap();
    let calibration = *recording.calibration();
    assert_eq!(calibration.source, TickSource::Tsc);
    // Just past what 32 bits of ticks can hold on this machine.
    let slow = Duration::from_nanos((u32::MAX as f64 * calibration.ns_per_tick) as u64)
        + Duration::from_millis(300);
    SLOW_FOR_NS.store(slow.as_nanos() as u64, Ordering::Relaxed);
    let layout = Layout::from_size_align(SLOW_BYTES, 8).unwrap();
    // SAFETY: freed right away with the layout it was made with.
    unsafe { std::alloc::dealloc(black_box(std::alloc::alloc(layout)), layout) };
    SLOW_FOR_NS.store(0, Ordering::Relaxed);
    let finished = recording.finish().unwrap();
    let latency_ns = finished
        .sink
        .events
        .iter()
        .find(|e| e.kind == Kind::Alloc && e.size_bytes == SLOW_BYTES as u64)
        .expect("the slow call was recorded")
        .latency_ns;
    assert!(
        latency_ns as f64 >= slow.as_nanos() as f64 * 0.98,
        "a {slow:?} call was reported as {latency_ns} ns"
    );
}

#[test]
fn two_allocators_recording_with_different_clocks_keep_their_own_times() {
    static MONOTONIC: ReportingAllocator<System> = ReportingAllocator::new(System);
    static TSC: ReportingAllocator<System> = ReportingAllocator::new(System);
    let _one = one_at_a_time();
    let started = Instant::now();
    let monotonic = MONOTONIC
        .start(
            Config {
                clock: ClockSource::Monotonic,
                ..Config::default()
            },
            Collect::default(),
        )
        .unwrap();
    let tsc = TSC
        .start(
            Config {
                clock: ClockSource::Tsc,
                ..Config::default()
            },
            Collect::default(),
        )
        .unwrap();
    let layout = Layout::from_size_align(88, 8).unwrap();
    for allocator in [&MONOTONIC, &TSC] {
        for _ in 0..100 {
            // SAFETY: freed right away with the layout it was made with.
            unsafe { allocator.dealloc(black_box(allocator.alloc(layout)), layout) };
        }
    }
    let tsc = tsc.finish().unwrap();
    let monotonic = monotonic.finish().unwrap();
    let elapsed_ns = started.elapsed().as_nanos() as u64;
    for (name, finished) in [("monotonic", &monotonic), ("tsc", &tsc)] {
        assert_eq!(finished.sink.events.len(), 200, "{name}");
        for event in &finished.sink.events {
            assert!(
                event.t_ns < elapsed_ns && event.latency_ns < elapsed_ns,
                "{name}: an event at {} ns lasting {} ns in a {elapsed_ns} ns test: mixed clocks",
                event.t_ns,
                event.latency_ns
            );
        }
    }
}
