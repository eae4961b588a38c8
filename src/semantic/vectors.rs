//! The input matrix of a semantic-id build: N rows of `dim` f32, held in memory while it fits
//! the memory budget and spilled to a flat file beside the output otherwise. Every pass over the
//! items (training samples, assignment, metrics) reads rows through [`Vectors`], so a 10M-item
//! catalogue costs its codes in memory, not its N × d vectors.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::Digest;

use crate::error::{Error, Result};

/// Default budget for holding the vectors in memory (`RECDATA_SID_MEMORY_MB` overrides).
const DEFAULT_BUDGET_MB: usize = 4096;
/// Rows per sequential read or write.
const IO_ROWS: usize = 8192;

static SPILLS: AtomicUsize = AtomicUsize::new(0);

pub fn memory_budget_bytes() -> usize {
    std::env::var("RECDATA_SID_MEMORY_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_BUDGET_MB)
        .saturating_mul(1 << 20)
}

enum Store {
    Memory(Vec<f32>),
    /// A flat little-endian f32 file, removed when dropped.
    Spill {
        file: std::fs::File,
        path: PathBuf,
    },
}

pub struct Vectors {
    pub rows: usize,
    pub dim: usize,
    store: Store,
}

impl Drop for Vectors {
    fn drop(&mut self) {
        if let Store::Spill { path, .. } = &self.store {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn spill_file(dir: &Path) -> Result<(std::fs::File, PathBuf)> {
    fs_err::create_dir_all(dir)?;
    let path = dir.join(format!(
        ".sid-vectors-{}-{}.f32",
        std::process::id(),
        SPILLS.fetch_add(1, Ordering::Relaxed)
    ));
    let file = fs_err::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?
        .into_parts()
        .0;
    Ok((file, path))
}

fn as_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|f| f.to_le_bytes()).collect()
}

impl Vectors {
    pub fn from_vec(data: Vec<f32>, dim: usize) -> Vectors {
        Vectors {
            rows: data.len().checked_div(dim).unwrap_or(0),
            dim,
            store: Store::Memory(data),
        }
    }

    pub fn is_spilled(&self) -> bool {
        matches!(self.store, Store::Spill { .. })
    }

    /// Rows `lo..hi` into `out` (`(hi − lo) · dim` values).
    pub fn read_rows(&self, lo: usize, hi: usize, out: &mut [f32]) -> Result<()> {
        let d = self.dim;
        match &self.store {
            Store::Memory(x) => out.copy_from_slice(&x[lo * d..hi * d]),
            Store::Spill { file, path } => {
                let mut buf = vec![0u8; (hi - lo) * d * 4];
                file.read_exact_at(&mut buf, (lo * d * 4) as u64)
                    .map_err(|e| Error::BadInput {
                        path: path.clone(),
                        message: format!("reading rows {lo}..{hi} of the spilled vectors: {e}"),
                    })?;
                for (o, b) in out.iter_mut().zip(buf.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
        }
        Ok(())
    }

    pub fn read_row(&self, i: usize, out: &mut [f32]) -> Result<()> {
        self.read_rows(i, i + 1, out)
    }

    /// The rows `idx` (any order) gathered into one matrix.
    pub fn gather(&self, idx: &[usize]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; idx.len() * self.dim];
        for (row, &i) in out.chunks_mut(self.dim).zip(idx) {
            self.read_row(i, row)?;
        }
        Ok(out)
    }

    /// Calls `f(lo, rows)` for consecutive blocks of rows, in order.
    pub fn for_each_block(&self, mut f: impl FnMut(usize, &[f32])) -> Result<()> {
        let mut buf = Vec::new();
        for lo in (0..self.rows).step_by(IO_ROWS) {
            let hi = (lo + IO_ROWS).min(self.rows);
            match &self.store {
                Store::Memory(x) => f(lo, &x[lo * self.dim..hi * self.dim]),
                Store::Spill { .. } => {
                    buf.resize((hi - lo) * self.dim, 0.0);
                    self.read_rows(lo, hi, &mut buf)?;
                    f(lo, &buf);
                }
            }
        }
        Ok(())
    }

    /// A new matrix of `new_dim` columns: `f(rows_in, rows_out)` per block. An in-memory input
    /// gives an in-memory output; a spilled one is re-checked against the budget (a large
    /// output goes to a new spill file) and its file is removed afterwards.
    pub fn map_blocks(
        self,
        new_dim: usize,
        spill_dir: &Path,
        f: impl Fn(&[f32], &mut [f32]),
    ) -> Result<Vectors> {
        let mut w = VectorWriter::new(new_dim, spill_dir, !self.is_spilled(), false);
        let mut out = Vec::new();
        let mut err = None;
        self.for_each_block(|lo, rows| {
            let n = rows.len() / self.dim;
            out.resize(n * new_dim, 0.0);
            f(rows, &mut out);
            if err.is_none()
                && let Err(e) = w.push(&out)
            {
                err = Some(e);
            }
            let _ = lo;
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        Ok(w.finish()?.0)
    }
}

/// Builds a [`Vectors`] row block by row block, spilling to `spill_dir` once the rows exceed the
/// memory budget, and hashing the raw values (the input fingerprint) on the way.
pub struct VectorWriter {
    dim: usize,
    rows: usize,
    spill_dir: PathBuf,
    budget: usize,
    memory: Vec<f32>,
    spill: Option<(std::io::BufWriter<std::fs::File>, PathBuf)>,
    sha: Option<sha2::Sha256>,
}

impl VectorWriter {
    /// `in_memory`: never spill (the caller already decided); `hash`: fingerprint the values.
    pub fn new(dim: usize, spill_dir: &Path, in_memory: bool, hash: bool) -> VectorWriter {
        VectorWriter {
            dim,
            rows: 0,
            spill_dir: spill_dir.to_path_buf(),
            budget: if in_memory {
                usize::MAX
            } else {
                memory_budget_bytes()
            },
            memory: Vec::new(),
            spill: None,
            sha: hash.then(sha2::Sha256::new),
        }
    }

    /// Appends whole rows.
    pub fn push(&mut self, rows: &[f32]) -> Result<()> {
        debug_assert_eq!(rows.len() % self.dim.max(1), 0);
        self.rows += rows.len() / self.dim.max(1);
        if let Some(h) = &mut self.sha {
            h.update(as_bytes(rows));
        }
        if self.spill.is_none() && (self.memory.len() + rows.len()) * 4 > self.budget {
            let (file, path) = spill_file(&self.spill_dir)?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
            for chunk in self.memory.chunks(IO_ROWS * self.dim.max(1)) {
                w.write_all(&as_bytes(chunk))
                    .map_err(|e| spill_error(&path, e))?;
            }
            self.memory = Vec::new();
            self.spill = Some((w, path));
        }
        match &mut self.spill {
            Some((w, path)) => w
                .write_all(&as_bytes(rows))
                .map_err(|e| spill_error(path, e)),
            None => {
                self.memory.extend_from_slice(rows);
                Ok(())
            }
        }
    }

    /// The matrix and the sha256 of its values (empty when not hashing).
    pub fn finish(self) -> Result<(Vectors, String)> {
        let sha = self
            .sha
            .map(|h| hex::encode(h.finalize()))
            .unwrap_or_default();
        let store = match self.spill {
            None => Store::Memory(self.memory),
            Some((w, path)) => {
                let file = w
                    .into_inner()
                    .map_err(|e| spill_error(&path, e.into_error()))?;
                Store::Spill { file, path }
            }
        };
        Ok((
            Vectors {
                rows: self.rows,
                dim: self.dim,
                store,
            },
            sha,
        ))
    }
}

fn spill_error(path: &Path, e: std::io::Error) -> Error {
    Error::BadInput {
        path: path.to_path_buf(),
        message: format!(
            "writing the spilled vectors: {e}\n  hint: semantic ids spill vectors over RECDATA_SID_MEMORY_MB to the output directory; free disk space there or raise the budget"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_and_in_memory_rows_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<f32> = (0..3 * 20_000).map(|i| i as f32 * 0.5).collect();
        let mut w = VectorWriter::new(3, dir.path(), false, true);
        w.budget = 1000; // force a spill after a few pushes
        for c in data.chunks(300) {
            w.push(c).unwrap();
        }
        let (v, sha) = w.finish().unwrap();
        assert!(v.is_spilled());
        assert_eq!(v.rows, 20_000);
        let mem = Vectors::from_vec(data.clone(), 3);
        let mut a = vec![0f32; 30];
        let mut b = vec![0f32; 30];
        v.read_rows(19_990, 20_000, &mut a).unwrap();
        mem.read_rows(19_990, 20_000, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            v.gather(&[5, 1]).unwrap(),
            vec![7.5, 8.0, 8.5, 1.5, 2.0, 2.5]
        );
        let mut all = Vec::new();
        v.for_each_block(|_, r| all.extend_from_slice(r)).unwrap();
        assert_eq!(all, data);
        assert_eq!(sha.len(), 64);
        let doubled = v.map_blocks(1, dir.path(), |i, o| {
            for (r, out) in i.chunks(3).zip(o.iter_mut()) {
                *out = r[0] * 2.0;
            }
        });
        // The output is under the default budget again, so it is held in memory.
        let doubled = doubled.unwrap();
        assert!(!doubled.is_spilled());
        let mut one = [0f32];
        doubled.read_row(10, &mut one).unwrap();
        assert_eq!(one[0], 30.0);
        drop(doubled);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "spill files removed"
        );
    }
}
