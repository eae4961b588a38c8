//! Item media fetch: covers, audio previews and videos referenced by URL.
//!
//! Every item ends with exactly one status — `ok`, `http_error` (with the status code),
//! `timeout`, `connection_error`, `not_image` / `not_audio` / `not_video`, `too_large` or
//! `checksum_mismatch` — so a dataset says precisely which items lack which modality and why.
//! Fetched bytes are verified (size cap while streaming, optional pinned sha256, and a real
//! decode for images, a container sniff for audio and video) before they enter the
//! content-addressed cache. Results are journaled one line per item as they finish, so a killed
//! run resumes where it stopped and `--retry-failed` redoes only the failures.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};
use crate::fetch::cache::Cache;
use crate::fetch::http::{HttpOptions, Limits, describe_reqwest, host_of, parse_retry_after};
use crate::progress::Reporter;
use crate::util::rng::Rng;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Image,
    Audio,
    Video,
}

impl Modality {
    pub const ALL: &'static [&'static str] = &["image", "audio", "video"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(Modality::Image),
            "audio" => Some(Modality::Audio),
            "video" => Some(Modality::Video),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Modality::Image => "image",
            Modality::Audio => "audio",
            Modality::Video => "video",
        }
    }

    pub fn not_status(self) -> &'static str {
        match self {
            Modality::Image => "not_image",
            Modality::Audio => "not_audio",
            Modality::Video => "not_video",
        }
    }

    pub fn default_max_bytes(self) -> u64 {
        match self {
            Modality::Image => 20 << 20,
            Modality::Audio => 64 << 20,
            Modality::Video => 1 << 30,
        }
    }
}

/// How media fetch behaves (`[[stages.media]]`, `recdata media` flags).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MediaOptions {
    pub modality: Modality,
    pub http: HttpOptions,
    /// Requests per second per host (token bucket); 0 = unlimited.
    pub rate_per_host: f64,
    /// Requests a host may receive at once after a quiet period.
    pub burst: u32,
    pub max_bytes: u64,
}

impl MediaOptions {
    pub fn new(modality: Modality) -> Self {
        MediaOptions {
            modality,
            http: HttpOptions {
                concurrency: 64,
                per_host: 32,
                retries: 3,
                read_timeout: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(10),
                backoff_base: Duration::from_millis(250),
                backoff_max: Duration::from_secs(10),
                retry_after_max: Duration::from_secs(60),
                ..HttpOptions::default()
            },
            rate_per_host: 0.0,
            burst: 16,
            max_bytes: modality.default_max_bytes(),
        }
    }
}

/// One item to fetch.
#[derive(Debug, Clone)]
pub struct MediaItem {
    pub key: String,
    pub url: String,
    pub sha256: Option<String>,
}

/// How one item ended; one journal line, one row of the status table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MediaResult {
    pub key: String,
    pub url: String,
    pub status: String,
    pub http_status: Option<u16>,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    /// Detected container/format (`jpeg`, `png`, `mp4`, ...).
    pub format: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub attempts: u32,
    pub error: Option<String>,
}

impl MediaResult {
    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// Per-host token buckets. A request reserves a token (the balance may go negative) and waits
/// until its reservation is covered, so the long-run rate never exceeds `rate` while bursts of
/// up to `burst` pass at once.
struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    async fn take(&self, host: &str) {
        if self.rate <= 0.0 {
            return;
        }
        let wait = {
            let mut m = self.buckets.lock().expect("rate limiter poisoned");
            let now = Instant::now();
            let b = m.entry(host.to_string()).or_insert((self.burst, now));
            b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * self.rate).min(self.burst);
            b.1 = now;
            b.0 -= 1.0;
            if b.0 >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-b.0 / self.rate)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Recognizes audio and video containers by their magic bytes.
fn sniff_container(head: &[u8]) -> Option<&'static str> {
    let at = |o: usize, m: &[u8]| head.len() >= o + m.len() && &head[o..o + m.len()] == m;
    if at(4, b"ftyp") {
        Some("mp4")
    } else if at(0, &[0x1a, 0x45, 0xdf, 0xa3]) {
        Some("webm")
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Some("avi")
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Some("wav")
    } else if at(0, b"ID3") || (head.len() >= 2 && head[0] == 0xff && head[1] & 0xe0 == 0xe0) {
        Some("mp3")
    } else if at(0, b"OggS") {
        Some("ogg")
    } else if at(0, b"fLaC") {
        Some("flac")
    } else if at(0, &[0x00, 0x00, 0x01, 0xba])
        || at(0, &[0x47]) && head.len() > 188 && head[188] == 0x47
    {
        Some("mpeg")
    } else {
        None
    }
}

