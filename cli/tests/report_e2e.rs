//! End to end: write an alloc.tsv with known content, run `alloc-report` on
//! it, and check the files it writes and the numbers in summary.md against
//! values computed here, independently, from the same events.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use heapsnow::recorder::{Event, Kind, StackRef};
use heapsnow::tsv::{HEADER, write_row};
use tempfile::TempDir;

const CHARTS: [&str; 6] = [
    "scatter",
    "percentiles",
    "timeline",
    "size_classes",
    "lifetimes",
    "heap",
];

/// A small deterministic generator (xorshift64*), so the test needs no rand.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A run of `n` events: allocations, reallocs and frees of live objects,
/// with a latency tail well past 2048 ns (where HdrHistogram rounds).
fn events(n: usize, seed: u64) -> Vec<Event> {
    let mut rng = Rng(seed);
    let mut live: Vec<(u64, u64)> = Vec::new(); // (addr, size)
    let mut next_addr = 0x1000u64;
    let mut t_ns = 0u64;
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        let latency_ns = match rng.below(1000) {
            0..=9 => 2_000 + rng.below(500_000),
            10..=99 => 300 + rng.below(2_000),
            _ => 10 + rng.below(300),
        };
        t_ns += 50 + rng.below(1_000);
        let roll = rng.below(100);
        let event = if live.is_empty() || roll < 50 {
            let size_bytes = 1 << rng.below(16) | rng.below(8);
            next_addr += 0x100;
            live.push((next_addr, size_bytes));
            Event {
                kind: if roll.is_multiple_of(10) {
                    Kind::AllocZeroed
                } else {
                    Kind::Alloc
                },
                size_bytes,
                align_bytes: 8,
                latency_ns,
                t_ns,
                thread: 1,
                addr: next_addr,
                old_addr: None,
                old_size_bytes: None,
                stack: None,
            }
        } else {
            let i = rng.below(live.len() as u64) as usize;
            let (addr, size_bytes) = live.swap_remove(i);
            if roll < 65 {
                next_addr += 0x100;
                live.push((next_addr, size_bytes * 2));
                Event {
                    kind: Kind::Realloc,
                    size_bytes: size_bytes * 2,
                    align_bytes: 8,
                    latency_ns,
                    t_ns,
                    thread: 1,
                    addr: next_addr,
                    old_addr: Some(addr),
                    old_size_bytes: None,
                    stack: None,
                }
            } else {
                Event {
                    kind: Kind::Dealloc,
                    size_bytes,
                    align_bytes: 8,
                    latency_ns,
                    t_ns,
                    thread: 2,
                    addr,
                    old_addr: None,
                    old_size_bytes: None,
                    stack: None,
                }
            }
        };
        events.push(event);
    }
    events
}

fn write_tsv(dir: &Path, name: &str, events: &[Event]) -> PathBuf {
    let path = dir.join(name).join("alloc.tsv");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = HEADER.as_bytes().to_vec();
    for event in events {
        write_row(&mut out, event);
    }
    std::fs::write(&path, out).unwrap();
    path
}

/// Nearest-rank percentile of sorted values: the value at rank ⌈q·n⌉.
fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

/// HdrHistogram (3 significant digits) reports the top of the bucket
/// holding the exact value: equal below 2048, at most 1/1024 above past it.
fn assert_close(what: &str, reported: u64, exact: u64) {
    assert!(
        reported >= exact && reported <= exact + exact / 1024,
        "{what}: summary says {reported}, exact value {exact}"
    );
}

/// The cells of the markdown table row starting with `| first |` after the
/// line `after`.
fn table_row(summary: &str, after: &str, first: &str) -> Vec<String> {
    let start = summary
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in summary:\n{summary}"));
    let prefix = format!("| {first} |");
    let line = summary[start..]
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no row {first:?} after {after:?}:\n{summary}"));
    line.trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

fn number(cell: &str) -> u64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a number"))
}

