//! `summary.md`: latency percentiles per run and kind, how well size
//! predicts latency, a side-by-side comparison when there are several runs,
//! object lifetimes and the live heap.

use std::fmt::Write as _;

use heapsnow::recorder::Kind;

use crate::correlation::{Correlation, MAX_CELLS};
use crate::flame;
use crate::heap::Heap;
use crate::stacks::CallSites;
use crate::stats::{KindStats, RunStats, SIGFIG};
use crate::units::{format_bytes, format_ns, group_thousands};

/// The most call sites listed per run.
const TOP_CALL_SITES: usize = 10;

/// The percentiles every table shows, as (column name, quantile).
pub const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

/// Kinds seen in at least one run, in the usual order.
pub fn kinds_seen(runs: &[RunStats]) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|&kind| runs.iter().any(|run| run.kind(kind).count() > 0))
        .collect()
}

/// One table row: count, the percentiles, max and mean (latencies in ns).
struct Row {
    count: u64,
    percentiles_ns: Vec<u64>,
    max_ns: u64,
    mean_ns: f64,
    /// The mean to one decimal, from the exact sum (an f64 would round
    /// means past 2^53 ns).
    mean_text: String,
}

impl Row {
    /// `None` without calls.
    fn of(stats: &KindStats) -> Option<Row> {
        (stats.count() > 0).then(|| Row {
            count: stats.count(),
            percentiles_ns: stats
                .latency_ns
                .value_at_quantiles(PERCENTILES.map(|(_, q)| q))
                .collect(),
            max_ns: stats.max_ns,
            mean_ns: stats.mean_ns(),
            mean_text: mean_to_tenths(stats.sum_ns, stats.count()),
        })
    }

    /// The cells, in [`STATISTICS`] order, exact integers but the mean.
    fn cells(&self) -> Vec<String> {
        let mut cells = vec![self.count.to_string()];
        cells.extend(self.percentiles_ns.iter().map(u64::to_string));
        cells.push(self.max_ns.to_string());
        cells.push(self.mean_text.clone());
        cells
    }

    /// The values, in [`STATISTICS`] order, for ratios.
    fn values(&self) -> Vec<f64> {
        let mut values = vec![self.count as f64];
        values.extend(self.percentiles_ns.iter().map(|&v| v as f64));
        values.push(self.max_ns as f64);
        values.push(self.mean_ns);
        values
    }
}

/// `sum / count` rounded to one decimal, in integer arithmetic.
fn mean_to_tenths(sum: u128, count: u64) -> String {
    let count = u128::from(count);
    match sum
        .checked_mul(10)
        .and_then(|tens| tens.checked_add(count / 2))
    {
        Some(tens) => {
            let tenths = tens / count;
            format!("{}.{}", tenths / 10, tenths % 10)
        }
        None => format!("{:.1}", sum as f64 / count as f64),
    }
}

const STATISTICS: [&str; 8] = [
    "count", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean",
];

/// The whole markdown document.
pub fn render(runs: &[RunStats]) -> String {
    let kinds = kinds_seen(runs);
    let mut md = String::new();
    md.push_str("# Allocation latency report\n\n");
    md.push_str("| run | file | events | recorded span |\n|---|---|--:|--:|\n");
    for run in runs {
        let _ = writeln!(
            md,
            "| {} | `{}` | {} | {} |",
            run.label,
            run.path.display(),
            group_thousands(run.events),
            format_ns(run.timeline.end_ns() as f64)
        );
    }
    for run in runs {
        if let Some(note) = &run.unfinished {
            let _ = writeln!(md, "\n**{}**: {note}.", run.label);
        }
    }

    md.push_str("\n## Latency by kind\n\nAll latencies in nanoseconds.\n");
    for run in runs {
        let _ = writeln!(md, "\n### {}\n", run.label);
        md.push_str("| kind | count | p50 | p90 | p99 | p99.9 | p99.99 | max | mean |\n");
        md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for &kind in &kinds {
            let _ = write!(md, "| {kind} |");
            match Row::of(run.kind(kind)) {
                Some(row) => {
                    for cell in row.cells() {
                        let _ = write!(md, " {cell} |");
                    }
                }
                None => {
                    md.push_str(" 0 |");
                    md.push_str(&" – |".repeat(STATISTICS.len() - 1));
                }
            }
            md.push('\n');
        }
    }

    size_and_latency(&mut md, runs, &kinds);
    if runs.len() > 1 {
        comparison(&mut md, runs, &kinds);
    }
    lifetimes(&mut md, runs);
    heap(&mut md, runs);
    call_sites(&mut md, runs);
    method(&mut md);
    md
}

