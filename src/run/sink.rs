//! The recorder sink of a run: every event goes to `alloc.tsv` and into the
//! latency histograms (and its call stacks into a table), and optionally
//! to a tap (the demo's live statistics).

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
    /// The event file.
    pub tsv: TsvFile,
    /// Latency histograms of the events whose rows reached `alloc.tsv`, so
    /// that they agree with the file even when writing it failed.
    pub histograms: LatencyHistograms,
    /// The call stacks captured, weighed by the events whose rows reached
    /// `alloc.tsv`.
    pub stacks: StackTable,
    /// Events whose rows `tsv` has not yet written (gathered, or with its
    /// writer thread), oldest first.
    unwritten: VecDeque<Pending>,
    tap: Option<Tap>,
}

/// What the histograms and the stack table need of an event whose row is
/// not yet in the file: a quarter of the event's size.
#[derive(Clone, Copy)]
struct Pending {
    latency_ns: u64,
    thread: u32,
    kind: Kind,
    stack: Option<StackRef>,
}

impl RunSink {
    /// A sink writing to `tsv`.
    pub fn new(tsv: TsvFile) -> RunSink {
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

impl RunSink {
    /// Counts the events whose rows `tsv` has just written, and forgets
    /// those whose rows it dropped (a failed write).
    fn count_written(&mut self, rows_before: u64) {
        let written = (self.tsv.rows_written() - rows_before) as usize;
        let stacks = &mut self.stacks;
        self.histograms
            .record_calls(self.unwritten.drain(..written).map(|call| {
                stacks.count_call(call.stack, call.latency_ns);
                (call.kind, call.latency_ns, call.thread)
            }));
        if self.tsv.rows_buffered() == 0 {
            self.unwritten.clear();
        }
    }
}

impl Sink for RunSink {
    fn write(&mut self, events: &[Event]) -> io::Result<()> {
        if let Some(tap) = &mut self.tap {
            tap(events);
        }
        let rows_before = self.tsv.rows_written();
        self.unwritten.extend(events.iter().map(|event| Pending {
            latency_ns: event.latency_ns,
            thread: event.thread,
            kind: event.kind,
            stack: event.stack,
        }));
        let result = self.tsv.write_events(events);
        self.count_written(rows_before);
        result
    }

    fn stack(&mut self, id: u32, frames: &[u64]) -> io::Result<()> {
        self.stacks.add(id, frames);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        let rows_before = self.tsv.rows_written();
        let result = self.tsv.flush();
        self.count_written(rows_before);
        result
    }
}
