//! Deezer sessions (PISA release): golden tables from the synthetic fixture checked against an
//! independent pyarrow reading, one test per quirk, row accounting and the canonical schemas.

use std::path::Path;

use serde_json::{Value, json};

use crate::agrosense::{build, dataset_json, manifest, py_json, table};
use crate::util::{recdata, tree};

fn synth(out: &Path, users: u32, seed: u64) {
    recdata::synth::deezer_sessions::write(
        out,
        &recdata::synth::deezer_sessions::Options {
            users,
            seed,
            sessions_per_user: 3,
            dim: 8,
        },
    )
    .unwrap();
}

const CORPUS: &str = "deezer-sessions";

/// The published interactions, items and embeddings as pyarrow reads them, next to what an
/// independent reading of the raw files says they must be (no filtering, `id_base = 0`).
const EXPECT: &str = r#"
root, raw, emb = sys.argv[1], sys.argv[2], sys.argv[3]
src = pq.read_table(f"{raw}/sessions.parquet").to_pylist()
# Numeric raw ids order by value (docs/manifest.md: dense ids).
users = sorted({str(r["user_id"]) for r in src}, key=int)
items = sorted({str(r["product_track_id"]) for r in src}, key=int)
uid = {u: i for i, u in enumerate(users)}
iid = {t: i for i, t in enumerate(items)}
order = sorted(range(len(src)), key=lambda k: (src[k]["user_id"], src[k]["ts"], k))
want_inter = [{"user_id": uid[str(src[k]["user_id"])], "item_id": iid[str(src[k]["product_track_id"])],
               "ts": src[k]["ts"] * 1000, "event": "play", "value": None,
               "session_id": src[k]["session_id"]} for k in order]
e = pq.read_table(f"{raw}/{emb}").to_pylist()
dims = sorted({len(r["vector"]) if isinstance(r["vector"], list) else None for r in e} - {None})
want_emb = [{"product_track_id": r["product_track_id"], "artist_id": r["artist_id"],
             "embedding": r["vector"]} for r in pq.read_table(f"{raw}/svd_embeddings.parquet").to_pylist()
            if len(r["vector"]) == 8]
artist = {str(r["product_track_id"]): r["artist_id"] for r in want_emb}
want_items = [{"item_id": i, "raw_id": t, "title": None, "artist_id": artist.get(t)} for i, t in enumerate(items)]
print(json.dumps({
    "inter": rows(f"{root}/interactions.parquet"), "want_inter": want_inter,
    "items": rows(f"{root}/items.parquet"), "want_items": want_items,
    "users": rows(f"{root}/users.parquet"), "want_users": [{"user_id": i, "raw_id": u} for i, u in enumerate(users)],
    "emb": rows(f"{root}/svd_embeddings.parquet"), "want_emb": want_emb,
    "emb_type": str(pq.read_schema(f"{root}/svd_embeddings.parquet").field("embedding").type),
}))
"#;

fn check_golden(v: &Path, raw: &Path, emb: &str) -> Value {
    let got = py_json(EXPECT, &[v.to_str().unwrap(), raw.to_str().unwrap(), emb]);
    for (a, b) in [
        ("inter", "want_inter"),
        ("items", "want_items"),
        ("users", "want_users"),
        ("emb", "want_emb"),
    ] {
        assert_eq!(got[a], got[b], "{a}");
        assert!(!got[a].as_array().unwrap().is_empty(), "{a}");
    }
    assert_eq!(got["emb_type"], "fixed_size_list<item: float>[8]");
    got
}

#[test]
fn golden_synth_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 8, 7);
    let v = build(tmp.path(), &manifest(tmp.path(), "g", CORPUS, "raw", ""));
    let got = check_golden(&v, &raw, "svd_embeddings.parquet");
    // One played track has no embedding row: its artist is null.
    assert!(
        got["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["artist_id"].is_null())
    );
    let doc = dataset_json(&v);
    assert_eq!(
        doc["accounting"]["raw"]["sessions.parquet"]["rows"],
        doc["accounting"]["normalized_interactions"]
    );
    assert_eq!(doc["accounting"]["rejected"], json!({"dim_mismatch": 1}));
}