/// Spearman's ρ and the log-log R² per run and kind, then over all calls.
fn size_and_latency(md: &mut String, runs: &[RunStats], kinds: &[Kind]) {
    md.push_str("\n## Does size predict latency?\n\n");
    md.push_str(
        "Spearman's ρ ranks calls by requested size and by latency and correlates the \
         ranks: 1 means a larger call is always slower, 0 no monotone link at all. R² is \
         the share of the variance of log latency that a straight line in log size \
         explains. See the end for how both are computed.\n\n",
    );
    md.push_str("| run | kind | calls | Spearman ρ | R² (log–log) | ranks |\n");
    md.push_str("|---|---|--:|--:|--:|---|\n");
    for run in runs {
        let rows = kinds
            .iter()
            .map(|&kind| (kind.as_str(), run.size_latency.of_kind(kind)))
            .chain([("all calls", run.size_latency.of_all())]);
        for (name, c) in rows {
            let _ = writeln!(
                md,
                "| {} | {name} | {} | {} | {} | {} |",
                run.label,
                c.calls,
                format_rho(&c),
                format_r_squared(&c),
                ranks_note(&c)
            );
        }
    }
}

/// ρ to three decimals, or why there is none.
pub fn format_rho(c: &Correlation) -> String {
    match c.spearman {
        Some(rho) => format!("{rho:.3}"),
        None if c.calls == 0 => "–".to_owned(),
        None => "– (one size or one latency)".to_owned(),
    }
}

/// R² as a percentage.
pub fn format_r_squared(c: &Correlation) -> String {
    match c.r_squared {
        Some(r2) if r2 < 0.001 => format!("{:.3} %", 100.0 * r2),
        Some(r2) => format!("{:.1} %", 100.0 * r2),
        None => "–".to_owned(),
    }
}

fn ranks_note(c: &Correlation) -> String {
    match c.significant_bits {
        None => "exact".to_owned(),
        Some(bits) => format!(
            "binned: {bits} significant bits (ties within {:.1} %)",
            100.0 / f64::from(1u32 << (bits - 1))
        ),
    }
}

/// One row per kind and statistic, one column per run, then each later
/// run's ratio to the first.
fn comparison(md: &mut String, runs: &[RunStats], kinds: &[Kind]) {
    let base = &runs[0];
    md.push_str("\n## Comparison\n\n");
    let _ = writeln!(
        md,
        "Side by side, latencies in nanoseconds; a ratio above 1 means more (or slower) than `{}`.\n",
        base.label
    );
    md.push_str("| kind | statistic |");
    for run in runs {
        let _ = write!(md, " {} |", run.label);
    }
    for run in &runs[1..] {
        let _ = write!(md, " {} / {} |", run.label, base.label);
    }
    md.push_str("\n|---|---|");
    md.push_str(&"--:|".repeat(2 * runs.len() - 1));
    md.push('\n');
    for &kind in kinds {
        let rows: Vec<Option<Row>> = runs.iter().map(|run| Row::of(run.kind(kind))).collect();
        let cells: Vec<Option<Vec<String>>> = rows
            .iter()
            .map(|row| row.as_ref().map(Row::cells))
            .collect();
        let values: Vec<Option<Vec<f64>>> = rows
            .iter()
            .map(|row| row.as_ref().map(Row::values))
            .collect();
        for (i, statistic) in STATISTICS.iter().enumerate() {
            let _ = write!(md, "| {kind} | {statistic} |");
            for run_cells in &cells {
                match run_cells {
                    Some(cells) => {
                        let _ = write!(md, " {} |", cells[i]);
                    }
                    None if i == 0 => md.push_str(" 0 |"),
                    None => md.push_str(" – |"),
                }
            }
            for run_values in &values[1..] {
                match (&values[0], run_values) {
                    (Some(base), Some(v)) if base[i] > 0.0 => {
                        let _ = write!(md, " {:.2} |", v[i] / base[i]);
                    }
                    _ => md.push_str(" – |"),
                }
            }
            md.push('\n');
        }
    }
}

