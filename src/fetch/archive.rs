//! Safe extraction of downloaded archives: zip, tar, tar.gz, tar.zst, and single-file .gz/.zst.
//!
//! An archive is untrusted input. Every entry's path is checked before anything is written:
//! absolute paths, `..` components, symlinks whose target leaves the extraction root, hard links
//! to anything not already extracted, device files, and writing *through* a symlink are refused
//! with an error naming the archive and the entry. Sizes are counted while decompressing (the
//! headers are not trusted), and extraction stops as soon as the total passes `max_bytes` or
//! `max_ratio` times the archive's size (a decompression bomb). The result is recorded as a tree:
//! every file with its size and sha256.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Caps on what one archive may expand to.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct ExtractLimits {
    pub max_bytes: u64,
    pub max_ratio: f64,
    pub max_entries: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        ExtractLimits {
            max_bytes: 512 << 30,
            max_ratio: 200.0,
            max_entries: 10_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Zip,
    Tar,
    TarGz,
    TarZst,
    Gz,
    Zst,
}

impl Kind {
    /// From the file name, confirmed by the magic bytes (a `.zip` that is HTML is not a zip).
    pub fn detect(name: &str, head: &[u8]) -> Option<Kind> {
        let n = name.to_ascii_lowercase();
        let magic_zip = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
        let magic_gz = head.starts_with(&[0x1f, 0x8b]);
        let magic_zst = head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        let magic_tar = head.len() >= 262 && &head[257..262] == b"ustar";
        if n.ends_with(".zip") && magic_zip {
            Some(Kind::Zip)
        } else if (n.ends_with(".tar.gz") || n.ends_with(".tgz")) && magic_gz {
            Some(Kind::TarGz)
        } else if (n.ends_with(".tar.zst") || n.ends_with(".tzst")) && magic_zst {
            Some(Kind::TarZst)
        } else if n.ends_with(".tar") && magic_tar {
            Some(Kind::Tar)
        } else if n.ends_with(".gz") && magic_gz {
            Some(Kind::Gz)
        } else if n.ends_with(".zst") && magic_zst {
            Some(Kind::Zst)
        } else {
            None
        }
    }

    /// Whether the name says archive (used to report a name/content disagreement).
    pub fn named(name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        [".zip", ".tar", ".tgz", ".tzst", ".gz", ".zst"]
            .iter()
            .any(|e| n.ends_with(e))
    }
}

/// One extracted file (or link) in the recorded tree.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TreeEntry {
    pub path: String,
    pub bytes: u64,
    /// sha256 of a file's content; for a symlink, empty.
    pub sha256: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub link_target: Option<String>,
}

/// Why an entry was refused.
fn refuse(archive: &str, entry: &str, why: impl Into<String>) -> Error {
    Error::UnsafeArchive {
        archive: archive.to_string(),
        entry: entry.to_string(),
        reason: why.into(),
    }
}

/// Checks an entry path and returns it relative and normalized; `None` for the root itself.
pub fn safe_relative(archive: &str, entry: &str) -> Result<Option<PathBuf>> {
    if entry.contains('\0') {
        return Err(refuse(archive, entry, "path contains a NUL byte"));
    }
    // Zips made on Windows sometimes use backslashes; treat them as separators so
    // `..\..\x` cannot pass as one odd file name.
    let unified = entry.replace('\\', "/");
    if unified.starts_with('/') || (unified.len() > 1 && unified.as_bytes()[1] == b':') {
        return Err(refuse(archive, entry, "absolute path"));
    }
    let mut out = PathBuf::new();
    for c in Path::new(&unified).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(refuse(
                    archive,
                    entry,
                    "path contains `..` and would escape the extraction directory",
                ));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(archive, entry, "absolute path"));
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Where a symlink at `rel` pointing at `target` resolves inside the root, or `None`.
///
/// Only targets of the form `../../name/name` are accepted: `..` after a name could climb out
/// through another link (`e -> .` makes `e/e/e/../../..` climb three real levels while it
/// looks like none), so a `..` may only lead the path, where it climbs real directories.
fn resolve_link(rel: &Path, target: &str) -> Option<PathBuf> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<std::ffi::OsString> = rel
        .parent()
        .map(|p| p.iter().map(|s| s.to_os_string()).collect())
        .unwrap_or_default();
    let mut seen_name = false;
    for c in Path::new(target).components() {
        match c {
            Component::Normal(p) => {
                seen_name = true;
                parts.push(p.to_os_string());
            }
            Component::CurDir => {}
            Component::ParentDir if !seen_name => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Writes entries under `root`, counting bytes against the limits.
struct Writer<'a> {
    root: &'a Path,
    archive: &'a str,
    archive_bytes: u64,
    limits: ExtractLimits,
    written: u64,
    entries: u64,
    tree: Vec<TreeEntry>,
    /// Position in `tree` of each path: a later entry of the same path replaces the earlier
    /// one in O(1) (a linear search per entry made 200k entries take a minute).
    index: std::collections::HashMap<String, usize>,
    /// The copy buffer, reused by every entry (100k empty entries must not zero 6 GB).
    buf: Vec<u8>,
}

impl Writer<'_> {
    /// Adds `e` to the tree, replacing an earlier entry of the same path.
    fn record(&mut self, e: TreeEntry) {
        match self.index.get(&e.path) {
            Some(&k) => self.tree[k] = e,
            None => {
                self.index.insert(e.path.clone(), self.tree.len());
                self.tree.push(e);
            }
        }
    }
}

