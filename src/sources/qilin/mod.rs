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

mod cells;
mod logs;
mod notes;
mod qrels;
mod users;

use cells::*;
use logs::*;
use notes::*;
use qrels::*;
use users::*;

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