fn lifetimes(md: &mut String, runs: &[RunStats]) {
    md.push_str("\n## Object lifetimes\n\n");
    md.push_str(
        "Time from an allocation to the release of the same address, in nanoseconds \
         (a realloc ends one life and starts another).\n\n",
    );
    md.push_str(
        "| run | lives | p50 | p90 | p99 | max | still live at end | frees without a recorded allocation |\n",
    );
    md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|\n");
    for run in runs {
        let lives = &run.lifetimes;
        let histogram = &lives.lifetime_ns;
        let _ = write!(md, "| {} | {} |", run.label, histogram.len());
        if histogram.is_empty() {
            md.push_str(" – | – | – | – |");
        } else {
            for q in [0.5, 0.9, 0.99] {
                let _ = write!(md, " {} |", histogram.value_at_quantile(q));
            }
            let _ = write!(md, " {} |", histogram.max());
        }
        let _ = writeln!(md, " {} | {} |", lives.still_live(), lives.unmatched_frees);
    }
    for run in runs {
        let reused = run.lifetimes.reused_live_addresses;
        if reused > 0 {
            let _ = writeln!(
                md,
                "\n{}: {reused} allocations returned an address that was still live \
                 (its free is missing from the file, or rows from several threads are \
                 out of order); the older life was dropped.",
                run.label
            );
        }
    }
}

/// Per run that captured stacks: how many events have one, the flame
/// graphs, and the call sites of the slow calls, most time first.
fn call_sites(md: &mut String, runs: &[RunStats]) {
    if !runs.iter().any(|run| run.stacks.any()) {
        return;
    }
    md.push_str("\n## Slowest call sites\n\n");
    md.push_str(
        "Calls at least as slow as the run's `--stacks-over` threshold, grouped by call \
         site: the innermost frame of the call's stack outside the standard library's \
         allocation plumbing (`alloc::`, `core::`, `std::`, `hashbrown::`, `__rust…`), or \
         the innermost frame if every one is plumbing. The share is of all the time the \
         run spent in the allocator, every call counted.\n",
    );
    for (run, flame_graphs) in runs.iter().zip(flame::file_names(runs)) {
        let stacks = &run.stacks;
        if !stacks.any() {
            continue;
        }
        let _ = writeln!(md, "\n### {}\n", run.label);
        let _ = writeln!(md, "{}", captured_line(run));
        if !flame_graphs.is_empty() {
            let links: Vec<String> = flame_graphs
                .iter()
                .map(|name| format!("[{name}]({name})"))
                .collect();
            let _ = writeln!(md, "\nFlame graphs: {}.", links.join(", "));
        }
        match &stacks.call_sites {
            None => {}
            Some(CallSites::FramesMissing) => md.push_str(
                "\n`stacks.tsv` is missing beside `alloc.tsv`: the call sites of these \
                 events are unknown.\n",
            ),
            Some(CallSites::Known(rows)) if rows.is_empty() => {
                md.push_str("\nNo slow call had its stack captured: no call site to list.\n");
            }
            Some(CallSites::Known(rows)) => {
                md.push_str(
                    "\n| call site | events | total latency | max latency | share of allocator time |\n",
                );
                md.push_str("|---|--:|--:|--:|--:|\n");
                let all_ns = run.total_latency_ns();
                for row in rows.iter().take(TOP_CALL_SITES) {
                    let site = match &row.site {
                        Some(site) => code(site),
                        None => "(unknown stack)".to_owned(),
                    };
                    let _ = writeln!(
                        md,
                        "| {site} | {} | {} | {} | {} |",
                        group_thousands(row.calls.events),
                        format_ns(row.calls.total_ns as f64),
                        format_ns(row.calls.max_ns as f64),
                        format_share(row.calls.total_ns, all_ns)
                    );
                }
                if rows.len() > TOP_CALL_SITES {
                    let _ = writeln!(
                        md,
                        "\nThe {TOP_CALL_SITES} call sites with the most time of {}.",
                        group_thousands(rows.len() as u64)
                    );
                }
            }
        }
    }
}

