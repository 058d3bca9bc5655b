//! The recorder sink of a run: every event goes to `alloc.tsv` (unless the
//! run keeps the histograms only) and into the latency histograms (and its
//! call stacks into a table), and optionally to a tap (the demo's live
//! statistics).

use std::collections::VecDeque;
use std::io;

use crate::recorder::{Event, Kind, Sink, StackRef};
use crate::stacks::StackTable;
use crate::stats::LatencyHistograms;
use crate::tsv::TsvFile;

/// Sees every batch of events after it is written; runs on the drain thread.
pub type Tap = Box<dyn FnMut(&[Event]) + Send>;

/// Writes events to `alloc.tsv` and keeps their histograms.
pub struct RunSink {
    /// The event file; `None` for a sink that keeps the histograms only.
    pub tsv: Option<TsvFile>,
    /// Latency histograms of the events whose rows reached `alloc.tsv`, so
    /// that they agree with the file even when writing it failed (of every
    /// event, for a sink without a file).
    pub histograms: LatencyHistograms,
    /// The call stacks captured, weighed by the events whose rows reached
    /// `alloc.tsv`.
    pub stacks: StackTable,
    /// Events whose rows `tsv` has not yet written (gathered, or with its
    /// writer thread), oldest first.
    unwritten: VecDeque<Pending>,
    tap: Option<Tap>,
}

/// What the histograms and the stack table need of an event (kept for
/// those whose rows are not yet in the file): a quarter of its size.
#[derive(Clone, Copy)]
struct Pending {
    latency_ns: u64,
    thread: u32,
    kind: Kind,
    stack: Option<StackRef>,
}

impl Pending {
    fn of(event: &Event) -> Pending {
        Pending {
            latency_ns: event.latency_ns,
            thread: event.thread,
            kind: event.kind,
            stack: event.stack,
        }
    }
}

/// Counts `calls` into the histograms and the stack table.
fn count(
    histograms: &mut LatencyHistograms,
    stacks: &mut StackTable,
    calls: impl Iterator<Item = Pending>,
) {
    histograms.record_calls(calls.map(|call| {
        stacks.count_call(call.stack, call.latency_ns);
        (call.kind, call.latency_ns, call.thread)
    }));
}

impl RunSink {
    /// A sink writing to `tsv`.
    pub fn new(tsv: TsvFile) -> RunSink {
        RunSink::with_file(Some(tsv))
    }

    /// A sink that writes no file: every event goes into the histograms
    /// (and the stack table) at once. Formatting and writing `alloc.tsv` is
    /// most of the recorder's work: without it the recorder took 46 ns of
    /// CPU an event rather than 130 (`scripts/overhead.py --worlds`).
    pub fn histograms_only() -> RunSink {
        RunSink::with_file(None)
    }

    fn with_file(tsv: Option<TsvFile>) -> RunSink {
        RunSink {
            tsv,
            histograms: LatencyHistograms::new(),
            stacks: StackTable::new(),
            unwritten: VecDeque::new(),
            tap: None,
        }
    }

    /// Also hands every batch to `tap`.
    pub fn with_tap(mut self, tap: Tap) -> RunSink {
        self.tap = Some(tap);
        self
    }
}

/// Counts the events whose rows `tsv` has just written, the oldest of
/// `unwritten`, and forgets those whose rows it dropped (a failed write).
fn count_written(
    unwritten: &mut VecDeque<Pending>,
    histograms: &mut LatencyHistograms,
    stacks: &mut StackTable,
    tsv: &TsvFile,
    rows_before: u64,
) {
    let written = (tsv.rows_written() - rows_before) as usize;
    count(histograms, stacks, unwritten.drain(..written));
    if tsv.rows_buffered() == 0 {
        unwritten.clear();
    }
}

impl Sink for RunSink {
    fn write(&mut self, events: &[Event]) -> io::Result<()> {
        if let Some(tap) = &mut self.tap {
            tap(events);
        }
        let stacks = &mut self.stacks;
        let Some(tsv) = &mut self.tsv else {
            count(&mut self.histograms, stacks, events.iter().map(Pending::of));
            return Ok(());
        };
        let rows_before = tsv.rows_written();
        self.unwritten.extend(events.iter().map(Pending::of));
        let result = tsv.write_events(events);
        count_written(
            &mut self.unwritten,
            &mut self.histograms,
            stacks,
            tsv,
            rows_before,
        );
        result
    }

    fn stack(&mut self, id: u32, frames: &[u64]) -> io::Result<()> {
        self.stacks.add(id, frames);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let Some(tsv) = &mut self.tsv else {
            return Ok(());
        };
        let rows_before = tsv.rows_written();
        let result = tsv.flush();
        count_written(
            &mut self.unwritten,
            &mut self.histograms,
            &mut self.stacks,
            tsv,
            rows_before,
        );
        result
    }
}
