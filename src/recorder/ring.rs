//! The bounded event buffer between allocating threads and the drain.
//!
//! A ring of fixed-size slots, reserved once from the system allocator (never
//! through the global allocator). Producers take a ticket with one
//! `fetch_add`, wait until the consumer has released the ticket one lap
//! earlier, write the event and publish it by storing the ticket in the slot;
//! the single consumer reads slots in ticket order and releases them a batch
//! at a time. The consumer never writes to a slot, so a slot's cache line
//! travels from producer to consumer once per lap and never back. No locks: a
//! producer only ever waits for the drain, and never loses an event. The top
//! bit of the ticket counter closes the ring: tickets taken after closing are
//! refused, tickets taken before are all published, so "recorded" is exactly
//! the counter's value at closing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::clock;

/// Set in the ticket counter once the ring is closed.
const CLOSED: u64 = 1 << 63;

/// One event as the allocation path writes it: raw ticks, no conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub start_ticks: u64,
    pub size_bytes: u64,
    pub addr: u64,
    /// Realloc only; 0 otherwise.
    pub old_addr: u64,
    /// Saturates at `u32::MAX` ticks (over a second).
    pub latency_ticks: u32,
    pub thread: u32,
    pub align_log2: u8,
    pub kind: u8,
}

struct Slot {
    /// The low 32 bits of `ticket + 1` once the slot holds the event of
    /// `ticket`; 0 in a fresh ring. Producers are never more than one lap
    /// ahead of the consumer, so 32 bits cannot wrap into a false match.
    published: AtomicU32,
    event: UnsafeCell<MaybeUninit<RawEvent>>,
}

/// What `published` holds once `ticket`'s event is in its slot.
#[inline]
fn publication(ticket: u64) -> u32 {
    (ticket as u32).wrapping_add(1)
}

/// Keeps the producers' counter and the consumer's fields on separate lines.
#[repr(align(128))]
struct Padded<T>(T);

pub(crate) struct Ring {
    tickets: Padded<AtomicU64>,
    /// Tickets below this are consumed: their slots may be written again.
    /// Stored by the consumer once per batch, so producers mostly read it
    /// from their own cache.
    released: Padded<AtomicU64>,
    wait_ticks: Padded<AtomicU64>,
    waits: AtomicU64,
    slots: *mut Slot,
    capacity: u64,
}

// SAFETY: slots are only accessed under the ticket protocol: a slot's event is
// written by the one producer holding its ticket, after the consumer released
// the ticket a lap before (acquire/release on `released`), and read by the
// single consumer after the acquire load of `published` that saw the
// producer's release store.
unsafe impl Sync for Ring {}
// SAFETY: as above; the raw pointer is owned memory that is never freed.
unsafe impl Send for Ring {}

