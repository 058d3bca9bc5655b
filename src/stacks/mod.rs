//! Call stacks captured while recording: gathered by the run's sink, named
//! once the recording has ended, and written as the files that say which
//! code made the slow allocations (`slow-stacks.folded`), where allocations
//! come from (`sampled-stacks.folded`) and which stack each event of
//! `alloc.tsv` points to (`stacks.tsv`).

mod files;
mod symbolize;
mod table;

pub use files::{
    SAMPLED_FOLDED, SLOW_FOLDED, STACK_FILES, STACKS_TSV, write_folded, write_stacks_tsv,
};
pub use symbolize::{Symbolizer, is_recorder_frame};
pub use table::{StackTable, StackWeights};
