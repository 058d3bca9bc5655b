//! What the allocation path costs beyond the clock reads, measured in
//! alternation, on one allocating thread and on two at once. Each round
//! times three batches of 80-byte alloc + dealloc pairs, one after the
//! other: straight to `System` (the bare pair), four clock reads (what
//! timing a pair needs, back to back), and through a recording reporting
//! allocator (each burst after the drain has caught up, as in a run whose
//! drain keeps up); then the same three with a second thread running the
//! same bursts at the same time. A round's figures come from the same
//! second of a machine whose speed drifts, so their differences and ratios
//! are steadier than criterion's figures taken minutes apart.
//!
//! Two threads at once show what the allocation path itself costs when
//! several threads record: their own buffers, or any cache line they share.
//! The drain is idle during a burst, so its work does not count here (in a
//! whole run it does: see the README's "Two busy worlds").
//!
//! `cargo run --release -p heapsnow --example path_cost` prints the medians
//! and ranges over the rounds; the README quotes them. `cargo test` runs a
//! short measurement and checks that nothing was lost.
#![cfg_attr(test, allow(dead_code))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use heapsnow::recorder::{Config, Event, Recording, ReportingAllocator, Sink, TickSource};

#[global_allocator]
static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);

const LAYOUT: Layout = match Layout::from_size_align(80, 8) {
    Ok(layout) => layout,
    Err(_) => panic!("valid layout"),
};
/// Pairs in one burst: 4,000 events, a quarter of a thread's buffer, so
/// a burst never wakes the drain early nor waits for it.
const BURST_PAIRS: u64 = 2_000;
/// Bursts per batch.
const BURSTS: u64 = 10;
const ROUNDS: usize = 31;

/// Drops every event, counting them.
struct Discard(u64);

impl Sink for Discard {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        self.0 += events.len() as u64;
        Ok(())
    }
}

fn pair(allocator: &impl GlobalAlloc) {
    // SAFETY: the pointer is freed once with the layout it was allocated with.
    unsafe {
        let ptr = black_box(allocator.alloc(LAYOUT));
        allocator.dealloc(ptr, LAYOUT);
    }
}

fn clock_reads(clock: TickSource) {
    let first = black_box(clock.now_ticks()).wrapping_sub(black_box(clock.now_ticks()));
    let second = black_box(clock.now_ticks()).wrapping_sub(black_box(clock.now_ticks()));
    black_box(first.wrapping_add(second));
}

/// What a batch times, a pair (or four clock reads) at a time.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    Bare,
    Clocks,
    Recorded,
}

impl Work {
    const ALL: [Work; 3] = [Work::Bare, Work::Clocks, Work::Recorded];
}

/// One timed burst of `work`.
fn burst(work: Work, clock: TickSource) -> Duration {
    match work {
        Work::Bare => timed(|| pair(&System)),
        Work::Clocks => timed(|| clock_reads(clock)),
        Work::Recorded => timed(|| pair(&GLOBAL)),
    }
}

/// How long `BURST_PAIRS` calls of `body` take.
fn timed(mut body: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..BURST_PAIRS {
        body();
    }
    start.elapsed()
}

/// The second thread of the two-thread batches, which runs each burst the
/// main thread runs, started together by a barrier.
struct Partner {
    /// Passed by both threads before and after every burst.
    barrier: Barrier,
    /// What the next burst does (a `Work`), or `STOP`.
    work: AtomicU8,
    /// The partner's timed nanoseconds in the current batch.
    timed_ns: AtomicU64,
}

const STOP: u8 = u8::MAX;

impl Partner {
    fn new() -> Partner {
        Partner {
            barrier: Barrier::new(2),
            work: AtomicU8::new(STOP),
            timed_ns: AtomicU64::new(0),
        }
    }

    /// The partner thread's body: bursts until told to stop.
    fn serve(&self, clock: TickSource) {
        loop {
            self.barrier.wait();
            let work = match self.work.load(Ordering::Relaxed) {
                STOP => return,
                code => Work::ALL[usize::from(code)],
            };
            let timed = burst(work, clock);
            self.timed_ns
                .fetch_add(timed.as_nanos() as u64, Ordering::Relaxed);
            self.barrier.wait();
        }
    }

    fn stop(&self) {
        self.work.store(STOP, Ordering::Relaxed);
        self.barrier.wait();
    }
}

/// What one round's batches need.
struct Bench<'a> {
    recording: &'a Recording<Discard>,
    clock: TickSource,
    /// Events the bursts have made so far.
    events_made: u64,
}

