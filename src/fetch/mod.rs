//! Acquisition: resumable verified downloads into a content-addressed cache, safe archive
//! extraction, the manifest lock file, and item media fetch.

pub mod archive;
pub mod cache;
pub mod chat;
pub mod http;
pub mod lockfile;
pub mod media;

use std::time::Duration;

use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;

pub use archive::ExtractLimits;
pub use http::HttpOptions;

/// `[source.fetch]` and `[source.extract]`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FetchConfig {
    pub http: HttpOptions,
    pub extract: ExtractLimits,
}

impl FetchConfig {
    /// Reads `[source.fetch]` / `[source.extract]` from the `[source]` table.
    pub fn read(src: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> FetchConfig {
        let mut c = FetchConfig::default();
        if let Some(mut r) = src.table(diags, "fetch") {
            read_http(&mut r, diags, &mut c.http);
            r.finish(diags);
        }
        if let Some(mut r) = src.table(diags, "extract") {
            if let Some(v) = r.int(diags, "max_bytes", 1, i64::MAX) {
                c.extract.max_bytes = v.value as u64;
            }
            if let Some(v) = r.float(diags, "max_ratio", 1.0, 1e9) {
                c.extract.max_ratio = v.value;
            }
            if let Some(v) = r.int(diags, "max_entries", 1, i64::MAX) {
                c.extract.max_entries = v.value as u64;
            }
            r.finish(diags);
        }
        c
    }
}

/// The HTTP keys shared by `[source.fetch]` and `[stages.media]`.
pub fn read_http(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>, h: &mut HttpOptions) {
    if let Some(v) = r.int(diags, "concurrency", 1, 4096) {
        h.concurrency = v.value as usize;
    }
    if let Some(v) = r.int(diags, "per_host", 1, 4096) {
        h.per_host = v.value as usize;
    }
    if let Some(v) = r.int(diags, "retries", 1, 100) {
        h.retries = v.value as u32;
    }
    if let Some(v) = r.float(diags, "connect_timeout_s", 0.001, 3600.0) {
        h.connect_timeout = Duration::from_secs_f64(v.value);
    }
    if let Some(v) = r.float(diags, "read_timeout_s", 0.001, 3600.0) {
        h.read_timeout = Duration::from_secs_f64(v.value);
    }
    if let Some(v) = r.float(diags, "backoff_s", 0.0, 3600.0) {
        h.backoff_base = Duration::from_secs_f64(v.value);
    }
    if let Some(v) = r.float(diags, "backoff_max_s", 0.0, 86400.0) {
        h.backoff_max = Duration::from_secs_f64(v.value);
    }
    if let Some(v) = r.float(diags, "retry_after_max_s", 0.0, 86400.0) {
        h.retry_after_max = Duration::from_secs_f64(v.value);
    }
    if let Some(v) = r.str(diags, "user_agent") {
        h.user_agent = v.value;
    }
}

/// The async runtime for network work: a small multi-threaded tokio runtime per run.
pub fn runtime() -> crate::error::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            crate::error::Error::Io(std::io::Error::new(
                e.kind(),
                format!("starting the network runtime: {e}"),
            ))
        })
}
