//! Human-readable numbers for chart labels, summaries and the demo window:
//! "1 KiB", "10 µs", "2.5M".

/// Bytes with binary prefixes: `512 B`, `1 KiB`, `1.5 MiB`.
pub fn format_bytes(size_bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = size_bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{} {}", trim(value), UNITS[unit])
}

/// A duration given in nanoseconds: `40 ns`, `10 µs`, `1.5 ms`, `2 s`.
pub fn format_ns(duration_ns: f64) -> String {
    let (value, unit) = in_thousands(duration_ns, ["ns", "µs", "ms", "s"]);
    format!("{} {unit}", trim(value))
}

/// A count with SI suffixes: `950`, `12k`, `3.4M`.
pub fn format_count(count: f64) -> String {
    let (value, suffix) = in_thousands(count, ["", "k", "M", "G"]);
    format!("{}{suffix}", trim(value))
}

/// `value` divided by the largest of 1, 10³, 10⁶ and 10⁹ that it reaches,
/// with the matching one of `units`.
fn in_thousands(value: f64, units: [&'static str; 4]) -> (f64, &'static str) {
    if value < 1e3 {
        (value, units[0])
    } else if value < 1e6 {
        (value / 1e3, units[1])
    } else if value < 1e9 {
        (value / 1e6, units[2])
    } else {
        (value / 1e9, units[3])
    }
}

/// At most three significant digits, no trailing zeros: `1`, `1.5`, `12.3`, `512`.
pub fn trim(value: f64) -> String {
    let decimals = if value.abs() >= 100.0 {
        0
    } else if value.abs() >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// An integer with thin thousands separators: `12,345,678`.
pub fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Parses a duration with its unit, as `--stacks-over` takes it: `500ns`,
/// `2us` (or `2µs`), `1.5ms`, `1s`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    const UNITS: [(&str, f64); 5] = [
        ("ns", 1.0),
        ("us", 1e3),
        ("µs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
    ];
    let expected = || {
        format!("expected a duration with its unit, like 500ns, 10us, 1.5ms or 1s; found {text:?}")
    };
    let (number, ns_per_unit) = UNITS
        .iter()
        .find_map(|(unit, ns)| text.trim().strip_suffix(unit).map(|number| (number, *ns)))
        .ok_or_else(expected)?;
    let value: f64 = number.trim().parse().map_err(|_| expected())?;
    if !value.is_finite() || value < 0.0 {
        return Err(expected());
    }
    std::time::Duration::try_from_secs_f64(value * ns_per_unit / 1e9).map_err(|_| expected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_read_well() {
        assert_eq!(format_bytes(1.0), "1 B");
        assert_eq!(format_bytes(1024.0), "1 KiB");
        assert_eq!(format_bytes(1536.0), "1.5 KiB");
        assert_eq!(format_bytes(64.0 * 1024.0 * 1024.0), "64 MiB");
        assert_eq!(format_ns(10.0), "10 ns");
        assert_eq!(format_ns(10_000.0), "10 µs");
        assert_eq!(format_ns(1_500_000.0), "1.5 ms");
        assert_eq!(format_ns(1e10), "10 s");
        assert_eq!(format_count(950.0), "950");
        assert_eq!(format_count(1e6), "1M");
        assert_eq!(format_count(12_500.0), "12.5k");
        assert_eq!(trim(0.30000000000000004), "0.3");
        assert_eq!(group_thousands(12_345_678), "12,345,678");
        assert_eq!(group_thousands(999), "999");
    }

    #[test]
    fn durations_need_their_unit() {
        use std::time::Duration;
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("500ns"), Ok(Duration::from_nanos(500)));
        assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        for bad in ["10", "us", "-1us", "fastms", "infs", ""] {
            let error = parse_duration(bad).unwrap_err();
            assert!(error.contains("like 500ns, 10us"), "{bad}: {error}");
        }
    }
}