fn run_report(out: &Path, args: &[&str]) -> String {
    let assert = Command::cargo_bin("alloc-report")
        .unwrap()
        .arg("--out")
        .arg(out)
        .args(args)
        .assert()
        .success();
    // Not a terminal: no progress bar, only the list of files written.
    let output = assert.get_output();
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn check_summary_against(summary: &str, label: &str, events: &[Event]) {
    for kind in Kind::ALL {
        let mut latencies: Vec<u64> = events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.latency_ns)
            .collect();
        latencies.sort_unstable();
        let row = table_row(summary, &format!("### {label}\n"), kind.as_str());
        assert_eq!(
            number(&row[1]),
            latencies.len() as u64,
            "{label} {kind} count"
        );
        for (cell, q) in row[2..7].iter().zip([0.5, 0.9, 0.99, 0.999, 0.9999]) {
            let what = format!("{label} {kind} p{}", q * 100.0);
            assert_close(&what, number(cell), exact_quantile(&latencies, q));
        }
        assert_eq!(
            number(&row[7]),
            *latencies.last().unwrap(),
            "{label} {kind} max"
        );
        let mean = latencies.iter().sum::<u64>() as f64 / latencies.len() as f64;
        let reported_mean: f64 = row[8].parse().unwrap();
        assert!(
            (reported_mean - mean).abs() <= 0.05,
            "{label} {kind} mean {reported_mean} vs {mean}"
        );
    }

    // Lifetimes, paired here by address.
    let mut born: HashMap<u64, u64> = HashMap::new();
    let mut lives = Vec::new();
    for e in events {
        if let Some(old) = e.old_addr {
            lives.push(e.t_ns - born.remove(&old).unwrap());
        }
        match e.kind {
            Kind::Dealloc => lives.push(e.t_ns - born.remove(&e.addr).unwrap()),
            _ => {
                born.insert(e.addr, e.t_ns);
            }
        }
    }
    lives.sort_unstable();
    let row = table_row(summary, "## Object lifetimes", label);
    assert_eq!(number(&row[1]), lives.len() as u64);
    for (cell, q) in row[2..5].iter().zip([0.5, 0.9, 0.99]) {
        assert_close(
            &format!("{label} lifetime p{}", q * 100.0),
            number(cell),
            exact_quantile(&lives, q),
        );
    }
    assert_close(
        &format!("{label} lifetime max"),
        number(&row[5]),
        *lives.last().unwrap(),
    );
    assert_eq!(number(&row[6]), born.len() as u64, "still live");
    assert_eq!(number(&row[7]), 0, "frees without an allocation");

    check_heap_against(summary, label, events);
    check_correlations_against(summary, label, events);
}

/// What the Heap table should say: (peak bytes, peak t_ns, bytes live at
/// the end, objects live at the end, largest sizes live at the end),
/// followed here with a plain map of address to size.
fn expected_heap(events: &[Event]) -> (u64, u64, u64, usize, String) {
    let mut live: HashMap<u64, u64> = HashMap::new();
    let (mut bytes, mut peak, mut peak_t_ns) = (0u64, 0u64, 0u64);
    for e in events {
        let succeeded = e.addr != 0;
        let freed = match e.kind {
            Kind::Dealloc => Some(e.addr),
            Kind::Realloc if succeeded => e.old_addr,
            _ => None,
        };
        if let Some(size) = freed.and_then(|addr| live.remove(&addr)) {
            bytes -= size;
        }
        if e.kind != Kind::Dealloc && succeeded {
            bytes += e.size_bytes;
            live.insert(e.addr, e.size_bytes);
        }
        if bytes > peak {
            (peak, peak_t_ns) = (bytes, e.t_ns);
        }
    }
    let mut sizes: Vec<u64> = live.values().copied().collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut largest: Vec<(u64, u64)> = Vec::new();
    for size in sizes {
        if let Some((last, count)) = largest.last_mut()
            && *last == size
        {
            *count += 1;
        } else if largest.len() == 5 {
            break;
        } else {
            largest.push((size, 1));
        }
    }
    let largest = largest
        .iter()
        .map(|(size, count)| format!("{count} × {size} B"))
        .collect::<Vec<_>>()
        .join("; ");
    (peak, peak_t_ns, bytes, live.len(), largest)
}

