//! Resumable, verified HTTP(S) downloads of raw corpus files.
//!
//! One file = an ordered list of URLs (the primary, then mirrors). Each URL gets up to
//! `retries` attempts; an attempt continues the URL's partial file with `Range: bytes=N-` and,
//! when the server gave a validator, `If-Range` so a changed file restarts instead of being
//! spliced. 429 and 503 wait for `Retry-After`; other transient failures (5xx, 408, resets,
//! timeouts, a body shorter than `Content-Length`) back off exponentially with jitter (0.5–1 × the cap); a
//! definite answer (404, 403, ...) moves on to the next mirror at once, as does a finished file
//! whose size or sha256 is not the pinned one. Nothing unverified ever leaves this module: a file
//! is returned only after it is hashed and moved into the content-addressed cache.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::fetch::cache::Cache;
use crate::progress::Reporter;
use crate::util::hash::sha256_file;
use crate::util::rng::Rng;

/// How downloads behave; `[source.fetch]` in a manifest, flags on `recdata fetch`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HttpOptions {
    /// Simultaneous downloads overall.
    pub concurrency: usize,
    /// Simultaneous downloads from one host.
    pub per_host: usize,
    /// Attempts per URL before moving on to the next mirror.
    pub retries: u32,
    pub connect_timeout: Duration,
    /// Longest wait for the response headers or for the next body bytes.
    pub read_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// `Retry-After` longer than this is capped (a server asking for an hour is not waited on).
    pub retry_after_max: Duration,
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            concurrency: 4,
            per_host: 2,
            retries: 5,
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            retry_after_max: Duration::from_secs(300),
            // Some corpus hosts (MicroLens) answer 403 to library default agents.
            user_agent: format!(
                "recdata/{} (+https://github.com/recdata)",
                crate::TOOL_VERSION
            ),
        }
    }
}

impl HttpOptions {
    /// Exponential backoff with jitter: uniform in [cap/2, cap], cap = min(max, base * 2^attempt).
    pub fn backoff(&self, attempt: u32, jitter: &Mutex<Rng>) -> Duration {
        let cap = self
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.backoff_max);
        let f = jitter.lock().expect("rng poisoned").next_f64();
        cap.mul_f64(0.5 + 0.5 * f)
    }
}

/// Builds the one HTTP client a run uses (rustls, system roots, connection pooling).
pub fn client(o: &HttpOptions) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(o.connect_timeout)
        .user_agent(o.user_agent.clone())
        .pool_max_idle_per_host(o.per_host.max(1) * 4)
        .build()
        .map_err(|e| Error::Unsupported(format!("cannot build the HTTP client: {e}")))
}

/// Concurrency caps: one overall, one per host.
pub struct Limits {
    global: Arc<Semaphore>,
    per_host: usize,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Limits {
    pub fn new(global: usize, per_host: usize) -> Self {
        Limits {
            global: Arc::new(Semaphore::new(global.max(1))),
            per_host: per_host.max(1),
            hosts: Mutex::new(HashMap::new()),
        }
    }

    pub async fn acquire(&self, host: &str) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        let h = {
            let mut m = self.hosts.lock().expect("host limits poisoned");
            m.entry(host.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
                .clone()
        };
        // Host first: a slot overall is not held while queueing for a busy host.
        let hp = h.acquire_owned().await.expect("semaphore closed");
        let gp = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore closed");
        (hp, gp)
    }
}

pub fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
        })
        .unwrap_or_default()
}

/// A file to fetch.
#[derive(Debug, Clone)]
pub struct Want {
    /// Name used in messages (the file's name in the source).
    pub name: String,
    /// The primary URL, then the mirrors, in the order they are tried.
    pub urls: Vec<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// What happened on one attempt, for logs and `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    pub url: String,
    pub from_byte: u64,
    pub received: u64,
    pub http_status: Option<u16>,
    pub outcome: String,
}

/// A verified file in the cache.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Got {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    #[serde(skip)]
    pub path: PathBuf,
    /// The URL that served the bytes, or `None` when the cache already held them.
    pub served_by: Option<String>,
    pub attempts: Vec<Attempt>,
    /// True when the hash was not pinned (manifest or lock file) and was learned by this fetch.
    pub learned: bool,
    pub seconds: f64,
}

/// The partial file's provenance, so a resume only continues bytes of the same version.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct PartialMeta {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    total: Option<u64>,
}

