//! RecBole atomic files from a published version.
//!
//! RecBole (`recbole` on PyPI) reads a dataset as tab-separated "atomic files" whose header
//! cells are `name:type`, with types `token` (a categorical id), `token_seq` (space-separated
//! tokens), `float` and `float_seq`. Layout: `<out>/<name>/<name>.inter` (every filtered
//! interaction), `<name>.item`, `<name>.user`, and, when the version has splits,
//! `<name>.{train,valid,test}.inter` for RecBole's `benchmark_filename` (so the published split
//! is used as is, not re-split by RecBole), plus `<name>.yaml` with the field names and loading
//! options that make `create_dataset` see exactly these files.
//!
//! Column mapping (documented in docs/interop.md):
//! - `user_id`, `item_id`, `session_id`, `raw_id`, other integer `*_id` columns, booleans and
//!   dictionary strings: `token`;
//! - other integers, floats: `float`; `ts` (UTC ms): `timestamp:float` in seconds (exact, three
//!   decimals), dropped for timeless corpora; `value`: `rating:float`, dropped when all null;
//! - strings: `token_seq` (whitespace-separated words) when any value holds whitespace, else
//!   `token`; lists of strings or integers: `token_seq`; lists of floats: `float_seq`.
//!
//! Sequential models read benchmark files in RecBole's augmented form: `<name>.seq_{train,
//! valid,test}.inter` hold every split row whose user has an earlier event, with
//! `item_id_list:token_seq` (that user's previous items, oldest first, at most 50), and
//! `<name>.sequential.yaml` loads them (`alias_of_item_id: [item_id_list]`, order `TO`).
//!
//! Item embeddings (`--embeddings`) go the way RecBole documents for pre-trained embeddings:
//! one extra atomic file per encoder, `<name>.itememb_<encoder>` with `<encoder>_iid:token` and
//! `<encoder>_emb:float_seq`, loaded through `additional_feat_suffix`, mapped onto the item ids
//! by `alias_of_item_id` and handed to models as `preload_weight`
//! (`dataset.get_preload_weight("<encoder>_iid")`).
//!
//! Field names are unique across the atomic files, as RecBole needs (it joins user and item
//! features onto the interactions): `raw_id` is exported as `item_raw_id` / `user_raw_id`, and
//! any other shared name gets its table's prefix.
//!
//! Tabs and newlines inside values become spaces (they would break the format); nulls are empty
//! cells. Every table is streamed batch by batch, so memory does not grow with the corpus.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, cast::AsArray, types::*};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::error::{Error, Result};

const BATCH: usize = 65_536;

/// The file that marks a folder as written by `recdata export` (only such a folder is replaced
/// with `--force`).
pub const MARKER: &str = ".recdata-export.json";

/// The longest history in the sequential benchmark files (RecBole's `MAX_ITEM_LIST_LENGTH`
/// default): older items are dropped from the front.
pub const SEQUENCE_LENGTH: usize = 50;

/// What was written, for the CLI and the tests.
#[derive(Debug, serde::Serialize)]
pub struct Export {
    pub dir: PathBuf,
    pub dataset: String,
    pub files: Vec<(String, u64)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Token,
    TokenSeq,
    Float,
    FloatSeq,
    /// `ts`: milliseconds written as seconds.
    Seconds,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::TokenSeq => "token_seq",
            Kind::Float | Kind::Seconds => "float",
            Kind::FloatSeq => "float_seq",
        }
    }
}

struct Column {
    /// Index in the parquet schema.
    index: usize,
    header: String,
    kind: Kind,
}

