//! The start time and size of every live object, by address, in 16 bytes
//! an object: the one part of the report whose memory grows with the input
//! (with the objects allocated and not yet freed).
//!
//! A general hash map of `u64` to `u64` takes 16 bytes an entry plus a
//! control byte, in a table of a power of two buckets at most 7/8 full that
//! doubles by copying into a new one: 10 million live objects peaked at
//! 423 MB (with only start times). Here an address and a start time of 48
//! bits each and a size of 32 bits share one 16-byte slot, in [`SHARDS`]
//! open-addressing tables that each grow by a quarter on their own, so the
//! tables stay 70 % to 87.5 % full and a resize copies one shard only. The
//! rare address or time that needs more than 48 bits, or size more than 32
//! (4 GiB and up), goes to a small ordinary map.
//!
//! The size is what the live heap needs: a free subtracts the size its
//! allocation added, so the heap's bytes always equal the sum of the sizes
//! kept here, and the objects still live at the end can be told by size.
//! Files written before `old_bytes` existed give no old size on a realloc
//! row; the size kept here makes them exact all the same.

use std::collections::HashMap;

/// Independent tables: a resize copies one of them, so the peak stays near
/// the size of the tables themselves.
const SHARDS: usize = 64;
/// Largest fill before a table grows, as a fraction `NUM / DEN`.
const MAX_FILL_NUM: usize = 7;
const MAX_FILL_DEN: usize = 8;
const SMALLEST_TABLE: usize = 16;
const LOW_48: u64 = (1 << 48) - 1;

/// What is kept of a live object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Life {
    /// When it was allocated.
    pub start_ns: u64,
    /// Its size.
    pub size_bytes: u64,
}

impl Life {
    /// Whether it fits in a [`Slot`] (with an address of 48 bits).
    fn fits_a_slot(self) -> bool {
        self.start_ns <= LOW_48 && self.size_bytes <= u64::from(u32::MAX)
    }
}

/// An address (48 bits), a start time (48 bits) and a size (32 bits): four
/// `u32` words, so a slot is 16 bytes with 4-byte alignment. Address 0
/// marks an empty slot (nothing lives at address 0).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Slot([u32; 4]);

impl Slot {
    fn new(addr: u64, life: Life) -> Slot {
        let t_ns = life.start_ns;
        Slot([
            addr as u32,
            ((addr >> 32) as u32 & 0xffff) | ((t_ns as u32 & 0xffff) << 16),
            (t_ns >> 16) as u32,
            life.size_bytes as u32,
        ])
    }

    fn addr(self) -> u64 {
        u64::from(self.0[0]) | (u64::from(self.0[1] & 0xffff) << 32)
    }

    fn life(self) -> Life {
        Life {
            start_ns: u64::from(self.0[1] >> 16) | (u64::from(self.0[2]) << 16),
            size_bytes: u64::from(self.0[3]),
        }
    }

    fn is_empty(self) -> bool {
        self.0[0] == 0 && self.0[1] & 0xffff == 0
    }
}

/// Start times and sizes of live objects by address (never 0).
pub struct LiveMap {
    shards: Vec<Shard>,
    /// Entries whose address or time does not fit in 48 bits, or size in 32.
    wide: HashMap<u64, Life>,
}

#[derive(Default)]
struct Shard {
    slots: Vec<Slot>,
    len: usize,
}

/// A well-mixed 64-bit hash of an address (splitmix64's finaliser):
/// addresses are aligned and clustered. The low bits pick the shard, the
/// high bits the slot.
fn mix(addr: u64) -> u64 {
    let mut x = addr;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Shard {
    /// The slot `hash` starts probing at, in a table of `len` slots.
    fn home(hash: u64, len: usize) -> usize {
        ((u128::from(hash) * len as u128) >> 64) as usize
    }

    /// The slot holding `addr`, if any.
    fn find(&self, addr: u64, hash: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = Shard::home(hash, self.slots.len());
        loop {
            let slot = self.slots[i];
            if slot.is_empty() {
                return None;
            }
            if slot.addr() == addr {
                return Some(i);
            }
            i = if i + 1 == self.slots.len() { 0 } else { i + 1 };
        }
    }

    /// Sets `addr`'s life; returns the previous one.
    fn insert(&mut self, addr: u64, hash: u64, life: Life) -> Option<Life> {
        if let Some(i) = self.find(addr, hash) {
            let previous = self.slots[i].life();
            self.slots[i] = Slot::new(addr, life);
            return Some(previous);
        }
        if (self.len + 1) * MAX_FILL_DEN > self.slots.len() * MAX_FILL_NUM {
            self.grow();
        }
        self.place(Slot::new(addr, life), hash);
        self.len += 1;
        None
    }

    /// Puts a slot known to be absent into the first free place.
    fn place(&mut self, slot: Slot, hash: u64) {
        let mut i = Shard::home(hash, self.slots.len());
        while !self.slots[i].is_empty() {
            i = if i + 1 == self.slots.len() { 0 } else { i + 1 };
        }
        self.slots[i] = slot;
    }

    /// A table a quarter larger, built before the old one is freed.
    fn grow(&mut self) {
        let new_len = (self.slots.len() + self.slots.len() / 4).max(SMALLEST_TABLE);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); new_len]);
        for slot in old.into_iter().filter(|slot| !slot.is_empty()) {
            self.place(slot, mix(slot.addr()));
        }
    }

    /// Removes `addr`; returns its life.
    fn remove(&mut self, addr: u64, hash: u64) -> Option<Life> {
        let mut hole = self.find(addr, hash)?;
        let life = self.slots[hole].life();
        self.len -= 1;
        // Backward-shift deletion: move later entries of the probe run into
        // the hole when that brings them no further from their home slot.
        let len = self.slots.len();
        let mut i = hole;
        loop {
            i = if i + 1 == len { 0 } else { i + 1 };
            let slot = self.slots[i];
            if slot.is_empty() {
                break;
            }
            let home = Shard::home(mix(slot.addr()), len);
            // Distance travelled from home, cyclically.
            let from_home = (i + len - home) % len;
            let hole_from_home = (hole + len - home) % len;
            if hole_from_home <= from_home {
                self.slots[hole] = slot;
                hole = i;
            }
        }
        self.slots[hole] = Slot::default();
        Some(life)
    }
}

