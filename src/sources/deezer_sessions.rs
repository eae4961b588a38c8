//! Deezer listening sessions released with PISA (Tran, Salha-Galvan, Sguerra, Hennequin,
//! "Transformers Meet ACT-R: Repeat-Aware and Sequential Listening Session Recommendation",
//! RecSys 2024): over 700 million time-stamped listening events of 3.4M anonymised users on
//! 50k songs (March–August 2022), with pre-trained track embeddings.
//!
//! ## Source
//! Zenodo record 13890194 (<https://zenodo.org/records/13890194>), "all files in parquet
//! format". The file names on Zenodo are UNCONFIRMED; the defaults are the names the PISA code
//! reads (`pisa/data/datasets/deezer.py`): `sessions` (a parquet file or a folder of parquet
//! files) and `svd_embeddings` (parquet). Override them with `sessions = "…"` and
//! `embeddings_file = "…"`.
//!
//! ## License
//! The PISA repository is CC BY-NC 4.0; the license of the Zenodo record itself is UNCONFIRMED.
//!
//! ## Not Last.fm-1K
//! PISA's Last.fm experiments use LFM-1b (`LFM-1b_LEs.txt`, tab-separated
//! `user_id, artist_id, album_id, track_id, timestamp`), not Last.fm-1K. LFM-1b is not
//! redistributed, so recdata has no adapter for it; only the Deezer release is read here.
//!
//! ## Schema mapping
//! - `sessions`: columns `user_id`, `session_id`, `ts` (Unix seconds), `product_track_id`;
//!   further columns are ignored → `interactions` (event `play`, `ts` in ms UTC, `session_id`
//!   from the file), `users` and `items` keyed by the ids' decimal text, in order of first
//!   appearance. Ids may be any integer type (PISA casts tracks to int32); `ts` may also be a
//!   parquet timestamp. A folder is read like pandas/pyarrow do: every file in it (recursively)
//!   whose name does not start with `.` or `_`, in byte order of the paths; hive partition
//!   folders add no columns. Each file has its own row accounting ("lines" = rows).
//! - `svd_embeddings`: `product_track_id`, `artist_id` (optional column), `vector` →
//!   the corpus table `svd_embeddings` (raw track id, artist id, `fixed_size_list<float>[dim]`)
//!   and the `items` extra `artist_id`. The table keeps every valid vector of the release, keyed
//!   by the raw track id (join on `items.raw_id`), and does not keep items in the catalogue.
//!   `embeddings = "auto"` (default) reads the file when present, `"require"`, `"skip"`.
//!
//! ## Known quirks (each has a test)
//! - Rows are not sorted: the tie-break order of events with equal `ts` is the row order
//!   (files in path order, rows in file order).
//! - Duplicate events (same user, track, second) are kept; `[stages.filter] dedup = "exact"`
//!   drops them.
//! - The encoding of `vector` is UNCONFIRMED: a list of floats (`list`, `large_list`,
//!   `fixed_size_list`; float32 or float64, stored as float32) or a string (`"[0.1, 0.2]"`,
//!   numpy's `"[0.1 0.2]"`, `"0.1 0.2"`, `"0.1,0.2"`) are all read.
//! - The dimension is UNCONFIRMED (PISA's model uses 128): it is `embedding_dim` when set, else
//!   the most common vector length in the file (ties: the one seen first). Vectors of another
//!   length → rejects `dim_mismatch`; null/empty/unparsable/non-finite vectors → `bad_vector`;
//!   a second row for a track → `duplicate_track`.
//! - Sessions rows with a null or out-of-range value → rejects `bad_value`.
//! - Memory: the normalized events are held in memory (~32 bytes per event: ~23 GB for the
//!   full release), like every adapter's output.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, Int64Array};
use arrow_schema::{DataType, Field, TimeUnit};
use hashbrown::HashMap;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Entities, FileAccount, Normalized, RawInteractions, Reject, SideTable};
use crate::error::{Error, Result};
use crate::io::parquet::canonical_batch;
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;