impl Ring {
    /// Reserves a ring of `capacity` slots (rounded up to a power of two,
    /// at least 2) from the system allocator. `None` if that fails.
    ///
    /// Rings are leaked on purpose: a producer that loaded the ring pointer just
    /// before a recording ended may still touch it, so it must stay valid.
    pub(crate) fn leak_new(capacity: usize) -> Option<&'static Ring> {
        let capacity = capacity.max(2).checked_next_power_of_two()?;
        let layout = Layout::array::<Slot>(capacity).ok()?;
        // SAFETY: the layout has a non-zero size (capacity >= 2 slots of
        // non-zero size).
        let slots = unsafe { System.alloc(layout) }.cast::<Slot>();
        if slots.is_null() {
            return None;
        }
        for index in 0..capacity {
            // SAFETY: `index < capacity`, inside the allocation just made.
            unsafe {
                slots.add(index).write(Slot {
                    published: AtomicU32::new(0),
                    event: UnsafeCell::new(MaybeUninit::uninit()),
                })
            };
        }
        let ring = Ring {
            tickets: Padded(AtomicU64::new(0)),
            released: Padded(AtomicU64::new(0)),
            wait_ticks: Padded(AtomicU64::new(0)),
            waits: AtomicU64::new(0),
            slots,
            capacity: capacity as u64,
        };
        // The ring itself is small; Box goes through the global allocator, and
        // the caller holds the re-entry guard so it is not recorded.
        Some(Box::leak(Box::new(ring)))
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity as usize
    }

    fn slot(&self, ticket: u64) -> &Slot {
        // SAFETY: the index is masked into 0..capacity and every slot was
        // initialised in `leak_new`.
        unsafe { &*self.slots.add((ticket & (self.capacity - 1)) as usize) }
    }

    /// Makes an empty, open ring again. Only while no drain runs.
    pub(crate) fn reset(&self) {
        for ticket in 0..self.capacity {
            self.slot(ticket).published.store(0, Ordering::Relaxed);
        }
        self.wait_ticks.0.store(0, Ordering::Relaxed);
        self.waits.store(0, Ordering::Relaxed);
        self.released.0.store(0, Ordering::Release);
        self.tickets.0.store(0, Ordering::Release);
    }

    /// Adds an event, waiting for the drain while the ring is full. Returns
    /// false (and drops the event) if the ring is closed.
    #[inline]
    pub(crate) fn push(&self, event: RawEvent) -> bool {
        let ticket = self.tickets.0.fetch_add(1, Ordering::Relaxed);
        if ticket & CLOSED != 0 {
            return false;
        }
        if ticket >= self.released.0.load(Ordering::Acquire) + self.capacity {
            self.wait_for_room(ticket);
        }
        let slot = self.slot(ticket);
        // SAFETY: the consumer has released the ticket one lap before ours, so
        // it is done with this slot, and no other producer holds our ticket.
        unsafe { (*slot.event.get()).write(event) };
        slot.published.store(publication(ticket), Ordering::Release);
        true
    }

    #[cold]
    fn wait_for_room(&self, ticket: u64) {
        let start = clock::now_ticks();
        let mut spins = 0u32;
        while ticket >= self.released.0.load(Ordering::Acquire) + self.capacity {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                // Give the drain the core: on a small machine it may be waiting
                // for ours.
                std::thread::yield_now();
            }
        }
        let waited = clock::now_ticks().saturating_sub(start);
        self.wait_ticks.0.fetch_add(waited, Ordering::Relaxed);
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    /// Consumer side: the event of `ticket`, if it has been published. The
    /// slot stays reserved until [`Ring::release`].
    #[inline]
    pub(crate) fn take(&self, ticket: u64) -> Option<RawEvent> {
        let slot = self.slot(ticket);
        if slot.published.load(Ordering::Acquire) != publication(ticket) {
            return None;
        }
        // SAFETY: the acquire load saw the producer's release store, so the
        // event is fully written, and no producer writes the slot again until
        // we release this ticket.
        Some(unsafe { (*slot.event.get()).assume_init() })
    }

    /// Consumer side: every ticket below `next` has been taken; producers may
    /// reuse their slots.
    #[inline]
    pub(crate) fn release(&self, next: u64) {
        self.released.0.store(next, Ordering::Release);
    }

    /// Closes the ring and returns how many tickets were taken before.
    pub(crate) fn close(&self) -> u64 {
        self.tickets.0.fetch_or(CLOSED, Ordering::AcqRel) & !CLOSED
    }

    /// Tickets taken so far (events recorded or being recorded).
    pub(crate) fn tickets_taken(&self) -> u64 {
        self.tickets.0.load(Ordering::Relaxed) & !CLOSED
    }

    /// Total ticks producers spent waiting for a free slot, and how many waits.
    pub(crate) fn wait_totals(&self) -> (u64, u64) {
        (
            self.wait_ticks.0.load(Ordering::Relaxed),
            self.waits.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(size_bytes: u64) -> RawEvent {
        RawEvent {
            start_ticks: 0,
            size_bytes,
            addr: 0,
            old_addr: 0,
            latency_ticks: 0,
            thread: 1,
            align_log2: 3,
            kind: 0,
        }
    }

    #[test]
    fn events_come_out_in_ticket_order_and_closing_counts_them() {
        let ring = Ring::leak_new(4).unwrap();
        for size in 0..3 {
            assert!(ring.push(event(size)));
        }
        assert_eq!(ring.take(0).unwrap().size_bytes, 0);
        assert_eq!(ring.take(1).unwrap().size_bytes, 1);
        ring.release(2);
        assert!(ring.push(event(3)));
        assert_eq!(ring.close(), 4);
        assert!(!ring.push(event(99)), "a closed ring refuses events");
        assert_eq!(ring.take(2).unwrap().size_bytes, 2);
        assert_eq!(ring.take(3).unwrap().size_bytes, 3);
        assert_eq!(ring.take(4), None);
    }

    #[test]
    fn a_full_ring_makes_the_producer_wait_for_the_consumer() {
        let ring = Ring::leak_new(2).unwrap();
        let producer = std::thread::spawn(move || {
            for size in 0..1000 {
                ring.push(event(size));
            }
        });
        let mut next = 0;
        while next < 1000 {
            if let Some(taken) = ring.take(next) {
                assert_eq!(taken.size_bytes, next);
                next += 1;
                ring.release(next);
            }
        }
        producer.join().unwrap();
        assert!(
            ring.wait_totals().1 > 0,
            "a 2-slot ring must have made the producer wait"
        );
    }
}
