//! A published dataset loaded for diagnostics: the three splits as columns grouped by user
//! (CSR offsets), the item universe, and optionally one encoder's L2-normalised embeddings.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float16Type, Float32Type, TimestampMillisecondType, UInt32Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};

/// One split's rows in file order (sorted by user, then time), with per-user offsets.
#[derive(Debug, Default)]
pub struct Split {
    pub item: Vec<u32>,
    /// Event time in ms; `None` for corpora without times.
    pub ts: Vec<Option<i64>>,
    /// `off[u]..off[u + 1]` are user u's rows.
    pub off: Vec<usize>,
}

impl Split {
    /// A split of untimed sequences, one per user (the unit tests' fixtures).
    #[cfg(test)]
    pub fn from_sequences(per_user: &[&[u32]]) -> Split {
        let mut s = Split::default();
        s.off.push(0);
        for seq in per_user {
            s.item.extend_from_slice(seq);
            s.ts.extend(std::iter::repeat_n(None, seq.len()));
            s.off.push(s.item.len());
        }
        s
    }

    pub fn rows(&self) -> usize {
        self.item.len()
    }

    pub fn user_rows(&self, u: usize) -> std::ops::Range<usize> {
        self.off[u]..self.off[u + 1]
    }

    pub fn items_of(&self, u: usize) -> &[u32] {
        &self.item[self.user_rows(u)]
    }

    pub fn users_with_rows(&self) -> usize {
        self.off.windows(2).filter(|w| w[1] > w[0]).count()
    }
}

pub struct Embeddings {
    pub name: String,
    pub dim: usize,
    /// `n_items × dim`, rows L2-normalised, zero for items without a vector.
    pub data: Vec<f32>,
    pub present: usize,
}

