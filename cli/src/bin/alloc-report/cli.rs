//! Command-line options, turned into a plain [`Config`] before the rest of
//! the program sees them.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::{Parser, ValueEnum};

/// Turn alloc.tsv files written by heapsnow's reporting allocator into
/// charts and a markdown summary.
///
/// Writes into the output folder:
///   scatter       size against latency, log-log, drawn as a density
///   percentiles   latency by percentile per kind, HdrHistogram style
///   timeline      p50, p99 and max latency and the allocation rate over time
///   size_classes  p50 and p99 latency and call count per power-of-two size
///   lifetimes     how long objects live, from allocation to release
///   heap          live heap bytes over time, each run's peak marked
///   summary.md    count and latency percentiles per run and kind, the
///                 peak live heap and what is still live at the end, and
///                 the slowest call sites when the run captured stacks
///
/// When a run captured call stacks (particles --stacks-over, --stacks-every),
/// also SVG flame graphs of the folded files beside its alloc.tsv:
///   slow-stacks.svg     slow calls; width = time spent in the allocator
///   sampled-stacks.svg  sampled calls; width = allocations
/// (with several runs, each name starts with the run's label and a dash).
///
/// With several files, every chart and summary.md compare the runs side by
/// side; a chart's legend lists as many runs as fit in three rows. Each
/// file is read in one streaming pass; memory grows with the objects live
/// at once (16 bytes each), not with the file's length.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Turn alloc.tsv files written by heapsnow's reporting allocator into charts and a markdown summary.",
    long_about,
    verbatim_doc_comment,
    after_help = EXAMPLES
)]
pub struct Opts {
    /// alloc.tsv files to report on. Write LABEL=PATH to name a run;
    /// otherwise a run is named after the folder holding its file.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,

    /// Folder to write the charts and summary.md into (created if missing).
    #[arg(short, long, value_name = "DIR", default_value = "results/report")]
    pub out: PathBuf,

    /// Image format of the charts.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,

    /// Print nothing but warnings and errors (no progress bar).
    #[arg(short, long)]
    pub quiet: bool,
}

const EXAMPLES: &str = "\
Examples:
  alloc-report results/latest/alloc.tsv
  alloc-report --format both -o results/compare system=runs/a/alloc.tsv mimalloc=runs/b/alloc.tsv

Exit status:
  0  the charts and summary.md are written (also when stdout is a pipe
     closed early, as by `| head -1`)
  1  bad input (the error names the file and line), or a file or stdout
     that cannot be written
  2  bad options";

/// Image formats of the charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// PNG bitmaps.
    Png,
    /// SVG vector images.
    Svg,
    /// Both PNG and SVG.
    Both,
}

/// One image format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// PNG bitmap.
    Png,
    /// SVG vector image.
    Svg,
}

impl ImageFormat {
    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Svg => "svg",
        }
    }
}

/// One input file and the name it goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The run's name in charts and tables.
    pub label: String,
    /// The alloc.tsv file.
    pub path: PathBuf,
}

/// What to do, checked and resolved.
#[derive(Debug)]
pub struct Config {
    /// Input runs, in command-line order.
    pub runs: Vec<RunSpec>,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Formats to write each chart in.
    pub formats: Vec<ImageFormat>,
    /// Whether to show a progress bar (it still hides when stderr is not a terminal).
    pub progress: bool,
    /// Whether to print the list of files written.
    pub verbose: bool,
}

impl Opts {
    /// Resolves labels and formats; fails on empty or duplicate labels.
    pub fn into_config(self) -> Result<Config> {
        let runs = self
            .files
            .iter()
            .map(|arg| run_spec(arg))
            .collect::<Result<Vec<_>>>()?;
        for (i, run) in runs.iter().enumerate() {
            if let Some(other) = runs[..i].iter().find(|other| other.label == run.label) {
                bail!(
                    "two runs are named \"{}\" ({} and {}): name them with LABEL=PATH",
                    run.label,
                    other.path.display(),
                    run.path.display()
                );
            }
        }
        let formats = match self.format {
            Format::Png => vec![ImageFormat::Png],
            Format::Svg => vec![ImageFormat::Svg],
            Format::Both => vec![ImageFormat::Png, ImageFormat::Svg],
        };
        Ok(Config {
            runs,
            out_dir: self.out,
            formats,
            progress: !self.quiet,
            verbose: !self.quiet,
        })
    }
}

/// `LABEL=PATH`, or a path named after its folder. An argument that names an
/// existing file is a path even if it holds `=`.
fn run_spec(arg: &str) -> Result<RunSpec> {
    let labelled = match arg.split_once('=') {
        Some(parts) if !Path::new(arg).exists() => Some(parts),
        _ => None,
    };
    if let Some((label, path)) = labelled {
        if label.trim().is_empty() {
            bail!("\"{arg}\": the label before \"=\" is empty");
        }
        if path.is_empty() {
            bail!("\"{arg}\": the path after \"=\" is empty");
        }
        return Ok(RunSpec {
            label: label.to_owned(),
            path: PathBuf::from(path),
        });
    }
    let path = PathBuf::from(arg);
    Ok(RunSpec {
        label: folder_name(&path),
        path,
    })
}

/// The name of the folder holding `path` (`results/a/alloc.tsv` is "a"), or
/// the file's own name when it has no named folder.
fn folder_name(path: &Path) -> String {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_default(),
    };
    let parent = parent.canonicalize().unwrap_or(parent);
    parent
        .file_name()
        .or_else(|| path.file_stem())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Result<Config> {
        let mut argv = vec!["alloc-report"];
        argv.extend_from_slice(args);
        Opts::try_parse_from(argv)?.into_config()
    }

    #[test]
    fn labels_come_from_the_argument_or_the_folder() {
        let config = config(&["base=x/a/alloc.tsv", "y/b/alloc.tsv"]).unwrap();
        assert_eq!(config.runs[0].label, "base");
        assert_eq!(config.runs[0].path, Path::new("x/a/alloc.tsv"));
        assert_eq!(config.runs[1].label, "b");
        assert_eq!(config.formats, [ImageFormat::Png]);
        assert_eq!(config.out_dir, Path::new("results/report"));
    }

    #[test]
    fn duplicate_and_empty_labels_are_errors() {
        let error = config(&["x/a/alloc.tsv", "y/a/alloc.tsv"]).unwrap_err();
        assert!(error.to_string().contains("two runs are named \"a\""));
        assert!(config(&["=x/alloc.tsv"]).is_err());
        assert!(config(&[]).is_err());
    }
}
