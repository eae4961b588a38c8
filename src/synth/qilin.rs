//! A Qilin-format corpus in the Hugging Face layout: one folder per config with
//! `train-NNNNN-of-MMMMM.parquet` shards, `dataset_dict.json` at the top, and the three
//! `*.qrels.csv` files of the GitHub repository (header `qid,pid`, LF, trailing newline).
//!
//! The default size (`--users 3`) is the minimal faithful fixture of docs/corpora.md §2.5, with
//! fixed content that the golden tests check row by row: 20 notes in 2 shards with Chinese
//! titles, a NaN counter, a `"nan"` and an empty taxonomy id, an empty `image_path` and a
//! two-image one; result lists as list<struct> with float counters, listed out of position
//! order, a NaN and a -1.0 `page_time` on clicked entries, a null `query_from_type`,
//! `dpr_results` / `bm25_results` / `rec_results` as list<list<double>> pairs and
//! `search_results` as an int list; a DQA row with `'-1'`, a null `ref_note_idx_list`, negative
//! and null `is_*_clk`; `user_feat` with dense_feat1..40, an `unknown` gender, an empty and a
//! null location, a NaN `fans_num`; a user who is only in the logs; a recommendation row naming
//! a note that does not exist and a qrels line with an unknown pid (both rejected).
//!
//! `json_nested` writes the same logical content with every nested column as text, the way
//! consumers meet it after a CSV round trip: JSON (`json.dumps`, with `NaN`) and, in one row,
//! a Python literal (`None`, single quotes); counters as int64 where they hold no NaN,
//! `query_from_type` and `is_*_clk` as float64 with NaN for null, and `search_results` as ints
//! in one row and `[note_idx, score]` pairs in another.
//!
//! Larger `--users` add seeded random users, notes and requests after the fixed core.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Fields, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::Result;
use crate::sources::qilin::{
    DQA, NOTE_NUMERIC, NOTES, QRELS, REC_TEST, REC_TRAIN, SEARCH_TEST, SEARCH_TRAIN, USER_FEAT,
};
use crate::util::rng::Rng;

#[derive(Debug, Clone)]
pub struct Options {
    /// Users with a `user_feat` row (3: the fixed fixture only).
    pub users: u32,
    pub seed: u64,
    /// Nested columns as JSON / Python-literal text instead of Arrow lists and structs.
    pub json_nested: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub notes: usize,
    pub users: usize,
    pub search_train: usize,
    pub search_test: usize,
    pub recommendation_train: usize,
    pub recommendation_test: usize,
    pub dqa: usize,
    pub qrels: usize,
    pub json_nested: bool,
}

/// 2023-11-14T22:13:20Z, in seconds.
pub const T0: f64 = 1_700_000_000.0;

const TITLES: [&str; 20] = [
    "春日穿搭分享",
    "上海咖啡探店",
    "周末露营攻略",
    "无图的随笔",
    "新手化妆教程",
    "两张图的旅行笔记",
    "家常红烧肉做法",
    "视频时长缺失的笔记",
    "考研复习经验",
    "租房避坑指南",
    "健身餐一周食谱",
    "北京胡同散步",
    "男生春季穿搭",
    "露营帐篷测评",
    "露营灯推荐",
    "秋冬护肤心得",
    "猫砂怎么选",
    "通勤包推荐",
    "办公室好物",
    "城市夜景拍摄",
];

#[derive(Clone)]
struct Note {
    idx: i64,
    title: String,
    content: String,
    note_type: i64,
    nums: [f64; 36],
    tax: [String; 3],
    images: Vec<String>,
}

#[derive(Clone)]
struct User {
    idx: i64,
    gender: &'static str,
    platform: &'static str,
    age: &'static str,
    fans: f64,
    follows: f64,
    dense: [f64; 40],
    location: Option<String>,
}

#[derive(Clone, Copy)]
struct Detail {
    note: i64,
    position: f64,
    click: f64,
    like: f64,
    collect: f64,
    comment: f64,
    share: f64,
    page_time: f64,
    ts: f64,
}

fn d(note: i64, position: u32, click: u32, page_time: f64, dt: f64) -> Detail {
    Detail {
        note,
        position: f64::from(position),
        click: f64::from(click),
        like: 0.0,
        collect: 0.0,
        comment: 0.0,
        share: 0.0,
        page_time,
        ts: T0 + dt,
    }
}

#[derive(Clone)]
enum Cand {
    Id(i64),
    Pair(i64, f64),
}

