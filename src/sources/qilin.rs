//! Qilin (THUIR / Xiaohongshu, SIGIR 2025): multimodal search and recommendation logs with
//! APP-level sessions — 1,983,938 notes, 15,482 users, 57,188 search requests, 94,552
//! recommendation requests.
//!
//! ## Source
//! Hugging Face dataset `THUIR/Qilin` (<https://huggingface.co/datasets/THUIR/Qilin>): one
//! folder per config (`notes/`, `search_train/`, `search_test/`, `recommendation_train/`,
//! `recommendation_test/`, `dqa/`, `user_feat/`), each holding
//! `train-NNNNN-of-MMMMM.parquet` shards, read in shard order. The test qrels
//! (`search.test.qrels.csv`, `recommendation.test.qrels.csv`, `dqa.qrels.csv`, header
//! `qid,pid`) come from the GitHub repository RED-Search/Qilin and are read when present.
//! Images are a separate download (Tsinghua Cloud); `image_path` keeps the references.
//!
//! ## License
//! The Hugging Face card says apache-2.0; the code repository's license is unconfirmed.
//!
//! ## Schema mapping
//! - `notes` → `items`: raw_id = `note_idx` (as text), title = `note_title`, and every other
//!   column as a `qilin` extra (schemas/items.json) under its own name: the 36 counters as
//!   nullable doubles read from any integer or float column (NaN → null), `note_type` as int32,
//!   the taxonomy ids as text (`"nan"` and `""` → null), `image_path` as list<string> (the media
//!   references; `[]` stays an empty list).
//! - `user_feat` → `users`: raw_id = `user_idx`; gender, platform, age, fans/follows,
//!   dense_feat1..40 and location as extras (empty location → null). Users who appear in the
//!   logs without a `user_feat` row are kept with null features (`in_user_feat = false`).
//! - `search_train` / `search_test` → `requests`: request_id = `search_idx`, session =
//!   `session_idx`, ts = the earliest `search_timestamp` of the result list (seconds → ms; null
//!   for an empty list), results = the notes of `search_result_details_with_idx` sorted by
//!   `position` (not by list order; ties keep list order), clicks = the clicked ones in that
//!   order. Extras: `split`, `query_from_type`, `recent_clicked`, per-result `positions`,
//!   `likes`, `collects`, `comments`, `shares`, `page_times` (parallel to `results`), and the
//!   candidate lists `bm25_/dpr_/search_results` with their scores.
//! - `recommendation_train` / `_test` → `exposures` (context `rec`): exposure_id =
//!   `request_idx`, items in position order, clicked_position = the index in `items` of the first
//!   clicked note in display order (null without a click), all clicks in the `clicks` extra;
//!   `rec_results` / `rec_scores` for the test split.
//! - Every clicked entry of the search, recommendation (and, by default, DQA) result lists →
//!   `interactions` (event `click`): ts = that entry's own timestamp, session = `session_idx`,
//!   value = its `page_time` (the dwell time as stored; null where NaN or negative; set
//!   `interaction_value = "none"` to leave values out). The tie-break order is file order
//!   (search_train, search_test, dqa, recommendation_train, recommendation_test), then position.
//! - `dqa` → the corpus table `qilin_dqa` (schemas/qilin_dqa.json): the search fields plus
//!   `dqa_output` (`'-1'` → null), `ref_notes` (`ref_note_idx_list`, null allowed) and the four
//!   `is_*_clk` (negative or missing = the answer was not shown → null).
//! - The qrels files → the corpus table `qilin_qrels` (split, qid, item).
//! - Row-position ids are the raw ids: `note_idx`, `user_idx`, `search_idx`, `request_idx`.
//!
//! ## Known quirks (each has a test)
//! - Nested columns come as real Arrow list/struct columns, or as text (JSON, Python literals
//!   with `None`/`nan`/single quotes) after a CSV round trip: both are read. Scalars may be any
//!   integer or float type (a float must hold a whole number where an id or counter is expected).
//! - `page_time` is NaN or -1.0 when unknown; `query_from_type` may be null (or NaN).
//! - `bm25_results` / `dpr_results` are `[note_idx, score]` pairs; `search_results` /
//!   `rec_results` are note_idx ints or pairs (the official baseline accepts both).
//! - The official code indexes notes and users by row position: with `ids = "positional"`
//!   (default) every `note_idx` / `user_idx` must equal its global row number across the shards
//!   in order, else the build stops naming the file and row; `ids = "by_value"` keys them by
//!   value and rejects duplicates.
//! - A result, click, candidate, recent click or citation naming a note that does not exist
//!   rejects its row (`unknown_note`); a null id rejects it (`missing_id`); an entry without a
//!   usable timestamp rejects it (`bad_timestamp`); a value of the wrong shape rejects it
//!   (`bad_value`). Rejected parquet rows are kept as JSON text in `rejects.raw`.
//! - Timestamps are Unix seconds (inferred by docs/corpora.md); a value of 1e11 or more can
//!   only be milliseconds and is taken as such.
//! - A null `query` is published as the empty string in `requests` / `qilin_dqa` (the column is
//!   required there) and as null in `exposures`; an empty result list gives a null `ts`.
//! - A text `image_path` that is not a list is one path; `[]` stays an empty list.
//! - The struct field with the entry's time is `search_timestamp` in search tables and
//!   `request_timestamp` in recommendation tables (one consumer documents `timestamp`): any of
//!   the three is accepted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    Float32Builder, Float64Builder, Int32Builder, ListBuilder, StringBuilder, UInt32Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int32DictionaryArray, Int64Array,
    RecordBatch, StringArray, TimestampMillisecondArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::DataType;
use hashbrown::HashMap;

use super::{Entities, FileAccount, Normalized, RawInteractions, Reject, SideTable};
use crate::error::{Error, Result};
use crate::manifest::diagnostic::Diagnostic;
use crate::manifest::reader::TableReader;
use crate::progress::Reporter;

pub const NAME: &str = "qilin";
pub const LICENSE: &str = "Qilin (THUIR/Qilin on Hugging Face) is released under the Apache License 2.0 \
    (dataset card). Cite: Chen et al., \"Qilin: A Multimodal Information Retrieval Dataset with \
    APP-level User Sessions\", SIGIR 2025 (arXiv 2503.00501).";
/// The corpus' home page and the paper to cite (dataset.json, the card, croissant.json).
pub const HOMEPAGE: &str = "https://huggingface.co/datasets/THUIR/Qilin";
pub const CITATION: &str = "Chen et al. Qilin: A Multimodal Information Retrieval Dataset with APP-level User Sessions. SIGIR 2025, arXiv:2503.00501.";
pub const DESCRIPTION: &str = "Xiaohongshu search and recommendation logs with APP-level sessions \
    (Qilin, THUIR 2025): notes with text, image references and statistics, user features, search \
    requests with result lists and clicks, recommendation exposures, DQA answers and test qrels.";

/// The Hub configs, one folder each.
pub const NOTES: &str = "notes";
pub const SEARCH_TRAIN: &str = "search_train";
pub const SEARCH_TEST: &str = "search_test";
pub const REC_TRAIN: &str = "recommendation_train";
pub const REC_TEST: &str = "recommendation_test";
pub const DQA: &str = "dqa";
pub const USER_FEAT: &str = "user_feat";
pub const CONFIGS: [&str; 7] = [
    NOTES,
    SEARCH_TRAIN,
    SEARCH_TEST,
    REC_TRAIN,
    REC_TEST,
    DQA,
    USER_FEAT,
];
/// The qrels files of the GitHub repository and the split each judges.
pub const QRELS: [(&str, &str); 3] = [
    ("search.test.qrels.csv", SEARCH_TEST),
    ("recommendation.test.qrels.csv", REC_TEST),
    ("dqa.qrels.csv", DQA),
];

/// The 36 numeric note columns, in stored order (the first six come before the taxonomy ids).
pub const NOTE_NUMERIC: [&str; 36] = [
    "video_duration",
    "video_height",
    "video_width",
    "image_num",
    "content_length",
    "commercial_flag",
    "imp_num",
    "imp_rec_num",
    "imp_search_num",
    "click_num",
    "click_rec_num",
    "click_search_num",
    "like_num",
    "collect_num",
    "comment_num",
    "share_num",
    "screenshot_num",
    "hide_num",
    "rec_like_num",
    "rec_collect_num",
    "rec_comment_num",
    "rec_share_num",
    "rec_follow_num",
    "search_like_num",
    "search_collect_num",
    "search_comment_num",
    "search_share_num",
    "search_follow_num",
    "accum_like_num",
    "accum_collect_num",
    "accum_comment_num",
    "view_time",
    "rec_view_time",
    "search_view_time",
    "valid_view_times",
    "full_view_times",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ids {
    /// `note_idx` / `user_idx` must equal the global row number (what the official code assumes).
    Positional,
    /// Keyed by value; duplicates are rejected.
    ByValue,
}

/// What a log row that names a note missing from `notes` becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownNotes {
    /// The row is rejected (`unknown_note`): the full release is referentially complete.
    Reject,
    /// The note becomes an item with null features (`in_notes = false`): samples whose tables
    /// were cut independently (the official toy sample: the first 10 rows of every split).
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionValue {
    PageTime,
    None,
}

/// `[source]` keys specific to Qilin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Options {
    pub ids: Ids,
    pub interaction_value: InteractionValue,
    /// Clicks in the DQA result lists become interactions too (default true).
    pub dqa_clicks: bool,
    pub unknown_notes: UnknownNotes,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ids: Ids::Positional,
            interaction_value: InteractionValue::PageTime,
            dqa_clicks: true,
            unknown_notes: UnknownNotes::Reject,
        }
    }
}

