//! The live heap over a run's time: the bytes allocated during the
//! recording and not yet freed, call by call, kept as its exact peak, its
//! value at the end and a series of at most [`Heap::MAX_BUCKETS`] time
//! slices, whatever the length of the run.
//!
//! The calls come paired by [`Lifetimes`](crate::stats::Lifetimes): a free
//! counts only for an object allocated during the recording, and subtracts
//! the size its allocation added (the row's `bytes` or `old_bytes` say the
//! same for a well-formed file). Memory blocks allocated before the
//! recording started are not seen, so their frees change nothing.

/// What one call did to the live heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapChange {
    /// Sizes of the objects it ended (a dealloc or a realloc's old block,
    /// plus any object whose address it reused while still live).
    pub freed_bytes: u128,
    /// Size of the object it started.
    pub allocated_bytes: u64,
}

/// The highest the live heap went, and when it first got there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Peak {
    pub bytes: u128,
    pub t_ns: u64,
}

/// One slice of a run's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapBucket {
    /// The highest live heap in the slice (its value at the slice's start
    /// included).
    pub max_bytes: u128,
    /// The live heap at the slice's end.
    pub last_bytes: u128,
}

impl HeapBucket {
    fn flat(bytes: u128) -> HeapBucket {
        HeapBucket {
            max_bytes: bytes,
            last_bytes: bytes,
        }
    }
}

/// The live heap of one run.
pub struct Heap {
    live_bytes: u128,
    peak: Peak,
    /// The latest time seen: rows from several threads come a little out
    /// of order, and a value belongs to the time the file has reached.
    now_ns: u64,
    bucket_ns: u64,
    buckets: Vec<HeapBucket>,
}

impl Heap {
    /// The most slices the series holds: a few pixels each on a chart. The
    /// run's length is unknown until the end, so slices start narrow and
    /// double in width (merging pairs) whenever a call falls past the last.
    pub const MAX_BUCKETS: usize = 480;
    const FIRST_BUCKET_NS: u64 = 1_000;

    pub fn new() -> Heap {
        Heap {
            live_bytes: 0,
            peak: Peak::default(),
            now_ns: 0,
            bucket_ns: Self::FIRST_BUCKET_NS,
            buckets: Vec::new(),
        }
    }

    /// Applies one call's change, made at `t_ns`.
    pub fn record(&mut self, t_ns: u64, change: HeapChange) {
        self.now_ns = self.now_ns.max(t_ns);
        let before = self.live_bytes;
        debug_assert!(change.freed_bytes <= before, "only live objects are freed");
        let after = before.saturating_sub(change.freed_bytes) + u128::from(change.allocated_bytes);
        self.live_bytes = after;
        if after > self.peak.bytes {
            self.peak = Peak {
                bytes: after,
                t_ns: self.now_ns,
            };
        }
        let bucket = self.bucket_at(self.now_ns, before);
        bucket.max_bytes = bucket.max_bytes.max(after);
        bucket.last_bytes = after;
    }

    /// The bucket holding `t_ns` (not before the last one), widening the
    /// buckets as needed; new buckets start flat at `bytes`, the live heap
    /// until then.
    fn bucket_at(&mut self, t_ns: u64, bytes: u128) -> &mut HeapBucket {
        let mut index = t_ns / self.bucket_ns;
        while index >= Self::MAX_BUCKETS as u64 {
            self.widen();
            index = t_ns / self.bucket_ns;
        }
        let index = index as usize;
        while self.buckets.len() <= index {
            self.buckets.push(HeapBucket::flat(bytes));
        }
        &mut self.buckets[index]
    }

    fn widen(&mut self) {
        self.bucket_ns = self.bucket_ns.saturating_mul(2);
        crate::slices::merge_pairs(&mut self.buckets, |first, second| {
            first.max_bytes = first.max_bytes.max(second.max_bytes);
            first.last_bytes = second.last_bytes;
        });
    }

    /// Bytes live now (at the end, once the file is read).
    pub fn live_bytes(&self) -> u128 {
        self.live_bytes
    }

    /// The peak: 0 bytes at 0 ns when nothing was ever live.
    pub fn peak(&self) -> Peak {
        self.peak
    }

    /// Width of every bucket.
    pub fn bucket_ns(&self) -> u64 {
        self.bucket_ns
    }