impl LiveMap {
    /// An empty map.
    pub fn new() -> LiveMap {
        LiveMap {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            wide: HashMap::new(),
        }
    }

    /// Starts the life of the object at `addr` (not 0); returns the
    /// previous one if it was already live.
    pub fn insert(&mut self, addr: u64, life: Life) -> Option<Life> {
        debug_assert_ne!(addr, 0);
        let hash = mix(addr);
        let shard = &mut self.shards[hash as usize % SHARDS];
        if addr > LOW_48 || !life.fits_a_slot() {
            // At most one of the two places holds an address.
            let previous = shard.remove(addr, hash);
            return self.wide.insert(addr, life).or(previous);
        }
        let previous = self.wide.remove(&addr);
        shard.insert(addr, hash, life).or(previous)
    }

    /// Ends the life of the object at `addr`; returns it.
    pub fn remove(&mut self, addr: u64) -> Option<Life> {
        let hash = mix(addr);
        let from_table = if addr <= LOW_48 {
            self.shards[hash as usize % SHARDS].remove(addr, hash)
        } else {
            None
        };
        from_table.or_else(|| self.wide.remove(&addr))
    }

    /// Objects live.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len).sum::<usize>() + self.wide.len()
    }

    /// Every live object's life, in no particular order.
    pub fn lives(&self) -> impl Iterator<Item = Life> + '_ {
        let in_tables = self
            .shards
            .iter()
            .flat_map(|shard| &shard.slots)
            .filter(|slot| !slot.is_empty())
            .map(|slot| slot.life());
        in_tables.chain(self.wide.values().copied())
    }

    /// Bytes the tables take (the rare wide entries apart).
    #[cfg(test)]
    fn table_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.slots.capacity() * std::mem::size_of::<Slot>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn life(start_ns: u64, size_bytes: u64) -> Life {
        Life {
            start_ns,
            size_bytes,
        }
    }

    #[test]
    fn a_live_object_takes_16_bytes_and_the_tables_stay_full() {
        assert_eq!(std::mem::size_of::<Slot>(), 16);
        let mut live = LiveMap::new();
        let n = 1_000_000u64;
        for i in 1..=n {
            live.insert(0x7f00_0000_0000 + i * 80, life(i * 100, i % 5000));
        }
        assert_eq!(live.len(), n as usize);
        let per_object = live.table_bytes() as f64 / n as f64;
        // 16 bytes at a fill of 70 % to 87.5 %, give or take the shards.
        assert!(per_object < 16.0 / 0.65, "{per_object:.1} bytes an object");
        let sizes: u64 = live.lives().map(|l| l.size_bytes).sum();
        assert_eq!(sizes, (1..=n).map(|i| i % 5000).sum::<u64>());
    }

    #[test]
    fn agrees_with_a_hash_map() {
        let mut live = LiveMap::new();
        let mut model: HashMap<u64, Life> = HashMap::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for step in 0..400_000u64 {
            let r = next();
            // Few distinct addresses, so inserts and removes meet often; a
            // few too wide for a slot, and times and sizes too.
            let addr = match r % 100 {
                0 => u64::MAX - (r >> 60),
                _ => 16 * (1 + (r >> 8) % 5_000),
            };
            let t_ns = if r % 97 == 0 { 1 << 50 } else { step };
            let size_bytes = match r % 89 {
                0 => u64::from(u32::MAX) + (r >> 40),
                1 => u64::from(u32::MAX),
                _ => (r >> 20) % 100_000,
            };
            let l = life(t_ns, size_bytes);
            if (r >> 4) % 3 == 0 {
                assert_eq!(live.remove(addr), model.remove(&addr), "step {step}");
            } else {
                assert_eq!(live.insert(addr, l), model.insert(addr, l), "step {step}");
            }
            assert_eq!(live.len(), model.len());
        }
        let mut lives: Vec<Life> = live.lives().collect();
        let mut expected: Vec<Life> = model.values().copied().collect();
        lives.sort_by_key(|l| (l.start_ns, l.size_bytes));
        expected.sort_by_key(|l| (l.start_ns, l.size_bytes));
        assert_eq!(lives, expected);
        for (addr, l) in model {
            assert_eq!(live.remove(addr), Some(l));
        }
        assert_eq!(live.len(), 0);
    }
}