/// A search, DQA or recommendation row.
#[derive(Clone, Default)]
struct Row {
    idx: i64,
    user: i64,
    session: i64,
    query: String,
    qft: Option<i64>,
    recent: Vec<i64>,
    details: Vec<Detail>,
    bm25: Option<Vec<Cand>>,
    dpr: Option<Vec<Cand>>,
    results: Option<Vec<Cand>>,
    dqa_output: String,
    refs: Option<Vec<i64>>,
    clk: [Option<i64>; 4],
}

fn pairs(v: &[(i64, f64)]) -> Option<Vec<Cand>> {
    Some(v.iter().map(|(i, s)| Cand::Pair(*i, *s)).collect())
}

fn ids(v: &[i64]) -> Option<Vec<Cand>> {
    Some(v.iter().map(|i| Cand::Id(*i)).collect())
}

fn note(i: i64) -> Note {
    let title = TITLES[i as usize % TITLES.len()].to_owned();
    let note_type = if i % 3 == 2 { 2 } else { 1 };
    let mut nums = [0.0; 36];
    for (k, x) in nums.iter_mut().enumerate() {
        *x = (i * 10 + k as i64) as f64;
    }
    nums[0] = if note_type == 2 { 15.0 + i as f64 } else { 0.0 };
    if i == 7 {
        nums[0] = f64::NAN;
    }
    let mut tax = [
        format!("t1_{}", i % 4),
        format!("t2_{}", i % 6),
        format!("t3_{i}"),
    ];
    if i == 4 {
        tax[1] = "nan".into();
    }
    if i == 9 {
        tax[2] = String::new();
    }
    let images = match i {
        3 => vec![],
        5 => vec!["a/b.jpg".into(), "a/c.jpg".into()],
        _ => vec![format!("notes/{i:07}/0.jpg")],
    };
    Note {
        idx: i,
        content: format!("{title}的详细内容，第{i}篇笔记。"),
        title,
        note_type,
        nums,
        tax,
        images,
    }
}

fn core_users() -> Vec<User> {
    let dense = |f: fn(usize) -> f64| {
        let mut v = [0.0; 40];
        for (k, x) in v.iter_mut().enumerate() {
            *x = f(k + 1);
        }
        v
    };
    vec![
        User {
            idx: 0,
            gender: "female",
            platform: "iOS",
            age: "19-22",
            fans: 12.0,
            follows: 30.0,
            dense: dense(|k| k as f64 * 0.25),
            location: Some("上海".into()),
        },
        User {
            idx: 1,
            gender: "unknown",
            platform: "Android",
            age: "unknown",
            fans: 0.0,
            follows: 5.0,
            dense: dense(|k| k as f64 * 0.1),
            location: Some(String::new()),
        },
        User {
            idx: 2,
            gender: "male",
            platform: "Harmony",
            age: "26-30",
            fans: f64::NAN,
            follows: 2.0,
            dense: dense(|k| -(k as f64) / 8.0),
            location: None,
        },
    ]
}

struct Corpus {
    notes: Vec<Note>,
    users: Vec<User>,
    search_train: Vec<Row>,
    search_test: Vec<Row>,
    rec_train: Vec<Row>,
    rec_test: Vec<Row>,
    dqa: Vec<Row>,
    qrels: [Vec<(i64, i64)>; 3],
}

