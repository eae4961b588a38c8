//! Qilin: golden tables on the fixed fixture, one test per quirk, the text (JSON / Python
//! literal) form of nested columns, the positional-id check, qrels, reconciliation, schemas.

use std::path::{Path, PathBuf};
use std::process::Command;

use recdata::io::parquet::{Level, read_batch, write_batch};
use serde_json::{Value, json};

use crate::util::{python, recdata, tree};

/// T0 of the fixture in ms.
const T: i64 = 1_700_000_000_000;

fn synth(out: &Path, users: u32, seed: u64, json_nested: bool) {
    recdata::synth::qilin::write(
        out,
        &recdata::synth::qilin::Options {
            users,
            seed,
            json_nested,
        },
    )
    .unwrap();
}

fn manifest(dir: &Path, name: &str, raw: &str, source_extra: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "[dataset]\nname = \"{name}\"\nversion = \"1\"\n\n[source]\ncorpus = \"qilin\"\npath = \"{raw}\"\n{source_extra}\n\n[stages.split]\nmethod = \"temporal\"\nvalid_quantile = 0.8\ntest_quantile = 0.9\n"
        ),
    )
    .unwrap();
    p
}

/// Builds `raw` (relative to `dir`) as dataset `name`; returns the version directory.
fn build(dir: &Path, name: &str, raw: &str, source_extra: &str) -> PathBuf {
    let m = manifest(dir, name, raw, source_extra);
    let out = recdata(&["build", m.to_str().unwrap(), "--data-dir", "data"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("data").join(name).join("1")
}

fn build_err(dir: &Path, name: &str, raw: &str, source_extra: &str) -> String {
    let m = manifest(dir, name, raw, source_extra);
    let out = recdata(&["build", m.to_str().unwrap(), "--data-dir", "data"], dir);
    assert!(!out.status.success(), "the build should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every published table as JSON rows, with item ids turned back into note_idx and user ids
/// into user_idx (so expectations read like the fixture), timestamps as epoch ms, NaN as "NaN".
fn dump(version: &Path) -> Value {
    let script = r#"
import json, math, sys, pyarrow as pa, pyarrow.parquet as pq
root = sys.argv[1]
doc = json.load(open(f"{root}/dataset.json"))
im = {r["item_id"]: int(r["raw_id"]) for r in pq.read_table(f"{root}/item_map.parquet").to_pylist()}
um = {r["user_id"]: int(r["raw_id"]) for r in pq.read_table(f"{root}/user_map.parquet").to_pylist()}
ITEM = {
    "interactions": ["item_id"], "items": ["item_id"], "item_map": ["item_id"], "qilin_qrels": ["item_id"],
    "requests": ["results", "clicks", "recent_clicked", "bm25_results", "dpr_results", "search_results"],
    "exposures": ["items", "clicks", "recent_clicked", "rec_results"],
    "qilin_dqa": ["results", "clicks", "recent_clicked", "bm25_results", "dpr_results", "search_results", "ref_notes"],
    "splits": ["item_id"],
}
def conv(v):
    if isinstance(v, float) and math.isnan(v): return "NaN"
    if isinstance(v, bytes): return v.decode()
    if isinstance(v, list): return [conv(x) for x in v]
    return v
out = {}
for f in doc["files"]:
    t = pq.read_table(f"{root}/{f['path']}")
    for i, fld in enumerate(t.schema):
        if pa.types.is_timestamp(fld.type):
            t = t.set_column(i, fld.name, t.column(i).cast(pa.int64()))
    rows = []
    for r in t.to_pylist():
        r = {k: conv(v) for k, v in r.items()}
        for c in ITEM.get(f["table"], []):
            if r.get(c) is not None:
                r[c] = [im[x] for x in r[c]] if isinstance(r[c], list) else im[r[c]]
        if "user_id" in r:
            r["user_id"] = um[r["user_id"]]
        rows.append(r)
    out[f["path"]] = rows
print(json.dumps(out, ensure_ascii=False))
"#;
    let out = Command::new(python())
        .args(["-c", script, version.to_str().unwrap()])
        .output()
        .expect("python3 with pyarrow");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn dataset_json(version: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(version.join("dataset.json")).unwrap()).unwrap()
}

fn fixture(dir: &Path) -> PathBuf {
    synth(&dir.join("raw"), 3, 1, false);
    build(dir, "q", "raw", "")
}

fn click(user: i64, note: i64, dt: i64, value: Value, session: i64) -> Value {
    json!({"user_id": user, "item_id": note, "ts": T + dt * 1000, "event": "click", "value": value, "session_id": session})
}

/// `positions`, `likes`, `collects`, `comments`, `shares`, `page_times` of a result list.
fn entries(
    positions: &[i64],
    likes: &[i64],
    collects: &[i64],
    comments: &[i64],
    shares: &[i64],
    page_times: Value,
) -> Value {
    json!({"positions": positions, "likes": likes, "collects": collects, "comments": comments, "shares": shares, "page_times": page_times})
}

fn merge(mut a: Value, b: Value) -> Value {
    for (k, v) in b.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

#[test]
fn qilin_golden_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let v = fixture(tmp.path());
    let d = dump(&v);

    assert_eq!(
        d["interactions.parquet"],
        json!([
            click(0, 0, 3, json!(35.5), 10),
            click(0, 12, 8, Value::Null, 10),
            click(0, 1, 60, Value::Null, 10),
            click(0, 13, 1000, json!(20.0), 11),
            click(0, 18, 2000, json!(40.0), 12),
            click(0, 19, 2005, Value::Null, 12),
            click(0, 3, 3000, json!(10.0), 14),
            click(1, 14, 1102, json!(5.0), 22),
            click(1, 3, 4100, json!(8.0), 25),
            click(2, 7, 200, json!(12.25), 30),
            click(2, 6, 2203, json!(3.5), 32),
            click(3, 5, 3200, json!(1.5), 40),
        ])
    );

    let no_cands = json!({"bm25_results": null, "bm25_scores": null, "search_results": null, "search_scores": null});
    let zeros = |n: usize| vec![0i64; n];
    let req = |id: i64,
               user: i64,
               session: i64,
               ts: Value,
               query: &str,
               results: &[i64],
               clicks: &[i64],
               split: &str,
               qft: Value,
               recent: &[i64]| {
        json!({"request_id": id, "user_id": user, "session_id": session, "ts": ts, "query": query, "results": results, "clicks": clicks, "split": split, "query_from_type": qft, "recent_clicked": recent})
    };
    let expected_requests = json!([
        merge(
            merge(
                merge(
                    req(
                        0,
                        0,
                        10,
                        json!(T + 3000),
                        "春季穿搭",
                        &[0, 12, 5],
                        &[0, 12],
                        "train",
                        json!(1),
                        &[]
                    ),
                    entries(
                        &[0, 1, 2],
                        &[1, 0, 0],
                        &[1, 0, 0],
                        &zeros(3),
                        &zeros(3),
                        json!([35.5, null, null])
                    )
                ),
                no_cands.clone()
            ),
            json!({"dpr_results": [0, 5, 12], "dpr_scores": [0.93, 0.88, 0.51]})
        ),
        merge(
            merge(
                merge(
                    req(
                        1,
                        0,
                        10,
                        json!(T + 60_000),
                        "上海咖啡",
                        &[1, 2],
                        &[1],
                        "train",
                        Value::Null,
                        &[0, 12]
                    ),
                    entries(
                        &[0, 1],
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        json!([null, null])
                    )
                ),
                no_cands.clone()
            ),
            json!({"dpr_results": [1], "dpr_scores": [0.7]})
        ),
        merge(
            merge(
                merge(
                    req(
                        2,
                        1,
                        20,
                        json!(T + 100_000),
                        "露营装备",
                        &[3, 4, 6],
                        &[],
                        "train",
                        json!(3),
                        &[3]
                    ),
                    entries(
                        &[0, 1, 2],
                        &zeros(3),
                        &zeros(3),
                        &zeros(3),
                        &zeros(3),
                        json!([null, null, null])
                    )
                ),
                no_cands.clone()
            ),
            json!({"dpr_results": [], "dpr_scores": null})
        ),
        merge(
            merge(
                merge(
                    req(
                        3,
                        2,
                        30,
                        json!(T + 199_000),
                        "猫粮推荐",
                        &[8, 7],
                        &[7],
                        "train",
                        json!(2),
                        &[]
                    ),
                    entries(
                        &[0, 1],
                        &zeros(2),
                        &zeros(2),
                        &[0, 1],
                        &[0, 1],
                        json!([null, 12.25])
                    )
                ),
                no_cands.clone()
            ),
            json!({"dpr_results": [7, 8], "dpr_scores": [0.6, 0.4]})
        ),
        merge(
            merge(
                merge(
                    req(
                        4,
                        1,
                        21,
                        Value::Null,
                        "周末去哪",
                        &[],
                        &[],
                        "train",
                        json!(8),
                        &[3, 4]
                    ),
                    entries(&[], &[], &[], &[], &[], json!([]))
                ),
                no_cands.clone()
            ),
            json!({"dpr_results": [9], "dpr_scores": [0.3]})
        ),
        merge(
            merge(
                req(
                    5,
                    0,
                    11,
                    json!(T + 1_000_000),
                    "春季穿搭 男",
                    &[13, 0],
                    &[13],
                    "test",
                    json!(1),
                    &[0, 12]
                ),
                entries(
                    &[0, 1],
                    &zeros(2),
                    &zeros(2),
                    &zeros(2),
                    &zeros(2),
                    json!([20.0, null])
                )
            ),
            json!({"bm25_results": [13, 0], "bm25_scores": [12.5, 10.25], "dpr_results": [13], "dpr_scores": [0.9], "search_results": [13, 0], "search_scores": null})
        ),
        merge(
            merge(
                req(
                    6,
                    1,
                    22,
                    json!(T + 1_100_000),
                    "露营帐篷",
                    &[15, 14],
                    &[14],
                    "test",
                    json!(4),
                    &[]
                ),
                entries(
                    &[0, 1],
                    &zeros(2),
                    &zeros(2),
                    &zeros(2),
                    &zeros(2),
                    json!([null, 5.0])
                )
            ),
            json!({"bm25_results": [14], "bm25_scores": [8.0], "dpr_results": [14, 15], "dpr_scores": [0.8, 0.7], "search_results": [14, 15], "search_scores": null})
        ),
        merge(
            merge(
                req(
                    7,
                    2,
                    31,
                    json!(T + 1_200_000),
                    "猫砂",
                    &[16],
                    &[],
                    "test",
                    json!(2),
                    &[7]
                ),
                entries(&[0], &[0], &[0], &[0], &[0], json!([null]))
            ),
            json!({"bm25_results": [], "bm25_scores": null, "dpr_results": [16], "dpr_scores": [0.5], "search_results": [], "search_scores": null})
        ),
    ]);
    assert_eq!(d["requests.parquet"], expected_requests);

    let exp = |id: i64,
               user: i64,
               ts: i64,
               items: &[i64],
               cp: Value,
               split: &str,
               session: i64,
               recent: &[i64],
               clicks: &[i64]| {
        json!({"exposure_id": id, "user_id": user, "ts": T + ts * 1000, "step": null, "context": "rec", "items": items, "clicked_position": cp, "split": split, "session_id": session, "query": "", "recent_clicked": recent, "clicks": clicks})
    };
    assert_eq!(
        d["exposures.parquet"],
        json!([
            merge(
                merge(
                    exp(
                        0,
                        0,
                        2000,
                        &[18, 17, 19],
                        json!(0),
                        "train",
                        12,
                        &[0],
                        &[18, 19]
                    ),
                    entries(
                        &[0, 1, 2],
                        &[1, 0, 0],
                        &zeros(3),
                        &zeros(3),
                        &zeros(3),
                        json!([40.0, null, null])
                    )
                ),
                json!({"rec_results": null, "rec_scores": null})
            ),
            merge(
                merge(
                    exp(1, 1, 2100, &[10, 11], Value::Null, "train", 23, &[], &[]),
                    entries(
                        &[0, 1],
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        json!([null, null])
                    )
                ),
                json!({"rec_results": null, "rec_scores": null})
            ),
            merge(
                merge(
                    exp(2, 2, 2200, &[2, 6], json!(1), "train", 32, &[7, 8], &[6]),
                    entries(
                        &[0, 1],
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        json!([null, 3.5])
                    )
                ),
                json!({"rec_results": null, "rec_scores": null})
            ),
            // request_idx 3 names note 25 and is rejected
            merge(
                merge(
                    exp(4, 0, 3000, &[3, 17], json!(0), "test", 14, &[18], &[3]),
                    entries(
                        &[0, 1],
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        json!([10.0, null])
                    )
                ),
                json!({"rec_results": [17, 3], "rec_scores": [0.9, 0.8]})
            ),
            merge(
                merge(
                    exp(5, 1, 3100, &[4], Value::Null, "test", 24, &[], &[]),
                    entries(&[0], &[0], &[0], &[0], &[0], json!([null]))
                ),
                json!({"rec_results": [4], "rec_scores": [0.7]})
            ),
            merge(
                merge(
                    exp(6, 3, 3200, &[5], json!(0), "test", 40, &[], &[5]),
                    entries(&[0], &[0], &[0], &[0], &[0], json!([1.5]))
                ),
                json!({"rec_results": [], "rec_scores": null})
            ),
        ])
    );

    let dqa_base = |id: i64,
                    user: i64,
                    session: i64,
                    ts: Value,
                    query: &str,
                    qft: Value,
                    recent: &[i64],
                    results: &[i64],
                    clicks: &[i64]| {
        json!({"request_id": id, "user_id": user, "session_id": session, "ts": ts, "query": query, "query_from_type": qft, "recent_clicked": recent, "results": results, "clicks": clicks, "bm25_results": null, "bm25_scores": null, "search_results": null, "search_scores": null})
    };
    assert_eq!(
        d["qilin_dqa.parquet"],
        json!([
            merge(
                merge(
                    dqa_base(
                        8,
                        0,
                        15,
                        json!(T + 4_000_000),
                        "春天穿什么",
                        json!(1),
                        &[],
                        &[0],
                        &[]
                    ),
                    entries(&[0], &[0], &[0], &[0], &[0], json!([null]))
                ),
                json!({"dpr_results": [0], "dpr_scores": [0.5], "dqa_output": null, "ref_notes": null,
                       "is_like_clk": null, "is_onebox_trace_clk": null, "is_content_clk": null, "is_experience_clk": null})
            ),
            merge(
                merge(
                    dqa_base(
                        9,
                        1,
                        25,
                        json!(T + 4_100_000),
                        "露营需要带什么",
                        Value::Null,
                        &[3],
                        &[3, 6],
                        &[3]
                    ),
                    entries(
                        &[0, 1],
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        &zeros(2),
                        json!([8.0, null])
                    )
                ),
                json!({"dpr_results": [], "dpr_scores": null, "dqa_output": "建议带帐篷、睡袋和头灯。", "ref_notes": [3, 6],
                       "is_like_clk": 1, "is_onebox_trace_clk": 0, "is_content_clk": 1, "is_experience_clk": 0})
            ),
            merge(
                merge(
                    dqa_base(10, 2, 33, Value::Null, "猫咪驱虫", json!(2), &[], &[], &[]),
                    entries(&[], &[], &[], &[], &[], json!([]))
                ),
                json!({"dpr_results": [], "dpr_scores": null, "dqa_output": "每三个月驱虫一次。", "ref_notes": [],
                       "is_like_clk": 0, "is_onebox_trace_clk": null, "is_content_clk": null, "is_experience_clk": 0})
            ),
        ])
    );

    let q = |s: &str, qid: i64, note: i64| json!({"split": s, "qid": qid, "item_id": note});
    assert_eq!(
        d["qilin_qrels.parquet"],
        json!([
            q("search_test", 0, 13),
            q("search_test", 0, 0),
            q("search_test", 1, 14),
            q("search_test", 2, 16),
            q("recommendation_test", 0, 3),
            q("recommendation_test", 1, 4),
            q("recommendation_test", 2, 5),
            q("dqa", 1, 3),
            q("dqa", 1, 6),
            q("dqa", 2, 7),
        ])
    );

    // Users: user_feat rows, then the log-only user 3.
    let users = d["users.parquet"].as_array().unwrap();
    let pick = |u: &Value| {
        json!([
            u["raw_id"],
            u["gender"],
            u["platform"],
            u["age"],
            u["fans_num"],
            u["follows_num"],
            u["location"],
            u["in_user_feat"],
            u["dense_feat1"],
            u["dense_feat40"]
        ])
    };
    assert_eq!(
        users.iter().map(pick).collect::<Vec<_>>(),
        vec![
            json!([
                "0", "female", "iOS", "19-22", 12.0, 30.0, "上海", true, 0.25, 10.0
            ]),
            json!([
                "1", "unknown", "Android", "unknown", 0.0, 5.0, null, true, 0.1, 4.0
            ]),
            json!([
                "2", "male", "Harmony", "26-30", null, 2.0, null, true, -0.125, -5.0
            ]),
            json!(["3", null, null, null, null, null, null, false, null, null]),
        ]
    );

    // Items: every note, keyed by note_idx (dense ids follow raw-id order: "0", "1", "10", ...).
    let items = d["items.parquet"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    let mut by_note: Vec<&Value> = items.iter().collect();
    by_note.sort_by_key(|r| r["item_id"].as_i64());
    for (n, r) in by_note.iter().enumerate() {
        let n = n as i64;
        assert_eq!(r["raw_id"], json!(n.to_string()));
        assert_eq!(r["note_type"], json!(if n % 3 == 2 { 2 } else { 1 }));
        assert_eq!(r["imp_num"], json!((n * 10 + 6) as f64));
        assert_eq!(r["full_view_times"], json!((n * 10 + 35) as f64));
        assert_eq!(r["taxonomy1_id"], json!(format!("t1_{}", n % 4)));
    }
    assert_eq!(
        *by_note[0],
        serde_json::from_str::<Value>(
            r#"{
            "item_id": 0, "raw_id": "0", "title": "春日穿搭分享", "note_content": "春日穿搭分享的详细内容，第0篇笔记。",
            "note_type": 1, "video_duration": 0.0, "video_height": 1.0, "video_width": 2.0, "image_num": 3.0,
            "content_length": 4.0, "commercial_flag": 5.0, "taxonomy1_id": "t1_0", "taxonomy2_id": "t2_0",
            "taxonomy3_id": "t3_0", "imp_num": 6.0, "imp_rec_num": 7.0, "imp_search_num": 8.0, "click_num": 9.0,
            "click_rec_num": 10.0, "click_search_num": 11.0, "like_num": 12.0, "collect_num": 13.0,
            "comment_num": 14.0, "share_num": 15.0, "screenshot_num": 16.0, "hide_num": 17.0, "rec_like_num": 18.0,
            "rec_collect_num": 19.0, "rec_comment_num": 20.0, "rec_share_num": 21.0, "rec_follow_num": 22.0,
            "search_like_num": 23.0, "search_collect_num": 24.0, "search_comment_num": 25.0,
            "search_share_num": 26.0, "search_follow_num": 27.0, "accum_like_num": 28.0, "accum_collect_num": 29.0,
            "accum_comment_num": 30.0, "view_time": 31.0, "rec_view_time": 32.0, "search_view_time": 33.0,
            "valid_view_times": 34.0, "full_view_times": 35.0, "image_path": ["notes/0000000/0.jpg"],
            "in_notes": true
        }"#
        )
        .unwrap()
    );
    assert_eq!(by_note[11]["title"], "北京胡同散步");
    assert_eq!(by_note[2]["video_duration"], 17.0, "a video note");

    let rejects = &d["rejects.parquet"];
    assert_eq!(rejects.as_array().unwrap().len(), 2);
    assert_eq!(
        rejects[0]["source_file"],
        "recommendation_train/train-00000-of-00001.parquet"
    );
    assert_eq!(rejects[0]["line"], 4);
    assert_eq!(rejects[0]["reason"], "unknown_note");
    let raw: Value =
        serde_json::from_str(&rejects[0]["raw"].as_str().unwrap().replace("NaN", "null"))
            .expect("the rejected parquet row is kept as JSON");
    assert_eq!(raw["request_idx"], 3);
    assert_eq!(raw["rec_result_details_with_idx"][1]["note_idx"], 25);
    assert_eq!(
        rejects[1],
        json!({"source_file": "search.test.qrels.csv", "line": 6, "reason": "unknown_note", "detail": "pid 999 is not a note_idx in notes", "raw": "2,999"})
    );
}

#[test]
fn qilin_nan_and_minus_one_page_time_are_null() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dump(&fixture(tmp.path()));
    // Raw: request 0 clicks note 0 (35.5) and note 12 (NaN); request 1 clicks note 1 (-1.0).
    let r = &d["requests.parquet"];
    assert_eq!(r[0]["page_times"], json!([35.5, null, null]));
    assert_eq!(r[1]["page_times"], json!([null, null]));
    let inter = d["interactions.parquet"].as_array().unwrap();
    let value = |note: i64| {
        inter
            .iter()
            .find(|x| x["item_id"] == note && x["user_id"] == 0)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value(0), json!(35.5));
    assert_eq!(value(12), Value::Null, "NaN page_time");
    assert_eq!(value(1), Value::Null, "-1.0 page_time");

    // interaction_value = "none": no values at all, same rows.
    let v = build(tmp.path(), "nv", "raw", "interaction_value = \"none\"");
    let d2 = dump(&v);
    let inter2 = d2["interactions.parquet"].as_array().unwrap();
    assert_eq!(inter2.len(), inter.len());
    assert!(inter2.iter().all(|x| x["value"].is_null()));
}

#[test]
fn qilin_null_query_from_type() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dump(&fixture(tmp.path()));
    let qft: Vec<Value> = d["requests.parquet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["query_from_type"].clone())
        .collect();
    assert_eq!(
        qft,
        vec![
            json!(1),
            Value::Null,
            json!(3),
            json!(2),
            json!(8),
            json!(1),
            json!(4),
            json!(2)
        ]
    );
    assert!(d["qilin_dqa.parquet"][1]["query_from_type"].is_null());
}

#[test]
fn qilin_empty_and_multi_image_path() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dump(&fixture(tmp.path()));
    let items = d["items.parquet"].as_array().unwrap();
    let note = |n: &str| items.iter().find(|r| r["raw_id"] == n).unwrap();
    assert_eq!(note("3")["image_path"], json!([]), "empty list stays empty");
    assert_eq!(note("5")["image_path"], json!(["a/b.jpg", "a/c.jpg"]));
    assert_eq!(note("7")["video_duration"], Value::Null, "NaN counter");
    assert_eq!(note("4")["taxonomy2_id"], Value::Null, "`nan` taxonomy");
    assert_eq!(note("9")["taxonomy3_id"], Value::Null, "empty taxonomy");
    assert_eq!(
        note("12")["title"],
        "男生春季穿搭",
        "second shard, Chinese title"
    );
}

#[test]
fn qilin_candidate_lists_ints_or_pairs() {
    let tmp = tempfile::tempdir().unwrap();
    // Arrow form: search_results list<int64>, dpr/bm25/rec results list<list<double>> pairs.
    let d = dump(&fixture(tmp.path()));
    let r = &d["requests.parquet"][5];
    assert_eq!(r["search_results"], json!([13, 0]));
    assert_eq!(r["search_scores"], Value::Null, "bare ids carry no score");
    assert_eq!(r["bm25_scores"], json!([12.5, 10.25]));
    assert_eq!(d["exposures.parquet"][3]["rec_scores"], json!([0.9, 0.8]));
    // Text form: ints in one row, pairs in the next, in the same column.
    synth(&tmp.path().join("raw_json"), 3, 1, true);
    let dj = dump(&build(tmp.path(), "qj", "raw_json", ""));
    let rj = &dj["requests.parquet"];
    assert_eq!(rj[5]["search_results"], json!([13, 0]));
    assert_eq!(rj[5]["search_scores"], Value::Null);
    assert_eq!(rj[6]["search_results"], json!([14, 15]));
    assert_eq!(rj[6]["search_scores"], json!([2.5, 1.5]));
}

/// Removes `search_scores` from the requests, the one column where the text fixture differs
/// on purpose (pairs in one row).
fn without_search_scores(mut d: Value) -> Value {
    for r in d["requests.parquet"].as_array_mut().unwrap() {
        r.as_object_mut().unwrap().remove("search_scores");
    }
    d
}

#[test]
fn qilin_json_string_nested_columns_give_the_same_tables() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw_json"), 3, 1, true);
    // The fixture really stores text (and int64 counters, float query_from_type).
    let b = read_batch(
        &tmp.path()
            .join("raw_json/search_train/train-00000-of-00001.parquet"),
    )
    .unwrap();
    let schema = b.schema();
    let ty = |c: &str| schema.field_with_name(c).unwrap().data_type().clone();
    assert_eq!(
        ty("search_result_details_with_idx"),
        arrow_schema::DataType::Utf8
    );
    assert_eq!(ty("recent_clicked_note_idxs"), arrow_schema::DataType::Utf8);
    assert_eq!(ty("query_from_type"), arrow_schema::DataType::Float64);
    let details = b
        .column_by_name("search_result_details_with_idx")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow_array::StringArray>()
        .unwrap();
    assert!(
        details.value(0).contains("'page_time': None"),
        "Python literal row: {}",
        details.value(0)
    );
    assert!(
        details.value(1).contains("\"page_time\": NaN"),
        "json.dumps row: {}",
        details.value(1)
    );

    let arrow = without_search_scores(dump(&fixture(tmp.path())));
    let text = without_search_scores(dump(&build(tmp.path(), "qj", "raw_json", "")));
    for (k, v) in arrow.as_object().unwrap() {
        if k == "rejects.parquet" {
            continue; // raw JSON of the rejected row differs in form, not in content
        }
        assert_eq!(&text[k], v, "{k}");
    }
    assert_eq!(text["rejects.parquet"].as_array().unwrap().len(), 2);

    // The same holds with seeded random rows after the core.
    synth(&tmp.path().join("big"), 25, 9, false);
    synth(&tmp.path().join("big_json"), 25, 9, true);
    let a = without_search_scores(dump(&build(tmp.path(), "big", "big", "")));
    let t = without_search_scores(dump(&build(tmp.path(), "bigj", "big_json", "")));
    for k in [
        "interactions.parquet",
        "requests.parquet",
        "exposures.parquet",
        "items.parquet",
        "users.parquet",
        "qilin_qrels.parquet",
    ] {
        assert_eq!(a[k], t[k], "{k}");
    }
}

/// Rewrites notes shard 1 with `f` applied to its rows.
fn rewrite_notes_shard1(
    raw: &Path,
    f: impl Fn(&arrow_array::RecordBatch) -> arrow_array::RecordBatch,
) {
    let p = raw.join("notes/train-00001-of-00002.parquet");
    let b = read_batch(&p).unwrap();
    write_batch(&p, f(&b), Level::Cache, vec![]).unwrap();
}

#[test]
fn qilin_note_idx_must_be_positional() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 3, 1, false);
    // Drop note 10 (the first row of shard 1): note 11 now sits at global row 10.
    rewrite_notes_shard1(&raw, |b| b.slice(1, b.num_rows() - 1));
    let err = build_err(tmp.path(), "pos", "raw", "");
    assert!(
        err.contains("notes/train-00001-of-00002.parquet")
            && err.contains("row 1")
            && err.contains("`note_idx` is 11")
            && err.contains("global row 10")
            && err.contains("ids = \"by_value\""),
        "{err}"
    );
    // Keyed by value it builds; recommendation request 1 shows note 10 and is rejected (with
    // it the only reference to note 11, so 18 notes are published).
    let v = build(tmp.path(), "byval", "raw", "ids = \"by_value\"");
    let doc = dataset_json(&v);
    assert_eq!(doc["accounting"]["rejected"]["unknown_note"], 3);
    assert_eq!(
        doc["accounting"]["raw"]["notes/train-00001-of-00002.parquet"]["rows"],
        9
    );
    assert_eq!(doc["accounting"]["filter"]["items"], 18);

    // A duplicated note_idx: an error by position, a `duplicate_id` reject by value.
    let raw2 = tmp.path().join("raw2");
    synth(&raw2, 3, 1, false);
    rewrite_notes_shard1(&raw2, |b| {
        arrow_select::concat::concat_batches(&b.schema(), [b, &b.slice(0, 1)]).unwrap()
    });
    let err = build_err(tmp.path(), "dup", "raw2", "");
    assert!(
        err.contains("`note_idx` is 10") && err.contains("global row 20"),
        "{err}"
    );
    let v = build(tmp.path(), "dupv", "raw2", "ids = \"by_value\"");
    let d = dump(&v);
    let rej: Vec<&Value> = d["rejects.parquet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == "duplicate_id")
        .collect();
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0]["source_file"], "notes/train-00001-of-00002.parquet");
    assert_eq!(rej[0]["line"], 11);
    assert!(rej[0]["raw"].as_str().unwrap().contains("健身餐一周食谱"));
    let acc = &dataset_json(&v)["accounting"]["raw"]["notes/train-00001-of-00002.parquet"];
    assert_eq!(
        (
            acc["lines"].as_u64(),
            acc["rows"].as_u64(),
            acc["rejected"].as_u64()
        ),
        (Some(11), Some(10), Some(1))
    );
}

