//! The demo window end to end, on a virtual X server (Xvfb) with Mesa's
//! software Vulkan: what it draws, the keys, every way out leaving complete
//! files, and the errors when there is no display or no GPU.
//!
//! Tests that need Xvfb (or xdotool, for the keys) say SKIPPED on stderr and
//! return when it is missing; on CI (`CI` set) a missing tool fails instead.
#![cfg(feature = "window")]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{particles, read_summary, read_tsv, run_headless, sim_sequence};

/// The classic background, as the sRGB surface stores it.
const BACKGROUND: [u8; 3] = [38, 43, 43];
/// Rows of the window above the overlay (it is 180 px tall).
const ABOVE_OVERLAY: usize = 760;
/// Longest wait for the window to show what a test looks for.
const PATIENCE: Duration = Duration::from_secs(60);

/// An Xvfb of the window's size on a display it picks itself; stopped when
/// dropped.
struct XServer {
    process: Child,
    display: String,
}

impl XServer {
    /// Starts Xvfb, or says SKIPPED and gives `None` when it is not installed.
    fn start(test: &str) -> Option<XServer> {
        // -displayfd: Xvfb picks a free display and writes its number once it
        // accepts connections, so tests can run side by side. -noreset: by
        // default the server resets when its last client leaves, and a
        // client opening the display during that reset fails (xdotool and
        // import come and go while the demo starts).
        let spawned = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x960x24",
                "-nolisten",
                "tcp",
                "-noreset",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut process = match spawned {
            Ok(process) => process,
            Err(error) => {
                skip(test, &format!("cannot start Xvfb ({error}); install xvfb"));
                return None;
            }
        };
        let mut line = String::new();
        BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let number: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb said {line:?}"));
        Some(XServer {
            process,
            display: format!(":{number}"),
        })
    }

    /// `particles` on this display (and never on Wayland).
    fn particles(&self) -> Command {
        let mut command = particles();
        command.env("DISPLAY", &self.display);
        command
    }

    fn screenshot(&self) -> Screenshot {
        let output = Command::new("import")
            .args([
                "-display",
                &self.display,
                "-window",
                "root",
                "-depth",
                "8",
                "ppm:-",
            ])
            .output()
            .expect("import (imagemagick) takes the screenshots: install imagemagick");
        assert!(
            output.status.success(),
            "import: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Screenshot::from_ppm(&output.stdout)
    }

    /// Runs xdotool on this display; `None` (after saying SKIPPED) when it is
    /// not installed.
    fn xdotool(&self, test: &str, args: &[&str]) -> Option<String> {
        match Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
        {
            Ok(output) => Some(String::from_utf8_lossy(&output.stdout).into_owned()),
            Err(error) => {
                skip(
                    test,
                    &format!("cannot run xdotool ({error}); install xdotool"),
                );
                None
            }
        }
    }
}

impl Drop for XServer {
    /// SIGTERM, so that Xvfb removes its socket.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.process.id().to_string())
            .status();
        let _ = self.process.wait();
    }
}

/// Says loudly that a test did not run. On CI that is a failure: there the
/// tools are installed by scripts/install-deps.sh and the test must run.
fn skip(test: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {why} (CI must run this test)"
    );
    // Straight to stderr: the test harness hides what eprintln! prints.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// A running `particles`, killed if the test fails before it ends.
struct Demo(Option<Child>);

