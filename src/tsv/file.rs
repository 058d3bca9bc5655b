//! `alloc.tsv` on disk, written so that it always ends on a whole line.
//!
//! Rows are formatted on the caller's thread (the recorder's drain) and
//! written by a thread of their own: a write that blocks (a disk flushing
//! its cache, a full queue of dirty pages) holds up only that thread, while
//! the drain goes on emptying the allocating threads' buffers for another
//! 1 MiB of rows. A longer hold-up waits in the recorder's buffers, where an
//! event takes a 32-byte slot (two for a realloc), not a row of about 56
//! bytes.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::{HEADER, write_row};
use crate::recorder::{Event, without_recording};

/// Bytes of whole rows gathered before they go to the writer.
const CHUNK_BYTES: usize = 256 << 10;
/// Chunks the writer may hold before the caller waits for it: 1 MiB,
/// besides the one it writes. The same few buffers go round, so they stay
/// in the core's cache. With 64 (16 MiB), a default run's peak memory
/// ranged from 13.3 to 42.5 MiB over 8 runs, as the queue grew whenever
/// the writer fell behind, and two of the runs spilled; with 4, from 11.9
/// to 12.1 MiB, no run spilled, and the time was the same
/// (`scripts/overhead.py --pairs 8 --against`).
const QUEUE_CHUNKS: usize = 4;

/// A chunk buffer's room: `CHUNK_BYTES` and the row that crosses that mark,
/// so that filling it never reallocates.
const CHUNK_ROOM_BYTES: usize = CHUNK_BYTES + 4096;

/// An empty chunk buffer.
fn chunk_buffer() -> Vec<u8> {
    Vec::with_capacity(CHUNK_ROOM_BYTES)
}

/// A TSV file that holds only whole rows. Rows are gathered and written
/// 256 KiB of whole rows at a time by a writer thread; if a write fails (a
/// full disk), the file is cut back to the last whole row it held, the rows
/// not yet written are dropped and the error is returned by the next call.
#[derive(Debug)]
pub struct TsvFile {
    path: PathBuf,
    /// Rows gathered for the next chunk.
    buffer: Vec<u8>,
    rows_buffered: u64,
    /// Rows handed to the writer and not yet reported back.
    rows_in_flight: u64,
    rows_written: u64,
    writer: Writer,
}

/// Rows for the writer, and the writer's report on them.
#[derive(Debug)]
struct Chunk {
    bytes: Vec<u8>,
    rows: u64,
    /// The outcome, once written: the bytes come back for reuse.
    result: io::Result<()>,
}

#[derive(Debug)]
struct Writer {
    /// `None` once the writer has been told to end.
    chunks: Option<SyncSender<Chunk>>,
    done: Receiver<Chunk>,
    thread: Option<JoinHandle<()>>,
    /// Written chunks' buffers, cleared, for the next chunks.
    spare: Vec<Vec<u8>>,
}