#[test]
fn qilin_dqa_minus_one_and_not_shown_are_null() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dump(&fixture(tmp.path()));
    let dqa = &d["qilin_dqa.parquet"];
    assert_eq!(dqa[0]["dqa_output"], Value::Null, "'-1' is no answer");
    assert_eq!(dqa[0]["ref_notes"], Value::Null, "null ref_note_idx_list");
    assert_eq!(dqa[0]["is_like_clk"], Value::Null, "-1: not shown");
    assert_eq!(dqa[1]["dqa_output"], "建议带帐篷、睡袋和头灯。");
    assert_eq!(dqa[1]["ref_notes"], json!([3, 6]));
    assert_eq!(dqa[2]["is_onebox_trace_clk"], Value::Null, "stored null");
    assert_eq!(dqa[2]["is_like_clk"], 0, "shown, not clicked");
    // The DQA click is an interaction unless dqa_clicks = false.
    let has_dqa_click = |d: &Value| {
        d["interactions.parquet"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["session_id"] == 25)
    };
    assert!(has_dqa_click(&d));
    let d2 = dump(&build(tmp.path(), "nodqa", "raw", "dqa_clicks = false"));
    assert!(!has_dqa_click(&d2));
    assert_eq!(d2["qilin_dqa.parquet"], d["qilin_dqa.parquet"]);
}