#[test]
fn string_encoded_vectors_read_like_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 6, 3);
    let forms = py_json(
        "print(json.dumps([r['vector'] for r in pq.read_table(sys.argv[1]).to_pylist()[:3]]))",
        &[raw.join("svd_embeddings_str.parquet").to_str().unwrap()],
    );
    // "[a, b]", "[a b]" and "a b" all occur.
    let f: Vec<&str> = forms
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(f[0].starts_with('[') && f[0].contains(", "), "{f:?}");
    assert!(f[1].starts_with('[') && !f[1].contains(','), "{f:?}");
    assert!(!f[2].starts_with('['), "{f:?}");
    let list = build(tmp.path(), &manifest(tmp.path(), "l", CORPUS, "raw", ""));
    let text = build(
        tmp.path(),
        &manifest(
            tmp.path(),
            "s",
            CORPUS,
            "raw",
            "embeddings_file = \"svd_embeddings_str.parquet\"",
        ),
    );
    check_golden(&text, &raw, "svd_embeddings_str.parquet");
    for t in ["svd_embeddings.parquet", "items.parquet"] {
        assert_eq!(
            table(&list, t),
            table(&text, t),
            "{t}: the same values, bit for bit"
        );
    }
}

#[test]
fn wrong_dimension_vectors_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 6, 4);
    let v = build(tmp.path(), &manifest(tmp.path(), "d", CORPUS, "raw", ""));
    let rej = py_json(
        "print(json.dumps(rows(sys.argv[1] + '/rejects.parquet')))",
        &[v.to_str().unwrap()],
    );
    assert_eq!(rej.as_array().unwrap().len(), 1);
    assert_eq!(rej[0]["source_file"], "svd_embeddings.parquet");
    assert_eq!(rej[0]["line"], 2, "the second row of the file");
    assert_eq!(rej[0]["reason"], "dim_mismatch");
    assert_eq!(rej[0]["detail"], "expected 8 values, found 7");
    let doc = dataset_json(&v);
    let e = &doc["accounting"]["raw"]["svd_embeddings.parquet"];
    assert_eq!(
        e["lines"].as_u64().unwrap(),
        e["rows"].as_u64().unwrap() + 1
    );
    assert_eq!(e["rejected"], 1);

    // An explicit dimension: now the 8-value rows are the wrong ones.
    let v = build(
        tmp.path(),
        &manifest(tmp.path(), "d7", CORPUS, "raw", "embedding_dim = 7"),
    );
    let doc = dataset_json(&v);
    assert_eq!(doc["accounting"]["normalized_tables"]["svd_embeddings"], 1);
    assert_eq!(
        doc["accounting"]["rejected"]["dim_mismatch"],
        e["rows"].as_u64().unwrap()
    );
}

#[test]
fn unsorted_rows_and_timestamp_ties_follow_row_order() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 8, 5);
    let v = build(tmp.path(), &manifest(tmp.path(), "u", CORPUS, "raw", ""));
    let r = py_json(
        r#"
src = pq.read_table(sys.argv[2] + "/sessions.parquet").to_pylist()
keys = [(r["user_id"], r["ts"]) for r in src]
inter = rows(sys.argv[1] + "/interactions.parquet")
items = {r["item_id"]: int(r["raw_id"]) for r in rows(sys.argv[1] + "/items.parquet")}
users = {r["user_id"]: int(r["raw_id"]) for r in rows(sys.argv[1] + "/users.parquet")}
# every (user, ts) with two different tracks: the tracks' order in the output vs in the file
ties = []
for k in set(keys):
    raw_tracks = [r["product_track_id"] for r in src if (r["user_id"], r["ts"]) == k]
    if len(set(raw_tracks)) > 1:
        out = [items[i["item_id"]] for i in inter if (users[i["user_id"]], i["ts"] // 1000) == k]
        ties.append([raw_tracks, out])
print(json.dumps({"sorted_input": keys == sorted(keys), "ties": ties}))
"#,
        &[v.to_str().unwrap(), raw.to_str().unwrap()],
    );
    assert_eq!(r["sorted_input"], false, "the fixture's rows are unsorted");
    let ties = r["ties"].as_array().unwrap();
    assert!(!ties.is_empty(), "the fixture has a timestamp tie");
    for t in ties {
        assert_eq!(t[0], t[1], "ties keep the file's row order");
    }
}

#[test]
fn duplicate_events_are_kept_until_dedup() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 6, 6);
    let keep = build(tmp.path(), &manifest(tmp.path(), "k", CORPUS, "raw", ""));
    let dedup = build(
        tmp.path(),
        &manifest(
            tmp.path(),
            "e",
            CORPUS,
            "raw",
            "\n[stages.filter]\ndedup = \"exact\"",
        ),
    );
    let (a, b) = (dataset_json(&keep), dataset_json(&dedup));
    let n = a["accounting"]["filter"]["output_rows"].as_u64().unwrap();
    assert_eq!(b["accounting"]["filter"]["removed_dedup"], 3);
    assert_eq!(b["accounting"]["filter"]["output_rows"], n - 3);
}

