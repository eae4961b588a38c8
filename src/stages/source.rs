//! The source stage for remote corpora: fetch every `[[source.files]]` into the
//! content-addressed cache (verified), extract archives safely, and assemble the directory the
//! corpus adapter reads — hard links into the cache, so nothing is copied twice and nothing in
//! the cache can be modified through it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::Manifest;
use crate::error::{Error, Result};
use crate::fetch::archive::{self, Kind, TreeEntry};
use crate::fetch::cache::Cache;
use crate::fetch::http::{Downloader, Got, Want, human_bytes};
use crate::fetch::lockfile::{LockFile, Locked};
use crate::io::store;
use crate::progress::Reporter;
use crate::sources::RemoteFile;
use crate::util::hash::Fingerprint;

/// What `dataset.json` records about a fetched file: content only (which mirror served it
/// varies from run to run and must not change a rebuilt dataset).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceFile {
    pub name: String,
    pub url: String,
    pub sha256: String,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extracted: Option<Extracted>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Extracted {
    pub kind: Kind,
    pub files: u64,
    pub bytes: u64,
    /// sha256 of the tree listing (path, size, sha256 of every file).
    pub tree_sha256: String,
}

/// The remote files of `m` that are not in the download cache yet (by their pinned or locked
/// sha256; a file with neither is not known to be there).
pub fn not_downloaded(m: &Manifest, cache: &Cache) -> Result<Vec<String>> {
    let lock = LockFile::load(&m.path)?;
    Ok(m.source
        .files
        .iter()
        .filter(|f| {
            let sha = f
                .sha256
                .clone()
                .or_else(|| lock.get(&f.url).map(|l| l.sha256.clone()));
            sha.is_none_or(|s| cache.blob(&s).is_none())
        })
        .map(|f| f.name.clone())
        .collect())
}

/// Downloads (or finds in the cache) every remote file of the manifest, verifying each against
/// its pinned hash or the lock file; learns and records hashes of unpinned files.
pub fn fetch(m: &Manifest, cache: &Cache, p: &Reporter) -> Result<Vec<(RemoteFile, Got)>> {
    let files = &m.source.files;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let mut lock = LockFile::load(&m.path)?;
    let wants: Vec<Want> = files
        .iter()
        .map(|f| {
            let locked = lock.get(&f.url);
            Want {
                name: f.name.clone(),
                urls: f.urls(),
                sha256: f
                    .sha256
                    .clone()
                    .or_else(|| locked.map(|l| l.sha256.clone())),
                size: f.size.or_else(|| locked.map(|l| l.size)),
            }
        })
        .collect();
    let dl = Arc::new(Downloader::new(
        cache.clone(),
        m.source.fetch.http.clone(),
        p.clone(),
    )?);
    let rt = crate::fetch::runtime()?;
    let results = rt.block_on(dl.fetch_all(wants));
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut learned = false;
    for (f, r) in files.iter().zip(results) {
        match r {
            Ok(g) => {
                if g.learned {
                    p.warn(format!(
                        "{}: no sha256 pinned for {}; recorded sha256 {} ({} bytes) in {}",
                        m.path.display(),
                        f.name,
                        g.sha256,
                        g.bytes,
                        lock.path.display()
                    ));
                    lock.files.insert(
                        f.url.clone(),
                        (
                            f.name.clone(),
                            Locked {
                                sha256: g.sha256.clone(),
                                size: g.bytes,
                            },
                        ),
                    );
                    learned = true;
                }
                out.push((f.clone(), g));
            }
            Err(e) => errors.push(e),
        }
    }
    if learned {
        lock.save()?;
    }
    match errors.len() {
        0 => Ok(out),
        1 => Err(errors.pop().expect("one error")),
        _ => Err(Error::Many(errors)),
    }
}

