//! The embedding cache: every result (a vector, or the status of an input that cannot be
//! encoded) keyed by the input's content hash, in a directory per (model sha256,
//! preprocessing). Results are appended as small Arrow IPC files written atomically every few
//! thousand items, so a killed encode keeps what it finished and a re-run encodes only what
//! changed. The cache lives beside the download cache (`$RECDATA_CACHE/embeddings`), so two
//! datasets with the same covers share their vectors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::builder::{FixedSizeBinaryBuilder, FixedSizeListBuilder, Float32Builder};
use arrow_array::{
    Array, FixedSizeBinaryArray, FixedSizeListArray, Float32Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};

use super::EncodeError;
use crate::error::Result;
use crate::util::hash::Fingerprint;

pub type Key = [u8; 32];
/// The chunk-file metadata key holding the device its vectors were computed on.
const DEVICE_KEY: &str = "recdata.device";
pub type Outcome = std::result::Result<Vec<f32>, EncodeError>;

pub struct EmbeddingCache {
    dir: PathBuf,
    dim: usize,
    /// Where this run computes vectors (`cpu`, `cuda`): recorded in each chunk file's metadata,
    /// so a vector read back from the cache still says where it was computed.
    device: String,
    flush_items: usize,
    pending: Vec<(Key, Outcome)>,
    last_flush: Instant,
}

/// Flush after this many new results (`RECDATA_ENCODE_FLUSH_ITEMS`, default 2,048) or this
/// many seconds, whichever comes first: the most work a kill can lose.
const FLUSH_ITEMS: usize = 2048;
const FLUSH_SECS: u64 = 20;

fn flush_items() -> usize {
    std::env::var("RECDATA_ENCODE_FLUSH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(FLUSH_ITEMS)
}

impl EmbeddingCache {
    /// The cache directory of a (model, preprocessing) pair under `root`.
    pub fn open(
        root: &Path,
        model_sha: &str,
        preprocessing: &str,
        dim: usize,
        device: &str,
    ) -> Result<Self> {
        let mut f = Fingerprint::new("embeddings");
        f.part("model", model_sha.as_bytes())
            .part("preprocessing", preprocessing.as_bytes());
        let fp = f.finish();
        let dir = root.join(format!("{}-{}", &model_sha[..16], &fp[..16]));
        fs_err::create_dir_all(&dir)?;
        Ok(EmbeddingCache {
            dir,
            dim,
            device: device.to_owned(),
            flush_items: flush_items(),
            pending: Vec::new(),
            last_flush: Instant::now(),
        })
    }

    fn schema(dim: usize, device: &str) -> Arc<Schema> {
        let meta: HashMap<String, String> = [(DEVICE_KEY.to_owned(), device.to_owned())].into();
        Arc::new(Schema::new_with_metadata(
            vec![
                Field::new("key", DataType::FixedSizeBinary(32), false),
                Field::new("status", DataType::Utf8, false),
                Field::new("detail", DataType::Utf8, true),
                Field::new(
                    "vector",
                    DataType::FixedSizeList(
                        Arc::new(Field::new("item", DataType::Float32, true)),
                        dim as i32,
                    ),
                    true,
                ),
            ],
            meta,
        ))
    }

    /// The cached outcomes of `wanted` keys, each with the device that computed it (`None` for
    /// chunks written before devices were recorded). Unreadable chunk files (a crash mid-write
    /// cannot leave one, but a disk can) are skipped: their items are simply encoded again.
    pub fn lookup(
        &self,
        wanted: &std::collections::HashSet<Key>,
    ) -> Result<HashMap<Key, (Outcome, Option<String>)>> {
        let mut out = HashMap::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let mut files: Vec<PathBuf> = fs_err::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "arrow"))
            .collect();
        files.sort();
        for f in files {
            let Ok(file) = std::fs::File::open(&f) else {
                continue;
            };
            let Ok(r) = arrow_ipc::reader::FileReader::try_new(std::io::BufReader::new(file), None)
            else {
                continue;
            };
            let device = r.schema().metadata().get(DEVICE_KEY).cloned();
            for b in r.flatten() {
                let (Some(k), Some(s), Some(d), Some(v)) = (
                    b.column(0).as_any().downcast_ref::<FixedSizeBinaryArray>(),
                    b.column(1).as_any().downcast_ref::<StringArray>(),
                    b.column(2).as_any().downcast_ref::<StringArray>(),
                    b.column(3).as_any().downcast_ref::<FixedSizeListArray>(),
                ) else {
                    continue;
                };
                if v.value_length() as usize != self.dim {
                    continue;
                }
                let vals = v.values().as_any().downcast_ref::<Float32Array>();
                for i in 0..b.num_rows() {
                    let Ok(key) = <Key>::try_from(k.value(i)) else {
                        continue;
                    };
                    if !wanted.contains(&key) {
                        continue;
                    }
                    let o = if s.value(i) == "ok" {
                        let Some(vals) = vals else { continue };
                        let off = i * self.dim;
                        Ok(vals.values()[off..off + self.dim].to_vec())
                    } else {
                        Err(EncodeError {
                            status: s.value(i).to_string(),
                            detail: if d.is_valid(i) {
                                d.value(i).to_string()
                            } else {
                                String::new()
                            },
                        })
                    };
                    out.insert(key, (o, device.clone()));
                }
            }
        }
        Ok(out)
    }

    pub fn insert(&mut self, key: Key, o: Outcome) -> Result<()> {
        self.pending.push((key, o));
        if self.pending.len() >= self.flush_items
            || self.last_flush.elapsed().as_secs() >= FLUSH_SECS
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending results as one chunk file (temporary name, then rename).
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut keys = FixedSizeBinaryBuilder::with_capacity(self.pending.len(), 32);
        let mut vecs = FixedSizeListBuilder::with_capacity(
            Float32Builder::with_capacity(self.pending.len() * self.dim),
            self.dim as i32,
            self.pending.len(),
        )
        .with_field(Arc::new(Field::new("item", DataType::Float32, true)));
        let mut status = Vec::new();
        let mut detail = Vec::new();
        let mut name = Fingerprint::new("chunk");
        for (k, o) in &self.pending {
            keys.append_value(k)?;
            name.part("k", k);
            match o {
                Ok(v) => {
                    vecs.values().append_slice(v);
                    vecs.append(true);
                    status.push("ok".to_string());
                    detail.push(None);
                }
                Err(e) => {
                    vecs.values().append_slice(&vec![0.0; self.dim]);
                    vecs.append(false);
                    status.push(e.status.clone());
                    detail.push(Some(e.detail.clone()));
                }
            }
        }
        let batch = RecordBatch::try_new(
            Self::schema(self.dim, &self.device),
            vec![
                Arc::new(keys.finish()),
                Arc::new(StringArray::from(status)),
                Arc::new(StringArray::from(detail)),
                Arc::new(vecs.finish()),
            ],
        )?;
        let fname = format!("{}.arrow", &name.finish()[..24]);
        let tmp = self.dir.join(format!("{fname}.tmp-{}", std::process::id()));
        {
            let f = fs_err::File::create(&tmp)?;
            let mut w = arrow_ipc::writer::FileWriter::try_new(
                std::io::BufWriter::new(f),
                &batch.schema(),
            )?;
            w.write(&batch)?;
            w.finish()?;
        }
        fs_err::rename(&tmp, self.dir.join(fname))?;
        self.pending.clear();
        Ok(())
    }
}

