//! Streaming `alloc.tsv` reader: one reused line buffer, byte-level parsing,
//! typed errors that carry the line (and column) at fault.
//!
//! ```
//! use heapsnow::tsv::Reader;
//!
//! let tsv = "bytes\tns\tkind\talign\tt_ns\tthread\taddr\told_addr\n\
//!            16\t42\talloc\t8\t1000\t1\t0x5000\t\n";
//! let mut reader = Reader::new(tsv.as_bytes())?;
//! let event = reader.read_event()?.expect("one row");
//! assert_eq!((event.size_bytes, event.latency_ns, event.addr), (16, 42, 0x5000));
//! assert!(reader.read_event()?.is_none());
//! # Ok::<(), heapsnow::tsv::ReadError>(())
//! ```

use std::fmt;
use std::io::{self, BufRead, Read};

use crate::recorder::{Event, Kind, StackRef, UnknownKind};
use crate::tsv::{ALL_COLUMNS, COLUMNS};

/// The longest line the reader accepts, newline excluded. Real rows are under
/// 100 bytes; the cap keeps memory bounded when the input is not a TSV at all
/// (a binary file may hold no newline for gigabytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A failure to read `alloc.tsv`, with the 1-based line it happened on.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ReadError {
    /// 1-based line number; the header is line 1.
    pub line: u64,
    /// What went wrong.
    pub kind: ReadErrorKind,
}

impl ReadError {
    /// The column at fault, when one is.
    pub fn column(&self) -> Option<&'static str> {
        match &self.kind {
            ReadErrorKind::Field { column, .. } => Some(column),
            _ => None,
        }
    }
}

