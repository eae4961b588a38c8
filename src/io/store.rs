//! The versioned dataset store under `<data_dir>/<dataset>/`:
//!
//! ```text
//! <version>/         published, immutable
//! latest -> <version> the greatest published version (natural order)
//! .cache/<stage>-<fingerprint>/   stage outputs, committed by rename
//! .staging-*/ .cache/*.tmp-*      partial work of a killed build, removed at the next start
//! .lock                           held (flock) by the running build
//! ```
//!
//! Every directory appears by `rename(2)` of a fully written temporary directory, so a build
//! killed at any instant leaves either nothing or a complete directory behind.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An exclusive lock on a dataset directory, released when dropped or when the process dies.
pub struct DatasetLock {
    _file: fs_err::File,
}

impl DatasetLock {
    pub fn acquire(dataset_dir: &Path) -> Result<Self> {
        fs_err::create_dir_all(dataset_dir)?;
        let path = dataset_dir.join(".lock");
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(Error::Locked { path });
        }
        Ok(DatasetLock { _file: file })
    }

    /// Waits for the lock (shards of one build share the cheap stages one at a time).
    pub fn wait(dataset_dir: &Path) -> Result<Self> {
        fs_err::create_dir_all(dataset_dir)?;
        let path = dataset_dir.join(".lock");
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        loop {
            // SAFETY: flock on a valid, owned file descriptor.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(DatasetLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("locking {}: {e}", path.display()),
                )));
            }
        }
    }
}

/// Removes leftovers of killed builds. Call with the lock held.
pub fn clean_partial(dataset_dir: &Path) -> Result<()> {
    for dir in [dataset_dir.to_path_buf(), dataset_dir.join(".cache")] {
        let Ok(entries) = fs_err::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".staging-") || name.contains(".tmp-") {
                // A killed build leaves directories and files (e.g. `inputs.json.tmp-<pid>`).
                if e.file_type()?.is_dir() {
                    fs_err::remove_dir_all(e.path())?;
                } else {
                    fs_err::remove_file(e.path())?;
                }
            }
        }
    }
    Ok(())
}

/// A fresh temporary directory next to `final_dir`, to be committed with [`commit_dir`].
pub fn temp_dir_for(final_dir: &Path) -> Result<PathBuf> {
    let name = final_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = final_dir.with_file_name(format!("{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        fs_err::remove_dir_all(&tmp)?;
    }
    fs_err::create_dir_all(&tmp)?;
    Ok(tmp)
}

/// Renames a fully written directory into place.
pub fn commit_dir(tmp: &Path, final_dir: &Path) -> Result<()> {
    if final_dir.exists() {
        fs_err::remove_dir_all(tmp)?;
        return Ok(());
    }
    fs_err::rename(tmp, final_dir)?;
    Ok(())
}

/// Hard-links `src` to `dst`, copying where links are not possible (another filesystem).
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if let Some(p) = dst.parent() {
        fs_err::create_dir_all(p)?;
    }
    if fs_err::hard_link(src, dst).is_err() {
        fs_err::copy(src, dst)?;
    }
    Ok(())
}

/// Orders versions naturally: digit runs compare as numbers (`1.10.0` > `1.9.0`).
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let d = c.is_ascii_digit();
            match out.last_mut() {
                Some((kind, buf)) if *kind == d => buf.push(c),
                _ => out.push((d, c.to_string())),
            }
        }
        out
    }
    let (pa, pb) = (parts(a), parts(b));
    for (x, y) in pa.iter().zip(&pb) {
        let o = if x.0 && y.0 {
            let (xs, ys) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
            xs.len().cmp(&ys.len()).then_with(|| xs.cmp(ys))
        } else {
            x.1.cmp(&y.1)
        };
        if o.is_ne() {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

/// Published versions in a dataset directory (directories holding a `dataset.json`).
pub fn versions(dataset_dir: &Path) -> Result<Vec<String>> {
    let mut v = Vec::new();
    let Ok(entries) = fs_err::read_dir(dataset_dir) else {
        return Ok(v);
    };
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && name != "latest" && e.path().join("dataset.json").is_file() {
            v.push(name);
        }
    }
    v.sort_by(|a, b| natural_cmp(a, b));
    Ok(v)
}

/// Points `latest` at the greatest published version, atomically.
pub fn update_latest(dataset_dir: &Path) -> Result<Option<String>> {
    let Some(top) = versions(dataset_dir)?.pop() else {
        return Ok(None);
    };
    let link = dataset_dir.join("latest");
    if fs_err::read_link(&link)
        .ok()
        .is_some_and(|t| t == Path::new(&top))
    {
        return Ok(Some(top));
    }
    let tmp = dataset_dir.join(format!(".latest.tmp-{}", std::process::id()));
    let _ = fs_err::remove_file(&tmp);
    std::os::unix::fs::symlink(&top, &tmp).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("creating symlink {}: {e}", tmp.display()),
        ))
    })?;
    fs_err::rename(&tmp, &link)?;
    Ok(Some(top))
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use std::cmp::Ordering::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("1.10.0", "1.9.0"), Greater);
        assert_eq!(natural_cmp("v2", "v10"), Less);
        assert_eq!(natural_cmp("1.0", "1.0"), Equal);
        assert_eq!(natural_cmp("1.0", "1.0.1"), Less);
    }
}