pub const NAME: &str = "deezer-sessions";
/// Default names: the first that exists is used.
pub const SESSIONS_DEFAULTS: &[&str] = &["sessions.parquet", "sessions"];
pub const EMBEDDINGS_DEFAULTS: &[&str] = &["svd_embeddings.parquet", "svd_embeddings"];
pub const SESSION_COLUMNS: [&str; 4] = ["user_id", "session_id", "ts", "product_track_id"];
pub const LICENSE: &str = "Deezer listening sessions released with PISA (Tran et al., RecSys 2024; Zenodo record \
    13890194). The PISA repository is licensed CC BY-NC 4.0 (non-commercial); the Zenodo record's own license is \
    unconfirmed: check it before use. Cite arXiv 2408.16578.";
/// The corpus' home page and the paper to cite (dataset.json, the card, croissant.json).
pub const HOMEPAGE: &str = "https://zenodo.org/records/13890194";
pub const CITATION: &str = "Tran, Salha-Galvan, Sguerra, Hennequin. Transformers Meet ACT-R: Repeat-Aware and Sequential Listening Session Recommendation. RecSys 2024, arXiv:2408.16578.";
pub const DESCRIPTION: &str = "Time-stamped music listening events of anonymised Deezer users grouped into \
    sessions (March-August 2022), with pre-trained SVD track embeddings, as released with PISA.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Auto,
    Require,
    Skip,
}

/// `[source]` keys specific to the Deezer sessions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    /// The sessions file or folder; `None`: the first of [`SESSIONS_DEFAULTS`] that exists.
    pub sessions: Option<String>,
    /// The embeddings file or folder; `None`: the first of [`EMBEDDINGS_DEFAULTS`].
    pub embeddings_file: Option<String>,
    pub embeddings: Presence,
    pub embedding_dim: Option<u32>,
}

fn rel_path(
    r: &mut TableReader<'_>,
    diags: &mut Vec<Diagnostic>,
    key: &'static str,
) -> Option<String> {
    let v = r.str(diags, key)?;
    if !matches!(
        crate::fetch::archive::safe_relative(key, &v.value),
        Ok(Some(_))
    ) {
        diags.push(Diagnostic::error(
            format!("`source.{key}` must be a relative path inside the source folder"),
            Some(v.span),
            "no `..`, no leading `/`, not empty",
        ));
    }
    Some(v.value)
}

impl Options {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let before = diags.len();
        let sessions = rel_path(r, diags, "sessions");
        let embeddings_file = rel_path(r, diags, "embeddings_file");
        let embeddings = match r
            .choice(diags, "embeddings", &["auto", "require", "skip"])
            .map(|c| c.value)
        {
            Some("require") => Presence::Require,
            Some("skip") => Presence::Skip,
            _ => Presence::Auto,
        };
        let dim = r.int(diags, "embedding_dim", 1, 1 << 20);
        if embeddings == Presence::Skip
            && let Some(d) = &dim
        {
            diags.push(Diagnostic::error(
                "`source.embedding_dim` has no effect with `embeddings = \"skip\"`",
                Some(d.span),
                "no embeddings are read",
            ));
        }
        (diags.len() == before).then(|| Options {
            sessions,
            embeddings_file,
            embeddings,
            embedding_dim: dim.map(|d| d.value as u32),
        })
    }
}

