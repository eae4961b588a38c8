//! The content-addressed cache of raw files (`$RECDATA_CACHE`, default `~/.cache/recdata`).
//!
//! ```text
//! blobs/sha256/<aa>/<sha256>        a verified raw file, read-only, never modified
//! blobs/sha256/<aa>/<sha256>.json   where it came from and when it was last used
//! partial/<urlkey>.part             bytes of an unfinished download (resumed by Range)
//! partial/<urlkey>.json             the validator (ETag / Last-Modified) the bytes belong to
//! extracted/<sha256>/               an archive's safe extraction, with tree.json
//! locks/<key>.lock                  flock held while one process fetches or extracts a key
//! ```
//!
//! Everything appears by rename of a fully written temporary file, and every writer holds the
//! key's lock, so concurrent builds never see or produce a torn file.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::util::hash::sha256_hex;
use crate::util::lock::FileLock;

#[derive(Debug, Clone)]
pub struct Cache {
    pub root: PathBuf,
}

/// Where a blob came from, kept next to it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct BlobMeta {
    pub sha256: String,
    pub bytes: u64,
    pub urls: Vec<String>,
    pub added_unix: u64,
    pub last_used_unix: u64,
}

/// One `recdata cache ls` row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub kind: &'static str,
    pub key: String,
    pub bytes: u64,
    pub last_used_unix: u64,
    pub origin: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GcReport {
    pub removed: Vec<String>,
    pub freed_bytes: u64,
    pub kept: u64,
}

/// A file's mtime in Unix seconds (0 when the platform cannot tell).
fn mtime_secs(m: &std::fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn dir_bytes(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => n += dir_bytes(&e.path()),
                Ok(t) if t.is_file() => n += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    n
}

/// Makes a read-only tree writable again so it can be removed.
fn make_writable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::symlink_metadata(p)
        && m.is_dir()
    {
        let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                make_writable(&e.path());
            }
        }
    }
}

