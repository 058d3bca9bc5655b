//! Does size predict latency? Spearman's rank correlation between size and
//! latency, and the share of the variance of log latency that log size
//! explains (the R² of a least-squares line on log scales), per kind of
//! call, in one streaming pass with bounded memory.
//!
//! Spearman's ρ is the Pearson correlation of the ranks, tied values sharing
//! their average rank. A rank depends on every other value, so it cannot be
//! computed as the rows go by; but sizes and latencies take few distinct
//! values at the TSV's integer resolution, so the calls are counted per
//! distinct (size, latency) pair and ranked at the end: that is exact. If
//! the pairs of a kind outnumber [`MAX_CELLS`], both values are binned on a
//! log scale, keeping their 10 (then 8, 6, ...) most significant bits, and
//! calls that fall into one bin count as ties: the bins are at most
//! 2^-(bits-1) wide relative to their values, which the summary states.
//!
//! R² comes from running co-moments of `ln size` and `ln latency`, exact
//! whatever the number of pairs. Sizes of 0 B and latencies of 0 ns count as
//! 1, as on the charts' log axes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use heapsnow::recorder::Kind;

/// Distinct (size, latency) cells one kind keeps before binning: about
/// 8 MB of table at most per kind.
pub const MAX_CELLS: usize = 1 << 16;

/// The resolutions tried in turn when a table outgrows its limit: `None`
/// keeps exact values, `Some(b)` the `b` most significant bits. With one
/// bit, values are powers of two and a table holds at most 65 x 65 cells.
const RESOLUTIONS: [Option<u32>; 7] = [None, Some(10), Some(8), Some(6), Some(4), Some(2), Some(1)];

/// What the numbers say for one kind of call (or all of them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correlation {
    pub calls: u64,
    /// Spearman's ρ; `None` when every call has the same size or the same
    /// latency (a rank correlation is undefined then).
    pub spearman: Option<f64>,
    /// R² of `ln latency` on `ln size`; `None` as for `spearman`.
    pub r_squared: Option<f64>,
    /// `None` when ρ is exact; otherwise the significant bits both values
    /// were binned to.
    pub significant_bits: Option<u32>,
}

/// The aggregates for every kind of call.
pub struct SizeLatency {
    kinds: [KindAggregate; 4],
}

impl SizeLatency {
    pub fn new() -> SizeLatency {
        SizeLatency::with_max_cells(MAX_CELLS)
    }

    fn with_max_cells(max_cells: usize) -> SizeLatency {
        SizeLatency {
            kinds: std::array::from_fn(|_| KindAggregate::new(max_cells)),
        }
    }

    pub fn record(&mut self, kind: Kind, size_bytes: u64, latency_ns: u64) {
        let aggregate = &mut self.kinds[kind as usize];
        aggregate.table.record(size_bytes, latency_ns);
        aggregate.fit.record(size_bytes, latency_ns);
    }

    /// The correlation over the calls of one kind.
    pub fn of_kind(&self, kind: Kind) -> Correlation {
        let aggregate = &self.kinds[kind as usize];
        correlation(
            &aggregate.table.cells(),
            &aggregate.fit,
            aggregate.table.resolution,
        )
    }

    /// The correlation over every call, whatever its kind: the kinds' tables
    /// merged at the coarsest resolution any of them needed.
    pub fn of_all(&self) -> Correlation {
        let resolution = self
            .kinds
            .iter()
            .map(|k| k.table.level)
            .max()
            .and_then(|level| RESOLUTIONS[level]);
        let mut merged: HashMap<(u64, u64), u64, CellHashing> = HashMap::default();
        let mut fit = LogFit::default();
        for aggregate in &self.kinds {
            for (size, latency, count) in aggregate.table.cells() {
                *merged
                    .entry((bin(size, resolution), bin(latency, resolution)))
                    .or_default() += count;
            }
            fit.merge(&aggregate.fit);
        }
        let cells: Vec<(u64, u64, u64)> = merged.into_iter().map(|((s, l), c)| (s, l, c)).collect();
        correlation(&cells, &fit, resolution)
    }
}

fn correlation(cells: &[(u64, u64, u64)], fit: &LogFit, resolution: Option<u32>) -> Correlation {
    Correlation {
        calls: fit.n,
        spearman: spearman(cells),
        r_squared: fit.r_squared(),
        significant_bits: resolution,
    }
}

struct KindAggregate {
    table: CountTable,
    fit: LogFit,
}

impl KindAggregate {
    fn new(max_cells: usize) -> KindAggregate {
        KindAggregate {
            table: CountTable::new(max_cells),
            fit: LogFit::default(),
        }
    }
}