/// The parquet files of `path` (a file, or a folder read like pyarrow reads a dataset).
fn parquet_files(path: &Path) -> Result<Vec<PathBuf>> {
    if !fs_err::metadata(path)?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for e in fs_err::read_dir(d)? {
            let e = e?;
            let p = e.path();
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.is_some_and(|n| n.starts_with('.') || n.starts_with('_')) {
                continue;
            }
            // Links to folders are not followed (no cycles); opening one fails loudly.
            if e.file_type()?.is_dir() {
                walk(&p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(path, &mut out)?;
    out.sort();
    if out.is_empty() {
        return Err(Error::BadInput {
            path: path.into(),
            message: "the folder holds no parquet files".into(),
        });
    }
    Ok(out)
}

/// `(sessions files, embeddings files)`.
fn plan(o: &Options, dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let pick = |given: &Option<String>, defaults: &[&str]| -> Option<PathBuf> {
        match given {
            Some(g) => Some(dir.join(g)),
            None => defaults.iter().map(|d| dir.join(d)).find(|p| p.exists()),
        }
    };
    let sessions = pick(&o.sessions, SESSIONS_DEFAULTS)
        .filter(|p| p.exists())
        .ok_or_else(|| Error::MissingInput {
            path: dir.join(o.sessions.as_deref().unwrap_or(SESSIONS_DEFAULTS[0])),
            hint: "`source.path` must hold the sessions parquet file or folder (default names `sessions.parquet`, \
                   then `sessions`; the Zenodo file names are unconfirmed, so set `sessions = \"<name>\"` in [source] \
                   if yours differs); `recdata synth deezer-sessions --out <dir>` writes a small corpus"
                .into(),
        })?;
    let sessions = parquet_files(&sessions)?;
    let embeddings = match (o.embeddings, pick(&o.embeddings_file, EMBEDDINGS_DEFAULTS)) {
        (Presence::Skip, _) => vec![],
        (_, Some(p)) if p.exists() => parquet_files(&p)?,
        // A file named in the manifest must exist even with `auto`.
        (Presence::Auto, _) if o.embeddings_file.is_none() => vec![],
        (_, p) => {
            return Err(Error::MissingInput {
                path: p.unwrap_or_else(|| dir.join(EMBEDDINGS_DEFAULTS[0])),
                hint: "the svd_embeddings parquet file is missing (`embeddings = \"require\"` or `embeddings_file` \
                       names it; set `embeddings_file = \"<name>\"` to its actual name, or `embeddings = \"skip\"`)"
                    .into(),
            });
        }
    };
    Ok((sessions, embeddings))
}

pub fn input_files(o: &Options, dir: &Path) -> Result<Vec<PathBuf>> {
    let (mut s, e) = plan(o, dir)?;
    s.extend(e);
    Ok(s)
}

fn rel_name(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir).unwrap_or(p).display().to_string()
}

/// Opens a parquet file projected on `want` columns (those present); returns the reader and the
/// file's full arrow schema.
fn open(
    path: &Path,
    want: &[&str],
) -> Result<(
    parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    arrow_schema::SchemaRef,
    u64,
)> {
    let bad = |message: String| Error::BadInput {
        path: path.into(),
        message,
    };
    let file = fs_err::File::open(path)?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file.into_parts().0)
        .map_err(|e| bad(format!("not a readable parquet file: {e}")))?;
    let schema = b.schema().clone();
    let rows = b.metadata().file_metadata().num_rows().max(0) as u64;
    let roots: Vec<usize> = want
        .iter()
        .filter_map(|w| schema.fields().iter().position(|f| f.name() == w))
        .collect();
    let mask = ProjectionMask::roots(b.parquet_schema(), roots);
    let reader = b
        .with_projection(mask)
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    Ok((reader, schema, rows))
}

fn require_columns(path: &Path, schema: &arrow_schema::Schema, cols: &[&str]) -> Result<()> {
    let missing: Vec<&str> = cols
        .iter()
        .copied()
        .filter(|c| schema.field_with_name(c).is_err())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::BadInput {
        path: path.into(),
        message: format!(
            "missing column(s) {}; expected {}; the file has {}",
            missing.join(", "),
            cols.join(", "),
            schema
                .fields()
                .iter()
                .map(|f| format!("{} ({})", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Integer types, and floats (pandas turns an integer column with a missing value into float64);
/// a float that is not a whole number in `i64` range reads as a bad value.
fn is_int(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Float32 | DataType::Float64)
}

fn whole(x: f64) -> Option<i64> {
    (x.fract() == 0.0 && x.abs() < 9.2e18).then_some(x as i64)
}

/// An integer column as `i64` (null, a `u64` above `i64::MAX` or a float that is not a whole
/// number → `None`).
fn ints(a: &dyn Array) -> Vec<Option<i64>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    macro_rules! conv {
        ($t:ty) => {
            a.as_primitive::<$t>()
                .iter()
                .map(|v| v.and_then(|v| i64::try_from(v).ok()))
                .collect()
        };
    }
    match a.data_type() {
        DataType::Int8 => conv!(Int8Type),
        DataType::Int16 => conv!(Int16Type),
        DataType::Int32 => conv!(Int32Type),
        DataType::Int64 => conv!(Int64Type),
        DataType::UInt8 => conv!(UInt8Type),
        DataType::UInt16 => conv!(UInt16Type),
        DataType::UInt32 => conv!(UInt32Type),
        DataType::UInt64 => conv!(UInt64Type),
        DataType::Float32 => a
            .as_primitive::<Float32Type>()
            .iter()
            .map(|v| v.and_then(|v| whole(f64::from(v))))
            .collect(),
        DataType::Float64 => a
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| v.and_then(whole))
            .collect(),
        _ => vec![None; a.len()],
    }
}

/// The `ts` column as milliseconds: integers are Unix seconds; timestamps of any unit.
fn ts_ms(a: &dyn Array) -> Vec<Option<i64>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    match a.data_type() {
        DataType::Timestamp(unit, _) => {
            let (v, div): (Vec<Option<i64>>, i64) = match unit {
                TimeUnit::Second => (a.as_primitive::<TimestampSecondType>().iter().collect(), -1),
                TimeUnit::Millisecond => (
                    a.as_primitive::<TimestampMillisecondType>()
                        .iter()
                        .collect(),
                    1,
                ),
                TimeUnit::Microsecond => (
                    a.as_primitive::<TimestampMicrosecondType>()
                        .iter()
                        .collect(),
                    1_000,
                ),
                TimeUnit::Nanosecond => (
                    a.as_primitive::<TimestampNanosecondType>().iter().collect(),
                    1_000_000,
                ),
            };
            v.into_iter()
                .map(|x| {
                    x.and_then(|x| {
                        if div < 0 {
                            x.checked_mul(1000)
                        } else {
                            Some(x.div_euclid(div))
                        }
                    })
                })
                .collect()
        }
        // Float seconds may carry milliseconds.
        DataType::Float64 | DataType::Float32 => {
            let secs: Vec<Option<f64>> = match a.data_type() {
                DataType::Float64 => a.as_primitive::<Float64Type>().iter().collect(),
                _ => a
                    .as_primitive::<Float32Type>()
                    .iter()
                    .map(|v| v.map(f64::from))
                    .collect(),
            };
            secs.into_iter()
                .map(|s| s.and_then(|s| whole((s * 1000.0).round())))
                .collect()
        }
        _ => ints(a)
            .into_iter()
            .map(|s| s.and_then(|s| s.checked_mul(1000)))
            .collect(),
    }
}

fn show(v: Option<i64>) -> String {
    v.map_or_else(|| "null".into(), |v| v.to_string())
}

struct Ids {
    map: HashMap<i64, u32, foldhash::fast::FixedState>,
    keys: Vec<i64>,
}

impl Ids {
    fn new() -> Self {
        Ids {
            map: HashMap::default(),
            keys: Vec::new(),
        }
    }
    fn code(&mut self, id: i64) -> u32 {
        *self.map.entry(id).or_insert_with(|| {
            self.keys.push(id);
            self.keys.len() as u32 - 1
        })
    }
}

fn read_sessions(
    dir: &Path,
    files: &[PathBuf],
    users: &mut Ids,
    items: &mut Ids,
    rejects: &mut Vec<Reject>,
    progress: &Reporter,
) -> Result<(RawInteractions, Vec<FileAccount>)> {
    let mut inter = RawInteractions {
        session: Some(Vec::new()),
        ..Default::default()
    };
    let mut session = Vec::new();
    let mut accounts = Vec::new();
    let mut order = 0u64;
    for path in files {
        let name = rel_name(dir, path);
        let (reader, schema, rows) = open(path, &SESSION_COLUMNS)?;
        require_columns(path, &schema, &SESSION_COLUMNS)?;
        for c in SESSION_COLUMNS {
            let t = schema.field_with_name(c)?.data_type();
            let ok = is_int(t) || (c == "ts" && matches!(t, DataType::Timestamp(..)));
            if !ok {
                return Err(Error::BadInput {
                    path: path.clone(),
                    message: format!(
                        "column `{c}` is {t}; expected an integer (or a whole float){}",
                        if c == "ts" {
                            " (Unix seconds) or a timestamp"
                        } else {
                            ""
                        }
                    ),
                });
            }
        }
        progress.info(format!("Reading {rows} listening events from {name}"));
        let bar = progress.bytes_bar(rows, "reading sessions");
        let mut acc = FileAccount {
            file: name.clone(),
            ..Default::default()
        };
        for batch in reader {
            let batch = batch.map_err(|e| Error::BadInput {
                path: path.clone(),
                message: format!("row {}: cannot decode: {e}", acc.lines + 1),
            })?;
            let col = |c: &str| batch.column_by_name(c).map(|a| a.as_ref());
            let (Some(u), Some(s), Some(t), Some(i)) = (
                col("user_id"),
                col("session_id"),
                col("ts"),
                col("product_track_id"),
            ) else {
                return Err(Error::Internal("projected columns missing".into()));
            };
            let (u, s, t, i) = (ints(u), ints(s), ts_ms(t), ints(i));
            for r in 0..batch.num_rows() {
                acc.lines += 1;
                let (Some(uu), Some(ss), Some(tt), Some(ii)) = (u[r], s[r], t[r], i[r]) else {
                    acc.rejected += 1;
                    let raw = format!(
                        "user_id={},session_id={},ts_ms={},product_track_id={}",
                        show(u[r]),
                        show(s[r]),
                        show(t[r]),
                        show(i[r])
                    );
                    rejects.push(Reject {
                        file: name.clone(),
                        line: acc.lines,
                        reason: "bad_value",
                        detail: "a column is null or out of range (ids: int64; ts: seconds that fit in ms)"
                            .into(),
                        raw: raw.into_bytes(),
                    });
                    continue;
                };
                acc.rows += 1;
                inter.user.push(users.code(uu));
                inter.item.push(items.code(ii));
                inter.ts.push(tt);
                inter.order.push(order);
                session.push(ss);
                order += 1;
            }
            bar.inc(batch.num_rows() as u64);
        }
        bar.finish_and_clear();
        accounts.push(acc);
    }
    inter.session = Some(session);
    Ok((inter, accounts))
}

/// A string-encoded vector: optional `[ ]`, numbers separated by commas and/or whitespace.
pub fn parse_vector_text(s: &str) -> Option<Vec<f32>> {
    let t = s.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(t);
    t.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|x| !x.is_empty())
        .map(|x| x.parse::<f32>().ok())
        .collect()
}

/// Row `r` of a `vector` column; `Err` says why it is not a vector.
fn vector_at(a: &dyn Array, r: usize) -> std::result::Result<Vec<f32>, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Float64Type};
    if a.is_null(r) {
        return Err("the vector is null".into());
    }
    let floats = |v: ArrayRef| -> std::result::Result<Vec<f32>, String> {
        match v.data_type() {
            DataType::Float32 => Ok(v
                .as_primitive::<Float32Type>()
                .iter()
                .map(|x| x.unwrap_or(f32::NAN))
                .collect()),
            DataType::Float64 => Ok(v
                .as_primitive::<Float64Type>()
                .iter()
                .map(|x| x.map_or(f32::NAN, |x| x as f32))
                .collect()),
            t => Err(format!("list of {t}")),
        }
    };
    let v = match a.data_type() {
        DataType::List(_) => floats(a.as_list::<i32>().value(r))?,
        DataType::LargeList(_) => floats(a.as_list::<i64>().value(r))?,
        DataType::FixedSizeList(..) => floats(a.as_fixed_size_list().value(r))?,
        DataType::Utf8 => parse_vector_text(a.as_string::<i32>().value(r))
            .ok_or("the string is not a list of numbers")?,
        DataType::LargeUtf8 => parse_vector_text(a.as_string::<i64>().value(r))
            .ok_or("the string is not a list of numbers")?,
        DataType::Utf8View => parse_vector_text(a.as_string_view().value(r))
            .ok_or("the string is not a list of numbers")?,
        t => return Err(format!("unsupported type {t}")),
    };
    if v.is_empty() {
        return Err("the vector is empty".into());
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err("the vector has a null, NaN or infinite element".into());
    }
    Ok(v)
}

