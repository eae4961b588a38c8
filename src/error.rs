//! The library's error type. Every variant says what went wrong in the user's terms (file, row,
//! key, version) and knows its exit code: 1 when the inputs are wrong, 2 when recdata could not
//! do its job.

use std::path::PathBuf;

/// Everything wrong with a manifest, rendered for people or machines. Implemented by
/// `manifest::ManifestErrors`; a trait here so that this lowest module imports nothing above it.
pub trait ManifestReport: std::fmt::Debug + std::fmt::Display + Send + Sync {
    /// The diagnostics with source snippets (`color`: ANSI styles).
    fn render(&self, color: bool) -> String;
    /// The diagnostics as JSON values (`--json`).
    fn diagnostics_json(&self) -> Vec<serde_json::Value>;
    /// The manifest file itself could not be read: the run could not start (exit 2).
    fn unreadable(&self) -> bool;
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest has errors; rendered with snippets by the CLI.
    #[error("{0}")]
    Manifest(Box<dyn ManifestReport>),

    /// I/O through `fs-err`, whose messages already name the file and the operation.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// A raw input that cannot be read at all (as opposed to bad rows, which go to `rejects`).
    #[error("{}: {message}", crate::util::shown(path))]
    BadInput { path: PathBuf, message: String },

    /// A required raw file is missing.
    #[error("missing input file `{}`\n  hint: {hint}", crate::util::shown(path))]
    MissingInput { path: PathBuf, hint: String },

    /// A published version exists with other content; published versions are immutable.
    #[error(
        "version `{version}` of `{dataset}` is already published at {path} with different content \
         (published dataset.json sha256 {published}, this build {built})\n  hint: bump `dataset.version` in the manifest; published versions are never modified"
    )]
    VersionConflict {
        dataset: String,
        version: String,
        path: PathBuf,
        published: String,
        built: String,
    },

    /// The version being built is published, but its files no longer match its dataset.json:
    /// something damaged it after publishing. recdata never repairs a published version.
    #[error(
        "version `{version}` of `{dataset}` at {path} is damaged: {}\n  recdata never modifies a \
         published version, so it was left as it is (`recdata verify {}` lists every difference)\n  \
         hint: restore it from a copy, or delete it yourself and build again (the build reproduces \
         it byte for byte), or publish the rebuilt data under a new `dataset.version`",
        findings.join("; "), path.display()
    )]
    PublishedDamaged {
        dataset: String,
        version: String,
        path: PathBuf,
        findings: Vec<String>,
    },

    /// Another build holds the dataset's lock.
    #[error(
        "{path} is held by another recdata build of this dataset; wait for it to finish (the lock is an flock: it is released the moment that process ends, so it is never stale)"
    )]
    Locked { path: PathBuf },

    /// Something the user asked for is not valid (a failed check).
    #[error("{0}")]
    Invalid(String),

    /// Something the user asked for is not available in this build of recdata.
    #[error("{0}")]
    Unsupported(String),

    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),

    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),

    #[error("json: {0}")]
    Json(#[from] serde_json::Error),

    /// A downloaded file is not the pinned content on any URL; it was not used.
    #[error(
        "checksum mismatch for `{file}`: expected {expected}, got sha256 {actual} from {url}\n  \
         the file was discarded and nothing unverified was used; if upstream changed the file on purpose, \
         update `sha256` in the manifest (or delete its entry in the .lock file)"
    )]
    ChecksumMismatch {
        file: String,
        url: String,
        expected: String,
        actual: String,
    },

    /// No URL of a file could serve it.
    #[error("could not download `{file}`:\n  {}", reasons.join("\n  "))]
    Download { file: String, reasons: Vec<String> },

    /// An archive entry that would escape its directory (or a decompression bomb).
    #[error("refusing to extract `{archive}`: entry `{entry}`: {reason}")]
    UnsafeArchive {
        archive: String,
        entry: String,
        reason: String,
    },

    /// Several independent failures (e.g. two files that could not be downloaded).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),

    /// A broken invariant: a bug in recdata, never the user's fault.
    #[error("internal error (this is a bug in recdata): {0}")]
    Internal(String),
}

impl Error {
    /// 1: the inputs are wrong (manifest, data, version conflict); 2: recdata could not run.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Manifest(e) if e.unreadable() => 2,
            Error::Manifest(_)
            | Error::BadInput { .. }
            | Error::VersionConflict { .. }
            | Error::PublishedDamaged { .. }
            | Error::Invalid(_)
            | Error::ChecksumMismatch { .. }
            | Error::UnsafeArchive { .. } => 1,
            Error::Many(v) => v.iter().map(Error::exit_code).max().unwrap_or(2),
            _ => 2,
        }
    }
}
