//! What the allocation path costs beyond the clock reads, measured in
//! alternation. Each round times three batches of 80-byte alloc + dealloc
//! pairs, one after the other: straight to `System` (the bare pair), four
//! clock reads (what timing a pair needs, back to back), and through a
//! recording reporting allocator (each burst after the drain has caught up,
//! as in a run whose drain keeps up). A round's three figures come from the
//! same second of a machine whose speed drifts, so their difference is
//! steadier than criterion's figures taken minutes apart.
//!
//! `cargo run --release -p heapsnow --example path_cost` prints the median
//! and range over the rounds; the README quotes it. `cargo test` runs a
//! short measurement and checks that nothing was lost.
#![cfg_attr(test, allow(dead_code))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
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

/// Mean ns per pair of `BURSTS` timed bursts of `body`, run before each
/// burst's timer starts.
fn batch(mut before: impl FnMut(), mut body: impl FnMut()) -> f64 {
    let mut timed = Duration::ZERO;
    for _ in 0..BURSTS {
        before();
        let start = Instant::now();
        for _ in 0..BURST_PAIRS {
            body();
        }
        timed += start.elapsed();
    }
    timed.as_nanos() as f64 / (BURSTS * BURST_PAIRS) as f64
}

/// Waits until the drain has taken at least `events`.
fn caught_up(recording: &Recording<Discard>, events: u64) {
    while recording.events_recorded() < events {
        std::thread::sleep(Duration::from_micros(100));
    }
}

fn clock_reads(clock: TickSource) {
    let first = black_box(clock.now_ticks()).wrapping_sub(black_box(clock.now_ticks()));
    let second = black_box(clock.now_ticks()).wrapping_sub(black_box(clock.now_ticks()));
    black_box(first.wrapping_add(second));
}

fn spread(name: &str, values: Vec<f64>) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let median = median(&values);
    println!("| {name} | {median:.1} ns | {low:.1} to {high:.1} ns |");
}

/// Per-pair figures of each round: bare, clock reads, recorded, and
/// recorded less the other two.
struct Rounds([Vec<f64>; 4]);

fn measure(rounds: usize) -> Rounds {
    let mut figures = [(); 4].map(|()| Vec::with_capacity(rounds));
    let recording = GLOBAL
        .start(Config::default(), Discard(0))
        .expect("start recording");
    let clock = recording.calibration().source;
    let [bare, clocks, recorded, beyond] = &mut figures;
    let mut events_made = 0;
    for _ in 0..rounds {
        let bare_ns = batch(|| {}, || pair(&System));
        let clocks_ns = batch(|| {}, || clock_reads(clock));
        let recorded_ns = batch(
            || {
                caught_up(&recording, events_made);
                events_made += 2 * BURST_PAIRS;
            },
            || pair(&GLOBAL),
        );
        bare.push(bare_ns);
        clocks.push(clocks_ns);
        recorded.push(recorded_ns);
        beyond.push(recorded_ns - bare_ns - clocks_ns);
    }
    let finished = recording.finish().expect("finish recording");
    assert_eq!(finished.events_dropped, 0, "nothing dropped");
    assert_eq!(finished.waits, 0, "bursts never wait for the drain");
    Rounds(figures)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn main() {
    let Rounds([bare, clocks, recorded, beyond]) = measure(ROUNDS);
    println!(
        "80-byte alloc + dealloc pairs, {ROUNDS} rounds of {} pairs each, alternated within each round",
        BURSTS * BURST_PAIRS
    );
    println!();
    println!("| per pair | median | range over the rounds |");
    println!("| --- | --: | --: |");
    spread("bare System pair", bare);
    spread("4 clock reads, back to back", clocks);
    spread("recorded pair", recorded);
    spread("recorded, beyond bare + clock reads", beyond);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_pair_costs_at_least_its_clock_reads_and_loses_nothing() {
        // `measure` checks that nothing was dropped and nobody waited.
        let Rounds([bare, clocks, recorded, _]) = measure(9);
        let (bare, clocks, recorded) = (median(&bare), median(&clocks), median(&recorded));
        assert!(bare > 0.0 && clocks > 0.0);
        // A recorded pair makes the pair and reads the clock four times. A
        // shared machine's drift between the batches gets a quarter; a
        // recorder that skipped the clock would still come out far below.
        assert!(
            recorded >= 0.75 * (bare + clocks),
            "recorded {recorded:.1} ns < bare {bare:.1} + clocks {clocks:.1} ns"
        );
    }
}
