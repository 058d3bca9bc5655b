//! The event buffers between allocating threads and the drain: one per
//! thread, so recording an event takes no atomic read-modify-write and no
//! cache line another thread writes.
//!
//! Each buffer is a single-producer, single-consumer ring of fixed-size slots
//! reserved from the system allocator (never through the global allocator):
//! its owner thread writes a slot and publishes it by storing `head`; the one
//! drain thread copies slots out and releases them by storing `tail`. Buffers
//! belong to the allocator, not to a thread: they live in a list that only
//! grows, so a thread that exits leaves its events for the drain, and its
//! buffer, once drained, goes to the next thread that needs one. No
//! thread-local destructor is involved, so nothing is lost while a thread is
//! being torn down. Positions only ever grow, and every event carries the
//! generation of the recording it was written for, so an event written late
//! for a recording that has ended is recognised and left out.
//!
//! A thread whose buffer is full while the drain is a whole buffer behind
//! retires it and goes on in a spill buffer (`State::spill`), which
//! records the buffer it continues. The drain takes nothing from a spill
//! buffer before it has emptied that one (`State::may_take`), so a thread's
//! events keep their order; it then frees the retired buffer for any
//! thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::mem::MaybeUninit;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::clock::TickSource;
use super::slot::{FRAMES_PER_SLOT, RawEvent, Slot, Wide};

/// Busy spins before a waiting producer starts yielding its core.
const SPINS: u32 = 64;
/// Waits longer than this sleep between looks instead of yielding, so a
/// producer waiting out a stall does not burn a core the drain may need.
const YIELD_FOR: Duration = Duration::from_millis(1);
const NAP: Duration = Duration::from_micros(50);

/// How far ahead of the slot it writes a producer prefetches: 28 slots, 14
/// cache lines, the distance that did best with 56-byte slots (7 and 28
/// lines did no better). With 32-byte slots 8 lines did no better either
/// (`examples/path_cost`, 8 alternated runs: 7.9 against 7.7 ns a pair
/// beyond the clock reads).
const PREFETCH_SLOTS_AHEAD: u64 = 28;

/// How far ahead of the slot it reads the drain prefetches: 16 slots, 8
/// cache lines. The drain's CPU an event fell by 1.75 ns (the median of 8
/// alternated 1M-frame runs' differences, -4.5 to 0; perf's cpu-clock per
/// thread): most of `take`'s time was the wait for lines the owner had just
/// written on its own core.
const DRAIN_PREFETCH_SLOTS_AHEAD: u64 = 16;

/// Whether the CPU has PREFETCHW (CPUID 8000_0001h, ECX bit 8).
fn cpu_prefetches_for_writing() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // `__cpuid` is an unsafe function in older Rust releases only.
        #[allow(unused_unsafe)]
        // SAFETY: CPUID exists on every x86_64 CPU, and leaf 8000_0001h is
        // asked for only when the CPU says it has it.
        let has = unsafe {
            __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
        };
        has
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// A transparent huge page: the alignment that lets the kernel back a ring
/// with huge pages.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Zeroed memory for a buffer's slots, from the system, never freed;
/// `None` if there is none.
///
/// On Linux a ring of a huge page or more is mapped on a huge-page
/// boundary and the kernel is asked to back it with huge pages: a ring of
/// 4 KiB pages spans hundreds of pages, and the allocating thread, which
/// writes a new line of it every event, then misses the TLB all the time.
fn reserve_slots(layout: Layout) -> Option<*mut u8> {
    #[cfg(target_os = "linux")]
    if layout.size() >= HUGE_PAGE_BYTES {
        return map_huge(layout.size());
    }
    // SAFETY: the layout has a non-zero size (capacity >= 2). Zeroed
    // memory from the system is not touched until used, so a buffer costs
    // resident memory only as far as events fill it.
    let slots = unsafe { System.alloc_zeroed(layout) };
    (!slots.is_null()).then_some(slots)
}

/// At least `bytes` of zeroed memory in whole huge pages, aligned on one,
/// which the kernel is asked (not required) to back with huge pages.
#[cfg(target_os = "linux")]
fn map_huge(bytes: usize) -> Option<*mut u8> {
    // Whole huge pages: a last partial one would be left on small pages.
    let kept_bytes = bytes.checked_next_multiple_of(HUGE_PAGE_BYTES)?;
    // One huge page more, to find an aligned start in.
    let mapped_bytes = kept_bytes.checked_add(HUGE_PAGE_BYTES)?;
    // SAFETY: a new private anonymous mapping: it aliases nothing, and the
    // kernel zeroes it.
    let mapped = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            mapped_bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mapped == libc::MAP_FAILED {
        return None;
    }
    let start = mapped as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE_BYTES);
    let (kept_end, mapped_end) = (aligned + kept_bytes, start + mapped_bytes);
    // SAFETY: the two ranges given back lie inside the mapping just made,
    // outside the part kept, and nothing uses them (if giving them back
    // fails they just stay mapped). `madvise` only changes how the kept
    // part is backed.
    unsafe {
        if aligned > start {
            libc::munmap(mapped, aligned - start);
        }
        if mapped_end > kept_end {
            libc::munmap(kept_end as *mut libc::c_void, mapped_end - kept_end);
        }
        libc::madvise(
            aligned as *mut libc::c_void,
            kept_bytes,
            libc::MADV_HUGEPAGE,
        );
    }
    Some(aligned as *mut u8)
}

