//! The particle world (to be written).
