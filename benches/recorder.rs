//! What recording costs per allocation: 80-byte alloc + dealloc pairs
//! through the backing allocator alone, through the reporting allocator while
//! it records, and through the classic approach (time the call, then one
//! formatted write per event, here to /dev/null). The timer floor is the cost
//! of the two clock reads the recorder makes per event. For reference, with
//! System: the allocator wrappers users know, stats_alloc (counters only) and
//! dhat-rs (its heap profiler running: a call stack per allocation). And what
//! capturing call stacks adds.
//!
//! `cargo bench --no-default-features --bench recorder`; add
//! `--features mimalloc,jemalloc` for those backing allocators.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use heapsnow::recorder::{Config, Event, Recording, ReportingAllocator, Sink};
use stats_alloc::StatsAlloc;

/// Counts events and drops them: the drain's cheapest possible sink.
struct Discard(u64);

impl Sink for Discard {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        self.0 += events.len() as u64;
        Ok(())
    }
}

/// The classic program's allocator: `Instant` around the call and one
/// unbuffered formatted line per event.
struct Classic<A> {
    inner: A,
    out: File,
}

// SAFETY: forwards to the inner allocator unchanged.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Classic<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let start = Instant::now();
        // SAFETY: the caller upholds `alloc`'s contract.
        let ptr = unsafe { self.inner.alloc(layout) };
        let elapsed = start.elapsed();
        let _ = writeln!(&self.out, "{}\t{}", layout.size(), elapsed.as_nanos());
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let start = Instant::now();
        // SAFETY: the caller upholds `dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        let elapsed = start.elapsed();
        let _ = writeln!(&self.out, "{}\t{}", layout.size(), elapsed.as_nanos());
    }
}

const LAYOUT: Layout = match Layout::from_size_align(80, 8) {
    Ok(layout) => layout,
    Err(_) => panic!("valid layout"),
};

/// One pair. Never inlined, so that every allocator's pair is one call of
/// its own function: inlined, the small bare pairs went into criterion's
/// loop while the recording allocator's larger one stayed a call, which
/// charged a call to the recorder alone.
#[inline(never)]
fn pair(allocator: &impl GlobalAlloc) {
    // SAFETY: the pointer is freed once with the layout it was allocated with.
    unsafe {
        let ptr = black_box(allocator.alloc(LAYOUT));
        allocator.dealloc(ptr, LAYOUT);
    }
}

/// Pairs made through a recording reporting allocator so far.
static RECORDED_PAIRS: AtomicU64 = AtomicU64::new(0);

/// Pairs timed in bursts that fit in the thread's buffer, each after the
/// drain has caught up: the cost of the allocation path itself, as in a
/// program whose drain keeps up (the default run never waits). Timed back to
/// back, the loop would make 40 million events a second, more than the drain
/// converts, and measure the drain instead.
fn recorded_pairs<A: GlobalAlloc + Sync, S: Sink>(
    reporting: &'static ReportingAllocator<A>,
    recording: &Recording<S>,
    pairs: u64,
) -> Duration {
    const BURST_PAIRS: u64 = 2_000;
    let mut timed = Duration::ZERO;
    let mut done = 0;
    while done < pairs {
        // Every event made so far through `reporting` is this loop's.
        while recording.events_recorded() < 2 * RECORDED_PAIRS.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_micros(100));
        }
        let burst = (pairs - done).min(BURST_PAIRS);
        let start = Instant::now();
        for _ in 0..burst {
            pair(reporting);
        }
        timed += start.elapsed();
        RECORDED_PAIRS.fetch_add(burst, Ordering::Relaxed);
        done += burst;
    }
    timed
}

