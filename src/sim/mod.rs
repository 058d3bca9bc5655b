//! The particle world: snow-like particles rising from the bottom edge and
//! fading, born and removed at random every frame.

mod particle;

pub use particle::{HEIGHT, Particle, WIDTH};
