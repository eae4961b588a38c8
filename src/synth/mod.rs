//! Seeded generators of corpora in their exact upstream formats (one file per corpus), used
//! for tests, the demo and benchmarks. The same seed always writes the same bytes.

pub mod finn_slates;
pub mod lastfm_1k;

use std::path::Path;

use crate::error::{Error, Result};

/// Every corpus with a generator, by its `source.corpus` name.
pub const CORPORA: &[&str] = &["lastfm-1k", "finn-slates"];

/// `recdata synth` options; each generator reads the ones that apply to it.
#[derive(Debug, Clone)]
pub struct SynthArgs {
    pub seed: u64,
    /// Number of users (or the corpus' main entity: sessions, samples); `None`: the generator's
    /// small default.
    pub users: Option<u32>,
    /// Mean events per user where that applies.
    pub events_per_user: Option<u32>,
}

/// Writes a synthetic `corpus` into `out`; returns a JSON summary of what was written.
pub fn write(corpus: &str, out: &Path, a: &SynthArgs) -> Result<serde_json::Value> {
    match corpus {
        "lastfm-1k" => Ok(serde_json::to_value(lastfm_1k::write(
            out,
            &lastfm_1k::Options {
                users: a.users.unwrap_or(20),
                seed: a.seed,
                events_per_user: a.events_per_user.unwrap_or(60),
            },
        )?)?),
        "finn-slates" => Ok(serde_json::to_value(finn_slates::write(
            out,
            &finn_slates::Options::new(a.users.unwrap_or(20), a.seed),
        )?)?),
        other => Err(Error::Invalid(format!(
            "no generator for corpus `{other}`; available: {}",
            CORPORA.join(", ")
        ))),
    }
}