impl Embeddings {
    pub fn row(&self, i: u32) -> &[f32] {
        let i = i as usize;
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

pub struct Dataset {
    pub dir: PathBuf,
    /// One past the largest user id: the size of per-user arrays (ids below `user_base` are
    /// padding, never a user).
    pub n_users: usize,
    /// One past the largest item id: the size of per-item arrays.
    pub n_items: usize,
    /// The first real id (`stages.filter.id_base`: 0, or 1 when 0 is kept free for padding).
    pub user_base: usize,
    pub item_base: usize,
    pub train: Split,
    pub valid: Split,
    pub test: Split,
    pub embeddings: Option<Embeddings>,
    /// `dataset.json`, when present.
    pub meta: serde_json::Value,
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>> {
    let file = fs_err::File::open(path)?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(
        file.into_parts().0,
    )?)
}

fn bad(path: &Path, message: impl Into<String>) -> Error {
    Error::BadInput {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads `(user_id, item_id, ts)` of a split file; checks that rows are grouped by user.
fn read_split(path: &Path, n_users_hint: &mut usize) -> Result<(Vec<u32>, Split)> {
    let b = open(path)?;
    let schema = b.schema().clone();
    for (name, want) in [("user_id", "uint32"), ("item_id", "uint32")] {
        match schema.field_with_name(name) {
            Ok(f) if *f.data_type() == DataType::UInt32 => {}
            _ => {
                return Err(bad(
                    path,
                    format!("expected a `{name}` column of type {want}"),
                ));
            }
        }
    }
    let has_ts = matches!(
        schema.field_with_name("ts").map(|f| f.data_type().clone()),
        Ok(DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, _))
    );
    let mut users = Vec::new();
    let mut s = Split::default();
    for batch in b.with_batch_size(1 << 16).build()? {
        let batch: RecordBatch = batch?;
        let u = batch
            .column_by_name("user_id")
            .map(|c| c.as_primitive::<UInt32Type>())
            .ok_or_else(|| bad(path, "no user_id column"))?;
        let i = batch
            .column_by_name("item_id")
            .map(|c| c.as_primitive::<UInt32Type>())
            .ok_or_else(|| bad(path, "no item_id column"))?;
        users.extend_from_slice(u.values());
        s.item.extend_from_slice(i.values());
        match batch.column_by_name("ts").filter(|_| has_ts) {
            Some(c) => {
                let t = c.as_primitive::<TimestampMillisecondType>();
                s.ts.extend((0..t.len()).map(|r| (!t.is_null(r)).then(|| t.value(r))));
            }
            None => s.ts.extend(std::iter::repeat_n(None, batch.num_rows())),
        }
    }
    if let Some(r) = users.windows(2).position(|w| w[1] < w[0]) {
        return Err(bad(
            path,
            format!(
                "row {}: user_id {} after {}; split files are sorted by (user_id, ts)",
                r + 1,
                users[r + 1],
                users[r]
            ),
        ));
    }
    if let Some(&m) = users.last() {
        *n_users_hint = (*n_users_hint).max(m as usize + 1);
    }
    Ok((users, s))
}

fn offsets(users: &[u32], n_users: usize) -> Vec<usize> {
    let mut off = vec![0usize; n_users + 1];
    for &u in users {
        off[u as usize + 1] += 1;
    }
    for u in 0..n_users {
        off[u + 1] += off[u];
    }
    off
}

/// The largest item id in `items.parquet` + 1 (the item universe of full rankings).
/// (one past the largest item id, the smallest item id) of `items.parquet`.
fn item_universe(dir: &Path) -> Result<(usize, usize)> {
    let path = dir.join("items.parquet");
    let mut n = 0usize;
    let mut min = usize::MAX;
    for batch in open(&path)?.with_batch_size(1 << 16).build()? {
        let batch: RecordBatch = batch?;
        let c = batch
            .column_by_name("item_id")
            .filter(|c| *c.data_type() == DataType::UInt32)
            .ok_or_else(|| bad(&path, "expected an `item_id` column of type uint32"))?;
        let v = c.as_primitive::<UInt32Type>().values();
        if let Some(m) = v.iter().max() {
            n = n.max(*m as usize + 1);
        }
        if let Some(m) = v.iter().min() {
            min = min.min(*m as usize);
        }
    }
    Ok((n, min))
}

/// The values of a fixed-size-list column of float32 or float16 (an `embedding`), row after
/// row, as f32; anything else is an error naming `path`.
pub fn list_values_f32(l: &arrow_array::FixedSizeListArray, path: &Path) -> Result<Vec<f32>> {
    let v = l.values();
    match v.data_type() {
        DataType::Float32 => Ok(v.as_primitive::<Float32Type>().values().to_vec()),
        DataType::Float16 => Ok(v
            .as_primitive::<Float16Type>()
            .values()
            .iter()
            .map(|h| h.to_f32())
            .collect()),
        t => Err(bad(
            path,
            format!("embedding values are {t}, expected floats"),
        )),
    }
}

/// Reads `embeddings/<name>.parquet` into an `n_items × d` matrix of unit rows.
pub fn read_embeddings(dir: &Path, name: &str, n_items: usize) -> Result<Embeddings> {
    let path = dir.join(format!("embeddings/{name}.parquet"));
    let b = open(&path)?;
    let dim = match b
        .schema()
        .field_with_name("embedding")
        .map(|f| f.data_type().clone())
    {
        Ok(DataType::FixedSizeList(_, d)) => d as usize,
        _ => {
            return Err(bad(
                &path,
                "expected an `embedding` column of fixed-size lists of floats",
            ));
        }
    };
    let mut data = vec![0f32; n_items * dim];
    let mut present = 0;
    for batch in b.with_batch_size(1 << 14).build()? {
        let batch: RecordBatch = batch?;
        let ids = batch
            .column_by_name("item_id")
            .map(|c| c.as_primitive::<UInt32Type>())
            .ok_or_else(|| bad(&path, "no item_id column"))?;
        let l = batch
            .column_by_name("embedding")
            .map(|c| c.as_fixed_size_list())
            .ok_or_else(|| bad(&path, "no embedding column"))?;
        let vals = list_values_f32(l, &path)?;
        for (r, id) in ids.values().iter().enumerate() {
            let id = *id as usize;
            if l.is_null(r) || id >= n_items {
                continue;
            }
            let src = &vals[r * dim..(r + 1) * dim];
            let norm = src.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 && norm.is_finite() {
                for (o, x) in data[id * dim..(id + 1) * dim].iter_mut().zip(src) {
                    *o = x / norm;
                }
                present += 1;
            }
        }
    }
    Ok(Embeddings {
        name: name.to_string(),
        dim,
        data,
        present,
    })
}

/// The encoder whose embeddings the diagnostics use: `requested`, else the first
/// `embeddings/*.parquet` by name; `None` when the dataset has none.
pub fn pick_embedding(dir: &Path, requested: Option<&str>) -> Result<Option<String>> {
    if let Some(r) = requested {
        let p = dir.join(format!("embeddings/{r}.parquet"));
        if !p.is_file() {
            return Err(Error::Invalid(format!(
                "embedding `{r}`: {} does not exist",
                p.display()
            )));
        }
        return Ok(Some(r.to_string()));
    }
    let d = dir.join("embeddings");
    if !d.is_dir() {
        return Ok(None);
    }
    let mut names: Vec<String> = fs_err::read_dir(&d)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".parquet").map(str::to_string))
        .collect();
    names.sort();
    Ok(names.into_iter().next())
}

impl Dataset {
    /// Real users and items (padding ids left out).
    pub fn users(&self) -> usize {
        self.n_users - self.user_base
    }
    pub fn items(&self) -> usize {
        self.n_items - self.item_base
    }

