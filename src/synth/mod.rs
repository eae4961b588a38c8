//! Seeded generators of corpora in their exact upstream formats (one file per corpus), used
//! for tests, the demo and benchmarks. The same seed always writes the same bytes.

pub mod lastfm_1k;

pub const CORPORA: &[&str] = &["lastfm-1k"];