impl Writer<'_> {
    fn budget(&self) -> u64 {
        let by_ratio = (self.archive_bytes.max(1) as f64 * self.limits.max_ratio) as u64;
        self.limits.max_bytes.min(by_ratio)
    }

    fn bomb(&self, entry: &str) -> Error {
        refuse(
            self.archive,
            entry,
            format!(
                "expands past {} bytes ({} x the {}-byte archive, cap {}): refusing a likely decompression bomb; \
                 raise `source.extract.max_ratio` / `max_bytes` if this archive is trusted",
                self.budget(),
                self.limits.max_ratio,
                self.archive_bytes,
                self.limits.max_bytes
            ),
        )
    }

    /// Refuses to write where an ancestor inside the root is a symlink (a link planted by an
    /// earlier entry must not redirect a later one outside).
    fn check_parents(&self, rel: &Path, entry: &str) -> Result<()> {
        let mut p = self.root.to_path_buf();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                p.push(c);
                if let Ok(m) = std::fs::symlink_metadata(&p)
                    && m.file_type().is_symlink()
                {
                    return Err(refuse(
                        self.archive,
                        entry,
                        "path goes through a symlink extracted earlier",
                    ));
                }
            }
        }
        Ok(())
    }

    fn count_entry(&mut self, entry: &str) -> Result<()> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(refuse(
                self.archive,
                entry,
                format!("more than {} entries", self.limits.max_entries),
            ));
        }
        Ok(())
    }

    /// Counts a named entry and returns its checked relative path (`what`: "file", "link").
    fn named_entry(&mut self, entry: &str, what: &str) -> Result<PathBuf> {
        self.count_entry(entry)?;
        safe_relative(self.archive, entry)?.ok_or_else(|| {
            refuse(
                self.archive,
                entry,
                format!("a {what} entry with an empty name"),
            )
        })
    }

    /// The destination of `rel`, after checking no ancestor is a link, with its parent made.
    fn destination(&self, rel: &Path, entry: &str) -> Result<PathBuf> {
        self.check_parents(rel, entry)?;
        let dst = self.root.join(rel);
        if let Some(p) = dst.parent() {
            fs_err::create_dir_all(p)?;
        }
        Ok(dst)
    }

    fn dir(&mut self, entry: &str) -> Result<()> {
        self.count_entry(entry)?;
        if let Some(rel) = safe_relative(self.archive, entry)? {
            self.check_parents(&rel, entry)?;
            fs_err::create_dir_all(self.root.join(rel))?;
        }
        Ok(())
    }

    fn file(&mut self, entry: &str, r: &mut dyn Read) -> Result<()> {
        let rel = self.named_entry(entry, "file")?;
        let dst = self.destination(&rel, entry)?;
        if let Ok(m) = std::fs::symlink_metadata(&dst)
            && !m.is_file()
        {
            return Err(refuse(
                self.archive,
                entry,
                "overwrites a directory or link extracted earlier",
            ));
        }
        let mut out = fs_err::File::create(&dst)?;
        let mut h = Sha256::new();
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(1 << 20, 0);
        let mut n = 0u64;
        let budget = self.budget();
        loop {
            let k = r.read(&mut buf).map_err(|e| Error::BadInput {
                path: PathBuf::from(self.archive),
                message: format!("entry `{entry}`: cannot decompress: {e}"),
            })?;
            if k == 0 {
                break;
            }
            n += k as u64;
            if self.written + n > budget {
                drop(out);
                let _ = fs_err::remove_file(&dst);
                return Err(self.bomb(entry));
            }
            h.update(&buf[..k]);
            out.write_all(&buf[..k])?;
        }
        self.buf = buf;
        self.written += n;
        let path = rel.to_string_lossy().into_owned();
        self.record(TreeEntry {
            path,
            bytes: n,
            sha256: hex::encode(h.finalize()),
            link_target: None,
        });
        Ok(())
    }

    fn symlink(&mut self, entry: &str, target: &str) -> Result<()> {
        let rel = self.named_entry(entry, "link")?;
        match resolve_link(&rel, target) {
            Some(r) if !r.as_os_str().is_empty() => {}
            _ => {
                return Err(refuse(
                    self.archive,
                    entry,
                    format!("symlink to `{target}` points outside the extraction directory"),
                ));
            }
        }
        let dst = self.destination(&rel, entry)?;
        std::os::unix::fs::symlink(target, &dst).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("creating symlink {}: {e}", dst.display()),
            ))
        })?;
        self.record(TreeEntry {
            path: rel.to_string_lossy().into_owned(),
            bytes: 0,
            sha256: String::new(),
            link_target: Some(target.to_string()),
        });
        Ok(())
    }

    fn hardlink(&mut self, entry: &str, target: &str) -> Result<()> {
        let rel = self.named_entry(entry, "link")?;
        let src_rel = match safe_relative(self.archive, target) {
            Ok(Some(s)) => s,
            _ => {
                return Err(refuse(
                    self.archive,
                    entry,
                    format!("hard link to `{target}` points outside the extraction directory"),
                ));
            }
        };
        let src_path = src_rel.to_string_lossy().into_owned();
        let Some(src) = self
            .index
            .get(&src_path)
            .map(|&k| &self.tree[k])
            .filter(|t| t.link_target.is_none())
            .cloned()
        else {
            return Err(refuse(
                self.archive,
                entry,
                format!("hard link to `{target}`, which is not a file extracted earlier"),
            ));
        };
        let dst = self.destination(&rel, entry)?;
        // A link must not land on anything extracted earlier: copying onto a symlink would
        // write through it (possibly outside), onto a file would change hashed content.
        if std::fs::symlink_metadata(&dst).is_ok() {
            return Err(refuse(
                self.archive,
                entry,
                "hard link overwrites an entry extracted earlier",
            ));
        }
        fs_err::copy(self.root.join(&src_rel), &dst)?;
        self.written += src.bytes;
        if self.written > self.budget() {
            return Err(self.bomb(entry));
        }
        self.record(TreeEntry {
            path: rel.to_string_lossy().into_owned(),
            ..src
        });
        Ok(())
    }
}

