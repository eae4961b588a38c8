//! Advisory file locks (`flock(2)`): released when dropped or when the process dies, so a
//! SIGKILL'd run never leaves a lock behind.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// An exclusive lock held on `path` for as long as the value lives.
pub struct FileLock {
    _file: fs_err::File,
    pub path: PathBuf,
}

impl FileLock {
    fn open(path: &Path) -> std::io::Result<fs_err::File> {
        if let Some(p) = path.parent() {
            fs_err::create_dir_all(p)?;
        }
        fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
    }

    /// Waits until the lock is free.
    pub fn wait(path: &Path) -> std::io::Result<Self> {
        let file = Self::open(path)?;
        loop {
            // SAFETY: flock on a valid, owned file descriptor.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("locking {}: {e}", path.display()),
                ));
            }
        }
        Ok(FileLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// Takes the lock if it is free; `None` if another process holds it.
    pub fn try_take(path: &Path) -> std::io::Result<Option<Self>> {
        let file = Self::open(path)?;
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        Ok((rc == 0).then(|| FileLock {
            _file: file,
            path: path.to_path_buf(),
        }))
    }
}
