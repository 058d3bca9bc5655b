//! Reading a folded stacks file (`slow-stacks.folded`,
//! `sampled-stacks.folded`): one line per stack, `frame;frame;frame WEIGHT`,
//! the format flamegraph.pl and inferno read.
//!
//! Every line is checked here, so a bad one is an error naming its file and
//! line rather than something inferno silently drops or misreads.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The stacks of one folded file, each line checked and written back in
/// one canonical form (`stack WEIGHT`, frames trimmed of the line's outer
/// whitespace), with a weight above 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// `frame;frame;frame WEIGHT`, one per stack, in file order.
    pub lines: Vec<String>,
    /// The sum of the weights: the flame graph's full width.
    pub total_weight: u64,
}

/// Reads `path`. A missing file, or one with no weight above 0, is `None`:
/// nothing to draw, and no error.
pub fn read(path: &Path) -> Result<Option<Folded>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    parse(&bytes).map_err(|(line, problem)| anyhow::anyhow!("{}:{line}: {problem}", path.display()))
}

/// Parses a whole file; an error is `(1-based line, problem)`.
fn parse(bytes: &[u8]) -> Result<Option<Folded>, (usize, anyhow::Error)> {
    let mut lines = Vec::new();
    let mut total_weight = 0u64;
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let Some((stack, weight)) = parse_line(line).map_err(|problem| (number, problem))? else {
            continue;
        };
        total_weight = total_weight.checked_add(weight).ok_or_else(|| {
            (
                number,
                anyhow::anyhow!("the weights add up past 2^64, too much for a flame graph"),
            )
        })?;
        if weight > 0 {
            lines.push(format!("{stack} {weight}"));
        }
    }
    Ok((total_weight > 0).then_some(Folded {
        lines,
        total_weight,
    }))
}

/// One line as `(stack, weight)`; `None` for a blank line or a `# ` comment
/// (both of which inferno skips too).
fn parse_line(line: &[u8]) -> Result<Option<(&str, u64)>> {
    let line = std::str::from_utf8(line)
        .map_err(|_| anyhow::anyhow!("found bytes that are not UTF-8 text"))?
        .trim();
    if line.is_empty() || line.starts_with("# ") {
        return Ok(None);
    }
    let Some((stack, weight)) = line.rsplit_once(' ') else {
        bail!("expected \"frame;frame;frame WEIGHT\", found no space before a weight: {line:?}");
    };
    let weight: u64 = weight.parse().map_err(|_| {
        anyhow::anyhow!("expected a whole number as the weight at the end, found {weight:?}")
    })?;
    // The line is trimmed, so the stack starts with a frame: never empty.
    let stack = stack.trim_end();
    if stack.split(';').any(|frame| frame.trim().is_empty()) {
        bail!("an empty frame name (two \";\" in a row, or one at an end): {stack:?}");
    }
    Ok(Some((stack, weight)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> (usize, String) {
        let (line, problem) = parse(text.as_bytes()).unwrap_err();
        (line, problem.to_string())
    }

    #[test]
    fn reads_stacks_and_their_weights() {
        let folded = parse(
            b"main;World::spawn;RawVec<T,A>::grow_one 1500\n\
              \n\
              # a comment\n\
              main;<Vec<T> as Clone>::clone 20\r\n\
              main;never 0\n\
              \x20 main;trailing   7  ",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            folded.lines,
            [
                "main;World::spawn;RawVec<T,A>::grow_one 1500",
                "main;<Vec<T> as Clone>::clone 20",
                "main;trailing 7",
            ]
        );
        assert_eq!(folded.total_weight, 1527);
    }

    #[test]
    fn nothing_to_draw_is_none() {
        assert_eq!(parse(b"").unwrap(), None);
        assert_eq!(parse(b"\n\n").unwrap(), None);
        assert_eq!(parse(b"main;f 0\n").unwrap(), None);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let (line, text) = problem("main;f 1\nmain;g\n");
        assert_eq!(line, 2);
        assert!(text.contains("no space before a weight"), "{text}");
        let (line, text) = problem("main;f 1\n\nmain;g 1.5\n");
        assert_eq!(line, 3);
        assert!(text.contains("found \"1.5\""), "{text}");
        assert!(problem("main;f -3").1.contains("whole number"));
        assert!(problem(" 12").1.contains("no space"));
        assert!(problem("; 12").1.contains("empty frame name"));
        assert!(problem("main;;f 12").1.contains("empty frame name"));
        assert!(problem("main;f; 12").1.contains("empty frame name"));
        assert!(
            problem("main;f 99999999999999999999")
                .1
                .contains("whole number")
        );
        let (line, text) = problem("a 18446744073709551615\nb 1\n");
        assert_eq!(line, 2);
        assert!(text.contains("past 2^64"), "{text}");
        assert!(
            parse(b"main;\xff 1")
                .unwrap_err()
                .1
                .to_string()
                .contains("UTF-8")
        );
    }
}
