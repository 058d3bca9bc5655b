//! The classic HdrHistogram percentile-distribution text format (`.hgrm`),
//! which the hdrhistogram crate does not write. Readable by the standard
//! HdrHistogram plotters.

use std::io::{self, Write};

use hdrhistogram::Histogram;

/// Quantile iteration steps per halving of the distance to 100%, as in the
/// reference implementation's default output.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes `histogram` (values in ns) as an `.hgrm` percentile distribution.
pub fn write_hgrm(
    out: &mut impl Write,
    histogram: &Histogram<u64>,
    significant_digits: u8,
) -> io::Result<()> {
    let digits = usize::from(significant_digits);
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total_count = 0u64;
    for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total_count += step.count_since_last_iteration();
        let value = histogram.highest_equivalent(step.value_iterated_to()) as f64;
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let inverse = 1.0 / (1.0 - quantile);
            writeln!(
                out,
                "{value:>12.digits$} {quantile:>2.12} {total_count:>10} {inverse:>14.2}"
            )?;
        } else {
            writeln!(
                out,
                "{value:>12.digits$} {quantile:>2.12} {total_count:>10}"
            )?;
        }
    }
    let sub_buckets = (2 * 10u64.pow(u32::from(significant_digits))).next_power_of_two();
    writeln!(
        out,
        "#[Mean    = {:>12.digits$}, StdDeviation   = {:>12.digits$}]",
        histogram.mean(),
        histogram.stdev()
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        histogram.max() as f64,
        histogram.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        histogram.buckets(),
        sub_buckets
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_classic_layout() {
        let mut histogram = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for value in 1..=100 {
            histogram.record(value).unwrap();
        }
        let mut out = Vec::new();
        write_hgrm(&mut out, &histogram, 3).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       1.000 0.000000000000          1           1.00"
        );
        let last_row = lines.iter().rev().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(*last_row, "     100.000 1.000000000000        100");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("#[Mean    =       50.500, StdDeviation   ="))
        );
        assert!(lines.contains(&"#[Max     =      100.000, Total count    =          100]"));
        assert!(text.ends_with("SubBuckets     =         2048]\n"));
        // Total counts never decrease and end at the number of values.
        let counts: Vec<u64> = lines[2..]
            .iter()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().nth(2).unwrap().parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(counts.last(), Some(&100));
    }
}