/// The fixed fixture; `log_user` is the user who has no `user_feat` row.
// Long on purpose: one seeded generator writes every file of the corpus: the order of its random
// draws is the byte-exact output, so the files are written in one place in draw order.
fn core(log_user: i64) -> Corpus {
    let mut s0 = vec![
        d(5, 2, 0, f64::NAN, 5.0),
        d(0, 0, 1, 35.5, 3.0),
        d(12, 1, 1, f64::NAN, 8.0),
    ];
    s0[1].like = 1.0;
    s0[1].collect = 1.0;
    let mut s3 = vec![d(7, 1, 1, 12.25, 200.0), d(8, 0, 0, f64::NAN, 199.0)];
    s3[0].comment = 1.0;
    s3[0].share = 1.0;
    let search_train = vec![
        Row {
            idx: 0,
            user: 0,
            session: 10,
            query: "春季穿搭".into(),
            qft: Some(1),
            dpr: pairs(&[(0, 0.93), (5, 0.88), (12, 0.51)]),
            details: s0,
            ..Default::default()
        },
        Row {
            idx: 1,
            user: 0,
            session: 10,
            query: "上海咖啡".into(),
            qft: None,
            recent: vec![0, 12],
            dpr: pairs(&[(1, 0.7)]),
            details: vec![d(1, 0, 1, -1.0, 60.0), d(2, 1, 0, f64::NAN, 60.0)],
            ..Default::default()
        },
        Row {
            idx: 2,
            user: 1,
            session: 20,
            query: "露营装备".into(),
            qft: Some(3),
            recent: vec![3],
            dpr: pairs(&[]),
            details: vec![
                d(3, 0, 0, f64::NAN, 100.0),
                d(4, 1, 0, f64::NAN, 100.0),
                d(6, 2, 0, f64::NAN, 101.0),
            ],
            ..Default::default()
        },
        Row {
            idx: 3,
            user: 2,
            session: 30,
            query: "猫粮推荐".into(),
            qft: Some(2),
            dpr: pairs(&[(7, 0.6), (8, 0.4)]),
            details: s3,
            ..Default::default()
        },
        Row {
            idx: 4,
            user: 1,
            session: 21,
            query: "周末去哪".into(),
            qft: Some(8),
            recent: vec![3, 4],
            dpr: pairs(&[(9, 0.3)]),
            details: vec![],
            ..Default::default()
        },
    ];
    let search_test = vec![
        Row {
            idx: 5,
            user: 0,
            session: 11,
            query: "春季穿搭 男".into(),
            qft: Some(1),
            recent: vec![0, 12],
            bm25: pairs(&[(13, 12.5), (0, 10.25)]),
            dpr: pairs(&[(13, 0.9)]),
            results: ids(&[13, 0]),
            details: vec![d(13, 0, 1, 20.0, 1000.0), d(0, 1, 0, f64::NAN, 1000.0)],
            ..Default::default()
        },
        Row {
            idx: 6,
            user: 1,
            session: 22,
            query: "露营帐篷".into(),
            qft: Some(4),
            bm25: pairs(&[(14, 8.0)]),
            dpr: pairs(&[(14, 0.8), (15, 0.7)]),
            results: ids(&[14, 15]),
            details: vec![d(15, 0, 0, f64::NAN, 1100.0), d(14, 1, 1, 5.0, 1102.0)],
            ..Default::default()
        },
        Row {
            idx: 7,
            user: 2,
            session: 31,
            query: "猫砂".into(),
            qft: Some(2),
            recent: vec![7],
            bm25: pairs(&[]),
            dpr: pairs(&[(16, 0.5)]),
            results: ids(&[]),
            details: vec![d(16, 0, 0, f64::NAN, 1200.0)],
            ..Default::default()
        },
    ];
    let mut r0 = vec![
        d(17, 1, 0, f64::NAN, 2001.0),
        d(18, 0, 1, 40.0, 2000.0),
        d(19, 2, 1, f64::NAN, 2005.0),
    ];
    r0[1].like = 1.0;
    let rec_train = vec![
        Row {
            idx: 0,
            user: 0,
            session: 12,
            recent: vec![0],
            details: r0,
            ..Default::default()
        },
        Row {
            idx: 1,
            user: 1,
            session: 23,
            details: vec![d(10, 0, 0, f64::NAN, 2100.0), d(11, 1, 0, f64::NAN, 2100.0)],
            ..Default::default()
        },
        Row {
            idx: 2,
            user: 2,
            session: 32,
            recent: vec![7, 8],
            details: vec![d(2, 0, 0, f64::NAN, 2200.0), d(6, 1, 1, 3.5, 2203.0)],
            ..Default::default()
        },
        // Names note 25, which does not exist: rejected.
        Row {
            idx: 3,
            user: 0,
            session: 13,
            details: vec![d(1, 0, 1, 2.0, 2300.0), d(25, 1, 0, f64::NAN, 2300.0)],
            ..Default::default()
        },
    ];
    let rec_test = vec![
        Row {
            idx: 4,
            user: 0,
            session: 14,
            recent: vec![18],
            results: pairs(&[(17, 0.9), (3, 0.8)]),
            details: vec![d(3, 0, 1, 10.0, 3000.0), d(17, 1, 0, f64::NAN, 3000.0)],
            ..Default::default()
        },
        Row {
            idx: 5,
            user: 1,
            session: 24,
            results: pairs(&[(4, 0.7)]),
            details: vec![d(4, 0, 0, f64::NAN, 3100.0)],
            ..Default::default()
        },
        Row {
            idx: 6,
            user: log_user,
            session: 40,
            results: pairs(&[]),
            details: vec![d(5, 0, 1, 1.5, 3200.0)],
            ..Default::default()
        },
    ];
    let dqa = vec![
        Row {
            idx: 8,
            user: 0,
            session: 15,
            query: "春天穿什么".into(),
            qft: Some(1),
            dpr: pairs(&[(0, 0.5)]),
            details: vec![d(0, 0, 0, f64::NAN, 4000.0)],
            dqa_output: "-1".into(),
            refs: None,
            clk: [Some(-1); 4],
            ..Default::default()
        },
        Row {
            idx: 9,
            user: 1,
            session: 25,
            query: "露营需要带什么".into(),
            qft: None,
            recent: vec![3],
            dpr: pairs(&[]),
            details: vec![d(3, 0, 1, 8.0, 4100.0), d(6, 1, 0, f64::NAN, 4100.0)],
            dqa_output: "建议带帐篷、睡袋和头灯。".into(),
            refs: Some(vec![3, 6]),
            clk: [Some(1), Some(0), Some(1), Some(0)],
            ..Default::default()
        },
        Row {
            idx: 10,
            user: 2,
            session: 33,
            query: "猫咪驱虫".into(),
            qft: Some(2),
            dpr: pairs(&[]),
            details: vec![],
            dqa_output: "每三个月驱虫一次。".into(),
            refs: Some(vec![]),
            clk: [Some(0), None, Some(-1), Some(0)],
            ..Default::default()
        },
    ];
    Corpus {
        notes: (0..20).map(note).collect(),
        users: core_users(),
        search_train,
        search_test,
        rec_train,
        rec_test,
        dqa,
        qrels: [
            vec![(0, 13), (0, 0), (1, 14), (2, 16), (2, 999)],
            vec![(0, 3), (1, 4), (2, 5)],
            vec![(1, 3), (1, 6), (2, 7)],
        ],
    }
}