/// Extracts `archive` (of `kind`) into the empty directory `dest`; returns the tree, sorted.
pub fn extract(
    archive: &Path,
    display_name: &str,
    kind: Kind,
    dest: &Path,
    limits: ExtractLimits,
) -> Result<Vec<TreeEntry>> {
    let archive_bytes = fs_err::metadata(archive)?.len();
    let mut w = Writer {
        root: dest,
        archive: display_name,
        archive_bytes,
        limits,
        written: 0,
        entries: 0,
        tree: Vec::new(),
        index: std::collections::HashMap::new(),
        buf: Vec::new(),
    };
    let open = || -> Result<std::io::BufReader<fs_err::File>> {
        Ok(std::io::BufReader::with_capacity(
            1 << 20,
            fs_err::File::open(archive)?,
        ))
    };
    let bad = |e: &dyn std::fmt::Display| Error::BadInput {
        path: PathBuf::from(display_name),
        message: format!("not a readable {kind:?} archive: {e}"),
    };
    match kind {
        Kind::Zip => extract_zip(&mut w, open()?, display_name)?,
        Kind::Tar => extract_tar(&mut w, open()?)?,
        Kind::TarGz => extract_tar(&mut w, flate2::read::MultiGzDecoder::new(open()?))?,
        Kind::TarZst => extract_tar(
            &mut w,
            zstd::stream::read::Decoder::new(open()?).map_err(|e| bad(&e))?,
        )?,
        Kind::Gz | Kind::Zst => {
            let lower = display_name.to_ascii_lowercase();
            let base = Path::new(display_name)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = if lower.ends_with(".gz") {
                &base[..base.len() - 3]
            } else {
                &base[..base.len() - 4]
            };
            let mut r: Box<dyn Read> = if kind == Kind::Gz {
                Box::new(flate2::read::MultiGzDecoder::new(open()?))
            } else {
                Box::new(zstd::stream::read::Decoder::new(open()?).map_err(|e| bad(&e))?)
            };
            w.file(stem, &mut r)?;
        }
    }
    let mut tree = w.tree;
    tree.sort_by(|a, b| a.path.cmp(&b.path));
    // Extracted files are cache content: read-only, like downloaded blobs.
    for t in tree.iter().filter(|t| t.link_target.is_none()) {
        use std::os::unix::fs::PermissionsExt;
        fs_err::set_permissions(dest.join(&t.path), std::fs::Permissions::from_mode(0o444))?;
    }
    Ok(tree)
}