/// Whether `a` and `b` are the same file (one inode), following links.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The first file of `tree` under `dir` whose size or sha256 is not the recorded one.
fn damaged_entry(dir: &Path, tree: &[TreeEntry]) -> Result<Option<String>> {
    for t in tree.iter().filter(|t| t.link_target.is_none()) {
        let p = dir.join(&t.path);
        let Ok(meta) = fs_err::metadata(&p) else {
            return Ok(Some(format!("`{}` is missing", t.path)));
        };
        if meta.len() != t.bytes {
            return Ok(Some(format!(
                "`{}` has {} bytes, {} were extracted",
                t.path,
                meta.len(),
                t.bytes
            )));
        }
        let (sha, _) = crate::util::hash::sha256_file(&p)?;
        if sha != t.sha256 {
            return Ok(Some(format!(
                "`{}` has sha256 {sha}, {} was extracted",
                t.path, t.sha256
            )));
        }
    }
    Ok(None)
}

/// Gives the owner write permission on every directory under `dir` (extracted trees are
/// read-only cache content), so it can be removed.
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
    if let Ok(m) = std::fs::metadata(dir) {
        let mut perm = m.permissions();
        perm.set_mode(perm.mode() | 0o700);
        let _ = std::fs::set_permissions(dir, perm);
    }
}

