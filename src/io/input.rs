//! Raw input files: what may be read as one, and how to tell that it did not change.
//!
//! recdata reads every input at least twice (once for its sha256, once to parse it), so an input
//! must be a regular file with a fixed content. A FIFO, a socket or a link to `/dev/zero` would
//! hang or never end, and a file rewritten during the build would be recorded under the hash of
//! bytes that were not the ones parsed. [`check_file`] refuses the first kind with an error that
//! says what the path is; [`Stamp`] detects the second: the kernel updates a file's ctime on
//! every change to its content or metadata and nobody can set it back, so a stamp taken before
//! hashing and parsing that equals the stamp taken after both proves the two read the same bytes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, Result};

/// What identifies a file's content without reading it: its inode, size, mtime and ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub bytes: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            bytes: meta.len(),
            mtime_ns: meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
            ctime_ns: meta.ctime().saturating_mul(1_000_000_000) + meta.ctime_nsec(),
        }
    }

    /// The stamp of the file at `path` (following links); the path must be a regular file.
    pub fn read(path: &Path) -> Result<Self> {
        Ok(Stamp::of(&check_file(path)?))
    }
}

/// The kind of a non-regular file, in words.
fn kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// The metadata of `path` if it is a regular file (links followed); otherwise an error that says
/// what it is instead: missing, a directory, a FIFO or device, a dangling link or a link loop.
pub fn check_file(path: &Path) -> Result<std::fs::Metadata> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(m),
        Ok(m) => Err(Error::BadInput {
            path: path.to_owned(),
            message: format!(
                "is {}, not a regular file: an input must be a file with a fixed content \
                 (recdata hashes it, then parses it)",
                kind(&m.file_type())
            ),
        }),
        Err(e) => Err(open_error(path, e)),
    }
}

/// An error for an input that could not be opened, in the user's terms.
pub fn open_error(path: &Path, e: std::io::Error) -> Error {
    let dangling = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match e.raw_os_error() {
        Some(libc::ELOOP) => Error::BadInput {
            path: path.to_owned(),
            message: "cannot be opened: a loop of symbolic links".into(),
        },
        Some(libc::ENOENT) if dangling => Error::BadInput {
            path: path.to_owned(),
            message: format!(
                "is a symbolic link to `{}`, which does not exist",
                std::fs::read_link(path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default()
            ),
        },
        Some(libc::ENOENT) => Error::MissingInput {
            path: path.to_owned(),
            hint: "check `source.path` in the manifest".into(),
        },
        Some(libc::EACCES) => Error::BadInput {
            path: path.to_owned(),
            message: "cannot be read: permission denied".into(),
        },
        _ => Error::BadInput {
            path: path.to_owned(),
            message: format!("cannot be opened: {e}"),
        },
    }
}

/// Whether something is at `path` that is not a regular file (a directory, a FIFO, a link loop):
/// adapters that look for optional files use it to tell "absent" from "there, but unusable".
pub fn present_but_not_a_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok() && !std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// What the first bytes of a file say about an encoding recdata does not read as text: UTF-16
/// or UTF-32 (with or without a byte order mark), or NUL bytes, in words. `None` for UTF-8
/// (with or without a BOM) and plain ASCII.
pub fn foreign_encoding(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let head = &head[..n];
    if head.starts_with(b"\x00\x00\xFE\xFF") || head.starts_with(b"\xFF\xFE\x00\x00") {
        return Some("UTF-32 (it starts with a UTF-32 byte order mark)".into());
    }
    if head.starts_with(b"\xFF\xFE") {
        return Some("UTF-16 little-endian (it starts with the byte order mark FF FE)".into());
    }
    if head.starts_with(b"\xFE\xFF") {
        return Some("UTF-16 big-endian (it starts with the byte order mark FE FF)".into());
    }
    let nul = head.iter().filter(|b| **b == 0).count();
    if n >= 4 && nul * 4 >= n {
        let odd = head.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
        return Some(if odd * 3 >= n {
            "UTF-16 little-endian without a byte order mark (every other byte is NUL)".into()
        } else if (nul - odd) * 3 >= n {
            "UTF-16 big-endian without a byte order mark (every other byte is NUL)".into()
        } else {
            "binary, not text (a quarter of its first bytes are NUL)".into()
        });
    }
    None
}

/// Fails with "changed while reading" when a file's stamp now differs from `before`.
pub fn check_unchanged(path: &Path, shown: &str, before: &Stamp) -> Result<()> {
    let now = std::fs::metadata(path)
        .map(|m| Stamp::of(&m))
        .unwrap_or_default();
    if now == *before {
        return Ok(());
    }
    let what = if now.ino != before.ino || now.dev != before.dev {
        "was replaced by another file".to_owned()
    } else if now.bytes != before.bytes {
        format!("changed size from {} to {} bytes", before.bytes, now.bytes)
    } else {
        "was modified".to_owned()
    };
    Err(Error::BadInput {
        path: path.to_owned(),
        message: format!(
            "input changed while reading: `{shown}` {what} during the build, so its recorded sha256 \
             would not describe the rows that were parsed; nothing was published\n  hint: \
             build again once the file is no longer being written"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = check_file(&fifo).unwrap_err().to_string();
        assert!(
            e.contains("is a FIFO (named pipe), not a regular file"),
            "{e}"
        );
        let zero = d.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let e = check_file(&zero).unwrap_err().to_string();
        assert!(e.contains("is a character device"), "{e}");
        let e = check_file(d.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let a = d.path().join("a");
        std::os::unix::fs::symlink(d.path().join("b"), &a).unwrap();
        std::os::unix::fs::symlink(&a, d.path().join("b")).unwrap();
        let e = check_file(&a).unwrap_err().to_string();
        assert!(e.contains("a loop of symbolic links"), "{e}");
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
        let e = check_file(&dangling).unwrap_err().to_string();
        assert!(e.contains("which does not exist"), "{e}");
        assert!(matches!(
            check_file(&d.path().join("absent")),
            Err(Error::MissingInput { .. })
        ));
    }

    #[test]
    fn names_utf16_and_binary_files() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("u.data");
        let utf16: Vec<u8> = "196\t242\t3\t881250949\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        std::fs::write(&f, [&[0xFF, 0xFE][..], &utf16].concat()).unwrap();
        assert!(
            foreign_encoding(&f)
                .unwrap()
                .contains("UTF-16 little-endian (it starts")
        );
        std::fs::write(&f, &utf16).unwrap();
        assert!(
            foreign_encoding(&f)
                .unwrap()
                .contains("without a byte order mark")
        );
        std::fs::write(&f, b"\xEF\xBB\xBF196\t242\t3\t881250949\n").unwrap();
        assert_eq!(foreign_encoding(&f), None);
    }

    #[test]
    fn a_rewrite_with_the_same_size_and_mtime_still_changes_the_stamp() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"0123456789").unwrap();
        let before = Stamp::read(&f).unwrap();
        let mtime = std::fs::metadata(&f).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&f, b"9876543210").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let after = Stamp::read(&f).unwrap();
        assert_eq!(
            (after.bytes, after.mtime_ns),
            (before.bytes, before.mtime_ns)
        );
        assert_ne!(after, before);
        let e = check_unchanged(&f, "f", &before).unwrap_err().to_string();
        assert!(
            e.contains("input changed while reading: `f` was modified"),
            "{e}"
        );
    }
}