/// What went wrong while reading `alloc.tsv`.
#[derive(Debug, thiserror::Error)]
pub enum ReadErrorKind {
    /// The underlying reader failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The input holds no bytes at all, so not even a header row.
    #[error("empty file: expected a header row naming the columns {}", quoted(&COLUMNS))]
    Empty,
    /// The header row is not UTF-8 text.
    #[error("header row is not UTF-8 text: is this an alloc.tsv file?")]
    HeaderNotUtf8,
    /// The header row lacks required column names.
    #[error("header row lacks the column{} {}: is this an alloc.tsv file?", plural(missing.len()), quoted(missing))]
    MissingColumns {
        /// The required names not found, in file order.
        missing: Vec<&'static str>,
    },
    /// A required column name appears twice in the header row.
    #[error("header row names the column \"{0}\" twice")]
    DuplicateColumn(&'static str),
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error("line longer than {MAX_LINE_BYTES} bytes: is this an alloc.tsv file?")]
    LineTooLong,
    /// A row whose number of fields differs from the header's.
    #[error("expected {expected} tab-separated fields (as in the header), found {found}")]
    FieldCount {
        /// Fields in the header row.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A field that does not hold what its column requires.
    #[error("column \"{column}\": {problem}")]
    Field {
        /// The column's name.
        column: &'static str,
        /// What is wrong with the field.
        problem: FieldProblem,
    },
}

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// Not a plain decimal unsigned integer (holds a sign, a point, a letter or nothing).
    #[error("expected an unsigned integer, found \"{0}\"")]
    NotUnsigned(String),
    /// A decimal integer too large for the column's type.
    #[error("{found} does not fit in {bits} bits")]
    Overflow {
        /// The field as written.
        found: String,
        /// Width of the column's type.
        bits: u32,
    },
    /// Not `0x` followed by hex digits.
    #[error("expected a hex address like 0x7f3a2c001000, found \"{0}\"")]
    NotHex(String),
    /// Hex digits beyond 64 bits.
    #[error("address {0} does not fit in 64 bits")]
    HexOverflow(String),
    /// Not one of the four kind names.
    #[error("{0}")]
    UnknownKind(UnknownKind),
    /// Bytes that are not UTF-8 text.
    #[error("found bytes that are not UTF-8 text: {0}")]
    NotUtf8(String),
    /// Not one of the reasons a stack is captured for.
    #[error("expected slow, sampled or slow+sampled, found \"{0}\"")]
    UnknownStackReason(String),
    /// Empty while the other stack column of the row is set: a stack and its
    /// reason go together.
    #[error("empty, while {0} is set: a stack and its reason go together")]
    StackHalf(&'static str),
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Index into [`ALL_COLUMNS`]: which event field a file column feeds.
type Slot = usize;
const BYTES: Slot = 0;
const NS: Slot = 1;
const KIND: Slot = 2;
const ALIGN: Slot = 3;
const T_NS: Slot = 4;
const THREAD: Slot = 5;
const ADDR: Slot = 6;
const OLD_ADDR: Slot = 7;
const OLD_BYTES: Slot = 8;
const STACK: Slot = 9;
const STACK_REASON: Slot = 10;

/// A streaming reader of `alloc.tsv` over any [`BufRead`].
///
/// Memory stays at one line whatever the file's length. Columns are found by
/// their header names: all of [`COLUMNS`] are required, in any order, the
/// others of [`ALL_COLUMNS`] are read when present (`stack` and
/// `stack_reason` together), and extra columns are ignored.
///
/// A last line without its newline (a run killed mid-write) is not an error:
/// it is skipped, and [`Reader::skipped_partial_line`] says which line it was,
/// so the caller can warn.
pub struct Reader<R> {
    inner: R,
    line: Vec<u8>,
    line_number: u64,
    /// For each file column, the slot it feeds, if any.
    slots: Vec<Option<Slot>>,
    skipped_partial_line: Option<u64>,
    done: bool,
}

impl<R: BufRead> Reader<R> {
    /// Reads and checks the header row.
    pub fn new(inner: R) -> Result<Reader<R>, ReadError> {
        let mut reader = Reader {
            inner,
            line: Vec::with_capacity(256),
            line_number: 0,
            slots: Vec::new(),
            skipped_partial_line: None,
            done: false,
        };
        let complete = reader.read_line()?;
        if reader.line.is_empty() && !complete {
            return Err(reader.error(ReadErrorKind::Empty));
        }
        reader.slots = reader.parse_header()?;
        Ok(reader)
    }

    /// The next event, or `None` at the end of the input.
    ///
    /// After an error the reader is finished: every later call returns `None`.
    pub fn read_event(&mut self) -> Result<Option<Event>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_event_inner();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    /// The line number of a last line that lacked its newline and was
    /// skipped, once the reader has reached it.
    pub fn skipped_partial_line(&self) -> Option<u64> {
        self.skipped_partial_line
    }

    /// The number of lines read so far, header included.
    pub fn line_number(&self) -> u64 {
        self.line_number
    }

    fn read_event_inner(&mut self) -> Result<Option<Event>, ReadError> {
        let complete = self.read_line()?;
        if !complete {
            if !self.line.is_empty() {
                self.skipped_partial_line = Some(self.line_number);
            }
            return Ok(None);
        }
        self.parse_row().map(Some)
    }

    /// Reads one line into `self.line` without its line ending. Returns
    /// whether the line ended with a newline.
    fn read_line(&mut self) -> Result<bool, ReadError> {
        self.line.clear();
        self.line_number += 1;
        let limit = MAX_LINE_BYTES as u64 + 2; // room for "\r\n"
        let read = (&mut self.inner)
            .take(limit)
            .read_until(b'\n', &mut self.line);
        if let Err(e) = read {
            return Err(self.error(ReadErrorKind::Io(e)));
        }
        let complete = self.line.last() == Some(&b'\n');
        if complete {
            self.line.pop();
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
        }
        if self.line.len() > MAX_LINE_BYTES {
            return Err(self.error(ReadErrorKind::LineTooLong));
        }
        Ok(complete)
    }

    fn parse_header(&self) -> Result<Vec<Option<Slot>>, ReadError> {
        let header = std::str::from_utf8(&self.line)
            .map_err(|_| self.error(ReadErrorKind::HeaderNotUtf8))?;
        let mut slots = Vec::new();
        let mut seen = [false; ALL_COLUMNS.len()];
        for name in header.split('\t') {
            let slot = ALL_COLUMNS.iter().position(|column| *column == name.trim());
            if let Some(slot) = slot {
                if seen[slot] {
                    return Err(self.error(ReadErrorKind::DuplicateColumn(ALL_COLUMNS[slot])));
                }
                seen[slot] = true;
            }
            slots.push(slot);
        }
        // The stack's number means nothing without its reason, and back.
        let needed = if seen[STACK] || seen[STACK_REASON] {
            STACK_REASON + 1
        } else {
            COLUMNS.len()
        };
        let missing: Vec<&'static str> = ALL_COLUMNS[..needed]
            .iter()
            .zip(seen)
            .filter(|(column, seen)| !seen && **column != "old_bytes")
            .map(|(column, _)| *column)
            .collect();
        if !missing.is_empty() {
            return Err(self.error(ReadErrorKind::MissingColumns { missing }));
        }
        Ok(slots)
    }

    fn parse_row(&self) -> Result<Event, ReadError> {
        let mut event = Event {
            kind: Kind::Alloc,
            size_bytes: 0,
            align_bytes: 0,
            latency_ns: 0,
            t_ns: 0,
            thread: 0,
            addr: 0,
            old_addr: None,
            old_size_bytes: None,
            stack: None,
        };
        let mut found = 0;
        let mut stack_id = None;
        let mut stack_reason = None;
        for field in self.line.split(|&b| b == b'\t') {
            let Some(slot) = self.slots.get(found) else {
                return Err(self.field_count_error());
            };
            found += 1;
            let Some(slot) = *slot else { continue };
            let field_error = |problem| {
                self.error(ReadErrorKind::Field {
                    column: ALL_COLUMNS[slot],
                    problem,
                })
            };
            match slot {
                BYTES => event.size_bytes = parse_u64(field).map_err(field_error)?,
                NS => event.latency_ns = parse_u64(field).map_err(field_error)?,
                KIND => event.kind = parse_kind(field).map_err(field_error)?,
                ALIGN => event.align_bytes = parse_u64(field).map_err(field_error)?,
                T_NS => event.t_ns = parse_u64(field).map_err(field_error)?,
                THREAD => event.thread = parse_u32(field).map_err(field_error)?,
                ADDR => event.addr = parse_hex(field).map_err(field_error)?,
                OLD_ADDR => {
                    event.old_addr = if field.is_empty() {
                        None
                    } else {
                        Some(parse_hex(field).map_err(field_error)?)
                    }
                }
                OLD_BYTES => {
                    event.old_size_bytes = parse_optional(field, parse_u64).map_err(field_error)?
                }
                STACK => stack_id = parse_optional(field, parse_u32).map_err(field_error)?,
                STACK_REASON => {
                    stack_reason = parse_optional(field, parse_reason).map_err(field_error)?
                }
                _ => unreachable!("slots index ALL_COLUMNS"),
            }
        }
        if found != self.slots.len() {
            return Err(self.field_count_error());
        }
        event.stack = match (stack_id, stack_reason) {
            (None, None) => None,
            (Some(id), Some((slow, sampled))) => Some(StackRef { id, slow, sampled }),
            (Some(_), None) => return Err(self.stack_mismatch("stack_reason", "stack")),
            (None, Some(_)) => return Err(self.stack_mismatch("stack", "stack_reason")),
        };
        Ok(event)
    }

    fn stack_mismatch(&self, column: &'static str, other: &'static str) -> ReadError {
        self.error(ReadErrorKind::Field {
            column,
            problem: FieldProblem::StackHalf(other),
        })
    }

    fn field_count_error(&self) -> ReadError {
        let found = self.line.split(|&b| b == b'\t').count();
        self.error(ReadErrorKind::FieldCount {
            expected: self.slots.len(),
            found,
        })
    }

    fn error(&self, kind: ReadErrorKind) -> ReadError {
        ReadError {
            line: self.line_number,
            kind,
        }
    }
}

impl<R: BufRead> Iterator for Reader<R> {
    type Item = Result<Event, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_event().transpose()
    }
}

impl<R> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("line_number", &self.line_number)
            .field("skipped_partial_line", &self.skipped_partial_line)
            .finish_non_exhaustive()
    }
}

