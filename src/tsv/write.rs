//! Formatting events as TSV rows without `fmt` (the drain formats millions).

use crate::recorder::Event;

/// The header row, newline included.
pub const HEADER: &str =
    "bytes\tns\tkind\talign\tt_ns\tthread\taddr\told_addr\told_bytes\tstack\tstack_reason\n";

/// Appends one event as a TSV row (newline included) to `out`.
pub fn write_row(out: &mut Vec<u8>, event: &Event) {
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(numbers.format(event.size_bytes).as_bytes());
    out.push(b'\t');
    out.extend_from_slice(numbers.format(event.latency_ns).as_bytes());
    out.push(b'\t');
    out.extend_from_slice(event.kind.as_str().as_bytes());
    out.push(b'\t');
    out.extend_from_slice(numbers.format(event.align_bytes).as_bytes());
    out.push(b'\t');
    out.extend_from_slice(numbers.format(event.t_ns).as_bytes());
    out.push(b'\t');
    out.extend_from_slice(numbers.format(event.thread).as_bytes());
    out.push(b'\t');
    write_hex(out, event.addr);
    out.push(b'\t');
    if let Some(old_addr) = event.old_addr {
        write_hex(out, old_addr);
    }
    out.push(b'\t');
    if let Some(old_size_bytes) = event.old_size_bytes {
        out.extend_from_slice(numbers.format(old_size_bytes).as_bytes());
    }
    out.push(b'\t');
    if let Some(stack) = event.stack {
        out.extend_from_slice(numbers.format(stack.id).as_bytes());
        out.push(b'\t');
        out.extend_from_slice(stack.reason().as_bytes());
    } else {
        out.push(b'\t');
    }
    out.push(b'\n');
}

/// `0x` followed by lowercase hex digits, no padding.
fn write_hex(out: &mut Vec<u8>, value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"0x");
    let digits = (64 - value.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        out.push(DIGITS[((value >> (shift * 4)) & 0xf) as usize]);
    }
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
}