impl Options {
    pub fn read(r: &mut TableReader<'_>, diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let mut o = Options::default();
        if let Some(c) = r.choice(diags, "ids", &["positional", "by_value"]) {
            o.ids = if c.value == "by_value" {
                Ids::ByValue
            } else {
                Ids::Positional
            };
        }
        if let Some(c) = r.choice(diags, "interaction_value", &["page_time", "none"]) {
            o.interaction_value = if c.value == "none" {
                InteractionValue::None
            } else {
                InteractionValue::PageTime
            };
        }
        if let Some(b) = r.bool(diags, "dqa_clicks") {
            o.dqa_clicks = b.value;
        }
        if let Some(c) = r.choice(diags, "unknown_notes", &["reject", "keep"]) {
            o.unknown_notes = if c.value == "keep" {
                UnknownNotes::Keep
            } else {
                UnknownNotes::Reject
            };
        }
        Some(o)
    }
}

// ---------------------------------------------------------------------------------------------
// Files

fn hint() -> String {
    format!(
        "`source.path` must hold the Hugging Face folders {} (each with train-NNNNN-of-MMMMM.parquet \
         shards); `recdata synth qilin --out <dir>` writes a small corpus in this layout",
        CONFIGS.join(", ")
    )
}

/// `train-00001-of-00005.parquet` → `(1, 5)`.
fn shard_index(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("train-")?.strip_suffix(".parquet")?;
    let (i, n) = rest.split_once("-of-")?;
    let ok = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if !(ok(i) && ok(n)) {
        return None;
    }
    Some((i.parse().ok()?, n.parse().ok()?))
}

/// The files of one config: the parquet shards of its Hugging Face folder, in shard order (a
/// gap in the numbering is an error), or — the official toy sample's layout — one
/// `<config>.csv` written by pandas.
pub fn shards(dir: &Path, config: &str) -> Result<Vec<PathBuf>> {
    let folder = dir.join(config);
    let csv = dir.join(format!("{config}.csv"));
    if !folder.is_dir() && csv.is_file() {
        return Ok(vec![csv]);
    }
    if !folder.is_dir() {
        return Err(Error::MissingInput {
            path: folder,
            hint: hint(),
        });
    }
    let mut names: Vec<String> = fs_err::read_dir(&folder)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".parquet") && !n.starts_with('.'))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::MissingInput {
            path: folder.join("train-00000-of-00001.parquet"),
            hint: hint(),
        });
    }
    let idx: Vec<Option<(u32, u32)>> = names.iter().map(|n| shard_index(n)).collect();
    if idx.iter().all(Option::is_some) {
        let total = idx[0].map_or(0, |x| x.1);
        for (k, (i, n)) in idx.iter().flatten().enumerate() {
            if *n != total || *i as usize != k {
                return Err(Error::BadInput {
                    path: folder.clone(),
                    message: format!(
                        "shard `train-{k:05}-of-{total:05}.parquet` is missing or the shards disagree on their count (found {})",
                        names.join(", ")
                    ),
                });
            }
        }
        if names.len() != total as usize {
            return Err(Error::BadInput {
                path: folder.clone(),
                message: format!(
                    "expected {total} shards, found {}: {}",
                    names.len(),
                    names.join(", ")
                ),
            });
        }
    }
    Ok(names.into_iter().map(|n| folder.join(n)).collect())
}

pub fn input_files(_o: &Options, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for c in CONFIGS {
        files.extend(shards(dir, c)?);
    }
    for (q, _) in QRELS {
        if dir.join(q).is_file() {
            files.push(dir.join(q));
        }
    }
    Ok(files)
}