#[test]
fn qilin_qrels_are_optional_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 3, 1, false);
    // Without the GitHub qrels there is no qilin_qrels table.
    for (f, _) in recdata::sources::qilin::QRELS {
        std::fs::rename(raw.join(f), tmp.path().join(f)).unwrap();
    }
    let v = build(tmp.path(), "noq", "raw", "");
    assert!(!v.join("qilin_qrels.parquet").exists());
    assert!(
        dataset_json(&v)["accounting"]["normalized_tables"]
            .get("qilin_qrels")
            .is_none()
    );
    // Only one file, with CRLF line ends, a blank line and a malformed line.
    std::fs::write(raw.join("dqa.qrels.csv"), "qid,pid\r\n1,3\r\n\r\n2,x\r\n").unwrap();
    let v = build(tmp.path(), "oneq", "raw", "");
    let d = dump(&v);
    assert_eq!(
        d["qilin_qrels.parquet"],
        json!([{"split": "dqa", "qid": 1, "item_id": 3}])
    );
    let acc = &dataset_json(&v)["accounting"]["raw"]["dqa.qrels.csv"];
    assert_eq!(
        (
            acc["lines"].as_u64(),
            acc["header"].as_u64(),
            acc["skipped"].as_u64(),
            acc["rows"].as_u64(),
            acc["rejected"].as_u64()
        ),
        (Some(4), Some(1), Some(1), Some(1), Some(1))
    );
    // A wrong header is an error naming the file.
    std::fs::write(raw.join("dqa.qrels.csv"), "query,doc\n1,3\n").unwrap();
    let err = build_err(tmp.path(), "badq", "raw", "");
    assert!(
        err.contains("dqa.qrels.csv") && err.contains("qid,pid"),
        "{err}"
    );
}

