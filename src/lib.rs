//! recdata turns raw recommender-system corpora into training-ready, versioned, documented
//! parquet datasets.
//!
//! The pipeline is a fixed chain `source → normalize → filter → split → media → publish`,
//! described by a TOML manifest ([`manifest`]), executed by [`stages::build`], written through
//! [`io`]. Downloads, the content-addressed cache and archive safety live in [`fetch`].
//! Corpus adapters live in [`sources`], one file per corpus.

pub mod cli;
pub mod diagnose;
pub mod encode;
pub mod error;
pub mod export;
pub mod fault;
pub mod fetch;
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
pub mod manifest;
pub mod progress;
pub mod semantic;
pub mod slurm;
pub mod sources;
pub mod stages;
pub mod stats;
pub mod synth;
pub mod util;
pub mod verify;

pub use error::{Error, Result};

/// recdata's version: part of every stage fingerprint and of the HTTP user agent.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