/// The field as text for an error message: UTF-8 as is (shortened), other
/// bytes as escapes.
fn shown(field: &[u8]) -> String {
    const MAX_CHARS: usize = 40;
    let text = String::from_utf8_lossy(field);
    if text.chars().count() > MAX_CHARS {
        let mut short: String = text.chars().take(MAX_CHARS).collect();
        short.push('…');
        short
    } else {
        text.into_owned()
    }
}

fn not_utf8(field: &[u8]) -> Option<FieldProblem> {
    std::str::from_utf8(field)
        .is_err()
        .then(|| FieldProblem::NotUtf8(field.escape_ascii().to_string().chars().take(60).collect()))
}

fn parse_u64(field: &[u8]) -> Result<u64, FieldProblem> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(not_utf8(field).unwrap_or_else(|| FieldProblem::NotUnsigned(shown(field))));
    }
    let mut value: u64 = 0;
    for &digit in field {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .ok_or_else(|| FieldProblem::Overflow {
                found: shown(field),
                bits: 64,
            })?;
    }
    Ok(value)
}

fn parse_u32(field: &[u8]) -> Result<u32, FieldProblem> {
    let value = parse_u64(field).map_err(|problem| match problem {
        FieldProblem::Overflow { found, .. } => FieldProblem::Overflow { found, bits: 32 },
        other => other,
    })?;
    u32::try_from(value).map_err(|_| FieldProblem::Overflow {
        found: shown(field),
        bits: 32,
    })
}