fn vector_type_ok(t: &DataType) -> bool {
    let float = |f: &Arc<Field>| matches!(f.data_type(), DataType::Float32 | DataType::Float64);
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => float(f),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        _ => false,
    }
}

struct EmbRow {
    track: i64,
    artist: Option<i64>,
    vector: Vec<f32>,
    file: String,
    line: u64,
}

// Long on purpose: the .npy header checks, the row loop and the accounting of one embeddings file,
// in read order.
fn read_embeddings(
    o: &Options,
    dir: &Path,
    files: &[PathBuf],
    rejects: &mut Vec<Reject>,
) -> Result<(Vec<EmbRow>, Vec<FileAccount>, usize)> {
    let mut rows = Vec::new();
    let mut accounts = Vec::new();
    for path in files {
        let name = rel_name(dir, path);
        let want = ["product_track_id", "artist_id", "vector"];
        let (reader, schema, _) = open(path, &want)?;
        require_columns(path, &schema, &["product_track_id", "vector"])?;
        let bad = |message: String| Error::BadInput {
            path: path.clone(),
            message,
        };
        for c in ["product_track_id", "artist_id"] {
            if let Ok(f) = schema.field_with_name(c)
                && !is_int(f.data_type())
            {
                return Err(bad(format!(
                    "column `{c}` is {}; expected an integer",
                    f.data_type()
                )));
            }
        }
        let vt = schema.field_with_name("vector")?.data_type();
        if !vector_type_ok(vt) {
            return Err(bad(format!(
                "column `vector` is {vt}; expected a list of float32/float64 or a string like \"[0.1, 0.2]\""
            )));
        }
        let mut acc = FileAccount {
            file: name.clone(),
            ..Default::default()
        };
        for batch in reader {
            let batch =
                batch.map_err(|e| bad(format!("row {}: cannot decode: {e}", acc.lines + 1)))?;
            let tracks = ints(batch.column_by_name("product_track_id").map_or_else(
                || Err(Error::Internal("projected column missing".into())),
                Ok,
            )?);
            let artists = batch
                .column_by_name("artist_id")
                .map(|a| (ints(a), a.clone()));
            let vec_col = batch
                .column_by_name("vector")
                .ok_or_else(|| Error::Internal("projected column missing".into()))?;
            for (r, track) in tracks.iter().enumerate() {
                acc.lines += 1;
                let artist = artists.as_ref().and_then(|(v, _)| v[r]);
                let artist_bad = artists
                    .as_ref()
                    .is_some_and(|(v, a)| v[r].is_none() && a.is_valid(r));
                let (Some(track), false) = (*track, artist_bad) else {
                    acc.rejected += 1;
                    rejects.push(Reject {
                        file: name.clone(),
                        line: acc.lines,
                        reason: "bad_value",
                        detail: "product_track_id is null or an id is out of int64 range".into(),
                        raw: format!(
                            "product_track_id={},artist_id={}",
                            show(*track),
                            show(artist)
                        )
                        .into_bytes(),
                    });
                    continue;
                };
                match vector_at(vec_col.as_ref(), r) {
                    Ok(vector) => rows.push(EmbRow {
                        track,
                        artist,
                        vector,
                        file: name.clone(),
                        line: acc.lines,
                    }),
                    Err(why) => {
                        acc.rejected += 1;
                        rejects.push(Reject {
                            file: name.clone(),
                            line: acc.lines,
                            reason: "bad_vector",
                            detail: why,
                            raw: format!("product_track_id={track},artist_id={}", show(artist))
                                .into_bytes(),
                        });
                    }
                }
            }
        }
        accounts.push(acc);
    }
    // The dimension: given, or the most common length (ties: the first seen).
    let dim = match o.embedding_dim {
        Some(d) => d as usize,
        None => {
            let mut count: HashMap<usize, (u64, usize)> = HashMap::new();
            for (k, r) in rows.iter().enumerate() {
                count.entry(r.vector.len()).or_insert((0, k)).0 += 1;
            }
            count
                .into_iter()
                .max_by_key(|(_, (n, first))| (*n, std::cmp::Reverse(*first)))
                .map_or(0, |(d, _)| d)
        }
    };
    let mut seen = hashbrown::HashSet::new();
    let mut kept = Vec::with_capacity(rows.len());
    for r in rows {
        let why = if r.vector.len() != dim {
            Some((
                "dim_mismatch",
                format!("expected {dim} values, found {}", r.vector.len()),
            ))
        } else if !seen.insert(r.track) {
            Some((
                "duplicate_track",
                format!("track {} already has an embedding", r.track),
            ))
        } else {
            None
        };
        match why {
            Some((reason, detail)) => {
                if let Some(a) = accounts.iter_mut().find(|a| a.file == r.file) {
                    a.rejected += 1;
                }
                rejects.push(Reject {
                    file: r.file,
                    line: r.line,
                    reason,
                    detail,
                    raw: format!(
                        "product_track_id={},artist_id={},vector=[{} values]",
                        r.track,
                        show(r.artist),
                        r.vector.len()
                    )
                    .into_bytes(),
                });
            }
            None => kept.push(r),
        }
    }
    for a in &mut accounts {
        a.rows = a.lines - a.rejected;
    }
    Ok((kept, accounts, dim))
}

