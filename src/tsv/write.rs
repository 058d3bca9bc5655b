//! Formatting events as TSV rows without `fmt` (the drain formats millions).
//!
//! Room for the longest row is made at the end of the output once per row
//! and the fields are written into it, two digits per table lookup: one
//! capacity check per row rather than one per field and per hex digit.

use crate::recorder::Event;

/// The header row, newline included.
pub const HEADER: &str =
    "bytes\tns\tkind\talign\tt_ns\tthread\taddr\told_addr\told_bytes\tstack\tstack_reason\n";

/// The longest row: five u64 columns of 20 digits, a u32 thread and stack
/// number of 10, two `0x` addresses of 18, the longest kind
/// (`alloc_zeroed`) and stack reason (`slow+sampled`), ten tabs and the
/// newline.
const MAX_ROW_BYTES: usize = 5 * 20 + 2 * 10 + 2 * 18 + 2 * 12 + 10 + 1;

/// Room past the longest row for the three bytes `small_decimal` may write
/// past its digits.
const ROW_BUFFER_BYTES: usize = MAX_ROW_BYTES + 3;

/// Appends one event as a TSV row (newline included) to `out`.
pub fn write_row(out: &mut Vec<u8>, event: &Event) {
    let start = out.len();
    out.resize(start + ROW_BUFFER_BYTES, 0);
    let mut row = Row {
        bytes: &mut out[start..],
        len: 0,
    };
    row.decimal(event.size_bytes);
    row.tab();
    row.decimal(event.latency_ns);
    row.tab();
    row.bytes(event.kind.as_str().as_bytes());
    row.tab();
    row.decimal(event.align_bytes);
    row.tab();
    row.decimal(event.t_ns);
    row.tab();
    row.decimal(event.thread);
    row.tab();
    row.hex(event.addr);
    row.tab();
    if let Some(old_addr) = event.old_addr {
        row.hex(old_addr);
    }
    row.tab();
    if let Some(old_size_bytes) = event.old_size_bytes {
        row.decimal(old_size_bytes);
    }
    row.tab();
    if let Some(stack) = event.stack {
        row.decimal(stack.id);
        row.tab();
        row.bytes(stack.reason().as_bytes());
    } else {
        row.tab();
    }
    row.bytes(b"\n");
    let row_bytes = row.len;
    out.truncate(start + row_bytes);
}

/// One row being built at the end of the output.
struct Row<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl Row<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn tab(&mut self) {
        self.bytes[self.len] = b'\t';
        self.len += 1;
    }

    /// Decimal digits, no padding.
    fn decimal(&mut self, value: impl Into<u64>) {
        let value = value.into();
        if value < 10_000 {
            self.small_decimal(value as usize);
            return;
        }
        let digits = value.ilog10() as usize + 1;
        let field = &mut self.bytes[self.len..self.len + digits];
        let mut rest = value;
        let mut end = digits;
        while end >= 2 {
            let pair = (rest % 100) as usize * 2;
            field[end - 2..end].copy_from_slice(&DECIMAL_PAIRS[pair..pair + 2]);
            rest /= 100;
            end -= 2;
        }
        if end == 1 {
            field[0] = b'0' + rest as u8;
        }
        self.len += digits;
    }

    /// Most sizes and latencies: formatted as four digits without a loop
    /// (whose varying length the CPU would mispredict), then the leading
    /// zeros shifted out.
    fn small_decimal(&mut self, value: usize) {
        let digits =
            1 + usize::from(value >= 10) + usize::from(value >= 100) + usize::from(value >= 1000);
        let (high, low) = (value / 100 * 2, value % 100 * 2);
        let four = u32::from_le_bytes([
            DECIMAL_PAIRS[high],
            DECIMAL_PAIRS[high + 1],
            DECIMAL_PAIRS[low],
            DECIMAL_PAIRS[low + 1],
        ]) >> (8 * (4 - digits));
        // Up to three bytes past the digits: the row has room for them and
        // the next field or the final truncate drops them.
        self.bytes[self.len..self.len + 4].copy_from_slice(&four.to_le_bytes());
        self.len += digits;
    }

    /// `0x` followed by lowercase hex digits, no padding.
    fn hex(&mut self, value: u64) {
        let digits = (64 - value.leading_zeros()).div_ceil(4).max(1) as usize;
        let field = &mut self.bytes[self.len..self.len + 2 + digits];
        field[..2].copy_from_slice(b"0x");
        let mut rest = value;
        let mut end = field.len();
        while end >= 4 {
            let pair = (rest & 0xff) as usize * 2;
            field[end - 2..end].copy_from_slice(&HEX_PAIRS[pair..pair + 2]);
            rest >>= 8;
            end -= 2;
        }
        if end == 3 {
            field[2] = HEX_PAIRS[rest as usize * 2 + 1];
        }
        self.len += 2 + digits;
    }
}

/// "00" to "99": two decimal digits per lookup.
const DECIMAL_PAIRS: [u8; 200] = digit_pairs(10);

/// "00" to "ff": two hex digits per lookup.
const HEX_PAIRS: [u8; 512] = digit_pairs(16);

/// Every two-digit number in `base`, in order, as ASCII.
const fn digit_pairs<const N: usize>(base: usize) -> [u8; N] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    assert!(N == 2 * base * base);
    let mut pairs = [0; N];
    let mut i = 0;
    while i < N / 2 {
        pairs[2 * i] = DIGITS[i / base];
        pairs[2 * i + 1] = DIGITS[i % base];
        i += 1;
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Kind;
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
