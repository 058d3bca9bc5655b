//! The experiments end to end: storage strategies, physics and several worlds.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{read_summary, read_tsv, run_headless};

/// (kind, bytes) sequences per simulation thread, in world order as far as the
/// run tells it (thread numbers are handed out as threads first allocate).
fn sequences_per_world(dir: &Path) -> Vec<Vec<(String, u64)>> {
    let summary = read_summary(dir);
    let mut per_thread: BTreeMap<u32, Vec<(String, u64)>> = summary["sim_threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t.as_u64().unwrap() as u32, Vec::new()))
        .collect();
    for row in read_tsv(dir) {
        if let Some(sequence) = per_thread.get_mut(&row.thread()) {
            sequence.push((row.kind().to_owned(), row.bytes()));
        }
    }
    per_thread.into_values().collect()
}

/// The (kind, bytes) events of one world of `strategy` over `frames` frames.
fn sim_sequence_of(strategy: &str, frames: u64) -> Vec<(String, u64)> {
    let dir = tempfile::tempdir().unwrap();
    run_headless(
        dir.path(),
        &[
            "--strategy",
            strategy,
            "--frames",
            &frames.to_string(),
            "--seed",
            "3",
        ],
    );
    let summary = read_summary(dir.path());
    assert_eq!(summary["strategy"], strategy);
    sequences_per_world(dir.path()).concat()
}

fn sim_events(strategy: &str, frames: u64) -> usize {
    sim_sequence_of(strategy, frames).len()
}

#[test]
fn inline_and_pool_allocate_a_constant_not_per_frame() {
    for strategy in ["inline", "pool"] {
        let short = sim_events(strategy, 2_000);
        let long = sim_events(strategy, 20_000);
        assert!(short < 100, "{strategy}: {short} events in 2000 frames");
        assert!(
            long < short + 30,
            "{strategy}: {short} events in 2000 frames but {long} in 20000"
        );
    }
    let boxed = sim_events("boxed", 2_000);
    assert!(
        boxed > 2_000 + 1_000,
        "boxed allocates every frame: {boxed}"
    );
}

#[test]
fn arena_allocates_a_generation_at_a_time_and_frees_them() {
    // 64-byte particles, at least 256 to a generation.
    let generation_bytes = |bytes: u64| bytes >= 256 * 64 && bytes.is_multiple_of(64);
    let frames = 20_000;
    let events = sim_sequence_of("arena", frames);
    let allocating = events.iter().filter(|(kind, _)| kind != "dealloc").count();
    let freed_generations = events
        .iter()
        .filter(|(kind, bytes)| kind == "dealloc" && generation_bytes(*bytes))
        .count();
    // One arena per few hundred births (6/7 a frame): about 1 call in 600
    // frames, where boxed makes two every frame.
    assert!(
        allocating * 200 < frames as usize,
        "{allocating} allocating calls in {frames} frames"
    );
    // Memory is given back as the world goes on, a generation at a time.
    assert!(
        freed_generations > 10,
        "{freed_generations} generations freed: {events:?}"
    );
    let allocated_generations = events
        .iter()
        .filter(|(kind, bytes)| kind == "alloc" && generation_bytes(*bytes))
        .count();
    assert!(allocated_generations >= freed_generations);
    assert!(allocated_generations <= freed_generations + 6);
}

#[test]
fn flush_physics_runs_end_to_end_and_is_recorded() {
    let (classic, flush) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // 3000 particles live long enough for subnormal accelerations.
    let args = ["--particles", "3000", "--frames", "3000", "--seed", "4"];
    run_headless(classic.path(), &args);
    run_headless(flush.path(), &[&args[..], &["--physics", "flush"]].concat());
    let (classic_summary, flush_summary) =
        (read_summary(classic.path()), read_summary(flush.path()));
    assert_eq!(classic_summary["physics"], "classic");
    assert_eq!(flush_summary["physics"], "flush");
    assert_eq!(flush_summary["frames"], 3000);
    assert!(
        flush_summary["command"]
            .as_str()
            .unwrap()
            .ends_with("--physics flush")
    );
    // The physics changes how fast a frame is, never what it allocates.
    assert_eq!(
        sequences_per_world(classic.path()),
        sequences_per_world(flush.path())
    );
    assert_eq!(
        classic_summary["particles_final"],
        flush_summary["particles_final"]
    );
}

#[test]
fn four_worlds_on_four_threads_are_each_deterministic() {
    let (four, again, one) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    run_headless(
        four.path(),
        &["--threads", "4", "--frames", "1500", "--seed", "5"],
    );
    run_headless(
        again.path(),
        &["--threads", "4", "--frames", "1500", "--seed", "5"],
    );
    run_headless(
        one.path(),
        &["--threads", "1", "--frames", "1500", "--seed", "5"],
    );

    let summary = read_summary(four.path());
    assert_eq!(summary["threads"], 4);
    assert_eq!(summary["frames"], 6000, "frames count over all worlds");
    let mut worlds = sequences_per_world(four.path());
    assert_eq!(worlds.len(), 4, "four simulation threads with events");
    assert!(worlds.iter().all(|w| w.len() > 1000));
    let thread_events = summary["thread_events"].as_object().unwrap();
    for thread in summary["sim_threads"].as_array().unwrap() {
        assert!(thread_events[&thread.to_string()].as_u64().unwrap() > 1000);
    }

    // Thread numbers depend on which thread allocates first, so compare the
    // worlds as a set.
    let mut worlds_again = sequences_per_world(again.path());
    worlds.sort();
    worlds_again.sort();
    assert_eq!(worlds, worlds_again);
    let single = sequences_per_world(one.path()).pop().unwrap();
    assert!(
        worlds.contains(&single),
        "world 0 of four is the single world of the same seed"
    );
    assert_eq!(
        worlds.iter().filter(|w| **w == single).count(),
        1,
        "the other worlds differ"
    );
}