impl Cache {
    /// `$RECDATA_CACHE`, else `$XDG_CACHE_HOME/recdata`, else `~/.cache/recdata`.
    pub fn default_root() -> PathBuf {
        if let Some(p) = std::env::var_os("RECDATA_CACHE").filter(|v| !v.is_empty()) {
            return PathBuf::from(p);
        }
        if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(p).join("recdata");
        }
        match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".cache").join("recdata"),
            None => std::env::temp_dir().join("recdata-cache"),
        }
    }

    pub fn open(root: PathBuf) -> Result<Self> {
        for d in ["blobs/sha256", "partial", "extracted", "locks"] {
            fs_err::create_dir_all(root.join(d))?;
        }
        Ok(Cache { root })
    }

    pub fn blob_path(&self, sha: &str) -> PathBuf {
        self.root
            .join("blobs/sha256")
            .join(&sha[..2.min(sha.len())])
            .join(sha)
    }

    fn meta_path(&self, sha: &str) -> PathBuf {
        self.blob_path(sha).with_extension("json")
    }

    /// The blob's path if the cache holds it.
    pub fn blob(&self, sha: &str) -> Option<PathBuf> {
        let p = self.blob_path(sha);
        p.is_file().then_some(p)
    }

    /// A stable short key for a URL (partial downloads are per URL: validators are per server).
    pub fn url_key(url: &str) -> String {
        sha256_hex(url.as_bytes())[..32].to_string()
    }

    pub fn partial_paths(&self, url: &str) -> (PathBuf, PathBuf) {
        let k = Self::url_key(url);
        let d = self.root.join("partial");
        (d.join(format!("{k}.part")), d.join(format!("{k}.json")))
    }

    /// Waits for the lock on `key` (a sha256 or a URL key).
    pub fn lock(&self, key: &str) -> Result<FileLock> {
        Ok(FileLock::wait(
            &self.root.join("locks").join(format!("{key}.lock")),
        )?)
    }

    /// Moves a verified file into the cache under its sha256 (the caller holds the key's lock).
    /// A blob already there is kept only if it still hashes to its name: published versions
    /// hard-link blobs, so damage done through a published file lands here, and the verified
    /// copy in hand replaces it instead of being dropped for it.
    pub fn commit_blob(&self, tmp: &Path, sha: &str, bytes: u64, url: &str) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let dst = self.blob_path(sha);
        fs_err::create_dir_all(dst.parent().expect("blob path has a parent"))?;
        let intact = dst.is_file()
            && fs_err::metadata(&dst)?.len() == bytes
            && crate::util::hash::sha256_file(&dst)?.0 == sha;
        if intact {
            fs_err::remove_file(tmp)?;
        } else {
            fs_err::set_permissions(tmp, std::fs::Permissions::from_mode(0o444))?;
            fs_err::rename(tmp, &dst)?;
        }
        self.record_use(sha, bytes, Some(url))?;
        Ok(dst)
    }

    /// Updates a blob's sidecar (origin URLs, last use) atomically.
    pub fn record_use(&self, sha: &str, bytes: u64, url: Option<&str>) -> Result<()> {
        let path = self.meta_path(sha);
        let now = now_unix();
        let mut meta: BlobMeta = fs_err::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(BlobMeta {
                sha256: sha.to_string(),
                bytes,
                urls: Vec::new(),
                added_unix: now,
                last_used_unix: now,
            });
        meta.last_used_unix = now;
        if let Some(u) = url
            && !meta.urls.iter().any(|x| x == u)
        {
            meta.urls.push(u.to_string());
        }
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        fs_err::write(&tmp, serde_json::to_vec_pretty(&meta)?)?;
        fs_err::rename(&tmp, &path)?;
        Ok(())
    }

    pub fn extracted_dir(&self, sha: &str) -> PathBuf {
        self.root.join("extracted").join(sha)
    }

    /// Everything in the cache: blobs, extractions and partial downloads.
    pub fn ls(&self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let blobs = self.root.join("blobs/sha256");
        for shard in fs_err::read_dir(&blobs)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for f in fs_err::read_dir(shard.path())? {
                let f = f?;
                let name = f.file_name().to_string_lossy().into_owned();
                if name.len() != 64 || name.contains('.') {
                    continue;
                }
                let meta: Option<BlobMeta> = fs_err::read(self.meta_path(&name))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok());
                let fm = f.metadata()?;
                let mtime = mtime_secs(&fm);
                out.push(Entry {
                    kind: "blob",
                    bytes: fm.len(),
                    // Media blobs have no sidecar: their age is their mtime.
                    last_used_unix: meta.as_ref().map_or(mtime, |m| m.last_used_unix),
                    origin: meta
                        .and_then(|m| m.urls.first().cloned())
                        .unwrap_or_default(),
                    key: name,
                });
            }
        }
        for f in fs_err::read_dir(self.root.join("extracted"))? {
            let f = f?;
            let name = f.file_name().to_string_lossy().into_owned();
            if name.len() == 64 && f.file_type()?.is_dir() {
                let used = mtime_secs(&f.metadata()?);
                out.push(Entry {
                    kind: "extracted",
                    bytes: dir_bytes(&f.path()),
                    last_used_unix: used,
                    origin: format!("archive {}", &name[..12]),
                    key: name,
                });
            }
        }
        for f in fs_err::read_dir(self.root.join("partial"))? {
            let f = f?;
            let name = f.file_name().to_string_lossy().into_owned();
            if let Some(k) = name.strip_suffix(".part") {
                let info: Option<serde_json::Value> =
                    fs_err::read(self.root.join("partial").join(format!("{k}.json")))
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok());
                let m = f.metadata()?;
                out.push(Entry {
                    kind: "partial",
                    key: k.to_string(),
                    bytes: m.len(),
                    last_used_unix: mtime_secs(&m),
                    origin: info
                        .and_then(|v| v["url"].as_str().map(str::to_owned))
                        .unwrap_or_default(),
                });
            }
        }
        out.sort_by(|a, b| a.kind.cmp(b.kind).then(a.key.cmp(&b.key)));
        Ok(out)
    }

    /// Removes entries not used for `older_than_secs` (all of them with 0), except blobs listed
    /// in `keep` (and their extractions). Each removal takes the key's lock, so a build that
    /// is using a file is never pulled out from under.
    pub fn gc(&self, older_than_secs: u64, keep: &[String], dry_run: bool) -> Result<GcReport> {
        let now = now_unix();
        let mut rep = GcReport::default();
        for e in self.ls()? {
            let keep_it = keep.iter().any(|k| k == &e.key)
                || now.saturating_sub(e.last_used_unix) < older_than_secs;
            if keep_it {
                rep.kept += 1;
                continue;
            }
            let Some(_lock) =
                FileLock::try_take(&self.root.join("locks").join(format!("{}.lock", e.key)))?
            else {
                rep.kept += 1;
                continue;
            };
            if !dry_run {
                match e.kind {
                    "blob" => {
                        let p = self.blob_path(&e.key);
                        fs_err::remove_file(&p)?;
                        let _ = fs_err::remove_file(self.meta_path(&e.key));
                    }
                    "extracted" => {
                        let p = self.extracted_dir(&e.key);
                        make_writable(&p);
                        fs_err::remove_dir_all(&p)?;
                        let _ = fs_err::remove_file(p.with_extension("json"));
                    }
                    _ => {
                        let d = self.root.join("partial");
                        let _ = fs_err::remove_file(d.join(format!("{}.part", e.key)));
                        let _ = fs_err::remove_file(d.join(format!("{}.json", e.key)));
                    }
                }
            }
            rep.freed_bytes += e.bytes;
            rep.removed.push(format!("{} {}", e.kind, e.key));
        }
        Ok(rep)
    }
}