fn parse_hex(field: &[u8]) -> Result<u64, FieldProblem> {
    let digits = field
        .strip_prefix(b"0x")
        .filter(|digits| !digits.is_empty() && digits.iter().all(u8::is_ascii_hexdigit))
        .ok_or_else(|| not_utf8(field).unwrap_or_else(|| FieldProblem::NotHex(shown(field))))?;
    let significant = digits.iter().skip_while(|&&d| d == b'0').count();
    if significant > 16 {
        return Err(FieldProblem::HexOverflow(shown(field)));
    }
    let mut value: u64 = 0;
    for &digit in digits {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => digit - b'A' + 10,
        };
        value = (value << 4) | u64::from(nibble);
    }
    Ok(value)
}

/// An empty field is `None`.
fn parse_optional<T>(
    field: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<T, FieldProblem>,
) -> Result<Option<T>, FieldProblem> {
    if field.is_empty() {
        Ok(None)
    } else {
        parse(field).map(Some)
    }
}

fn parse_reason(field: &[u8]) -> Result<(bool, bool), FieldProblem> {
    std::str::from_utf8(field)
        .ok()
        .and_then(StackRef::parse_reason)
        .ok_or_else(|| FieldProblem::UnknownStackReason(shown(field)))
}

fn parse_kind(field: &[u8]) -> Result<Kind, FieldProblem> {
    // Byte comparison first: the common case needs no UTF-8 check.
    for kind in Kind::ALL {
        if field == kind.as_str().as_bytes() {
            return Ok(kind);
        }
    }
    let text = std::str::from_utf8(field).map_err(|_| not_utf8(field).expect("not UTF-8"))?;
    text.parse().map_err(FieldProblem::UnknownKind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsv::{HEADER, sample_realloc, write_row};

    /// The header of files written before the last three columns.
    const HEADER8: &str = "bytes\tns\tkind\talign\tt_ns\tthread\taddr\told_addr\n";

    fn read_all(input: &[u8]) -> Result<Vec<Event>, ReadError> {
        Reader::new(input)?.collect()
    }

    fn err(input: &[u8]) -> String {
        read_all(input).unwrap_err().to_string()
    }

    #[test]
    fn reads_what_write_row_wrote() {
        let mut file = HEADER.as_bytes().to_vec();
        write_row(&mut file, &sample_realloc());
        let dealloc = Event {
            kind: Kind::Dealloc,
            old_addr: None,
            ..sample_realloc()
        };
        write_row(&mut file, &dealloc);
        assert_eq!(read_all(&file).unwrap(), vec![sample_realloc(), dealloc]);
    }

    #[test]
    fn finds_columns_by_name_and_ignores_extra_ones() {
        let file = "extra\told_addr\taddr\tthread\tt_ns\talign\tkind\tns\tbytes\n\
                    zzz\t0x10\t0x7f00deadbeef\t3\t1000000\t8\trealloc\t42\t160\n";
        let without_new_columns = Event {
            old_size_bytes: None,
            stack: None,
            ..sample_realloc()
        };
        assert_eq!(
            read_all(file.as_bytes()).unwrap(),
            vec![without_new_columns]
        );
    }

    #[test]
    fn a_stack_and_its_reason_go_together() {
        let row = |stack: &str, reason: &str| {
            format!("{HEADER}16\t3\talloc\t8\t0\t1\t0x10\t\t\t{stack}\t{reason}\n")
        };
        let events = read_all(row("4", "slow+sampled").as_bytes()).unwrap();
        let stack = events[0].stack.unwrap();
        assert_eq!((stack.id, stack.slow, stack.sampled), (4, true, true));
        assert_eq!(
            err(row("4", "").as_bytes()),
            "line 2: column \"stack_reason\": empty, while stack is set: \
             a stack and its reason go together"
        );
        assert!(err(row("", "slow").as_bytes()).contains("column \"stack\": empty, while"));
        assert_eq!(
            err(row("4", "fast").as_bytes()),
            "line 2: column \"stack_reason\": expected slow, sampled or slow+sampled, \
             found \"fast\""
        );
        let header = "bytes\tns\tkind\talign\tt_ns\tthread\taddr\told_addr\tstack\n";
        assert!(err(header.as_bytes()).contains("lacks the column \"stack_reason\""));
    }

    #[test]
    fn names_missing_columns() {
        assert_eq!(
            err(b"bytes\tns\tkind\talign\tthread\n"),
            "line 1: header row lacks the columns \"t_ns\", \"addr\", \"old_addr\": \
             is this an alloc.tsv file?"
        );
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(
            Reader::new(&b""[..]).unwrap_err().kind,
            ReadErrorKind::Empty
        ));
    }

    #[test]
    fn field_errors_name_line_and_column() {
        let file = format!("{HEADER8}16\t-3\talloc\t8\t0\t1\t0x10\t\n");
        let error = read_all(file.as_bytes()).unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(error.column(), Some("ns"));
        assert_eq!(
            error.to_string(),
            "line 2: column \"ns\": expected an unsigned integer, found \"-3\""
        );
        let file = format!("{HEADER8}99999999999999999999\t3\talloc\t8\t0\t1\t0x10\t\n");
        assert_eq!(
            err(file.as_bytes()),
            "line 2: column \"bytes\": 99999999999999999999 does not fit in 64 bits"
        );
        let file = format!("{HEADER8}1\t3\talloc\t8\t0\t4294967296\t0x10\t\n");
        assert_eq!(
            err(file.as_bytes()),
            "line 2: column \"thread\": 4294967296 does not fit in 32 bits"
        );
        let file = format!("{HEADER8}1\t3\tfree\t8\t0\t1\t0x10\t\n");
        assert!(err(file.as_bytes()).contains("column \"kind\": unknown kind \"free\""));
        let file = format!("{HEADER8}1\t3\talloc\t8\t0\t1\t10\t\n");
        assert!(err(file.as_bytes()).contains("column \"addr\": expected a hex address"));
        let file = format!("{HEADER8}1\t3\talloc\t8\t0\t1\t0x10000000000000000\t\n");
        assert!(err(file.as_bytes()).contains("does not fit in 64 bits"));
        let mut file = HEADER.as_bytes().to_vec();
        file.extend_from_slice(b"1\t3\tal\xffloc\t8\t0\t1\t0x10\t\n");
        assert!(err(&file).contains("column \"kind\": found bytes that are not UTF-8"));
    }

    #[test]
    fn counts_fields() {
        let file = format!("{HEADER8}16\t3\talloc\n");
        assert_eq!(
            err(file.as_bytes()),
            "line 2: expected 8 tab-separated fields (as in the header), found 3"
        );
        let file = format!("{HEADER8}16\t3\talloc\t8\t0\t1\t0x10\t\t\n");
        assert!(err(file.as_bytes()).contains("found 9"));
    }

    #[test]
    fn skips_a_last_line_without_newline() {
        let file = format!("{HEADER8}16\t3\talloc\t8\t0\t1\t0x10\t\n16\t3\tall");
        let mut reader = Reader::new(file.as_bytes()).unwrap();
        assert!(reader.read_event().unwrap().is_some());
        assert!(reader.read_event().unwrap().is_none());
        assert_eq!(reader.skipped_partial_line(), Some(3));
    }

    #[test]
    fn accepts_crlf_line_endings() {
        let file = HEADER8.replace('\n', "\r\n") + "16\t3\talloc\t8\t0\t1\t0x10\t\r\n";
        assert_eq!(read_all(file.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn caps_line_length() {
        let file = vec![b'x'; MAX_LINE_BYTES * 3];
        assert!(matches!(
            Reader::new(&file[..]).unwrap_err().kind,
            ReadErrorKind::LineTooLong
        ));
    }
}