/// "N of M events had their call stack captured: ..."
fn captured_line(run: &RunStats) -> String {
    let captured = &run.stacks.captured;
    let settings = &run.stacks.settings;
    let of = format!(
        "{} of {} events",
        group_thousands(captured.events),
        group_thousands(run.events)
    );
    if captured.events == 0 {
        return format!("{of} had their call stack captured.");
    }
    let over = settings
        .stacks_over_ns
        .map_or(String::new(), |ns| format!(" (≥ {})", format_ns(ns as f64)));
    let every = settings
        .stacks_every
        .map_or(String::new(), |n| format!(" (1 in {})", group_thousands(n)));
    let both = if captured.both > 0 {
        format!(", {} of them both", group_thousands(captured.both))
    } else {
        String::new()
    };
    format!(
        "{of} had their call stack captured: {} slow{over}, {} sampled{every}{both}.",
        group_thousands(captured.slow),
        group_thousands(captured.sampled),
    )
}

/// `part` as a percentage of `whole`, to a tenth, finer when small.
fn format_share(part: u128, whole: u128) -> String {
    if whole == 0 {
        return "–".to_owned();
    }
    let percent = 100.0 * part as f64 / whole as f64;
    if percent == 0.0 || percent >= 0.1 {
        format!("{percent:.1} %")
    } else {
        format!("{percent:.3} %")
    }
}

/// A name as markdown inline code, safe inside a table cell.
fn code(name: &str) -> String {
    let name = name.replace('|', "\\|");
    if name.contains('`') {
        format!("`` {name} ``")
    } else {
        format!("`{name}`")
    }
}

/// Sizes the heap table lists among the objects still live at the end.
const LARGEST_LISTED: usize = 5;

fn heap(md: &mut String, runs: &[RunStats]) {
    md.push_str("\n## Heap\n\n");
    md.push_str(
        "Bytes allocated during the recording and not yet freed (heap.png draws them \
         over time). A realloc frees its old block and allocates its new one; a free of \
         a block allocated before the recording started changes nothing. Bytes, and \
         times in nanoseconds since the recorder started, are exact, with a readable \
         form beside them. The largest objects are the largest sizes still live at the \
         end, with their counts.\n\n",
    );
    md.push_str(
        "| run | peak live bytes | peak at (ns) | live bytes at end | objects live at end | largest objects live at end |\n",
    );
    md.push_str("|---|--:|--:|--:|--:|---|\n");
    for run in runs {
        let peak = run.heap.peak();
        let peak_at = if peak.bytes == 0 {
            "–".to_owned()
        } else {
            ns_cell(peak.t_ns)
        };
        let largest: Vec<String> = run
            .lifetimes
            .largest_still_live(LARGEST_LISTED)
            .into_iter()
            .map(|(size_bytes, count)| {
                format!(
                    "{} × {} B",
                    group_thousands(count),
                    group_thousands(size_bytes)
                )
            })
            .collect();
        let largest = if largest.is_empty() {
            "–".to_owned()
        } else {
            largest.join("; ")
        };
        let _ = writeln!(
            md,
            "| {} | {} | {peak_at} | {} | {} | {largest} |",
            run.label,
            bytes_cell(peak.bytes),
            bytes_cell(run.heap.live_bytes()),
            run.lifetimes.still_live(),
        );
    }
}

