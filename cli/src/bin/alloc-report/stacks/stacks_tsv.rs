//! Reading `stacks.tsv`: a header `stack<TAB>frames`, then one row per
//! captured stack, its number and its frames, root first, separated by `;`.
//!
//! Only each stack's call site is kept, and only for the stacks the caller
//! asks for, so memory stays small whatever the file holds.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use super::call_site::call_site;

/// The header row, without its newline.
const HEADER: &str = "stack\tframes";
/// The longest line read: a stack of 128 frames of long generic names fits
/// many times over; a file that is not a stacks.tsv is stopped early.
const MAX_LINE_BYTES: u64 = 1 << 20;

/// The call sites read from `stacks.tsv`.
#[derive(Debug, Default)]
pub struct CallSites {
    /// The call site of every stack asked for that the file has.
    pub by_stack: HashMap<u32, String>,
    /// A last line without its newline (a run killed mid-write), skipped.
    pub skipped_partial_line: Option<u64>,
}

/// Reads `path`, keeping the call sites of the stacks `wanted` holds.
/// `None` when the file does not exist.
pub fn read(path: &Path, wanted: &HashSet<u32>) -> Result<Option<CallSites>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot open", path.display())),
    };
    parse(BufReader::new(file), wanted)
        .map(Some)
        .map_err(|(line, problem)| anyhow!("{}:{line}: {problem}", path.display()))
}

/// Parses a whole file; an error is `(1-based line, problem)`.
fn parse(
    mut input: impl BufRead,
    wanted: &HashSet<u32>,
) -> Result<CallSites, (u64, anyhow::Error)> {
    let mut sites = CallSites::default();
    let mut first_line_of: HashMap<u32, u64> = HashMap::new();
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        number += 1;
        line.clear();
        let read = (&mut input)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| (number, anyhow!("read failed: {e}")))?;
        if read == 0 {
            if number == 1 {
                return Err((
                    number,
                    anyhow!("empty file: expected the header \"stack<TAB>frames\""),
                ));
            }
            break;
        }
        if line.last() != Some(&b'\n') {
            if line.len() as u64 > MAX_LINE_BYTES {
                return Err((
                    number,
                    anyhow!("line longer than {MAX_LINE_BYTES} bytes: is this a stacks.tsv file?"),
                ));
            }
            if number > 1 {
                sites.skipped_partial_line = Some(number);
                break;
            }
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| (number, anyhow!("found bytes that are not UTF-8 text")))?
            .trim_end_matches(['\n', '\r']);
        if number == 1 {
            if text != HEADER {
                return Err((
                    number,
                    anyhow!(
                        "expected the header \"stack<TAB>frames\", found {text:?}: is this a stacks.tsv file?"
                    ),
                ));
            }
            continue;
        }
        let (id, frames) = parse_row(text).map_err(|problem| (number, problem))?;
        if let Some(first) = first_line_of.insert(id, number) {
            return Err((
                number,
                anyhow!("stack {id} is listed twice (first on line {first})"),
            ));
        }
        if wanted.contains(&id) {
            sites.by_stack.insert(id, call_site(frames).to_owned());
        }
    }
    Ok(sites)
}

/// One row as `(stack number, frames)`.
fn parse_row(text: &str) -> Result<(u32, &str)> {
    let fields = text.split('\t').count();
    let Some((id, frames)) = text.split_once('\t').filter(|_| fields == 2) else {
        bail!("expected 2 tab-separated fields (stack, frames), found {fields}");
    };
    let id: u32 = id
        .parse()
        .map_err(|_| anyhow!("column \"stack\": expected a stack number, found {id:?}"))?;
    if frames.split(';').any(str::is_empty) {
        bail!(
            "column \"frames\": an empty frame name (none at all, two \";\" in a row, or one at an end)"
        );
    }
    Ok((id, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(ids: &[u32]) -> HashSet<u32> {
        ids.iter().copied().collect()
    }

    fn problem(text: &str) -> (u64, String) {
        let (line, problem) = parse(text.as_bytes(), &wanted(&[])).unwrap_err();
        (line, problem.to_string())
    }

    #[test]
    fn keeps_the_call_sites_asked_for() {
        let text = "stack\tframes\n\
                    1\tmain;app::load;alloc::raw_vec::RawVec<T,A>::grow_one\n\
                    2\tmain;app::parse\r\n\
                    7\tmain;app::other\n";
        let sites = parse(text.as_bytes(), &wanted(&[1, 2, 3])).unwrap();
        assert_eq!(sites.by_stack.len(), 2);
        assert_eq!(sites.by_stack[&1], "app::load");
        assert_eq!(sites.by_stack[&2], "app::parse");
        assert_eq!(sites.skipped_partial_line, None);
    }

    #[test]
    fn a_cut_last_line_is_skipped() {
        let text = "stack\tframes\n1\tmain;a\n2\tmain;app::cut_sh";
        let sites = parse(text.as_bytes(), &wanted(&[1, 2])).unwrap();
        assert_eq!(sites.by_stack.len(), 1);
        assert_eq!(sites.skipped_partial_line, Some(3));
    }

    #[test]
    fn bad_lines_name_their_line() {
        assert!(problem("").1.contains("empty file"));
        let (line, text) = problem("bytes\tns\n");
        assert_eq!(line, 1);
        assert!(text.contains("expected the header"), "{text}");
        let (line, text) = problem("stack\tframes\n1\tmain\nx\tmain\n");
        assert_eq!(line, 3);
        assert!(text.contains("found \"x\""), "{text}");
        assert!(
            problem("stack\tframes\n-1\tmain\n")
                .1
                .contains("stack number")
        );
        assert!(
            problem("stack\tframes\n4294967296\tmain\n")
                .1
                .contains("stack number")
        );
        assert!(problem("stack\tframes\n1\n").1.contains("found 1"));
        assert!(problem("stack\tframes\n1\ta\tb\n").1.contains("found 3"));
        assert!(
            problem("stack\tframes\n1\t\n")
                .1
                .contains("empty frame name")
        );
        assert!(
            problem("stack\tframes\n1\tmain;;f\n")
                .1
                .contains("empty frame name")
        );
        let (line, text) = problem("stack\tframes\n1\tmain\n2\tf\n1\tg\n");
        assert_eq!(line, 4);
        assert!(
            text.contains("stack 1 is listed twice (first on line 2)"),
            "{text}"
        );
        let (line, text) = parse(&b"stack\tframes\n1\tmain;\xff\n"[..], &wanted(&[]))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(line, 2);
        assert!(text.to_string().contains("UTF-8"), "{text}");
        let long = format!(
            "stack\tframes\n1\t{}\n",
            "f".repeat(MAX_LINE_BYTES as usize)
        );
        let (line, text) = problem(&long);
        assert_eq!(line, 2);
        assert!(text.contains("longer than"), "{text}");
    }
}
