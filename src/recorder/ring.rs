//! The bounded event buffer between allocating threads and the drain.
//!
//! A ring of fixed-size slots, reserved once from the system allocator (never
//! through the global allocator). A producer first makes sure the ring has
//! room, then takes the next ticket with one compare-and-swap, writes the
//! event and publishes it by storing the ticket in the slot; the single
//! consumer reads slots in ticket order and releases them a batch at a time.
//! The consumer never writes to a slot, so a slot's cache line travels from
//! producer to consumer once per lap and never back.
//!
//! A producer never holds a ticket while it waits: it waits for room *before*
//! taking one. So a producer that gives up (the drain stalled past the stall
//! limit) leaves no hole in the ticket sequence, and the drain never waits
//! for an event that will not come. The top bit of the ticket counter closes
//! the ring: no ticket is handed out after it, every ticket handed out before
//! is published, so "recorded" is exactly the counter's value at closing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::clock::TickSource;

/// Set in the ticket counter once the ring is closed.
const CLOSED: u64 = 1 << 63;
/// `stalled_at` while the drain is not known to be stalled.
const NOT_STALLED: u64 = u64::MAX;
/// Busy spins before a waiting producer starts yielding its core.
const SPINS: u32 = 64;
/// Waits longer than this sleep between looks instead of yielding, so a
/// producer waiting out a stall does not burn a core the drain may need.
const YIELD_FOR: Duration = Duration::from_millis(1);
const NAP: Duration = Duration::from_micros(50);

/// One event as the allocation path writes it: raw ticks, no conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawEvent {
    pub start_ticks: u64,
    pub latency_ticks: u64,
    pub size_bytes: u64,
    pub addr: u64,
    /// Realloc only; 0 otherwise.
    pub old_addr: u64,
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

/// Counters of the slow path: waits for room and events dropped in a stall.
struct Waits {
    wait_ns: AtomicU64,
    waits: AtomicU64,
    dropped: AtomicU64,
    /// The `released` value at which a producer found the drain stalled, or
    /// `NOT_STALLED`. While `released` still equals it, a full ring drops at
    /// once instead of waiting out the stall limit again.
    stalled_at: AtomicU64,
}

/// Why a push did not record its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The recording has ended.
    Closed,
    /// The ring was full and the drain stalled: counted in `dropped`.
    Dropped,
}

pub(crate) struct Ring {
    tickets: Padded<AtomicU64>,
    /// Tickets below this are consumed: their slots may be written again.
    /// Stored by the consumer once per batch, so producers mostly read it
    /// from their own cache.
    released: Padded<AtomicU64>,
    waits: Padded<Waits>,
    slots: *mut Slot,
    /// Slots reserved.
    slots_reserved: u64,
    /// Slots in use by the current recording: a power of two, at most
    /// `slots_reserved`, so a spare ring can serve a smaller recording. Set
    /// with `clock`.
    capacity: AtomicU64,
    /// The clock this recording reads: `TickSource as u8`. Set while the
    /// ring is not published, read-only while it is.
    clock: AtomicU8,
    /// Set with `clock`: how long a producer waits for a drain that makes no
    /// progress before it drops its event.
    stall_limit_ns: AtomicU64,
}

// SAFETY: slots are only accessed under the ticket protocol: a slot's event is
// written by the one producer holding its ticket, which it took only after an
// acquire load of `released` showed the consumer done with the ticket one lap
// before, and read by the single consumer after the acquire load of
// `published` that saw the producer's release store.
unsafe impl Sync for Ring {}
// SAFETY: as above; the raw pointer is owned memory that is never freed.
unsafe impl Send for Ring {}

impl Ring {
    /// The slots a ring for `capacity` events has: a power of two, at least 2.
    pub(crate) fn slots_for(capacity: usize) -> Option<usize> {
        capacity.max(2).checked_next_power_of_two()
    }