/// Exact bytes, then the readable form from 1 KiB up: `79770 (77.9 KiB)`.
fn bytes_cell(bytes: u128) -> String {
    if bytes < 1024 {
        bytes.to_string()
    } else {
        format!("{bytes} ({})", format_bytes(bytes as f64))
    }
}

/// Exact nanoseconds, then the readable form from 1 µs up: `2670123 (2.67 ms)`.
fn ns_cell(t_ns: u64) -> String {
    if t_ns < 1_000 {
        t_ns.to_string()
    } else {
        format!("{t_ns} ({})", format_ns(t_ns as f64))
    }
}

fn method(md: &mut String) {
    let heap_slices = Heap::MAX_BUCKETS;
    let _ = write!(
        md,
        "
## How these numbers are computed

- Latency is the `ns` column: the duration of the backing allocator's call
  alone, as the recorder timed it.
- `count`, `max` and `mean` are exact.
- Percentiles come from an HdrHistogram with {SIGFIG} significant digits. `pN`
  is the smallest recorded latency `v` such that at least N% of the calls
  took `v` or less (nearest rank: rank ⌈N/100 × count⌉), reported as the
  highest value of the histogram bucket holding `v`. Below 2048 ns buckets
  are 1 ns wide, so values are exact there; above, a reported value is at
  most 0.1% above the exact one, never below it.
- Spearman's ρ is the Pearson correlation of the ranks of size and of
  latency, over every call of the kind, ties sharing their average rank.
  It is exact: the calls are counted per distinct (size, latency) pair as
  they stream by and ranked at the end. Only if a kind has more than
  {MAX_CELLS} distinct pairs are both values binned on a log scale to their
  10 (then 8, 6, ...) most significant bits, calls in one bin counting as
  tied; the `ranks` column says so. \"all calls\" merges the kinds.
- R² is the squared Pearson correlation of ln(size) and ln(latency): the
  share of the variance of ln(latency) that a least-squares line in
  ln(size) explains. Computed from running sums, exact to floating point.
- Charts and R²: sizes of 0 B and latencies of 0 ns count as 1 on log scales.
- The live heap pairs every free with the allocation of its address during
  the recording and subtracts the size that allocation added. The peak is
  the first time the highest value was reached, at the latest `t_ns` of the
  rows read so far (rows of several threads come slightly out of order).
  heap.png draws the highest value in each of at most {heap_slices} time slices.
"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_cells_are_exact_with_a_readable_form() {
        assert_eq!(bytes_cell(0), "0");
        assert_eq!(bytes_cell(1023), "1023");
        assert_eq!(bytes_cell(79_770), "79770 (77.9 KiB)");
        assert_eq!(
            bytes_cell(2 * u128::from(u64::MAX)),
            "36893488147419103230 (32 EiB)"
        );
        assert_eq!(ns_cell(999), "999");
        assert_eq!(ns_cell(2_670_123), "2670123 (2.67 ms)");
    }

    #[test]
    fn means_round_to_tenths_exactly() {
        assert_eq!(mean_to_tenths(10, 4), "2.5");
        assert_eq!(mean_to_tenths(2, 3), "0.7");
        assert_eq!(
            mean_to_tenths(u128::from(u64::MAX), 1),
            "18446744073709551615.0"
        );
        assert_eq!(mean_to_tenths(199, 100), "2.0");
    }

    #[test]
    fn shares_and_names_read_well_in_a_table() {
        assert_eq!(format_share(1, 3), "33.3 %");
        assert_eq!(format_share(1, 4_000), "0.025 %");
        assert_eq!(format_share(0, 4_000), "0.0 %");
        assert_eq!(format_share(5, 0), "–");
        assert_eq!(code("app::spawn"), "`app::spawn`");
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("a`b"), "`` a`b ``");
    }
}
