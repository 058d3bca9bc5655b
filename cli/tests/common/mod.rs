//! Helpers for the end-to-end tests: run `particles`, read what it wrote.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

pub fn particles() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_particles"));
    command.env_remove("WAYLAND_DISPLAY");
    command
}

/// Runs `particles --headless --quiet --out OUT ARGS...` and asserts it
/// succeeded.
pub fn run_headless(out: &Path, args: &[&str]) {
    let output = particles()
        .args(["--headless", "--quiet", "--out"])
        .arg(out)
        .args(args)
        .stdout(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One `alloc.tsv` row, fields as text.
pub struct Row {
    pub fields: Vec<String>,
}

impl Row {
    pub fn kind(&self) -> &str {
        &self.fields[2]
    }
    pub fn bytes(&self) -> u64 {
        self.fields[0].parse().unwrap()
    }
    pub fn thread(&self) -> u32 {
        self.fields[5].parse().unwrap()
    }
    pub fn ns(&self) -> u64 {
        self.fields[1].parse().unwrap()
    }
    /// The `stack` column: the number of the row's call stack, if any.
    pub fn stack(&self) -> Option<u32> {
        self.fields[9].parse().ok()
    }
    pub fn stack_reason(&self) -> &str {
        &self.fields[10]
    }
}

/// Reads `alloc.tsv`, asserting it has the fixed header and only whole rows of
/// its eleven fields.
pub fn read_tsv(dir: &Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("alloc.tsv")).unwrap();
    assert!(
        text.ends_with('\n'),
        "the last line of alloc.tsv must be whole"
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(heapsnow::tsv::HEADER.trim_end()));
    lines
        .map(|line| {
            let fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
            assert_eq!(
                fields.len(),
                heapsnow::tsv::ALL_COLUMNS.len(),
                "row {line:?}"
            );
            Row { fields }
        })
        .collect()
}

pub fn read_summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// The (kind, bytes) sequence of the simulation threads' events.
pub fn sim_sequence(dir: &Path) -> Vec<(String, u64)> {
    let summary = read_summary(dir);
    let sim_threads: Vec<u32> = summary["sim_threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    read_tsv(dir)
        .into_iter()
        .filter(|row| sim_threads.contains(&row.thread()))
        .map(|row| (row.kind().to_owned(), row.bytes()))
        .collect()
}