/// Slots an event with `frames` return addresses takes, `wide` or not.
#[inline(always)]
fn slots_for(wide: bool, frames: usize) -> u64 {
    1 + u64::from(wide) + frames.div_ceil(FRAMES_PER_SLOT) as u64
}

/// One event as the drain takes it out of a buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Taken {
    pub raw: RawEvent,
    /// The thread number of the buffer's owner.
    pub thread: u32,
    /// Where its return addresses start in the drain's frame list
    /// (`raw.stack_frames` of them).
    pub frames_at: usize,
}

/// When the allocating threads capture call stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StackPolicy {
    /// Capture for calls of at least this many ticks; `u64::MAX` for none.
    pub over_ticks: u64,
    /// Capture every N-th allocating call of each thread; 0 for none.
    pub every: u64,
    /// Calls this quick need no look at the policy: `over_ticks` when
    /// nothing is sampled (`u64::MAX` when stacks are off), else 0.
    pub look_from_ticks: u64,
}

impl StackPolicy {
    /// No stacks: a threshold no call reaches, no sampling.
    #[cfg(test)]
    pub(crate) const OFF: StackPolicy = StackPolicy::new(u64::MAX, 0);

    pub(crate) const fn new(over_ticks: u64, every: u64) -> StackPolicy {
        StackPolicy {
            over_ticks,
            every,
            look_from_ticks: if every == 0 { over_ticks } else { 0 },
        }
    }

    #[inline(always)]
    pub(crate) fn is_on(&self) -> bool {
        self.over_ticks != u64::MAX || self.every != 0
    }
}

/// Keeps fields written by different threads on separate cache lines.
#[repr(align(128))]
struct Padded<T>(T);

/// What the allocating threads share with the drain about one recording.
/// Read-only but for the slow path's counters; never freed (a producer may
/// still hold it after the recording ends), and small.
///
/// In declared order (`repr(C)`), so that what every call reads (the
/// generation, the clock, the prefetch flag, the stack policy) stays on the
/// struct's first cache line whatever fields are added: with
/// `spill_buffers`, the compiler's own order had put the clock and the
/// prefetch flag on the next one.
#[repr(C)]
pub(crate) struct Session {
    /// Tells this recording's events from older ones'. Never 0.
    pub generation: u32,
    /// The clock this recording reads.
    pub clock: TickSource,
    /// The CPU has PREFETCHW: producers ask for the line they will write
    /// next before they get there.
    prefetch_for_writing: bool,
    /// When to capture call stacks.
    pub stacks: StackPolicy,
    /// Slots of the buffers threads take for this recording.
    pub capacity: usize,
    /// How many buffers the allocating threads may spill into, all together,
    /// while the buffers they filled wait for the drain.
    pub spill_buffers: u32,
    /// Set when the recording ends: waiting producers give up.
    closed: AtomicBool,
    /// How long a producer waits for a drain that makes no progress.
    pub stall_limit: Duration,
    /// The drain thread, woken by a producer that finds its buffer full.
    drain: OnceLock<Thread>,
    counters: Padded<Counters>,
}

#[derive(Default)]
struct Counters {
    wait_ns: AtomicU64,
    waits: AtomicU64,
    dropped: AtomicU64,
    spills: AtomicU64,
}

/// The slow path's counters at the end of a recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WaitTotals {
    pub wait_ns: u64,
    pub waits: u64,
    pub dropped: u64,
    pub spills: u64,
}