type CellHashing = BuildHasherDefault<CellHasher>;

/// Calls counted per (size, latency) cell, at the finest resolution that
/// keeps the table within its limit.
struct CountTable {
    cells: HashMap<(u64, u64), u64, CellHashing>,
    /// Index into [`RESOLUTIONS`].
    level: usize,
    resolution: Option<u32>,
    max_cells: usize,
}

impl CountTable {
    fn new(max_cells: usize) -> CountTable {
        CountTable {
            cells: HashMap::default(),
            level: 0,
            resolution: RESOLUTIONS[0],
            max_cells,
        }
    }

    fn record(&mut self, size_bytes: u64, latency_ns: u64) {
        let key = (
            bin(size_bytes, self.resolution),
            bin(latency_ns, self.resolution),
        );
        *self.cells.entry(key).or_default() += 1;
        while self.cells.len() > self.max_cells && self.level + 1 < RESOLUTIONS.len() {
            self.coarsen();
        }
    }

    /// Moves to the next resolution, merging the cells that fall together.
    /// Binning a binned value again with fewer bits is the same as binning
    /// the original, so nothing depends on when this happens.
    fn coarsen(&mut self) {
        self.level += 1;
        self.resolution = RESOLUTIONS[self.level];
        let old = std::mem::take(&mut self.cells);
        for ((size, latency), count) in old {
            *self
                .cells
                .entry((bin(size, self.resolution), bin(latency, self.resolution)))
                .or_default() += count;
        }
    }

    fn cells(&self) -> Vec<(u64, u64, u64)> {
        self.cells.iter().map(|(&(s, l), &c)| (s, l, c)).collect()
    }
}

/// `value` with all but its `bits` most significant bits cleared (`None`:
/// unchanged): a log-scale bin at most 2^-(bits-1) of the value wide.
fn bin(value: u64, resolution: Option<u32>) -> u64 {
    let Some(bits) = resolution else {
        return value;
    };
    let length = 64 - value.leading_zeros();
    if length <= bits {
        value
    } else {
        let dropped = length - bits;
        (value >> dropped) << dropped
    }
}

/// Spearman's ρ of counted (x, y, count) cells, ties given their average
/// rank; `None` if either variable is constant.
fn spearman(cells: &[(u64, u64, u64)]) -> Option<f64> {
    let n: u64 = cells.iter().map(|c| c.2).sum();
    let x_ranks = average_ranks(cells.iter().map(|&(x, _, count)| (x, count)));
    let y_ranks = average_ranks(cells.iter().map(|&(_, y, count)| (y, count)));
    // Both rank sets have mean (n + 1) / 2; centring first keeps the sums
    // small and exact enough for billions of calls.
    let mean = (n as f64 + 1.0) / 2.0;
    let centred = |ranks: &[(u64, f64)], value: u64| {
        let i = ranks
            .binary_search_by_key(&value, |&(v, _)| v)
            .expect("every value of a cell is ranked");
        ranks[i].1 - mean
    };
    let (mut cov, mut var_x, mut var_y) = (0.0, 0.0, 0.0);
    for &(x, y, count) in cells {
        let (dx, dy) = (centred(&x_ranks, x), centred(&y_ranks, y));
        let count = count as f64;
        cov += count * dx * dy;
        var_x += count * dx * dx;
        var_y += count * dy * dy;
    }
    (var_x > 0.0 && var_y > 0.0).then(|| (cov / (var_x * var_y).sqrt()).clamp(-1.0, 1.0))
}

/// Distinct values, ascending, each with its average rank (1-based) among
/// the counted values.
fn average_ranks(values: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, f64)> {
    let mut counts: Vec<(u64, u64)> = values.collect();
    counts.sort_unstable();
    let mut ranks: Vec<(u64, f64)> = Vec::new();
    let mut below = 0u64;
    let mut i = 0;
    while i < counts.len() {
        let value = counts[i].0;
        let mut count = 0;
        while i < counts.len() && counts[i].0 == value {
            count += counts[i].1;
            i += 1;
        }
        // Ranks below + 1 ..= below + count, averaged.
        ranks.push((value, below as f64 + (count as f64 + 1.0) / 2.0));
        below += count;
    }
    ranks
}

/// Running means and co-moments of `ln size` and `ln latency` (Welford's
/// update, merged with Chan's formula), for the R² of one on the other.
#[derive(Clone, Copy, Debug, Default)]
struct LogFit {
    n: u64,
    mean_x: f64,
    mean_y: f64,
    /// Sums of squared deviations and of the deviations' products.
    m2_x: f64,
    m2_y: f64,
    c_xy: f64,
}