fn is_audio(f: &str) -> bool {
    matches!(f, "wav" | "mp3" | "ogg" | "flac" | "mp4" | "webm")
}

fn is_video(f: &str) -> bool {
    matches!(f, "mp4" | "webm" | "avi" | "mpeg" | "ogg")
}

/// Checks fetched bytes are the modality they claim; returns (format, width, height).
pub fn check_content(
    modality: Modality,
    path: &Path,
    head: &[u8],
) -> std::result::Result<(String, Option<u32>, Option<u32>), String> {
    match modality {
        Modality::Image => {
            let fmt = image::guess_format(head).map_err(|_| {
                format!(
                    "not a known image format (starts with {:?})",
                    String::from_utf8_lossy(&head[..head.len().min(12)])
                )
            })?;
            let bytes = fs_err::read(path).map_err(|e| e.to_string())?;
            if fmt == image::ImageFormat::Jpeg && !jpeg_complete(&bytes) {
                // Decoders (ours and OpenCV's) fill a cut-off scan with grey and succeed.
                return Err("truncated JPEG: the last scan has no end-of-image marker".into());
            }
            let img = image::load_from_memory_with_format(&bytes, fmt)
                .map_err(|e| format!("{fmt:?} does not decode: {e}"))?;
            Ok((
                format!("{fmt:?}").to_ascii_lowercase(),
                Some(img.width()),
                Some(img.height()),
            ))
        }
        Modality::Audio | Modality::Video => {
            let f = sniff_container(head).ok_or_else(|| {
                format!(
                    "not a known {} container (starts with {:?})",
                    modality.name(),
                    String::from_utf8_lossy(&head[..head.len().min(12)])
                )
            })?;
            let fits = if modality == Modality::Audio {
                is_audio(f)
            } else {
                is_video(f)
            };
            if !fits {
                return Err(format!("a {f} file is not {}", modality.name()));
            }
            Ok((f.to_string(), None, None))
        }
    }
}

/// A JPEG's last scan (SOS, `FF DA`) must be followed by the end-of-image marker (`FF D9`).
/// Inside entropy-coded data `FF` is always stuffed (`FF 00`) or a restart marker, so neither
/// marker can occur by chance there.
fn jpeg_complete(b: &[u8]) -> bool {
    let last = |m: u8| b.windows(2).rposition(|w| w[0] == 0xff && w[1] == m);
    match (last(0xda), last(0xd9)) {
        (Some(sos), Some(eoi)) => eoi > sos,
        _ => false,
    }
}

/// The append-only journal of finished items.
pub struct Journal {
    path: PathBuf,
    file: Mutex<std::io::BufWriter<fs_err::File>>,
}

impl Journal {
    /// Reads what earlier runs finished (a torn last line from a kill is ignored).
    pub fn load(path: &Path) -> Result<HashMap<(String, String), MediaResult>> {
        let mut done = HashMap::new();
        let Ok(text) = fs_err::read_to_string(path) else {
            return Ok(done);
        };
        for line in text.lines() {
            if let Ok(r) = serde_json::from_str::<MediaResult>(line) {
                done.insert((r.key.clone(), r.url.clone()), r);
            }
        }
        Ok(done)
    }

    pub fn open(path: &Path) -> Result<Self> {
        if let Some(p) = path.parent() {
            fs_err::create_dir_all(p)?;
        }
        // A kill can leave a torn last line; start appends on a fresh line.
        let torn = fs_err::read(path)
            .ok()
            .is_some_and(|b| !b.is_empty() && b.last() != Some(&b'\n'));
        let mut f = fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        if torn {
            f.write_all(b"\n")?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(std::io::BufWriter::new(f)),
        })
    }

    fn append(&self, r: &MediaResult) -> Result<()> {
        let mut line = serde_json::to_vec(r)?;
        line.push(b'\n');
        let mut f = self.file.lock().expect("journal poisoned");
        f.write_all(&line)?;
        f.flush()?;
        Ok(())
    }
}

/// Fetches media for many items at once.
pub struct MediaFetcher {
    client: reqwest::Client,
    opts: MediaOptions,
    limits: Limits,
    rate: RateLimiter,
    cache: Cache,
    seq: std::sync::atomic::AtomicU64,
    jitter: Mutex<Rng>,
}

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MediaSummary {
    pub items: u64,
    pub fetched: u64,
    pub reused: u64,
    pub by_status: std::collections::BTreeMap<String, u64>,
    pub seconds: f64,
    pub items_per_second: f64,
}