fn rel(dir: &Path, p: &Path) -> String {
    p.strip_prefix(dir)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

// ---------------------------------------------------------------------------------------------
// Values: one model for real Arrow nested columns and for their JSON / Python-literal text
// form; the text parser is shared with the .npy header reader (`io::pylit`).
pub use crate::io::pylit::{Val, parse_text};

/// A column of one record batch, downcast once.
enum Col<'a> {
    Absent,
    Null,
    Bool(&'a BooleanArray),
    I(IntCol<'a>),
    F64(&'a arrow_array::Float64Array),
    F32(&'a arrow_array::Float32Array),
    Str(&'a StringArray),
    LStr(&'a arrow_array::LargeStringArray),
    VStr(&'a arrow_array::StringViewArray),
    /// Lists, structs and anything else: converted element by element.
    Nested(&'a dyn Array),
}

enum IntCol<'a> {
    I8(&'a arrow_array::Int8Array),
    I16(&'a arrow_array::Int16Array),
    I32(&'a arrow_array::Int32Array),
    I64(&'a Int64Array),
    U8(&'a arrow_array::UInt8Array),
    U16(&'a arrow_array::UInt16Array),
    U32(&'a UInt32Array),
    U64(&'a UInt64Array),
}

impl<'a> Col<'a> {
    fn of(a: Option<&'a ArrayRef>) -> Col<'a> {
        let Some(a) = a else { return Col::Absent };
        let a: &'a dyn Array = a.as_ref();
        match a.data_type() {
            DataType::Null => Col::Null,
            DataType::Boolean => Col::Bool(a.as_boolean()),
            DataType::Int8 => Col::I(IntCol::I8(a.as_primitive::<Int8Type>())),
            DataType::Int16 => Col::I(IntCol::I16(a.as_primitive::<Int16Type>())),
            DataType::Int32 => Col::I(IntCol::I32(a.as_primitive::<Int32Type>())),
            DataType::Int64 => Col::I(IntCol::I64(a.as_primitive::<Int64Type>())),
            DataType::UInt8 => Col::I(IntCol::U8(a.as_primitive::<UInt8Type>())),
            DataType::UInt16 => Col::I(IntCol::U16(a.as_primitive::<UInt16Type>())),
            DataType::UInt32 => Col::I(IntCol::U32(a.as_primitive::<UInt32Type>())),
            DataType::UInt64 => Col::I(IntCol::U64(a.as_primitive::<UInt64Type>())),
            DataType::Float64 => Col::F64(a.as_primitive::<Float64Type>()),
            DataType::Float32 => Col::F32(a.as_primitive::<Float32Type>()),
            DataType::Utf8 => Col::Str(a.as_string::<i32>()),
            DataType::LargeUtf8 => Col::LStr(a.as_string::<i64>()),
            DataType::Utf8View => Col::VStr(a.as_string_view()),
            _ => Col::Nested(a),
        }
    }

    fn text(&self, r: usize) -> Option<&'a str> {
        match self {
            Col::Str(a) => a.is_valid(r).then(|| a.value(r)),
            Col::LStr(a) => a.is_valid(r).then(|| a.value(r)),
            Col::VStr(a) => a.is_valid(r).then(|| a.value(r)),
            _ => None,
        }
    }

    fn is_text(&self) -> bool {
        matches!(self, Col::Str(_) | Col::LStr(_) | Col::VStr(_))
    }

    /// The cell as a value; text stays text.
    fn scalar(&self, r: usize) -> Val {
        match self {
            Col::Absent | Col::Null => Val::Null,
            Col::Str(_) | Col::LStr(_) | Col::VStr(_) => {
                self.text(r).map_or(Val::Null, |s| Val::Str(s.to_owned()))
            }
            Col::Bool(a) if a.is_valid(r) => Val::Bool(a.value(r)),
            Col::F64(a) if a.is_valid(r) => Val::Float(a.value(r)),
            Col::F32(a) if a.is_valid(r) => Val::Float(f64::from(a.value(r))),
            Col::Bool(_) | Col::F64(_) | Col::F32(_) => Val::Null,
            Col::I(c) => c.get(r).map_or(Val::Null, Val::Int),
            Col::Nested(a) => arrow_val(*a, r),
        }
    }

    /// The cell as a nested value: text is parsed (JSON or Python literal).
    fn nested(&self, r: usize) -> std::result::Result<Val, String> {
        if self.is_text() {
            return self.text(r).map_or(Ok(Val::Null), parse_text);
        }
        // Text behind a dictionary is text too.
        match self.scalar(r) {
            Val::Str(s) => parse_text(&s),
            v => Ok(v),
        }
    }
}

impl IntCol<'_> {
    fn get(&self, r: usize) -> Option<i64> {
        macro_rules! g {
            ($a:expr) => {
                $a.is_valid(r).then(|| $a.value(r) as i64)
            };
        }
        match self {
            IntCol::I8(a) => g!(a),
            IntCol::I16(a) => g!(a),
            IntCol::I32(a) => g!(a),
            IntCol::I64(a) => g!(a),
            IntCol::U8(a) => g!(a),
            IntCol::U16(a) => g!(a),
            IntCol::U32(a) => g!(a),
            IntCol::U64(a) => a
                .is_valid(r)
                .then(|| i64::try_from(a.value(r)).unwrap_or(i64::MAX)),
        }
    }
}

/// Element `r` of any Arrow array as a value (strings inside nested columns stay text).
fn arrow_val(a: &dyn Array, r: usize) -> Val {
    if a.is_null(r) {
        return Val::Null;
    }
    match a.data_type() {
        DataType::List(_) => {
            let l = a.as_list::<i32>();
            let v = l.value(r);
            Val::List((0..v.len()).map(|i| arrow_val(v.as_ref(), i)).collect())
        }
        DataType::LargeList(_) => {
            let l = a.as_list::<i64>();
            let v = l.value(r);
            Val::List((0..v.len()).map(|i| arrow_val(v.as_ref(), i)).collect())
        }
        DataType::FixedSizeList(_, _) => {
            let l = a.as_fixed_size_list();
            let v = l.value(r);
            Val::List((0..v.len()).map(|i| arrow_val(v.as_ref(), i)).collect())
        }
        DataType::Struct(fields) => {
            let s = a.as_struct();
            Val::Map(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), arrow_val(c.as_ref(), r)))
                    .collect(),
            )
        }
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let k = d.normalized_keys()[r];
            arrow_val(d.values().as_ref(), k)
        }
        _ => {
            // Scalars: reuse the column view (a one-off downcast).
            let owned: ArrayRef = a.slice(r, 1);
            Col::of(Some(&owned)).scalar(0)
        }
    }
}

/// A whole row as JSON text, for `rejects.raw`.
fn row_json(batch: &RecordBatch, r: usize) -> Vec<u8> {
    let schema = batch.schema();
    let mut m = Vec::with_capacity(batch.num_columns());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        m.push((f.name().clone(), Col::of(Some(c)).scalar(r)));
    }
    let mut out = String::new();
    Val::Map(m).write_json(&mut out);
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Reading parquet

const BATCH_ROWS: usize = 8192;

fn bad_input(path: &Path, message: impl Into<String>) -> Error {
    Error::BadInput {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The rows of one input file as record batches: a parquet shard (real Arrow types), or a
/// pandas CSV (every column text: nested values in their Python/numpy text form, parsed by
/// [`parse_text`] like a CSV round trip of the parquet).
enum Rows {
    Parquet(parquet::arrow::arrow_reader::ParquetRecordBatchReader),
    Csv(crate::io::csv::CsvReader),
}

impl Rows {
    /// A CSV's header is a record of the file: counted in the accounting as its header.
    fn header_records(&self) -> u64 {
        match self {
            Rows::Parquet(_) => 0,
            Rows::Csv(_) => 1,
        }
    }
}

fn is_csv(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "csv")
}

/// Opens an input file; returns its number of data rows (a CSV is read once to count them) and
/// its batches.
fn open_parquet(path: &Path) -> Result<(u64, Rows)> {
    if is_csv(path) {
        let mut r = crate::io::csv::CsvReader::open(path)?;
        while r.next_batch(BATCH_ROWS)?.is_some() {}
        let rows = r.records;
        return Ok((rows, Rows::Csv(crate::io::csv::CsvReader::open(path)?)));
    }
    let f = fs_err::File::open(path)?;
    let b =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f.into_parts().0)
            .map_err(|e| bad_input(path, format!("not a readable parquet file: {e}")))?;
    let rows = b.metadata().file_metadata().num_rows().max(0) as u64;
    let reader = b
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| bad_input(path, format!("cannot read parquet: {e}")))?;
    Ok((rows, Rows::Parquet(reader)))
}

fn next_batch(path: &Path, reader: &mut Rows) -> Result<Option<RecordBatch>> {
    match reader {
        Rows::Csv(r) => r.next_batch(BATCH_ROWS),
        Rows::Parquet(reader) => match reader.next() {
            None => Ok(None),
            Some(Ok(b)) => Ok(Some(b)),
            Some(Err(e)) => Err(bad_input(path, format!("cannot decode parquet: {e}"))),
        },
    }
}

fn require(path: &Path, b: &RecordBatch, col: &str) -> Result<()> {
    if b.column_by_name(col).is_none() {
        let have: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        return Err(bad_input(
            path,
            format!(
                "has no column `{col}` (columns: {}); is this the Qilin release?",
                have.join(", ")
            ),
        ));
    }
    Ok(())
}

/// A rejected row, before it knows its file.
type Bad = (&'static str, String);

fn bad_value(col: &str, e: String) -> Bad {
    ("bad_value", format!("`{col}`: {e}"))
}

fn text_of(v: Val) -> Option<String> {
    match v {
        Val::Null => None,
        Val::Str(s) => Some(s),
        Val::Bool(b) => Some(b.to_string()),
        Val::Int(i) => Some(i.to_string()),
        Val::Float(f) if f.is_nan() => None,
        Val::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", f as i64)),
        Val::Float(f) => Some(f.to_string()),
        other => {
            let mut s = String::new();
            other.write_json(&mut s);
            Some(s)
        }
    }
}

/// A number with NaN as null; numeric text is accepted (CSV round trips).
fn f64_of(col: &str, v: Val) -> std::result::Result<Option<f64>, Bad> {
    let x = match v {
        Val::Str(s) if s.trim().is_empty() => None,
        Val::Str(s) => Some(
            s.trim()
                .parse::<f64>()
                .map_err(|_| bad_value(col, format!("`{s}` is not a number")))?,
        ),
        v => v.num().map_err(|e| bad_value(col, e))?,
    };
    Ok(x.filter(|f| !f.is_nan()))
}

fn int_of(col: &str, v: &Val) -> std::result::Result<Option<i64>, Bad> {
    match v {
        Val::Str(s) if s.trim().is_empty() => Ok(None),
        // Text: an integer, or a float holding a whole number (pandas writes an integer
        // column that has a missing value as floats: `2.0`, and `nan` for the missing one).
        Val::Str(s) => match s.trim().parse::<i64>() {
            Ok(i) => Ok(Some(i)),
            Err(_) => match s.trim().parse::<f64>() {
                Ok(f) => Val::Float(f).int().map_err(|e| bad_value(col, e)),
                Err(_) => Err(bad_value(col, format!("`{s}` is not a whole number"))),
            },
        },
        v => v.int().map_err(|e| bad_value(col, e)),
    }
}

fn i32_of(col: &str, v: &Val) -> std::result::Result<Option<i32>, Bad> {
    int_of(col, v)?
        .map(|i| i32::try_from(i).map_err(|_| bad_value(col, format!("{i} is out of range"))))
        .transpose()
}

/// A required non-negative id.
fn id_of(col: &str, v: &Val) -> std::result::Result<i64, Bad> {
    match int_of(col, v)? {
        Some(i) if i >= 0 => Ok(i),
        Some(i) => Err(("missing_id", format!("`{col}` is negative ({i})"))),
        None => Err(("missing_id", format!("`{col}` is null"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Users

struct Users {
    raw: Vec<String>,
    by_idx: HashMap<i64, u32>,
    text: [Vec<Option<String>>; 4],
    nums: Vec<Vec<Option<f64>>>,
    in_feat: Vec<bool>,
}

/// A parsed `user_feat` row: user_idx, the four texts, the 42 numbers.
type UserRow = (i64, [Option<String>; 4], Vec<Option<f64>>);

/// gender, platform, age, location (text) and fans_num, follows_num, dense_feat1..40 (numbers).
const USER_TEXT: [&str; 4] = ["gender", "platform", "age", "location"];

fn user_numeric() -> Vec<String> {
    let mut v = vec!["fans_num".to_owned(), "follows_num".to_owned()];
    v.extend((1..=40).map(|k| format!("dense_feat{k}")));
    v
}

impl Users {
    fn new() -> Self {
        Users {
            raw: Vec::new(),
            by_idx: HashMap::new(),
            text: Default::default(),
            nums: vec![Vec::new(); 42],
            in_feat: Vec::new(),
        }
    }

    fn push(
        &mut self,
        idx: i64,
        text: [Option<String>; 4],
        nums: Vec<Option<f64>>,
        feat: bool,
    ) -> u32 {
        let code = self.raw.len() as u32;
        self.raw.push(idx.to_string());
        self.by_idx.insert(idx, code);
        for (c, v) in self.text.iter_mut().zip(text) {
            c.push(v);
        }
        for (c, v) in self.nums.iter_mut().zip(nums) {
            c.push(v);
        }
        self.in_feat.push(feat);
        code
    }

    /// The code of a user seen in the logs (added without features if new).
    fn code(&mut self, idx: i64) -> u32 {
        match self.by_idx.get(&idx) {
            Some(c) => *c,
            None => self.push(idx, Default::default(), vec![None; 42], false),
        }
    }

    fn into_entities(self) -> Entities {
        let [gender, platform, age, location] = self.text;
        let mut extras: Vec<(String, ArrayRef)> = vec![
            ("gender".into(), Arc::new(StringArray::from(gender))),
            ("platform".into(), Arc::new(StringArray::from(platform))),
            ("age".into(), Arc::new(StringArray::from(age))),
        ];
        for (name, v) in user_numeric().into_iter().zip(self.nums) {
            extras.push((name, Arc::new(Float64Array::from(v))));
        }
        extras.push(("location".into(), Arc::new(StringArray::from(location))));
        extras.push((
            "in_user_feat".into(),
            Arc::new(BooleanArray::from(self.in_feat)),
        ));
        Entities {
            raw_id: self.raw,
            title: None,
            extras,
        }
    }
}

fn read_users(
    o: &Options,
    dir: &Path,
    users: &mut Users,
    rejects: &mut Vec<Reject>,
    accounts: &mut Vec<FileAccount>,
) -> Result<()> {
    let numeric = user_numeric();
    let mut global = 0u64;
    for path in shards(dir, USER_FEAT)? {
        let file = rel(dir, &path);
        let (_, mut reader) = open_parquet(&path)?;
        let mut acc = FileAccount {
            file: file.clone(),
            lines: reader.header_records(),
            header: reader.header_records(),
            ..Default::default()
        };
        while let Some(b) = next_batch(&path, &mut reader)? {
            require(&path, &b, "user_idx")?;
            let id = Col::of(b.column_by_name("user_idx"));
            let text: Vec<Col> = USER_TEXT
                .iter()
                .map(|c| Col::of(b.column_by_name(c)))
                .collect();
            let nums: Vec<Col> = numeric
                .iter()
                .map(|c| Col::of(b.column_by_name(c)))
                .collect();
            for r in 0..b.num_rows() {
                acc.lines += 1;
                let row = global;
                global += 1;
                let parsed = (|| -> std::result::Result<UserRow, Bad> {
                    let idx = id_of("user_idx", &id.scalar(r))?;
                    let mut t: [Option<String>; 4] = Default::default();
                    for (k, c) in text.iter().enumerate() {
                        t[k] = text_of(c.scalar(r));
                    }
                    // An empty location is no location.
                    if t[3].as_deref() == Some("") {
                        t[3] = None;
                    }
                    let mut n = Vec::with_capacity(nums.len());
                    for (c, name) in nums.iter().zip(&numeric) {
                        n.push(f64_of(name, c.scalar(r))?);
                    }
                    Ok((idx, t, n))
                })();
                let reject = |reason: &'static str, detail: String, rejects: &mut Vec<Reject>| {
                    rejects.push(Reject {
                        file: file.clone(),
                        line: acc.lines,
                        reason,
                        detail,
                        raw: row_json(&b, r),
                    })
                };
                match parsed {
                    Err((reason, detail)) => {
                        reject(reason, detail, rejects);
                        acc.rejected += 1;
                    }
                    Ok((idx, t, n)) => {
                        if o.ids == Ids::Positional && idx as u64 != row {
                            return Err(not_positional(&path, acc.lines, "user_idx", row, idx));
                        }
                        if users.by_idx.contains_key(&idx) {
                            reject(
                                "duplicate_id",
                                format!("user_idx {idx} already has a row"),
                                rejects,
                            );
                            acc.rejected += 1;
                            continue;
                        }
                        users.push(idx, t, n, true);
                        acc.rows += 1;
                    }
                }
            }
        }
        accounts.push(acc);
    }
    Ok(())
}

fn not_positional(path: &Path, row: u64, col: &str, expected: u64, found: i64) -> Error {
    bad_input(
        path,
        format!(
            "row {row}: `{col}` is {found} but this is global row {expected} of the shards in order; \
             the official code indexes this table by row position, so the shards are out of order, \
             incomplete or not the Qilin release (set `ids = \"by_value\"` in [source] to key rows by \
             their `{col}` instead)"
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Notes

/// The note extras in schema order (everything but `note_idx` and `note_title`).
pub fn note_extra_names() -> Vec<&'static str> {
    let mut v = vec!["note_content", "note_type"];
    v.extend_from_slice(&NOTE_NUMERIC[..6]);
    v.extend_from_slice(&["taxonomy1_id", "taxonomy2_id", "taxonomy3_id"]);
    v.extend_from_slice(&NOTE_NUMERIC[6..]);
    v.push("image_path");
    v
}

/// One notes shard, converted.
struct NotesPart {
    ids: Vec<i64>,
    /// 1-based row in the shard of each kept row.
    lines: Vec<u64>,
    title: Vec<Option<String>>,
    extras: Vec<ArrayRef>,
    rejects: Vec<Reject>,
    acc: FileAccount,
    missing_cols: Vec<String>,
}

struct NoteBuilders {
    content: StringBuilder,
    note_type: Int32Builder,
    nums: Vec<Float64Builder>,
    tax: [StringBuilder; 3],
    image_path: ListBuilder<StringBuilder>,
}

fn read_notes_shard(o: &Options, dir: &Path, path: &Path, first_row: u64) -> Result<NotesPart> {
    let file = rel(dir, path);
    let (_, mut reader) = open_parquet(path)?;
    let mut part = NotesPart {
        ids: Vec::new(),
        lines: Vec::new(),
        title: Vec::new(),
        extras: Vec::new(),
        rejects: Vec::new(),
        acc: FileAccount {
            file: file.clone(),
            lines: reader.header_records(),
            header: reader.header_records(),
            ..Default::default()
        },
        missing_cols: Vec::new(),
    };
    let mut bld = NoteBuilders {
        content: StringBuilder::new(),
        note_type: Int32Builder::new(),
        nums: (0..36).map(|_| Float64Builder::new()).collect(),
        tax: Default::default(),
        image_path: ListBuilder::new(StringBuilder::new()),
    };
    let tax_names = ["taxonomy1_id", "taxonomy2_id", "taxonomy3_id"];
    let mut row = first_row;
    while let Some(b) = next_batch(path, &mut reader)? {
        require(path, &b, "note_idx")?;
        if part.missing_cols.is_empty() && part.acc.lines == part.acc.header {
            for c in ["note_title"].iter().chain(note_extra_names().iter()) {
                if b.column_by_name(c).is_none() {
                    part.missing_cols.push((*c).to_owned());
                }
            }
        }
        let id = Col::of(b.column_by_name("note_idx"));
        let title = Col::of(b.column_by_name("note_title"));
        let content = Col::of(b.column_by_name("note_content"));
        let note_type = Col::of(b.column_by_name("note_type"));
        let nums: Vec<Col> = NOTE_NUMERIC
            .iter()
            .map(|c| Col::of(b.column_by_name(c)))
            .collect();
        let tax: Vec<Col> = tax_names
            .iter()
            .map(|c| Col::of(b.column_by_name(c)))
            .collect();
        let images = Col::of(b.column_by_name("image_path"));
        for r in 0..b.num_rows() {
            part.acc.lines += 1;
            let global = row;
            row += 1;
            let parsed = (|| -> std::result::Result<_, Bad> {
                let idx = id_of("note_idx", &id.scalar(r))?;
                let nt = i32_of("note_type", &note_type.scalar(r))?;
                let mut n = [None; 36];
                for (k, c) in nums.iter().enumerate() {
                    n[k] = f64_of(NOTE_NUMERIC[k], c.scalar(r))?;
                }
                let img = match images.scalar(r) {
                    // Text: a JSON / Python list, or a bare path.
                    Val::Str(t) if t.trim_start().starts_with(['[', '(']) => {
                        parse_text(&t).map_err(|e| bad_value("image_path", e))?
                    }
                    Val::Str(t) if t.trim().is_empty() => Val::Null,
                    v => v,
                };
                let img: Option<Vec<String>> = match img {
                    Val::Null => None,
                    Val::List(v) => Some(
                        v.into_iter()
                            .map(|x| match x {
                                Val::Str(s) => Ok(s),
                                other => Err(bad_value(
                                    "image_path",
                                    format!("expected text paths, found {}", other.kind()),
                                )),
                            })
                            .collect::<std::result::Result<_, _>>()?,
                    ),
                    // A bare path is a one-image list.
                    Val::Str(s) => Some(vec![s]),
                    other => {
                        return Err(bad_value(
                            "image_path",
                            format!("expected a list of paths, found {}", other.kind()),
                        ));
                    }
                };
                Ok((idx, nt, n, img))
            })();
            let (idx, nt, n, img) = match parsed {
                Ok(x) => x,
                Err((reason, detail)) => {
                    part.rejects.push(Reject {
                        file: file.clone(),
                        line: part.acc.lines,
                        reason,
                        detail,
                        raw: row_json(&b, r),
                    });
                    part.acc.rejected += 1;
                    continue;
                }
            };
            if o.ids == Ids::Positional && idx as u64 != global {
                return Err(not_positional(
                    path,
                    part.acc.lines,
                    "note_idx",
                    global,
                    idx,
                ));
            }
            part.ids.push(idx);
            part.lines.push(part.acc.lines);
            part.title.push(text_of(title.scalar(r)));
            bld.content.append_option(text_of(content.scalar(r)));
            bld.note_type.append_option(nt);
            for (k, x) in n.iter().enumerate() {
                bld.nums[k].append_option(*x);
            }
            for (k, c) in tax.iter().enumerate() {
                // `nan` is how pandas writes a missing id as text.
                let t = text_of(c.scalar(r)).filter(|t| !t.is_empty() && t != "nan");
                bld.tax[k].append_option(t);
            }
            match img {
                Some(v) => {
                    for p in v {
                        bld.image_path.values().append_value(p);
                    }
                    bld.image_path.append(true);
                }
                None => bld.image_path.append(false),
            }
            part.acc.rows += 1;
        }
    }
    let mut nums = bld
        .nums
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let [mut t1, mut t2, mut t3] = bld.tax;
    let mut extras: Vec<ArrayRef> = vec![
        Arc::new(bld.content.finish()),
        Arc::new(bld.note_type.finish()),
    ];
    extras.extend(nums.by_ref().take(6));
    extras.push(Arc::new(t1.finish()));
    extras.push(Arc::new(t2.finish()));
    extras.push(Arc::new(t3.finish()));
    extras.extend(nums);
    extras.push(Arc::new(bld.image_path.finish()));
    part.extras = extras;
    Ok(part)
}

struct Notes {
    by_idx: NoteIndex,
    entities: Entities,
}

/// note_idx → item code. With `unknown_notes = "keep"`, a note the logs name but `notes` lacks
/// gets the next code on first sight (in log order, so codes stay deterministic).
pub struct NoteIndex {
    known: HashMap<i64, u32>,
    keep_unknown: bool,
    added: std::cell::RefCell<(HashMap<i64, u32>, Vec<i64>)>,
}

impl NoteIndex {
    fn new(known: HashMap<i64, u32>, keep_unknown: bool) -> Self {
        NoteIndex {
            known,
            keep_unknown,
            added: Default::default(),
        }
    }

    /// The code of `idx`: a known note's, a kept unknown one's, or `None` (rejected).
    fn code(&self, idx: i64) -> Option<u32> {
        if let Some(c) = self.known.get(&idx) {
            return Some(*c);
        }
        if !self.keep_unknown {
            return None;
        }
        let mut a = self.added.borrow_mut();
        if let Some(c) = a.0.get(&idx) {
            return Some(*c);
        }
        let c = (self.known.len() + a.1.len()) as u32;
        a.0.insert(idx, c);
        a.1.push(idx);
        Some(c)
    }

    /// Appends the kept unknown notes to the items: raw id, null title and features,
    /// `in_notes = false` (true for every note with a row).
    fn complete(self, e: &mut Entities) -> Result<u64> {
        let added = self.added.into_inner().1;
        let n_known = e.raw_id.len();
        let n = added.len();
        e.raw_id.extend(added.iter().map(i64::to_string));
        if let Some(t) = e.title.as_mut() {
            t.extend(std::iter::repeat_n(None, n));
        }
        for (_, a) in e.extras.iter_mut() {
            let nulls = arrow_array::new_null_array(a.data_type(), n);
            *a = arrow_select::concat::concat(&[a.as_ref(), nulls.as_ref()])?;
        }
        e.extras.push((
            "in_notes".into(),
            Arc::new(BooleanArray::from(
                (0..n_known + n).map(|k| k < n_known).collect::<Vec<_>>(),
            )),
        ));
        Ok(n as u64)
    }
}

fn read_notes(
    o: &Options,
    dir: &Path,
    progress: &Reporter,
    rejects: &mut Vec<Reject>,
    accounts: &mut Vec<FileAccount>,
) -> Result<Notes> {
    let paths = shards(dir, NOTES)?;
    let mut starts = Vec::with_capacity(paths.len());
    let mut total = 0u64;
    for p in &paths {
        starts.push(total);
        total += open_parquet(p)?.0;
    }
    let bar = progress.count_bar(paths.len() as u64, "reading notes shards");
    let parts: Vec<Result<NotesPart>> = {
        use rayon::prelude::*;
        paths
            .par_iter()
            .zip(starts.par_iter())
            .map(|(p, s)| {
                let r = read_notes_shard(o, dir, p, *s);
                bar.inc(1);
                r
            })
            .collect()
    };
    bar.finish_and_clear();
    let names = note_extra_names();
    let mut by_idx: HashMap<i64, u32> = HashMap::with_capacity(total as usize);
    let mut raw_id = Vec::with_capacity(total as usize);
    let mut title = Vec::with_capacity(total as usize);
    let mut cols: Vec<Vec<ArrayRef>> = vec![Vec::new(); names.len()];
    let mut missing: Vec<String> = Vec::new();
    for part in parts {
        let mut part = part?;
        for m in part.missing_cols.drain(..) {
            if !missing.contains(&m) {
                missing.push(m);
            }
        }
        let mut keep = Vec::with_capacity(part.ids.len());
        for (k, idx) in part.ids.iter().enumerate() {
            if by_idx.contains_key(idx) {
                // Only possible with ids = "by_value" (positional ids are unique by construction).
                let mut m = vec![
                    ("note_idx".to_owned(), Val::Int(*idx)),
                    (
                        "note_title".to_owned(),
                        part.title[k].clone().map_or(Val::Null, Val::Str),
                    ),
                ];
                for (name, a) in names.iter().zip(&part.extras) {
                    m.push(((*name).to_owned(), arrow_val(a.as_ref(), k)));
                }
                let mut raw = String::new();
                Val::Map(m).write_json(&mut raw);
                rejects.push(Reject {
                    file: part.acc.file.clone(),
                    line: part.lines[k],
                    reason: "duplicate_id",
                    detail: format!("note_idx {idx} already has a row"),
                    raw: raw.into_bytes(),
                });
                part.acc.rows -= 1;
                part.acc.rejected += 1;
                keep.push(false);
                continue;
            }
            by_idx.insert(*idx, raw_id.len() as u32);
            raw_id.push(idx.to_string());
            keep.push(true);
        }
        let all = keep.iter().all(|k| *k);
        let mask = BooleanArray::from(keep.clone());
        for (c, a) in cols.iter_mut().zip(&part.extras) {
            c.push(if all {
                a.clone()
            } else {
                arrow_select::filter::filter(a.as_ref(), &mask)?
            });
        }
        title.extend(
            part.title
                .into_iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(t, _)| t),
        );
        rejects.extend(part.rejects);
        accounts.push(part.acc);
    }
    if !missing.is_empty() {
        progress.warn(format!(
            "qilin notes: no column {} in the shards; those extras are null",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut extras = Vec::with_capacity(names.len());
    for (name, parts) in names.iter().zip(cols) {
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        extras.push(((*name).to_owned(), arrow_select::concat::concat(&refs)?));
    }
    Ok(Notes {
        by_idx: NoteIndex::new(by_idx, o.unknown_notes == UnknownNotes::Keep),
        entities: Entities {
            raw_id,
            title: Some(title),
            extras,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Search, recommendation and DQA logs

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Search,
    Rec,
    Dqa,
}

struct LogSpec {
    config: &'static str,
    kind: Kind,
    split: &'static str,
}

const LOGS: [LogSpec; 5] = [
    LogSpec {
        config: SEARCH_TRAIN,
        kind: Kind::Search,
        split: "train",
    },
    LogSpec {
        config: SEARCH_TEST,
        kind: Kind::Search,
        split: "test",
    },
    LogSpec {
        config: DQA,
        kind: Kind::Dqa,
        split: "dqa",
    },
    LogSpec {
        config: REC_TRAIN,
        kind: Kind::Rec,
        split: "train",
    },
    LogSpec {
        config: REC_TEST,
        kind: Kind::Rec,
        split: "test",
    },
];

const SEARCH_CANDIDATES: [&str; 3] = ["bm25_results", "dpr_results", "search_results"];
const REC_CANDIDATES: [&str; 1] = ["rec_results"];
const DQA_CLICKS: [&str; 4] = [
    "is_like_clk",
    "is_onebox_trace_clk",
    "is_content_clk",
    "is_experience_clk",
];
const TS_FIELDS: [&str; 3] = ["search_timestamp", "request_timestamp", "timestamp"];

/// One entry of a result list.
#[derive(Debug)]
struct Entry {
    note: u32,
    position: i32,
    click: bool,
    flags: [Option<i32>; 4],
    /// page_time; `None` where NaN or negative.
    page_time: Option<f32>,
    ts: i64,
}

#[derive(Debug)]
struct Cands {
    notes: Vec<u32>,
    scores: Vec<Option<f64>>,
}

struct DqaExtra {
    output: Option<String>,
    refs: Option<Vec<u32>>,
    clk: [Option<i32>; 4],
}

struct LogRow {
    split: u8,
    id: u64,
    user: i64,
    session: i64,
    query: Option<String>,
    query_from_type: Option<i32>,
    recent: Option<Vec<u32>>,
    entries: Vec<Entry>,
    cands: Vec<Option<Cands>>,
    dqa: Option<DqaExtra>,
}

impl LogRow {
    fn ts(&self) -> Option<i64> {
        self.entries.iter().map(|e| e.ts).min()
    }
}

fn note_code(notes: &NoteIndex, col: &str, v: &Val) -> std::result::Result<u32, Bad> {
    let idx = match int_of(col, v)? {
        Some(i) => i,
        None => return Err(("unknown_note", format!("`{col}` holds a null note_idx"))),
    };
    notes.code(idx).ok_or_else(|| {
        (
            "unknown_note",
            format!("`{col}` names note_idx {idx}, which is not in notes"),
        )
    })
}

fn note_list(notes: &NoteIndex, col: &str, v: &Val) -> std::result::Result<Option<Vec<u32>>, Bad> {
    let Some(items) = v.list().map_err(|e| bad_value(col, e))? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|x| note_code(notes, col, x))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Some)
}

/// A candidate list: note_idx ints, or `[note_idx, score]` pairs (or `{note_idx, score}`).
fn candidates(notes: &NoteIndex, col: &str, v: &Val) -> std::result::Result<Option<Cands>, Bad> {
    let Some(items) = v.list().map_err(|e| bad_value(col, e))? else {
        return Ok(None);
    };
    let mut c = Cands {
        notes: Vec::with_capacity(items.len()),
        scores: Vec::with_capacity(items.len()),
    };
    for x in items {
        let (idx, score) = match x {
            Val::List(p) if p.len() == 2 => (&p[0], Some(&p[1])),
            Val::List(p) => {
                return Err(bad_value(
                    col,
                    format!("a candidate pair has {} elements, not 2", p.len()),
                ));
            }
            Val::Map(_) => (x.get("note_idx").unwrap_or(&Val::Null), x.get("score")),
            other => (other, None),
        };
        c.notes.push(note_code(notes, col, idx)?);
        c.scores.push(match score {
            Some(s) => s.num().map_err(|e| bad_value(col, e))?,
            None => None,
        });
    }
    Ok(Some(c))
}

fn entries(notes: &NoteIndex, col: &str, v: &Val) -> std::result::Result<Vec<Entry>, Bad> {
    let Some(items) = v.list().map_err(|e| bad_value(col, e))? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for (k, x) in items.iter().enumerate() {
        if !matches!(x, Val::Map(_)) {
            return Err(bad_value(
                col,
                format!("entry {k} is {}, not an object", x.kind()),
            ));
        }
        let field = |f: &str| x.get(f).unwrap_or(&Val::Null);
        let note = note_code(notes, col, field("note_idx"))?;
        let position = i32_of(&format!("{col}[{k}].position"), field("position"))?
            .ok_or_else(|| bad_value(col, format!("entry {k} has no position")))?;
        let click = int_of(col, field("click"))?.is_some_and(|c| c > 0);
        let mut flags = [None; 4];
        for (slot, f) in flags
            .iter_mut()
            .zip(["like", "collect", "comment", "share"])
        {
            *slot = i32_of(&format!("{col}[{k}].{f}"), field(f))?;
        }
        let page_time = field("page_time")
            .num()
            .map_err(|e| bad_value(col, e))?
            .filter(|p| p.is_finite() && *p >= 0.0)
            .map(|p| p as f32);
        let ts_val = TS_FIELDS
            .iter()
            .find_map(|f| x.get(f))
            .unwrap_or(&Val::Null);
        let secs = ts_val.num().map_err(|e| bad_value(col, e))?;
        let ts = match secs {
            // Seconds; a value this large can only be milliseconds already (year > 5000 in s).
            Some(s) if s.is_finite() && s.abs() >= 1e11 && s.abs() < 1e14 => s.round() as i64,
            Some(s) if s.is_finite() && s.abs() < 1e11 => (s * 1000.0).round() as i64,
            _ => {
                return Err((
                    "bad_timestamp",
                    format!(
                        "`{col}` entry {k} has no usable timestamp ({})",
                        TS_FIELDS.join(" / ")
                    ),
                ));
            }
        };
        out.push(Entry {
            note,
            position,
            click,
            flags,
            page_time,
            ts,
        });
    }
    // Display order is `position`, not list order (the paper sorts by time); ties keep list order.
    out.sort_by_key(|e| e.position);
    Ok(out)
}

/// The columns of one log batch.
struct LogCols<'a> {
    id: Col<'a>,
    user: Col<'a>,
    session: Col<'a>,
    query: Col<'a>,
    qft: Col<'a>,
    recent: Col<'a>,
    details: Col<'a>,
    cands: Vec<Col<'a>>,
    dqa_output: Col<'a>,
    refs: Col<'a>,
    clk: Vec<Col<'a>>,
}

fn parse_log_row(
    spec: &LogSpec,
    c: &LogCols<'_>,
    r: usize,
    notes: &NoteIndex,
) -> std::result::Result<LogRow, Bad> {
    let id_col = if spec.kind == Kind::Rec {
        "request_idx"
    } else {
        "search_idx"
    };
    let details_col = if spec.kind == Kind::Rec {
        "rec_result_details_with_idx"
    } else {
        "search_result_details_with_idx"
    };
    let id = id_of(id_col, &c.id.scalar(r))? as u64;
    let user = id_of("user_idx", &c.user.scalar(r))?;
    let session = int_of("session_idx", &c.session.scalar(r))?
        .ok_or(("missing_id", "`session_idx` is null".to_owned()))?;
    let query = text_of(c.query.scalar(r));
    let query_from_type = i32_of("query_from_type", &c.qft.scalar(r))?;
    let recent_v = c
        .recent
        .nested(r)
        .map_err(|e| bad_value("recent_clicked_note_idxs", e))?;
    let recent = note_list(notes, "recent_clicked_note_idxs", &recent_v)?;
    let details_v = c.details.nested(r).map_err(|e| bad_value(details_col, e))?;
    let entries = entries(notes, details_col, &details_v)?;
    let names: &[&str] = if spec.kind == Kind::Rec {
        &REC_CANDIDATES
    } else {
        &SEARCH_CANDIDATES
    };
    let mut cands = Vec::with_capacity(names.len());
    for (col, name) in c.cands.iter().zip(names) {
        let v = col.nested(r).map_err(|e| bad_value(name, e))?;
        cands.push(candidates(notes, name, &v)?);
    }
    let dqa = if spec.kind == Kind::Dqa {
        let refs_v = c
            .refs
            .nested(r)
            .map_err(|e| bad_value("ref_note_idx_list", e))?;
        let mut clk = [None; 4];
        for ((slot, col), name) in clk.iter_mut().zip(&c.clk).zip(DQA_CLICKS) {
            *slot = i32_of(name, &col.scalar(r))?.filter(|v| *v >= 0);
        }
        Some(DqaExtra {
            // '-1' is the corpus' "no answer".
            output: text_of(c.dqa_output.scalar(r)).filter(|s| s.trim() != "-1"),
            refs: note_list(notes, "ref_note_idx_list", &refs_v)?,
            clk,
        })
    } else {
        None
    };
    Ok(LogRow {
        split: u8::from(spec.split == "test"),
        id,
        user,
        session,
        query,
        query_from_type,
        recent,
        entries,
        cands,
        dqa,
    })
}

struct Logs {
    search: Vec<(LogRow, u32)>,
    rec: Vec<(LogRow, u32)>,
    dqa: Vec<(LogRow, u32)>,
}

#[allow(clippy::too_many_arguments)]
fn read_logs(
    o: &Options,
    dir: &Path,
    notes: &NoteIndex,
    users: &mut Users,
    inter: &mut RawInteractions,
    rejects: &mut Vec<Reject>,
    accounts: &mut Vec<FileAccount>,
) -> Result<Logs> {
    let mut logs = Logs {
        search: Vec::new(),
        rec: Vec::new(),
        dqa: Vec::new(),
    };
    let mut order = 0u64;
    let with_value = o.interaction_value == InteractionValue::PageTime;
    for spec in &LOGS {
        for path in shards(dir, spec.config)? {
            let file = rel(dir, &path);
            let (_, mut reader) = open_parquet(&path)?;
            let mut acc = FileAccount {
                file: file.clone(),
                lines: reader.header_records(),
                header: reader.header_records(),
                ..Default::default()
            };
            let (id_col, details_col) = if spec.kind == Kind::Rec {
                ("request_idx", "rec_result_details_with_idx")
            } else {
                ("search_idx", "search_result_details_with_idx")
            };
            let cand_names: &[&str] = if spec.kind == Kind::Rec {
                &REC_CANDIDATES
            } else {
                &SEARCH_CANDIDATES
            };
            while let Some(b) = next_batch(&path, &mut reader)? {
                for col in [id_col, "user_idx", "session_idx", details_col] {
                    require(&path, &b, col)?;
                }
                let get = |n: &str| Col::of(b.column_by_name(n));
                let cols = LogCols {
                    id: get(id_col),
                    user: get("user_idx"),
                    session: get("session_idx"),
                    query: get("query"),
                    qft: get("query_from_type"),
                    recent: get("recent_clicked_note_idxs"),
                    details: get(details_col),
                    cands: cand_names.iter().map(|n| get(n)).collect(),
                    dqa_output: get("dqa_output"),
                    refs: get("ref_note_idx_list"),
                    clk: DQA_CLICKS.iter().map(|n| get(n)).collect(),
                };
                for r in 0..b.num_rows() {
                    acc.lines += 1;
                    let row = match parse_log_row(spec, &cols, r, notes) {
                        Ok(row) => row,
                        Err((reason, detail)) => {
                            rejects.push(Reject {
                                file: file.clone(),
                                line: acc.lines,
                                reason,
                                detail,
                                raw: row_json(&b, r),
                            });
                            acc.rejected += 1;
                            continue;
                        }
                    };
                    acc.rows += 1;
                    let user = users.code(row.user);
                    if spec.kind != Kind::Dqa || o.dqa_clicks {
                        for e in row.entries.iter().filter(|e| e.click) {
                            inter.user.push(user);
                            inter.item.push(e.note);
                            inter.ts.push(e.ts);
                            inter.order.push(order);
                            order += 1;
                            if let Some(v) = inter.value.as_mut() {
                                v.push(e.page_time.unwrap_or(f32::NAN));
                            }
                            if let Some(s) = inter.session.as_mut() {
                                s.push(row.session);
                            }
                        }
                    }
                    match spec.kind {
                        Kind::Search => logs.search.push((row, user)),
                        Kind::Rec => logs.rec.push((row, user)),
                        Kind::Dqa => logs.dqa.push((row, user)),
                    }
                }
            }
            accounts.push(acc);
        }
    }
    if !with_value {
        inter.value = None;
    }
    Ok(logs)
}

// ---------------------------------------------------------------------------------------------
// Building the side tables

fn u32_list<'a>(rows: impl Iterator<Item = Option<&'a [u32]>>) -> ArrayRef {
    let mut b = ListBuilder::new(UInt32Builder::new());
    for r in rows {
        match r {
            Some(v) => {
                b.values().append_slice(v);
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

fn f64_list<'a>(rows: impl Iterator<Item = Option<&'a [Option<f64>]>>) -> ArrayRef {
    let mut b = ListBuilder::new(Float64Builder::new());
    for r in rows {
        match r {
            Some(v) => {
                for x in v {
                    b.values().append_option(*x);
                }
                b.append(true);
            }
            None => b.append(false),
        }
    }
    Arc::new(b.finish())
}

fn dict(values: &[&str], keys: impl Iterator<Item = i32>) -> Result<ArrayRef> {
    Ok(Arc::new(Int32DictionaryArray::try_new(
        Int32Array::from_iter_values(keys),
        Arc::new(StringArray::from(values.to_vec())),
    )?))
}

fn ts_array(v: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter(v).with_timezone("UTC"))
}

/// `positions`, `likes`, `collects`, `comments`, `shares`, `page_times`: parallel to the result list.
fn entry_columns(rows: &[&LogRow]) -> Vec<ArrayRef> {
    let mut pos = ListBuilder::new(Int32Builder::new());
    let mut flags: Vec<ListBuilder<Int32Builder>> = (0..4)
        .map(|_| ListBuilder::new(Int32Builder::new()))
        .collect();
    let mut pt = ListBuilder::new(Float32Builder::new());
    for r in rows {
        for e in &r.entries {
            pos.values().append_value(e.position);
            for (b, f) in flags.iter_mut().zip(e.flags) {
                b.values().append_option(f);
            }
            pt.values().append_option(e.page_time);
        }
        pos.append(true);
        for b in flags.iter_mut() {
            b.append(true);
        }
        pt.append(true);
    }
    let mut out: Vec<ArrayRef> = vec![Arc::new(pos.finish())];
    out.extend(
        flags
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef),
    );
    out.push(Arc::new(pt.finish()));
    out
}

fn candidate_columns(rows: &[&LogRow], n: usize) -> Vec<ArrayRef> {
    let mut out = Vec::new();
    for k in 0..n {
        fn c<'a>(r: &&'a LogRow, k: usize) -> Option<&'a Cands> {
            r.cands.get(k).and_then(|c| c.as_ref())
        }
        out.push(u32_list(
            rows.iter().map(|r| c(r, k).map(|c| c.notes.as_slice())),
        ));
        out.push(f64_list(rows.iter().map(|r| {
            c(r, k)
                .filter(|c| c.scores.iter().any(Option::is_some))
                .map(|c| c.scores.as_slice())
        })));
    }
    out
}

fn results(rows: &[&LogRow], clicked_only: bool) -> ArrayRef {
    let mut b = ListBuilder::new(UInt32Builder::new());
    for r in rows {
        for e in r.entries.iter().filter(|e| e.click || !clicked_only) {
            b.values().append_value(e.note);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

fn batch(table: &str, cols: Vec<ArrayRef>) -> Result<RecordBatch> {
    let schema = crate::io::schema::table(table)?.arrow(NAME)?;
    RecordBatch::try_new(schema, cols).map_err(|e| {
        Error::Internal(format!(
            "qilin: building `{table}` does not match schemas/{table}.json: {e}"
        ))
    })
}

fn requests_table(rows: &[(LogRow, u32)]) -> Result<SideTable> {
    let rs: Vec<&LogRow> = rows.iter().map(|(r, _)| r).collect();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rs.iter().map(|r| r.id))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, u)| *u))),
        Arc::new(Int64Array::from_iter_values(rs.iter().map(|r| r.session))),
        ts_array(rs.iter().map(|r| r.ts())),
        Arc::new(StringArray::from_iter_values(
            rs.iter().map(|r| r.query.as_deref().unwrap_or("")),
        )),
        results(&rs, false),
        results(&rs, true),
        dict(&["train", "test"], rs.iter().map(|r| i32::from(r.split)))?,
        Arc::new(Int32Array::from_iter(rs.iter().map(|r| r.query_from_type))),
        u32_list(rs.iter().map(|r| r.recent.as_deref())),
    ];
    cols.extend(entry_columns(&rs));
    cols.extend(candidate_columns(&rs, SEARCH_CANDIDATES.len()));
    Ok(SideTable {
        name: "requests".into(),
        batch: batch("requests", cols)?,
        user_col: Some("user_id".into()),
        item_cols: vec![
            "results".into(),
            "clicks".into(),
            "recent_clicked".into(),
            "bm25_results".into(),
            "dpr_results".into(),
            "search_results".into(),
        ],
    })
}

fn exposures_table(rows: &[(LogRow, u32)]) -> Result<SideTable> {
    let rs: Vec<&LogRow> = rows.iter().map(|(r, _)| r).collect();
    let n = rs.len();
    let clicked_position = rs.iter().map(|r| {
        r.entries
            .iter()
            .position(|e| e.click)
            .and_then(|p| u16::try_from(p).ok())
    });
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rs.iter().map(|r| r.id))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, u)| *u))),
        ts_array(rs.iter().map(|r| r.ts())),
        Arc::new(arrow_array::UInt32Array::from(vec![None::<u32>; n])),
        dict(&["rec"], std::iter::repeat_n(0, n))?,
        results(&rs, false),
        Arc::new(UInt16Array::from_iter(clicked_position)),
        dict(&["train", "test"], rs.iter().map(|r| i32::from(r.split)))?,
        Arc::new(Int64Array::from_iter_values(rs.iter().map(|r| r.session))),
        Arc::new(StringArray::from_iter(
            rs.iter().map(|r| r.query.as_deref()),
        )),
        u32_list(rs.iter().map(|r| r.recent.as_deref())),
        results(&rs, true),
    ];
    cols.extend(entry_columns(&rs));
    cols.extend(candidate_columns(&rs, REC_CANDIDATES.len()));
    Ok(SideTable {
        name: "exposures".into(),
        batch: batch("exposures", cols)?,
        user_col: Some("user_id".into()),
        item_cols: vec![
            "items".into(),
            "recent_clicked".into(),
            "clicks".into(),
            "rec_results".into(),
        ],
    })
}

fn dqa_table(rows: &[(LogRow, u32)]) -> Result<SideTable> {
    let rs: Vec<&LogRow> = rows.iter().map(|(r, _)| r).collect();
    fn dq<'a>(r: &&'a LogRow) -> Option<&'a DqaExtra> {
        r.dqa.as_ref()
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rs.iter().map(|r| r.id))),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, u)| *u))),
        Arc::new(Int64Array::from_iter_values(rs.iter().map(|r| r.session))),
        ts_array(rs.iter().map(|r| r.ts())),
        Arc::new(StringArray::from_iter_values(
            rs.iter().map(|r| r.query.as_deref().unwrap_or("")),
        )),
        Arc::new(Int32Array::from_iter(rs.iter().map(|r| r.query_from_type))),
        u32_list(rs.iter().map(|r| r.recent.as_deref())),
        results(&rs, false),
        results(&rs, true),
    ];
    cols.extend(entry_columns(&rs));
    cols.extend(candidate_columns(&rs, SEARCH_CANDIDATES.len()));
    cols.push(Arc::new(StringArray::from_iter(
        rs.iter().map(|r| dq(r).and_then(|d| d.output.as_deref())),
    )));
    cols.push(u32_list(
        rs.iter().map(|r| dq(r).and_then(|d| d.refs.as_deref())),
    ));
    for k in 0..4 {
        cols.push(Arc::new(Int32Array::from_iter(
            rs.iter().map(|r| dq(r).and_then(|d| d.clk[k])),
        )));
    }
    Ok(SideTable {
        name: "qilin_dqa".into(),
        batch: batch("qilin_dqa", cols)?,
        user_col: Some("user_id".into()),
        item_cols: vec![
            "recent_clicked".into(),
            "results".into(),
            "clicks".into(),
            "bm25_results".into(),
            "dpr_results".into(),
            "search_results".into(),
            "ref_notes".into(),
        ],
    })
}

