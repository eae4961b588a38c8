//! Content hashing: sha256 for files and fingerprints, CRC-32 for the stage records.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Lowercase hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Feeds a file to `update` in 1 MiB blocks; returns its length.
fn read_blocks(path: &Path, mut update: impl FnMut(&[u8])) -> std::io::Result<u64> {
    let mut f = fs_err::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += k as u64;
        update(&buf[..k]);
    }
}

/// CRC-32 (ISO-HDLC, as zlib's) and length of a file.
pub fn crc32_file(path: &Path) -> std::io::Result<(u32, u64)> {
    let mut h = crc32fast::Hasher::new();
    let n = read_blocks(path, |b| h.update(b))?;
    Ok((h.finalize(), n))
}

/// Lowercase hex sha256 and size of a file, streamed in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let n = read_blocks(path, |b| h.update(b))?;
    Ok((hex::encode(h.finalize()), n))
}

/// An incremental fingerprint: feed labelled parts, get a short stable hex digest.
#[derive(Clone, Default)]
pub struct Fingerprint(Sha256);

impl Fingerprint {
    pub fn new(kind: &str) -> Self {
        let mut f = Fingerprint(Sha256::new());
        f.part("kind", kind.as_bytes());
        f
    }

    /// Adds a labelled part; lengths are included so parts cannot run into each other.
    pub fn part(&mut self, label: &str, bytes: &[u8]) -> &mut Self {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    pub fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}
