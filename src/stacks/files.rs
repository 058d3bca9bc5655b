//! The stack files of a run: `stacks.tsv` and the folded files flame graph
//! tools read (one line per distinct stack, frames root first separated by
//! `;`, then a space and the weight).

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{StackTable, StackWeights, Symbolizer};

/// Each stack's number and frames.
pub const STACKS_TSV: &str = "stacks.tsv";
/// The slow calls' stacks, weighted by their total latency in ns.
pub const SLOW_FOLDED: &str = "slow-stacks.folded";
/// The sampled calls' stacks, weighted by the allocations they stand for.
pub const SAMPLED_FOLDED: &str = "sampled-stacks.folded";
/// Every stack file a run writes when it captures stacks, in the order it
/// writes them.
pub const STACK_FILES: [&str; 3] = [STACKS_TSV, SLOW_FOLDED, SAMPLED_FOLDED];

/// Writes `stacks.tsv`: a header, then `number<TAB>frames` for each stack.
/// Returns each stack's frames, joined, in number order.
pub fn write_stacks_tsv(
    out: &mut impl Write,
    table: &StackTable,
    symbolizer: &mut Symbolizer,
) -> io::Result<Vec<String>> {
    writeln!(out, "stack\tframes")?;
    let mut joined = Vec::with_capacity(table.len());
    for (id, addresses, _) in table.iter() {
        let frames = symbolizer.frames(addresses).join(";");
        writeln!(out, "{id}\t{frames}")?;
        joined.push(frames);
    }
    Ok(joined)
}

/// Writes a folded file: stacks with the same frames merged, in frame order,
/// weighed by `weight` (stacks of weight 0 left out). Returns the lines written.
pub fn write_folded(
    out: &mut impl Write,
    table: &StackTable,
    joined: &[String],
    weight: impl Fn(StackWeights) -> u64,
) -> io::Result<usize> {
    let mut merged: BTreeMap<&str, u64> = BTreeMap::new();
    for ((_, _, weights), frames) in table.iter().zip(joined) {
        let weight = weight(weights);
        if weight > 0 {
            let total = merged.entry(frames.as_str()).or_default();
            *total = total.saturating_add(weight);
        }
    }
    for (frames, weight) in &merged {
        // A stack cut to nothing still weighs: name it.
        let frames = if frames.is_empty() {
            "[unknown]"
        } else {
            frames
        };
        writeln!(out, "{frames} {weight}")?;
    }
    Ok(merged.len())
}