impl MediaFetcher {
    pub fn new(cache: Cache, opts: MediaOptions) -> Result<Self> {
        Ok(MediaFetcher {
            client: crate::fetch::http::client(&opts.http)?,
            limits: Limits::new(opts.http.concurrency, opts.http.per_host),
            rate: RateLimiter {
                rate: opts.rate_per_host,
                burst: opts.burst.max(1) as f64,
                buckets: Mutex::new(HashMap::new()),
            },
            opts,
            cache,
            seq: std::sync::atomic::AtomicU64::new(0),
            jitter: Mutex::new(Rng::new(std::process::id() as u64)),
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.opts.http.backoff(attempt, &self.jitter)
    }

    /// Fetches every item not already finished in `journal` (failures too with
    /// `retry_failed`); returns one result per input item, in input order.
    pub fn run(
        self,
        items: Vec<MediaItem>,
        journal_path: &Path,
        retry_failed: bool,
        p: &Reporter,
    ) -> Result<(Vec<MediaResult>, MediaSummary)> {
        let started = Instant::now();
        let done = Journal::load(journal_path)?;
        let journal = Arc::new(Journal::open(journal_path)?);
        let mut results: Vec<Option<MediaResult>> = vec![None; items.len()];
        let mut todo = Vec::new();
        for (i, it) in items.iter().enumerate() {
            match done.get(&(it.key.clone(), it.url.clone())) {
                // A finished item whose blob left the cache (removed as damaged, or by
                // `cache gc`) is fetched again.
                Some(r)
                    if (r.ok()
                        && r.sha256
                            .as_deref()
                            .is_some_and(|s| self.cache.blob(s).is_some()))
                        || (!r.ok() && !retry_failed) =>
                {
                    results[i] = Some(r.clone())
                }
                _ => todo.push(i),
            }
        }
        let reused = (items.len() - todo.len()) as u64;
        if reused > 0 {
            p.info(format!(
                "Reusing {reused} finished item(s) from {}",
                journal.path.display()
            ));
        }
        let bar = p.count_bar(todo.len() as u64, self.opts.modality.name());
        let rt = crate::fetch::runtime()?;
        let me = Arc::new(self);
        let items = Arc::new(items);
        let fetched = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            let mut out = Vec::new();
            // Bounded in-flight tasks: the semaphores already cap requests, this caps memory.
            let cap = me.opts.http.concurrency * 2;
            let (total, finished) = (todo.len(), Arc::new(std::sync::atomic::AtomicUsize::new(0)));
            for i in todo {
                while set.len() >= cap {
                    if let Some(r) = set.join_next().await {
                        out.push(r);
                    }
                }
                let me = me.clone();
                let items = items.clone();
                let journal = journal.clone();
                let bar = bar.clone();
                let finished = finished.clone();
                set.spawn(async move {
                    let r = me.fetch_one(&items[i]).await;
                    let j = journal.append(&r).and_then(|_| {
                        let n = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        crate::fault::progress("media", n, total)
                    });
                    bar.inc(1);
                    j.map(|_| (i, r))
                });
            }
            while let Some(r) = set.join_next().await {
                out.push(r);
            }
            out
        });
        bar.finish_and_clear();
        let mut n_fetched = 0;
        for r in fetched {
            let (i, res) = r.map_err(|e| Error::Internal(format!("media task failed: {e}")))??;
            results[i] = Some(res);
            n_fetched += 1;
        }
        let results: Vec<MediaResult> = results
            .into_iter()
            .map(|r| r.expect("every item has a result"))
            .collect();
        let mut s = MediaSummary {
            items: results.len() as u64,
            fetched: n_fetched,
            reused,
            ..Default::default()
        };
        for r in &results {
            *s.by_status.entry(r.status.clone()).or_default() += 1;
        }
        s.seconds = started.elapsed().as_secs_f64();
        s.items_per_second = n_fetched as f64 / s.seconds.max(1e-9);
        p.event("media", json!({"modality": me.opts.modality, "summary": s}));
        Ok((results, s))
    }

