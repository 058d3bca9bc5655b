// Receives the recorder's events in a sink of your own instead of files:
// here, the calls and their mean latency per power-of-two size class.
//
// Run it: cargo run --example custom_sink

use std::alloc::System;
use std::collections::BTreeMap;
use std::io;

use heapsnow::recorder::{Config, Event, Finished, Kind, ReportingAllocator, Sink};

#[global_allocator]
static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);

/// Calls and total latency per size class (the size rounded up to a power
/// of two).
#[derive(Default)]
struct BySizeClass(BTreeMap<u64, (u64, u64)>);

// A sink runs on the recorder's drain thread, whose own allocations are never
// recorded: it may allocate, lock and do I/O, but must keep up (see the docs
// of `Sink`).
impl Sink for BySizeClass {
    fn write(&mut self, events: &[Event]) -> io::Result<()> {
        for event in events.iter().filter(|e| e.kind != Kind::Dealloc) {
            let class = event.size_bytes.next_power_of_two();
            let (calls, total_ns) = self.0.entry(class).or_default();
            *calls += 1;
            *total_ns += event.latency_ns;
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let finished = record(run_the_code_you_want_to_measure)?;
    println!(
        "{} calls recorded; clock resolution {:.1} ns",
        finished.events_recorded, finished.calibration.resolution_ns
    );
    println!("{:>12} {:>8} {:>10}", "size ≤ bytes", "calls", "mean ns");
    for (class, (calls, total_ns)) in &finished.sink.0 {
        println!(
            "{class:>12} {calls:>8} {:>10.1}",
            *total_ns as f64 / *calls as f64
        );
    }
    Ok(())
}

/// Records the allocations of `code` into a `BySizeClass`.
fn record(code: impl FnOnce()) -> Result<Finished<BySizeClass>, Box<dyn std::error::Error>> {
    let recording = GLOBAL.start(Config::default(), BySizeClass::default())?;
    code();
    Ok(recording.finish()?)
}

fn run_the_code_you_want_to_measure() {
    let mut rows: Vec<Vec<u8>> = Vec::new();
    for n in 0..10_000 {
        rows.push(vec![0; n % 3000]);
        if rows.len() > 100 {
            rows.swap_remove(n % 100);
        }
    }
}