fn bench_backing<A: GlobalAlloc + Sync>(
    c: &mut Criterion,
    name: &str,
    bare: &A,
    reporting: &'static ReportingAllocator<A>,
    classic: &Classic<A>,
) {
    let mut group = c.benchmark_group(format!("alloc+dealloc 80 B/{name}"));
    group.bench_function("bare", |b| b.iter(|| pair(bare)));
    group.bench_function("reporting, not recording", |b| b.iter(|| pair(reporting)));
    let recording = reporting.start(Config::default(), Discard(0)).unwrap();
    RECORDED_PAIRS.store(0, Ordering::Relaxed);
    let clock = recording.calibration().source;
    group.bench_function("timer floor (2 pairs of clock reads)", |b| {
        b.iter(|| {
            let first = black_box(clock.now_ticks()).wrapping_sub(black_box(clock.now_ticks()));
            let second = black_box(clock.now_ticks()).wrapping_sub(black_box(clock.now_ticks()));
            black_box(first.wrapping_add(second))
        })
    });
    group.bench_function("reporting, recording", |b| {
        b.iter_custom(|pairs| recorded_pairs(reporting, &recording, pairs))
    });
    let finished = recording.finish().unwrap();
    assert_eq!(
        finished.events_recorded, finished.sink.0,
        "the drain received every event"
    );
    group.bench_function("classic (Instant + a formatted write per event)", |b| {
        b.iter(|| pair(classic))
    });
    group.finish();
}

/// What capturing call stacks adds, with System: a threshold no call reaches
/// (the check alone), and a stack for every allocation (the walk itself; the
/// stack here is criterion's, about 20 frames deep).
fn stacks(c: &mut Criterion) {
    static REPORTING: ReportingAllocator<System> = ReportingAllocator::new(System);
    let mut group = c.benchmark_group("alloc+dealloc 80 B/system");
    for (name, config) in [
        (
            "reporting, recording, stacks over 10 µs",
            Config {
                stacks_over: Some(Duration::from_micros(10)),
                ..Config::default()
            },
        ),
        (
            "reporting, recording, a stack every allocation",
            Config {
                stacks_every: std::num::NonZeroU64::new(1),
                ..Config::default()
            },
        ),
    ] {
        let recording = REPORTING.start(config, Discard(0)).unwrap();
        RECORDED_PAIRS.store(0, Ordering::Relaxed);
        group.bench_function(name, |b| {
            b.iter_custom(|pairs| recorded_pairs(&REPORTING, &recording, pairs))
        });
        let finished = recording.finish().unwrap();
        assert_eq!(finished.events_recorded, finished.sink.0);
    }
    group.finish();
}

/// The peers, wrapping System: what users of other tools pay per pair.
fn peers(c: &mut Criterion) {
    static STATS: StatsAlloc<System> = StatsAlloc::system();
    let mut group = c.benchmark_group("alloc+dealloc 80 B/system");
    group.bench_function("stats_alloc (counters)", |b| b.iter(|| pair(&STATS)));
    {
        let _profiler = dhat::Profiler::builder().testing().build();
        group.bench_function("dhat-rs (heap profiling)", |b| {
            b.iter(|| pair(&dhat::Alloc))
        });
    }
    group.finish();
}

fn dev_null() -> File {
    File::options()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null")
}

fn system(c: &mut Criterion) {
    static REPORTING: ReportingAllocator<System> = ReportingAllocator::new(System);
    bench_backing(
        c,
        "system",
        &System,
        &REPORTING,
        &Classic {
            inner: System,
            out: dev_null(),
        },
    );
}

#[cfg(feature = "mimalloc")]
fn mimalloc(c: &mut Criterion) {
    use mimalloc::MiMalloc;
    static REPORTING: ReportingAllocator<MiMalloc> = ReportingAllocator::new(MiMalloc);
    bench_backing(
        c,
        "mimalloc",
        &MiMalloc,
        &REPORTING,
        &Classic {
            inner: MiMalloc,
            out: dev_null(),
        },
    );
}

#[cfg(not(feature = "mimalloc"))]
fn mimalloc(_: &mut Criterion) {}

#[cfg(feature = "jemalloc")]
fn jemalloc(c: &mut Criterion) {
    use tikv_jemallocator::Jemalloc;
    static REPORTING: ReportingAllocator<Jemalloc> = ReportingAllocator::new(Jemalloc);
    bench_backing(
        c,
        "jemalloc",
        &Jemalloc,
        &REPORTING,
        &Classic {
            inner: Jemalloc,
            out: dev_null(),
        },
    );
}

#[cfg(not(feature = "jemalloc"))]
fn jemalloc(_: &mut Criterion) {}

criterion_group!(benches, system, stacks, peers, mimalloc, jemalloc);
criterion_main!(benches);
