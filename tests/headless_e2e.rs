//! `particles --headless` end to end: the files it writes, reproducibility,
//! signals, crashes and bad output folders.

mod common;

use std::process::{Command, Stdio};
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
    let particle_bytes = std::mem::size_of::<heapsnow::sim::Particle>() as u64;
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
        "3000 frames",
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
