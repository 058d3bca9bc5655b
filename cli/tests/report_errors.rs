//! Every bad input gets a clear error naming the file and line (and column),
//! and a failing exit status, never a panic.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use heapsnow::tsv::HEADER;
use tempfile::TempDir;

/// A row of every column: no old size, no stack.
const GOOD_ROW: &str = "16\t42\talloc\t8\t1000\t1\t0x5000\t\t\t\t\n";

/// Writes `contents` to `DIR/run/alloc.tsv`.
fn input(dir: &TempDir, contents: &[u8]) -> PathBuf {
    let path = dir.path().join("run").join("alloc.tsv");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, contents).unwrap();
    path
}

fn report(dir: &TempDir, files: &[&Path]) -> assert_cmd::assert::Assert {
    Command::cargo_bin("alloc-report")
        .unwrap()
        .arg("--quiet")
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(files)
        .assert()
}

/// Runs on `contents`; asserts exit status 1, an `Error:` line holding
/// every one of `expected`, and no panic. Returns stderr.
fn fails_with(contents: &[u8], expected: &[&str]) -> String {
    let dir = TempDir::new().unwrap();
    let path = input(&dir, contents);
    let output = report(&dir, &[&path]).code(1).get_output().clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("Error: "), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    for part in expected {
        let part = part.replace("{path}", &path.display().to_string());
        assert!(
            stderr.contains(&part),
            "expected {part:?} in stderr: {stderr}"
        );
    }
    assert!(!dir.path().join("out").join("summary.md").exists());
    stderr
}

fn rows(n: usize) -> String {
    GOOD_ROW.repeat(n)
}

#[test]
fn missing_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nowhere").join("alloc.tsv");
    let assert = report(&dir, &[&path]).code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains(&format!("Error: {}: No such file", path.display())),
        "{stderr}"
    );
}

#[test]
fn the_file_of_a_run_that_wrote_none_says_so() {
    let dir = TempDir::new().unwrap();
    let run = dir.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    // What `particles --no-tsv` leaves: a summary, no alloc.tsv.
    std::fs::write(run.join("summary.json"), r#"{"histograms_only": true}"#).unwrap();
    let path = run.join("alloc.tsv");
    let assert = report(&dir, &[&path]).code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains(&format!(
            "Error: {}: the run there wrote no alloc.tsv (--no-tsv",
            path.display()
        )),
        "{stderr}"
    );
}

#[test]
fn directory_instead_of_a_file() {
    let dir = TempDir::new().unwrap();
    let file = input(&dir, format!("{HEADER}{GOOD_ROW}").as_bytes());
    let folder = file.parent().unwrap();
    let assert = report(&dir, &[folder]).code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("is a directory, not an alloc.tsv file"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("did you mean {}?", file.display())),
        "{stderr}"
    );
}

#[test]
fn empty_file() {
    fails_with(b"", &["{path}:1: empty file: expected a header row"]);
}

#[test]
fn header_only() {
    fails_with(
        HEADER.as_bytes(),
        &["{path}: no events: the file holds only a header row"],
    );
}