/// The first number of a cell: `79770 (77.9 KiB)` is 79770.
fn leading_number(cell: &str) -> u64 {
    number(cell.split(' ').next().unwrap())
}

fn check_heap_against(summary: &str, label: &str, events: &[Event]) {
    let (peak, peak_t_ns, end_bytes, end_objects, largest) = expected_heap(events);
    let row = table_row(summary, "## Heap", label);
    assert_eq!(leading_number(&row[1]), peak, "{label} peak live bytes");
    assert_eq!(leading_number(&row[2]), peak_t_ns, "{label} peak at");
    assert_eq!(
        leading_number(&row[3]),
        end_bytes,
        "{label} live bytes at end"
    );
    assert_eq!(
        number(&row[4]),
        end_objects as u64,
        "{label} objects at end"
    );
    // Sizes are written with thousands separators.
    assert_eq!(row[5].replace(',', ""), largest, "{label} largest live");
}

/// The file a recorder wrote before `old_bytes` existed: the first eight
/// columns only.
fn without_old_sizes(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| line.split('\t').take(8).collect::<Vec<_>>().join("\t") + "\n")
        .collect()
}

/// Average ranks the textbook way: sort, and give each run of equal values
/// the mean of the positions it spans.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        for &i in &order[start..=end] {
            ranks[i] = (start + end) as f64 / 2.0 + 1.0;
        }
        start = end + 1;
    }
    ranks
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// Spearman's ρ and the log-log R² in summary.md, per kind and over all
/// calls, against a direct O(n log n) computation from the events.
fn check_correlations_against(summary: &str, label: &str, events: &[Event]) {
    let kinds = Kind::ALL.map(|kind| (kind.as_str(), Some(kind)));
    for (name, kind) in kinds.into_iter().chain([("all calls", None)]) {
        let calls: Vec<&Event> = events
            .iter()
            .filter(|e| kind.is_none_or(|k| e.kind == k))
            .collect();
        let sizes: Vec<f64> = calls.iter().map(|e| e.size_bytes as f64).collect();
        let latencies: Vec<f64> = calls.iter().map(|e| e.latency_ns as f64).collect();
        let rho = pearson(&average_ranks(&sizes), &average_ranks(&latencies));
        let log = |v: &[f64]| v.iter().map(|x| x.max(1.0).ln()).collect::<Vec<_>>();
        let r_squared_percent = 100.0 * pearson(&log(&sizes), &log(&latencies)).powi(2);

        let row = table_row(
            summary,
            "## Does size predict latency?",
            &format!("{label} | {name}"),
        );
        assert_eq!(number(&row[2]), calls.len() as u64, "{label} {name} calls");
        let reported_rho: f64 = row[3].parse().unwrap();
        assert!(
            (reported_rho - rho).abs() <= 0.0005 + 1e-9,
            "{label} {name}: ρ {reported_rho} in summary.md, {rho} computed"
        );
        let reported_r2: f64 = row[4].trim_end_matches(" %").parse().unwrap();
        assert!(
            (reported_r2 - r_squared_percent).abs() <= 0.05 + 1e-9,
            "{label} {name}: R² {reported_r2} % in summary.md, {r_squared_percent} % computed"
        );
        assert_eq!(row[5], "exact", "{label} {name}");
    }
}

#[test]
fn size_latency_correlation_matches_a_direct_computation() {
    // Latency loosely growing with size, as the book's figure suggests it
    // might: the report must find that link, with the right strength.
    let mut rng = Rng(99);
    let events: Vec<Event> = events(20_000, 11)
        .into_iter()
        .map(|mut e| {
            let log_size = 64 - e.size_bytes.leading_zeros() as u64;
            e.latency_ns = 10 + log_size * rng.below(20) + rng.below(40);
            e
        })
        .collect();
    let dir = TempDir::new().unwrap();
    let tsv = write_tsv(dir.path(), "linked", &events);
    let out = dir.path().join("report");
    run_report(&out, &[tsv.to_str().unwrap()]);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    check_correlations_against(&summary, "linked", &events);
    let row = table_row(&summary, "## Does size predict latency?", "linked | alloc");
    let rho: f64 = row[3].parse().unwrap();
    assert!(rho > 0.3, "a clear link: ρ = {rho}");
}