/// Extracts an archive blob once into `extracted/<sha256>/`, returning its tree.
pub fn extract_cached(
    cache: &Cache,
    got: &Got,
    kind: Kind,
    limits: archive::ExtractLimits,
    p: &Reporter,
) -> Result<(PathBuf, Vec<TreeEntry>, crate::util::lock::FileLock)> {
    let dir = cache.extracted_dir(&got.sha256);
    let tree_path = dir.with_extension("tree.json");
    let read_tree =
        || -> Result<Vec<TreeEntry>> { Ok(serde_json::from_slice(&fs_err::read(&tree_path)?)?) };
    // Held by the caller until its view links are made: `cache gc` takes the same lock.
    let lock = cache.lock(&format!("x-{}", got.sha256))?;
    if dir.is_dir() && tree_path.is_file() {
        // Extracted files are hard-linked into source views: check them against the tree
        // recorded at extraction before using them again; a damaged one means extracting anew.
        let tree = read_tree()?;
        match damaged_entry(&dir, &tree)? {
            None => return Ok((dir, tree, lock)),
            Some(why) => {
                p.warn(format!(
                    "the extracted copy of {} in {} is damaged ({why}): extracting it again",
                    got.name,
                    dir.display()
                ));
                fs_err::remove_file(&tree_path)?;
                make_writable(&dir);
                fs_err::remove_dir_all(&dir)?;
            }
        }
    }
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    if tmp.exists() {
        fs_err::remove_dir_all(&tmp)?;
    }
    fs_err::create_dir_all(&tmp)?;
    p.info(format!("Extracting {} ({kind:?})", got.name));
    let tree = match archive::extract(&got.path, &got.name, kind, &tmp, limits) {
        Ok(t) => t,
        Err(e) => {
            let _ = fs_err::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let t2 = tree_path.with_extension(format!("tmp-{}", std::process::id()));
    fs_err::write(&t2, serde_json::to_vec_pretty(&tree)?)?;
    fs_err::rename(&t2, &tree_path)?;
    if dir.exists() {
        fs_err::remove_dir_all(&tmp)?;
    } else {
        fs_err::rename(&tmp, &dir)?;
    }
    let bytes: u64 = tree.iter().map(|t| t.bytes).sum();
    p.event(
        "extracted",
        json!({"file": got.name, "kind": kind, "entries": tree.len(), "bytes": bytes}),
    );
    Ok((dir, tree, lock))
}

/// Drops the first `n` components of an archive path; `None` when nothing is left.
fn strip(path: &str, n: u32) -> Option<PathBuf> {
    let p: PathBuf = Path::new(path).iter().skip(n as usize).collect();
    (!p.as_os_str().is_empty()).then_some(p)
}

/// Fetches and assembles the source directory under the dataset's stage cache.
pub fn materialize(
    m: &Manifest,
    cache: &Cache,
    stage_cache: &Path,
    p: &Reporter,
) -> Result<(PathBuf, Vec<SourceFile>)> {
    let fetched = fetch(m, cache, p)?;
    let limits = m.source.fetch.extract;
    let mut plan: Vec<(String, PathBuf)> = Vec::new(); // (relative name in view, cache path)
    let mut record = Vec::new();
    let mut fp = Fingerprint::new("source");
    let mut held = Vec::new();
    for (f, g) in &fetched {
        let mut head = vec![0u8; 512];
        let n = {
            use std::io::Read;
            fs_err::File::open(&g.path)?.read(&mut head)?
        };
        head.truncate(n);
        let kind = Kind::detect(&f.name, &head);
        let extract = match (f.extract, kind) {
            (Some(false), _) => None,
            (_, Some(k)) => Some(k),
            (Some(true), None) => {
                return Err(Error::BadInput {
                    path: PathBuf::from(&f.name),
                    message: format!(
                        "`extract = true` but the file (sha256 {}) is not a zip, tar, tar.gz, tar.zst, .gz or .zst archive \
                         (its first bytes are {:?})",
                        g.sha256,
                        String::from_utf8_lossy(&head[..head.len().min(16)])
                    ),
                });
            }
            (None, None) => {
                if Kind::named(&f.name) {
                    p.warn(format!(
                        "{}: named like an archive but its content is not one; using it as a plain file",
                        f.name
                    ));
                }
                None
            }
        };
        fp.part("file", f.name.as_bytes())
            .part("sha256", g.sha256.as_bytes())
            .part("strip", &f.strip_components.to_le_bytes())
            .part("extract", format!("{extract:?}").as_bytes());
        let mut rec = SourceFile {
            name: f.name.clone(),
            url: f.url.clone(),
            sha256: g.sha256.clone(),
            bytes: g.bytes,
            extracted: None,
        };
        match extract {
            None => plan.push((f.name.clone(), g.path.clone())),
            Some(k) => {
                let (dir, tree, lock) = extract_cached(cache, g, k, limits, p)?;
                held.push(lock);
                let listing = serde_json::to_vec(&tree)?;
                rec.extracted = Some(Extracted {
                    kind: k,
                    files: tree.iter().filter(|t| t.link_target.is_none()).count() as u64,
                    bytes: tree.iter().map(|t| t.bytes).sum(),
                    tree_sha256: crate::util::hash::sha256_hex(&listing),
                });
                for t in &tree {
                    if t.link_target.is_some() {
                        continue;
                    }
                    if let Some(rel) = strip(&t.path, f.strip_components) {
                        plan.push((rel.to_string_lossy().into_owned(), dir.join(&t.path)));
                    }
                }
            }
        }
        record.push(rec);
    }
    let fp = fp.finish();
    let view = stage_cache.join(format!("source-{}", &fp[..16]));
    // The view is hard links to the (just verified) cache files: one that no longer links to
    // its cache file (re-downloaded or re-extracted after damage) means making the view anew.
    if view.is_dir()
        && !plan
            .iter()
            .all(|(rel, from)| same_file(&view.join(rel), from))
    {
        fs_err::remove_dir_all(&view)?;
    }
    if !view.is_dir() {
        plan.sort();
        for w in plan.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(Error::Invalid(format!(
                    "{}: two source files both provide `{}`; set `name` or `strip_components` so they do not collide",
                    m.path.display(),
                    w[0].0
                )));
            }
        }
        let tmp = store::temp_dir_for(&view)?;
        for (rel, from) in &plan {
            store::link_or_copy(from, &tmp.join(rel))?;
        }
        store::commit_dir(&tmp, &view)?;
    }
    drop(held);
    let total: u64 = record.iter().map(|r| r.bytes).sum();
    p.info(format!(
        "Source {} file(s), {} verified",
        record.len(),
        human_bytes(total)
    ));
    Ok((view, record))
}
