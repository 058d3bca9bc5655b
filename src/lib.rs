//! heapsnow: a reporting global allocator that measures heap allocation.
//!
//! [`ReportingAllocator`] is a `#[global_allocator]` that times every
//! `alloc`, `alloc_zeroed`, `realloc` and `dealloc` of the whole process
//! without allocating, locking or printing on the allocation path, and loses
//! nothing. [`Recorder`] records into a folder in one line:
//!
//! ```no_run
//! use std::alloc::System;
//! use heapsnow::{Recorder, ReportingAllocator};
//!
//! #[global_allocator]
//! static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);
//!
//! fn main() -> Result<(), heapsnow::RecorderError> {
//!     let _recorder = Recorder::start_in(&GLOBAL, "alloc-results")?;
//!     // ... the code to measure ...
//!     Ok(())
//! }
//! ```
//!
//! When `_recorder` is dropped (or [finished](Recorder::finish), to get the
//! errors and the summary back) the folder holds `alloc.tsv` (one row per
//! call: size, latency, kind, alignment, time, thread, addresses),
//! `summary.json` ([`stats::RunSummary`]: percentiles per kind of call) and
//! `latency.hgrm` (HdrHistogram's percentile text format), and one line on
//! stderr says where they are.
//!
//! Any [`recorder::Sink`] can receive the events instead of files:
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
//! Wrap mimalloc or jemalloc by naming them as the type parameter:
//! `ReportingAllocator<mimalloc::MiMalloc>`.
//!
//! # Call stacks
//!
//! [`Config::stacks_over`](recorder::Config::stacks_over) captures the call
//! stack of every call at least that slow, and
//! [`Config::stacks_every`](recorder::Config::stacks_every) that of every
//! N-th allocating call of each thread. The stack is walked on the
//! allocating thread right after the backing call returns, inside the
//! recorder's re-entry guard (whatever the unwinder allocates passes through
//! unrecorded), and only its return addresses are taken: 1 to 3 µs a stack
//! on a 2-core virtual machine. They travel in the thread's own buffer
//! right behind their event, so nothing is lost or reordered; a sink gets
//! each distinct stack once ([`recorder::Sink::stack`]) and each event
//! names its stack ([`recorder::Event::stack`]). A [`Recorder`] names the
//! frames after the recording ([`stacks::Symbolizer`]) and writes
//! `stacks.tsv`, `slow-stacks.folded` and `sampled-stacks.folded`, the
//! folded format flame graph tools read. Stacks need the default feature
//! `stacks` (the `backtrace` crate); without it a recording that asks for
//! them does not start ([`recorder::StartError::StacksUnavailable`]).
//!
//! # Limits
//!
//! - **Memory.** Each thread that records gets an event buffer, reserved
//!   outside the global allocator when it first records:
//!   [`Config::capacity_events`](recorder::Config::capacity_events) × 32
//!   bytes, by default 131,072 × 32 bytes = 4 MiB (an event takes one
//!   slot, a realloc two). It is zeroed memory
//!   from the system, so it becomes resident only as events fill it. On
//!   Linux a buffer of 2 MiB or more (the default's) is mapped in whole
//!   huge pages and becomes resident 2 MiB at a time: the allocating
//!   thread writes a new cache line of it every other event, and on 4 KiB
//!   pages those writes miss the TLB.
//!   Buffers are kept and reused, never freed: a thread that exits leaves
//!   its buffer, once drained, to the next thread that records, so memory
//!   follows the most threads recording at once (on Linux; elsewhere the
//!   buffers of exited threads are not reused). Spill buffers add up to
//!   [`Config::spill_buffers`](recorder::Config::spill_buffers) more (2 by
//!   default), resident only once a drain a whole buffer behind makes a
//!   thread fill one, and kept for reuse too. A
//!   [`Recorder`] adds a writer thread for `alloc.tsv` with its 256 KiB
//!   chunks (at most five: one being written, four waiting; a longer
//!   hold-up waits in the event buffers) and four latency histograms of
//!   216 KiB each. The drain is a thread of its own (its stack and, with
//!   glibc, a malloc arena: address space, not resident memory).
//! - **Start-up.** A start calibrates the clock: about 3 ms (2 ms to measure
//!   the TSC's rate against `Instant`, 20,000 back-to-back reads for the
//!   resolution, 20,000 small System allocations timed two ways for the
//!   offset and 5,000 more with a short spin before each), plus starting
//!   the drain thread. A
//!   [`Recorder`] also creates and checks the folder's files; its finish
//!   syncs `summary.json` and `latency.hgrm` to disk. On a 2-core virtual
//!   machine, start and finish together took about 4 ms.
//! - **What is not recorded.** Anything before the start and after the
//!   finish; the recorder's own drain thread, from its first instruction
//!   (and so a sink's work); code run inside
//!   [`recorder::without_recording`]; a child process forked while recording
//!   (see below).
//! - **Sinks** run on the drain thread and may allocate, lock and do I/O,
//!   but must keep up: see [`recorder::Sink`]. When its buffer is full, an
//!   allocating thread goes on in a spill buffer while
//!   [`spill_buffers`](recorder::Config::spill_buffers) full buffers at
//!   most wait for the drain; past that it waits for the drain (nothing is
//!   lost, and the wait is counted apart, never in a latency); if the drain makes no progress for
//!   the [stall limit](recorder::Config::stall_limit) (1 s by default),
//!   they stop waiting and their events are dropped and counted. A sink's
//!   error stops delivery (the rest is counted as undelivered); a sink's
//!   panic is caught and reported by `finish`.
//! - **Fork.** A child forked while recording has no drain thread: its
//!   calls pass straight through, unrecorded (a `pthread_atfork` handler),
//!   and `finish` in the child returns
//!   [`FinishError::ForkedChild`](recorder::FinishError::ForkedChild).
//!   `fork` + `exec` is unaffected.
//! - **Signals.** The recorder installs no signal handler. A signal that
//!   ends the process skips every `Drop`: `alloc.tsv` keeps the whole rows
//!   written until then, the events still in memory are lost, and
//!   `summary.json` and `latency.hgrm` are not written. To keep them on
//!   Ctrl-C, handle the signal (say, with the `signal-hook` crate) and let
//!   the program end normally, as the `particles` binary does. An
//!   allocation inside a signal handler that interrupted the allocation
//!   path passes straight through, unrecorded; the allocation path takes no
//!   lock, so it cannot deadlock with a handler.
//! - **The clock.** On x86_64, when the kernel's clocksource is `tsc`
//!   (which the kernel picks only for an invariant, synchronised counter),
//!   the recorder reads `rdtsc`; otherwise `Instant` (the monotonic
//!   clock). At start it measures the clock's resolution (the most common
//!   step between two back-to-back reads) and its offset (its own share of
//!   a timed window: small System allocations timed one by one as the
//!   recorder times them, against the same timed as one batch, bare and
//!   after a short spin, the two averaged; taken off every latency); both
//!   are in
//!   [`recorder::Calibration`] and `summary.json` (`timer_floor_ns`,
//!   `timer_offset_ns`). Latencies near the resolution are the clock's, not
//!   the allocator's.
//! - **Platforms.** Built and tested on x86_64 Linux. Elsewhere the clock is
//!   `Instant`, whose resolution and cost the calibration measures the same
//!   way. The fork handling is Unix-only (elsewhere there is no `fork`).
//!
//! # The crate
//!
//! [`recorder`] is the allocator and its drain, [`run`] the folder a
//! recording writes ([`Recorder`] and its parts), [`stacks`] the captured
//! call stacks and their files, [`stats`] the histograms
//! and summaries, [`tsv`] the event file format shared by the recorder and
//! heapsnow's `alloc-report` program.
#![deny(missing_docs)]

pub mod recorder;
pub mod run;
pub mod stacks;
pub mod stats;
pub mod tsv;

pub use recorder::ReportingAllocator;
pub use run::{Recorder, RecorderError};
