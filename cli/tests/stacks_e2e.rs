//! `particles --stacks-over` and `--stacks-every`: the run's stack files
//! agree with `alloc.tsv`, are in the folded format flame graph tools read,
//! and name the simulation's own code.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{read_summary, read_tsv, run_headless};

/// A folded file's lines: frames (root first) and weight.
fn read_folded(path: &Path) -> Vec<(Vec<String>, u64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let (frames, weight) = line.rsplit_once(' ').expect("frames, a space, a weight");
            let frames = frames.split(';').map(str::to_owned).collect();
            (frames, weight.parse().expect("a whole weight"))
        })
        .collect()
}

/// `stacks.tsv`: number → frames.
fn read_stacks(dir: &Path) -> BTreeMap<u32, String> {
    let text = std::fs::read_to_string(dir.join("stacks.tsv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("stack\tframes"));
    lines
        .map(|line| {
            let (id, frames) = line.split_once('\t').unwrap();
            (id.parse().unwrap(), frames.to_owned())
        })
        .collect()
}

#[test]
fn sampled_and_slow_stacks_add_up_to_the_events_that_carry_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    run_headless(
        out,
        &[
            "--frames",
            "20000",
            "--stacks-every",
            "100",
            "--stacks-over",
            "2us",
        ],
    );
    let rows = read_tsv(out);
    let stacks = read_stacks(out);
    let summary = read_summary(out);
    assert_eq!(summary["stacks_every"], 100);
    assert_eq!(summary["stacks_over_ns"], 2000);

    let sampled = rows
        .iter()
        .filter(|r| r.stack_reason().contains("sampled"))
        .count() as u64;
    let slow: Vec<_> = rows
        .iter()
        .filter(|r| r.stack_reason().contains("slow"))
        .collect();
    assert!(sampled > 100, "{sampled} sampled events");
    assert_eq!(
        summary["stacks_captured"],
        rows.iter().filter(|r| r.stack().is_some()).count()
    );
    assert_eq!(summary["stacks_distinct"], stacks.len());
    for row in &rows {
        if let Some(id) = row.stack() {
            assert!(stacks.contains_key(&id), "stack {id} is in stacks.tsv");
        }
    }
    assert!(
        slow.iter().all(|r| r.ns() >= 2000),
        "only calls of at least 2 µs are slow"
    );
    assert!(
        rows.iter()
            .all(|r| r.ns() < 2000 || r.stack_reason().contains("slow")),
        "every call of at least 2 µs has its stack"
    );

    let sampled_folded = read_folded(&out.join("sampled-stacks.folded"));
    let sampled_weight: u64 = sampled_folded.iter().map(|(_, w)| w).sum();
    assert_eq!(
        sampled_weight,
        sampled * 100,
        "each sample stands for 100 allocations"
    );
    let slow_folded = read_folded(&out.join("slow-stacks.folded"));
    let slow_weight: u64 = slow_folded.iter().map(|(_, w)| w).sum();
    assert_eq!(slow_weight, slow.iter().map(|r| r.ns()).sum::<u64>());

    let all_frames: Vec<&String> = sampled_folded.iter().flat_map(|(f, _)| f).collect();
    assert!(
        all_frames.iter().any(|f| f.contains("spawn_world")),
        "the stacks name the simulation's code: {all_frames:?}"
    );
    assert!(
        !all_frames
            .iter()
            .any(|f| f.contains("heapsnow::recorder") || f.starts_with("__rust_alloc")),
        "the recorder's frames are cut"
    );
}

#[test]
fn without_stack_options_no_stack_is_taken_and_no_stack_file_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    // A stack file of an older run in the folder is removed, like its other files.
    std::fs::write(out.join("slow-stacks.folded"), "old;run 5\n").unwrap();
    run_headless(out, &["--frames", "2000"]);
    assert!(read_tsv(out).iter().all(|r| r.stack().is_none()));
    for name in ["stacks.tsv", "slow-stacks.folded", "sampled-stacks.folded"] {
        assert!(!out.join(name).exists(), "{name}");
    }
    assert_eq!(read_summary(out)["stacks_captured"], 0);
}

#[test]
fn a_stack_for_every_allocation_through_a_one_event_buffer_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    // Each stack is cut to what a 2-slot buffer holds, and every event waits
    // for the drain: slow, but whole.
    run_headless(
        out,
        &[
            "--frames",
            "3000",
            "--buffer-events",
            "1",
            "--stacks-every",
            "1",
        ],
    );
    let summary = read_summary(out);
    assert_eq!(summary["events_dropped"], 0);
    assert_eq!(summary["events_recorded"], summary["events_written"]);
    let rows = read_tsv(out);
    assert!(
        rows.iter()
            .all(|r| (r.kind() == "dealloc") == r.stack().is_none()),
        "every allocating call has its stack, no release has one"
    );
}
