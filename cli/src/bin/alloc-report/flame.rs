//! Flame graphs of the call stacks a run captured, drawn by inferno from the
//! folded files beside its `alloc.tsv`: `slow-stacks.svg` (width = time in
//! the allocator) and `sampled-stacks.svg` (width = allocations). With
//! several runs each file name starts with the run's label.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self, Options};

use crate::stacks::folded::Folded;
use crate::stacks::settings::Settings;
use crate::stats::RunStats;
use crate::units::{format_count, format_ns, group_thousands};

/// Which folded file a flame graph shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Graph {
    /// `slow-stacks.folded`: weight = ns spent in slow calls.
    Slow,
    /// `sampled-stacks.folded`: weight = sampled allocations × N.
    Sampled,
}

impl Graph {
    fn file_stem(self) -> &'static str {
        match self {
            Graph::Slow => "slow-stacks",
            Graph::Sampled => "sampled-stacks",
        }
    }

    /// The title, saying what a frame's width means.
    fn title(self, settings: &Settings) -> String {
        match (self, settings.stacks_over_ns, settings.stacks_every) {
            (Graph::Slow, Some(over_ns), _) => format!(
                "Slow allocations (≥ {}): width = time spent in the allocator",
                format_ns(over_ns as f64)
            ),
            (Graph::Slow, None, _) => {
                "Slow allocations: width = time spent in the allocator".to_owned()
            }
            (Graph::Sampled, _, Some(1)) => {
                "Sampled allocations: width = allocations, every one sampled".to_owned()
            }
            (Graph::Sampled, _, Some(every)) => format!(
                "Sampled allocations: width = allocations, 1 in {} sampled",
                group_thousands(every)
            ),
            (Graph::Sampled, _, None) => {
                "Sampled allocations: width = allocations, estimated from samples".to_owned()
            }
        }
    }

    /// The line under the title: the run and what the whole width holds.
    fn subtitle(self, label: &str, folded: &Folded) -> String {
        let stacks = group_thousands(folded.lines.len() as u64);
        match self {
            Graph::Slow => format!(
                "{label}: {} in the allocator, {stacks} distinct stacks",
                format_ns(folded.total_weight as f64)
            ),
            Graph::Sampled => format!(
                "{label}: about {} allocations, {stacks} distinct stacks",
                format_count(folded.total_weight as f64)
            ),
        }
    }

    /// What a frame's tooltip counts.
    fn unit(self) -> &'static str {
        match self {
            Graph::Slow => "ns",
            Graph::Sampled => "allocations",
        }
    }

    /// Hot colours for time, green for memory, as flamegraph.pl's own.
    fn palette(self) -> Palette {
        match self {
            Graph::Slow => Palette::Basic(BasicPalette::Hot),
            Graph::Sampled => Palette::Basic(BasicPalette::Mem),
        }
    }
}