#[test]
fn one_run_gives_every_chart_and_exact_counts() {
    let dir = TempDir::new().unwrap();
    let events = events(30_000, 7);
    let tsv = write_tsv(dir.path(), "baseline", &events);
    let out = dir.path().join("report");
    let stdout = run_report(&out, &[tsv.to_str().unwrap()]);

    for chart in CHARTS {
        let path = out.join(format!("{chart}.png"));
        assert!(stdout.contains(&path.display().to_string()), "{stdout}");
        assert_eq!(png_size(&path), (1280, 800), "{chart}");
        assert!(!out.join(format!("{chart}.svg")).exists());
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("| baseline | `"),
        "the run is named after its folder"
    );
    assert!(summary.contains("HdrHistogram with 3 significant digits"));
    assert!(!summary.contains("## Comparison"));
    check_summary_against(&summary, "baseline", &events);
}

#[test]
fn two_runs_are_compared_in_every_chart_and_side_by_side() {
    let dir = TempDir::new().unwrap();
    let first = events(20_000, 1);
    let second = events(12_000, 2);
    let a = write_tsv(dir.path(), "a", &first);
    let b = write_tsv(dir.path(), "b", &second);
    let out = dir.path().join("report");
    run_report(
        &out,
        &[
            "--format",
            "both",
            &format!("system={}", a.display()),
            &format!("mimalloc={}", b.display()),
        ],
    );

    for chart in CHARTS {
        assert_eq!(png_size(&out.join(format!("{chart}.png"))), (1280, 800));
        let svg = std::fs::read_to_string(out.join(format!("{chart}.svg"))).unwrap();
        assert!(svg.len() < 1_500_000, "{chart}.svg is {} bytes", svg.len());
        for label in ["system", "mimalloc"] {
            assert!(
                svg.contains(label),
                "{chart}.svg does not show the run {label}"
            );
        }
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    check_summary_against(&summary, "system", &first);
    check_summary_against(&summary, "mimalloc", &second);

    // Side by side: one column per run, then the ratio to the first run.
    assert!(summary.contains("| kind | statistic | system | mimalloc | mimalloc / system |"));
    let count = |events: &[Event]| events.iter().filter(|e| e.kind == Kind::Alloc).count();
    let row = {
        let start = summary.find("## Comparison").unwrap();
        summary[start..]
            .lines()
            .find(|line| line.starts_with("| alloc | count |"))
            .unwrap()
            .to_owned()
    };
    let ratio = count(&second) as f64 / count(&first) as f64;
    assert_eq!(
        row,
        format!(
            "| alloc | count | {} | {} | {ratio:.2} |",
            count(&first),
            count(&second)
        )
    );
}

#[test]
fn the_heap_follows_allocations_frees_and_reallocs_to_its_peak() {
    let event = |kind, size_bytes, t_ns, addr, old: Option<(u64, u64)>| Event {
        kind,
        size_bytes,
        align_bytes: 8,
        latency_ns: 100,
        t_ns,
        thread: 1,
        addr,
        old_addr: old.map(|(addr, _)| addr),
        old_size_bytes: old.map(|(_, size)| size),
        stack: None,
    };
    let events = [
        event(Kind::Alloc, 1_024, 1_000, 0x1000, None),
        event(Kind::AllocZeroed, 4_096, 2_000, 0x2000, None),
        // Moved and grown: 1 KiB out, 8 KiB in. The peak: 12 KiB.
        event(Kind::Realloc, 8_192, 3_000, 0x3000, Some((0x1000, 1_024))),
        // Allocated before the recording: nothing to take off.
        event(Kind::Dealloc, 500, 4_000, 0x9000, None),
        // Failed calls: nothing allocated, the old block stays.
        event(Kind::Alloc, 1 << 40, 5_000, 0, None),
        event(Kind::Realloc, 1 << 40, 6_000, 0, Some((0x2000, 4_096))),
        event(Kind::Dealloc, 4_096, 7_000, 0x2000, None),
        event(Kind::Alloc, 16, 8_000, 0x4000, None),
        event(Kind::Alloc, 16, 9_000, 0x5000, None),
    ];
    let dir = TempDir::new().unwrap();
    let current = write_tsv(dir.path(), "current", &events);
    let old = dir.path().join("old").join("alloc.tsv");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    std::fs::write(&old, without_old_sizes(&current)).unwrap();
    let out = dir.path().join("report");
    run_report(
        &out,
        &[
            "--format",
            "both",
            current.to_str().unwrap(),
            old.to_str().unwrap(),
        ],
    );

    assert_eq!(png_size(&out.join("heap.png")), (1280, 800));
    let svg = std::fs::read_to_string(out.join("heap.svg")).unwrap();
    assert!(svg.contains("peak 12 KiB"), "the peak is labelled");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    // A file without old sizes is followed as exactly.
    for label in ["current", "old"] {
        let row = table_row(&summary, "## Heap", label);
        assert_eq!(
            row[1..],
            [
                "12288 (12 KiB)",
                "3000 (3 µs)",
                "8224 (8.03 KiB)",
                "3",
                "1 × 8,192 B; 2 × 16 B"
            ],
            "{label}"
        );
        check_heap_against(&summary, label, &events);
    }
}

#[test]
fn a_million_points_make_a_small_svg() {
    // The scatter chart aggregates: its size does not grow with the events.
    let dir = TempDir::new().unwrap();
    let events = events(1_000_000, 3);
    let tsv = write_tsv(dir.path(), "big", &events);
    let out = dir.path().join("report");
    run_report(&out, &["--quiet", "--format", "svg", tsv.to_str().unwrap()]);
    let svg_bytes = std::fs::metadata(out.join("scatter.svg")).unwrap().len();
    assert!(svg_bytes < 1_500_000, "scatter.svg is {svg_bytes} bytes");
}

#[test]
fn extreme_but_valid_values_are_drawn() {
    // Debug builds check overflow: a chart mapping a value off its axis panics.
    let event = |kind, size_bytes, latency_ns, t_ns, addr, old_addr| Event {
        kind,
        size_bytes,
        align_bytes: 8,
        latency_ns,
        t_ns,
        thread: u32::MAX,
        addr,
        old_addr,
        old_size_bytes: old_addr.map(|_| u64::MAX),
        stack: None,
    };
    let dir = TempDir::new().unwrap();
    let extreme = write_tsv(
        dir.path(),
        "extreme",
        &[
            event(Kind::Alloc, u64::MAX, u64::MAX, u64::MAX, u64::MAX, None),
            event(Kind::Realloc, 1, 1, 0, 0x10, Some(0x20)),
            event(Kind::AllocZeroed, 0, 0, 3, 0, None),
            event(Kind::Dealloc, 0, 0, 5, 0x10, None),
        ],
    );
    let frees_only = write_tsv(
        dir.path(),
        "frees-only",
        &[
            event(Kind::Dealloc, 0, 0, 0, 0, None),
            event(Kind::Dealloc, 0, 0, 0, 0, None),
        ],
    );
    let single = write_tsv(
        dir.path(),
        "single",
        &[event(Kind::Alloc, 16, 42, 0, 0x10, None)],
    );
    let out = dir.path().join("report");
    let files = [&extreme, &frees_only, &single].map(|path| path.to_str().unwrap().to_owned());
    let mut args = vec!["--format", "both"];
    args.extend(files.iter().map(String::as_str));
    run_report(&out, &args);
    for chart in CHARTS {
        assert_eq!(png_size(&out.join(format!("{chart}.png"))), (1280, 800));
        assert!(out.join(format!("{chart}.svg")).exists());
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let row = table_row(&summary, "### extreme\n", "alloc");
    assert_eq!(row[7], u64::MAX.to_string(), "max is exact");
    assert_eq!(row[8], format!("{}.0", u64::MAX), "mean is exact");
    let row = table_row(&summary, "### single\n", "dealloc");
    assert_eq!(row[1..], ["0", "–", "–", "–", "–", "–", "–", "–"]);

    // Alone, a run whose every call starts and ends at 0 ns.
    run_report(&dir.path().join("report-0"), &[&files[1]]);
}

#[test]
fn reports_on_a_real_particles_run() {
    let dir = TempDir::new().unwrap();
    let run = dir.path().join("run");
    Command::new(env!("CARGO_BIN_EXE_particles"))
        .args(["--headless", "--frames", "300", "--seed", "1", "--out"])
        .arg(&run)
        .arg("--quiet")
        .assert()
        .success();
    let out = dir.path().join("report");
    run_report(&out, &[run.join("alloc.tsv").to_str().unwrap()]);
    for chart in CHARTS {
        assert_eq!(png_size(&out.join(format!("{chart}.png"))), (1280, 800));
    }

    // The report counts what the simulator says it wrote.
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let mut total = 0;
    for kind in ["alloc", "realloc", "dealloc"] {
        let row = table_row(&summary, "### run\n", kind);
        let count = number(&row[1]);
        assert!(count > 0, "a particles run has {kind} calls");
        assert_eq!(
            Some(count),
            json["kinds"][kind]["count"].as_u64(),
            "{kind} count"
        );
    }
    for kind in Kind::ALL {
        if let Some(row) = summary
            .lines()
            .find(|line| line.starts_with(&format!("| {kind} | ")))
        {
            total += number(row.split('|').nth(2).unwrap().trim());
        }
    }
    assert_eq!(Some(total), json["events_written"].as_u64());
}

/// Runs alloc-report on `args` with a watchdog; asserts it succeeded.
fn report_within(out: &Path, args: &[String], limit: std::time::Duration) {
    Command::cargo_bin("alloc-report")
        .unwrap()
        .arg("--quiet")
        .arg("--out")
        .arg(out)
        .args(args)
        .timeout(limit)
        .assert()
        .success();
    for chart in CHARTS {
        assert_eq!(png_size(&out.join(format!("{chart}.png"))), (1280, 800));
    }
}

#[test]
fn many_runs_finish_with_a_bounded_legend() {
    let dir = TempDir::new().unwrap();
    let events = events(200, 3);
    let tsv = write_tsv(dir.path(), "one", &events);
    let tsv = tsv.display().to_string();
    // 110 runs: the legend once grew without bound and the plot area
    // under it went negative (a hang in release, a panic in debug).
    let many: Vec<String> = (0..110).map(|i| format!("run{i}={tsv}")).collect();
    let out = dir.path().join("many");
    report_within(&out, &many, std::time::Duration::from_secs(60));
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("| run109 |"), "every run is in summary.md");
    // 30 runs with labels of about 50 characters.
    let long: Vec<String> = (0..30)
        .map(|i| format!("a-rather-long-label-for-run-number-{i:02}-with-more-words={tsv}"))
        .collect();
    report_within(
        &dir.path().join("long"),
        &long,
        std::time::Duration::from_secs(60),
    );
}

/// The frames of the fixture's captured stacks, root first, as `stacks.tsv`
/// lists them. Stack 4 is used by an event but missing from the file.
const STACKS: [(u32, &str); 4] = [
    (
        1,
        "main;heapsnow_cli::sim::World::step;heapsnow_cli::sim::World::spawn;\
         alloc::raw_vec::RawVec<T,A>::grow_one;alloc::raw_vec::finish_grow",
    ),
    (
        2,
        "main;heapsnow_cli::sim::World::step;\
         <alloc::vec::Vec<T> as core::clone::Clone>::clone;alloc::alloc::alloc",
    ),
    (3, "main;heapsnow_cli::sim::World::new;alloc::alloc::alloc"),
    (
        5,
        "main;heapsnow_cli::sim::World::step;heapsnow_cli::sim::World::spawn;\
         hashbrown::raw::RawTable<T>::reserve_rehash",
    ),
];

/// Captured as with `--stacks-every 1000`.
const EVERY: u64 = 1000;

/// A run folder as a run with `--stacks-over 10us --stacks-every 1000`
/// leaves it: alloc.tsv whose last events have stacks, stacks.tsv, both
/// folded files and summary.json. Returns alloc.tsv's path and its events.
fn write_run_with_stacks(dir: &Path, name: &str) -> (PathBuf, Vec<Event>) {
    let mut events = events(5_000, 21);
    let end_ns = events.last().unwrap().t_ns;
    // (stack, slow, sampled, latency)
    let stacked = [
        (1, true, false, 20_000),
        (1, true, false, 30_000),
        (1, true, true, 100_000),
        (5, true, false, 50_000),
        (2, true, true, 500_000),
        (4, true, false, 15_000),
        (3, false, true, 40),
        (3, false, true, 60),
    ];
    for (i, (id, slow, sampled, latency_ns)) in stacked.into_iter().enumerate() {
        events.push(Event {
            kind: Kind::Alloc,
            size_bytes: 64,
            align_bytes: 8,
            latency_ns,
            t_ns: end_ns + 1_000 * (i as u64 + 1),
            thread: 1,
            addr: 0x9000_0000 + 0x100 * i as u64,
            old_addr: None,
            old_size_bytes: None,
            stack: Some(StackRef { id, slow, sampled }),
        });
    }
    let tsv = write_tsv(dir, name, &events);
    let run = tsv.parent().unwrap();

    let mut stacks_tsv = String::from("stack\tframes\n");
    for (id, frames) in STACKS {
        stacks_tsv.push_str(&format!("{id}\t{frames}\n"));
    }
    std::fs::write(run.join("stacks.tsv"), stacks_tsv).unwrap();
    // The folded files, weighed from the events as the recorder does.
    let mut slow: HashMap<u32, u64> = HashMap::new();
    let mut sampled: HashMap<u32, u64> = HashMap::new();
    for event in &events {
        let Some(stack) = event.stack else { continue };
        if stack.slow {
            *slow.entry(stack.id).or_default() += event.latency_ns;
        }
        if stack.sampled {
            *sampled.entry(stack.id).or_default() += EVERY;
        }
    }
    for (file, weights) in [
        ("slow-stacks.folded", slow),
        ("sampled-stacks.folded", sampled),
    ] {
        let folded: String = STACKS
            .iter()
            .filter_map(|(id, frames)| Some(format!("{frames} {}\n", weights.get(id)?)))
            .collect();
        std::fs::write(run.join(file), folded).unwrap();
    }
    std::fs::write(
        run.join("summary.json"),
        format!(r#"{{"stacks_over_ns": 10000, "stacks_every": {EVERY}}}"#),
    )
    .unwrap();
    (tsv, events)
}

/// Every row of the slowest call sites table under `### label`.
fn call_site_rows(summary: &str, label: &str) -> Vec<Vec<String>> {
    let section = &summary[summary
        .find("## Slowest call sites")
        .unwrap_or_else(|| panic!("no call sites in summary:\n{summary}"))..];
    let run = &section[section.find(&format!("### {label}\n")).unwrap()..];
    run.lines()
        .skip_while(|line| !line.starts_with("| call site |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn captured_stacks_give_flame_graphs_and_the_slowest_call_sites() {
    let dir = TempDir::new().unwrap();
    let (tsv, events) = write_run_with_stacks(dir.path(), "stacked");
    let out = dir.path().join("report");
    let stdout = run_report(&out, &[tsv.to_str().unwrap()]);

    let slow_svg = out.join("slow-stacks.svg");
    let sampled_svg = out.join("sampled-stacks.svg");
    for path in [&slow_svg, &sampled_svg] {
        assert!(stdout.contains(&path.display().to_string()), "{stdout}");
    }
    let slow = std::fs::read_to_string(&slow_svg).unwrap();
    for part in [
        "Slow allocations (≥ 10 µs): width = time spent in the allocator",
        // Every slow call with a listed stack: 150 + 500 + 50 µs.
        "all (700,000 ns, 100%)",
        "heapsnow_cli::sim::World::spawn (200,000 ns, 28.57%)",
        "alloc::raw_vec::RawVec&lt;T,A&gt;::grow_one",
        "hashbrown::raw::RawTable&lt;T&gt;::reserve_rehash",
    ] {
        assert!(slow.contains(part), "{part:?} not in slow-stacks.svg");
    }
    assert!(!slow.contains("World::new"), "a sampled-only stack");
    let sampled = std::fs::read_to_string(&sampled_svg).unwrap();
    for part in [
        "Sampled allocations: width = allocations, 1 in 1,000 sampled",
        "all (4,000 allocations, 100%)",
        "heapsnow_cli::sim::World::new (2,000 allocations, 50.00%)",
    ] {
        assert!(sampled.contains(part), "{part:?} not in sampled-stacks.svg");
    }

    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains(
            "8 of 5,008 events had their call stack captured: 6 slow (≥ 10 µs), \
             4 sampled (1 in 1,000), 2 of them both."
        ),
        "{summary}"
    );
    assert!(summary.contains("[slow-stacks.svg](slow-stacks.svg)"));
    let all_ns: u64 = events.iter().map(|e| e.latency_ns).sum();
    let share = |ns: u64| format!("{:.1} %", 100.0 * ns as f64 / all_ns as f64);
    assert_eq!(
        call_site_rows(&summary, "stacked"),
        [
            [
                "`heapsnow_cli::sim::World::step`".to_owned(),
                "1".to_owned(),
                "500 µs".to_owned(),
                "500 µs".to_owned(),
                share(500_000),
            ],
            [
                "`heapsnow_cli::sim::World::spawn`".to_owned(),
                "4".to_owned(),
                "200 µs".to_owned(),
                "100 µs".to_owned(),
                share(200_000),
            ],
            [
                "(unknown stack)".to_owned(),
                "1".to_owned(),
                "15 µs".to_owned(),
                "15 µs".to_owned(),
                share(15_000),
            ],
        ]
    );
}

#[test]
fn compared_runs_each_get_their_own_flame_graphs() {
    let dir = TempDir::new().unwrap();
    let (stacked, _) = write_run_with_stacks(dir.path(), "stacked");
    let plain = write_tsv(dir.path(), "plain", &events(2_000, 5));
    let out = dir.path().join("report");
    run_report(
        &out,
        &[
            &format!("with stacks={}", stacked.display()),
            plain.to_str().unwrap(),
        ],
    );
    for graph in ["slow", "sampled"] {
        assert!(out.join(format!("with_stacks-{graph}-stacks.svg")).exists());
        assert!(!out.join(format!("plain-{graph}-stacks.svg")).exists());
        assert!(!out.join(format!("{graph}-stacks.svg")).exists());
    }
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert_eq!(call_site_rows(&summary, "with stacks").len(), 3);
    let section = &summary[summary.find("## Slowest call sites").unwrap()..];
    assert!(!section.contains("### plain"), "{section}");
}

#[test]
fn a_run_without_stacks_has_no_flame_graph_and_no_error() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("report");
    // No stack files at all: an older run, or another program's.
    let plain = write_tsv(dir.path(), "plain", &events(2_000, 5));
    let stdout = run_report(&out, &[plain.to_str().unwrap()]);
    assert!(!stdout.contains("stacks.svg"), "{stdout}");
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(!summary.contains("## Slowest call sites"), "{summary}");

    // Stacks asked for, none captured: empty folded files, no stacks.tsv.
    let requested = write_tsv(dir.path(), "requested", &events(2_000, 6));
    let run = requested.parent().unwrap();
    std::fs::write(run.join("slow-stacks.folded"), "").unwrap();
    std::fs::write(run.join("sampled-stacks.folded"), "\n").unwrap();
    std::fs::write(
        run.join("summary.json"),
        r#"{"stacks_over_ns": 1000000000, "stacks_every": null}"#,
    )
    .unwrap();
    let out = dir.path().join("report-requested");
    let stdout = run_report(&out, &[requested.to_str().unwrap()]);
    assert!(!stdout.contains("stacks.svg"), "{stdout}");
    let flame_graphs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".svg"))
        .collect();
    assert_eq!(flame_graphs, Vec::<String>::new());
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(
        summary.contains("0 of 2,000 events had their call stack captured."),
        "{summary}"
    );
}
