//! Small, dependency-free helpers shared by every stage.

pub mod hash;
pub mod input;
pub mod linalg;
pub mod lock;
pub mod rng;
pub mod rss;
pub mod time;
