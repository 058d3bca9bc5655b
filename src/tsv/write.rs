//! Formatting events as TSV rows without `fmt` (the drain formats millions).
//!
//! Room for the longest row is made at the end of the output once per row,
//! and every field is stored with its tab in a few whole-word writes:
//! numbers below 10^4 (most sizes and latencies) take two table lookups,
//! larger ones are turned into digits eight at a time, side by side in the
//! bytes of one `u64` (multiplies, shifts and masks, no loop), and a kind
//! is copied from a table of padded 16-byte fields. `cargo bench -p heapsnow
//! --bench tsv_write` times it; two digits per lookup and one store per
//! digit pair and tab took a third longer.

use std::mem::MaybeUninit;

use crate::recorder::{Event, Kind};

/// The header row, newline included.
pub const HEADER: &str =
    "bytes\tns\tkind\talign\tt_ns\tthread\taddr\told_addr\told_bytes\tstack\tstack_reason\n";

/// The longest row: five u64 columns of 20 digits, a u32 thread and stack
/// number of 10, two `0x` addresses of 18, the longest kind
/// (`alloc_zeroed`) and stack reason (`slow+sampled`), ten tabs and the
/// newline.
const MAX_ROW_BYTES: usize = 5 * 20 + 2 * 10 + 2 * 18 + 2 * 12 + 10 + 1;

/// Room past the longest row for the bytes an 8-byte store writes past
/// the digits it holds: up to seven. (A kind's 16-byte store, early in the
/// row, stays inside the longest row.)
const ROW_BUFFER_BYTES: usize = MAX_ROW_BYTES + 7;

/// Appends one event as a TSV row (newline included) to `out`.
pub fn write_row(out: &mut Vec<u8>, event: &Event) {
    out.reserve(ROW_BUFFER_BYTES);
    // Built in the vector's spare room, which is not zeroed first: with
    // `resize`, 193 bytes were zeroed a row.
    let mut row = Row {
        bytes: &mut out.spare_capacity_mut()[..ROW_BUFFER_BYTES],
        len: 0,
    };
    row.decimal_tab(event.size_bytes);
    row.decimal_tab(event.latency_ns);
    row.kind_tab(event.kind);
    row.decimal_tab(event.align_bytes);
    row.decimal_tab(event.t_ns);
    row.decimal_tab(event.thread.into());
    row.hex_tab(event.addr);
    match event.old_addr {
        Some(old_addr) => row.hex_tab(old_addr),
        None => row.tab(),
    }
    match event.old_size_bytes {
        Some(old_size_bytes) => row.decimal_tab(old_size_bytes),
        None => row.tab(),
    }
    match event.stack {
        Some(stack) => {
            row.decimal_tab(stack.id.into());
            row.text_tab(stack.reason().as_bytes());
        }
        None => {
            row.tab();
            row.tab();
        }
    }
    // The last field's tab is the row's end.
    row.len -= 1;
    row.bytes[row.len].write(b'\n');
    row.len += 1;
    let row_bytes = row.len;
    // SAFETY: `reserve` made room for the row, and its first `row_bytes`
    // bytes are written: every step that moves `len` on stores at least
    // the bytes it moves over.
    unsafe { out.set_len(out.len() + row_bytes) };
}

/// One row being built in the output's spare room. Every step that moves
/// `len` on has stored at least the bytes it moves over.
struct Row<'a> {
    bytes: &'a mut [MaybeUninit<u8>],
    len: usize,
}

/// 10^8: the numbers [`eight_digits`] takes are below it.
const TEN_TO_THE_8: u64 = 100_000_000;

const TAB: u64 = b'\t' as u64;

