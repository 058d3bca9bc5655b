//! heapsnow: a reporting global allocator that measures heap allocation.
//!
//! The heart of the crate is [`recorder::ReportingAllocator`], a
//! `#[global_allocator]` that times every `alloc`, `alloc_zeroed`, `realloc`
//! and `dealloc` of the whole process without allocating, locking or printing
//! on the allocation path, and loses nothing. Put it in any program:
//!
//! ```
//! use std::alloc::System;
//! use heapsnow::recorder::{Config, Event, ReportingAllocator, Sink};
//!
//! #[global_allocator]
//! static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);
//!
//! /// Receives batches of events on the recorder's drain thread, whose own
//! /// allocations are never recorded.
//! #[derive(Default)]
//! struct Largest(u64);
//!
//! impl Sink for Largest {
//!     fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
//!         for event in events {
//!             self.0 = self.0.max(event.size_bytes);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let recording = GLOBAL.start(Config::default(), Largest::default()).unwrap();
//! let numbers: Vec<u64> = (0..1000).collect();
//! drop(numbers);
//! let finished = recording.finish().unwrap();
//! assert!(finished.events_recorded >= 2);
//! assert!(finished.sink.0 >= 8000, "the vector's 8000 bytes were seen");
//! println!("clock resolution: {:.1} ns", finished.calibration.resolution_ns);
//! ```
//!
//! To write the same files as the `particles` binary, use
//! [`run::RunSink`] (`alloc.tsv` plus latency histograms) and
//! [`run::OutputDir`] (`summary.json`, `latency.hgrm`).
//!
//! The rest of the crate is what a recording turns into: [`stats`] the
//! histograms and summaries, [`tsv`] the event file format shared by the
//! recorder and the `alloc-report` binary.
#![deny(missing_docs)]

pub mod recorder;
pub mod run;
pub mod stats;
pub mod tsv;

pub use recorder::ReportingAllocator;
pub use run::{Recorder, RecorderError};