pub fn normalize(o: &Options, dir: &Path, progress: &Reporter) -> Result<Normalized> {
    let (session_files, emb_files) = plan(o, dir)?;
    let mut rejects = Vec::new();
    let mut users = Ids::new();
    let mut items = Ids::new();
    let (interactions, mut accounts) = read_sessions(
        dir,
        &session_files,
        &mut users,
        &mut items,
        &mut rejects,
        progress,
    )?;
    let mut tables = Vec::new();
    let mut item_extras = vec![];
    if !emb_files.is_empty() {
        let (rows, acc, dim) = read_embeddings(o, dir, &emb_files, &mut rejects)?;
        accounts.extend(acc);
        let mut artist = vec![None; items.keys.len()];
        for r in &rows {
            if let Some(&c) = items.map.get(&r.track) {
                artist[c as usize] = r.artist;
            }
        }
        item_extras.push((
            "artist_id".to_owned(),
            Arc::new(Int64Array::from(artist)) as ArrayRef,
        ));
        let values =
            Float32Array::from_iter_values(rows.iter().flat_map(|r| r.vector.iter().copied()));
        let vectors = FixedSizeListArray::try_new(
            Arc::new(Field::new("item", DataType::Float32, true)),
            dim as i32,
            Arc::new(values),
            None,
        )?;
        tables.push(SideTable {
            name: "svd_embeddings".into(),
            batch: canonical_batch(
                "svd_embeddings",
                NAME,
                vec![
                    Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.track))),
                    Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.artist))),
                    Arc::new(vectors),
                ],
            )?,
            user_col: None,
            item_cols: vec![],
        });
    } else {
        item_extras.push((
            "artist_id".to_owned(),
            Arc::new(Int64Array::from(vec![None::<i64>; items.keys.len()])) as ArrayRef,
        ));
    }
    Ok(Normalized {
        interactions,
        event: "play".into(),
        users: Entities {
            raw_id: users.keys.iter().map(i64::to_string).collect(),
            title: None,
            extras: vec![],
        },
        items: Entities {
            raw_id: items.keys.iter().map(i64::to_string).collect(),
            // Anonymised: no titles.
            title: Some(vec![None; items.keys.len()]),
            extras: item_extras,
        },
        rejects,
        accounts,
        timeless: false,
        tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_columns_of_any_width() {
        use arrow_array::{Float64Array, Int32Array, TimestampMicrosecondArray, UInt64Array};
        assert_eq!(
            ints(&Int32Array::from(vec![Some(-3), None])),
            [Some(-3), None]
        );
        assert_eq!(ints(&UInt64Array::from(vec![7, u64::MAX])), [Some(7), None]);
        assert_eq!(
            ints(&Float64Array::from(vec![
                Some(5.0),
                Some(5.5),
                None,
                Some(f64::NAN)
            ])),
            [Some(5), None, None, None]
        );
        assert_eq!(
            ts_ms(&Int32Array::from(vec![1_650_000_000])),
            [Some(1_650_000_000_000)]
        );
        assert_eq!(
            ts_ms(&Float64Array::from(vec![1_650_000_000.25])),
            [Some(1_650_000_000_250)]
        );
        assert_eq!(
            ts_ms(&TimestampMicrosecondArray::from(vec![
                1_650_000_000_123_456
            ])),
            [Some(1_650_000_000_123)]
        );
        assert_eq!(
            ts_ms(&arrow_array::Int64Array::from(vec![i64::MAX])),
            [None]
        );
    }

    #[test]
    fn vector_text_forms() {
        let want = Some(vec![0.1f32, -2.5, 3e-3]);
        assert_eq!(parse_vector_text("[0.1, -2.5, 3e-3]"), want);
        assert_eq!(parse_vector_text("[0.1 -2.5  3e-3]"), want);
        assert_eq!(parse_vector_text("0.1 -2.5 3e-3"), want);
        assert_eq!(parse_vector_text(" 0.1,-2.5,0.003\n"), want);
        assert_eq!(parse_vector_text("[ 0.1\n -2.5\n 0.003 ]"), want);
        assert_eq!(parse_vector_text("[]"), Some(vec![]));
        assert_eq!(parse_vector_text("[0.1, abc]"), None);
    }
}