/// The content key of an input under the cache directory's (model, preprocessing).
pub fn key(parts: &[&[u8]]) -> Key {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_survive_flushes_and_unreadable_chunks_are_skipped() {
        let d = tempfile::tempdir().unwrap();
        let sha = "ab".repeat(32);
        let mut c = EmbeddingCache::open(d.path(), &sha, "{}", 3, "cuda").unwrap();
        let (k1, k2, k3) = (key(&[b"a"]), key(&[b"b"]), key(&[b"c"]));
        c.insert(k1, Ok(vec![1.0, 2.0, 3.0])).unwrap();
        c.insert(k2, Err(EncodeError::new("decode_error", "bad")))
            .unwrap();
        c.flush().unwrap();
        // A chunk cut off mid-write by a crash on another filesystem: ignored, not an error.
        std::fs::write(c.dir.join("garbage.arrow"), b"ARROW1\0\0 truncated").unwrap();
        let wanted: std::collections::HashSet<Key> = [k1, k2, k3].into();
        let again = EmbeddingCache::open(d.path(), &sha, "{}", 3, "cpu").unwrap();
        let got = again.lookup(&wanted).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&k1].0, Ok(vec![1.0, 2.0, 3.0]));
        // Read back by a CPU run, the vector still says it was computed on CUDA.
        assert_eq!(got[&k1].1.as_deref(), Some("cuda"));
        assert_eq!(got[&k2].0.as_ref().unwrap_err().status, "decode_error");
        // Another preprocessing is another directory: nothing shared.
        let other = EmbeddingCache::open(d.path(), &sha, "{\"size\":1}", 3, "cpu").unwrap();
        assert!(other.lookup(&wanted).unwrap().is_empty());
    }
}