// ---------------------------------------------------------------------------------------------
// Qrels

fn read_qrels(
    dir: &Path,
    notes: &NoteIndex,
    rejects: &mut Vec<Reject>,
    accounts: &mut Vec<FileAccount>,
) -> Result<Option<SideTable>> {
    let mut split = Vec::new();
    let mut qid = Vec::new();
    let mut item = Vec::new();
    let mut any = false;
    for (k, (name, _)) in QRELS.iter().enumerate() {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        any = true;
        let mut acc = FileAccount {
            file: (*name).to_owned(),
            ..Default::default()
        };
        let mut reader = crate::io::lines::LineReader::open(&path)?;
        while let Some((line_no, _, raw, long)) = reader.next_line()? {
            acc.lines += 1;
            if let Some(n) = long {
                acc.rejected += 1;
                rejects.push(Reject {
                    file: (*name).to_owned(),
                    line: line_no,
                    reason: "line_too_long",
                    detail: format!(
                        "line of {n} bytes is longer than the {} MiB limit (is this a text file?)",
                        crate::io::lines::MAX_LINE >> 20
                    ),
                    raw: raw.to_vec(),
                });
                continue;
            }
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line_no == 1 {
                let l = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
                if l != b"qid,pid" {
                    return Err(bad_input(
                        &path,
                        format!(
                            "line 1: expected the header `qid,pid`, found `{}`",
                            String::from_utf8_lossy(l)
                        ),
                    ));
                }
                acc.header += 1;
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                acc.skipped += 1;
                continue;
            }
            let mut reject = |reason: &'static str, detail: String| {
                rejects.push(Reject {
                    file: (*name).to_owned(),
                    line: line_no,
                    reason,
                    detail,
                    raw: raw.to_vec(),
                });
            };
            let text = std::str::from_utf8(line).unwrap_or("");
            let parsed = text.split_once(',').and_then(|(q, p)| {
                Some((q.trim().parse::<u64>().ok()?, p.trim().parse::<i64>().ok()?))
            });
            let Some((q, p)) = parsed else {
                reject(
                    "bad_line",
                    "expected `qid,pid` with two whole numbers".into(),
                );
                acc.rejected += 1;
                continue;
            };
            let Some(code) = notes.code(p) else {
                reject(
                    "unknown_note",
                    format!("pid {p} is not a note_idx in notes"),
                );
                acc.rejected += 1;
                continue;
            };
            split.push(k as i32);
            qid.push(q);
            item.push(code);
            acc.rows += 1;
        }
        accounts.push(acc);
    }
    if !any {
        return Ok(None);
    }
    let names: Vec<&str> = QRELS.iter().map(|(_, s)| *s).collect();
    let cols: Vec<ArrayRef> = vec![
        dict(&names, split.into_iter())?,
        Arc::new(UInt64Array::from(qid)),
        Arc::new(UInt32Array::from(item)),
    ];
    Ok(Some(SideTable {
        name: "qilin_qrels".into(),
        batch: batch("qilin_qrels", cols)?,
        user_col: None,
        item_cols: vec!["item_id".into()],
    }))
}

