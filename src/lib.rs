//! recdata turns raw recommender-system corpora into training-ready, versioned, documented
//! parquet datasets.
//!
//! A build resolves a TOML manifest ([`stages::manifest`]), makes a plan ([`stages::plan`]:
//! every stage with its fingerprint, cache state and why it runs) and executes it
//! ([`stages::build`]): `normalize → filter → split → media → caption → encode → semantic_ids →
//! diagnostics → publish`, each stage through one bookkeeping step.
//!
//! ## Module map
//!
//! Layers, bottom to top; a module uses only modules of lower layers (checked by
//! `tests/it/layers.rs`, which holds the same table):
//!
//! | layer | modules | job |
//! | --- | --- | --- |
//! | 0 | [`util`], [`progress`] | hashing, rng, clocks, linear algebra; progress bars and events |
//! | 1 | [`error`] | the error type and exit codes |
//! | 2 | [`io`], [`fault`] | bytes and tables in and out (parquet, npy, lines, the stage store, the card, Croissant); fault injection points |
//! | 3 | [`manifest`] | the spanned-TOML toolkit: includes, diagnostics with file:line, the `[dataset]` header |
//! | 4 | [`fetch`], [`encode`], [`semantic`], [`stats`], [`slurm`], [`export`] | downloads and the content-addressed cache; ONNX encoders and the model registry; semantic ids; statistics; Slurm scripts; RecBole export |
//! | 5 | [`sources`], [`diagnose`] | the corpus adapters; diagnostics and the report |
//! | 6 | [`synth`], [`verify`] | byte-exact synthetic corpora; checking a published version |
//! | 7 | [`stages`] | the whole manifest, the plan and its execution |
//! | 8 | [`fuzzing`] | the fuzz targets' entry points |
//! | 9 | [`cli`] | arguments, settings, one file per command |
//!
//! Each section of a manifest is read by the module that owns it (`[source]` by the adapter
//! and [`fetch`], `[stages.*]` by each stage, `[slurm]` by [`slurm`], `[models.*]` by
//! [`encode`]) through the toolkit of [`manifest`], which knows none of them.

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