    /// Reserves a ring of `capacity` slots (rounded up with
    /// [`Ring::slots_for`]) from the system allocator. `None` if that fails.
    ///
    /// Rings are leaked on purpose: a producer that loaded the ring pointer just
    /// before a recording ended may still touch it, so it must stay valid.
    pub(crate) fn leak_new(capacity: usize) -> Option<&'static Ring> {
        let capacity = Ring::slots_for(capacity)?;
        let layout = Layout::array::<Slot>(capacity).ok()?;
        // SAFETY: the layout has a non-zero size (capacity >= 2 slots of
        // non-zero size). All-zero bytes are a valid empty `Slot` (`published`
        // 0, the event uninitialised), and zeroed memory from the system is
        // not touched until used: the ring costs resident memory and page
        // faults only as far as events fill it, not at start.
        let slots = unsafe { System.alloc_zeroed(layout) }.cast::<Slot>();
        if slots.is_null() {
            return None;
        }
        let ring = Ring {
            tickets: Padded(AtomicU64::new(0)),
            released: Padded(AtomicU64::new(0)),
            waits: Padded(Waits {
                wait_ns: AtomicU64::new(0),
                waits: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                stalled_at: AtomicU64::new(NOT_STALLED),
            }),
            slots,
            slots_reserved: capacity as u64,
            capacity: AtomicU64::new(capacity as u64),
            clock: AtomicU8::new(TickSource::Monotonic as u8),
            stall_limit_ns: AtomicU64::new(u64::MAX),
        };
        // The ring itself is small; Box goes through the global allocator, and
        // the caller holds the re-entry guard so it is not recorded.
        Some(Box::leak(Box::new(ring)))
    }

    /// Slots reserved: the largest capacity this ring can serve.
    pub(crate) fn slots_reserved(&self) -> usize {
        self.slots_reserved as usize
    }

    #[inline(always)]
    fn capacity(&self) -> u64 {
        self.capacity.load(Ordering::Relaxed)
    }

    #[inline(always)]
    fn slot(&self, ticket: u64) -> &Slot {
        // SAFETY: `capacity` is a power of two no larger than the slots
        // reserved, so the index is inside the allocation, and every slot was
        // zeroed, a valid empty slot, in `leak_new`.
        unsafe { &*self.slots.add((ticket & (self.capacity() - 1)) as usize) }
    }

    /// Makes an empty, open ring of `capacity` slots (a power of two, at most
    /// the slots reserved) again, reading `clock` and dropping events when the
    /// drain makes no progress for `stall_limit`. Only while no drain runs and
    /// the ring is not published.
    pub(crate) fn reset(&self, capacity: usize, clock: TickSource, stall_limit: Duration) {
        assert!(capacity.is_power_of_two() && capacity <= self.slots_reserved());
        // Only slots the last recording used hold a publication.
        for ticket in 0..self.tickets_taken().min(self.capacity()) {
            self.slot(ticket).published.store(0, Ordering::Relaxed);
        }
        self.capacity.store(capacity as u64, Ordering::Relaxed);
        let waits = &self.waits.0;
        waits.wait_ns.store(0, Ordering::Relaxed);
        waits.waits.store(0, Ordering::Relaxed);
        waits.dropped.store(0, Ordering::Relaxed);
        waits.stalled_at.store(NOT_STALLED, Ordering::Relaxed);
        self.clock.store(clock as u8, Ordering::Relaxed);
        let stall_limit_ns = u64::try_from(stall_limit.as_nanos()).unwrap_or(u64::MAX);
        self.stall_limit_ns.store(stall_limit_ns, Ordering::Relaxed);
        self.released.0.store(0, Ordering::Relaxed);
        // Release: publishing the ring (a release store of its pointer) comes
        // after, so producers see all of the above.
        self.tickets.0.store(0, Ordering::Release);
    }

    /// The clock this recording reads.
    #[inline(always)]
    pub(crate) fn clock(&self) -> TickSource {
        TickSource::from_u8(self.clock.load(Ordering::Relaxed))
    }

    /// Adds an event. While the ring is full it waits for the drain, unless
    /// the drain has made no progress for the stall limit: then the event is
    /// dropped (and counted), so an allocating thread never waits forever.
    #[inline]
    pub(crate) fn push(&self, event: RawEvent) -> Result<(), Refused> {
        let ticket = self.take_ticket()?;
        let slot = self.slot(ticket);
        // SAFETY: `take_ticket` saw the consumer release the ticket one lap
        // before ours, so it is done with this slot, and no other producer
        // holds our ticket.
        unsafe { (*slot.event.get()).write(event) };
        slot.published.store(publication(ticket), Ordering::Release);
        Ok(())
    }

    #[inline]
    fn take_ticket(&self) -> Result<u64, Refused> {
        let mut ticket = self.tickets.0.load(Ordering::Relaxed);
        loop {
            if ticket & CLOSED != 0 {
                return Err(Refused::Closed);
            }
            if ticket >= self.released.0.load(Ordering::Acquire) + self.capacity() {
                self.wait_for_room(ticket)?;
                ticket = self.tickets.0.load(Ordering::Relaxed);
                continue;
            }
            match self.tickets.0.compare_exchange_weak(
                ticket,
                ticket + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(ticket),
                Err(now) => ticket = now,
            }
        }
    }

    /// Waits until the ring has room for `ticket`, the ring closes, or the
    /// drain has made no progress for the stall limit.
    #[cold]
    fn wait_for_room(&self, ticket: u64) -> Result<(), Refused> {
        let waits = &self.waits.0;
        let mut released = self.released.0.load(Ordering::Acquire);
        if waits.stalled_at.load(Ordering::Relaxed) == released {
            waits.dropped.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Dropped);
        }
        let start = Instant::now();
        let mut last_progress = start;
        let mut spins = 0u32;
        let outcome = loop {
            if self.tickets.0.load(Ordering::Relaxed) & CLOSED != 0 {
                break Err(Refused::Closed);
            }
            let now_released = self.released.0.load(Ordering::Acquire);
            if ticket < now_released + self.capacity() {
                break Ok(());
            }
            if spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
                continue;
            }
            let now = Instant::now();
            if now_released != released {
                released = now_released;
                last_progress = now;
            } else if now - last_progress >= self.stall_limit() {
                waits.stalled_at.store(released, Ordering::Relaxed);
                waits.dropped.fetch_add(1, Ordering::Relaxed);
                break Err(Refused::Dropped);
            }
            if now - start < YIELD_FOR {
                // Give the drain the core: on a small machine it may be
                // waiting for ours.
                std::thread::yield_now();
            } else {
                std::thread::sleep(NAP);
            }
        };
        let waited_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        waits.wait_ns.fetch_add(waited_ns, Ordering::Relaxed);
        waits.waits.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    fn stall_limit(&self) -> Duration {
        Duration::from_nanos(self.stall_limit_ns.load(Ordering::Relaxed))
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

    /// Total ns producers spent waiting for a free slot, how many waits, and
    /// how many events were dropped because the drain stalled.
    pub(crate) fn wait_totals(&self) -> WaitTotals {
        let waits = &self.waits.0;
        WaitTotals {
            wait_ns: waits.wait_ns.load(Ordering::Relaxed),
            waits: waits.waits.load(Ordering::Relaxed),
            dropped: waits.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The slow path's counters at the end of a recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WaitTotals {
    pub wait_ns: u64,
    pub waits: u64,
    pub dropped: u64,
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
            assert_eq!(ring.push(event(size)), Ok(()));
        }
        assert_eq!(ring.take(0).unwrap().size_bytes, 0);
        assert_eq!(ring.take(1).unwrap().size_bytes, 1);
        ring.release(2);
        assert_eq!(ring.push(event(3)), Ok(()));
        assert_eq!(ring.close(), 4);
        assert_eq!(ring.push(event(99)), Err(Refused::Closed));
        assert_eq!(ring.take(2).unwrap().size_bytes, 2);
        assert_eq!(ring.take(3).unwrap().size_bytes, 3);
        assert_eq!(ring.take(4), None);
    }

    #[test]
    fn a_full_ring_makes_the_producer_wait_for_the_consumer() {
        let ring = Ring::leak_new(2).unwrap();
        let producer = std::thread::spawn(move || {
            for size in 0..1000 {
                assert_eq!(ring.push(event(size)), Ok(()));
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
        let totals = ring.wait_totals();
        assert!(
            totals.waits > 0,
            "a 2-slot ring must have made the producer wait"
        );
        assert_eq!(totals.dropped, 0, "a consumer that keeps up loses nothing");
    }

    #[test]
    fn a_stalled_consumer_makes_producers_drop_after_the_limit_then_recover() {
        let ring = Ring::leak_new(2).unwrap();
        ring.reset(2, TickSource::Monotonic, Duration::from_millis(50));
        assert_eq!(ring.push(event(0)), Ok(()));
        assert_eq!(ring.push(event(1)), Ok(()));
        let start = Instant::now();
        assert_eq!(ring.push(event(2)), Err(Refused::Dropped));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_secs(5),
            "the first producer waits out the stall limit, no more: {waited:?}"
        );
        let start = Instant::now();
        assert_eq!(ring.push(event(3)), Err(Refused::Dropped));
        assert!(
            start.elapsed() < Duration::from_millis(40),
            "while the stall lasts, a full ring drops at once"
        );
        assert_eq!(ring.wait_totals().dropped, 2);
        // The consumer comes back: the next event is recorded again, with
        // the ticket right after the last one taken (no hole).
        assert_eq!(ring.take(0).unwrap().size_bytes, 0);
        ring.release(1);
        assert_eq!(ring.push(event(4)), Ok(()));
        assert_eq!(ring.take(1).unwrap().size_bytes, 1);
        assert_eq!(ring.take(2).unwrap().size_bytes, 4);
        assert_eq!(ring.close(), 3);
    }
}