impl Row<'_> {
    /// Stores `bytes` at `len`, leaving `len` where it is. (A loop, for
    /// the crate's minimum Rust: `write_copy_of_slice` is 1.93's. It
    /// compiles to the same whole-word stores.)
    #[inline(always)]
    fn store(&mut self, bytes: &[u8]) {
        let slots = &mut self.bytes[self.len..self.len + bytes.len()];
        for (slot, &byte) in slots.iter_mut().zip(bytes) {
            slot.write(byte);
        }
    }

    #[inline(always)]
    fn tab(&mut self) {
        self.bytes[self.len].write(b'\t');
        self.len += 1;
    }

    /// Stores the eight bytes of `word` (first byte first) and keeps the
    /// first `count`: the row has room for the rest, and the next field
    /// writes over them or the final `set_len` leaves them out.
    #[inline(always)]
    fn word(&mut self, word: u64, count: usize) {
        self.store(&word.to_le_bytes());
        self.len += count;
    }

    /// Up to seven bytes of `word` and a tab after them, in one store.
    #[inline(always)]
    fn word_tab(&mut self, word: u64, count: usize) {
        if count < 8 {
            self.word(word | TAB << (8 * count), count + 1);
        } else {
            self.word(word, 8);
            self.tab();
        }
    }

    /// Text (a stack reason, rare) and a tab.
    fn text_tab(&mut self, text: &[u8]) {
        self.store(text);
        self.len += text.len();
        self.tab();
    }

    /// The kind's name and a tab, from a table of 16-byte fields.
    #[inline(always)]
    fn kind_tab(&mut self, kind: Kind) {
        let (field, count) = &KIND_FIELDS[kind as usize];
        self.store(field);
        self.len += count;
    }

    /// Decimal digits, no padding, and a tab.
    #[inline(always)]
    fn decimal_tab(&mut self, value: u64) {
        if value < TEN_TO_THE_8 {
            let (word, count) = short_decimal(value as u32);
            self.word_tab(word, count);
            return;
        }
        let (high, low) = (value / TEN_TO_THE_8, value % TEN_TO_THE_8);
        if high < TEN_TO_THE_8 {
            let (word, count) = short_decimal(high as u32);
            self.word(word, count);
        } else {
            let (word, count) = short_decimal((high / TEN_TO_THE_8) as u32);
            self.word(word, count);
            self.word(ascii(eight_digits((high % TEN_TO_THE_8) as u32)), 8);
        }
        self.word(ascii(eight_digits(low as u32)), 8);
        self.tab();
    }

    /// `0x`, lowercase hex digits with no padding, and a tab.
    #[inline(always)]
    fn hex_tab(&mut self, value: u64) {
        self.word(u64::from(u16::from_le_bytes(*b"0x")), 2);
        let digits = (64 - value.leading_zeros()).div_ceil(4).max(1) as usize;
        if digits > 8 {
            let high = eight_hex_digits((value >> 32) as u32);
            self.word(high >> (8 * (16 - digits)), digits - 8);
            self.word(eight_hex_digits(value as u32), 8);
            self.tab();
        } else {
            let low = eight_hex_digits(value as u32);
            self.word_tab(low >> (8 * (8 - digits)), digits);
        }
    }
}

/// Each kind's name and a tab, zero-padded to 16 bytes, and their length,
/// at the index of the kind's `repr(u8)` value.
const KIND_FIELDS: [([u8; 16], usize); Kind::ALL.len()] = {
    let mut fields = [([0; 16], 0); Kind::ALL.len()];
    let mut i = 0;
    while i < Kind::ALL.len() {
        let kind = Kind::ALL[i];
        let name = kind.as_str().as_bytes();
        let field = &mut fields[kind as usize];
        let mut j = 0;
        while j < name.len() {
            field.0[j] = name[j];
            j += 1;
        }
        field.0[name.len()] = b'\t';
        field.1 = name.len() + 1;
        i += 1;
    }
    fields
};

