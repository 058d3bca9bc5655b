//! `alloc.tsv` on disk, written so that it always ends on a whole line.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{HEADER, write_row};
use crate::recorder::Event;

/// Bytes gathered before a write to the file.
const FLUSH_BYTES: usize = 1 << 20;

/// A TSV file that holds only whole rows. Rows are gathered and written a
/// megabyte of whole rows at a time; if a write fails (a full disk), the
/// file is cut back to the last whole row it held, the rows of that write
/// are dropped and the error returned.
#[derive(Debug)]
pub struct TsvFile {
    path: PathBuf,
    file: File,
    buffer: Vec<u8>,
    rows_buffered: u64,
    rows_written: u64,
    bytes_written: u64,
}

impl TsvFile {
    /// Creates (or truncates) `path` and writes the header row.
    pub fn create(path: &Path) -> io::Result<TsvFile> {
        let mut file = File::create(path)?;
        file.write_all(HEADER.as_bytes())?;
        Ok(TsvFile {
            path: path.to_owned(),
            file,
            buffer: Vec::with_capacity(FLUSH_BYTES + 4096),
            rows_buffered: 0,
            rows_written: 0,
            bytes_written: HEADER.len() as u64,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows that have reached the file.
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    /// Rows gathered but not yet written: a failed write drops them.
    pub fn rows_buffered(&self) -> u64 {
        self.rows_buffered
    }

    /// Adds rows, writing to the file whenever enough have gathered.
    pub fn write_events(&mut self, events: &[Event]) -> io::Result<()> {
        for event in events {
            write_row(&mut self.buffer, event);
        }
        self.rows_buffered += events.len() as u64;
        if self.buffer.len() >= FLUSH_BYTES {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Writes every gathered row to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Err(e) = self.file.write_all(&self.buffer) {
            // Part of the buffer may have landed: drop that partial tail. If
            // even that fails there is nothing better left to do.
            let _ = self.file.set_len(self.bytes_written);
            self.buffer.clear();
            self.rows_buffered = 0;
            return Err(e);
        }
        self.bytes_written += self.buffer.len() as u64;
        self.rows_written += self.rows_buffered;
        self.buffer.clear();
        self.rows_buffered = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Kind;

    #[test]
    fn rows_reach_the_file_on_flush_and_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alloc.tsv");
        let mut tsv = TsvFile::create(&path).unwrap();
        let event = Event {
            kind: Kind::Alloc,
            size_bytes: 80,
            align_bytes: 8,
            latency_ns: 12,
            t_ns: 5,
            thread: 1,
            addr: 0xabc,
            old_addr: None,
            old_size_bytes: None,
            stack: None,
        };
        tsv.write_events(&[event, event]).unwrap();
        assert_eq!(tsv.rows_written(), 0, "small batches stay buffered");
        tsv.flush().unwrap();
        assert_eq!(tsv.rows_written(), 2);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{HEADER}80\t12\talloc\t8\t5\t1\t0xabc\t\t\t\t\n\
                 80\t12\talloc\t8\t5\t1\t0xabc\t\t\t\t\n"
            )
        );
    }
}