impl LogFit {
    fn record(&mut self, size_bytes: u64, latency_ns: u64) {
        let x = (size_bytes.max(1) as f64).ln();
        let y = (latency_ns.max(1) as f64).ln();
        self.n += 1;
        let n = self.n as f64;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / n;
        self.mean_y += dy / n;
        self.m2_x += dx * (x - self.mean_x);
        self.m2_y += dy * (y - self.mean_y);
        self.c_xy += dx * (y - self.mean_y);
    }

    fn merge(&mut self, other: &LogFit) {
        if other.n == 0 {
            return;
        }
        let (n_a, n_b) = (self.n as f64, other.n as f64);
        let n = n_a + n_b;
        let dx = other.mean_x - self.mean_x;
        let dy = other.mean_y - self.mean_y;
        self.m2_x += other.m2_x + dx * dx * n_a * n_b / n;
        self.m2_y += other.m2_y + dy * dy * n_a * n_b / n;
        self.c_xy += other.c_xy + dx * dy * n_a * n_b / n;
        self.mean_x += dx * n_b / n;
        self.mean_y += dy * n_b / n;
        self.n += other.n;
    }

    /// The squared Pearson correlation of the logs: the share of the
    /// variance of `ln latency` that a straight line in `ln size` explains.
    fn r_squared(&self) -> Option<f64> {
        // A variable that never changed can still show rounding residue.
        let constant = |m2: f64| m2 <= 1e-9 * self.n as f64;
        (self.n > 1 && !constant(self.m2_x) && !constant(self.m2_y))
            .then(|| (self.c_xy * self.c_xy / (self.m2_x * self.m2_y)).clamp(0.0, 1.0))
    }
}

