//! Small, dependency-free helpers shared by every stage.

pub mod hash;
pub mod linalg;
pub mod lock;
pub mod rng;
pub mod rss;
pub mod time;

/// `s` cut to at most `max` characters, with how much was left out: values echoed in messages
/// (a 5 MB dataset name, a 6 MB path) must not make the message itself megabytes long.
pub fn clip(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let head: String = s.chars().take(max).collect();
    format!("{head}… ({} more characters)", n - max)
}

/// A path for a message, clipped like [`clip`].
pub fn shown(p: &std::path::Path) -> String {
    clip(&p.display().to_string(), 300)
}