#[test]
fn qilin_log_only_user_has_null_features() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dump(&fixture(tmp.path()));
    let u = d["users.parquet"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (
            u["raw_id"].clone(),
            u["in_user_feat"].clone(),
            u["gender"].clone()
        ),
        (json!("3"), json!(false), Value::Null)
    );
    assert_eq!(d["exposures.parquet"][5]["user_id"], 3);
}

#[test]
fn qilin_missing_config_or_shard_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 3, 1, false);
    std::fs::remove_file(raw.join("notes/train-00000-of-00002.parquet")).unwrap();
    let err = build_err(tmp.path(), "gap", "raw", "");
    assert!(
        err.contains("train-00000-of-00002.parquet") && err.contains("missing"),
        "{err}"
    );
    synth(&raw, 3, 1, false);
    std::fs::remove_dir_all(raw.join("dqa")).unwrap();
    let err = build_err(tmp.path(), "nodir", "raw", "");
    assert!(
        err.contains("dqa") && err.contains("recdata synth qilin"),
        "{err}"
    );
}

#[test]
fn qilin_accounting_reconciles() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 40, 3, false);
    let v = build(tmp.path(), "big", "raw", "");
    let doc = dataset_json(&v);
    let acc = &doc["accounting"];
    let raw = acc["raw"].as_object().unwrap();
    assert_eq!(
        raw.len(),
        2 + 6 + 3,
        "every shard and qrels file has an account"
    );
    let mut rejected = 0;
    let rows = |prefix: &str| -> u64 {
        raw.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, a)| a["rows"].as_u64().unwrap())
            .sum()
    };
    for (f, a) in raw {
        let n = |k: &str| a[k].as_u64().unwrap();
        assert_eq!(
            n("lines"),
            n("header") + n("skipped") + n("rows") + n("rejected"),
            "{f}"
        );
        rejected += n("rejected");
    }
    // The parquet files' own row counts are the accounts' lines.
    for (f, a) in raw.iter().filter(|(k, _)| k.ends_with(".parquet")) {
        let b = read_batch(&tmp.path().join("raw").join(f)).unwrap();
        assert_eq!(a["lines"].as_u64(), Some(b.num_rows() as u64), "{f}");
    }
    let rej: u64 = acc["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(rej, rejected);
    let t = &acc["normalized_tables"];
    assert_eq!(t["requests"].as_u64(), Some(rows("search_")));
    assert_eq!(t["exposures"].as_u64(), Some(rows("recommendation_")));
    assert_eq!(t["qilin_dqa"].as_u64(), Some(rows("dqa/")));
    assert_eq!(
        t["qilin_qrels"].as_u64(),
        Some(rows("search.test") + rows("recommendation.test") + rows("dqa.qrels"))
    );
    let files: std::collections::BTreeMap<String, u64> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(files["rejects.parquet"], rejected);
    assert!(files["users.parquet"] >= rows("user_feat/"));
    assert_eq!(files["requests.parquet"], rows("search_"));
    // One interaction per clicked entry of the accepted search, DQA and recommendation rows.
    let d = dump(&v);
    let clicks: usize = ["requests.parquet", "exposures.parquet", "qilin_dqa.parquet"]
        .iter()
        .map(|t| {
            d[*t]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["clicks"].as_array().unwrap().len())
                .sum::<usize>()
        })
        .sum();
    assert_eq!(acc["normalized_interactions"].as_u64(), Some(clicks as u64));
    assert_eq!(files["interactions.parquet"], clicks as u64);
    // Items: the notes that some published row refers to (the filter keeps no others).
    let mut referenced = std::collections::BTreeSet::new();
    for (t, cols) in [
        ("interactions.parquet", &["item_id"][..]),
        ("qilin_qrels.parquet", &["item_id"][..]),
        (
            "requests.parquet",
            &[
                "results",
                "recent_clicked",
                "bm25_results",
                "dpr_results",
                "search_results",
            ][..],
        ),
        (
            "exposures.parquet",
            &["items", "recent_clicked", "rec_results"][..],
        ),
        (
            "qilin_dqa.parquet",
            &["results", "recent_clicked", "dpr_results", "ref_notes"][..],
        ),
    ] {
        for r in d[t].as_array().unwrap() {
            for c in cols {
                match &r[*c] {
                    Value::Array(v) => referenced.extend(v.iter().map(|x| x.as_i64().unwrap())),
                    Value::Number(n) => {
                        referenced.insert(n.as_i64().unwrap());
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(files["items.parquet"], referenced.len() as u64);
    assert!(referenced.len() as u64 <= rows("notes/"));
}

#[test]
fn qilin_pyarrow_schema_and_synth_determinism() {
    let tmp = tempfile::tempdir().unwrap();
    let v = fixture(tmp.path());
    // 10 tables + 3 splits.
    assert_eq!(crate::pyarrow::check_with_pyarrow(&v), 13);
    synth(&tmp.path().join("again"), 3, 1, false);
    assert_eq!(
        tree(&tmp.path().join("raw")),
        tree(&tmp.path().join("again"))
    );
    synth(&tmp.path().join("s1"), 30, 5, false);
    synth(&tmp.path().join("s2"), 30, 5, false);
    synth(&tmp.path().join("s3"), 30, 6, false);
    assert_eq!(tree(&tmp.path().join("s1")), tree(&tmp.path().join("s2")));
    assert_ne!(tree(&tmp.path().join("s1")), tree(&tmp.path().join("s3")));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("raw/dataset_dict.json"))
            .unwrap()
            .len(),
        119,
        "the Hub's dataset_dict.json is 119 bytes"
    );
    // The CLI writes the same fixture.
    let out = recdata(&["synth", "qilin", "--out", "cli"], tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree(&tmp.path().join("raw")), tree(&tmp.path().join("cli")));
}

/// Records per CSV file as Python's csv module counts them (header included): an outside
/// count of what the adapter must account for.
fn csv_records(dir: &Path) -> Value {
    let script = r#"
import csv, json, sys, os
csv.field_size_limit(1 << 30)
d = sys.argv[1]
print(json.dumps({f: sum(1 for _ in csv.reader(open(os.path.join(d, f), encoding="utf-8", newline="")))
                  for f in sorted(os.listdir(d)) if f.endswith(".csv")}))
"#;
    let out = Command::new(python())
        .args(["-c", script, dir.to_str().unwrap()])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every record of every CSV is a header, a row or a reject, by the csv module's count.
fn assert_csv_accounted(raw: &Path, doc: &Value) {
    let counts = csv_records(raw);
    let acc = &doc["accounting"]["raw"];
    for (f, n) in counts.as_object().unwrap() {
        let a = &acc[f];
        assert_eq!(a["lines"], *n, "{f}: {a}");
        assert_eq!(a["header"], 1, "{f}: {a}");
        let sum = a["header"].as_u64().unwrap()
            + a["rows"].as_u64().unwrap()
            + a["rejected"].as_u64().unwrap()
            + a["skipped"].as_u64().unwrap();
        assert_eq!(sum, n.as_u64().unwrap(), "{f}: {a}");
    }
}

/// The official toy sample's layout: one pandas CSV per split, nested columns as numpy reprs
/// (space-separated, wrapped, `array([...])`, `nan`). The fixture is written by pandas from
/// numpy arrays (tests/clients/qilin_toy_csv.py), not by recdata.
#[test]
fn qilin_toy_csv_layout_builds_with_every_row_accounted_for() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("toy");
    let o = Command::new(python())
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/qilin_toy_csv.py"))
        .arg(&raw)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Its tables were cut independently: without `unknown_notes = "keep"` the logs name notes
    // that are not there, and the error says what to do.
    let e = build_err(t.path(), "q0", "toy", "");
    assert!(
        e.contains("unknown_note") && e.contains("unknown_notes = \"keep\""),
        "{e}"
    );
    let v = build(t.path(), "q", "toy", "unknown_notes = \"keep\"");
    let doc = dataset_json(&v);
    assert_csv_accounted(&raw, &doc);
    let acc = &doc["accounting"]["raw"];
    // The one damaged row (a result entry without a timestamp) is the only reject.
    assert_eq!(acc["search_train.csv"]["rejected"], 1, "{acc}");
    assert_eq!(doc["accounting"]["rejected"], json!({"bad_timestamp": 1}));
    let d = dump(&v);
    let items = d["items.parquet"].as_array().unwrap();
    let known: Vec<&Value> = items.iter().filter(|r| r["in_notes"] == true).collect();
    assert_eq!(known.len(), 6);
    // A kept note has no features; a known one has its numpy-repr image list.
    assert!(
        items
            .iter()
            .any(|r| r["in_notes"] == false && r["title"].is_null())
    );
    let n4 = known.iter().find(|r| r["raw_id"] == "4").unwrap();
    assert_eq!(n4["image_path"].as_array().unwrap().len(), 4, "{n4}");
    assert_eq!(n4["title"], "笔记 4, 标题");
    assert_eq!(d["requests.parquet"].as_array().unwrap().len(), 4 + 4);
    assert_eq!(d["exposures.parquet"].as_array().unwrap().len(), 5 + 3);
    assert_eq!(d["qilin_dqa.parquet"].as_array().unwrap().len(), 4);
    // recent_clicked came from a wrapped numpy int array: 20 ids each in search_train.
    let r0 = &d["requests.parquet"][0];
    assert_eq!(r0["recent_clicked"].as_array().unwrap().len(), 20, "{r0}");
}

/// The real toy sample (the seven CSVs of Qilin's repository), where this machine has it:
/// /work/shared/samples/qilin-toy or $RECDATA_SAMPLES/qilin-toy, pinned by its SHA256SUMS.
#[test]
fn qilin_official_toy_sample_builds_with_every_row_accounted_for() {
    let root = std::env::var("RECDATA_SAMPLES").unwrap_or_else(|_| "/work/shared/samples".into());
    let sample = Path::new(&root).join("qilin-toy");
    if !sample.join("SHA256SUMS").is_file() {
        eprintln!(
            "SKIPPED: the official Qilin toy sample is not on this machine ({}); \
             the pandas-written fixture test covers its format",
            sample.display()
        );
        return;
    }
    for line in std::fs::read_to_string(sample.join("SHA256SUMS"))
        .unwrap()
        .lines()
    {
        let (sha, f) = line.split_once("  ").unwrap();
        let (got, _) = recdata::util::hash::sha256_file(&sample.join(f)).unwrap();
        assert_eq!(got, sha, "{f} is not the pinned sample");
    }
    let t = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&sample, t.path().join("toy")).unwrap();
    // The whole catalogue, as the toy manifest keeps it (most notes have no click).
    let v = build(
        t.path(),
        "qt",
        "toy",
        "unknown_notes = \"keep\"\n\n[stages.filter]\nkeep_all_items = true",
    );
    let doc = dataset_json(&v);
    assert_csv_accounted(&sample, &doc);
    let acc = &doc["accounting"]["raw"];
    for f in [
        "notes.csv",
        "user_feat.csv",
        "search_train.csv",
        "search_test.csv",
        "recommendation_train.csv",
        "recommendation_test.csv",
        "dqa.csv",
    ] {
        assert_eq!(acc[f]["lines"], 11, "{f}: {}", acc[f]);
        assert_eq!(
            acc[f]["rejected"], 0,
            "{f}: {} {}",
            acc[f], doc["accounting"]["rejected"]
        );
    }
    let d = dump(&v);
    assert_eq!(d["requests.parquet"].as_array().unwrap().len(), 20);
    assert_eq!(d["exposures.parquet"].as_array().unwrap().len(), 20);
    assert_eq!(d["qilin_dqa.parquet"].as_array().unwrap().len(), 10);
    let n0 = d["items.parquet"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["raw_id"] == "0")
        .unwrap()
        .clone();
    assert_eq!(n0["title"], "这题我会！每年都要灌几十斤的肉！");
    assert!(n0["image_path"].as_array().unwrap().len() > 4, "{n0}");
}