fn reader(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>> {
    let f = fs_err::File::open(path)?;
    ParquetRecordBatchReaderBuilder::try_new(f.into_parts().0).map_err(|e| Error::BadInput {
        path: path.to_owned(),
        message: format!("not a readable parquet file: {e}"),
    })
}

/// Streams the batches of `columns` of `path`.
fn batches(
    path: &Path,
    columns: &[usize],
) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    let b = reader(path)?;
    let mask = ProjectionMask::roots(b.parquet_schema(), columns.iter().copied());
    let r = b
        .with_projection(mask)
        .with_batch_size(BATCH)
        .build()
        .map_err(|e| Error::BadInput {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let p = path.to_owned();
    Ok(r.map(move |b| {
        b.map_err(|e| Error::BadInput {
            path: p.clone(),
            message: format!("reading parquet: {e}"),
        })
    }))
}

fn any_value(path: &Path, col: usize, pred: impl Fn(&ArrayRef) -> bool) -> Result<bool> {
    for b in batches(path, &[col])? {
        if pred(b?.column(0)) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn has_whitespace(a: &ArrayRef) -> bool {
    let s = a.as_string::<i32>();
    s.iter().flatten().any(|v| v.contains(char::is_whitespace))
}

fn kind_of(path: &Path, index: usize, name: &str, t: &DataType) -> Result<Option<Kind>> {
    let is_id = name == "raw_id" || name.ends_with("_id");
    Ok(Some(match t {
        DataType::Boolean | DataType::Dictionary(..) => Kind::Token,
        t if t.is_integer() => {
            if is_id {
                Kind::Token
            } else {
                Kind::Float
            }
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Kind::Float,
        DataType::Timestamp(..) => Kind::Seconds,
        DataType::Utf8 => {
            if !is_id && any_value(path, index, has_whitespace)? {
                Kind::TokenSeq
            } else {
                Kind::Token
            }
        }
        DataType::List(f) | DataType::FixedSizeList(f, _) => match f.data_type() {
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Kind::FloatSeq,
            t if t.is_integer() || matches!(t, DataType::Utf8) => Kind::TokenSeq,
            _ => return Ok(None),
        },
        // Binary (raw bytes), dates and anything else have no RecBole type: left out.
        _ => return Ok(None),
    }))
}

/// Replaces what would break a TSV cell.
fn clean(s: &str, out: &mut String) {
    for c in s.chars() {
        out.push(if matches!(c, '\t' | '\n' | '\r') {
            ' '
        } else {
            c
        });
    }
}

/// Appends the cell `row` of `a` (of kind `k`) to `out`; nulls stay empty.
fn cell(a: &ArrayRef, row: usize, k: Kind, out: &mut String) -> Result<()> {
    use std::fmt::Write as _;
    if a.is_null(row) {
        return Ok(());
    }
    macro_rules! prim {
        ($t:ty) => {{
            let _ = write!(out, "{}", a.as_primitive::<$t>().value(row));
        }};
    }
    match a.data_type() {
        DataType::Boolean => out.push(if a.as_boolean().value(row) { '1' } else { '0' }),
        DataType::Int8 => prim!(Int8Type),
        DataType::Int16 => prim!(Int16Type),
        DataType::Int32 => prim!(Int32Type),
        DataType::Int64 => prim!(Int64Type),
        DataType::UInt8 => prim!(UInt8Type),
        DataType::UInt16 => prim!(UInt16Type),
        DataType::UInt32 => prim!(UInt32Type),
        DataType::UInt64 => prim!(UInt64Type),
        DataType::Float16 => prim!(Float16Type),
        DataType::Float32 => prim!(Float32Type),
        DataType::Float64 => prim!(Float64Type),
        DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, _) => {
            let ms = a.as_primitive::<TimestampMillisecondType>().value(row);
            let _ = write!(
                out,
                "{}{}.{:03}",
                if ms < 0 { "-" } else { "" },
                ms.unsigned_abs() / 1000,
                ms.unsigned_abs() % 1000
            );
        }
        DataType::Utf8 => {
            let v = a.as_string::<i32>().value(row);
            if k == Kind::TokenSeq {
                let words: Vec<&str> = v.split_whitespace().collect();
                out.push_str(&words.join(" "));
            } else {
                clean(v, out);
            }
        }
        DataType::Dictionary(..) => {
            let d = a.as_any_dictionary();
            let key = d.normalized_keys()[row];
            let values = d.values();
            cell(values, key, Kind::Token, out)?;
        }
        DataType::List(_) | DataType::FixedSizeList(..) => {
            let inner = match a.data_type() {
                DataType::List(_) => a.as_list::<i32>().value(row),
                _ => a.as_fixed_size_list().value(row),
            };
            for i in 0..inner.len() {
                if i > 0 {
                    out.push(' ');
                }
                let mut s = String::new();
                cell(&inner, i, Kind::Token, &mut s)?;
                // A token inside a token_seq cannot hold a space.
                out.push_str(&s.replace(' ', "_"));
            }
        }
        other => {
            return Err(Error::Internal(format!(
                "recbole export: no conversion for {other}"
            )));
        }
    }
    Ok(())
}

/// Writes one atomic file from the parquet table `path` (through a `.partial` file, renamed
/// when complete).
fn write_atomic(path: &Path, out_path: &Path, columns: &[Column]) -> Result<u64> {
    let tmp = out_path.with_extension("partial");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(&tmp)?);
    let header: Vec<String> = columns
        .iter()
        .map(|c| format!("{}:{}", c.header, c.kind.name()))
        .collect();
    writeln!(w, "{}", header.join("\t")).map_err(|e| io_err(&tmp, e))?;
    let idx: Vec<usize> = columns.iter().map(|c| c.index).collect();
    // The projection returns columns in file order; map each output column to its position.
    let mut sorted = idx.clone();
    sorted.sort_unstable();
    let pos: Vec<usize> = idx
        .iter()
        .map(|i| sorted.binary_search(i).unwrap_or(0))
        .collect();
    let mut rows = 0u64;
    let mut line = String::new();
    for b in batches(path, &idx)? {
        let b = b?;
        let cols: Vec<ArrayRef> = pos.iter().map(|p| Arc::clone(b.column(*p))).collect();
        for r in 0..b.num_rows() {
            line.clear();
            for (i, (a, c)) in cols.iter().zip(columns).enumerate() {
                if i > 0 {
                    line.push('\t');
                }
                cell(a, r, c.kind, &mut line)?;
            }
            line.push('\n');
            w.write_all(line.as_bytes()).map_err(|e| io_err(&tmp, e))?;
        }
        rows += b.num_rows() as u64;
    }
    w.into_inner()
        .map_err(|e| io_err(&tmp, e.into_error()))?
        .sync_all()?;
    fs_err::rename(&tmp, out_path)?;
    Ok(rows)
}

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Internal(format!("writing {}: {e}", path.display()))
}

/// The columns of an interactions-shaped table, as RecBole fields.
fn interaction_columns(path: &Path) -> Result<Vec<Column>> {
    let b = reader(path)?;
    let schema = b.schema().clone();
    let find = |n: &str| schema.index_of(n).ok();
    let mut cols = Vec::new();
    let mut push = |i: Option<usize>, header: &str, kind: Kind| {
        if let Some(index) = i {
            cols.push(Column {
                index,
                header: header.into(),
                kind,
            });
        }
    };
    push(find("user_id"), "user_id", Kind::Token);
    push(find("item_id"), "item_id", Kind::Token);
    let non_null = |i: Option<usize>| -> Result<Option<usize>> {
        match i {
            Some(i) if any_value(path, i, |a| a.null_count() < a.len())? => Ok(Some(i)),
            _ => Ok(None),
        }
    };
    push(non_null(find("ts"))?, "timestamp", Kind::Seconds);
    push(non_null(find("value"))?, "rating", Kind::Float);
    push(non_null(find("session_id"))?, "session_id", Kind::Token);
    // The event type only when the corpus has more than one.
    if let Some(i) = find("event")
        && event_kinds(path, i)? > 1
    {
        push(Some(i), "event", Kind::Token);
    }
    Ok(cols)
}

fn event_kinds(path: &Path, col: usize) -> Result<usize> {
    let mut kinds = std::collections::BTreeSet::new();
    for b in batches(path, &[col])? {
        let b = b?;
        let a = b.column(0);
        let mut s = String::new();
        for r in 0..a.len() {
            s.clear();
            cell(a, r, Kind::Token, &mut s)?;
            if !kinds.contains(&s) {
                kinds.insert(s.clone());
            }
            if kinds.len() > 1 {
                return Ok(kinds.len());
            }
        }
    }
    Ok(kinds.len())
}

/// The columns of an entity table (`items` / `users`), `id` first.
fn entity_columns(path: &Path, id: &str) -> Result<Vec<Column>> {
    let b = reader(path)?;
    let schema = b.schema().clone();
    let mut cols = Vec::new();
    for (index, f) in schema.fields().iter().enumerate() {
        let Some(kind) = kind_of(path, index, f.name(), f.data_type())? else {
            continue;
        };
        // Skip all-null columns (a corpus without titles has an all-null `title`).
        if !any_value(path, index, |a| a.null_count() < a.len())? {
            continue;
        }
        let kind = if f.name() == id { Kind::Token } else { kind };
        cols.push(Column {
            index,
            header: f.name().clone(),
            kind,
        });
    }
    Ok(cols)
}

/// RecBole joins the user and item features onto every interaction, so a field name may appear
/// in one atomic file only (besides the ids that do the joining): two `raw_id` fields make one
/// column of mixed objects and `data_preparation` fails. `raw_id` becomes `item_raw_id` /
/// `user_raw_id`, and any other field an entity shares with the interactions or the other
/// entity gets its table as a prefix (`item_title`, `user_country`).
fn disambiguate(entities: &mut [(PathBuf, &str, Vec<Column>)], inter: &[Column]) {
    let ids = ["user_id", "item_id"];
    let count = |h: &str, entities: &[(PathBuf, &str, Vec<Column>)]| {
        inter.iter().filter(|c| c.header == h).count()
            + entities
                .iter()
                .flat_map(|e| e.2.iter())
                .filter(|c| c.header == h)
                .count()
    };
    let mut renames = Vec::new();
    for (k, (_, suffix, cols)) in entities.iter().enumerate() {
        for (j, c) in cols.iter().enumerate() {
            if ids.contains(&c.header.as_str()) {
                continue;
            }
            if c.header == "raw_id" || count(&c.header, entities) > 1 {
                renames.push((k, j, format!("{suffix}_{}", c.header)));
            }
        }
    }
    for (k, j, h) in renames {
        entities[k].2[j].header = h;
    }
}

/// The encoders whose vectors to export: `all` is every `embeddings/*.parquet` of the version.
fn embedding_names(dir: &Path, asked: &[String]) -> Result<Vec<String>> {
    let emb_dir = dir.join("embeddings");
    let mut have: Vec<String> = if emb_dir.is_dir() {
        fs_err::read_dir(&emb_dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".parquet").map(str::to_owned)
            })
            .collect()
    } else {
        Vec::new()
    };
    have.sort();
    if asked.iter().any(|a| a == "all") {
        return Ok(have);
    }
    for a in asked {
        if !have.contains(a) {
            return Err(Error::BadInput {
                path: emb_dir.join(format!("{a}.parquet")),
                message: format!(
                    "no embeddings named `{a}` in this version (it has: {})",
                    if have.is_empty() {
                        "none".to_owned()
                    } else {
                        have.join(", ")
                    }
                ),
            });
        }
    }
    Ok(asked.to_vec())
}

