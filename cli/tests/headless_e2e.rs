//! `particles --headless` end to end: the files it writes, reproducibility,
//! signals, crashes and bad output folders.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{particles, read_summary, read_tsv, run_headless, sim_sequence};

#[test]
fn a_seeded_run_writes_three_consistent_files() {
    let dir = tempfile::tempdir().unwrap();
    let output = particles()
        .args([
            "--headless",
            "--frames",
            "3000",
            "--seed",
            "7",
            "--quiet",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let rows = read_tsv(dir.path());
    let summary = read_summary(dir.path());
    assert_eq!(summary["events_recorded"].as_u64(), Some(rows.len() as u64));
    assert_eq!(summary["events_written"].as_u64(), Some(rows.len() as u64));
    assert_eq!(summary["frames"], 3000);
    assert_eq!(summary["interrupted"], false);
    assert_eq!(summary["seed"], 7);
    assert_eq!(summary["strategy"], "boxed");
    assert_eq!(summary["allocator"], "system");
    assert!(
        summary["command"]
            .as_str()
            .unwrap()
            .contains("--frames 3000")
    );
    for key in [
        "wait_ns",
        "timer_floor_ns",
        "particles_final",
        "wall_s",
        "threads",
    ] {
        assert!(summary[key].is_number(), "{key}");
    }
    for kind in ["alloc", "realloc", "dealloc"] {
        let k = &summary["kinds"][kind];
        let count = rows.iter().filter(|r| r.kind() == kind).count() as u64;
        assert_eq!(k["count"].as_u64(), Some(count), "{kind}");
        let (p50, p99, max) = (
            k["p50"].as_u64().unwrap(),
            k["p99"].as_u64().unwrap(),
            k["max"].as_u64().unwrap(),
        );
        assert!(p50 <= p99 && p99 <= max, "{kind}: {k}");
    }
    // 1000 boxed particles are allocated before the first frame.
    let particle_bytes = std::mem::size_of::<heapsnow_cli::sim::Particle>() as u64;
    let sim = sim_sequence(dir.path());
    assert!(
        sim.iter()
            .filter(|(kind, bytes)| kind == "alloc" && *bytes == particle_bytes)
            .count()
            >= 1000
    );

    let hgrm = std::fs::read_to_string(dir.path().join("latency.hgrm")).unwrap();
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
    assert!(hgrm.contains(&format!("Total count    = {:>12}]", rows.len())));

    let stdout = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "3,000 frames",
        "p99.99",
        "alloc",
        "recorded",
        "timer",
        "alloc.tsv",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing from:\n{stdout}"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_allocations() {
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            run_headless(dir.path(), &["--frames", "2000", "--seed", "11"]);
            sim_sequence(dir.path())
        })
        .collect();
    assert!(runs[0].len() > 3000);
    assert_eq!(runs[0], runs[1]);

    let other = tempfile::tempdir().unwrap();
    run_headless(other.path(), &["--frames", "2000", "--seed", "12"]);
    assert_ne!(
        sim_sequence(other.path()),
        runs[0],
        "another seed, another world"
    );
}

fn interrupt_with(signal: &str, expected_code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = particles()
        .args(["--headless", "--duration", "60", "--quiet", "--out"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Let it record for a while (until alloc.tsv has grown past its header).
    let started = Instant::now();
    while std::fs::metadata(dir.path().join("alloc.tsv")).map_or(0, |m| m.len()) < 1 << 20 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(expected_code));

    let rows = read_tsv(dir.path());
    let summary = read_summary(dir.path());
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["events_written"].as_u64(), Some(rows.len() as u64));
    assert_eq!(summary["events_recorded"].as_u64(), Some(rows.len() as u64));
    assert!(rows.len() > 10_000);
}

#[test]
fn ctrl_c_stops_cleanly_with_complete_files() {
    interrupt_with("-INT", 130);
}

#[test]
fn sigterm_stops_cleanly_with_complete_files() {
    interrupt_with("-TERM", 143);
}

#[test]
fn a_panic_in_the_simulation_leaves_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let output = particles()
        .args([
            "--headless",
            "--frames",
            "100000",
            "--panic-after-frames",
            "500",
            "--quiet",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(101));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the simulation panicked"), "{stderr}");
    let rows = read_tsv(dir.path());
    let summary = read_summary(dir.path());
    assert_eq!(summary["frames"], 500);
    assert_eq!(summary["events_written"].as_u64(), Some(rows.len() as u64));
    assert_eq!(summary["events_recorded"].as_u64(), Some(rows.len() as u64));
    assert!(summary["error"].as_str().unwrap().contains("panicked"));
}

