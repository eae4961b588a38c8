//! Seeded generators of corpora in their exact upstream formats (one file per corpus), used
//! for tests, the demo and benchmarks. The same seed always writes the same bytes.

pub mod agrosense;
pub mod amazon_reviews_2023;
pub mod deezer_sessions;
pub mod finn_slates;
pub mod lastfm_1k;
pub mod microlens;
pub mod movielens;
pub mod qilin;

use std::path::Path;

use crate::error::{Error, Result};

/// Every corpus with a generator, by its `source.corpus` name.
pub const CORPORA: &[&str] = &[
    "lastfm-1k",
    "microlens",
    "microlens-1m",
    "movielens",
    "movielens-1m",
    "amazon-reviews-2023",
    "agrosense",
    "deezer-sessions",
    "qilin",
    "finn-slates",
];

/// `recdata synth` options; each generator reads the ones that apply to it.
#[derive(Debug, Clone)]
pub struct SynthArgs {
    pub seed: u64,
    /// Number of users (or the corpus' main entity: sessions, samples); `None`: the generator's
    /// small default.
    pub users: Option<u32>,
    /// Mean events per user where that applies.
    pub events_per_user: Option<u32>,
    /// AgroSense: plant duplicate soil images (see `agrosense::PLANTED`).
    pub duplicates: bool,
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
        "microlens" | "microlens-1m" => {
            let variant = if corpus == "microlens" {
                crate::sources::microlens::Variant::K100
            } else {
                crate::sources::microlens::Variant::M1
            };
            Ok(serde_json::to_value(microlens::write(
                out,
                &microlens::Options {
                    variant,
                    users: a.users.unwrap_or(20),
                    events_per_user: a.events_per_user.unwrap_or(7),
                    seed: a.seed,
                    media: variant != crate::sources::microlens::Variant::M1,
                },
            )?)?)
        }
        "movielens" | "movielens-1m" => Ok(serde_json::to_value(movielens::write(
            out,
            &movielens::Options {
                variant: if corpus == "movielens" {
                    crate::sources::movielens::Variant::K100
                } else {
                    crate::sources::movielens::Variant::M1
                },
                users: a.users.unwrap_or(20),
                ratings_per_user: a.events_per_user.unwrap_or(20),
                seed: a.seed,
            },
        )?)?),
        "amazon-reviews-2023" => Ok(serde_json::to_value(amazon_reviews_2023::write(
            out,
            &amazon_reviews_2023::Options {
                category: "All_Beauty".into(),
                users: a.users.unwrap_or(20),
                reviews_per_user: a.events_per_user.unwrap_or(3),
                seed: a.seed,
            },
        )?)?),
        "agrosense" => Ok(serde_json::to_value(agrosense::write(
            out,
            &agrosense::Options {
                rows: a.users.unwrap_or(24),
                seed: a.seed,
                duplicates: a.duplicates,
            },
        )?)?),
        "deezer-sessions" => Ok(serde_json::to_value(deezer_sessions::write(
            out,
            &deezer_sessions::Options {
                users: a.users.unwrap_or(6),
                seed: a.seed,
                sessions_per_user: a.events_per_user.unwrap_or(3),
                dim: 8,
            },
        )?)?),
        "qilin" => Ok(serde_json::to_value(qilin::write(
            out,
            &qilin::Options {
                users: a.users.unwrap_or(3),
                seed: a.seed,
                json_nested: false,
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