#[test]
fn header_missing_columns_names_them() {
    let contents = format!("bytes\tns\tkind\talign\tthread\textra\n{GOOD_ROW}");
    fails_with(
        contents.as_bytes(),
        &[r#"{path}:1: header row lacks the columns "t_ns", "addr", "old_addr""#],
    );
}

#[test]
fn wrong_header() {
    // A data row where the header should be: every column is missing.
    fails_with(
        rows(3).as_bytes(),
        &[
            r#"{path}:1: header row lacks the columns "bytes", "ns", "kind", "align", "t_ns", "thread", "addr", "old_addr""#,
        ],
    );
}

#[test]
fn row_with_too_few_fields() {
    let contents = format!("{HEADER}{}16\t42\talloc\n", rows(2));
    fails_with(
        contents.as_bytes(),
        &["{path}:4: expected 11 tab-separated fields (as in the header), found 3"],
    );
}

#[test]
fn field_that_is_not_a_number() {
    let contents = format!("{HEADER}16\tfast\talloc\t8\t1000\t1\t0x5000\t\t\t\t\n");
    fails_with(
        contents.as_bytes(),
        &[r#"{path}:2: column "ns": expected an unsigned integer, found "fast""#],
    );
}

#[test]
fn negative_number() {
    let contents = format!(
        "{HEADER}{}16\t-3\talloc\t8\t1000\t1\t0x5000\t\t\t\t\n",
        rows(15)
    );
    fails_with(
        contents.as_bytes(),
        &[r#"{path}:17: column "ns": expected an unsigned integer, found "-3""#],
    );
}

#[test]
fn overflowing_number() {
    let contents = format!("{HEADER}18446744073709551616\t42\talloc\t8\t1000\t1\t0x5000\t\t\t\t\n");
    fails_with(
        contents.as_bytes(),
        &[r#"{path}:2: column "bytes": 18446744073709551616 does not fit in 64 bits"#],
    );
}

#[test]
fn bad_address() {
    let contents = format!("{HEADER}16\t42\talloc\t8\t1000\t1\t5000\t\t\t\t\n");
    fails_with(
        contents.as_bytes(),
        &[r#"{path}:2: column "addr": expected a hex address like 0x7f3a2c001000, found "5000""#],
    );
}

#[test]
fn unknown_kind() {
    let contents = format!(
        "{HEADER}{}16\t42\tfree\t8\t1000\t1\t0x5000\t\t\t\t\n",
        rows(1)
    );
    fails_with(
        contents.as_bytes(),
        &[
            r#"{path}:3: column "kind": unknown kind "free" (expected alloc, alloc_zeroed, realloc or dealloc)"#,
        ],
    );
}

#[test]
fn bytes_that_are_not_utf8() {
    let mut contents = format!("{HEADER}{}", rows(4)).into_bytes();
    contents.extend_from_slice(b"16\t42\tal\xffloc\t8\t1000\t1\t0x5000\t\t\t\t\n");
    fails_with(
        &contents,
        &[r#"{path}:6: column "kind": found bytes that are not UTF-8 text: al\xffloc"#],
    );
    let mut header = b"bytes\tns\xfe\n".to_vec();
    header.extend_from_slice(GOOD_ROW.as_bytes());
    fails_with(&header, &["{path}:1: header row is not UTF-8 text"]);
}

#[test]
fn random_binary_data() {
    // A deterministic pseudo-random megabyte (xorshift), newlines included.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    fails_with(&bytes, &["{path}:1: "]);
    // Binary data after a valid header fails on the first row.
    let mut contents = HEADER.as_bytes().to_vec();
    contents.extend_from_slice(&bytes);
    fails_with(&contents, &["{path}:2: "]);
}

#[test]
fn a_last_line_cut_short_is_a_warning_and_skipped() {
    let dir = TempDir::new().unwrap();
    let path = input(&dir, format!("{HEADER}{}16\t42\tal", rows(3)).as_bytes());
    let assert = report(&dir, &[&path]).success();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(
        stderr,
        format!(
            "warning: {}:5: the last line has no newline (a run killed mid-write?): skipped it\n",
            path.display()
        )
    );
    let summary = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(summary.contains("| alloc | 3 | 42 |"), "{summary}");
}

#[test]
fn an_error_in_a_middle_row_is_not_taken_for_a_cut_line() {
    // Only the last line may lack its newline; a bad row before it is an error.
    let contents = format!("{HEADER}{}16\t42\talloc\n{}16\t4", rows(1), rows(1));
    fails_with(
        contents.as_bytes(),
        &["{path}:3: expected 11 tab-separated fields"],
    );
}

#[test]
fn the_first_bad_file_is_named() {
    let dir = TempDir::new().unwrap();
    let good = input(&dir, format!("{HEADER}{GOOD_ROW}").as_bytes());
    let bad = dir.path().join("other").join("alloc.tsv");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, format!("{HEADER}1\t2\n")).unwrap();
    let assert = report(&dir, &[&good, &bad]).code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains(&format!("Error: {}:2: expected 11", bad.display())),
        "{stderr}"
    );
}

#[test]
fn labels_must_differ() {
    let dir = TempDir::new().unwrap();
    let path = input(&dir, format!("{HEADER}{GOOD_ROW}").as_bytes());
    let assert = report(&dir, &[&path, &path]).code(1);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("two runs are named \"run\"") && stderr.contains("LABEL=PATH"),
        "{stderr}"
    );
}

#[test]
fn bad_options_get_usage_help() {
    for (args, expected) in [
        (
            &["--format", "jpeg", "x.tsv"][..],
            "possible values: png, svg, both",
        ),
        (&[][..], "<FILE>..."),
    ] {
        let assert = Command::cargo_bin("alloc-report")
            .unwrap()
            .args(args)
            .assert()
            .code(2);
        let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
        assert!(
            stderr.contains(expected),
            "{expected:?} missing from: {stderr}"
        );
    }
}

#[test]
fn help_explains_and_shows_defaults() {
    let assert = Command::cargo_bin("alloc-report")
        .unwrap()
        .arg("--help")
        .assert()
        .success();
    let help = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for part in [
        "LABEL=PATH",
        "[default: results/report]",
        "[default: png]",
        "summary.md",
        "--quiet",
    ] {
        assert!(help.contains(part), "{part:?} missing from --help:\n{help}");
    }
}

/// `alloc-report` (not quiet: it lists the files it wrote on stdout) with
/// stdout going to `stdout`, under a watchdog.
fn report_to(dir: &TempDir, stdout: std::process::Stdio) -> std::process::Output {
    let path = input(dir, format!("{HEADER}{}", rows(100)).as_bytes());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_alloc-report"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg(&path)
        .stdout(stdout)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("alloc-report still running after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_is_quiet_and_not_a_panic() {
    let dir = TempDir::new().unwrap();
    // A pipe whose read end is closed, as `| head -1` leaves it.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = report_to(&dir, writer.into());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
    assert!(dir.path().join("out").join("summary.md").exists());
}

#[test]
fn a_full_stdout_is_one_error_line_and_not_a_panic() {
    let dir = TempDir::new().unwrap();
    let full = std::fs::File::create("/dev/full").unwrap();
    let output = report_to(&dir, full.into());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("Error: cannot print the list of files to stdout")
            && stderr.contains("No space left on device"),
        "{stderr}"
    );
    assert!(dir.path().join("out").join("summary.md").exists());
}

/// A row with every column, its call stack number 3 captured as slow.
const SLOW_ROW_WITH_STACK: &str = "16\t1500\talloc\t8\t1000\t1\t0x5000\t\t\t3\tslow\n";

/// Writes `DIR/run/alloc.tsv` with one slow row that has a stack, and the
/// `files` (name, contents) beside it.
fn run_with_stack_files(dir: &TempDir, files: &[(&str, &str)]) -> PathBuf {
    let path = input(dir, format!("{HEADER}{SLOW_ROW_WITH_STACK}").as_bytes());
    for (name, contents) in files {
        std::fs::write(path.parent().unwrap().join(name), contents).unwrap();
    }
    path
}

/// Asserts exit status 1 and an `Error:` line holding `expected`.
fn stack_files_fail_with(files: &[(&str, &str)], expected: &str) {
    let dir = TempDir::new().unwrap();
    let path = run_with_stack_files(&dir, files);
    let output = report(&dir, &[&path]).code(1).get_output().clone();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let expected = format!("Error: {}/{expected}", path.parent().unwrap().display());
    assert!(
        stderr.contains(&expected),
        "expected {expected:?} in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}

#[test]
fn a_malformed_folded_line_names_the_file_and_line() {
    let stacks = ("stacks.tsv", "stack\tframes\n3\tmain;app::run\n");
    stack_files_fail_with(
        &[
            stacks,
            ("slow-stacks.folded", "main;app::run 1500\nmain;app::run\n"),
        ],
        "slow-stacks.folded:2: expected \"frame;frame;frame WEIGHT\", found no space",
    );
    stack_files_fail_with(
        &[stacks, ("sampled-stacks.folded", "main;;app::run 1000\n")],
        "sampled-stacks.folded:1: an empty frame name",
    );
    stack_files_fail_with(
        &[stacks, ("slow-stacks.folded", "main;app::run 4.2e4\n")],
        "slow-stacks.folded:1: expected a whole number as the weight at the end, found \"4.2e4\"",
    );
}

#[test]
fn a_malformed_stacks_tsv_line_names_the_file_and_line() {
    stack_files_fail_with(
        &[(
            "stacks.tsv",
            "stack\tframes\n1\tmain\nthree\tmain;app::run\n",
        )],
        "stacks.tsv:3: column \"stack\": expected a stack number, found \"three\"",
    );
    stack_files_fail_with(
        &[("stacks.tsv", "bytes\tns\n")],
        "stacks.tsv:1: expected the header \"stack<TAB>frames\"",
    );
}

#[test]
fn stacks_without_stacks_tsv_are_a_warning_and_the_report_goes_on() {
    let dir = TempDir::new().unwrap();
    let path = run_with_stack_files(&dir, &[]);
    let assert = report(&dir, &[&path]).success();
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(
        stderr,
        format!(
            "warning: {}: missing, while 1 events have a stack number: their call sites \
             are unknown\n",
            path.parent().unwrap().join("stacks.tsv").display()
        )
    );
    let summary = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(summary.contains("| alloc | 1 | 1500 |"), "{summary}");
    assert!(
        summary.contains("`stacks.tsv` is missing beside `alloc.tsv`"),
        "{summary}"
    );
}