#[test]
fn a_folder_of_parquet_files_with_int32_ids_reads_like_one_file() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 8, 8);
    // pandas/Spark-style: part files (the first with int32 ids and ts), a _SUCCESS marker.
    py_json(
        r#"
import os, pyarrow as pa
raw = sys.argv[1]
t = pq.read_table(f"{raw}/sessions.parquet")
os.makedirs(f"{raw}/split/sessions")
h = t.num_rows // 2
a = t.slice(0, h)
a = a.cast(pa.schema([pa.field(n, pa.int32()) for n in t.column_names]))
pq.write_table(a, f"{raw}/split/sessions/part-0.parquet")
pq.write_table(t.slice(h), f"{raw}/split/sessions/part-1.parquet")
open(f"{raw}/split/sessions/_SUCCESS", "w").close()
os.link(f"{raw}/svd_embeddings.parquet", f"{raw}/split/svd_embeddings.parquet")
print(json.dumps(str(a.schema.field("user_id").type)))
"#,
        &[raw.to_str().unwrap()],
    );
    let one = build(tmp.path(), &manifest(tmp.path(), "one", CORPUS, "raw", ""));
    let dir = build(
        tmp.path(),
        &manifest(tmp.path(), "dir", CORPUS, "raw/split", ""),
    );
    for t in [
        "interactions.parquet",
        "items.parquet",
        "users.parquet",
        "svd_embeddings.parquet",
    ] {
        assert_eq!(table(&one, t), table(&dir, t), "{t}");
    }
    let acc = &dataset_json(&dir)["accounting"]["raw"];
    let files: Vec<&String> = acc.as_object().unwrap().keys().collect();
    assert_eq!(
        files,
        [
            "sessions/part-0.parquet",
            "sessions/part-1.parquet",
            "svd_embeddings.parquet"
        ]
    );
}

#[test]
fn null_values_are_rejected_and_bad_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    py_json(
        r#"
import pyarrow as pa
raw = sys.argv[1]
pq.write_table(pa.table({
    "user_id": pa.array([1, 1, None, 2], pa.int64()),
    "session_id": pa.array([10, 10, 11, 12], pa.int64()),
    "ts": pa.array([1650000000, 1650000060, 1650000000, None], pa.int64()),
    "product_track_id": pa.array([5, 6, 5, 5], pa.int32()),
    "extra": ["a", "b", "c", "d"],
}), f"{raw}/sessions.parquet")
pq.write_table(pa.table({
    "product_track_id": pa.array([5, 6, 7], pa.int64()),
    "vector": pa.array(["[0.5, 1]", None, "[1, nope]"]),
}), f"{raw}/svd_embeddings.parquet")
pq.write_table(pa.table({"user": [1], "ts": [1]}), f"{raw}/bad.parquet")
print(1)
"#,
        &[raw.to_str().unwrap()],
    );
    let v = build(
        tmp.path(),
        &manifest(tmp.path(), "n", CORPUS, "raw", "embeddings = \"require\""),
    );
    let rej = py_json(
        "print(json.dumps([(r['source_file'], r['line'], r['reason'], r['raw']) for r in rows(sys.argv[1] + '/rejects.parquet')]))",
        &[v.to_str().unwrap()],
    );
    assert_eq!(
        rej,
        json!([
            [
                "sessions.parquet",
                3,
                "bad_value",
                "user_id=null,session_id=11,ts_ms=1650000000000,product_track_id=5"
            ],
            [
                "sessions.parquet",
                4,
                "bad_value",
                "user_id=2,session_id=12,ts_ms=null,product_track_id=5"
            ],
            [
                "svd_embeddings.parquet",
                2,
                "bad_vector",
                "product_track_id=6,artist_id=null"
            ],
            [
                "svd_embeddings.parquet",
                3,
                "bad_vector",
                "product_track_id=7,artist_id=null"
            ]
        ])
    );
    let got = py_json(
        "print(json.dumps([rows(sys.argv[1] + '/items.parquet'), rows(sys.argv[1] + '/svd_embeddings.parquet')]))",
        &[v.to_str().unwrap()],
    );
    assert_eq!(
        got,
        json!([
            [{"item_id": 0, "raw_id": "5", "title": null, "artist_id": null},
             {"item_id": 1, "raw_id": "6", "title": null, "artist_id": null}],
            [{"product_track_id": 5, "artist_id": null, "embedding": [0.5, 1.0]}]
        ])
    );

    let m = manifest(tmp.path(), "b", CORPUS, "raw", "sessions = \"bad.parquet\"");
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.parquet")
            && err.contains("missing column(s) user_id, session_id, product_track_id"),
        "{err}"
    );

    let m = manifest(
        tmp.path(),
        "c",
        CORPUS,
        "raw",
        "sessions = \"nothere.parquet\"",
    );
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothere.parquet"));

    // A file named in the manifest must exist, even with `embeddings = "auto"`.
    let m = manifest(
        tmp.path(),
        "e",
        CORPUS,
        "raw",
        "embeddings_file = \"vectors.parquet\"",
    );
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("vectors.parquet"));

    // Options that contradict each other are manifest errors.
    let m = manifest(
        tmp.path(),
        "o",
        CORPUS,
        "raw",
        "embeddings = \"skip\"\nembedding_dim = 128",
    );
    let out = recdata(&["validate", m.to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("embedding_dim"));
}

