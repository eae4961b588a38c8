//! Amazon Reviews 2023: gzipped JSON lines, ratings as values, metadata quirks.

use serde_json::json;

use crate::util::{build_ok, corpus_manifest, dataset_json, dump, recdata, rows_json};

#[test]
fn synth_category_golden_and_quirks() {
    let t = tempfile::tempdir().unwrap();
    crate::util::synth_cli(
        &t.path().join("raw"),
        "amazon-reviews-2023",
        &["--users", "5", "--seed", "2"],
    );
    assert!(t.path().join("raw/All_Beauty.jsonl.gz").is_file());
    let m = corpus_manifest(
        t.path(),
        "amz",
        "amazon-reviews-2023",
        "category = \"All_Beauty\"",
        "",
    );
    build_ok(t.path(), &m);
    let v = t.path().join("data/amz/1");
    crate::pyarrow::check_with_pyarrow(&v);
    insta::assert_snapshot!(dump(&v));

    let mut reasons: Vec<_> = rows_json(&v, "rejects.parquet")
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect();
    reasons.sort();
    // The seconds timestamp and the cut-off last line.
    assert_eq!(reasons, vec!["bad_json", "bad_timestamp"]);
    let items = rows_json(&v, "items.parquet");
    // Prices: null, "None" → null, numbers kept.
    assert!(items.iter().any(|r| r["price"].is_number()));
    assert!(
        items
            .iter()
            .all(|r| r["price"].is_null() || r["price"].as_f64().unwrap() > 0.0)
    );
    assert!(
        items
            .iter()
            .all(|r| r["image_url"].as_str().unwrap().starts_with("https://"))
    );
    let reviews = rows_json(&v, "amazon_reviews.parquet");
    let inter = rows_json(&v, "interactions.parquet");
    assert_eq!(reviews.len(), inter.len());
    assert!(
        reviews
            .iter()
            .any(|r| r["text"].as_str().unwrap().contains("café"))
    );
    assert!(
        reviews
            .iter()
            .any(|r| r["image_urls"] == json!(["https://m.media-amazon.com/images/I/71large.jpg"]))
    );
    assert!(
        inter
            .iter()
            .all(|r| r["value"].as_f64().unwrap() >= 1.0 && r["event"] == json!("review"))
    );
    let d = dataset_json(&v);
    assert_eq!(
        d["accounting"]["rejected"],
        json!({"bad_json": 1, "bad_timestamp": 1})
    );
}

#[test]
fn plain_jsonl_and_missing_metadata_are_explained() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    std::fs::write(
        raw.join("Video_Games.jsonl"),
        "{\"rating\": 5.0, \"title\": \"ok\", \"text\": \"fun\", \"images\": [], \"asin\": \"B1\", \"parent_asin\": \"P1\", \"user_id\": \"U1\", \"timestamp\": 1588615855070, \"helpful_vote\": 0, \"verified_purchase\": true}\n{\"rating\": 4.0, \"parent_asin\": \"P1\", \"timestamp\": 1588615855071}\n",
    )
    .unwrap();
    let m = corpus_manifest(
        t.path(),
        "vg",
        "amazon-reviews-2023",
        "category = \"Video_Games\"",
        "",
    );
    let out = recdata(&["build", &m, "--data-dir", "data"], t.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("meta_Video_Games.jsonl.gz") && err.contains("metadata = false"),
        "{err}"
    );
    let m = corpus_manifest(
        t.path(),
        "vg",
        "amazon-reviews-2023",
        "category = \"Video_Games\"\nmetadata = false",
        "",
    );
    build_ok(t.path(), &m);
    let v = t.path().join("data/vg/1");
    assert_eq!(rows_json(&v, "interactions.parquet").len(), 1);
    let rej = rows_json(&v, "rejects.parquet");
    assert_eq!(rej[0]["reason"], json!("missing_field"));
    assert_eq!(rej[0]["line"], json!(2));
}
