//! heapsnow: a particle simulator that measures heap allocation.
#![deny(missing_docs)]

pub mod backing;
pub mod recorder;
pub mod run;
pub mod sim;
pub mod stats;
pub mod tsv;