/// A number below 10^8 as ASCII digits without leading zeros ("0" for 0),
/// in the low bytes of a word (the rest zero), and how many there are.
#[inline(always)]
fn short_decimal(value: u32) -> (u64, usize) {
    if value < 10_000 {
        // Most sizes and latencies: two table lookups, no division loop.
        let value = value as usize;
        let count =
            1 + usize::from(value >= 10) + usize::from(value >= 100) + usize::from(value >= 1000);
        let (high, low) = (value / 100 * 2, value % 100 * 2);
        let four = u32::from_le_bytes([
            DECIMAL_PAIRS[high],
            DECIMAL_PAIRS[high + 1],
            DECIMAL_PAIRS[low],
            DECIMAL_PAIRS[low + 1],
        ]) >> (8 * (4 - count));
        return (u64::from(four), count);
    }
    let digits = eight_digits(value);
    // Leading zero digits are the word's low zero bytes (value >= 10^4:
    // at most four of them).
    let zeros = (digits.trailing_zeros() / 8) as usize;
    (ascii(digits) >> (8 * zeros), 8 - zeros)
}

/// "00" to "99": two decimal digits per lookup.
const DECIMAL_PAIRS: [u8; 200] = {
    let mut pairs = [0; 200];
    let mut i = 0;
    while i < 100 {
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

/// The eight decimal digits of `value` (below 10^8, leading zeros
/// included) as the bytes of a word, most significant first in memory
/// (the low byte): each digit 0 to 9, not yet ASCII.
///
/// The number is split into halves of four digits in the word's two
/// 32-bit lanes, each half into two-digit pairs in 16-bit lanes, each pair
/// into digits in bytes. Each split divides all lanes at once by a
/// multiply and a shift that equal the division for every value a lane
/// can hold (checked for all of them in the tests), and no lane's product
/// reaches the next lane.
#[inline(always)]
fn eight_digits(value: u32) -> u64 {
    debug_assert!(u64::from(value) < TEN_TO_THE_8);
    let halves = u64::from(value / 10_000) | u64::from(value % 10_000) << 32;
    // x * 10486 >> 20 == x / 100 for x < 10^4.
    let hundreds = ((halves * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let pairs = hundreds | (halves - hundreds * 100) << 16;
    // x * 103 >> 10 == x / 10 for x < 100.
    let tens = ((pairs * 103) >> 10) & 0x000f_000f_000f_000f;
    tens | (pairs - tens * 10) << 8
}

/// Digits 0 to 9 in every byte, as ASCII.
#[inline(always)]
fn ascii(digits: u64) -> u64 {
    digits + 0x3030_3030_3030_3030
}

/// The eight lowercase hex digits of `value`, leading zeros included, as
/// ASCII bytes of a word, most significant first in memory.
#[inline(always)]
fn eight_hex_digits(value: u32) -> u64 {
    // Nibble i to byte i, by halves: 16-bit halves to 32-bit lanes, bytes
    // to 16-bit lanes, nibbles to bytes.
    let mut nibbles = u64::from(value);
    nibbles = (nibbles | nibbles << 16) & 0x0000_ffff_0000_ffff;
    nibbles = (nibbles | nibbles << 8) & 0x00ff_00ff_00ff_00ff;
    nibbles = (nibbles | nibbles << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    // Most significant nibble first.
    let nibbles = nibbles.swap_bytes();
    // 1 in each byte whose nibble is 10 or more: adding 6 carries into bit 4.
    let letters = ((nibbles + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    nibbles + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tsv::sample_realloc;

    fn row(event: &Event) -> String {
        let mut out = Vec::new();
        write_row(&mut out, event);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn realloc_row_has_every_column() {
        assert_eq!(
            row(&sample_realloc()),
            "160\t42\trealloc\t8\t1000000\t3\t0x7f00deadbeef\t0x10\t80\t5\tslow\n"
        );
        assert_eq!(
            HEADER.trim_end().split('\t').collect::<Vec<_>>(),
            super::super::ALL_COLUMNS
        );
    }

    #[test]
    fn dealloc_row_leaves_old_addr_empty() {
        let event = Event {
            kind: Kind::Dealloc,
            size_bytes: 80,
            align_bytes: 16,
            latency_ns: 7,
            t_ns: 0,
            thread: 1,
            addr: 0,
            old_addr: None,
            old_size_bytes: None,
            stack: None,
        };
        assert_eq!(row(&event), "80\t7\tdealloc\t16\t0\t1\t0x0\t\t\t\t\n");
    }

    /// An endless deterministic stream of pseudo-random numbers (xorshift64).
    fn random_numbers(seed: u64) -> impl Iterator<Item = u64> {
        let mut state = seed;
        std::iter::repeat_with(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
    }

    /// Numbers below 10^8 to check a conversion with: every one below
    /// `every_below`, the last 10,000, and 200,000 random ones from `seed`.
    fn values_below_ten_to_the_8(every_below: u32, seed: u64) -> impl Iterator<Item = u32> {
        let random = random_numbers(seed)
            .take(200_000)
            .map(|value| (value % TEN_TO_THE_8) as u32);
        (0..every_below)
            .chain(99_990_000..100_000_000)
            .chain(random)
    }

    #[test]
    fn the_lane_divisions_are_exact_for_every_value_a_lane_holds() {
        for x in 0..10_000u64 {
            assert_eq!((x * 10_486) >> 20, x / 100, "{x} / 100");
        }
        for x in 0..100u64 {
            assert_eq!((x * 103) >> 10, x / 10, "{x} / 10");
        }
    }

    #[test]
    fn eight_digits_match_fmt_across_their_range() {
        for value in values_below_ten_to_the_8(20_000, 0x9e37_79b9_7f4a_7c15) {
            let word = ascii(eight_digits(value)).to_le_bytes();
            assert_eq!(word, *format!("{value:08}").as_bytes(), "{value}");
        }
    }

    #[test]
    fn short_decimals_match_fmt_across_their_range() {
        for value in values_below_ten_to_the_8(200_000, 0x6a09_e667_f3bc_c908) {
            let (word, count) = short_decimal(value);
            let digits = value.to_string();
            assert_eq!(count, digits.len(), "{value}");
            assert_eq!(&word.to_le_bytes()[..count], digits.as_bytes(), "{value}");
            let past = word.checked_shr(8 * count as u32).unwrap_or(0);
            assert_eq!(past, 0, "{value}: bytes past the digits");
        }
    }

    #[test]
    fn eight_hex_digits_match_fmt() {
        let random = random_numbers(0x2545_f491_4f6c_dd1d)
            .take(200_000)
            .map(|value| value as u32);
        for value in (0..70_000)
            .chain(u32::MAX - 70_000..=u32::MAX)
            .chain(random)
        {
            let word = eight_hex_digits(value).to_le_bytes();
            assert_eq!(word, *format!("{value:08x}").as_bytes(), "{value:#x}");
        }
    }

    #[test]
    fn random_numbers_of_every_size_match_fmt() {
        for random in random_numbers(0xdead_beef_cafe_f00d).take(100_000) {
            // Every magnitude, not just the 20-digit numbers most u64s are.
            let value = random >> (random % 64);
            let event = Event {
                size_bytes: value,
                t_ns: value / 3,
                addr: value,
                old_addr: Some(value / 7),
                ..sample_realloc()
            };
            assert_eq!(
                row(&event),
                format!(
                    "{value}\t42\trealloc\t8\t{}\t3\t{value:#x}\t{:#x}\t80\t5\tslow\n",
                    value / 3,
                    value / 7
                )
            );
        }
    }

    #[test]
    fn numbers_at_every_digit_count_match_fmt() {
        let mut values = vec![0, u64::MAX];
        for shift in 1..64 {
            values.extend([(1 << shift) - 1, 1 << shift]);
        }
        for power in 1..20 {
            values.extend([10u64.pow(power) - 1, 10u64.pow(power)]);
        }
        for value in values {
            let event = Event {
                size_bytes: value,
                latency_ns: value,
                t_ns: value,
                addr: value,
                old_addr: Some(value),
                old_size_bytes: Some(value),
                ..sample_realloc()
            };
            assert_eq!(
                row(&event),
                format!(
                    "{value}\t{value}\trealloc\t8\t{value}\t3\t{value:#x}\t{value:#x}\t{value}\t5\tslow\n"
                )
            );
        }
    }
}