impl Session {
    pub(crate) fn leak_new(
        generation: u32,
        clock: TickSource,
        capacity: usize,
        stall_limit: Duration,
        stacks: StackPolicy,
        spill_buffers: u32,
    ) -> &'static Session {
        // The caller holds the re-entry guard: this Box is not recorded.
        Box::leak(Box::new(Session {
            generation,
            clock,
            capacity,
            stall_limit,
            stacks,
            spill_buffers,
            prefetch_for_writing: cpu_prefetches_for_writing(),
            closed: AtomicBool::new(false),
            drain: OnceLock::new(),
            counters: Padded(Counters::default()),
        }))
    }

    /// Names the drain thread, for producers to wake. Before publishing.
    pub(crate) fn set_drain(&self, drain: Thread) {
        let _ = self.drain.set(drain);
    }

    /// Wakes the drain if it sleeps. Takes no lock and does not allocate.
    pub(crate) fn wake_drain(&self) {
        if let Some(drain) = self.drain.get() {
            drain.unpark();
        }
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Counts an event that could not be recorded (no buffer to be had, or
    /// the drain stalled).
    pub(crate) fn count_dropped(&self) {
        self.counters.0.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a thread moving on to a spill buffer.
    pub(crate) fn count_spill(&self) {
        self.counters.0.spills.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn wait_totals(&self) -> WaitTotals {
        let counters = &self.counters.0;
        WaitTotals {
            wait_ns: counters.wait_ns.load(Ordering::Relaxed),
            waits: counters.waits.load(Ordering::Relaxed),
            dropped: counters.dropped.load(Ordering::Relaxed),
            spills: counters.spills.load(Ordering::Relaxed),
        }
    }
}

/// Why a push did not record its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The recording has ended.
    Closed,
    /// The buffer was full and the drain stalled: counted as dropped.
    Dropped,
}

/// What a full buffer's owner calls for a spill buffer (see
/// `State::spill`): given the recording and the full buffer, it makes a
/// spill buffer the thread's buffer and returns it, or `None`. Copied into
/// the slow path, so that only what it captures (the allocator's state)
/// travels there.
pub(crate) trait Spill:
    Fn(&Session, &'static ThreadBuffer) -> Option<&'static ThreadBuffer> + Copy
{
}

impl<F> Spill for F where
    F: Fn(&Session, &'static ThreadBuffer) -> Option<&'static ThreadBuffer> + Copy
{
}

/// Where a full buffer's owner writes its next event.
enum Room {
    /// In the same buffer: the drain has made room.
    Here,
    /// In a spill buffer, now the thread's buffer.
    Elsewhere(&'static ThreadBuffer),
}

/// Who owns a buffer and what its events are labelled with.
struct Owner {
    /// The owning thread's kernel id; 0 while the buffer is free.
    tid: AtomicU32,
    /// The owner's small thread number, for its events.
    thread: AtomicU32,
    /// The `tail` at which the owner found the drain stalled, or `u64::MAX`.
    /// While `tail` still equals it, a full buffer drops at once instead of
    /// waiting out the stall limit again.
    stalled_at: AtomicU64,
    /// Set when the owner has moved on to a spill buffer: the owner writes
    /// here no more, and nobody may take the buffer until the drain has
    /// emptied it and given it back.
    retired: AtomicBool,
    /// The buffer this one's events follow (the one its owner filled before
    /// spilling into this one), until the drain has emptied that one; null
    /// otherwise. Only the owner sets it, before its first event here; only
    /// the drain clears it.
    continues: AtomicPtr<ThreadBuffer>,
}

/// The owner's side of a buffer, on one cache line.
struct Producer {
    /// Events written; stored by the owner after each event.
    head: AtomicU64,
    /// The position up to which the owner writes without looking at
    /// `tail`, a line the drain writes: at most the `tail` it last read plus
    /// the capacity, so never past a slot the drain still holds. It is set
    /// at half the buffer, so that a producer whose buffer fills faster than
    /// the drain wakes to empty it notices, and wakes the drain, long
    /// before it would have to wait.
    room_until: AtomicU64,
    /// Allocating calls left before the next sampled stack.
    until_sample: AtomicU64,
}

pub(crate) struct ThreadBuffer {
    producer: Padded<Producer>,
    /// Events the drain has copied out; stored by the drain once per sweep.
    tail: Padded<AtomicU64>,
    owner: Padded<Owner>,
    /// The next buffer in the allocator's list; set before the buffer is
    /// linked, never changed after.
    next: AtomicPtr<ThreadBuffer>,
    slots: *mut MaybeUninit<Slot>,
    /// A power of two.
    capacity: u64,
    /// The address of the allocator state whose list holds the buffer: a
    /// thread recording through two allocators has a buffer in each.
    state: usize,
}

// SAFETY: a slot is written only by the owner thread, at a position the drain
// has released (an acquire load of `tail` showed it), and read only by the
// drain, at a position the owner has published (an acquire load of `head`
// showed it). Ownership changes only when the owner itself gives the buffer
// up, or has exited and the buffer is drained.
unsafe impl Sync for ThreadBuffer {}
// SAFETY: as above; the raw pointer is owned memory that is never freed.
unsafe impl Send for ThreadBuffer {}

impl ThreadBuffer {
    /// A buffer of `capacity` slots (a power of two) owned by thread `tid`,
    /// whose events are labelled `thread`. Never freed: see the module docs.
    pub(crate) fn leak_new(
        state: usize,
        capacity: usize,
        tid: u32,
        thread: u32,
    ) -> Option<&'static ThreadBuffer> {
        let layout = Layout::array::<Slot>(capacity).ok()?;
        let slots = reserve_slots(layout)?.cast::<MaybeUninit<Slot>>();
        // The caller holds the re-entry guard: this Box is not recorded.
        Some(Box::leak(Box::new(ThreadBuffer {
            producer: Padded(Producer {
                head: AtomicU64::new(0),
                room_until: AtomicU64::new(capacity as u64 / 2),
                until_sample: AtomicU64::new(0),
            }),
            tail: Padded(AtomicU64::new(0)),
            owner: Padded(Owner {
                tid: AtomicU32::new(tid),
                thread: AtomicU32::new(thread),
                stalled_at: AtomicU64::new(u64::MAX),
                retired: AtomicBool::new(false),
                continues: AtomicPtr::new(std::ptr::null_mut()),
            }),
            next: AtomicPtr::new(std::ptr::null_mut()),
            slots,
            capacity: capacity as u64,
            state,
        })))
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity as usize
    }

    pub(crate) fn owner_tid(&self) -> u32 {
        self.owner.0.tid.load(Ordering::Acquire)
    }

    /// The thread number its events are labelled with.
    pub(crate) fn thread(&self) -> u32 {
        self.owner.0.thread.load(Ordering::Relaxed)
    }

    /// The address of the allocator state it belongs to.
    pub(crate) fn state(&self) -> usize {
        self.state
    }

    /// True when the drain has copied out everything written.
    pub(crate) fn drained(&self) -> bool {
        self.tail.0.load(Ordering::Acquire) == self.producer.0.head.load(Ordering::Acquire)
    }

    /// Takes the buffer for thread `tid` (labelled `thread`) if its owner is
    /// still `from`.
    pub(crate) fn claim(&self, from: u32, tid: u32, thread: u32) -> bool {
        let owner = &self.owner.0;
        if owner
            .tid
            .compare_exchange(from, tid, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        owner.thread.store(thread, Ordering::Relaxed);
        owner.stalled_at.store(u64::MAX, Ordering::Relaxed);
        true
    }

    /// Gives the buffer up: the owner is done with it.
    pub(crate) fn release(&self) {
        self.owner.0.tid.store(0, Ordering::Release);
    }

    /// True while the buffer is part of a spill: retired by its owner, or
    /// following a retired buffer the drain has not emptied yet. Such a
    /// buffer is never taken by another thread.
    pub(crate) fn in_spill(&self) -> bool {
        let owner = &self.owner.0;
        owner.retired.load(Ordering::Acquire) || !owner.continues.load(Ordering::Acquire).is_null()
    }

    /// Owner side, before its first event here: this buffer's events follow
    /// those of `full`, which the owner writes no more.
    pub(crate) fn spill_from(&self, full: &'static ThreadBuffer) {
        // The thread's count of calls to the next sampled stack goes on here.
        let until_sample = &full.producer.0.until_sample;
        (self.producer.0.until_sample)
            .store(until_sample.load(Ordering::Relaxed), Ordering::Relaxed);
        full.owner.0.retired.store(true, Ordering::Release);
        self.owner
            .0
            .continues
            .store(std::ptr::from_ref(full).cast_mut(), Ordering::Release);
    }

    /// Drain side: the retired buffer this one's events follow, if the drain
    /// has not yet let it go.
    pub(crate) fn continues(&self) -> Option<&'static ThreadBuffer> {
        let before = self.owner.0.continues.load(Ordering::Acquire);
        // SAFETY: only `&'static ThreadBuffer`s are stored.
        unsafe { before.as_ref() }
    }

    /// Drain side, once the buffer this one continues is empty: unlinks it
    /// and makes it free for any thread. Its owner writes it no more.
    pub(crate) fn let_go_of_continued(&self, before: &ThreadBuffer) {
        let before_owner = &before.owner.0;
        // Free first, then no longer retired: whoever sees it not retired
        // sees it free, and cannot claim it from its old owner (that owner
        // itself, perhaps) just before this store would undo the claim.
        before_owner.tid.store(0, Ordering::Release);
        before_owner.retired.store(false, Ordering::Release);
        self.owner
            .0
            .continues
            .store(std::ptr::null_mut(), Ordering::Release);
    }

    pub(crate) fn next(&self) -> *mut ThreadBuffer {
        self.next.load(Ordering::Acquire)
    }

    pub(crate) fn set_next(&self, next: *mut ThreadBuffer) {
        self.next.store(next, Ordering::Release);
    }

    #[inline(always)]
    fn slot(&self, position: u64) -> *mut MaybeUninit<Slot> {
        // SAFETY: the index is masked into 0..capacity, inside the allocation.
        unsafe { self.slots.add((position & (self.capacity - 1)) as usize) }
    }

    /// Owner side: adds an event. When the buffer is full the event goes
    /// to a spill buffer, if `spill` gives one (it also makes that the
    /// thread's buffer); else the owner waits for the drain, unless the
    /// drain has made no progress for the stall limit: then the event is
    /// dropped (and counted), so an allocating thread never waits forever.
    #[inline(always)]
    pub(crate) fn push(
        &'static self,
        session: &Session,
        event: RawEvent,
        spill: impl Spill,
    ) -> Result<(), Refused> {
        self.push_with_frames(session, event, &[], spill)
    }

    /// Owner side: adds an event and the return addresses of its call stack
    /// (as many as the buffer can ever hold: see [`max_frames`](Self::max_frames)),
    /// all published at once. A full buffer is handled as in [`push`](Self::push).
    #[inline(always)]
    pub(crate) fn push_with_frames(
        &'static self,
        session: &Session,
        event: RawEvent,
        frames: &[u64],
        spill: impl Spill,
    ) -> Result<(), Refused> {
        let wide = event.is_wide();
        // An event without a stack (every event but a few) skips the limit,
        // which `push`'s empty slice lets the compiler drop altogether.
        let frames = if frames.is_empty() {
            frames
        } else {
            &frames[..frames.len().min(self.max_frames(wide))]
        };
        let slots = slots_for(wide, frames.len());
        let mut buffer = self;
        let mut head = buffer.producer.0.head.load(Ordering::Relaxed);
        while head + slots > buffer.producer.0.room_until.load(Ordering::Relaxed) {
            match buffer.make_room(session, head, slots, spill)? {
                Room::Here => break,
                // A spill buffer has room: the drain has emptied it.
                Room::Elsewhere(next) => buffer = next,
            }
            head = buffer.producer.0.head.load(Ordering::Relaxed);
        }
        buffer.write(session, head, event, frames);
        Ok(())
    }

    /// Owner side: writes `event` and its `frames` at `head`, where the
    /// drain has made room, and publishes them.
    #[inline(always)]
    fn write(&self, session: &Session, head: u64, mut event: RawEvent, frames: &[u64]) {
        let wide = event.is_wide();
        let slots = slots_for(wide, frames.len());
        self.prefetch_for_writing(session, head + PREFETCH_SLOTS_AHEAD);
        event.stack_frames = frames.len() as u8;
        // SAFETY: the drain has released these positions (an acquire load of
        // `tail`, here, earlier or in `wait_for_room`, showed it), and only
        // the owner, this thread, writes.
        unsafe { (*self.slot(head)).write(event.slot()) };
        if wide {
            // SAFETY: as above; a `Wide` has a slot's size and alignment
            // (checked at compile time).
            unsafe { self.slot(head + 1).cast::<Wide>().write(event.wide()) };
        }
        let frames_from = head + slots_for(wide, 0);
        for (slot, chunk) in frames.chunks(FRAMES_PER_SLOT).enumerate() {
            let mut words = [0u64; FRAMES_PER_SLOT];
            words[..chunk.len()].copy_from_slice(chunk);
            // SAFETY: as above; a slot is `FRAMES_PER_SLOT` words (checked at
            // compile time) and aligned for them.
            unsafe {
                self.slot(frames_from + slot as u64)
                    .cast::<[u64; FRAMES_PER_SLOT]>()
                    .write(words)
            };
        }
        self.producer.0.head.store(head + slots, Ordering::Release);
    }

    /// Asks for the cache line of slot `position` in the state a write
    /// needs. The drain has read that line since this thread last wrote it,
    /// so without the hint the write waits for the line to come back from
    /// the drain's core: in `examples/path_cost` a recorded pair cost 65 to
    /// 83 ns without it and 54 to 62 ns with it, alternated runs.
    ///
    /// The check that the CPU has the instruction is a forward branch inside
    /// the `asm!`, not taken where it has: as a Rust `if`, the compiler
    /// laid the common case out with a taken jump round a copy of the slot
    /// arithmetic.
    #[inline(always)]
    fn prefetch_for_writing(&self, session: &Session, position: u64) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: PREFETCHW is a hint: it never faults, whatever the
        // address, and changes no register or memory; it runs only if the
        // CPU has it (checked when the session was made). The `test`
        // changes only flags, which the block does not promise to keep.
        unsafe {
            std::arch::asm!(
                "test {has}, {has}",
                "jz 2f",
                "prefetchw [{at}]",
                "2:",
                has = in(reg_byte) u8::from(session.prefetch_for_writing),
                at = in(reg) self.slot(position),
                options(nostack, readonly)
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (session, position);
    }

    /// Drain side: asks for the cache line of slot `position`, which the
    /// owner wrote on its own core, ahead of reading it.
    #[inline(always)]
    fn prefetch_for_reading(&self, position: u64) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint: it never faults, whatever the
        // address, and changes no register, flag or memory.
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(self.slot(position).cast::<i8>());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = position;
    }

    /// The most return addresses an event (`wide` or not) can carry in
    /// this buffer: all its slots but the event's own, and no more than `u8`
    /// counts.
    #[inline]
    pub(crate) fn max_frames(&self, wide: bool) -> usize {
        let own_slots = 1 + usize::from(wide);
        ((self.capacity as usize - own_slots) * FRAMES_PER_SLOT).min(u8::MAX as usize)
    }

    /// Owner side: counts an allocating call and says whether it is the one
    /// in `every` whose stack is sampled.
    #[inline]
    pub(crate) fn sample_due(&self, every: u64) -> bool {
        let until = &self.producer.0.until_sample;
        let left = until.load(Ordering::Relaxed);
        if left <= 1 {
            until.store(every, Ordering::Relaxed);
            true
        } else {
            until.store(left - 1, Ordering::Relaxed);
            false
        }
    }

    /// Owner side, once past `room_until`: if the buffer is full, moves on
    /// to the buffer `spill` gives or else waits; wakes the drain if the
    /// buffer is more than half full (looking again after another eighth),
    /// and moves `room_until` on.
    #[cold]
    #[inline(never)]
    fn make_room(
        &'static self,
        session: &Session,
        head: u64,
        slots: u64,
        spill: impl Spill,
    ) -> Result<Room, Refused> {
        let mut tail = self.tail.0.load(Ordering::Acquire);
        if head + slots - tail > self.capacity {
            if let Some(next) = spill(session, self) {
                return Ok(Room::Elsewhere(next));
            }
            self.wait_for_room(session, head, slots)?;
            tail = self.tail.0.load(Ordering::Acquire);
        }
        let half = self.capacity / 2;
        let room_until = if head + slots - tail > half {
            session.wake_drain();
            (head + slots + self.capacity / 8).min(tail + self.capacity)
        } else {
            tail + half
        };
        self.producer
            .0
            .room_until
            .store(room_until, Ordering::Relaxed);
        Ok(Room::Here)
    }

    #[cold]
    fn wait_for_room(&self, session: &Session, head: u64, slots: u64) -> Result<(), Refused> {
        let mut tail = self.tail.0.load(Ordering::Acquire);
        let counters = &session.counters.0;
        let stalled_at = &self.owner.0.stalled_at;
        if stalled_at.load(Ordering::Relaxed) == tail {
            session.count_dropped();
            return Err(Refused::Dropped);
        }
        // The drain may be asleep with every other buffer empty.
        session.wake_drain();
        let start = Instant::now();
        let mut last_progress = start;
        let mut spins = 0u32;
        let outcome = loop {
            if session.is_closed() {
                break Err(Refused::Closed);
            }
            let now_tail = self.tail.0.load(Ordering::Acquire);
            if head + slots - now_tail <= self.capacity {
                break Ok(());
            }
            if spins < SPINS {
                std::hint::spin_loop();
                spins += 1;
                continue;
            }
            let now = Instant::now();
            if now_tail != tail {
                tail = now_tail;
                last_progress = now;
            } else if now - last_progress >= session.stall_limit {
                stalled_at.store(tail, Ordering::Relaxed);
                session.count_dropped();
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
        counters.wait_ns.fetch_add(waited_ns, Ordering::Relaxed);
        counters.waits.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// Drain side: copies out about `max` published events (never half of
    /// an event with its stack), in order, with the thread number they belong
    /// to, appending stacks' return addresses to `frames`; releases their
    /// slots. Returns how many events it copied: none while the buffer
    /// continues a spilled one.
    pub(crate) fn take(&self, max: usize, into: &mut Vec<Taken>, frames: &mut Vec<u64>) -> usize {
        let tail = self.tail.0.load(Ordering::Acquire);
        let head = self.producer.0.head.load(Ordering::Acquire);
        // Read after `head`, as an owner sets them before its first event:
        // the buffer it spilled from, whose events come first (see
        // `State::may_take`), and the label.
        if self.continues().is_some() {
            return 0;
        }
        let thread = self.owner.0.thread.load(Ordering::Relaxed);
        let mut position = tail;
        let mut taken = 0;
        while position < head && taken < max {
            self.prefetch_for_reading(position + DRAIN_PREFETCH_SLOTS_AHEAD);
            // SAFETY: positions below `head` are published (the acquire load
            // saw the owner's release store), and the owner does not write
            // them again until `tail` passes them. The owner publishes an
            // event and its frames with one store, so they are all below `head`.
            let first = unsafe { (*self.slot(position)).assume_init() };
            let is_wide = first.is_wide();
            let wide = is_wide.then(|| {
                // SAFETY: as above; a wide event's second slot holds a `Wide`.
                unsafe { self.slot(position + 1).cast::<Wide>().read() }
            });
            let raw = first.event(wide.as_ref());
            let frames_from = position + slots_for(is_wide, 0);
            let frames_at = frames.len();
            let count = usize::from(raw.stack_frames);
            for slot in 0..count.div_ceil(FRAMES_PER_SLOT) as u64 {
                // SAFETY: as above, and a slot holds `FRAMES_PER_SLOT` words.
                let words = unsafe {
                    self.slot(frames_from + slot)
                        .cast::<[u64; FRAMES_PER_SLOT]>()
                        .read()
                };
                let left = count - slot as usize * FRAMES_PER_SLOT;
                frames.extend_from_slice(&words[..left.min(FRAMES_PER_SLOT)]);
            }
            into.push(Taken {
                raw,
                thread,
                frames_at,
            });
            position += slots_for(is_wide, count);
            taken += 1;
        }
        self.tail.0.store(position, Ordering::Release);
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Kind;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_ring_of_a_huge_page_or_more_starts_on_one_and_is_zeroed() {
        let capacity = HUGE_PAGE_BYTES / size_of::<Slot>() * 2;
        let buffer = ThreadBuffer::leak_new(0, capacity.next_power_of_two(), 1, 1).unwrap();
        assert_eq!(buffer.slots as usize % HUGE_PAGE_BYTES, 0);
        let last = buffer.capacity - 1;
        // SAFETY: both slots lie inside the ring, and nobody else uses it.
        let (first, last) = unsafe {
            (
                (*buffer.slot(0)).assume_init().event(None),
                (*buffer.slot(last)).assume_init().event(None),
            )
        };
        assert_eq!(
            first.start_ticks | first.addr | last.start_ticks | last.addr,
            0
        );
    }

    fn event(size_bytes: u64) -> RawEvent {
        RawEvent {
            start_ticks: 0,
            latency_ticks: 0,
            size_bytes,
            addr: 0,
            old_addr: 0,
            generation: 1,
            align_log2: 3,
            kind: 0,
            old_size_bytes: 0,
            stack_frames: 0,
            stack_why: 0,
        }
    }

    /// A buffer's owner that never gets a spill buffer: a full buffer
    /// waits, as these tests expect.
    fn no_spill(_: &Session, _: &'static ThreadBuffer) -> Option<&'static ThreadBuffer> {
        None
    }

    /// Each taken event with the return addresses taken with it.
    fn events_with_frames(taken: &[Taken], frames: &[u64]) -> Vec<(RawEvent, Vec<u64>)> {
        taken
            .iter()
            .map(|t| {
                let count = usize::from(t.raw.stack_frames);
                (t.raw, frames[t.frames_at..t.frames_at + count].to_vec())
            })
            .collect()
    }

    fn session(stall_limit: Duration) -> &'static Session {
        Session::leak_new(
            1,
            TickSource::Monotonic,
            2,
            stall_limit,
            StackPolicy::OFF,
            0,
        )
    }

    #[test]
    fn events_come_out_in_order_with_their_thread() {
        let buffer = ThreadBuffer::leak_new(0, 4, 99, 7).unwrap();
        let session = session(Duration::from_secs(1));
        for size in 0..3 {
            assert_eq!(buffer.push(session, event(size), no_spill), Ok(()));
        }
        let mut taken = Vec::new();
        let mut frames = Vec::new();
        assert_eq!(buffer.take(2, &mut taken, &mut frames), 2);
        assert_eq!(buffer.push(session, event(3), no_spill), Ok(()));
        assert_eq!(buffer.take(10, &mut taken, &mut frames), 2);
        let sizes: Vec<(u64, u32)> = taken.iter().map(|t| (t.raw.size_bytes, t.thread)).collect();
        assert_eq!(sizes, [(0, 7), (1, 7), (2, 7), (3, 7)]);
        assert!(buffer.drained());
    }

    #[test]
    fn a_buffer_past_half_full_wakes_the_drain_before_anyone_waits() {
        use std::sync::atomic::AtomicBool;
        static WOKEN: AtomicBool = AtomicBool::new(false);
        let buffer = ThreadBuffer::leak_new(0, 64, 99, 1).unwrap();
        let session = session(Duration::from_secs(10));
        // A stand-in for the drain: it sleeps until it is unparked.
        let drain = std::thread::spawn(|| {
            std::thread::park();
            WOKEN.store(true, Ordering::Release);
        });
        session.set_drain(drain.thread().clone());
        for size in 0..32 {
            assert_eq!(buffer.push(session, event(size), no_spill), Ok(()));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !WOKEN.load(Ordering::Acquire),
            "half full: the drain is left to its own schedule"
        );
        assert_eq!(buffer.push(session, event(32), no_spill), Ok(()));
        let start = std::time::Instant::now();
        while !WOKEN.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let woken = WOKEN.load(Ordering::Acquire);
        drain.thread().unpark();
        drain.join().unwrap();
        assert!(woken, "past half full, the producer woke the drain");
        assert_eq!(
            session.wait_totals(),
            WaitTotals::default(),
            "nobody waited"
        );
    }

    #[test]
    fn a_full_buffer_makes_the_owner_wait_for_the_drain() {
        let buffer = ThreadBuffer::leak_new(0, 2, 99, 1).unwrap();
        let session = session(Duration::from_secs(10));
        let producer = std::thread::spawn(move || {
            for size in 0..1000 {
                assert_eq!(buffer.push(session, event(size), no_spill), Ok(()));
            }
        });
        let mut taken = Vec::new();
        let mut frames = Vec::new();
        while taken.len() < 1000 {
            buffer.take(1, &mut taken, &mut frames);
        }
        producer.join().unwrap();
        let sizes: Vec<u64> = taken.iter().map(|t| t.raw.size_bytes).collect();
        assert_eq!(sizes, (0..1000).collect::<Vec<_>>());
        let totals = session.wait_totals();
        assert!(
            totals.waits > 0,
            "a 2-slot buffer must have made the owner wait"
        );
        assert_eq!(totals.dropped, 0, "a drain that keeps up loses nothing");
    }

    #[test]
    fn a_stalled_drain_makes_the_owner_drop_after_the_limit_then_recover() {
        let buffer = ThreadBuffer::leak_new(0, 2, 99, 1).unwrap();
        let session = session(Duration::from_millis(50));
        assert_eq!(buffer.push(session, event(0), no_spill), Ok(()));
        assert_eq!(buffer.push(session, event(1), no_spill), Ok(()));
        let start = Instant::now();
        assert_eq!(
            buffer.push(session, event(2), no_spill),
            Err(Refused::Dropped)
        );
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_secs(5),
            "the owner waits out the stall limit, no more: {waited:?}"
        );
        let start = Instant::now();
        assert_eq!(
            buffer.push(session, event(3), no_spill),
            Err(Refused::Dropped)
        );
        assert!(
            start.elapsed() < Duration::from_millis(40),
            "while the stall lasts, a full buffer drops at once"
        );
        assert_eq!(session.wait_totals().dropped, 2);
        let mut taken = Vec::new();
        let mut frames = Vec::new();
        assert_eq!(buffer.take(1, &mut taken, &mut frames), 1);
        assert_eq!(buffer.push(session, event(4), no_spill), Ok(()));
        buffer.take(10, &mut taken, &mut frames);
        let sizes: Vec<u64> = taken.iter().map(|t| t.raw.size_bytes).collect();
        assert_eq!(sizes, [0, 1, 4]);
    }

    #[test]
    fn a_closed_recording_releases_a_waiting_owner() {
        let buffer = ThreadBuffer::leak_new(0, 2, 99, 1).unwrap();
        let session = session(Duration::from_secs(60));
        buffer.push(session, event(0), no_spill).unwrap();
        buffer.push(session, event(1), no_spill).unwrap();
        let waiter = std::thread::spawn(move || buffer.push(session, event(2), no_spill));
        std::thread::sleep(Duration::from_millis(20));
        session.close();
        assert_eq!(waiter.join().unwrap(), Err(Refused::Closed));
    }

    #[test]
    fn stacks_travel_with_their_events_across_the_ring_end() {
        let buffer = ThreadBuffer::leak_new(0, 8, 99, 1).unwrap();
        let session = session(Duration::from_secs(10));
        let mut taken = Vec::new();
        let mut frames = Vec::new();
        let stack: Vec<u64> = (100..109).collect();
        for round in 0..5u64 {
            buffer.push(session, event(round), no_spill).unwrap();
            let frames_here = &stack[..(round as usize * 2 + 1).min(stack.len())];
            buffer
                .push_with_frames(session, event(round + 100), frames_here, no_spill)
                .unwrap();
            assert_eq!(buffer.take(usize::MAX, &mut taken, &mut frames), 2);
        }
        let with_frames: Vec<(u64, Vec<u64>)> = events_with_frames(&taken, &frames)
            .into_iter()
            .map(|(raw, frames)| (raw.size_bytes, frames))
            .collect();
        for round in 0..5u64 {
            assert_eq!(with_frames[round as usize * 2], (round, vec![]));
            let expected = stack[..(round as usize * 2 + 1).min(stack.len())].to_vec();
            assert_eq!(with_frames[round as usize * 2 + 1], (round + 100, expected));
        }
        assert!(buffer.drained());
    }

    #[test]
    fn a_stack_is_cut_to_what_the_buffer_can_hold() {
        let buffer = ThreadBuffer::leak_new(0, 2, 99, 1).unwrap();
        let session = session(Duration::from_secs(10));
        let stack: Vec<u64> = (1..=40).collect();
        buffer
            .push_with_frames(session, event(7), &stack, no_spill)
            .unwrap();
        let mut taken = Vec::new();
        let mut frames = Vec::new();
        assert_eq!(buffer.take(10, &mut taken, &mut frames), 1);
        assert_eq!(taken[0].raw.stack_frames as usize, FRAMES_PER_SLOT);
        assert_eq!(frames, stack[..FRAMES_PER_SLOT]);
        // A realloc's second slot leaves no room for its stack.
        let realloc = RawEvent {
            kind: Kind::Realloc as u8,
            ..event(8)
        };
        buffer
            .push_with_frames(session, realloc, &stack, no_spill)
            .unwrap();
        assert_eq!(buffer.take(10, &mut taken, &mut frames), 1);
        assert_eq!(taken[1].raw, realloc);
        assert_eq!(frames.len(), FRAMES_PER_SLOT);
    }

    #[test]
    fn wide_events_and_their_stacks_come_out_whole_across_the_ring_end() {
        let buffer = ThreadBuffer::leak_new(0, 8, 99, 1).unwrap();
        let session = session(Duration::from_secs(10));
        let mut taken = Vec::new();
        let mut frames = Vec::new();
        let stack: Vec<u64> = (200..206).collect();
        let mut pushed = Vec::new();
        for round in 0..9u64 {
            // A realloc of 2^40 bytes and more, slower than 2^32 ticks: a
            // second slot, then 0 to 6 return addresses in up to two more.
            let wide = RawEvent {
                kind: Kind::Realloc as u8,
                size_bytes: (1 << 40) + round,
                latency_ticks: u64::MAX - round,
                old_addr: 0x1000 + round,
                old_size_bytes: u64::MAX / 3 + round,
                ..event(0)
            };
            let frames_here = &stack[..round as usize % 7];
            buffer
                .push_with_frames(session, wide, frames_here, no_spill)
                .unwrap();
            buffer.push(session, event(round), no_spill).unwrap();
            pushed.push((
                RawEvent {
                    stack_frames: frames_here.len() as u8,
                    ..wide
                },
                frames_here.to_vec(),
            ));
            pushed.push((event(round), vec![]));
            assert_eq!(buffer.take(usize::MAX, &mut taken, &mut frames), 2);
        }
        assert_eq!(events_with_frames(&taken, &frames), pushed);
        // 9 rounds of 3 to 5 slots went round the 8-slot ring four times.
        assert!(buffer.producer.0.head.load(Ordering::Relaxed) > 4 * buffer.capacity);
        assert!(buffer.drained());
    }

    #[test]
    fn every_nth_call_is_sampled() {
        let buffer = ThreadBuffer::leak_new(0, 2, 99, 1).unwrap();
        let due: Vec<bool> = (0..7).map(|_| buffer.sample_due(3)).collect();
        assert_eq!(due, [true, false, false, true, false, false, true]);
    }
}