#[test]
fn an_unusable_out_fails_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let out = blocker.join("results");
    let started = Instant::now();
    let output = particles()
        .args(["--headless", "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&out.display().to_string()), "{stderr}");
    assert!(stderr.contains("Not a directory"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing ran");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it must fail before the (long) default run"
    );
}

#[test]
fn a_full_disk_ends_the_run_with_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    // A 4 MiB file size limit stands in for a full disk: writes past it fail
    // with EFBIG once SIGXFSZ is ignored.
    let script = format!(
        "ulimit -f 4096; trap '' XFSZ; exec {} --headless --frames 10000000 --quiet --out {}",
        env!("CARGO_BIN_EXE_particles"),
        dir.path().display()
    );
    let output = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("alloc.tsv"), "{stderr}");
    let rows = read_tsv(dir.path());
    let summary = read_summary(dir.path());
    assert_eq!(summary["events_written"].as_u64(), Some(rows.len() as u64));
    assert!(summary["events_recorded"].as_u64().unwrap() > rows.len() as u64);
    // Every count describes the rows in the file, not the events recorded.
    let kinds = summary["kinds"].as_object().unwrap();
    for (kind, k) in kinds {
        let count = rows.iter().filter(|r| r.kind() == kind).count() as u64;
        assert_eq!(k["count"].as_u64(), Some(count), "{kind}");
    }
    let per_thread: u64 = summary["thread_events"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(per_thread, rows.len() as u64);
    let hgrm = std::fs::read_to_string(dir.path().join("latency.hgrm")).unwrap();
    assert!(
        hgrm.contains(&format!("Total count    = {:>12}]", rows.len())),
        "{hgrm}"
    );
    assert!(
        summary["frames"].as_u64().unwrap() < 10_000_000,
        "the run stopped early"
    );
    assert!(
        std::fs::metadata(dir.path().join("alloc.tsv"))
            .unwrap()
            .len()
            <= 4096 * 1024
    );
}

#[test]
fn no_record_passes_through_and_still_reports() {
    let dir = tempfile::tempdir().unwrap();
    let output = particles()
        .args([
            "--headless",
            "--frames",
            "1000",
            "--no-record",
            "--quiet",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(read_tsv(dir.path()).is_empty());
    let summary = read_summary(dir.path());
    assert_eq!(summary["recording"], false);
    assert_eq!(summary["events_recorded"], 0);
    assert_eq!(summary["frames"], 1000);
}

#[test]
fn no_tsv_keeps_every_event_in_the_histograms_and_writes_no_alloc_tsv() {
    let with_file = tempfile::tempdir().unwrap();
    run_headless(with_file.path(), &["--frames", "3000", "--seed", "7"]);
    let without = tempfile::tempdir().unwrap();
    // An older run's file must not pass for this run's.
    std::fs::write(without.path().join("alloc.tsv"), "an older run\n").unwrap();
    let output = particles()
        .args(["--headless", "--frames", "3000", "--seed", "7", "--no-tsv"])
        .args(["--out"])
        .arg(without.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(!without.path().join("alloc.tsv").exists());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("in the histograms only (--no-tsv)"),
        "{stdout}"
    );
    let files = stdout.lines().find(|l| l.starts_with("files: ")).unwrap();
    assert!(!files.contains("alloc.tsv"), "{files}");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("alloc.tsv"),
        "the announcement names no alloc.tsv"
    );

    let (a, b) = (read_summary(with_file.path()), read_summary(without.path()));
    assert_eq!(a["histograms_only"], false);
    assert_eq!(b["histograms_only"], true);
    assert_eq!(b["events_written"], 0);
    // The same seed makes the same calls: the simulation thread's events
    // and each kind's count match the run that wrote them all down.
    let sim = |s: &serde_json::Value| s["thread_events"][s["sim_threads"][0].to_string()].clone();
    assert!(sim(&a).as_u64().unwrap() > 3000);
    assert_eq!(sim(&a), sim(&b));
    for kind in ["alloc", "realloc", "dealloc"] {
        assert_eq!(
            a["kinds"][kind]["count"], b["kinds"][kind]["count"],
            "{kind}"
        );
    }
    let counted: u64 = b["kinds"]
        .as_object()
        .unwrap()
        .values()
        .map(|k| k["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, b["events_recorded"].as_u64().unwrap());
    assert!(without.path().join("latency.hgrm").exists());
}

#[test]
fn sighup_stops_cleanly_with_complete_files() {
    interrupt_with("-HUP", 129);
}

#[test]
fn sigquit_stops_cleanly_with_complete_files() {
    interrupt_with("-QUIT", 131);
}

/// Starts a long run into `out` and returns once it has written a
/// megabyte of rows.
fn start_long_run(out: &Path) -> Child {
    let child = particles()
        .args(["--headless", "--duration", "60", "--quiet", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::metadata(out.join("alloc.tsv")).map_or(0, |m| m.len()) < 1 << 20 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never started writing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Waits for `child` with a watchdog: kills it and fails past `limit`.
fn wait_at_most(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// True once every thread of `pid` is stopped (state `T`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.map(Result::unwrap).all(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // The state follows the command name, which is in parentheses.
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('T'))
        })
    })
}

#[test]
fn sigkill_leaves_whole_rows_no_summary_and_a_report_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // An older run's files, which must not survive into the new one.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("summary.json"), "{\"events_recorded\": 1}\n").unwrap();
    std::fs::write(out.join("latency.hgrm"), "an older run\n").unwrap();
    let mut child = start_long_run(&out);
    assert!(
        !out.join("summary.json").exists() && !out.join("latency.hgrm").exists(),
        "the older run's files are removed at the start"
    );
    // Stopped first, so the kill lands between two writes of alloc.tsv, as
    // it nearly always does (the kernel can cut a write the kill lands in).
    signal(&child, "-STOP");
    let started = Instant::now();
    while !all_threads_stopped(child.id()) {
        assert!(started.elapsed() < Duration::from_secs(10), "never stopped");
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&child, "-KILL");
    let status = wait_at_most(&mut child, Duration::from_secs(10));
    assert_eq!(status.signal(), Some(9));

    let rows = read_tsv(&out);
    assert!(rows.len() > 10_000);
    assert!(!out.join("summary.json").exists());
    assert!(!out.join("latency.hgrm").exists());

    let report = dir.path().join("report");
    let output = Command::new(env!("CARGO_BIN_EXE_alloc-report"))
        .arg("--quiet")
        .arg("--out")
        .arg(&report)
        .arg(out.join("alloc.tsv"))
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("did not finish"),
        "{stderr}"
    );
    assert!(stderr.contains("--duration 60"), "names the run: {stderr}");
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(
        summary.contains("**run**: the run did not finish"),
        "{summary}"
    );

    // The killed run's lock file does not block the next run.
    let started = Instant::now();
    run_headless(&out, &["--frames", "1000"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    let summary = read_summary(&out);
    assert_eq!(
        summary["events_written"].as_u64(),
        Some(read_tsv(&out).len() as u64)
    );
}

#[test]
fn a_second_run_into_the_same_folder_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start_long_run(dir.path());
    let started = Instant::now();
    let second = particles()
        .args(["--headless", "--frames", "1000", "--quiet", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused at once"
    );
    assert_eq!(second.status.code(), Some(2));
    assert!(second.stdout.is_empty(), "nothing ran");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("pid {}", first.id())) && stderr.contains("--duration 60"),
        "names the other run: {stderr}"
    );

    // The first run went on undisturbed: its files agree with each other.
    signal(&first, "-TERM");
    assert_eq!(
        wait_at_most(&mut first, Duration::from_secs(30)).code(),
        Some(143)
    );
    let rows = read_tsv(dir.path());
    let summary = read_summary(dir.path());
    assert_eq!(summary["events_written"].as_u64(), Some(rows.len() as u64));
    assert_eq!(summary["events_recorded"].as_u64(), Some(rows.len() as u64));
    assert!(
        !dir.path().join(".heapsnow.lock").exists(),
        "a run that ends removes its lock file"
    );
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = particles()
        .args(["--headless", "--frames", "3000", "--quiet", "--out"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // As `| head -1` does once it has its line: here before any.
    drop(child.stdout.take());
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let status = wait_at_most(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "", "quiet, no panic");
    let summary = read_summary(dir.path());
    assert_eq!(
        summary["events_written"].as_u64(),
        Some(read_tsv(dir.path()).len() as u64)
    );
}

#[test]
fn a_full_stdout_fails_with_one_line_and_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let output = particles()
        .args(["--headless", "--frames", "3000", "--quiet", "--out"])
        .arg(dir.path())
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("Error: cannot print the results to stdout")
            && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let summary = read_summary(dir.path());
    assert_eq!(
        summary["events_written"].as_u64(),
        Some(read_tsv(dir.path()).len() as u64)
    );
}

#[test]
fn sizes_that_cannot_work_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (args, limit) in [
        (
            &["--particles", "18446744073709551615"][..],
            "at most 100000000",
        ),
        (
            &["--strategy", "pool", "--particles", "1000000000000"][..],
            "at most 100000000",
        ),
        (
            &["--particles", "1000000", "--threads", "101"][..],
            "at most 100000000",
        ),
        (
            &["--buffer-events", "18446744073709551615"][..],
            "at most 16777216",
        ),
        (&["--buffer-events", "0"][..], "at least 1"),
    ] {
        let out = dir.path().join("out");
        let mut child = particles()
            .args(["--headless", "--quiet", "--out"])
            .arg(&out)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_at_most(&mut child, Duration::from_secs(10));
        let output = child.wait_with_output().unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(limit), "{args:?}: {stderr}");
        assert!(!out.exists(), "{args:?}: nothing ran");
    }
}
