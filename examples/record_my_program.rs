// Records every heap allocation of a program into the folder alloc-results/:
// alloc.tsv (one row per call), summary.json (latency percentiles per kind of
// call) and latency.hgrm (the HdrHistogram distribution).
//
// Run it: cargo run --example record_my_program

use std::alloc::System;
use std::collections::HashMap;

use heapsnow::{Recorder, RecorderError, ReportingAllocator};

#[global_allocator]
static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);

fn main() -> Result<(), RecorderError> {
    // Every allocation from here until `_recorder` is dropped is recorded.
    let _recorder = Recorder::start_in(&GLOBAL, "alloc-results")?;

    let text = "the quick brown fox jumps over the lazy dog ".repeat(1000);
    let counts = count_words(&text);
    println!("{} distinct words", counts.len());
    Ok(())
} // `_recorder` is dropped: the files are written, and a line on stderr says where.

fn count_words(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_owned()).or_insert(0) += 1;
    }
    counts
}