const QUERY_WORDS: [&str; 12] = [
    "穿搭", "咖啡", "露营", "护肤", "美食", "旅行", "健身", "租房", "考研", "猫咪", "摄影", "通勤",
];
const GENDERS: [&str; 3] = ["male", "female", "unknown"];
const PLATFORMS: [&str; 4] = ["iOS", "Android", "Harmony", "unknown"];
const AGES: [&str; 10] = [
    "1-12", "13-15", "16-18", "19-22", "23-25", "26-30", "31-35", "36-40", "40+", "unknown",
];

/// Adds seeded random users, notes and requests after the fixed core.
fn grow(c: &mut Corpus, users: u32, seed: u64) {
    let extra = u64::from(users.saturating_sub(3));
    if extra == 0 {
        return;
    }
    let mut rng = Rng::derive(seed, "qilin");
    for u in 3..u64::from(users) {
        let mut dense = [0.0; 40];
        for x in dense.iter_mut() {
            *x = (rng.next_f64() * 100.0).round() / 100.0;
        }
        c.users.push(User {
            idx: u as i64,
            gender: GENDERS[rng.below(3) as usize],
            platform: PLATFORMS[rng.below(4) as usize],
            age: AGES[rng.below(10) as usize],
            fans: rng.below(5000) as f64,
            follows: rng.below(500) as f64,
            dense,
            location: Some(QUERY_WORDS[rng.below(12) as usize].to_owned()),
        });
    }
    let n_notes = 20 + extra as i64 * 30;
    for i in 20..n_notes {
        c.notes.push(note(i));
    }
    let mut t = 10_000.0;
    let mut next_search = 11i64;
    let mut next_req = 7i64;
    let mut session = 1000i64;
    let list = |rng: &mut Rng, t: &mut f64| -> Vec<Detail> {
        let n = 2 + rng.below(9) as usize;
        let mut pos: Vec<u32> = (0..n as u32).collect();
        rng.shuffle(&mut pos);
        let start = *t;
        *t += 30.0 + rng.below(600) as f64;
        pos.into_iter()
            .map(|p| {
                let click = u32::from(rng.chance(0.15));
                let pt = if click == 1 {
                    if rng.chance(0.1) {
                        -1.0
                    } else {
                        (rng.below(1200) as f64) / 4.0
                    }
                } else {
                    f64::NAN
                };
                d(
                    rng.below(n_notes as u64) as i64,
                    p,
                    click,
                    pt,
                    start + f64::from(p),
                )
            })
            .collect()
    };
    for u in 0..u64::from(users) {
        for _ in 0..3 {
            session += 1;
            let test = rng.chance(0.15);
            let details = list(&mut rng, &mut t);
            let cand = |rng: &mut Rng| {
                let v: Vec<(i64, f64)> = (0..5)
                    .map(|_| {
                        (
                            rng.below(n_notes as u64) as i64,
                            (rng.next_f64() * 1000.0).round() / 1000.0,
                        )
                    })
                    .collect();
                pairs(&v)
            };
            let mut row = Row {
                idx: next_search,
                user: u as i64,
                session,
                query: format!(
                    "{}{}",
                    QUERY_WORDS[rng.below(12) as usize],
                    QUERY_WORDS[rng.below(12) as usize]
                ),
                qft: (!rng.chance(0.05)).then(|| 1 + rng.below(8) as i64),
                recent: (0..rng.below(4))
                    .map(|_| rng.below(n_notes as u64) as i64)
                    .collect(),
                dpr: cand(&mut rng),
                details,
                ..Default::default()
            };
            next_search += 1;
            if test {
                row.bm25 = cand(&mut rng);
                row.results = ids(&row.details.iter().map(|d| d.note).collect::<Vec<_>>());
                let qid = c.search_test.len() as i64;
                for x in row.details.iter().filter(|x| x.click > 0.0) {
                    c.qrels[0].push((qid, x.note));
                }
                c.search_test.push(row);
            } else {
                c.search_train.push(row);
            }
        }
        for _ in 0..5 {
            let test = rng.chance(0.12);
            let details = list(&mut rng, &mut t);
            let mut row = Row {
                idx: next_req,
                user: u as i64,
                session,
                recent: (0..rng.below(6))
                    .map(|_| rng.below(n_notes as u64) as i64)
                    .collect(),
                details,
                ..Default::default()
            };
            next_req += 1;
            if test {
                row.results = pairs(
                    &row.details
                        .iter()
                        .map(|d| (d.note, 1.0 / (1.0 + d.position)))
                        .collect::<Vec<_>>(),
                );
                let qid = c.rec_test.len() as i64;
                for x in row.details.iter().filter(|x| x.click > 0.0) {
                    c.qrels[1].push((qid, x.note));
                }
                c.rec_test.push(row);
            } else {
                c.rec_train.push(row);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// One parquet column before it is an Arrow array.
enum C {
    I64(Vec<Option<i64>>),
    F64(Vec<f64>),
    Str(Vec<Option<String>>),
    ListI64(Vec<Option<Vec<i64>>>),
    ListStr(Vec<Vec<String>>),
    Cands(Vec<Option<Vec<Cand>>>),
    Details(Vec<Vec<Detail>>, &'static str),
}

fn detail_fields(ts: &str) -> Fields {
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Fields::from(vec![
        f("click"),
        f("collect"),
        f("comment"),
        f("like"),
        Field::new("note_idx", DataType::Int64, true),
        f("page_time"),
        f("position"),
        f(ts),
        f("share"),
    ])
}

fn arrow(c: &C) -> ArrayRef {
    match c {
        C::I64(v) => Arc::new(Int64Array::from(v.clone())),
        C::F64(v) => Arc::new(Float64Array::from(v.clone())),
        C::Str(v) => Arc::new(StringArray::from(v.clone())),
        C::ListI64(v) => {
            let mut b = ListBuilder::new(Int64Builder::new());
            for r in v {
                match r {
                    Some(x) => {
                        b.values().append_slice(x);
                        b.append(true);
                    }
                    None => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        C::ListStr(v) => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for r in v {
                for s in r {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
        C::Cands(v) => {
            // Pairs: list<list<double>>; bare ids: list<int64> (one type per column).
            let bare = v
                .iter()
                .flatten()
                .flatten()
                .any(|c| matches!(c, Cand::Id(_)));
            if bare {
                let ids: Vec<Option<Vec<i64>>> = v
                    .iter()
                    .map(|r| {
                        r.as_ref().map(|r| {
                            r.iter()
                                .map(|c| match c {
                                    Cand::Id(i) | Cand::Pair(i, _) => *i,
                                })
                                .collect()
                        })
                    })
                    .collect();
                return arrow(&C::ListI64(ids));
            }
            let mut b = ListBuilder::new(ListBuilder::new(Float64Builder::new()));
            for r in v {
                match r {
                    Some(x) => {
                        for c in x {
                            if let Cand::Pair(i, s) = c {
                                b.values().values().append_value(*i as f64);
                                b.values().values().append_value(*s);
                                b.values().append(true);
                            }
                        }
                        b.append(true);
                    }
                    None => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        C::Details(v, ts) => {
            let fields = detail_fields(ts);
            let mut b = ListBuilder::new(StructBuilder::from_fields(fields, 0));
            for r in v {
                for x in r {
                    let s = b.values();
                    let vals = [
                        x.click,
                        x.collect,
                        x.comment,
                        x.like,
                        0.0,
                        x.page_time,
                        x.position,
                        x.ts,
                        x.share,
                    ];
                    for (k, val) in vals.iter().enumerate() {
                        if k == 4 {
                            s.field_builder::<Int64Builder>(4)
                                .expect("note_idx builder")
                                .append_value(x.note);
                        } else {
                            s.field_builder::<Float64Builder>(k)
                                .expect("float builder")
                                .append_value(*val);
                        }
                    }
                    s.append(true);
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
    }
}

fn py_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else {
        format!("{f:?}")
    }
}

/// The text form of a nested column; `python_row` is written as a Python literal.
fn text(c: &C, python_row: Option<usize>) -> C {
    let q = |s: &str, py: bool| {
        if py {
            format!("'{s}'")
        } else {
            format!("\"{s}\"")
        }
    };
    let out: Vec<Option<String>> = match c {
        C::ListI64(v) => v
            .iter()
            .map(|r| {
                r.as_ref().map(|x| {
                    format!(
                        "[{}]",
                        x.iter()
                            .map(|i| i.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            })
            .collect(),
        C::ListStr(v) => v
            .iter()
            .map(|r| Some(serde_json::to_string(r).unwrap_or_default()))
            .collect(),
        C::Cands(v) => v
            .iter()
            .map(|r| {
                r.as_ref().map(|x| {
                    let items: Vec<String> = x
                        .iter()
                        .map(|c| match c {
                            Cand::Id(i) => i.to_string(),
                            Cand::Pair(i, s) => format!("[{i}, {}]", py_float(*s)),
                        })
                        .collect();
                    format!("[{}]", items.join(", "))
                })
            })
            .collect(),
        C::Details(v, ts) => v
            .iter()
            .enumerate()
            .map(|(row, r)| {
                let py = python_row == Some(row);
                let num = |f: f64| {
                    if py && f.is_nan() {
                        "None".to_owned()
                    } else {
                        py_float(f)
                    }
                };
                let items: Vec<String> = r
                    .iter()
                    .map(|x| {
                        let kv = [
                            ("click", num(x.click)),
                            ("collect", num(x.collect)),
                            ("comment", num(x.comment)),
                            ("like", num(x.like)),
                            ("note_idx", x.note.to_string()),
                            ("page_time", num(x.page_time)),
                            ("position", num(x.position)),
                            (*ts, num(x.ts)),
                            ("share", num(x.share)),
                        ];
                        let body: Vec<String> = kv
                            .iter()
                            .map(|(k, v)| format!("{}: {v}", q(k, py)))
                            .collect();
                        format!("{{{}}}", body.join(", "))
                    })
                    .collect();
                Some(format!("[{}]", items.join(", ")))
            })
            .collect(),
        C::I64(_) | C::F64(_) | C::Str(_) => unreachable!("only nested columns become text"),
    };
    C::Str(out)
}

fn write_parquet(
    path: &Path,
    cols: Vec<(&str, C)>,
    json: bool,
    python_row: Option<usize>,
) -> Result<()> {
    if let Some(p) = path.parent() {
        fs_err::create_dir_all(p)?;
    }
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (name, c) in cols {
        let nested = matches!(
            c,
            C::ListI64(_) | C::ListStr(_) | C::Cands(_) | C::Details(..)
        );
        let c = if json && nested {
            text(&c, python_row)
        } else {
            c
        };
        let a = arrow(&c);
        fields.push(Field::new(name, a.data_type().clone(), true));
        arrays.push(a);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("recdata synth".into())
        .build();
    let file = fs_err::File::create(path)?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    w.write(&batch)?;
    w.close()?;
    Ok(())
}

fn shard_name(config: &str, k: usize, n: usize) -> String {
    format!("{config}/train-{k:05}-of-{n:05}.parquet")
}

fn notes_cols(notes: &[Note], json: bool) -> Vec<(&'static str, C)> {
    let mut cols: Vec<(&'static str, C)> = vec![
        (
            "note_title",
            C::Str(notes.iter().map(|n| Some(n.title.clone())).collect()),
        ),
        (
            "note_content",
            C::Str(notes.iter().map(|n| Some(n.content.clone())).collect()),
        ),
        (
            "note_type",
            C::I64(notes.iter().map(|n| Some(n.note_type)).collect()),
        ),
    ];
    let num = |k: usize| -> C {
        // The text variant stores NaN-free counters as int64, as a pandas frame without NaN does.
        if json && notes.iter().all(|n| !n.nums[k].is_nan()) {
            C::I64(notes.iter().map(|n| Some(n.nums[k] as i64)).collect())
        } else {
            C::F64(notes.iter().map(|n| n.nums[k]).collect())
        }
    };
    for (k, name) in NOTE_NUMERIC.iter().enumerate().take(6) {
        cols.push((name, num(k)));
    }
    for (t, name) in ["taxonomy1_id", "taxonomy2_id", "taxonomy3_id"]
        .iter()
        .enumerate()
    {
        cols.push((
            name,
            C::Str(notes.iter().map(|n| Some(n.tax[t].clone())).collect()),
        ));
    }
    for (k, name) in NOTE_NUMERIC.iter().enumerate().skip(6) {
        cols.push((name, num(k)));
    }
    cols.push((
        "note_idx",
        C::I64(notes.iter().map(|n| Some(n.idx)).collect()),
    ));
    cols.push((
        "image_path",
        C::ListStr(notes.iter().map(|n| n.images.clone()).collect()),
    ));
    cols
}

fn opt_int(v: Vec<Option<i64>>, json: bool) -> C {
    if json {
        C::F64(
            v.into_iter()
                .map(|x| x.map_or(f64::NAN, |i| i as f64))
                .collect(),
        )
    } else {
        C::I64(v)
    }
}

fn search_cols(rows: &[Row], test: bool, dqa: bool, json: bool) -> Vec<(&'static str, C)> {
    let i = |f: fn(&Row) -> i64| C::I64(rows.iter().map(|r| Some(f(r))).collect());
    let mut cols: Vec<(&'static str, C)> = vec![
        (
            "query",
            C::Str(rows.iter().map(|r| Some(r.query.clone())).collect()),
        ),
        (
            "query_from_type",
            opt_int(rows.iter().map(|r| r.qft).collect(), json),
        ),
        (
            "recent_clicked_note_idxs",
            C::ListI64(rows.iter().map(|r| Some(r.recent.clone())).collect()),
        ),
        ("search_idx", i(|r| r.idx)),
        ("session_idx", i(|r| r.session)),
        ("user_idx", i(|r| r.user)),
    ];
    if test {
        cols.push((
            "bm25_results",
            C::Cands(rows.iter().map(|r| r.bm25.clone()).collect()),
        ));
    }
    cols.push((
        "dpr_results",
        C::Cands(rows.iter().map(|r| r.dpr.clone()).collect()),
    ));
    if test {
        let mut res: Vec<Option<Vec<Cand>>> = rows.iter().map(|r| r.results.clone()).collect();
        if json && res.len() > 1 {
            // Text lets one column mix forms: pairs in the second row, bare ids elsewhere.
            res[1] = res[1].take().map(|v| {
                v.into_iter()
                    .enumerate()
                    .map(|(k, c)| match c {
                        Cand::Id(i) | Cand::Pair(i, _) => Cand::Pair(i, 2.5 - k as f64),
                    })
                    .collect()
            });
        }
        cols.push(("search_results", C::Cands(res)));
    }
    cols.push((
        "search_result_details_with_idx",
        C::Details(
            rows.iter().map(|r| r.details.clone()).collect(),
            "search_timestamp",
        ),
    ));
    if dqa {
        cols.push((
            "dqa_output",
            C::Str(rows.iter().map(|r| Some(r.dqa_output.clone())).collect()),
        ));
        cols.push((
            "ref_note_idx_list",
            C::ListI64(rows.iter().map(|r| r.refs.clone()).collect()),
        ));
        for (k, name) in [
            "is_like_clk",
            "is_onebox_trace_clk",
            "is_content_clk",
            "is_experience_clk",
        ]
        .iter()
        .enumerate()
        {
            cols.push((name, opt_int(rows.iter().map(|r| r.clk[k]).collect(), json)));
        }
    }
    cols
}

fn rec_cols(rows: &[Row], test: bool) -> Vec<(&'static str, C)> {
    let i = |f: fn(&Row) -> i64| C::I64(rows.iter().map(|r| Some(f(r))).collect());
    let mut cols: Vec<(&'static str, C)> = vec![
        (
            "recent_clicked_note_idxs",
            C::ListI64(rows.iter().map(|r| Some(r.recent.clone())).collect()),
        ),
        ("request_idx", i(|r| r.idx)),
        ("session_idx", i(|r| r.session)),
        ("user_idx", i(|r| r.user)),
    ];
    if test {
        cols.push((
            "rec_results",
            C::Cands(rows.iter().map(|r| r.results.clone()).collect()),
        ));
    }
    cols.push((
        "query",
        C::Str(rows.iter().map(|r| Some(r.query.clone())).collect()),
    ));
    cols.push((
        "rec_result_details_with_idx",
        C::Details(
            rows.iter().map(|r| r.details.clone()).collect(),
            "request_timestamp",
        ),
    ));
    cols
}

fn user_cols(users: &[User], json: bool) -> Vec<(&'static str, C)> {
    let s = |f: fn(&User) -> &'static str| {
        C::Str(users.iter().map(|u| Some(f(u).to_owned())).collect())
    };
    let mut cols: Vec<(&'static str, C)> = vec![
        ("gender", s(|u| u.gender)),
        ("platform", s(|u| u.platform)),
        ("age", s(|u| u.age)),
        ("fans_num", C::F64(users.iter().map(|u| u.fans).collect())),
        (
            "follows_num",
            if json {
                C::I64(users.iter().map(|u| Some(u.follows as i64)).collect())
            } else {
                C::F64(users.iter().map(|u| u.follows).collect())
            },
        ),
    ];
    const DENSE: [&str; 40] = [
        "dense_feat1",
        "dense_feat2",
        "dense_feat3",
        "dense_feat4",
        "dense_feat5",
        "dense_feat6",
        "dense_feat7",
        "dense_feat8",
        "dense_feat9",
        "dense_feat10",
        "dense_feat11",
        "dense_feat12",
        "dense_feat13",
        "dense_feat14",
        "dense_feat15",
        "dense_feat16",
        "dense_feat17",
        "dense_feat18",
        "dense_feat19",
        "dense_feat20",
        "dense_feat21",
        "dense_feat22",
        "dense_feat23",
        "dense_feat24",
        "dense_feat25",
        "dense_feat26",
        "dense_feat27",
        "dense_feat28",
        "dense_feat29",
        "dense_feat30",
        "dense_feat31",
        "dense_feat32",
        "dense_feat33",
        "dense_feat34",
        "dense_feat35",
        "dense_feat36",
        "dense_feat37",
        "dense_feat38",
        "dense_feat39",
        "dense_feat40",
    ];
    for (k, name) in DENSE.iter().enumerate() {
        cols.push((name, C::F64(users.iter().map(|u| u.dense[k]).collect())));
    }
    cols.push((
        "location",
        C::Str(users.iter().map(|u| u.location.clone()).collect()),
    ));
    cols.push((
        "user_idx",
        C::I64(users.iter().map(|u| Some(u.idx)).collect()),
    ));
    cols
}

pub fn write(out: &Path, o: &Options) -> Result<Summary> {
    fs_err::create_dir_all(out)?;
    let users = o.users.max(3);
    let mut c = core(i64::from(users));
    grow(&mut c, users, o.seed);
    let json = o.json_nested;

    let n = c.notes.len();
    let shards = n.div_ceil(400_000).max(2);
    for k in 0..shards {
        let part = &c.notes[k * n / shards..(k + 1) * n / shards];
        write_parquet(
            &out.join(shard_name(NOTES, k, shards)),
            notes_cols(part, json),
            json,
            None,
        )?;
    }
    let one = |cfg: &str| out.join(shard_name(cfg, 0, 1));
    write_parquet(&one(USER_FEAT), user_cols(&c.users, json), json, None)?;
    // The first search_train row's result list is a Python literal in the text variant.
    write_parquet(
        &one(SEARCH_TRAIN),
        search_cols(&c.search_train, false, false, json),
        json,
        Some(0),
    )?;
    write_parquet(
        &one(SEARCH_TEST),
        search_cols(&c.search_test, true, false, json),
        json,
        None,
    )?;
    write_parquet(&one(REC_TRAIN), rec_cols(&c.rec_train, false), json, None)?;
    write_parquet(&one(REC_TEST), rec_cols(&c.rec_test, true), json, None)?;
    write_parquet(
        &one(DQA),
        search_cols(&c.dqa, false, true, json),
        json,
        None,
    )?;

    let names = [
        NOTES,
        SEARCH_TRAIN,
        SEARCH_TEST,
        REC_TRAIN,
        REC_TEST,
        DQA,
        USER_FEAT,
    ];
    let dict = format!(
        "{{\"splits\": [{}]}}",
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    fs_err::write(out.join("dataset_dict.json"), dict)?;
    let mut qrels = 0;
    for ((name, _), rows) in QRELS.iter().zip(&c.qrels) {
        let mut s = String::from("qid,pid\n");
        for (q, p) in rows {
            s.push_str(&format!("{q},{p}\n"));
        }
        qrels += rows.len();
        fs_err::write(out.join(name), s)?;
    }
    Ok(Summary {
        notes: n,
        users: c.users.len(),
        search_train: c.search_train.len(),
        search_test: c.search_test.len(),
        recommendation_train: c.rec_train.len(),
        recommendation_test: c.rec_test.len(),
        dqa: c.dqa.len(),
        qrels,
        json_nested: json,
    })
}