impl Bench<'_> {
    /// Mean ns per pair of `BURSTS` timed bursts of `work`, on this thread
    /// and, with `partner`, on the partner at the same time.
    fn batch(&mut self, work: Work, partner: Option<&Partner>) -> f64 {
        let threads = if partner.is_some() { 2 } else { 1 };
        if let Some(partner) = partner {
            partner.work.store(work as u8, Ordering::Relaxed);
            partner.timed_ns.store(0, Ordering::Relaxed);
        }
        let mut timed = Duration::ZERO;
        for _ in 0..BURSTS {
            if work == Work::Recorded {
                caught_up(self.recording, self.events_made);
                self.events_made += threads * 2 * BURST_PAIRS;
            }
            if let Some(partner) = partner {
                partner.barrier.wait();
            }
            timed += burst(work, self.clock);
            if let Some(partner) = partner {
                // The partner has added its burst's time once past this.
                partner.barrier.wait();
            }
        }
        let partner_ns = partner.map_or(0, |p| p.timed_ns.load(Ordering::Relaxed));
        (timed.as_nanos() as u64 + partner_ns) as f64 / (threads * BURSTS * BURST_PAIRS) as f64
    }

    /// Per-pair figures of one round's three batches.
    fn round(&mut self, partner: Option<&Partner>) -> [f64; 3] {
        Work::ALL.map(|work| self.batch(work, partner))
    }
}

/// Waits until the drain has taken at least `events`.
fn caught_up(recording: &Recording<Discard>, events: u64) {
    while recording.events_recorded() < events {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// The rounds' figures per pair, for one thread count.
#[derive(Default)]
struct Figures {
    bare: Vec<f64>,
    clocks: Vec<f64>,
    recorded: Vec<f64>,
}

impl Figures {
    fn push(&mut self, [bare, clocks, recorded]: [f64; 3]) {
        self.bare.push(bare);
        self.clocks.push(clocks);
        self.recorded.push(recorded);
    }

    /// Recorded less bare and clock reads, a round at a time.
    fn beyond(&self) -> Vec<f64> {
        (0..self.bare.len())
            .map(|i| self.recorded[i] - self.bare[i] - self.clocks[i])
            .collect()
    }

    /// What recording adds to an event (half a pair), a round at a time.
    fn cost_per_event(&self) -> Vec<f64> {
        (0..self.bare.len())
            .map(|i| (self.recorded[i] - self.bare[i]) / 2.0)
            .collect()
    }
}

/// Both thread counts' figures, from the same rounds.
struct Rounds {
    one: Figures,
    two: Figures,
}

fn measure(rounds: usize) -> Rounds {
    let recording = GLOBAL
        .start(Config::default(), Discard(0))
        .expect("start recording");
    let clock = recording.calibration().source;
    let partner = Partner::new();
    let mut figures = Rounds {
        one: Figures::default(),
        two: Figures::default(),
    };
    std::thread::scope(|scope| {
        scope.spawn(|| partner.serve(clock));
        let mut bench = Bench {
            recording: &recording,
            clock,
            events_made: 0,
        };
        for _ in 0..rounds {
            figures.one.push(bench.round(None));
            figures.two.push(bench.round(Some(&partner)));
        }
        partner.stop();
    });
    let finished = recording.finish().expect("finish recording");
    assert_eq!(finished.events_dropped, 0, "nothing dropped");
    assert_eq!(finished.waits, 0, "bursts never wait for the drain");
    figures
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// `median (low to high)` of `values`, with `unit` after each.
fn spread(values: &[f64], unit: &str) -> String {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let median = median(values);
    format!("{median:.2}{unit} ({low:.2} to {high:.2})")
}

fn main() {
    let Rounds { one, two } = measure(ROUNDS);
    println!(
        "80-byte alloc + dealloc pairs, {ROUNDS} rounds of {} pairs a thread each, alternated within each round",
        BURSTS * BURST_PAIRS
    );
    println!();
    println!("| per pair, median (range over the rounds) | 1 thread | 2 threads at once |");
    println!("| --- | --: | --: |");
    let rows = [
        ("bare System pair", one.bare.clone(), two.bare.clone()),
        (
            "4 clock reads, back to back",
            one.clocks.clone(),
            two.clocks.clone(),
        ),
        ("recorded pair", one.recorded.clone(), two.recorded.clone()),
        (
            "recorded, beyond bare + clock reads",
            one.beyond(),
            two.beyond(),
        ),
        (
            "recording's cost an event, (recorded - bare) / 2",
            one.cost_per_event(),
            two.cost_per_event(),
        ),
    ];
    for (name, one, two) in rows {
        println!(
            "| {name} | {} | {} |",
            spread(&one, " ns"),
            spread(&two, " ns")
        );
    }
    let ratios: Vec<f64> = one
        .cost_per_event()
        .iter()
        .zip(two.cost_per_event())
        .map(|(one, two)| two / one)
        .collect();
    println!();
    println!(
        "recording's cost an event, 2 threads / 1 thread: {}",
        spread(&ratios, "x")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_pair_costs_at_least_its_clock_reads_and_loses_nothing() {
        // `measure` checks that nothing was dropped and nobody waited, on
        // one thread and on two.
        let Rounds { one, two } = measure(9);
        for figures in [one, two] {
            let (bare, clocks, recorded) = (
                median(&figures.bare),
                median(&figures.clocks),
                median(&figures.recorded),
            );
            assert!(bare > 0.0 && clocks > 0.0);
            // A recorded pair makes the pair and reads the clock four
            // times. A shared machine's drift between the batches gets a
            // quarter; a recorder that skipped the clock would still come
            // out far below.
            assert!(
                recorded >= 0.75 * (bare + clocks),
                "recorded {recorded:.1} ns < bare {bare:.1} + clocks {clocks:.1} ns"
            );
        }
    }
}
