//! Command-line conventions both binaries share, as cargo and hyperfine
//! have them: `-o/--out`, `--version` naming the binary, `-h` the same as
//! `--help`, and one OS message in the error for an unusable `--out`.

use std::process::Command;

fn run(binary: &str, args: &[&str]) -> std::process::Output {
    let path = match binary {
        "particles" => env!("CARGO_BIN_EXE_particles"),
        _ => env!("CARGO_BIN_EXE_alloc-report"),
    };
    Command::new(path).args(args).output().unwrap()
}

fn stdout(binary: &str, args: &[&str]) -> String {
    let output = run(binary, args);
    assert!(output.status.success(), "{binary} {args:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn version_names_the_binary_and_short_help_is_the_long_help() {
    for binary in ["particles", "alloc-report"] {
        assert_eq!(
            stdout(binary, &["--version"]),
            format!("{binary} {}\n", env!("CARGO_PKG_VERSION"))
        );
        let help = stdout(binary, &["--help"]);
        assert_eq!(stdout(binary, &["-h"]), help, "{binary}");
        assert!(help.contains("-o, --out <DIR>"), "{binary}:\n{help}");
        assert!(help.contains("Exit status:"), "{binary}:\n{help}");
    }
}

#[test]
fn particles_writes_into_dash_o() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = run(
        "particles",
        &[
            "--headless",
            "--frames",
            "10",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(output.status.success());
    assert!(out.join("summary.json").exists());
}

#[test]
fn an_unusable_out_says_the_os_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let tsv = dir.path().join("alloc.tsv");
    std::fs::write(
        &tsv,
        format!(
            "{}16\t40\talloc\t8\t0\t1\t0x10\t\t\t\t\n",
            heapsnow::tsv::HEADER
        ),
    )
    .unwrap();
    let out = file.join("out");
    let out = out.to_str().unwrap();
    for (binary, args) in [
        ("particles", vec!["--headless", "--frames", "10", "-o", out]),
        ("alloc-report", vec!["-o", out, tsv.to_str().unwrap()]),
    ] {
        let output = run(binary, &args);
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            stderr.matches("Not a directory").count(),
            1,
            "{binary}: {stderr}"
        );
    }
}