impl Demo {
    fn spawn(mut command: Command) -> Demo {
        Demo(Some(
            command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        ))
    }

    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Fails the test with what the demo said if it has ended.
    fn assert_running(&mut self, waiting_for: &str) {
        let child = self.0.as_mut().unwrap();
        if child.try_wait().unwrap().is_some() {
            let output = self.0.take().unwrap().wait_with_output().unwrap();
            panic!(
                "the demo ended ({}) before {waiting_for}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    fn wait(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An RGB screenshot.
struct Screenshot {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Screenshot {
    /// Reads a binary PPM (P6, 8 bits a channel).
    fn from_ppm(bytes: &[u8]) -> Screenshot {
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while !bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            fields.push(std::str::from_utf8(&bytes[start..at]).unwrap().to_owned());
        }
        assert_eq!(
            (fields[0].as_str(), fields[3].as_str()),
            ("P6", "255"),
            "not an 8-bit PPM"
        );
        let (width, height) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        let rgb = bytes[at + 1..].to_vec();
        assert_eq!(rgb.len(), width * height * 3);
        Screenshot { width, height, rgb }
    }

    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let at = (y * self.width + x) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    fn count(&self, rows: std::ops::Range<usize>, what: impl Fn([u8; 3]) -> bool) -> usize {
        rows.flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| what(self.pixel(x, y)))
            .count()
    }

    /// Particles: grey to white pixels, well above the background.
    fn particle_pixels(&self) -> usize {
        self.count(0..ABOVE_OVERLAY, is_particle)
    }

    /// The overlay's orange bars, along the bottom.
    fn bar_pixels(&self) -> usize {
        self.count(ABOVE_OVERLAY..self.height, |[r, g, b]| {
            r > 150 && r > g && b < 120
        })
    }

    /// Whether some particle stands alone: a 4 x 4 square with background
    /// all around it.
    fn has_a_lone_4x4_square(&self) -> bool {
        (1..ABOVE_OVERLAY - 5).any(|y| {
            (1..self.width - 5).any(|x| {
                let inside = |dx: usize, dy: usize| (1..=4).contains(&dx) && (1..=4).contains(&dy);
                (0..6).all(|dy| {
                    (0..6).all(|dx| {
                        let pixel = self.pixel(x + dx - 1, y + dy - 1);
                        if inside(dx, dy) {
                            is_particle(pixel)
                        } else {
                            pixel == BACKGROUND
                        }
                    })
                })
            })
        })
    }
}

fn is_particle([r, g, b]: [u8; 3]) -> bool {
    let (low, high) = (r.min(g).min(b), r.max(g).max(b));
    low >= 60 && high - low <= 12
}

/// Takes screenshots until `wanted` holds, or fails once `PATIENCE` is spent
/// or the demo has ended.
fn wait_for_screen(
    x: &XServer,
    demo: &mut Demo,
    what: &str,
    wanted: impl Fn(&Screenshot) -> bool,
) -> Screenshot {
    let started = Instant::now();
    loop {
        let shot = x.screenshot();
        if wanted(&shot) {
            return shot;
        }
        demo.assert_running(&format!("the screen showed {what}"));
        assert!(
            started.elapsed() < PATIENCE,
            "the screen never showed {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn running_with_bars(shot: &Screenshot) -> bool {
    shot.particle_pixels() > 16 * 20 && shot.bar_pixels() > 100
}

/// The three files agree: every event recorded was written, as whole rows.
fn assert_complete(dir: &Path) -> serde_json::Value {
    let rows = read_tsv(dir);
    let summary = read_summary(dir);
    assert_eq!(summary["events_recorded"].as_u64(), Some(rows.len() as u64));
    assert_eq!(summary["events_written"].as_u64(), Some(rows.len() as u64));
    assert!(
        rows.len() > 1000,
        "at least the first 1000 particles: {}",
        rows.len()
    );
    let hgrm = std::fs::read_to_string(dir.join("latency.hgrm")).unwrap();
    assert!(hgrm.contains(&format!("Total count    = {:>12}]", rows.len())));
    summary
}

/// The window thread's events are the headless world thread's, less the few
/// a spawned thread makes for itself as it starts and ends (its name, its
/// start-up packet).
fn assert_same_world(window: &[(String, u64)], headless: &[(String, u64)]) {
    let extra = headless.len().saturating_sub(window.len());
    assert!(
        extra <= 4,
        "{} events in the window, {} headless",
        window.len(),
        headless.len()
    );
    if !headless.windows(window.len()).any(|part| part == window) {
        let first_difference = (0..=extra)
            .map(|skip| {
                window
                    .iter()
                    .zip(&headless[skip..])
                    .take_while(|(a, b)| a == b)
                    .count()
            })
            .max()
            .unwrap_or(0);
        panic!(
            "the window recorded another world: the same for {first_difference} events, then {:?}",
            &window[first_difference..window.len().min(first_difference + 5)]
        );
    }
}

fn succeeded(output: &Output) -> bool {
    if !output.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}

#[test]
fn the_demo_draws_the_world_and_writes_complete_files() {
    let Some(x) = XServer::start("the_demo_draws_the_world_and_writes_complete_files") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut command = x.particles();
    command
        .args([
            "--frames",
            "400",
            "--seed",
            "7",
            "--stacks-every",
            "50",
            "--out",
        ])
        .arg(dir.path());
    let mut demo = Demo::spawn(command);

    let shot = wait_for_screen(
        &x,
        &mut demo,
        "particles and the histogram",
        running_with_bars,
    );
    assert_eq!((shot.width, shot.height), (1280, 960));
    let background = shot.count(0..ABOVE_OVERLAY, |pixel| pixel == BACKGROUND);
    assert!(
        background > shot.width * ABOVE_OVERLAY * 8 / 10,
        "mostly the classic background: {background}"
    );
    assert!(shot.has_a_lone_4x4_square(), "particles are 4 x 4 squares");

    let output = demo.wait();
    assert!(succeeded(&output));
    let summary = assert_complete(dir.path());
    assert_eq!(summary["frames"], 400);
    assert_eq!(summary["interrupted"], false);
    assert_eq!(summary["sim_threads"].as_array().unwrap().len(), 1);
    // Stacks are captured in the window as headless.
    assert!(summary["stacks_captured"].as_u64().unwrap() > 0);
    let sampled = std::fs::read_to_string(dir.path().join("sampled-stacks.folded")).unwrap();
    assert!(sampled.contains("add_particle"), "{sampled}");

    // The window thread records the world alone: the same allocations as a
    // headless run of the same seed and frames.
    let headless = tempfile::tempdir().unwrap();
    run_headless(headless.path(), &["--frames", "400", "--seed", "7"]);
    assert_same_world(&sim_sequence(dir.path()), &sim_sequence(headless.path()));
}

#[test]
fn h_toggles_the_overlay_and_esc_ends_the_demo() {
    let test = "h_toggles_the_overlay_and_esc_ends_the_demo";
    let Some(x) = XServer::start(test) else {
        return;
    };
    if x.xdotool(test, &["version"]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut command = x.particles();
    command.args(["--duration", "120", "--out"]).arg(dir.path());
    let mut demo = Demo::spawn(command);

    // The title is renewed twice a second with the live figures.
    let started = Instant::now();
    let title = loop {
        let title = x
            .xdotool(test, &["search", "--name", "^particles", "getwindowname"])
            .unwrap();
        if title.contains("allocations/s") {
            break title;
        }
        demo.assert_running("the title showed figures");
        assert!(
            started.elapsed() < PATIENCE,
            "no title with figures: {title:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(title.starts_with("particles: "), "{title}");
    for part in ["particles,", "fps,", "heap ", "latency p50", "p99"] {
        assert!(title.contains(part), "{part:?} in {title}");
    }

    wait_for_screen(&x, &mut demo, "the histogram", running_with_bars);
    // No window manager: focus the window, then type into it.
    x.xdotool(
        test,
        &[
            "search",
            "--name",
            "^particles",
            "windowfocus",
            "--sync",
            "key",
            "h",
        ],
    );
    wait_for_screen(&x, &mut demo, "no histogram after H", |shot| {
        shot.bar_pixels() == 0 && shot.particle_pixels() > 16 * 20
    });
    x.xdotool(test, &["key", "h"]);
    wait_for_screen(
        &x,
        &mut demo,
        "the histogram after H again",
        running_with_bars,
    );

    x.xdotool(test, &["key", "Escape"]);
    let output = demo.wait();
    assert!(succeeded(&output));
    let summary = assert_complete(dir.path());
    assert_eq!(summary["interrupted"], false);
    assert!(
        summary["wall_s"].as_f64().unwrap() < 100.0,
        "Esc ended it, not --duration"
    );
}

fn interrupt_with(test: &str, signal: &str, expected_code: i32) {
    let Some(x) = XServer::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut command = x.particles();
    command.args(["--duration", "120", "--out"]).arg(dir.path());
    let mut demo = Demo::spawn(command);
    wait_for_screen(&x, &mut demo, "the running demo", running_with_bars);

    let kill = Command::new("kill")
        .args([signal, &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = demo.wait();
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = assert_complete(dir.path());
    assert_eq!(summary["interrupted"], true);
    assert!(summary["frames"].as_u64().unwrap() > 0);
}

#[test]
fn ctrl_c_ends_the_demo_with_complete_files() {
    interrupt_with("ctrl_c_ends_the_demo_with_complete_files", "-INT", 130);
}

#[test]
fn sigterm_ends_the_demo_with_complete_files() {
    interrupt_with("sigterm_ends_the_demo_with_complete_files", "-TERM", 143);
}

#[test]
fn a_panic_in_the_demo_leaves_complete_files() {
    let Some(x) = XServer::start("a_panic_in_the_demo_leaves_complete_files") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let output = x
        .particles()
        .args([
            "--uncapped",
            "--frames",
            "100000",
            "--panic-after-frames",
            "100",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(101));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the simulation panicked"), "{stderr}");
    let summary = assert_complete(dir.path());
    assert_eq!(summary["frames"], 100);
    assert!(summary["error"].as_str().unwrap().contains("panicked"));
}

#[test]
fn no_display_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = particles()
        .args(["--frames", "10", "--out"])
        .arg(&out)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_SOCKET")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("Error: no display"), "{stderr}");
    assert!(
        stderr.contains("run with --headless, or under xvfb-run"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "no panic, no backtrace: {stderr}"
    );
    assert!(!out.exists(), "nothing ran, nothing was written");
}

#[test]
fn no_gpu_adapter_is_a_clear_error() {
    let Some(x) = XServer::start("no_gpu_adapter_is_a_clear_error") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // No Vulkan driver: wgpu is left with GL, which cannot draw on this surface.
    let output = x
        .particles()
        .args(["--frames", "10", "--out"])
        .arg(&out)
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Error: no usable GPU adapter"), "{stderr}");
    assert!(stderr.contains("run with --headless"), "{stderr}");
    assert!(
        !stderr.contains("panicked"),
        "the panic is caught and kept quiet: {stderr}"
    );
    assert!(!out.exists(), "nothing ran, nothing was written");
}

#[test]
fn several_threads_need_headless() {
    let output = particles()
        .args(["--threads", "2", "--frames", "10"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--threads 2 needs --headless"), "{stderr}");
}