    /// Buckets in time order; bucket `i` starts at `i * bucket_ns()`.
    pub fn buckets(&self) -> &[HeapBucket] {
        &self.buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(bytes: u64) -> HeapChange {
        HeapChange {
            freed_bytes: 0,
            allocated_bytes: bytes,
        }
    }

    fn free(bytes: u128) -> HeapChange {
        HeapChange {
            freed_bytes: bytes,
            allocated_bytes: 0,
        }
    }

    #[test]
    fn the_peak_is_the_first_time_the_highest_value_is_reached() {
        let mut heap = Heap::new();
        heap.record(100, alloc(1_000));
        heap.record(200, alloc(500));
        heap.record(300, free(1_000));
        heap.record(400, alloc(1_000)); // back to 1,500: not a new peak
        heap.record(500, free(1_500));
        assert_eq!(
            heap.peak(),
            Peak {
                bytes: 1_500,
                t_ns: 200
            }
        );
        assert_eq!(heap.live_bytes(), 0);
    }

    #[test]
    fn a_row_out_of_order_counts_at_the_time_reached() {
        let mut heap = Heap::new();
        heap.record(5_000, alloc(10));
        heap.record(4_000, alloc(10));
        assert_eq!(heap.peak().t_ns, 5_000);
        assert_eq!(heap.buckets.len(), 6);
    }

    #[test]
    fn slices_without_calls_carry_the_heap_and_a_slice_starts_at_its_value() {
        let mut heap = Heap::new();
        heap.record(500, alloc(4_096)); // slice 0
        heap.record(3_500, free(4_096)); // slice 3
        let buckets = &heap.buckets;
        assert_eq!(buckets.len(), 4);
        assert_eq!(buckets[0], HeapBucket::flat(4_096));
        assert_eq!(buckets[1], HeapBucket::flat(4_096));
        assert_eq!(buckets[2], HeapBucket::flat(4_096));
        // Live until the free, then empty.
        assert_eq!(
            buckets[3],
            HeapBucket {
                max_bytes: 4_096,
                last_bytes: 0
            }
        );
    }

    #[test]
    fn widening_keeps_every_maximum_and_the_last_value() {
        let mut heap = Heap::new();
        // A short spike in every 7th microsecond, for 10 ms.
        let mut spikes = 0u128;
        for us in 0..10_000u64 {
            let t_ns = us * 1_000;
            if us % 7 == 3 {
                spikes += 1;
                heap.record(t_ns, alloc(1_000_000 + us));
                heap.record(t_ns + 10, free(u128::from(1_000_000 + us)));
            }
            heap.record(t_ns + 20, alloc(1));
        }
        let buckets = &heap.buckets;
        assert!(buckets.len() <= Heap::MAX_BUCKETS);
        assert!(heap.bucket_ns * Heap::MAX_BUCKETS as u64 > 9_999_020);
        assert_eq!(heap.live_bytes(), 10_000);
        assert_eq!(buckets.last().unwrap().last_bytes, 10_000);
        // The last spike came at 9,999 µs, over 9,999 B allocated before it.
        assert_eq!(heap.peak().bytes, 1_000_000 + 9_999 + 9_999);
        assert_eq!(heap.peak().t_ns, 9_999_000);
        let highest = buckets.iter().map(|b| b.max_bytes).max().unwrap();
        assert_eq!(highest, heap.peak().bytes);
        // Every slice saw a spike (one in 7 µs, slices of 32 µs), so none
        // fell to the running count of small objects.
        assert!(spikes > 1_000);
        for (i, bucket) in buckets.iter().enumerate() {
            assert!(bucket.max_bytes > 1_000_000, "slice {i}: {bucket:?}");
        }
        // Each slice's last value is the count of 1-byte objects by its end.
        let width = heap.bucket_ns;
        for (i, bucket) in buckets.iter().enumerate().take(buckets.len() - 1) {
            let end_us = ((i as u64 + 1) * width).div_ceil(1_000);
            assert_eq!(bucket.last_bytes, u128::from(end_us), "slice {i}");
        }
    }

    #[test]
    fn extreme_sizes_and_times_are_exact() {
        let mut heap = Heap::new();
        heap.record(u64::MAX, alloc(u64::MAX));
        heap.record(u64::MAX, alloc(u64::MAX));
        assert_eq!(heap.live_bytes(), 2 * u128::from(u64::MAX));
        assert_eq!(heap.peak().t_ns, u64::MAX);
        assert!(heap.buckets.len() <= Heap::MAX_BUCKETS);
    }
}