/// The `item_id` and vector columns of an embeddings file, as the two RecBole fields.
fn embedding_columns(path: &Path, encoder: &str) -> Result<Vec<Column>> {
    let schema = reader(path)?.schema().clone();
    let id = schema.index_of("item_id").map_err(|_| Error::BadInput {
        path: path.to_owned(),
        message: "no `item_id` column".into(),
    })?;
    let vector = schema
        .fields()
        .iter()
        .position(|f| {
            matches!(
                f.data_type(),
                DataType::FixedSizeList(..) | DataType::List(_)
            )
        })
        .ok_or_else(|| Error::BadInput {
            path: path.to_owned(),
            message: "no vector (list) column".into(),
        })?;
    let field = encoder.replace('-', "_");
    Ok(vec![
        Column {
            index: id,
            header: format!("{field}_iid"),
            kind: Kind::Token,
        },
        Column {
            index: vector,
            header: format!("{field}_emb"),
            kind: Kind::FloatSeq,
        },
    ])
}

/// The sequential benchmark files: for every row of each split whose user has an earlier event
/// (in any split), that row plus `item_id_list`, the user's previous items (oldest first, at most
/// `max_len`, the most recent kept) — the "augmented" form RecBole's sequential models read
/// from benchmark files (its own augmentation runs only when it splits the data itself).
/// A user's first event has no history and is not a target (RecBole's augmentation skips it
/// too). Returns (file, rows written, rows without history) per split.
fn write_sequential(
    dir: &Path,
    target: &Path,
    name: &str,
    max_len: usize,
) -> Result<Vec<(String, u64, u64)>> {
    use arrow_array::{TimestampMillisecondArray, UInt32Array};
    // (user, ts or row order, split, item, ts cell text), every split in file order.
    let mut rows: Vec<(u32, i64, u8, u32)> = Vec::new();
    let mut ts_text: Vec<Option<i64>> = Vec::new();
    for (k, s) in ["train", "valid", "test"].iter().enumerate() {
        let b = crate::io::parquet::read_batch(&dir.join(format!("splits/{s}.parquet")))?;
        let u: &UInt32Array = crate::io::parquet::column(&b, "user_id")?;
        let i: &UInt32Array = crate::io::parquet::column(&b, "item_id")?;
        let t: &TimestampMillisecondArray = crate::io::parquet::column(&b, "ts")?;
        for r in 0..b.num_rows() {
            // A timeless corpus (FINN.no steps) keeps each user's file order.
            let ts = if t.is_null(r) {
                rows.len() as i64
            } else {
                t.value(r)
            };
            rows.push((u.value(r), ts, k as u8, i.value(r)));
            ts_text.push(t.is_valid(r).then(|| t.value(r)));
        }
    }
    // Chronological per user; at equal times the split order (train, valid, test) decides, as
    // the published splits put ties.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&r| (rows[r].0, rows[r].1, rows[r].2, r));
    let names = ["seq_train", "seq_valid", "seq_test"];
    let mut writers = Vec::new();
    for n in names {
        let path = target.join(format!("{name}.{n}.inter"));
        let tmp = path.with_extension("partial");
        let mut w = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(&tmp)?);
        writeln!(
            w,
            "user_id:token\titem_id:token\ttimestamp:float\titem_id_list:token_seq"
        )
        .map_err(|e| io_err(&tmp, e))?;
        writers.push((path, tmp, w, 0u64, 0u64));
    }
    let mut history: Vec<u32> = Vec::new();
    let mut user = None;
    let mut line = String::new();
    for &r in &order {
        let (u, _, split, item) = rows[r];
        if user != Some(u) {
            user = Some(u);
            history.clear();
        }
        let (_, tmp, w, written, skipped) = &mut writers[split as usize];
        if history.is_empty() {
            *skipped += 1;
        } else {
            use std::fmt::Write as _;
            line.clear();
            let _ = write!(line, "{u}\t{item}\t");
            if let Some(ms) = ts_text[r] {
                let _ = write!(
                    line,
                    "{}{}.{:03}",
                    if ms < 0 { "-" } else { "" },
                    ms.unsigned_abs() / 1000,
                    ms.unsigned_abs() % 1000
                );
            }
            line.push('\t');
            let from = history.len().saturating_sub(max_len);
            for (k, h) in history[from..].iter().enumerate() {
                if k > 0 {
                    line.push(' ');
                }
                let _ = write!(line, "{h}");
            }
            line.push('\n');
            w.write_all(line.as_bytes()).map_err(|e| io_err(tmp, e))?;
            *written += 1;
        }
        history.push(item);
    }
    let mut out = Vec::new();
    for (path, tmp, w, written, skipped) in writers {
        w.into_inner()
            .map_err(|e| io_err(&tmp, e.into_error()))?
            .sync_all()?;
        fs_err::rename(&tmp, &path)?;
        out.push((
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            written,
            skipped,
        ));
    }
    Ok(out)
}