    async fn fetch_one(&self, it: &MediaItem) -> MediaResult {
        let mut r = MediaResult {
            key: it.key.clone(),
            url: it.url.clone(),
            status: String::new(),
            http_status: None,
            bytes: None,
            sha256: None,
            format: None,
            width: None,
            height: None,
            attempts: 0,
            error: None,
        };
        let host = host_of(&it.url);
        let tries = self.opts.http.retries.max(1);
        for attempt in 0..tries {
            r.attempts = attempt + 1;
            // A row describes the last attempt only, never a mix of attempts.
            r.http_status = None;
            r.bytes = None;
            r.sha256 = None;
            r.format = None;
            r.width = None;
            r.height = None;
            let (status, err, wait) = self.attempt(it, &host, &mut r, attempt).await;
            r.status = status.to_string();
            r.error = err;
            match wait {
                Some(w) if attempt + 1 < tries => tokio::time::sleep(w).await,
                _ => break,
            }
        }
        r
    }

    /// One try; returns (status, error, Some(wait) when worth retrying).
    async fn attempt(
        &self,
        it: &MediaItem,
        host: &str,
        r: &mut MediaResult,
        attempt: u32,
    ) -> (&'static str, Option<String>, Option<Duration>) {
        self.rate.take(host).await;
        let _permits = self.limits.acquire(host).await;
        let t = self.opts.http.read_timeout;
        let resp = match tokio::time::timeout(t, self.client.get(&it.url).send()).await {
            Err(_) => {
                return (
                    "timeout",
                    Some(format!("no response within {t:?}")),
                    Some(self.backoff(attempt)),
                );
            }
            Ok(Err(e)) => {
                let (s, w) = if e.is_timeout() {
                    ("timeout", Some(self.backoff(attempt)))
                } else {
                    ("connection_error", Some(self.backoff(attempt)))
                };
                return (s, Some(describe_reqwest(&e)), w);
            }
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        r.http_status = Some(status.as_u16());
        if !status.is_success() {
            let retry = status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT;
            let wait = retry.then(|| {
                resp.headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after)
                    .map(|d| d.min(self.opts.http.retry_after_max))
                    .unwrap_or_else(|| self.backoff(attempt))
            });
            return ("http_error", Some(format!("HTTP {status}")), wait);
        }
        let max = self.opts.max_bytes;
        if let Some(len) = resp.content_length()
            && len > max
        {
            r.bytes = Some(len);
            return (
                "too_large",
                Some(format!(
                    "Content-Length {len} bytes exceeds the {max}-byte cap"
                )),
                None,
            );
        }
        // Stream into a temporary file in the cache, hashing and counting as bytes arrive.
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = self
            .cache
            .root
            .join("partial")
            .join(format!("media-{}-{seq}.tmp", std::process::id()));
        let res = self.stream(resp, &tmp, max).await;
        let (sha, n, head) = match res {
            Ok(x) => x,
            Err((status, msg, n)) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                r.bytes = n;
                let wait = (status != "too_large").then(|| self.backoff(attempt));
                return (status, Some(msg), wait);
            }
        };
        r.bytes = Some(n);
        r.sha256 = Some(sha.clone());
        if let Some(want) = &it.sha256
            && *want != sha
        {
            let _ = tokio::fs::remove_file(&tmp).await;
            return (
                "checksum_mismatch",
                Some(format!("expected sha256 {want}, got {sha}")),
                None,
            );
        }
        let modality = self.opts.modality;
        let tmp2 = tmp.clone();
        let checked =
            tokio::task::spawn_blocking(move || check_content(modality, &tmp2, &head)).await;
        match checked {
            Ok(Ok((fmt, w, h))) => {
                r.format = Some(fmt);
                r.width = w;
                r.height = h;
            }
            Ok(Err(msg)) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return (modality.not_status(), Some(msg), None);
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return ("internal_error", Some(e.to_string()), None);
            }
        }
        if let Err(e) = self.commit(&tmp, &sha, n, &it.url) {
            let _ = tokio::fs::remove_file(&tmp).await;
            return ("internal_error", Some(e.to_string()), None);
        }
        ("ok", None, None)
    }

    fn commit(&self, tmp: &Path, sha: &str, n: u64, url: &str) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dst = self.cache.blob_path(sha);
        if dst.is_file() {
            fs_err::remove_file(tmp)?;
        } else {
            fs_err::create_dir_all(dst.parent().expect("blob path has a parent"))?;
            fs_err::set_permissions(tmp, std::fs::Permissions::from_mode(0o444))?;
            fs_err::rename(tmp, &dst)?;
        }
        // No sidecar per media file: the status table already maps URL → sha256, and two extra
        // file operations per item are a third of the I/O of a small-image fetch. `cache ls`
        // and `gc` use the blob's mtime for such files.
        let _ = (n, url);
        Ok(())
    }

    /// Body → file with a size cap and read timeout; returns (sha256, bytes, first 4 KiB).
    async fn stream(
        &self,
        mut resp: reqwest::Response,
        tmp: &Path,
        max: u64,
    ) -> std::result::Result<(String, u64, Vec<u8>), (&'static str, String, Option<u64>)> {
        let io = |e: std::io::Error| ("internal_error", format!("{}: {e}", tmp.display()), None);
        let mut f = tokio::fs::File::create(tmp).await.map_err(io)?;
        let mut h = Sha256::new();
        let mut head = Vec::with_capacity(4096);
        let mut n = 0u64;
        let t = self.opts.http.read_timeout;
        // Read it now: reqwest's length hint shrinks as the body is consumed.
        let announced = resp.content_length();
        loop {
            match tokio::time::timeout(t, resp.chunk()).await {
                Err(_) => {
                    return Err((
                        "timeout",
                        format!("no data for {t:?} after {n} bytes"),
                        Some(n),
                    ));
                }
                Ok(Err(e)) => return Err(("connection_error", describe_reqwest(&e), Some(n))),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(c))) => {
                    n += c.len() as u64;
                    if n > max {
                        return Err((
                            "too_large",
                            format!("more than {max} bytes (the cap)"),
                            Some(n),
                        ));
                    }
                    if head.len() < 4096 {
                        let k = (4096 - head.len()).min(c.len());
                        head.extend_from_slice(&c[..k]);
                    }
                    h.update(&c);
                    f.write_all(&c).await.map_err(io)?;
                }
            }
        }
        if let Some(len) = announced
            && len != n
        {
            return Err((
                "connection_error",
                format!("connection ended after {n} of {len} bytes"),
                Some(n),
            ));
        }
        f.flush().await.map_err(io)?;
        Ok((hex::encode(h.finalize()), n, head))
    }
}