fn extract_tar(w: &mut Writer<'_>, r: impl Read) -> Result<()> {
    let name = w.archive.to_string();
    let bad = |e: std::io::Error| Error::BadInput {
        path: PathBuf::from(&name),
        message: format!("not a readable tar archive: {e}"),
    };
    let mut ar = tar::Archive::new(r);
    for e in ar.entries().map_err(bad)? {
        let mut e = e.map_err(bad)?;
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let kind = e.header().entry_type();
        match kind {
            tar::EntryType::Directory => w.dir(&path)?,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                w.file(&path, &mut e)?
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = e
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if kind == tar::EntryType::Symlink {
                    w.symlink(&path, &target)?
                } else {
                    w.hardlink(&path, &target)?
                }
            }
            // pax/GNU long-name headers are consumed by the tar crate; anything else
            // (devices, fifos) has no business in a dataset.
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => {}
            other => {
                return Err(refuse(
                    w.archive,
                    &path,
                    format!("special file of type {other:?}"),
                ));
            }
        }
    }
    Ok(())
}

fn extract_zip<R: Read + std::io::Seek>(w: &mut Writer<'_>, r: R, name: &str) -> Result<()> {
    let bad = |e: zip::result::ZipError| Error::BadInput {
        path: PathBuf::from(name),
        message: format!("not a readable zip archive: {e}"),
    };
    let mut ar = zip::ZipArchive::new(r).map_err(bad)?;
    // The central directory's sizes are claims; check them early, count for real below.
    let claimed: u64 = (0..ar.len())
        .filter_map(|i| ar.by_index_raw(i).ok().map(|f| f.size()))
        .sum();
    if claimed > w.budget() {
        return Err(w.bomb("(central directory)"));
    }
    for i in 0..ar.len() {
        let mut f = ar.by_index(i).map_err(bad)?;
        let path = String::from_utf8_lossy(f.name_raw()).into_owned();
        if f.is_dir() {
            w.dir(&path)?;
        } else if f.is_symlink() {
            let mut target = String::new();
            f.read_to_string(&mut target).map_err(|e| Error::BadInput {
                path: PathBuf::from(name),
                message: format!("entry `{path}`: {e}"),
            })?;
            w.symlink(&path, &target)?;
        } else {
            w.file(&path, &mut f)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert!(safe_relative("a", "../x").is_err());
        assert!(safe_relative("a", "a/../../x").is_err());
        assert!(safe_relative("a", "/etc/passwd").is_err());
        assert!(safe_relative("a", "..\\..\\x").is_err());
        assert!(safe_relative("a", "C:/x").is_err());
        assert_eq!(
            safe_relative("a", "./d/x.tsv").unwrap(),
            Some(PathBuf::from("d/x.tsv"))
        );
    }

    #[test]
    fn links() {
        assert!(resolve_link(Path::new("d/l"), "../x").is_some());
        assert!(resolve_link(Path::new("d/l"), "../../x").is_none());
        assert!(resolve_link(Path::new("l"), "/etc").is_none());
        // `..` after a name could climb through another link: refused.
        assert!(resolve_link(Path::new("sub/f"), "e/e/e/../../../../x").is_none());
        assert!(resolve_link(Path::new("sub/f"), "e/../x").is_none());
        assert_eq!(
            resolve_link(Path::new("a/b/l"), "../../c/d"),
            Some(PathBuf::from("c/d"))
        );
    }
}