/// Exports the version in `dir` to `<out>/<name>/`, with the vectors of the encoders named in
/// `embeddings` (`all` for every one) as RecBole pre-trained item embeddings.
// Long on purpose: the atomic files and the config of one RecBole dataset, written in the order
// RecBole reads them; each block is one file.
pub fn export(dir: &Path, out: &Path, embeddings: &[String], force: bool) -> Result<Export> {
    let doc_path = dir.join("dataset.json");
    let doc: Value =
        serde_json::from_slice(&fs_err::read(&doc_path)?).map_err(|e| Error::BadInput {
            path: doc_path.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
    let name = doc["dataset"]["name"]
        .as_str()
        .ok_or_else(|| Error::BadInput {
            path: doc_path.clone(),
            message: "no dataset.name".into(),
        })?
        .to_owned();
    // The name becomes a folder name: a dataset.json from elsewhere must not steer the export
    // outside --out (`/tmp/x`, `../..`).
    if !crate::manifest::valid_name(&name) {
        return Err(Error::BadInput {
            path: doc_path.clone(),
            message: format!(
                "dataset.name `{}` is not a valid dataset name (ASCII letters, digits, `-`, `_`, `.`)",
                crate::util::clip(&name, 100)
            ),
        });
    }
    let target = out.join(&name);
    crate::io::store::check_not_a_dataset(&target, "an export")?;
    if target.exists() && fs_err::read_dir(&target)?.next().is_some() {
        // Only a folder this command wrote is replaced, even with --force.
        if !target.join(MARKER).is_file() {
            return Err(Error::Invalid(format!(
                "{} already exists, is not empty and is not an earlier recdata export (no {MARKER})\n  \
                 hint: choose another --out",
                target.display()
            )));
        }
        if !force {
            return Err(Error::Invalid(format!(
                "{} already exists and is not empty: an earlier export?\n  hint: pass --force to \
                 replace it, or choose another --out",
                target.display()
            )));
        }
        fs_err::remove_dir_all(&target)?;
    }
    fs_err::create_dir_all(&target)?;
    fs_err::write(
        target.join(MARKER),
        serde_json::to_vec_pretty(&serde_json::json!({
            "written_by": "recdata export --format recbole",
            "dataset": name,
            "version": doc["dataset"]["version"],
        }))?,
    )?;
    let mut files = Vec::new();

    let inter_cols = interaction_columns(&dir.join("interactions.parquet"))?;
    let f = format!("{name}.inter");
    let n = write_atomic(
        &dir.join("interactions.parquet"),
        &target.join(&f),
        &inter_cols,
    )?;
    files.push((f, n));
    let has_splits = dir.join("splits/train.parquet").exists();
    if has_splits {
        for s in ["train", "valid", "test"] {
            let p = dir.join(format!("splits/{s}.parquet"));
            // The same fields as the whole table, whatever this split holds.
            let schema = reader(&p)?.schema().clone();
            let full = reader(&dir.join("interactions.parquet"))?.schema().clone();
            let cols: Vec<Column> = inter_cols
                .iter()
                .map(|c| {
                    let name = full.field(c.index).name();
                    Ok(Column {
                        index: schema.index_of(name).map_err(|_| Error::BadInput {
                            path: p.clone(),
                            message: format!("no column `{name}`"),
                        })?,
                        header: c.header.clone(),
                        kind: c.kind,
                    })
                })
                .collect::<Result<_>>()?;
            let f = format!("{name}.{s}.inter");
            let n = write_atomic(&p, &target.join(&f), &cols)?;
            files.push((f, n));
        }
    }
    let mut entities = Vec::new();
    for (table, id, suffix) in [("items", "item_id", "item"), ("users", "user_id", "user")] {
        let p = dir.join(format!("{table}.parquet"));
        if !p.exists() {
            continue;
        }
        let cols = entity_columns(&p, id)?;
        // A table with only its id says nothing RecBole can use.
        if cols.len() < 2 {
            continue;
        }
        entities.push((p, suffix, cols));
    }
    disambiguate(&mut entities, &inter_cols);
    let mut entity_headers = Vec::new();
    for (p, suffix, cols) in &entities {
        entity_headers.push((
            *suffix,
            cols.iter().map(|c| c.header.clone()).collect::<Vec<_>>(),
        ));
        let f = format!("{name}.{suffix}");
        let n = write_atomic(p, &target.join(&f), cols)?;
        files.push((f, n));
    }

    let mut emb_files = Vec::new();
    for e in embedding_names(dir, embeddings)? {
        let p = dir.join(format!("embeddings/{e}.parquet"));
        let cols = embedding_columns(&p, &e)?;
        let suffix = format!("itememb_{}", e.replace('-', "_"));
        let f = format!("{name}.{suffix}");
        let n = write_atomic(&p, &target.join(&f), &cols)?;
        files.push((f, n));
        emb_files.push((suffix, cols[0].header.clone(), cols[1].header.clone()));
    }

    // The RecBole config that loads exactly these files.
    let mut y = String::new();
    y.push_str(&format!(
        "# RecBole config for the recdata dataset {name} {} (written by `recdata export --format recbole`).\n\
         # Use: run_recbole(model=..., dataset=\"{name}\", config_file_list=[\"{}/{name}.yaml\"])\n\
         data_path: \"{}\"\n\
         USER_ID_FIELD: user_id\nITEM_ID_FIELD: item_id\n",
        doc["dataset"]["version"].as_str().unwrap_or(""),
        target.display(),
        out.display()
    ));
    let has = |h: &str| inter_cols.iter().any(|c| c.header == h);
    if has("timestamp") {
        y.push_str("TIME_FIELD: timestamp\n");
    }
    if has("rating") {
        y.push_str("RATING_FIELD: rating\n");
    }
    y.push_str("load_col:\n  inter: [");
    y.push_str(
        &inter_cols
            .iter()
            .map(|c| c.header.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
    y.push_str("]\n");
    for (suffix, headers) in &entity_headers {
        y.push_str(&format!("  {suffix}: [{}]\n", headers.join(", ")));
    }
    for (suffix, iid, emb) in &emb_files {
        y.push_str(&format!("  {suffix}: [{iid}, {emb}]\n"));
    }
    if !emb_files.is_empty() {
        let list = |f: &dyn Fn(&(String, String, String)) -> String| {
            emb_files.iter().map(f).collect::<Vec<_>>().join(", ")
        };
        y.push_str(&format!(
            "additional_feat_suffix: [{}]\nalias_of_item_id: [{}]\npreload_weight:\n",
            list(&|e| e.0.clone()),
            list(&|e| e.1.clone())
        ));
        for (_, iid, emb) in &emb_files {
            y.push_str(&format!("  {iid}: {emb}\n"));
        }
    }
    // recdata already filtered; RecBole must not filter again (its defaults drop nothing, but
    // say so), and must keep the published split rather than re-split.
    y.push_str("user_inter_num_interval: \"[0,inf)\"\nitem_inter_num_interval: \"[0,inf)\"\n");
    if has_splits {
        y.push_str("benchmark_filename: [train, valid, test]\n");
    }
    let f = format!("{name}.yaml");
    fs_err::write(target.join(&f), &y)?;
    files.push((f, 0));
    if has_splits {
        // Sequential models (SASRec, GRU4Rec, ...) read the benchmark split in RecBole's
        // augmented form: the same rows with each one's history, and a config naming them.
        let seq = write_sequential(dir, &target, &name, SEQUENCE_LENGTH)?;
        let mut ys = y
            .replace(
                "benchmark_filename: [train, valid, test]",
                "benchmark_filename: [seq_train, seq_valid, seq_test]",
            )
            .replace(
                "# Use: run_recbole(model=...",
                "# Sequential models. Use: run_recbole(model=\"SASRec\"",
            );
        ys = ys.replace(
            &format!(
                "  inter: [{}]",
                inter_cols
                    .iter()
                    .map(|c| c.header.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &format!(
                "  inter: [user_id, item_id{}, item_id_list]",
                if has("timestamp") { ", timestamp" } else { "" }
            ),
        );
        ys = if ys.contains("alias_of_item_id: [") {
            ys.replace("alias_of_item_id: [", "alias_of_item_id: [item_id_list, ")
        } else {
            ys + "alias_of_item_id: [item_id_list]\n"
        };
        ys.push_str(&format!(
            "MAX_ITEM_LIST_LENGTH: {SEQUENCE_LENGTH}\neval_args:\n  order: TO\n  mode: full\n"
        ));
        for (f, n, skipped) in seq {
            files.push((f.clone(), n));
            let _ = skipped;
        }
        let f = format!("{name}.sequential.yaml");
        fs_err::write(target.join(&f), ys)?;
        files.push((f, 0));
    }
    Ok(Export {
        dir: target,
        dataset: name,
        files,
    })
}