    pub fn load(dir: &Path, embedding: Option<&str>) -> Result<Dataset> {
        let meta = match fs_err::read(dir.join("dataset.json")) {
            Ok(b) => serde_json::from_slice(&b)?,
            Err(_) => serde_json::Value::Null,
        };
        let mut n_users = 0;
        let mut parts = Vec::new();
        for name in ["train", "valid", "test"] {
            let path = dir.join(format!("splits/{name}.parquet"));
            if !path.is_file() {
                return Err(Error::MissingInput {
                    path,
                    hint: "diagnostics need a dataset with a [stages.split] (splits/train, valid and test)".into(),
                });
            }
            parts.push(read_split(&path, &mut n_users)?);
        }
        let (mut n_items, min_item) = item_universe(dir)?;
        // The padding id: recorded in the manifest, else read off the items table.
        let id_base = meta["manifest"]["stages"]["filter"]["id_base"]
            .as_u64()
            .map_or(min_item.min(1), |b| b as usize);
        for (_, s) in &parts {
            if let Some(m) = s.item.iter().max() {
                n_items = n_items.max(*m as usize + 1);
            }
        }
        let mut splits = parts.into_iter().map(|(users, mut s)| {
            s.off = offsets(&users, n_users);
            s
        });
        let (train, valid, test) = (
            splits.next().unwrap_or_default(),
            splits.next().unwrap_or_default(),
            splits.next().unwrap_or_default(),
        );
        let embeddings = match pick_embedding(dir, embedding)? {
            Some(name) => Some(read_embeddings(dir, &name, n_items)?),
            None => None,
        };
        Ok(Dataset {
            dir: dir.to_path_buf(),
            n_users: n_users.max(id_base),
            n_items: n_items.max(id_base),
            user_base: id_base,
            item_base: id_base,
            train,
            valid,
            test,
            embeddings,
            meta,
        })
    }

    /// User u's history: train rows then valid rows, merged by time (stable; train first on
    /// equal or missing times). Returns (items, times).
    pub fn history(&self, u: usize) -> (Vec<u32>, Vec<Option<i64>>) {
        let (t, v) = (self.train.user_rows(u), self.valid.user_rows(u));
        let mut items = Vec::with_capacity(t.len() + v.len());
        let mut times = Vec::with_capacity(t.len() + v.len());
        let (mut i, mut j) = (t.start, v.start);
        while i < t.end || j < v.end {
            let take_train = if i >= t.end {
                false
            } else if j >= v.end {
                true
            } else {
                match (self.train.ts[i], self.valid.ts[j]) {
                    (Some(a), Some(b)) => a <= b,
                    _ => true,
                }
            };
            if take_train {
                items.push(self.train.item[i]);
                times.push(self.train.ts[i]);
                i += 1;
            } else {
                items.push(self.valid.item[j]);
                times.push(self.valid.ts[j]);
                j += 1;
            }
        }
        (items, times)
    }
}