#[test]
fn embeddings_can_be_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 6, 9);
    let v = build(
        tmp.path(),
        &manifest(tmp.path(), "s", CORPUS, "raw", "embeddings = \"skip\""),
    );
    assert!(!v.join("svd_embeddings.parquet").exists());
    let artists = py_json(
        "print(json.dumps(sorted({str(r['artist_id']) for r in rows(sys.argv[1] + '/items.parquet')})))",
        &[v.to_str().unwrap()],
    );
    assert_eq!(artists, json!(["None"]));
    assert!(
        dataset_json(&v)["accounting"]["raw"]
            .get("svd_embeddings.parquet")
            .is_none()
    );
}

#[test]
fn reconciliation_and_pyarrow_schemas_with_leave_one_out() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 30, 10);
    let v = build(
        tmp.path(),
        &manifest(
            tmp.path(),
            "r",
            CORPUS,
            "raw",
            "\n[stages.filter]\ndedup = \"exact\"\nmin_user_interactions = 3\nmin_item_interactions = 2\n[stages.split]\nmethod = \"leave_one_out\"",
        ),
    );
    let doc = dataset_json(&v);
    let acc = &doc["accounting"];
    for (file, a) in acc["raw"].as_object().unwrap() {
        let n = |k: &str| a[k].as_u64().unwrap();
        assert_eq!(
            n("lines"),
            n("header") + n("skipped") + n("rows") + n("rejected"),
            "{file}"
        );
    }
    assert_eq!(
        acc["raw"]["sessions.parquet"]["rows"],
        acc["normalized_interactions"]
    );
    let f = &acc["filter"];
    let n = |v: &Value| v.as_u64().unwrap();
    assert_eq!(
        n(&f["input_rows"]),
        n(&f["removed_dedup"]) + n(&f["removed_k_core"]) + n(&f["output_rows"])
    );
    let s = &acc["splits"];
    assert_eq!(
        n(&s["train"]) + n(&s["valid"]) + n(&s["test"]),
        n(&f["output_rows"])
    );
    assert_eq!(
        acc["normalized_tables"]["svd_embeddings"],
        acc["raw"]["svd_embeddings.parquet"]["rows"]
    );
    // interactions, users, items, user_map, item_map, rejects, 3 splits, svd_embeddings
    assert_eq!(crate::pyarrow::check_with_pyarrow(&v), 10);
    // Sessions survive into the splits.
    let sess = py_json(
        "print(json.dumps(sum(r['session_id'] is None for r in rows(sys.argv[1] + '/splits/train.parquet'))))",
        &[v.to_str().unwrap()],
    );
    assert_eq!(sess, 0);
}

#[test]
fn synth_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("a"), 10, 1);
    synth(&tmp.path().join("b"), 10, 1);
    synth(&tmp.path().join("c"), 10, 2);
    assert_eq!(tree(&tmp.path().join("a")), tree(&tmp.path().join("b")));
    assert_ne!(tree(&tmp.path().join("a")), tree(&tmp.path().join("c")));
    let schema = py_json(
        r#"
print(json.dumps([str(pq.read_schema(sys.argv[1] + "/" + f)) for f in
    ["sessions.parquet", "svd_embeddings.parquet", "svd_embeddings_str.parquet"]]))
"#,
        &[tmp.path().join("a").to_str().unwrap()],
    );
    let s: Vec<&str> = schema
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(
        s[0].starts_with("user_id: int64\nsession_id: int64\nts: int64\nproduct_track_id: int64"),
        "{s:?}"
    );
    assert!(s[1].contains("vector: list<element: float>"), "{s:?}");
    assert!(s[2].contains("vector: string"), "{s:?}");
}