/// The columns every status table shares, after its key, URL and status: `http_status`,
/// `bytes`, `sha256`, `format` (null unless ok), `width`, `height`, `attempts`, `error`.
pub fn detail_columns<'a>(
    rows: impl Iterator<Item = &'a MediaResult> + Clone,
) -> Vec<arrow_array::ArrayRef> {
    use arrow_array::{ArrayRef, Int32Array, Int64Array, StringArray};
    let s = |f: &dyn Fn(&MediaResult) -> Option<String>| -> ArrayRef {
        Arc::new(StringArray::from(rows.clone().map(f).collect::<Vec<_>>()))
    };
    let i32s = |f: &dyn Fn(&MediaResult) -> Option<i32>| -> ArrayRef {
        Arc::new(Int32Array::from(rows.clone().map(f).collect::<Vec<_>>()))
    };
    vec![
        i32s(&|r| r.http_status.map(i32::from)),
        Arc::new(Int64Array::from(
            rows.clone()
                .map(|r| r.bytes.map(|b| b as i64))
                .collect::<Vec<_>>(),
        )),
        s(&|r| r.sha256.clone()),
        s(&|r| r.ok().then(|| r.format.clone()).flatten()),
        i32s(&|r| r.width.map(|w| w as i32)),
        i32s(&|r| r.height.map(|w| w as i32)),
        i32s(&|r| Some(r.attempts as i32)),
        s(&|r| r.error.clone()),
    ]
}

/// Writes a standalone status table (`recdata media`): one row per input line, keyed by the
/// caller's key, same columns as the dataset's `media` table otherwise.
pub fn write_results(path: &Path, rows: &[MediaResult]) -> Result<()> {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    let schema = Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("http_status", DataType::Int32, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("sha256", DataType::Utf8, true),
        Field::new("format", DataType::Utf8, true),
        Field::new("width", DataType::Int32, true),
        Field::new("height", DataType::Int32, true),
        Field::new("attempts", DataType::Int32, false),
        Field::new("error", DataType::Utf8, true),
    ]);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.key.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.url.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.status.as_str()),
        )),
    ];
    cols.extend(detail_columns(rows.iter()));
    let batch = RecordBatch::try_new(Arc::new(schema), cols)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    crate::io::parquet::write_batch(&tmp, batch, crate::io::parquet::Level::Publish, vec![])?;
    fs_err::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers() {
        assert_eq!(sniff_container(b"\0\0\0\x20ftypisom...."), Some("mp4"));
        assert_eq!(sniff_container(b"RIFF\0\0\0\0WAVEfmt "), Some("wav"));
        assert_eq!(sniff_container(b"ID3\x04\0"), Some("mp3"));
        assert_eq!(sniff_container(b"<html>"), None);
    }
}
