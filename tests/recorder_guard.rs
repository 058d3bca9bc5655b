//! `Recorder`, the one-line way in: it writes the three files of a folder,
//! refuses an unusable folder with a typed error, and never panics, not even
//! when the folder goes away before it is dropped.

use std::alloc::System;
use std::path::Path;
use std::sync::Mutex;

use heapsnow::recorder::{ReportingAllocator, StartError};
use heapsnow::run::{OutputError, Report};
use heapsnow::{Recorder, RecorderError};

#[global_allocator]
static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);

/// One recording at a time: tests in this binary run on parallel threads.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Allocates and frees `count` boxes of 40 bytes.
fn churn(count: usize) {
    for n in 0..count {
        std::hint::black_box(Box::new([n as u64; 5]));
    }
}

fn summary_of(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn rows_of(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("alloc.tsv")).unwrap();
    text.lines().count() as u64 - 1
}

#[test]
fn finish_writes_the_three_files_with_the_generic_keys() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::start_in(&GLOBAL, dir.path()).unwrap();
    churn(1000);
    let report: Report = recorder.finish().unwrap();

    let summary = &report.summary;
    assert!(summary.events_recorded >= 2000, "{summary:?}");
    assert_eq!(summary.events_written, summary.events_recorded);
    assert_eq!(rows_of(dir.path()), summary.events_written);
    assert!(summary.kinds["alloc"].count >= 1000);
    assert!(summary.kinds["dealloc"].count >= 1000);
    assert!(summary.recording);
    assert!(summary.wall_s > 0.0);
    assert!(
        summary.command.contains("recorder_guard"),
        "{}",
        summary.command
    );
    assert_eq!(summary.error, None);

    let json = summary_of(dir.path());
    for key in [
        "events_recorded",
        "events_written",
        "kinds",
        "wait_ns",
        "timer_floor_ns",
        "wall_s",
        "command",
    ] {
        assert!(json.get(key).is_some(), "summary.json lacks {key}: {json}");
    }
    for key in ["frames", "particles_final", "strategy", "threads", "seed"] {
        assert!(json.get(key).is_none(), "{key} is the simulation's: {json}");
    }
    assert_eq!(json["events_written"], summary.events_written);
    let hgrm = std::fs::read_to_string(dir.path().join("latency.hgrm")).unwrap();
    let total = format!("Total count    = {:>12}]", summary.events_written);
    assert!(hgrm.contains(&total), "{hgrm}");
}

#[test]
fn dropping_it_writes_the_files_too() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    {
        let _recorder = Recorder::start_in(&GLOBAL, dir.path()).unwrap();
        churn(100);
    }
    let json = summary_of(dir.path());
    let written = json["events_written"].as_u64().unwrap();
    assert!(written >= 200, "{json}");
    assert_eq!(rows_of(dir.path()), written);
    assert!(dir.path().join("latency.hgrm").metadata().unwrap().len() > 0);
    assert!(
        !dir.path().join(".heapsnow.lock").exists(),
        "the lock goes with the recorder"
    );
}

#[test]
fn an_unusable_folder_is_a_typed_error_before_anything_runs() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let error = Recorder::start_in(&GLOBAL, file.join("results"))
        .err()
        .expect("a folder inside a file cannot be created");
    assert!(
        matches!(error, RecorderError::Output(OutputError::Io { .. })),
        "{error:?}"
    );
    // The OS's message is the error's cause, said once.
    let message = error.to_string();
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(message.contains("a-file/results"), "{message}");
    assert!(!message.contains(&cause), "{message} / {cause}");
}

#[test]
fn a_second_recorder_is_refused() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let first = Recorder::start_in(&GLOBAL, dir.path().join("a")).unwrap();

    let same_folder = Recorder::start_in(&GLOBAL, dir.path().join("a"))
        .err()
        .unwrap();
    assert!(
        matches!(same_folder, RecorderError::Output(OutputError::Busy { .. })),
        "{same_folder:?}"
    );
    let same_allocator = Recorder::start_in(&GLOBAL, dir.path().join("b"))
        .err()
        .unwrap();
    assert!(
        matches!(
            same_allocator,
            RecorderError::Start(StartError::AlreadyRecording)
        ),
        "{same_allocator:?}"
    );
    first.finish().unwrap();
}

#[test]
fn a_folder_gone_before_the_end_is_an_error_not_a_panic() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");

    let recorder = Recorder::start_in(&GLOBAL, &out).unwrap();
    churn(10);
    std::fs::remove_dir_all(&out).unwrap();
    let error = recorder.finish().err().unwrap();
    assert!(
        matches!(error, RecorderError::Output(OutputError::Io { .. })),
        "{error:?}"
    );

    // Dropped instead of finished: one line on stderr, and no panic.
    let recorder = Recorder::start_in(&GLOBAL, &out).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(recorder)));
    assert!(dropped.is_ok());
    assert!(!out.exists());

    // The allocator is free again.
    Recorder::start_in(&GLOBAL, &out).unwrap().finish().unwrap();
}
