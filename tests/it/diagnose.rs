//! Diagnostics: every planted leak is found and a clean split has none; rankings and
//! statistics equal the plain numpy/pandas implementation (bench/diagnostics.py); the report
//! renders in headless Chromium with its sections and no console errors; manifest thresholds
//! fail the build with exit 1 and the reason.

use std::path::Path;
use std::process::Command;

use crate::util::{python, recdata};

/// Writes a published-layout dataset (splits, items, embeddings, dataset.json) into `dir`.
/// `leaky` plants one of each leak of docs/diagnostics.md.
fn fixture(dir: &Path, leaky: bool) {
    let out = Command::new(python())
        .arg("-c")
        .arg(
            r#"
import sys, json, os, numpy as np, pyarrow as pa, pyarrow.parquet as pq
d, leaky = sys.argv[1], sys.argv[2] == "1"
os.makedirs(f"{d}/splits", exist_ok=True); os.makedirs(f"{d}/embeddings", exist_ok=True)
rng = np.random.RandomState(3)
U, I = 8, 40
perm = rng.permutation(I)            # item ids unrelated to time in the clean split
rows = {"train": [], "valid": [], "test": []}
for u in range(U):
    items = [int(perm[(u * 5 + k) % I]) for k in range(5)]
    for k in range(3):
        rows["train"].append((u, items[k], 1000 + u * 10 + k))
    rows["valid"].append((u, items[3], 5000 + u))
    rows["test"].append((u, items[4], 6000 + u))
if leaky:
    rows["train"].append((0, 1 if perm[0] != 1 else 2, 9000))        # after every target (future + own)
    rows["valid"] = [(u, i, 7000 if u == 1 else t) for u, i, t in rows["valid"]]  # valid after test
    u2 = [r for r in rows["train"] if r[0] == 2][0]
    rows["test"] = [(u, u2[1], u2[2]) if u == 2 else (u, i, t) for u, i, t in rows["test"]]  # same event
    rows["valid"] = [(u, i, 6003) if u == 3 else (u, i, t) for u, i, t in rows["valid"]]     # history/test tie
    rows["valid"] = [(u, i, 1062) if u == 6 else (u, i, t) for u, i, t in rows["valid"]]     # train/valid tie
    # Item ids in order of first appearance (ids follow time).
    first = {}
    for s in ["train", "valid", "test"]:
        for u, i, t in rows[s]:
            first[i] = min(first.get(i, t), t)
    order = {i: k for k, i in enumerate(sorted(first, key=lambda i: (first[i], i)))}
    rest = [i for i in range(I) if i not in order]
    for i in rest: order[i] = len(order)
    rows = {s: [(u, order[i], t) for u, i, t in r] for s, r in rows.items()}
for s, r in rows.items():
    r.sort(key=lambda x: (x[0], x[2]))
    pq.write_table(pa.table({
        "user_id": pa.array([x[0] for x in r], pa.uint32()),
        "item_id": pa.array([x[1] for x in r], pa.uint32()),
        "ts": pa.array([x[2] for x in r], pa.timestamp("ms", tz="UTC")),
    }), f"{d}/splits/{s}.parquet")
pq.write_table(pa.table({"item_id": pa.array(range(I), pa.uint32())}), f"{d}/items.parquet")
e = rng.randn(I, 16).astype(np.float32)
if leaky:
    t4 = [i for u, i, t in rows["test"] if u == 4][0]
    tr = [i for u, i, t in rows["train"] if u == 5][0]
    e[t4] = e[tr] * 2.0                                                # same direction, other id
pq.write_table(pa.table({"item_id": pa.array(range(I), pa.uint32()),
    "embedding": pa.FixedSizeListArray.from_arrays(pa.array(e.ravel()), 16)}), f"{d}/embeddings/text.parquet")
json.dump({"dataset": {"name": "fixture", "version": "1"}, "split": {"method": "temporal"}}, open(f"{d}/dataset.json", "w"))
"#,
        )
        .arg(dir)
        .arg(if leaky { "1" } else { "0" })
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where `diagnose` writes for a fixture in `dir`: beside it, not inside it (`diagnose` never
/// writes into a version).
fn out_dir_of(dir: &Path) -> std::path::PathBuf {
    dir.with_file_name(format!(
        "{}-diag",
        dir.file_name().unwrap().to_string_lossy()
    ))
}

fn diagnose(dir: &Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let out_dir = out_dir_of(dir);
    let mut args = vec![
        "diagnose",
        dir.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = recdata(&args, dir);
    let doc = serde_json::from_slice(
        &std::fs::read(out_dir.join("diagnostics.json")).unwrap_or_default(),
    )
    .unwrap_or(serde_json::Value::Null);
    (o, doc)
}

/// Every `required` key of `schema` (recursively through `properties`, array `items` and
/// `#/$defs/` references) is present and non-null in `doc`, unless the schema allows null.
fn check_required(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    doc: &serde_json::Value,
    at: &str,
) {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &root["$defs"][r.trim_start_matches("#/$defs/")],
        None => schema,
    };
    for k in schema["required"].as_array().into_iter().flatten() {
        let k = k.as_str().unwrap();
        let nullable = schema["properties"][k]["type"]
            .as_array()
            .is_some_and(|t| t.contains(&serde_json::json!("null")));
        assert!(
            doc.get(k).is_some() && (nullable || !doc[k].is_null()),
            "{at}.{k} missing"
        );
    }
    if let Some(props) = schema["properties"].as_object() {
        for (k, sub) in props {
            if let Some(v) = doc.get(k) {
                check_required(root, sub, v, &format!("{at}.{k}"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), doc.as_array()) {
        for (i, v) in arr.iter().enumerate() {
            check_required(root, items, v, &format!("{at}[{i}]"));
        }
    }
    if let Some(c) = schema.get("const") {
        assert_eq!(doc, c, "{at}");
    }
}

fn schema() -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/diagnostics.json"))
            .unwrap(),
    )
    .unwrap()
}

fn finding<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["leakage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

#[test]
fn planted_leaks_are_found_and_a_clean_split_has_none() {
    let clean = tempfile::tempdir().unwrap();
    fixture(clean.path(), false);
    let (o, doc) = diagnose(clean.path(), &["--max-leakage", "0"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in doc["leakage"].as_array().unwrap() {
        assert!(f["applicable"] == true, "{f}");
        if f["id"] != "tiebreak_sensitivity" {
            assert_eq!(f["count"], 0, "clean split flagged: {f}");
        }
    }
    assert_eq!(doc["format_version"], 2);
    // The document has what schemas/diagnostics.json requires (nested objects included).
    let schema = schema();
    check_required(&schema, &schema, &doc, "$");
    let ids = &schema["properties"]["leakage"]["items"]["properties"]["id"]["enum"];
    for f in doc["leakage"].as_array().unwrap() {
        assert!(ids.as_array().unwrap().contains(&f["id"]), "{f}");
        for k in schema["properties"]["leakage"]["items"]["required"]
            .as_array()
            .unwrap()
        {
            assert!(!f[k.as_str().unwrap()].is_null(), "finding lacks {k}: {f}");
        }
    }

    let leaky = tempfile::tempdir().unwrap();
    fixture(leaky.path(), true);
    let (o, doc) = diagnose(leaky.path(), &["--max-leakage", "0"]);
    assert_eq!(o.status.code(), Some(1), "leaks must fail --max-leakage 0");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("check failed: leakage"), "{err}");
    for id in [
        "future_train_events",
        "train_after_eval",
        "valid_after_test",
        "duplicate_events_across_splits",
        "repeat_pairs_across_splits",
        "boundary_ties",
        "id_order_time",
        "near_duplicate_items",
    ] {
        let f = finding(&doc, id);
        assert!(f["count"].as_u64().unwrap() > 0, "{id} not found: {f}");
        assert!(!f["examples"].as_array().unwrap().is_empty(), "{f}");
    }
    // Temporal splits make future train events an error; the exact counts of the plants.
    assert_eq!(finding(&doc, "future_train_events")["severity"], "error");
    // User 1's valid row is after its test row, and so is user 2's (whose test row is an old
    // train event).
    assert_eq!(finding(&doc, "valid_after_test")["count"], 2);
    // User 3's last history event and test event tie; so do user 6's last train and first
    // valid events.
    let ties = finding(&doc, "boundary_ties");
    assert_eq!(ties["count"], 2, "{ties}");
    let boundaries: Vec<(u64, &str)> = ties["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["user_id"].as_u64().unwrap(),
                e["boundary"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(boundaries, vec![(3, "history/test"), (6, "train/valid")]);
    assert!(
        ties["description"]
            .as_str()
            .unwrap()
            .contains("(1 at train/valid, 1 at history/test)"),
        "{ties}"
    );
    check_required(&schema, &schema, &doc, "$");
    assert_eq!(finding(&doc, "duplicate_events_across_splits")["count"], 1);
    assert_eq!(finding(&doc, "near_duplicate_items")["count"], 1);
    assert_eq!(
        finding(&doc, "near_duplicate_items")["examples"][0]["cosine"]
            .as_f64()
            .map(|c| c > 0.999),
        Some(true)
    );
}

/// A synthetic dataset from bench/diagnostics.py's generator.
fn generated(
    dir: &Path,
    users: &str,
    items: &str,
    interactions: &str,
    seed: &str,
) -> std::path::PathBuf {
    let ds = dir.join("ds");
    let generated = Command::new(python())
        .args(["bench/diagnostics.py", "generate"])
        .arg(&ds)
        .args([
            "--users",
            users,
            "--items",
            items,
            "--interactions",
            interactions,
            "--seed",
            seed,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    ds
}

/// Runs bench/diagnostics.py's reference with the heuristic's parameters `tgh` (JSON) and
/// `recdata diagnose --set …` with the same parameters, and checks that every number the
/// reference computes is the same. Returns recdata's document.
fn matches_the_reference(ds: &Path, tgh: &str, set: &[&str]) -> serde_json::Value {
    let reference = ds.with_file_name("ref.json");
    let r = Command::new(python())
        .args(["bench/diagnostics.py", "reference"])
        .arg(ds)
        .arg("--out")
        .arg(&reference)
        .args(["--tgh", tgh])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reference).unwrap()).unwrap();
    let mut args = Vec::new();
    for kv in set {
        args.extend(["--set", *kv]);
    }
    let (o, got) = diagnose(ds, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(got["graph"]["edges"], want["graph"]["edges"]);
    assert_eq!(got["test_users"], want["test_users"]);
    assert_eq!(got["skipped_short_history"], want["skipped_short_history"]);
    let close = |a: &serde_json::Value, b: &serde_json::Value, what: &str| {
        let (x, y) = (
            a.as_f64().unwrap_or(f64::NAN),
            b.as_f64().unwrap_or(f64::NAN),
        );
        assert!((x - y).abs() < 1e-9, "{what}: recdata {x} vs python {y}");
    };
    for ranker in [
        "mostpop",
        "markov",
        "itemknn",
        "embnn",
        "tgh1",
        "tgh2",
        "tgh1_hash",
        "tgh2_hash",
    ] {
        for m in [
            "recall@1",
            "recall@5",
            "recall@10",
            "ndcg@1",
            "ndcg@5",
            "ndcg@10",
        ] {
            close(
                &got["rankers"][ranker][m],
                &want["rankers"][ranker][m],
                &format!("{ranker} {m}"),
            );
        }
    }
    for part in ["all", "train", "test"] {
        for k in [
            "users",
            "items",
            "interactions",
            "density",
            "gini",
            "top1_share",
            "top20_share",
            "repeat_ratio",
        ] {
            close(
                &got["stats"][part][k],
                &want["stats"][part][k],
                &format!("stats {part} {k}"),
            );
        }
    }
    let d1 = &got["shortcuts"]["d1"];
    for (k, w) in [("c1", "c1"), ("c2", "c2"), ("c3", "c3"), ("c_inf", "c_inf")] {
        close(
            &d1["ring_coverage"][k],
            &want["d1"]["coverage"][w],
            &format!("ring coverage {k}"),
        );
    }
    close(&d1["s10"], &want["d1"]["s10"], "s10");
    close(
        &d1["out_degree_mean"],
        &want["d1"]["outdegree"]["mean"],
        "out-degree mean",
    );
    // D3: the order-sufficiency curve point by point, and the shuffle test's four counts (the
    // per-user shuffle is the same generator on both sides).
    let d3 = &got["shortcuts"]["d3"];
    let (curve, want_curve) = (
        d3["curve"].as_array().unwrap(),
        want["d3"]["curve"].as_array().unwrap(),
    );
    assert_eq!(curve.len(), want_curve.len(), "{}", d3["curve"]);
    for (c, w) in curve.iter().zip(want_curve) {
        for k in ["history", "ranker", "last_n"] {
            assert_eq!(c[k], w[k], "curve {k}");
        }
        for k in ["ndcg@10", "recall@10"] {
            close(&c[k], &w[k], &format!("curve {} {k}", c["history"]));
        }
    }
    assert_eq!(d3["curve_users"], want["d3"]["curve_users"]);
    assert_eq!(d3["curve_sampled"], want["d3"]["curve_sampled"]);
    close(
        &d3["order_sufficiency"],
        &want["d3"]["order_sufficiency"],
        "order sufficiency",
    );
    for g in ["rules_2gram", "rules_3gram"] {
        for k in ["original", "shuffled"] {
            assert_eq!(
                d3["shuffle_test"][g][k], want["shuffle_test"][g][k],
                "{g} {k}"
            );
        }
        close(
            &d3["shuffle_test"][g]["change"],
            &want["shuffle_test"][g]["change"],
            &format!("{g} change"),
        );
    }
    got
}

/// The same numbers as the plain numpy/pandas implementation of docs/diagnostics.md.
#[test]
fn rankings_and_statistics_match_the_python_reference() {
    let d = tempfile::tempdir().unwrap();
    let ds = generated(d.path(), "400", "150", "6000", "5");
    let got = matches_the_reference(&ds, "{}", &[]);
    // The defaults are tgh.py's and are recorded.
    let t = &got["protocol"]["tgh"];
    assert_eq!(t["alpha"], 0.5);
    assert_eq!(t["total_k"], 10);
    assert_eq!(t["tgh1_hops"], serde_json::json!([7, 2, 1]));
    assert_eq!(t["tgh2_src2_hops"], serde_json::json!([5, 1]));
    assert_eq!(t["tgh2_src3_hops"], serde_json::json!([3, 1]));
    assert_eq!(t["seed"], 42);
    assert_eq!(t["last_n"], serde_json::json!([3, 5, "all"]));
    assert_eq!(t["semantic_pad"], false);
    // last 1 vs last 2 vs the full history, all test users (fewer than last_n_sample).
    let d3 = &got["shortcuts"]["d3"];
    let hist: Vec<&str> = d3["curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["history"].as_str().unwrap())
        .collect();
    assert_eq!(
        hist,
        ["last 1", "last 2", "last 3", "last 5", "full history"]
    );
    assert_eq!(d3["curve_users"], got["test_users"]);
    assert_eq!(d3["curve_sampled"], false);
    assert_eq!(d3["curve"][0]["ndcg@10"], got["rankers"]["tgh1"]["ndcg@10"]);
    assert_eq!(d3["curve"][1]["ndcg@10"], got["rankers"]["tgh2"]["ndcg@10"]);
    assert_eq!(d3["full_history_ndcg10"], d3["curve"][4]["ndcg@10"]);
    // The generator's sequences are first-order (each item drawn from its predecessor's
    // successors): shuffling destroys most rules of both orders.
    for g in ["rules_2gram", "rules_3gram"] {
        let r = &d3["shuffle_test"][g];
        assert!(r["original"].as_u64().unwrap() > 0, "{r}");
        assert!(r["change"].as_f64().unwrap() < -0.5, "{r}");
    }
    let summary = got["verdict"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("last 1 ")
            && summary.contains("last 2 ")
            && summary.contains("full history "),
        "{summary}"
    );
}

/// Non-default heuristic parameters through `recdata diagnose --set` change the rankings and
/// still equal the reference run with the same parameters; the D3 curve on a seeded sample of
/// users.
#[test]
fn tgh_parameters_are_applied_and_match_the_python_reference() {
    let d = tempfile::tempdir().unwrap();
    let ds = generated(d.path(), "300", "120", "4500", "9");
    let default = matches_the_reference(&ds, "{}", &[]);
    let tgh = r#"{"alpha": 0.2, "total_k": 12, "tgh1_hops": [5, 4, 2, 1], "tgh2_src2_hops": [6, 2], "tgh2_src3_hops": [4], "seed": 7, "last_n": [0, 4], "last_n_sample": 120}"#;
    let got = matches_the_reference(
        &ds,
        tgh,
        &[
            "alpha=0.2",
            "total_k=12",
            "tgh1_hops=[5, 4, 2, 1]",
            "tgh2_src2_hops=[6, 2]",
            "tgh2_src3_hops=[4]",
            "seed=7",
            "last_n=[0, 4]",
            "last_n_sample=120",
        ],
    );
    let t = &got["protocol"]["tgh"];
    assert_eq!(t["alpha"], 0.2);
    assert_eq!(t["total_k"], 12);
    assert_eq!(t["tgh1_hops"], serde_json::json!([5, 4, 2, 1]));
    assert_eq!(t["tgh2_src2_hops"], serde_json::json!([6, 2]));
    assert_eq!(t["tgh2_src3_hops"], serde_json::json!([4]));
    assert_eq!(t["seed"], 7);
    assert_eq!(t["last_n"], serde_json::json!(["all", 4]));
    assert_eq!(t["last_n_sample"], 120);
    for r in ["tgh1", "tgh2", "tgh1_hash", "tgh2_hash"] {
        assert_ne!(
            got["rankers"][r], default["rankers"][r],
            "{r} did not change with the parameters"
        );
    }
    // Baselines do not depend on the heuristic's parameters.
    assert_eq!(got["rankers"]["markov"], default["rankers"]["markov"]);
    let d3 = &got["shortcuts"]["d3"];
    assert_eq!(d3["curve_users"], 120);
    assert_eq!(d3["curve_sampled"], true);
    let hist: Vec<&str> = d3["curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["history"].as_str().unwrap())
        .collect();
    assert_eq!(hist, ["last 1", "last 2", "full history", "last 4"]);

    // Wrong values fail before any work, naming the key.
    let (o, _) = diagnose(&ds, &["--set", "tgh1_hops=[7, -2, 1]", "--set", "alpa=1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`stages.diagnostics.tgh1_hops` must be 1 to 8 integers"),
        "{err}"
    );
    assert!(err.contains("did you mean `alpha`?"), "{err}");
}

/// report.html in headless Chromium: a screenshot with content, the expected sections in the
/// rendered DOM, no console errors, no network requests.
#[test]
fn report_renders_in_headless_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {c}"))
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        panic!("headless Chromium is required (make test installs Debian's chromium)");
    };
    let d = tempfile::tempdir().unwrap();
    fixture(d.path(), true);
    let (o, _) = diagnose(d.path(), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = out_dir_of(d.path()).join("report.html");
    let text = std::fs::read_to_string(&html).unwrap();
    assert!(
        !text.contains("http://") && !text.contains("https://") && !text.contains("<script"),
        "the report must be self-contained"
    );
    let url = format!("file://{}", html.display());
    let shot = d.path().join("shot.png");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-dev-shm-usage",
    ];
    let s = Command::new(chromium)
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2400")
        .arg("--enable-logging=stderr")
        .arg("--v=0")
        .arg(&url)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&s.stderr);
    assert!(s.status.success(), "{log}");
    assert!(!log.contains(":CONSOLE("), "console output: {log}");
    let img = image::open(&shot).unwrap().to_rgb8();
    let first = *img.get_pixel(0, 0);
    let differing = img.pixels().filter(|p| **p != first).count();
    assert!(
        differing > img.pixels().len() / 50,
        "the screenshot is blank"
    );
    let dom = Command::new(chromium)
        .args(common)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for id in [
        "verdict",
        "rankers",
        "popularity",
        "history",
        "branching",
        "shortcuts",
        "leakage",
        "coverage",
        "statistics",
        "recency",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    assert!(dom.contains("<svg"), "no plots");
    assert!(dom.contains("near_duplicate_items"));
    assert!(dom.contains("time span (UTC)") && dom.contains("1970-01-01"));
    assert!(dom.contains("3-gram rules"));
}

/// `[stages.diagnostics]` in a build: diagnostics.json and report.html are in the version, the
/// verdict in dataset.json, and a threshold failure exits 1 with the reason.
#[test]
fn build_thresholds_fail_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    crate::util::synth(&d.path().join("raw"), 30, 40, 3);
    let m = crate::util::manifest(
        d.path(),
        "diag",
        "1.0.0",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n\n[stages.diagnostics]\nfail_if_heuristic_ndcg10_above = 0.0\nalpha = 0.25\ntgh1_hops = [6, 3, 1]\nlast_n = [0]\n",
    );
    let o = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        d.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("check failed: the transition-graph heuristic reaches NDCG@10"),
        "{err}"
    );
    let v = d.path().join("data/diag/1.0.0");
    assert!(v.join("diagnostics.json").is_file() && v.join("report.html").is_file());
    let ds = crate::util::dataset_json(&v);
    assert_eq!(ds["diagnostics"]["failures"].as_array().unwrap().len(), 1);
    // The manifest's heuristic parameters are applied and recorded.
    let diag: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join("diagnostics.json")).unwrap()).unwrap();
    let t = &diag["protocol"]["tgh"];
    assert_eq!(t["alpha"], 0.25);
    assert_eq!(t["tgh1_hops"], serde_json::json!([6, 3, 1]));
    assert_eq!(t["last_n"], serde_json::json!(["all"]));
    assert_eq!(t["total_k"], 10);
    assert!(ds["diagnostics"]["verdict"]["shortcut_solvable"].is_boolean());
    // Rebuilding is byte-identical (and still fails the check).
    let before = std::fs::read(v.join("diagnostics.json")).unwrap();
    let again = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        d.path(),
    );
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read(v.join("diagnostics.json")).unwrap(), before);

    // A wrong parameter is a manifest error naming the key, with the default as help.
    let bad = crate::util::manifest(
        d.path(),
        "diagbad",
        "1.0.0",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n\n[stages.diagnostics]\ntgh2_src2_hops = [5.5, 1]\nlast_n = [3, \"all\"]\n",
    );
    let o = recdata(&["validate", bad.to_str().unwrap()], d.path());
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`stages.diagnostics.tgh2_src2_hops` must be 1 to 8 integers in 0 ..= 1000"),
        "{err}"
    );
    assert!(
        err.contains("the default is `tgh2_src2_hops = [5, 1]`"),
        "{err}"
    );
    assert!(err.contains("write the full history as 0"), "{err}");
}
