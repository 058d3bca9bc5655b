//! The recorder sink of a run: every event goes to `alloc.tsv` and into the
//! latency histograms, and optionally to a tap (the demo's live statistics).

use std::io;

use crate::recorder::{Event, Sink};
use crate::stats::LatencyHistograms;
use crate::tsv::TsvFile;

/// Sees every batch of events after it is written; runs on the drain thread.
pub type Tap = Box<dyn FnMut(&[Event]) + Send>;

/// Writes events to `alloc.tsv` and keeps their histograms.
pub struct RunSink {
    /// The event file.
    pub tsv: TsvFile,
    /// Latency histograms of every event handed to the sink.
    pub histograms: LatencyHistograms,
    tap: Option<Tap>,
}

impl RunSink {
    /// A sink writing to `tsv`.
    pub fn new(tsv: TsvFile) -> RunSink {
        RunSink {
            tsv,
            histograms: LatencyHistograms::new(),
            tap: None,
        }
    }

    /// Also hands every batch to `tap`.
    pub fn with_tap(mut self, tap: Tap) -> RunSink {
        self.tap = Some(tap);
        self
    }
}

impl Sink for RunSink {
    fn write(&mut self, events: &[Event]) -> io::Result<()> {
        for event in events {
            self.histograms.record(event);
        }
        if let Some(tap) = &mut self.tap {
            tap(events);
        }
        self.tsv.write_events(events)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.tsv.flush()
    }
}