// ---------------------------------------------------------------------------------------------

pub fn normalize(o: &Options, dir: &Path, progress: &Reporter) -> Result<Normalized> {
    let mut rejects = Vec::new();
    let mut accounts = Vec::new();
    let mut users = Users::new();
    read_users(o, dir, &mut users, &mut rejects, &mut accounts)?;
    let notes = read_notes(o, dir, progress, &mut rejects, &mut accounts)?;
    let mut inter = RawInteractions {
        value: Some(Vec::new()),
        session: Some(Vec::new()),
        ..Default::default()
    };
    let logs = read_logs(
        o,
        dir,
        &notes.by_idx,
        &mut users,
        &mut inter,
        &mut rejects,
        &mut accounts,
    )?;
    let mut tables = vec![
        requests_table(&logs.search)?,
        exposures_table(&logs.rec)?,
        dqa_table(&logs.dqa)?,
    ];
    if let Some(q) = read_qrels(dir, &notes.by_idx, &mut rejects, &mut accounts)? {
        tables.push(q);
    }
    let mut items = notes.entities;
    let kept = notes.by_idx.complete(&mut items)?;
    if kept > 0 {
        progress.info(format!(
            "Kept {kept} note(s) the logs name but `notes` lacks, as items without features \
             (unknown_notes = \"keep\"; in_notes = false)"
        ));
    }
    Ok(Normalized {
        interactions: inter,
        event: "click".into(),
        users: users.into_entities(),
        items,
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
    fn text_forms_parse() {
        // json.dumps with NaN
        let v = parse_text(r#"[{"note_idx": 3, "page_time": NaN, "click": 1.0}]"#).unwrap();
        let e = &v.list().unwrap().unwrap()[0];
        assert_eq!(e.get("note_idx"), Some(&Val::Int(3)));
        assert!(matches!(e.get("page_time"), Some(Val::Float(f)) if f.is_nan()));
        // Python literal: single quotes, None, True, tuples, nan
        let v = parse_text("[{'a': None, 'b': True, 'c': (1, 2.5)}, nan, -inf]").unwrap();
        let l = v.list().unwrap().unwrap();
        assert_eq!(l[0].get("a"), Some(&Val::Null));
        assert_eq!(l[0].get("b"), Some(&Val::Bool(true)));
        assert_eq!(
            l[0].get("c"),
            Some(&Val::List(vec![Val::Int(1), Val::Float(2.5)]))
        );
        assert!(matches!(l[2], Val::Float(f) if f == f64::NEG_INFINITY));
        // escapes, including a surrogate pair and \u-escaped Chinese (json.dumps' default)
        assert_eq!(
            parse_text(r#""\u6625 \ud83d\ude00 \"q\" \n""#).unwrap(),
            Val::Str("春 😀 \"q\" \n".into())
        );
        assert_eq!(parse_text("  ").unwrap(), Val::Null);
        assert_eq!(parse_text("None").unwrap(), Val::Null);
        assert_eq!(
            parse_text("[1, 2,]").unwrap(),
            Val::List(vec![Val::Int(1), Val::Int(2)])
        );
        for bad in ["[1, 2", "{'a' 1}", "[nanny]", "[1] x", "'open", "[@]"] {
            assert!(parse_text(bad).is_err(), "{bad}");
        }
    }

    /// The official toy CSVs (pandas `to_csv` of the Hugging Face splits) hold numpy's text
    /// form of arrays: space separated, wrapped, exponent floats, `array(...)` items, `nan`.
    #[test]
    fn qilin_numpy_reprs_parse() {
        let v = parse_text("[1151720  927325 1158042 1151720\n 1626780]").unwrap();
        assert_eq!(
            v,
            Val::List(
                [1151720, 927325, 1158042, 1151720, 1626780]
                    .map(Val::Int)
                    .to_vec()
            )
        );
        let v = parse_text(
            "['image/part_114/1147826/5133571.jpg' 'image/part_114/1147826/5133572.jpg'\n 'x.jpg']",
        )
        .unwrap();
        assert_eq!(v.list().unwrap().unwrap().len(), 3);
        let v = parse_text("[ 4.91823584e-01  1.34985551e-01 -3.24201465e-01\n  7.30747759e-01]")
            .unwrap();
        assert_eq!(v.list().unwrap().unwrap()[2], Val::Float(-0.324201465));
        let v = parse_text("[array([1.96492600e+06, 3.20901398e+02])\n array([77464.        ,   320.20663452]) array([3.28361e+05, 3.18687e+01])]").unwrap();
        let l = v.list().unwrap().unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(
            l[1],
            Val::List(vec![Val::Float(77464.0), Val::Float(320.20663452)])
        );
        assert_eq!(l[0].list().unwrap().unwrap()[0].int(), Ok(Some(1964926)));
        let v = parse_text("[{'click': 0.0, 'note_idx': 731340, 'page_time': nan}\n {'click': 1.0, 'note_idx': 1, 'page_time': 5.974}]").unwrap();
        assert_eq!(
            v.list().unwrap().unwrap()[1].get("note_idx"),
            Some(&Val::Int(1))
        );
        assert_eq!(parse_text("[]").unwrap(), Val::List(vec![]));
        assert_eq!(
            parse_text("array(['a', 'b'], dtype=object)").unwrap(),
            Val::List(vec![Val::Str("a".into()), Val::Str("b".into())])
        );
        assert_eq!(
            parse_text("[np.float64(1.5), np.int64(2)]").unwrap(),
            Val::List(vec![Val::Float(1.5), Val::Int(2)])
        );
        let e = parse_text("[1 2 3 ... 8 9 10]").unwrap_err();
        assert!(e.contains("shortened this array with `...`"), "{e}");
        // Spaces are separators only in lists, and never instead of `:` or in objects.
        assert!(parse_text("{'a' 1}").is_err());
        assert!(parse_text("(1 2)").is_err());
    }

    #[test]
    fn json_round_trip_of_values() {
        let v = Val::Map(vec![
            ("t".into(), Val::Str("猫\"".into())),
            (
                "x".into(),
                Val::List(vec![Val::Float(f64::NAN), Val::Float(1.0), Val::Null]),
            ),
        ]);
        let mut s = String::new();
        v.write_json(&mut s);
        assert_eq!(s, r#"{"t": "猫\"", "x": [NaN, 1.0, null]}"#);
        let back = parse_text(&s).unwrap();
        assert_eq!(back.get("t"), v.get("t"));
    }

    #[test]
    fn whole_numbers_only_where_ids_are_expected() {
        assert_eq!(Val::Float(3.0).int(), Ok(Some(3)));
        assert_eq!(Val::Float(f64::NAN).int(), Ok(None));
        assert!(Val::Float(3.5).int().is_err());
        assert!(Val::Str("3".into()).int().is_err());
        assert_eq!(int_of("c", &Val::Str(" 7 ".into())), Ok(Some(7)));
        // A pandas CSV of an integer column with a missing value: floats as text.
        assert_eq!(int_of("c", &Val::Str("2.0".into())), Ok(Some(2)));
        assert_eq!(int_of("c", &Val::Str("nan".into())), Ok(None));
        assert!(int_of("c", &Val::Str("2.5".into())).is_err());
        assert_eq!(id_of("c", &Val::Int(-1)).unwrap_err().0, "missing_id");
    }

    #[test]
    fn candidates_accept_ints_pairs_and_objects() {
        let notes = NoteIndex::new((0..10).map(|i| (i, i as u32 * 2)).collect(), false);
        let v = parse_text("[3, [4, 0.5], [5.0, 1], {'note_idx': 6, 'score': 2.0}]").unwrap();
        let c = candidates(&notes, "x", &v).unwrap().unwrap();
        assert_eq!(c.notes, vec![6, 8, 10, 12]);
        assert_eq!(c.scores, vec![None, Some(0.5), Some(1.0), Some(2.0)]);
        assert!(candidates(&notes, "x", &Val::Null).unwrap().is_none());
        let unknown = parse_text("[[42, 0.1]]").unwrap();
        assert_eq!(
            candidates(&notes, "x", &unknown).unwrap_err().0,
            "unknown_note"
        );
        let triple = parse_text("[[1, 0.1, 3]]").unwrap();
        assert_eq!(candidates(&notes, "x", &triple).unwrap_err().0, "bad_value");
    }

    #[test]
    fn entries_sort_by_position_and_need_timestamps() {
        let notes = NoteIndex::new((0..10).map(|i| (i, i as u32)).collect(), false);
        let v = parse_text(
            "[{'note_idx': 1, 'position': 2.0, 'click': 0.0, 'page_time': nan, 'request_timestamp': 10.0},
              {'note_idx': 2, 'position': 0.0, 'click': 1.0, 'page_time': -1.0, 'request_timestamp': 12.5},
              {'note_idx': 3, 'position': 1.0, 'click': 1.0, 'page_time': 4.0, 'timestamp': 11}]",
        )
        .unwrap();
        let e = entries(&notes, "d", &v).unwrap();
        assert_eq!(e.iter().map(|x| x.note).collect::<Vec<_>>(), vec![2, 3, 1]);
        assert_eq!(
            e.iter().map(|x| x.ts).collect::<Vec<_>>(),
            vec![12_500, 11_000, 10_000]
        );
        assert_eq!(
            e.iter().map(|x| x.page_time).collect::<Vec<_>>(),
            vec![None, Some(4.0), None]
        );
        assert_eq!(
            e.iter().map(|x| x.click).collect::<Vec<_>>(),
            vec![true, true, false]
        );
        let ms =
            parse_text("[{'note_idx': 1, 'position': 0, 'timestamp': 1700000000123}]").unwrap();
        assert_eq!(entries(&notes, "d", &ms).unwrap()[0].ts, 1_700_000_000_123);
        let no_ts = parse_text("[{'note_idx': 1, 'position': 0}]").unwrap();
        assert_eq!(entries(&notes, "d", &no_ts).unwrap_err().0, "bad_timestamp");
        let nan_ts =
            parse_text("[{'note_idx': 1, 'position': 0, 'search_timestamp': NaN}]").unwrap();
        assert_eq!(
            entries(&notes, "d", &nan_ts).unwrap_err().0,
            "bad_timestamp"
        );
        let not_obj = parse_text("[[1, 2]]").unwrap();
        assert_eq!(entries(&notes, "d", &not_obj).unwrap_err().0, "bad_value");
    }

    #[test]
    fn shard_names() {
        assert_eq!(shard_index("train-00001-of-00005.parquet"), Some((1, 5)));
        assert_eq!(shard_index("train-1-of-5.parquet"), None);
        assert_eq!(shard_index("data.parquet"), None);
    }

    #[test]
    fn arrow_nested_values() {
        let mut b = ListBuilder::new(ListBuilder::new(Float64Builder::new()));
        b.values().values().append_value(4.0);
        b.values().values().append_value(0.5);
        b.values().append(true);
        b.append(true);
        b.append(false);
        let a: ArrayRef = Arc::new(b.finish());
        let c = Col::of(Some(&a));
        assert_eq!(
            c.nested(0).unwrap(),
            Val::List(vec![Val::List(vec![Val::Float(4.0), Val::Float(0.5)])])
        );
        assert_eq!(c.nested(1).unwrap(), Val::Null);
    }
}