/// How one URL ended.
enum UrlEnd {
    /// The partial file holds the complete body; the URL's lock is held until it is hashed
    /// and committed, so no other process can touch the partial file in between.
    Complete(crate::util::lock::FileLock),
    /// This URL will not serve the file (definite HTTP answer or retries exhausted).
    Failed(String),
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    let parts: Vec<&str> = v.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: u32 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as u32
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    let t = crate::util::time::days_from_civil(year, month, day) * 86400
        + hms[0] * 3600
        + hms[1] * 60
        + hms[2];
    let now = crate::fetch::cache::now_unix() as i64;
    Some(Duration::from_secs((t - now).max(0) as u64))
}

/// Parses `Content-Range: bytes START-END/TOTAL` into (start, total).
fn content_range(h: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = h.get(header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.parse().ok()?, total.parse().ok()))
}

fn header_str(h: &HeaderMap, k: header::HeaderName) -> Option<String> {
    h.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Downloads files into the cache with retries, resume and mirror fail-over.
pub struct Downloader {
    pub client: reqwest::Client,
    pub opts: HttpOptions,
    pub limits: Arc<Limits>,
    pub cache: Cache,
    pub progress: Reporter,
    multi: indicatif::MultiProgress,
    total: indicatif::ProgressBar,
    jitter: Mutex<Rng>,
}

impl Downloader {
    pub fn new(cache: Cache, opts: HttpOptions, progress: Reporter) -> Result<Self> {
        let multi = progress.multi();
        let total = progress.add_bytes_bar(&multi, 0, "total");
        let seed = std::process::id() as u64 ^ crate::fetch::cache::now_unix().rotate_left(17);
        Ok(Downloader {
            client: client(&opts)?,
            limits: Arc::new(Limits::new(opts.concurrency, opts.per_host)),
            opts,
            cache,
            progress,
            multi,
            total,
            jitter: Mutex::new(Rng::new(seed)),
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.opts.backoff(attempt, &self.jitter)
    }

    /// Fetches every file (concurrently, within the limits); the first hard error wins but
    /// every file gets its chance first, so one broken link does not hide another.
    pub async fn fetch_all(self: &Arc<Self>, wants: Vec<Want>) -> Vec<Result<Got>> {
        let known: u64 = wants.iter().filter_map(|w| w.size).sum();
        self.total.set_length(known);
        let mut tasks = Vec::new();
        for w in wants {
            let me = self.clone();
            tasks.push(tokio::spawn(async move { me.fetch(w).await }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(match t.await {
                Ok(r) => r,
                Err(e) => Err(Error::Internal(format!("download task failed: {e}"))),
            });
        }
        self.total.finish_and_clear();
        out
    }

    /// The pinned file, if the cache already holds it.
    fn cached(&self, w: &Want) -> Result<Option<Got>> {
        let Some((sha, path)) = w
            .sha256
            .as_ref()
            .and_then(|sha| self.cache.blob(sha).map(|p| (sha, p)))
        else {
            return Ok(None);
        };
        // The blob is checked before it is used: published files and source views are hard
        // links to it, so damage done through any of them would otherwise be used (and
        // recorded as verified) by every later build.
        let (actual, bytes) = crate::util::hash::sha256_file(&path)?;
        if actual != *sha {
            self.progress.warn(format!(
                "{}: the cached copy {} is damaged (sha256 {actual}, {sha} was downloaded): downloading it again",
                w.name,
                path.display()
            ));
            let _ = fs_err::remove_file(&path);
            return Ok(None);
        }
        self.cache.record_use(sha, bytes, None)?;
        self.total.inc(bytes);
        self.progress.event(
            "download",
            json!({"file": w.name, "sha256": sha, "bytes": bytes, "cached": true}),
        );
        Ok(Some(Got {
            name: w.name.clone(),
            sha256: sha.clone(),
            bytes,
            path,
            served_by: None,
            attempts: vec![],
            learned: false,
            seconds: 0.0,
        }))
    }

    /// Fetches one file, or finds it in the cache.
    pub async fn fetch(&self, w: Want) -> Result<Got> {
        let started = Instant::now();
        if let Some(got) = self.cached(&w)? {
            return Ok(got);
        }
        // One process per pinned file (or per URL when unpinned) at a time; a second build
        // waiting here finds the blob in the cache when the first is done.
        let lock_key = w
            .sha256
            .clone()
            .unwrap_or_else(|| format!("file-{}", Cache::url_key(&w.urls[0])));
        let cache = self.cache.clone();
        let _lock = tokio::task::spawn_blocking(move || cache.lock(&lock_key))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        if let Some(got) = self.cached(&w)? {
            return Ok(got);
        }

        let bar = self
            .progress
            .add_bytes_bar(&self.multi, w.size.unwrap_or(0), &w.name);
        let mut attempts = Vec::new();
        let mut mismatches: Vec<(String, String)> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        for url in &w.urls {
            match self.fetch_url(&w, url, &bar, &mut attempts).await? {
                UrlEnd::Failed(why) => {
                    self.progress
                        .warn(format!("{}: {url} failed: {why}", w.name));
                    failures.push(format!("{url}: {why}"));
                }
                UrlEnd::Complete(_url_lock) => {
                    let (part, meta) = self.cache.partial_paths(url);
                    let p2 = part.clone();
                    let (sha, bytes) = tokio::task::spawn_blocking(move || sha256_file(&p2))
                        .await
                        .map_err(|e| Error::Internal(e.to_string()))??;
                    let size_ok = w.size.is_none_or(|s| s == bytes);
                    let sha_ok = w.sha256.as_ref().is_none_or(|s| *s == sha);
                    if size_ok && sha_ok {
                        let path = self.cache.commit_blob(&part, &sha, bytes, url)?;
                        let _ = fs_err::remove_file(&meta);
                        bar.finish_and_clear();
                        let secs = started.elapsed().as_secs_f64();
                        self.progress.info(format!(
                            "Downloaded {} ({}) from {url} in {secs:.1}s",
                            w.name,
                            human_bytes(bytes)
                        ));
                        self.progress.event(
                            "download",
                            json!({"file": w.name, "sha256": sha, "bytes": bytes, "cached": false,
                                   "served_by": url, "seconds": secs, "attempts": attempts}),
                        );
                        return Ok(Got {
                            name: w.name.clone(),
                            sha256: sha,
                            bytes,
                            path,
                            served_by: Some(url.clone()),
                            attempts,
                            learned: w.sha256.is_none(),
                            seconds: secs,
                        });
                    }
                    // Wrong content: never used, never resumed from.
                    let _ = fs_err::remove_file(&part);
                    let _ = fs_err::remove_file(&meta);
                    let why = if !size_ok {
                        format!(
                            "size {bytes} bytes, expected {} (sha256 {sha})",
                            w.size.unwrap_or(0)
                        )
                    } else {
                        format!("sha256 {sha}")
                    };
                    self.progress.warn(format!(
                        "{}: {url} served wrong content ({why}); trying the next mirror",
                        w.name
                    ));
                    self.progress.event(
                        "checksum_mismatch",
                        json!({"file": w.name, "url": url, "expected": w.sha256, "actual": sha, "bytes": bytes}),
                    );
                    failures.push(format!(
                        "{url}: wrong content ({why}; expected {})",
                        w.sha256
                            .clone()
                            .unwrap_or_else(|| format!("{} bytes", w.size.unwrap_or(0)))
                    ));
                    mismatches.push((url.clone(), sha));
                }
            }
        }
        bar.abandon();
        if !mismatches.is_empty() && mismatches.len() == failures.len() {
            let (url, actual) = mismatches.pop().expect("non-empty");
            return Err(Error::ChecksumMismatch {
                file: w.name,
                url,
                expected: w
                    .sha256
                    .unwrap_or_else(|| format!("{} bytes", w.size.unwrap_or(0))),
                actual,
            });
        }
        Err(Error::Download {
            file: w.name,
            reasons: failures,
        })
    }

    /// Tries one URL up to `retries` times, leaving the complete body in its partial file.
    // Long on purpose: one URL's retry loop: resume from the partial file, status handling, the
    // streamed body with its limits and checks; the states of one attempt are shared across the
    // loop.
    async fn fetch_url(
        &self,
        w: &Want,
        url: &str,
        bar: &indicatif::ProgressBar,
        log: &mut Vec<Attempt>,
    ) -> Result<UrlEnd> {
        let (part, meta_path) = self.cache.partial_paths(url);
        let host = host_of(url);
        // The partial file is this URL's; `cache gc` takes the same lock before removing it.
        let cache = self.cache.clone();
        let key = Cache::url_key(url);
        let url_lock = tokio::task::spawn_blocking(move || cache.lock(&key))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let mut last = String::from("no attempt");
        for attempt in 0..self.opts.retries.max(1) {
            let mut meta: PartialMeta = fs_err::read(&meta_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .filter(|m: &PartialMeta| m.url == url)
                .unwrap_or_default();
            let mut have = std::fs::metadata(&part).map_or(0, |m| m.len());
            let validator = meta.etag.clone().or(meta.last_modified.clone());
            // Without a validator a resume could splice two versions; only a pinned hash
            // (checked at the end) makes that safe.
            if have > 0 && validator.is_none() && w.sha256.is_none() {
                have = 0;
            }
            if let Some(s) = w.size
                && have > s
            {
                have = 0;
            }
            let permits = self.limits.acquire(&host).await;
            let mut req = self.client.get(url);
            if have > 0 {
                req = req.header(header::RANGE, format!("bytes={have}-"));
                if let Some(v) = &validator {
                    req = req.header(header::IF_RANGE, v);
                }
            }
            let mut record = Attempt {
                url: url.to_string(),
                from_byte: have,
                received: 0,
                http_status: None,
                outcome: String::new(),
            };
            let wait: Duration;
            let resp = tokio::time::timeout(self.opts.read_timeout, req.send()).await;
            match resp {
                Err(_) => {
                    last = format!("no response within {:?}", self.opts.read_timeout);
                    wait = self.backoff(attempt);
                }
                Ok(Err(e)) => {
                    last = describe_reqwest(&e);
                    wait = self.backoff(attempt);
                }
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    record.http_status = Some(status.as_u16());
                    let headers = resp.headers().clone();
                    let retry_after = header_str(&headers, header::RETRY_AFTER)
                        .and_then(|v| parse_retry_after(&v));
                    match status {
                        StatusCode::PARTIAL_CONTENT | StatusCode::OK => {
                            let mut start = 0;
                            if status == StatusCode::PARTIAL_CONTENT {
                                match content_range(&headers) {
                                    Some((s, _)) if s == have => start = have,
                                    _ => {
                                        // A range we did not ask for: start over cleanly.
                                        let _ = fs_err::remove_file(&part);
                                        last = "server answered a different byte range".into();
                                        record.outcome = last.clone();
                                        log.push(record);
                                        continue;
                                    }
                                }
                            }
                            if start == 0 {
                                meta = PartialMeta {
                                    url: url.to_string(),
                                    etag: header_str(&headers, header::ETAG)
                                        .filter(|e| !e.starts_with("W/")),
                                    last_modified: header_str(&headers, header::LAST_MODIFIED),
                                    total: resp.content_length(),
                                };
                                fs_err::write(&meta_path, serde_json::to_vec(&meta)?)?;
                            }
                            let expect_len = resp.content_length().map(|l| l + start);
                            if let (Some(e), Some(s)) = (expect_len, w.size)
                                && e != s
                            {
                                last = format!("server reports {e} bytes, the manifest pins {s}");
                                record.outcome = last.clone();
                                log.push(record);
                                let _ = fs_err::remove_file(&part);
                                return Ok(UrlEnd::Failed(last));
                            }
                            if let Some(total) = expect_len.or(w.size) {
                                bar.set_length(total);
                            }
                            bar.set_position(start);
                            // The body may not run past the pinned size (an endless body
                            // would fill the disk); past it the partial file is worthless.
                            let cap = w.size.or(expect_len);
                            match self.stream_body(resp, &part, start, bar, cap).await {
                                Err((n, why)) if why.starts_with(OVERSIZE) => {
                                    record.received = n;
                                    last = why;
                                    record.outcome = last.clone();
                                    log.push(record);
                                    let _ = fs_err::remove_file(&part);
                                    return Ok(UrlEnd::Failed(last));
                                }
                                Ok(n) => {
                                    record.received = n;
                                    let got = start + n;
                                    if expect_len.is_some_and(|e| got != e) {
                                        last = format!(
                                            "connection ended after {got} of {} bytes",
                                            expect_len.unwrap_or(0)
                                        );
                                        wait = self.backoff(attempt);
                                    } else {
                                        record.outcome = "complete".into();
                                        log.push(record);
                                        return Ok(UrlEnd::Complete(url_lock));
                                    }
                                }
                                Err((n, why)) => {
                                    record.received = n;
                                    last = why;
                                    wait = self.backoff(attempt);
                                }
                            }
                        }
                        StatusCode::RANGE_NOT_SATISFIABLE => {
                            if w.size.is_some_and(|s| s == have) {
                                record.outcome = "complete (already had every byte)".into();
                                log.push(record);
                                return Ok(UrlEnd::Complete(url_lock));
                            }
                            let _ = fs_err::remove_file(&part);
                            last = "416 range not satisfiable; restarting from byte 0".into();
                            wait = Duration::ZERO;
                        }
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                            last = format!("HTTP {status}");
                            wait = retry_after
                                .map(|d| d.min(self.opts.retry_after_max))
                                .unwrap_or_else(|| self.backoff(attempt));
                        }
                        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                            last = format!("HTTP {status}");
                            wait = self.backoff(attempt);
                        }
                        s => {
                            last = format!("HTTP {s}");
                            record.outcome = last.clone();
                            log.push(record);
                            return Ok(UrlEnd::Failed(last));
                        }
                    }
                }
            }
            record.outcome = last.clone();
            log.push(record);
            // Free the host and global slots while waiting: a throttled file must not stall
            // every other download.
            drop(permits);
            if attempt + 1 < self.opts.retries.max(1) {
                self.progress.event(
                    "download_retry",
                    json!({"file": w.name, "url": url, "attempt": attempt + 1, "reason": last,
                           "wait_s": wait.as_secs_f64()}),
                );
                if !self.progress.quiet {
                    bar.set_message(format!("{} (retry {}: {last})", w.name, attempt + 1));
                }
                tokio::time::sleep(wait).await;
            }
        }
        Ok(UrlEnd::Failed(format!(
            "gave up after {} attempts; last: {last}",
            self.opts.retries.max(1)
        )))
    }

    /// Appends the body to the partial file; returns the bytes received, or how it broke.
    async fn stream_body(
        &self,
        mut resp: reqwest::Response,
        part: &std::path::Path,
        start: u64,
        bar: &indicatif::ProgressBar,
        cap: Option<u64>,
    ) -> std::result::Result<u64, (u64, String)> {
        let io = |e: std::io::Error| (0u64, format!("writing {}: {e}", part.display()));
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(start == 0)
            .open(part)
            .await
            .map_err(io)?;
        if start > 0 {
            f.set_len(start).await.map_err(io)?;
            use tokio::io::AsyncSeekExt;
            f.seek(std::io::SeekFrom::Start(start)).await.map_err(io)?;
        }
        let mut n = 0u64;
        loop {
            match tokio::time::timeout(self.opts.read_timeout, resp.chunk()).await {
                Err(_) => {
                    let _ = f.flush().await;
                    return Err((
                        n,
                        format!("no data for {:?} (read timeout)", self.opts.read_timeout),
                    ));
                }
                Ok(Err(e)) => {
                    let _ = f.flush().await;
                    return Err((n, describe_reqwest(&e)));
                }
                Ok(Ok(None)) => break,
                Ok(Ok(Some(chunk))) => {
                    if let Some(cap) = cap
                        && start + n + chunk.len() as u64 > cap
                    {
                        let _ = f.flush().await;
                        return Err((
                            n,
                            format!(
                                "{OVERSIZE}: the server sent more than the {cap} bytes expected \
                                 (pinned `size` or its Content-Length); download abandoned"
                            ),
                        ));
                    }
                    f.write_all(&chunk)
                        .await
                        .map_err(|e| (n, format!("writing {}: {e}", part.display())))?;
                    n += chunk.len() as u64;
                    bar.inc(chunk.len() as u64);
                    self.total.inc(chunk.len() as u64);
                }
            }
        }
        f.flush()
            .await
            .map_err(|e| (n, format!("writing {}: {e}", part.display())))?;
        f.sync_data()
            .await
            .map_err(|e| (n, format!("syncing {}: {e}", part.display())))?;
        Ok(n)
    }
}

/// How an over-long body's error message starts (it is not resumed or retried).
const OVERSIZE: &str = "body too long";

/// A reqwest error in a user's words (the error chain, not just "error sending request").
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else if e.is_body() || e.is_decode() {
        "connection broke while reading the body".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

pub fn human_bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn content_range_parse() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_RANGE, "bytes 100-199/200".parse().unwrap());
        assert_eq!(content_range(&h), Some((100, Some(200))));
        h.insert(header::CONTENT_RANGE, "bytes 5-9/*".parse().unwrap());
        assert_eq!(content_range(&h), Some((5, None)));
    }
}
