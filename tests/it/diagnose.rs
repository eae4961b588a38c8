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
    rows["valid"] = [(u, i, 6003) if u == 3 else (u, i, t) for u, i, t in rows["valid"]]     # boundary tie
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

fn diagnose(dir: &Path, extra: &[&str]) -> (std::process::Output, serde_json::Value) {
    let out_dir = dir.join("diag");
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
    assert_eq!(doc["format_version"], 1);
    // The document has what schemas/diagnostics.json requires.
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/diagnostics.json"))
            .unwrap(),
    )
    .unwrap();
    for k in schema["required"].as_array().unwrap() {
        assert!(!doc[k.as_str().unwrap()].is_null(), "missing {k}");
    }
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
    assert_eq!(finding(&doc, "boundary_ties")["count"], 1);
    assert_eq!(finding(&doc, "duplicate_events_across_splits")["count"], 1);
    assert_eq!(finding(&doc, "near_duplicate_items")["count"], 1);
    assert_eq!(
        finding(&doc, "near_duplicate_items")["examples"][0]["cosine"]
            .as_f64()
            .map(|c| c > 0.999),
        Some(true)
    );
}

/// The same numbers as the plain numpy/pandas implementation of docs/diagnostics.md.
#[test]
fn rankings_and_statistics_match_the_python_reference() {
    let d = tempfile::tempdir().unwrap();
    let ds = d.path().join("ds");
    let generated = Command::new(python())
        .args(["bench/diagnostics.py", "generate"])
        .arg(&ds)
        .args([
            "--users",
            "400",
            "--items",
            "150",
            "--interactions",
            "6000",
            "--seed",
            "5",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let reference = d.path().join("ref.json");
    let r = Command::new(python())
        .args(["bench/diagnostics.py", "reference"])
        .arg(&ds)
        .arg("--out")
        .arg(&reference)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reference).unwrap()).unwrap();
    let (o, got) = diagnose(&ds, &[]);
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
    close(
        &got["shortcuts"]["d3"]["rules_2gram"],
        &want["shuffle_test"]["rules_original"],
        "2-gram rules",
    );
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
    let html = d.path().join("diag/report.html");
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
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    assert!(dom.contains("<svg"), "no plots");
    assert!(dom.contains("near_duplicate_items"));
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
        "[stages.split]\nmethod = \"leave_one_out\"\n\n[stages.diagnostics]\nfail_if_heuristic_ndcg10_above = 0.0\n",
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
    assert!(ds["diagnostics"]["verdict"]["shortcut_solvable"].is_boolean());
    // Rebuilding is byte-identical (and still fails the check).
    let before = std::fs::read(v.join("diagnostics.json")).unwrap();
    let again = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        d.path(),
    );
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read(v.join("diagnostics.json")).unwrap(), before);
}