/// Draws every flame graph the runs have into `out_dir`; returns the files
/// written. Runs without folded stacks have none, and that is no error.
pub fn draw_all(runs: &[RunStats], out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (run, graphs) in runs.iter().zip(planned(runs)) {
        for (graph, folded, file_name) in graphs {
            let path = out_dir.join(file_name);
            draw(graph, &run.label, &run.stacks.settings, folded, &path)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The file names of each run's flame graphs, as [`draw_all`] writes them.
pub fn file_names(runs: &[RunStats]) -> Vec<Vec<String>> {
    planned(runs)
        .into_iter()
        .map(|graphs| graphs.into_iter().map(|(_, _, name)| name).collect())
        .collect()
}

/// Each run's flame graphs: what they show, from which stacks, in which file.
fn planned(runs: &[RunStats]) -> Vec<Vec<(Graph, &Folded, String)>> {
    runs.iter()
        .zip(file_prefixes(runs))
        .map(|(run, prefix)| {
            let stacks = &run.stacks;
            [
                (Graph::Slow, &stacks.slow_folded),
                (Graph::Sampled, &stacks.sampled_folded),
            ]
            .into_iter()
            .filter_map(|(graph, folded)| {
                let name = format!("{prefix}{}.svg", graph.file_stem());
                Some((graph, folded.as_ref()?, name))
            })
            .collect()
        })
        .collect()
}

/// What each run's file names start with: nothing for a single run, its
/// label and a dash with several (characters a file name could trip on
/// become `_`, and a label that then clashes with an earlier one gets the
/// run's position).
fn file_prefixes(runs: &[RunStats]) -> Vec<String> {
    if runs.len() == 1 {
        return vec![String::new()];
    }
    let mut prefixes: Vec<String> = Vec::with_capacity(runs.len());
    for (i, run) in runs.iter().enumerate() {
        let safe: String = run
            .label
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "-_.+=".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut prefix = format!("{safe}-");
        if prefixes.contains(&prefix) {
            prefix = format!("{safe}-{}-", i + 1);
        }
        prefixes.push(prefix);
    }
    prefixes
}

fn draw(
    graph: Graph,
    label: &str,
    settings: &Settings,
    folded: &Folded,
    path: &Path,
) -> Result<()> {
    let context = || format!("cannot draw {}", path.display());
    let file = File::create(path).with_context(context)?;
    let mut out = BufWriter::new(file);
    render(graph, label, settings, folded, &mut out).with_context(context)?;
    out.flush().with_context(context)
}

/// Writes the SVG of one flame graph.
fn render(
    graph: Graph,
    label: &str,
    settings: &Settings,
    folded: &Folded,
    out: impl Write,
) -> std::io::Result<()> {
    let mut options = Options::default();
    options.title = graph.title(settings);
    options.subtitle = Some(graph.subtitle(label, folded));
    options.count_name = graph.unit().to_owned();
    options.colors = graph.palette();
    // Colours from the names, not from a random generator: the same input
    // draws the same picture.
    options.hash = true;
    let lines: Vec<Cow<str>> = folded
        .lines
        .iter()
        .map(|line| keep_digits_in_name(line))
        .collect();
    flamegraph::from_lines(&mut options, lines.iter().map(|line| &**line), out)
}

/// inferno reads a line's last two numbers as a differential pair, so in
/// `main;frame 42 1500` it would take the frame's ` 42` for a weight. A
/// no-break space there keeps the digits in the name, which looks the same.
fn keep_digits_in_name(line: &str) -> Cow<'_, str> {
    let Some((stack, weight)) = line.rsplit_once(' ') else {
        return Cow::Borrowed(line);
    };
    match stack.rsplit_once(' ') {
        Some((head, tail))
            if tail.starts_with(|c: char| c.is_ascii_digit())
                && tail.chars().all(|c| c.is_ascii_digit() || c == '.') =>
        {
            Cow::Owned(format!("{head}\u{a0}{tail} {weight}"))
        }
        _ => Cow::Borrowed(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svg(graph: Graph, settings: &Settings, lines: &[&str]) -> String {
        let folded = Folded {
            lines: lines.iter().map(|line| (*line).to_owned()).collect(),
            total_weight: lines
                .iter()
                .map(|line| line.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
                .sum(),
        };
        let mut out = Vec::new();
        render(graph, "base", settings, &folded, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn titles_say_what_width_means() {
        let settings = Settings {
            stacks_over_ns: Some(10_000),
            stacks_every: Some(1000),
        };
        let slow = svg(
            Graph::Slow,
            &settings,
            &[
                "main;app::spawn;alloc::raw_vec::RawVec<T,A>::grow_one 1500000",
                "main;app::step 500000",
            ],
        );
        assert!(slow.contains("Slow allocations (≥ 10 µs): width = time spent in the allocator"));
        assert!(slow.contains("base: 2 ms in the allocator, 2 distinct stacks"));
        assert!(slow.contains("app::spawn (1,500,000 ns, 75.00%)"), "{slow}");
        assert!(slow.contains("alloc::raw_vec::RawVec&lt;T,A&gt;::grow_one"));
        let sampled = svg(Graph::Sampled, &settings, &["main;app::spawn 3000"]);
        assert!(sampled.contains("Sampled allocations: width = allocations, 1 in 1,000 sampled"));
        assert!(sampled.contains("app::spawn (3,000 allocations, 100.00%)"));
        let unknown = svg(Graph::Sampled, &Settings::default(), &["main 3"]);
        assert!(unknown.contains("width = allocations, estimated from samples"));
    }

    #[test]
    fn digits_at_the_end_of_a_name_stay_in_it() {
        let slow = svg(
            Graph::Slow,
            &Settings::default(),
            &["main;worker 42 1000", "main;b 3000"],
        );
        assert!(slow.contains("worker\u{a0}42 (1,000 ns, 25.00%)"), "{slow}");
        assert_eq!(keep_digits_in_name("main;f 5"), "main;f 5");
        assert_eq!(keep_digits_in_name("main;f x2 5"), "main;f x2 5");
    }

    #[test]
    fn labels_make_distinct_file_names() {
        let run = |label: &str| RunStats::new(label.to_owned(), "alloc.tsv".into());
        assert_eq!(file_prefixes(&[run("a/b")]), [""]);
        assert_eq!(
            file_prefixes(&[run("a/b"), run("a_b"), run("système 2")]),
            ["a_b-", "a_b-2-", "système_2-"]
        );
    }
}
