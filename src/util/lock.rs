//! Advisory file locks (`flock(2)` through std's `File::lock`): released when dropped or when
//! the process dies, so a SIGKILL'd run never leaves a lock behind. The one lock primitive of
//! the crate (dataset locks, download and cache locks).

use std::path::{Path, PathBuf};

/// An exclusive lock held on `path` for as long as the value lives.
pub struct FileLock {
    _file: std::fs::File,
    pub path: PathBuf,
}

impl FileLock {
    fn open(path: &Path) -> std::io::Result<std::fs::File> {
        if let Some(p) = path.parent() {
            fs_err::create_dir_all(p)?;
        }
        Ok(fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?
            .into_parts()
            .0)
    }

    /// Waits until the lock is free.
    pub fn wait(path: &Path) -> std::io::Result<Self> {
        let file = Self::open(path)?;
        file.lock().map_err(|e| {
            std::io::Error::new(e.kind(), format!("locking {}: {e}", path.display()))
        })?;
        Ok(FileLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// Takes the lock if it is free; `None` if another process holds it.
    pub fn try_take(path: &Path) -> std::io::Result<Option<Self>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock {
                _file: file,
                path: path.to_path_buf(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(std::io::Error::new(
                e.kind(),
                format!("locking {}: {e}", path.display()),
            )),
        }
    }
}
