//! What formatting one `alloc.tsv` row costs the drain thread: a batch of
//! events shaped like the default run's (29% alloc, 43% realloc, 29%
//! dealloc, heap addresses, a few captured stacks) written with `write_row`
//! into a reused buffer, as `TsvFile::write_events` does.
//!
//! `cargo bench -p heapsnow --bench tsv_write`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use heapsnow::recorder::{Event, Kind, StackRef};
use heapsnow::tsv::write_row;

/// Events per batch: a drain batch's order of magnitude.
const BATCH_EVENTS: u64 = 4096;

/// The last event's start time: a run of about 8 seconds.
const RUN_NS: u64 = 8_000_000_000;

/// A small deterministic generator (xorshift64), so every run formats the
/// same rows.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `low..high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

fn heap_addr(random: &mut Xorshift) -> u64 {
    // 16-byte aligned, within a few megabytes of a typical glibc heap start.
    0x5608_1234_5670 + random.between(0, 1 << 18) * 16
}

fn events() -> Vec<Event> {
    let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
    (0..BATCH_EVENTS)
        .map(|i| {
            let roll = random.between(0, 100);
            let kind = match roll {
                0..29 => Kind::Alloc,
                29..72 => Kind::Realloc,
                _ => Kind::Dealloc,
            };
            let realloc = kind == Kind::Realloc;
            let stack = (i % 500 == 0).then(|| StackRef {
                id: (i / 500) as u32 + 1,
                slow: true,
                sampled: i % 1000 == 0,
            });
            Event {
                kind,
                size_bytes: random.between(8, 4097),
                align_bytes: 8,
                latency_ns: random.between(5, 2001),
                t_ns: RUN_NS / BATCH_EVENTS * i + random.between(0, 1000),
                thread: 1,
                addr: heap_addr(&mut random),
                old_addr: realloc.then(|| heap_addr(&mut random)),
                old_size_bytes: realloc.then(|| random.between(8, 4097)),
                stack,
            }
        })
        .collect()
}

fn write_rows(c: &mut Criterion) {
    let events = events();
    let mut out = Vec::with_capacity(1 << 20);
    let mut group = c.benchmark_group("tsv");
    group.throughput(Throughput::Elements(BATCH_EVENTS));
    group.bench_function("write_row", |b| {
        b.iter(|| {
            out.clear();
            for event in &events {
                write_row(&mut out, black_box(event));
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, write_rows);
criterion_main!(benches);
