//! heapsnow: a particle simulator that measures heap allocation.
#![deny(missing_docs)]

pub mod recorder;
pub mod sim;
pub mod tsv;
