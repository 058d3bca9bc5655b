//! Property tests of the TSV reader: it never panics, whatever the bytes, and
//! it reads back every event `write_row` writes.

use heapsnow::recorder::{Event, Kind, StackRef};
use heapsnow::tsv::{HEADER, Reader, write_row};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(Kind::ALL.to_vec())
}

fn stack() -> impl Strategy<Value = Option<StackRef>> {
    prop::option::of(
        (any::<u32>(), any::<bool>()).prop_map(|(id, slow)| StackRef {
            id,
            slow,
            // At least one reason: a stack is captured for one.
            sampled: !slow || id % 2 == 0,
        }),
    )
}

fn event() -> impl Strategy<Value = Event> {
    (
        (
            kind(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            any::<Option<u64>>(),
        ),
        (any::<Option<u64>>(), stack()),
    )
        .prop_map(
            |(
                (kind, size_bytes, align_bytes, latency_ns, t_ns, thread, addr, old_addr),
                (old_size_bytes, stack),
            )| Event {
                kind,
                size_bytes,
                align_bytes,
                latency_ns,
                t_ns,
                thread,
                addr,
                old_addr,
                old_size_bytes,
                stack,
            },
        )
}

fn file_of(events: &[Event]) -> Vec<u8> {
    let mut file = HEADER.as_bytes().to_vec();
    for event in events {
        write_row(&mut file, event);
    }
    file
}

/// Reads to the end or the first error; must not panic.
fn drain(input: &[u8]) {
    if let Ok(reader) = Reader::new(input) {
        for result in reader {
            if result.is_err() {
                break;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn write_then_read_round_trips(events in prop::collection::vec(event(), 0..50)) {
        let file = file_of(&events);
        let mut reader = Reader::new(&file[..]).unwrap();
        let read: Vec<Event> = reader.by_ref().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read, events);
        prop_assert_eq!(reader.skipped_partial_line(), None);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        drain(&bytes);
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
    ) {
        let mut file = HEADER.as_bytes().to_vec();
        file.extend_from_slice(&bytes);
        drain(&file);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        events in prop::collection::vec(event(), 1..20),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut file = file_of(&events);
        for (at, byte, how) in edits {
            let i = at.index(file.len());
            match how {
                0 => file[i] = byte,
                1 => file.insert(i, byte),
                _ => { file.remove(i); }
            }
            if file.is_empty() {
                break;
            }
        }
        drain(&file);
    }

    #[test]
    fn errors_and_partial_lines_point_at_real_lines(
        events in prop::collection::vec(event(), 1..20),
        cut in any::<prop::sample::Index>(),
    ) {
        // Cutting a valid file anywhere yields the rows before the cut, and at
        // most one skipped partial line, never an error.
        let file = file_of(&events);
        let header_len = HEADER.len();
        let end = header_len + cut.index(file.len() - header_len + 1);
        let mut reader = Reader::new(&file[..end]).unwrap();
        let read: Vec<Event> = reader.by_ref().collect::<Result<_, _>>().unwrap();
        let whole_rows = file[header_len..end].iter().filter(|&&b| b == b'\n').count();
        prop_assert_eq!(&read[..], &events[..whole_rows]);
        let partial = end > header_len && file[end - 1] != b'\n';
        prop_assert_eq!(reader.skipped_partial_line().is_some(), partial);
        if let Some(line) = reader.skipped_partial_line() {
            prop_assert_eq!(line, whole_rows as u64 + 2);
        }
    }
}
