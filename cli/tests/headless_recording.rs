//! `particles --headless` records the measured program only: never the
//! recorder's own drain (not even its start-up, which once deadlocked a run
//! with a tiny buffer), never the main thread's progress bar or polling. So a
//! seed gives the same events whatever the terminal.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{particles, read_summary, read_tsv};

/// Runs `command` to completion, failing the test if it takes longer than
/// `limit` (and killing it, so a hang cannot stall the suite).
fn run_within(mut command: Command, limit: Duration) -> std::process::Output {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "hung: {command:?} still running after {limit:?}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every event of the run comes from a simulation thread.
fn assert_only_sim_threads(dir: &Path) {
    let summary = read_summary(dir);
    let sim_threads: Vec<u64> = summary["sim_threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    let strangers: std::collections::BTreeSet<u32> = read_tsv(dir)
        .iter()
        .map(|row| row.thread())
        .filter(|thread| !sim_threads.contains(&u64::from(*thread)))
        .collect();
    assert!(
        strangers.is_empty(),
        "events from threads {strangers:?}, which are not the simulation's {sim_threads:?}"
    );
}

#[test]
fn a_one_event_buffer_never_deadlocks_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for attempt in 0..5 {
        let mut command = particles();
        command
            .args([
                "--headless",
                "--quiet",
                "--frames",
                "3000",
                "--buffer-events",
                "1",
            ])
            .arg("--out")
            .arg(dir.path());
        let output = run_within(command, Duration::from_secs(60));
        assert!(
            output.status.success(),
            "attempt {attempt}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary = read_summary(dir.path());
        assert_eq!(
            summary["events_dropped"], 0,
            "attempt {attempt}: the drain stalled (did it record its own start-up?)"
        );
        assert_eq!(summary["events_recorded"], summary["events_written"]);
        assert_only_sim_threads(dir.path());
    }
}

/// The (thread, kind, bytes) sequence of a run.
fn sequence(dir: &Path) -> Vec<(u32, String, u64)> {
    read_tsv(dir)
        .into_iter()
        .map(|row| (row.thread(), row.kind().to_owned(), row.bytes()))
        .collect()
}

/// Asserts two runs recorded the same sequence, naming the first difference.
fn assert_same_events(a: &Path, b: &Path) {
    let (a_events, b_events) = (sequence(a), sequence(b));
    if let Some(index) =
        (0..a_events.len().max(b_events.len())).find(|&i| a_events.get(i) != b_events.get(i))
    {
        panic!(
            "{} and {} differ from event {index}: {:?} against {:?} ({} and {} events)",
            a.display(),
            b.display(),
            a_events.get(index),
            b_events.get(index),
            a_events.len(),
            b_events.len()
        );
    }
}

#[test]
fn a_seed_gives_the_same_events_on_a_terminal_piped_and_quiet() {
    const ARGS: &str = "--headless --frames 20000 --seed 7";
    let root = tempfile::tempdir().unwrap();
    let (piped, quiet, terminal) = (
        root.path().join("piped"),
        root.path().join("quiet"),
        root.path().join("terminal"),
    );
    let mut command = particles();
    command.args(ARGS.split(' ')).arg("--out").arg(&piped);
    assert!(
        run_within(command, Duration::from_secs(60))
            .status
            .success()
    );
    let mut command = particles();
    command
        .args(ARGS.split(' '))
        .arg("--quiet")
        .arg("--out")
        .arg(&quiet);
    assert!(
        run_within(command, Duration::from_secs(60))
            .status
            .success()
    );
    assert_same_events(&piped, &quiet);
    assert_only_sim_threads(&piped);

    // `script` gives the run a terminal, so the progress bar draws.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED the terminal run: `script` (util-linux) is not installed");
        return;
    }
    let mut command = Command::new("script");
    command.args(["-qec"]).arg(format!(
        "{} {ARGS} --out {}",
        env!("CARGO_BIN_EXE_particles"),
        terminal.display()
    ));
    command.arg("/dev/null").env_remove("WAYLAND_DISPLAY");
    let output = run_within(command, Duration::from_secs(60));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("frames"),
        "the terminal run printed its table"
    );
    assert_eq!(
        read_summary(&terminal)["events_recorded"],
        read_summary(&quiet)["events_recorded"]
    );
    assert_same_events(&terminal, &quiet);
}