impl TsvFile {
    /// Creates (or truncates) `path`, writes the header row and starts the
    /// writer thread.
    pub fn create(path: &Path) -> io::Result<TsvFile> {
        let mut file = File::create(path)?;
        file.write_all(HEADER.as_bytes())?;
        let (chunks, to_write) = mpsc::sync_channel::<Chunk>(QUEUE_CHUNKS);
        // Room for every chunk there can be, so the writer never waits to
        // report.
        let (report, done) = mpsc::sync_channel::<Chunk>(2 * QUEUE_CHUNKS + 2);
        let thread = std::thread::Builder::new()
            .name("heapsnow-writer".into())
            .spawn(move || {
                // The writer is the recorder's, not the program's: none of
                // its allocations are recorded.
                without_recording(|| write_chunks(file, HEADER.len() as u64, to_write, report))
            })?;
        Ok(TsvFile {
            path: path.to_owned(),
            buffer: chunk_buffer(),
            rows_buffered: 0,
            rows_in_flight: 0,
            rows_written: 0,
            writer: Writer {
                chunks: Some(chunks),
                done,
                thread: Some(thread),
                spare: Vec::new(),
            },
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

    /// Rows gathered or being written but not yet known to be in the file:
    /// a failed write drops them.
    pub fn rows_buffered(&self) -> u64 {
        self.rows_buffered + self.rows_in_flight
    }

    /// Adds rows, handing them to the writer whenever enough have gathered.
    /// Returns the error of an earlier write that failed.
    pub fn write_events(&mut self, events: &[Event]) -> io::Result<()> {
        for event in events {
            write_row(&mut self.buffer, event);
            self.rows_buffered += 1;
            // Row by row, so that the buffer never outgrows its room.
            if self.buffer.len() >= CHUNK_BYTES {
                self.collect(false)?;
                self.send()?;
            }
        }
        self.collect(false)
    }

    /// Writes every gathered row to the file and waits until it is there.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.rows_buffered > 0 {
            self.send()?;
        }
        self.collect(true)
    }

    /// Hands the gathered rows to the writer (waiting if it is
    /// `QUEUE_CHUNKS` behind).
    fn send(&mut self) -> io::Result<()> {
        let spare = self.writer.spare.pop().unwrap_or_else(chunk_buffer);
        let chunk = Chunk {
            bytes: std::mem::replace(&mut self.buffer, spare),
            rows: std::mem::take(&mut self.rows_buffered),
            result: Ok(()),
        };
        self.rows_in_flight += chunk.rows;
        let sent = match &self.writer.chunks {
            Some(chunks) => chunks.send(chunk).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            self.collect(true)?;
            Err(io::Error::other("the TSV writer thread has ended"))
        }
    }

    /// Takes the writer's reports: all of them until nothing is in flight
    /// if `wait`, else those ready. The first failed write's error drops
    /// every row not yet written.
    fn collect(&mut self, wait: bool) -> io::Result<()> {
        let mut failure = None;
        while self.rows_in_flight > 0 {
            let report = if wait {
                match self.writer.done.recv() {
                    Ok(report) => report,
                    Err(_) => {
                        failure = Some(io::Error::other("the TSV writer thread has ended"));
                        break;
                    }
                }
            } else {
                match self.writer.done.try_recv() {
                    Ok(report) => report,
                    Err(_) => break,
                }
            };
            self.rows_in_flight -= report.rows;
            match report.result {
                Ok(()) => self.rows_written += report.rows,
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
            self.writer.spare.push(report.bytes);
        }
        match failure {
            None => Ok(()),
            Some(e) => {
                // Nothing more is written after a failure: what is in
                // flight comes back failed too, and what is gathered is
                // dropped.
                self.buffer.clear();
                self.rows_buffered = 0;
                self.drop_in_flight();
                Err(e)
            }
        }
    }

    /// Waits for the reports of every chunk still in flight, counting none.
    fn drop_in_flight(&mut self) {
        while self.rows_in_flight > 0 {
            match self.writer.done.recv() {
                Ok(report) => self.rows_in_flight -= report.rows,
                Err(_) => self.rows_in_flight = 0,
            }
        }
    }
}

impl Drop for TsvFile {
    fn drop(&mut self) {
        // Ends the writer once it has written what it holds.
        self.writer.chunks = None;
        if let Some(thread) = self.writer.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: writes each chunk after the file's `bytes_written`
/// bytes; after a failure it cuts the file back to them and writes nothing
/// more. Reports every chunk.
fn write_chunks(
    mut file: File,
    mut bytes_written: u64,
    chunks: Receiver<Chunk>,
    report: SyncSender<Chunk>,
) {
    let mut failed = false;
    for mut chunk in chunks {
        chunk.result = if failed {
            Err(io::Error::other("an earlier write to the file failed"))
        } else if let Err(e) = file.write_all(&chunk.bytes) {
            failed = true;
            // Part of the chunk may have landed: drop that partial tail. If
            // even that fails there is nothing better left to do.
            let _ = file.set_len(bytes_written);
            Err(e)
        } else {
            bytes_written += chunk.bytes.len() as u64;
            Ok(())
        };
        chunk.bytes.clear();
        if report.send(chunk).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Kind;

    /// An 80-byte alloc that took 12 ns, at `t_ns` on thread 1.
    fn alloc_at(t_ns: u64, addr: u64) -> Event {
        Event {
            kind: Kind::Alloc,
            size_bytes: 80,
            align_bytes: 8,
            latency_ns: 12,
            t_ns,
            thread: 1,
            addr,
            old_addr: None,
            old_size_bytes: None,
            stack: None,
        }
    }

    #[test]
    fn rows_reach_the_file_on_flush_and_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alloc.tsv");
        let mut tsv = TsvFile::create(&path).unwrap();
        let event = alloc_at(5, 0xabc);
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

    #[test]
    fn a_batch_of_many_chunks_goes_out_a_chunk_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let mut tsv = TsvFile::create(&dir.path().join("alloc.tsv")).unwrap();
        // One batch of about two and a half chunks' rows.
        let events: Vec<Event> = (0..20_000).map(|i| alloc_at(i, 0x1000 + i)).collect();
        tsv.write_events(&events).unwrap();
        // Whole chunks went out during the batch; less than one is left
        // gathering.
        assert!(tsv.buffer.len() < CHUNK_BYTES);
        assert!(
            tsv.rows_buffered > 0,
            "the whole batch went out as one chunk"
        );
        assert_eq!(
            tsv.rows_in_flight + tsv.rows_written + tsv.rows_buffered,
            20_000
        );
        tsv.flush().unwrap();
        // No chunk's buffer grew past its room.
        for bytes in tsv.writer.spare.iter().chain([&tsv.buffer]) {
            assert_eq!(bytes.capacity(), CHUNK_ROOM_BYTES);
        }
        assert_eq!(tsv.rows_written(), 20_000);
    }

    #[test]
    fn rows_of_many_chunks_reach_the_file_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alloc.tsv");
        let mut tsv = TsvFile::create(&path).unwrap();
        let events: Vec<Event> = (0..40_000u64)
            .map(|t_ns| Event {
                kind: Kind::Dealloc,
                size_bytes: 4096,
                latency_ns: t_ns % 97,
                thread: 3,
                ..alloc_at(t_ns, 0x7f00_0000_0000 + t_ns)
            })
            .collect();
        for batch in events.chunks(1000) {
            tsv.write_events(batch).unwrap();
        }
        assert!(
            tsv.rows_written() + tsv.rows_buffered() == 40_000,
            "every row is written or on its way"
        );
        tsv.flush().unwrap();
        assert_eq!((tsv.rows_written(), tsv.rows_buffered()), (40_000, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        let times: Vec<u64> = text
            .lines()
            .skip(1)
            .map(|line| line.split('\t').nth(4).unwrap().parse().unwrap())
            .collect();
        assert_eq!(times, (0..40_000).collect::<Vec<_>>());
        assert!(
            text.len() > 4 * CHUNK_BYTES,
            "several chunks: {}",
            text.len()
        );
    }

    /// A named pipe at `dir/alloc.tsv` that stands in for a disk that stops
    /// taking writes: a writer blocks once the pipe's buffer (64 KiB) is
    /// full, until the reader starts reading, when told to or after 10 s
    /// (so that a test that never tells it fails rather than hangs). The
    /// reader returns how many rows it read after the header.
    #[cfg(unix)]
    fn held_up_file(dir: &Path) -> (PathBuf, std::sync::mpsc::Sender<()>, JoinHandle<usize>) {
        use std::io::Read;
        use std::time::Duration;

        let path = dir.join("alloc.tsv");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let (go, wait) = mpsc::channel::<()>();
        let reader_path = path.clone();
        let reader = std::thread::spawn(move || {
            let mut pipe = std::fs::File::open(reader_path).unwrap();
            let mut header = vec![0; HEADER.len()];
            pipe.read_exact(&mut header).unwrap();
            let _ = wait.recv_timeout(Duration::from_secs(10));
            let mut rest = String::new();
            pipe.read_to_string(&mut rest).unwrap();
            rest.lines().count()
        });
        (path, go, reader)
    }

    #[cfg(unix)]
    #[test]
    fn a_write_held_up_by_the_file_does_not_hold_up_the_caller() {
        use std::time::{Duration, Instant};
        const BATCHES: u64 = 12;

        let dir = tempfile::tempdir().unwrap();
        let (path, go, reader) = held_up_file(dir.path());
        let mut tsv = TsvFile::create(&path).unwrap();
        let event = alloc_at(123_456_789, 0x7f00_dead_beef);
        // About 600 KB of rows: far more than the pipe holds, less than
        // the writer's queue.
        let batch = vec![event; 1000];
        let start = Instant::now();
        for _ in 0..BATCHES {
            tsv.write_events(&batch).unwrap();
        }
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "rows were handed over while the file took nothing: {took:?}"
        );
        assert!(
            tsv.rows_written() < BATCHES * 1000,
            "the pipe cannot hold them all yet"
        );
        go.send(()).unwrap();
        tsv.flush().unwrap();
        assert_eq!(tsv.rows_written(), BATCHES * 1000);
        drop(tsv);
        assert_eq!(
            reader.join().unwrap() as u64,
            BATCHES * 1000,
            "every row arrived"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_held_up_for_long_holds_up_the_caller_rather_than_grow_the_queue() {
        use std::time::Duration;
        const BATCHES: u64 = 160;

        let dir = tempfile::tempdir().unwrap();
        let (path, go, reader) = held_up_file(dir.path());
        let (handed_over, has_handed_over) = mpsc::channel::<()>();
        let caller = std::thread::spawn(move || {
            let mut tsv = TsvFile::create(&path).unwrap();
            let batch = vec![alloc_at(123_456_789, 0x7f00_dead_beef); 1000];
            // About 8 MB of rows, six times what the queue and the chunk
            // being written hold.
            for _ in 0..BATCHES {
                tsv.write_events(&batch).unwrap();
            }
            handed_over.send(()).unwrap();
            tsv.flush().unwrap();
            tsv.rows_written()
        });
        assert!(
            has_handed_over
                .recv_timeout(Duration::from_millis(500))
                .is_err(),
            "8 MB of rows were taken while the file took 64 KiB: the queue is not bounded"
        );
        go.send(()).unwrap();
        has_handed_over
            .recv_timeout(Duration::from_secs(20))
            .expect("the caller goes on once the file takes rows again");
        assert_eq!(caller.join().unwrap(), BATCHES * 1000);
        assert_eq!(
            reader.join().unwrap() as u64,
            BATCHES * 1000,
            "every row arrived"
        );
    }
}
