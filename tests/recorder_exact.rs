//! The recorder as a real global allocator: every call of a thread is
//! recorded one for one, in order, with its size, alignment and addresses.

use std::alloc::{Layout, System};
use std::sync::Mutex;

use heapsnow::recorder::{self, ClockSource, Config, Event, Kind, ReportingAllocator, Sink};

#[global_allocator]
static GLOBAL: ReportingAllocator<System> = ReportingAllocator::new(System);

/// One recording at a time: tests in this binary run on parallel threads.
static SERIAL: Mutex<()> = Mutex::new(());

struct Collect(Vec<Event>);

impl Sink for Collect {
    fn write(&mut self, events: &[Event]) -> std::io::Result<()> {
        self.0.extend_from_slice(events);
        Ok(())
    }
}

/// What the test expects to see for one call.
#[derive(Debug, PartialEq)]
struct Call {
    kind: Kind,
    size_bytes: u64,
    align_bytes: u64,
    addr: u64,
    old_addr: Option<u64>,
    old_size_bytes: Option<u64>,
}

fn calls_of_this_thread(events: &[Event]) -> Vec<Call> {
    let me = recorder::thread_number();
    events
        .iter()
        .filter(|e| e.thread == me)
        .map(|e| Call {
            kind: e.kind,
            size_bytes: e.size_bytes,
            align_bytes: e.align_bytes,
            addr: e.addr,
            old_addr: e.old_addr,
            old_size_bytes: e.old_size_bytes,
        })
        .collect()
}

fn record_known_calls(clock: ClockSource) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    recorder::thread_number();
    let small = Layout::from_size_align(80, 8).unwrap();
    let page = Layout::from_size_align(4096, 64).unwrap();
    let grown = Layout::from_size_align(160, 8).unwrap();
    // 8 GiB: a size that needs more than 32 bits (the recorder stores
    // those in a second slot). Reserved lazily, or refused (null).
    let huge = Layout::from_size_align(1 << 33, 4096).unwrap();

    let recording = GLOBAL
        .start(
            Config {
                clock,
                ..Config::default()
            },
            Collect(Vec::new()),
        )
        .unwrap();
    // SAFETY: each pointer is used with the layout it was allocated with,
    // and freed once.
    let (a, z, r, h) = unsafe {
        let a = std::alloc::alloc(small);
        let z = std::alloc::alloc_zeroed(page);
        assert!(std::slice::from_raw_parts(z, 4096).iter().all(|&b| b == 0));
        let r = std::alloc::realloc(a, small, 160);
        std::alloc::dealloc(z, page);
        std::alloc::dealloc(r, grown);
        let h = std::alloc::alloc(huge);
        if !h.is_null() {
            std::alloc::dealloc(h, huge);
        }
        (a, z, r, h)
    };
    let finished = recording.finish().unwrap();

    let expected = vec![
        Call {
            kind: Kind::Alloc,
            size_bytes: 80,
            align_bytes: 8,
            addr: a as u64,
            old_addr: None,
            old_size_bytes: None,
        },
        Call {
            kind: Kind::AllocZeroed,
            size_bytes: 4096,
            align_bytes: 64,
            addr: z as u64,
            old_addr: None,
            old_size_bytes: None,
        },
        Call {
            kind: Kind::Realloc,
            size_bytes: 160,
            align_bytes: 8,
            addr: r as u64,
            old_addr: Some(a as u64),
            old_size_bytes: Some(80),
        },
        Call {
            kind: Kind::Dealloc,
            size_bytes: 4096,
            align_bytes: 64,
            addr: z as u64,
            old_addr: None,
            old_size_bytes: None,
        },
        Call {
            kind: Kind::Dealloc,
            size_bytes: 160,
            align_bytes: 8,
            addr: r as u64,
            old_addr: None,
            old_size_bytes: None,
        },
    ];
    let huge_calls = [Kind::Alloc, Kind::Dealloc].map(|kind| Call {
        kind,
        size_bytes: 1 << 33,
        align_bytes: 4096,
        addr: h as u64,
        old_addr: None,
        old_size_bytes: None,
    });
    let expected: Vec<Call> = expected
        .into_iter()
        .chain(huge_calls.into_iter().take(if h.is_null() { 1 } else { 2 }))
        .collect();
    assert_eq!(calls_of_this_thread(&finished.sink.0), expected);
    assert_eq!(finished.events_recorded, finished.sink.0.len() as u64);
    assert!(finished.sink_error.is_none());
    let times: Vec<u64> = finished.sink.0.iter().map(|e| e.t_ns).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1] + 1_000_000),
        "start times go forward: {times:?}"
    );
}

#[test]
fn every_call_is_recorded_once_in_order_with_tsc_or_auto_clock() {
    record_known_calls(ClockSource::Auto);
}

#[test]
fn every_call_is_recorded_once_in_order_with_monotonic_clock() {
    record_known_calls(ClockSource::Monotonic);
}

#[test]
fn nothing_is_recorded_outside_a_recording_or_inside_without_recording() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    drop(vec![0u8; 100]);
    let recording = GLOBAL
        .start(Config::default(), Collect(Vec::new()))
        .unwrap();
    recorder::without_recording(|| drop(std::hint::black_box(vec![0u8; 777])));
    drop(std::hint::black_box(vec![0u8; 555]));
    let finished = recording.finish().unwrap();
    drop(vec![0u8; 100]);
    let sizes: Vec<u64> = calls_of_this_thread(&finished.sink.0)
        .iter()
        .map(|c| c.size_bytes)
        .collect();
    assert_eq!(sizes, vec![555, 555]);
}

#[test]
fn more_spill_buffers_than_the_cap_are_refused_and_recording_can_start_after() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = Config {
        spill_buffers: recorder::MAX_SPILL_BUFFERS + 1,
        ..Config::default()
    };
    let refused = GLOBAL.start(config, Collect(Vec::new()));
    let Err(error) = refused else {
        panic!("a recording with 65 spill buffers started");
    };
    assert!(
        matches!(
            error,
            recorder::StartError::TooManySpillBuffers { spill_buffers: 65 }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "cannot keep 65 spill buffers: at most 64"
    );
    let config = Config {
        spill_buffers: recorder::MAX_SPILL_BUFFERS,
        ..Config::default()
    };
    let recording = GLOBAL.start(config, Collect(Vec::new())).unwrap();
    recording.finish().unwrap();
}

#[test]
fn a_second_start_while_recording_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let recording = GLOBAL
        .start(Config::default(), Collect(Vec::new()))
        .unwrap();
    let second = GLOBAL.start(Config::default(), Collect(Vec::new()));
    assert!(matches!(
        second,
        Err(recorder::StartError::AlreadyRecording)
    ));
    recording.finish().unwrap();
}
