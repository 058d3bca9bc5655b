//! How a run captured its stacks, as its `summary.json` says: the
//! `--stacks-over` threshold and the `--stacks-every` period.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// When the run captured a call stack. Both `None` when not requested, or
/// when the run wrote no `summary.json` (killed, or not a `particles` run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settings {
    /// Calls at least this long had their stack captured.
    pub stacks_over_ns: Option<u64>,
    /// Every N-th allocating call of a thread had its stack captured.
    pub stacks_every: Option<u64>,
}

/// Reads the settings from `summary.json` in `dir`; a missing file is the
/// default, one that is not JSON an error.
pub fn read(dir: &Path) -> Result<Settings> {
    let path = dir.join("summary.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    Ok(Settings {
        stacks_over_ns: json["stacks_over_ns"].as_u64(),
        stacks_every: json["stacks_every"].as_u64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_keys_or_their_absence() {
        let dir = tempfile::TempDir::new().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Settings::default());
        let path = dir.path().join("summary.json");
        std::fs::write(&path, r#"{"stacks_over_ns": 10000, "stacks_every": null}"#).unwrap();
        assert_eq!(
            read(dir.path()).unwrap(),
            Settings {
                stacks_over_ns: Some(10_000),
                stacks_every: None,
            }
        );
        std::fs::write(&path, r#"{"events_written": 3}"#).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Settings::default());
        std::fs::write(&path, "{").unwrap();
        let error = format!("{:#}", read(dir.path()).unwrap_err());
        assert!(error.contains("summary.json: not JSON"), "{error}");
    }
}