/// A cheap hasher for (size, latency) keys (FxHash's multiply-rotate).
#[derive(Default)]
struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    /// Average ranks the textbook way: sort, then give each run of equal
    /// values the mean of the positions it spans.
    fn ranks_by_sorting(values: &[f64]) -> Vec<f64> {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut ranks = vec![0.0; values.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
                end += 1;
            }
            let average = (start + end) as f64 / 2.0 + 1.0;
            for &i in &order[start..=end] {
                ranks[i] = average;
            }
            start = end + 1;
        }
        ranks
    }

    /// Pearson's r, two passes.
    fn pearson(x: &[f64], y: &[f64]) -> f64 {
        let n = x.len() as f64;
        let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
        cov / (vx * vy).sqrt()
    }

    fn spearman_by_sorting(pairs: &[(u64, u64)]) -> f64 {
        let x: Vec<f64> = pairs.iter().map(|p| p.0 as f64).collect();
        let y: Vec<f64> = pairs.iter().map(|p| p.1 as f64).collect();
        pearson(&ranks_by_sorting(&x), &ranks_by_sorting(&y))
    }

    fn r_squared_two_pass(pairs: &[(u64, u64)]) -> f64 {
        let x: Vec<f64> = pairs.iter().map(|p| (p.0.max(1) as f64).ln()).collect();
        let y: Vec<f64> = pairs.iter().map(|p| (p.1.max(1) as f64).ln()).collect();
        pearson(&x, &y).powi(2)
    }

    /// Allocation-like calls: a few sizes, many ties, latency loosely
    /// growing with size, a slow tail.
    fn calls(seed: u64, n: usize) -> Vec<(u64, u64)> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let size: u64 = [0, 8, 16, 64, 80, 4096, 8192, 1 << 20][rng.random_range(0..8)];
                let base = 10 + (size.max(1) as f64).log2() as u64 * rng.random_range(0..4);
                let tail = if rng.random_range(0..50) == 0 {
                    rng.random_range(0..100_000)
                } else {
                    0
                };
                (size, base + rng.random_range(0..30) + tail)
            })
            .collect()
    }

    fn recorded(pairs: &[(u64, u64)], kind: Kind, max_cells: usize) -> SizeLatency {
        let mut stats = SizeLatency::with_max_cells(max_cells);
        for &(size, latency) in pairs {
            stats.record(kind, size, latency);
        }
        stats
    }

    #[test]
    fn exact_spearman_and_r_squared_match_a_direct_computation() {
        for seed in 0..5 {
            let pairs = calls(seed, 3_000);
            let got = recorded(&pairs, Kind::Realloc, MAX_CELLS).of_kind(Kind::Realloc);
            assert_eq!(got.calls, 3_000);
            assert_eq!(got.significant_bits, None);
            let (rho, r2) = (got.spearman.unwrap(), got.r_squared.unwrap());
            assert!((rho - spearman_by_sorting(&pairs)).abs() < 1e-12, "{rho}");
            assert!((r2 - r_squared_two_pass(&pairs)).abs() < 1e-9, "{r2}");
            assert!(rho > 0.2 && rho < 0.9, "{rho}: a loose positive link");
        }
    }

    #[test]
    fn a_binned_table_ranks_the_binned_values_exactly() {
        let pairs = calls(7, 3_000);
        // Few cells allowed: the table must bin.
        let got = recorded(&pairs, Kind::Alloc, 150).of_kind(Kind::Alloc);
        let bits = got.significant_bits.expect("binned");
        assert!(bits < 10, "{bits}");
        let binned: Vec<(u64, u64)> = pairs
            .iter()
            .map(|&(s, l)| (bin(s, Some(bits)), bin(l, Some(bits))))
            .collect();
        let rho = got.spearman.unwrap();
        assert!((rho - spearman_by_sorting(&binned)).abs() < 1e-12);
        // R² does not depend on the table: still exact.
        assert!((got.r_squared.unwrap() - r_squared_two_pass(&pairs)).abs() < 1e-9);
    }

    #[test]
    fn all_kinds_together_match_one_table_of_every_call() {
        let pairs = calls(3, 4_000);
        let mut by_kind = SizeLatency::new();
        let mut one = SizeLatency::new();
        for (i, &(size, latency)) in pairs.iter().enumerate() {
            by_kind.record(Kind::ALL[i % 3], size, latency);
            one.record(Kind::Dealloc, size, latency);
        }
        let (all, expected) = (by_kind.of_all(), one.of_kind(Kind::Dealloc));
        assert_eq!(all.calls, 4_000);
        assert!((all.spearman.unwrap() - expected.spearman.unwrap()).abs() < 1e-12);
        assert!((all.r_squared.unwrap() - expected.r_squared.unwrap()).abs() < 1e-9);
        assert!((all.spearman.unwrap() - spearman_by_sorting(&pairs)).abs() < 1e-12);
    }

    #[test]
    fn known_values() {
        let monotone: Vec<(u64, u64)> = (1..=100).map(|i| (i * 8, i * i)).collect();
        let got = recorded(&monotone, Kind::Alloc, MAX_CELLS).of_kind(Kind::Alloc);
        assert!((got.spearman.unwrap() - 1.0).abs() < 1e-12);
        // ln(i²) = 2 ln(i) and ln(8i) = ln 8 + ln i: a perfect line.
        assert!((got.r_squared.unwrap() - 1.0).abs() < 1e-9);

        let reversed: Vec<(u64, u64)> = (1..=100).map(|i| (i, 1000 - i)).collect();
        let got = recorded(&reversed, Kind::Alloc, MAX_CELLS).of_kind(Kind::Alloc);
        assert!((got.spearman.unwrap() + 1.0).abs() < 1e-12);

        // One size: undefined, not zero.
        let one_size: Vec<(u64, u64)> = (1..=100).map(|i| (80, i)).collect();
        let got = recorded(&one_size, Kind::Alloc, MAX_CELLS).of_kind(Kind::Alloc);
        assert_eq!((got.calls, got.spearman, got.r_squared), (100, None, None));
        let none = SizeLatency::new().of_kind(Kind::Realloc);
        assert_eq!((none.calls, none.spearman, none.r_squared), (0, None, None));
    }

    #[test]
    fn bins_keep_the_most_significant_bits() {
        assert_eq!(bin(0b1011_0111, None), 0b1011_0111);
        assert_eq!(bin(0b1011_0111, Some(3)), 0b1010_0000);
        assert_eq!(bin(5, Some(3)), 5);
        assert_eq!(bin(u64::MAX, Some(1)), 1 << 63);
        assert_eq!(bin(0, Some(1)), 0);
        // Binning twice is binning once with the fewer bits.
        let v = 123_456_789;
        assert_eq!(bin(bin(v, Some(10)), Some(4)), bin(v, Some(4)));
    }

    #[test]
    fn the_table_stays_bounded_on_distinct_values() {
        let mut stats = SizeLatency::with_max_cells(1_000);
        for i in 0..200_000u64 {
            stats.record(Kind::Alloc, i * 7919 % 1_000_003, i);
        }
        let table = &stats.kinds[Kind::Alloc as usize].table;
        assert!(table.cells.len() <= 1_000);
        assert!(stats.of_kind(Kind::Alloc).significant_bits.is_some());
    }
}
