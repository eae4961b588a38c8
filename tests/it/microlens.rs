//! MicroLens: the synthetic release end to end (golden), and each quirk of corpora.md §1 on
//! byte-exact fixtures written here.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::util::{build_ok, corpus_manifest, dataset_json, dump, recdata, rows_json};

fn synth(out: &Path, corpus: &str, users: u32, seed: u64) {
    let (users, seed) = (users.to_string(), seed.to_string());
    crate::util::synth_cli(out, corpus, &["--users", &users, "--seed", &seed]);
}

/// Builds a MicroLens-100K release made of `files` (name, content) with `source` as extra
/// `[source]` keys and a filter that keeps every row; returns the temp dir and the version dir.
fn build_release(files: &[(&str, &str)], source: &str) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    for (name, content) in files {
        std::fs::write(raw.join(name), content).unwrap();
    }
    let m = corpus_manifest(
        t.path(),
        "ml",
        "microlens",
        source,
        "[stages.filter]\nmin_user_interactions = 1\nmin_item_interactions = 1\n",
    );
    build_ok(t.path(), &m);
    let v = t.path().join("data/ml/1");
    (t, v)
}

/// The `raw_id` column of a published table, in row order.
fn raw_ids(v: &Path, table: &str) -> Vec<String> {
    rows_json(v, table)
        .iter()
        .map(|r| r["raw_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn synth_fixture_golden() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), "microlens", 5, 3);
    // The generator writes the same bytes for the same seed.
    synth(&t.path().join("raw2"), "microlens", 5, 3);
    assert_eq!(
        crate::util::tree(&t.path().join("raw")),
        crate::util::tree(&t.path().join("raw2"))
    );
    let m = corpus_manifest(t.path(), "ml", "microlens", "", "");
    build_ok(t.path(), &m);
    let v = t.path().join("data/ml/1");
    insta::assert_snapshot!(dump(&v));
    crate::pyarrow::check_with_pyarrow(&v);
    let d = dataset_json(&v);
    // Every raw line is a header, a row or a reject.
    for (file, a) in d["accounting"]["raw"].as_object().unwrap() {
        assert_eq!(
            a["lines"].as_u64().unwrap(),
            a["header"].as_u64().unwrap()
                + a["skipped"].as_u64().unwrap()
                + a["rows"].as_u64().unwrap()
                + a["rejected"].as_u64().unwrap(),
            "{file}"
        );
    }
    // The comment with an embedded newline left one malformed line.
    assert_eq!(
        d["accounting"]["rejected"],
        json!({ "field_count": 1 }),
        "{}",
        d["accounting"]
    );
}

/// A 100K-layout release with every quirk, byte for byte.
fn quirky(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let w = |name: &str, bytes: &[u8]| std::fs::write(dir.join(name), bytes).unwrap();
    w(
        "MicroLens-100k_pairs.csv",
        b"\xEF\xBB\xBFuser,item,timestamp\r\n\
          2,3,1660883466915\r\n\
          1,1,1660883466915\r\n\
          1,2,1660883400000\r\n\
          1,3,1660883500000\r\n\
          2,1,1660883300000\r\n\
          2,2,166088330\r\n\
          3,x,1660883300000\r\n\
          3,1\r\n\
          \r\n\
          2,4,1660883600000\r\n",
    );
    w(
        "MicroLens-100k_title_en.csv",
        "1,Cat video, part one, the return\n2,\n3,Sunset \"golden hour\n4,\"Quoted, with a comma\"\nfive,bad id\n"
            .as_bytes(),
    );
    w(
        "tags_to_summary.csv",
        b"1,Pets\n2,Food\n3,Travel\n4,Dance\n",
    );
    w(
        "MicroLens-100k_likes_and_views.txt",
        b"1\t10\t100\n2\t0\t5\n3\tmany\t7\n4\t1\t2\t3\n",
    );
    w(
        "MicroLens-100k_comment_en.txt",
        b"1\t1\tso cute\n2\t3\twhere is this?\nand a second line\n9\t4\tlater comment\n",
    );
}

#[test]
fn quirks_land_in_tables_or_rejects() {
    let t = tempfile::tempdir().unwrap();
    quirky(&t.path().join("raw"));
    let m = corpus_manifest(t.path(), "q", "microlens", "", "");
    build_ok(t.path(), &m);
    let v = t.path().join("data/q/1");
    crate::pyarrow::check_with_pyarrow(&v);

    let items = rows_json(&v, "items.parquet");
    let titles: Vec<_> = items
        .iter()
        .map(|r| {
            (
                r["raw_id"].clone(),
                r["title"].clone(),
                r["category"].clone(),
                r["likes"].clone(),
            )
        })
        .collect();
    // Numeric ids sort by value; split at the first comma; empty → null; a lone quote stays;
    // one level of surrounding quotes goes; a bad likes row leaves the item's counts null.
    assert_eq!(
        titles,
        vec![
            (
                json!("1"),
                json!("Cat video, part one, the return"),
                json!("Pets"),
                json!(10)
            ),
            (json!("2"), json!(null), json!("Food"), json!(0)),
            (
                json!("3"),
                json!("Sunset \"golden hour"),
                json!("Travel"),
                json!(null)
            ),
            (
                json!("4"),
                json!("Quoted, with a comma"),
                json!("Dance"),
                json!(null)
            ),
        ]
    );
    // Two users share one timestamp; rows come out in (user, time) order.
    let inter: Vec<_> = rows_json(&v, "interactions.parquet")
        .iter()
        .map(|r| {
            (
                r["user_id"].as_u64().unwrap(),
                r["item_id"].as_u64().unwrap(),
                r["event"].clone(),
            )
        })
        .collect();
    assert_eq!(
        inter,
        vec![
            (0, 1, json!("comment")),
            (0, 0, json!("comment")),
            (0, 2, json!("comment")),
            (1, 0, json!("comment")),
            (1, 2, json!("comment")),
            (1, 3, json!("comment")),
        ]
    );
    let rejects: Vec<_> = rows_json(&v, "rejects.parquet")
        .iter()
        .map(|r| {
            (
                r["source_file"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, u64, String)> = [
        ("MicroLens-100k_pairs.csv", 7, "bad_timestamp"),
        ("MicroLens-100k_pairs.csv", 8, "bad_item_id"),
        ("MicroLens-100k_pairs.csv", 9, "field_count"),
        ("MicroLens-100k_title_en.csv", 5, "bad_item_id"),
        ("MicroLens-100k_likes_and_views.txt", 3, "bad_count"),
        ("MicroLens-100k_likes_and_views.txt", 4, "field_count"),
        ("MicroLens-100k_comment_en.txt", 3, "field_count"),
    ]
    .iter()
    .map(|(f, l, r)| (f.to_string(), *l, r.to_string()))
    .collect();
    let mut want = want;
    want.sort();
    let mut got = rejects.clone();
    got.sort();
    assert_eq!(got, want);
    // Comments keep their text; user 9 has no interactions but stays with its comment.
    let comments = rows_json(&v, "microlens_comments.parquet");
    assert_eq!(comments.len(), 3);
    assert_eq!(comments[2]["comment"], json!("later comment"));
    let d = dataset_json(&v);
    let pairs = &d["accounting"]["raw"]["MicroLens-100k_pairs.csv"];
    assert_eq!(
        (
            pairs["lines"].clone(),
            pairs["header"].clone(),
            pairs["skipped"].clone(),
            pairs["rows"].clone(),
            pairs["rejected"].clone()
        ),
        (json!(11), json!(1), json!(1), json!(6), json!(3))
    );
    assert_eq!(
        d["accounting"]["filter"]["users_without_interactions"],
        json!(1)
    );
}

#[test]
fn readme_spelling_of_the_comment_file_is_accepted() {
    let t = tempfile::tempdir().unwrap();
    quirky(&t.path().join("raw"));
    std::fs::rename(
        t.path().join("raw/MicroLens-100k_comment_en.txt"),
        t.path().join("raw/MicroLens-100k_comments_en.txt"),
    )
    .unwrap();
    let m = corpus_manifest(t.path(), "q", "microlens", "", "");
    build_ok(t.path(), &m);
    assert_eq!(
        rows_json(&t.path().join("data/q/1"), "microlens_comments.parquet").len(),
        3
    );
}

#[test]
fn tsv_sequences_are_timeless_and_refuse_temporal_splits() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), "microlens", 4, 9);
    let m = corpus_manifest(
        t.path(),
        "tsv",
        "microlens",
        "interactions = \"tsv\"",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    build_ok(t.path(), &m);
    let v = t.path().join("data/tsv/1");
    let inter = rows_json(&v, "interactions.parquet");
    assert!(inter.iter().all(|r| r["ts"].is_null()));
    // The TSV holds the CSV's interactions in time order: same multiset of (user, item).
    let m2 = corpus_manifest(t.path(), "csv", "microlens", "", "");
    build_ok(t.path(), &m2);
    let mut a: Vec<_> = inter
        .iter()
        .map(|r| (r["user_id"].clone().to_string(), r["item_id"].to_string()))
        .collect();
    let mut b: Vec<_> = rows_json(&t.path().join("data/csv/1"), "interactions.parquet")
        .iter()
        .map(|r| (r["user_id"].to_string(), r["item_id"].to_string()))
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    crate::pyarrow::check_with_pyarrow(&v);

    let m3 = corpus_manifest(
        t.path(),
        "tsv2",
        "microlens",
        "interactions = \"tsv\"",
        "[stages.split]\nmethod = \"temporal\"\nvalid_quantile = 0.8\ntest_quantile = 0.9\n",
    );
    let out = recdata(&["build", &m3, "--data-dir", "data"], t.path());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be split by time"), "{err}");
}

/// Regression (2026-12-05, found by an adversary with the release binary): with
/// `interactions = "tsv"`, a user whose sequence the file splits over two lines got positions
/// counted per line, so the two lines' items interleaved (10, 20, 11, 21, 12). The user's rows
/// now continue one sequence in file order.
#[test]
fn tsv_user_on_two_lines_continues_one_sequence() {
    let (_t, v) = build_release(
        &[("MicroLens-100k_pairs.tsv", "1\t10 11 12\n2\t5\n1\t20 21\n")],
        "interactions = \"tsv\"",
    );
    let items = raw_ids(&v, "item_map.parquet");
    let user1: Vec<String> = rows_json(&v, "interactions.parquet")
        .iter()
        .filter(|r| r["user_id"] == json!(0))
        .map(|r| items[r["item_id"].as_u64().unwrap() as usize].clone())
        .collect();
    assert_eq!(user1, ["10", "11", "12", "20", "21"]);
}

#[test]
fn covers_and_videos_are_checked_media() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), "microlens", 12, 5);
    let m = corpus_manifest(
        t.path(),
        "media",
        "microlens",
        "",
        "[[stages.media]]\nmodality = \"image\"\npath = \"MicroLens-100k_covers/{raw_id}.jpg\"\n\n\
         [[stages.media]]\nmodality = \"video\"\npaths = [\"MicroLens-100k_videos/{raw_id}.mp4\", \"MicroLens-100k_videos/{raw_id}.1.mp4\"]\n",
    );
    let mut env_cache = std::process::Command::new(crate::util::bin());
    let out = env_cache
        .args(["build", &m, "--data-dir", "data"])
        .env("RECDATA_CACHE", t.path().join("cache"))
        .env("NO_COLOR", "1")
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = t.path().join("data/media/1");
    crate::pyarrow::check_with_pyarrow(&v);
    let items: std::collections::HashMap<u64, String> = rows_json(&v, "items.parquet")
        .iter()
        .map(|r| {
            (
                r["item_id"].as_u64().unwrap(),
                r["raw_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let media = rows_json(&v, "media.parquet");
    for r in &media {
        let raw: u32 = items[&r["item_id"].as_u64().unwrap()].parse().unwrap();
        let (modality, status) = (
            r["modality"].as_str().unwrap(),
            r["status"].as_str().unwrap(),
        );
        let want = match modality {
            "image" if raw == 4 => "not_found",
            "image" => "ok",
            "video" if raw <= 6 => "ok",
            _ => "not_found",
        };
        assert_eq!(status, want, "{r}");
        if status == "ok" {
            let p = v.join(r["path"].as_str().unwrap());
            assert!(p.is_file(), "{}", p.display());
            let fmt = r["format"].as_str().unwrap();
            assert_eq!(fmt, if modality == "image" { "jpeg" } else { "mp4" });
            if raw == 3 && modality == "video" {
                assert_eq!(r["url"], json!("MicroLens-100k_videos/3.1.mp4"));
            }
        }
    }
    let card = std::fs::read_to_string(v.join("README.md")).unwrap();
    assert!(card.contains("Modality coverage"), "{card}");
}

#[test]
fn microlens_1m_keeps_chinese_titles_with_unbalanced_quotes() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), "microlens-1m", 6, 2);
    assert!(t.path().join("raw/MicroLens-1M_title.csv").is_file());
    let m = corpus_manifest(t.path(), "m1", "microlens", "", "");
    build_ok(t.path(), &m);
    let v = t.path().join("data/m1/1");
    let items = rows_json(&v, "items.parquet");
    let by_raw = |id: &str| {
        items
            .iter()
            .find(|r| r["raw_id"] == json!(id))
            .map(|r| r["title"].clone())
    };
    if let Some(t2) = by_raw("2") {
        assert_eq!(t2, json!("\"震惊！这只猫居然会"));
    }
    if let Some(t5) = by_raw("5") {
        assert_eq!(t5, json!("他说\"今天不下雨，"));
    }
    assert!(items.iter().any(|r| {
        r["title"]
            .as_str()
            .is_some_and(|s| s.chars().any(|c| c > '\u{4e00}'))
    }));
    crate::pyarrow::check_with_pyarrow(&v);
}

#[test]
fn two_releases_in_one_folder_need_a_variant() {
    let t = tempfile::tempdir().unwrap();
    let raw = t.path().join("raw");
    synth(&raw, "microlens", 4, 1);
    synth(&raw, "microlens-1m", 4, 1);
    let m = corpus_manifest(t.path(), "two", "microlens", "", "");
    let out = recdata(&["build", &m, "--data-dir", "data"], t.path());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MicroLens-100k, MicroLens-1M") && err.contains("source.variant"),
        "{err}"
    );
    let m = corpus_manifest(t.path(), "two", "microlens", "variant = \"1m\"", "");
    build_ok(t.path(), &m);
}

/// Regression (adversary, 2026-12-05): ids of more than 19 digits were rejected as "not a
/// number" (the check parsed them into a u64); they are whole numbers and ids like any other,
/// kept as text and ordered by value.
#[test]
fn microlens_ids_longer_than_a_u64_are_ids_not_rejects() {
    let long = "123456789012345678901234";
    let mut pairs = String::from("user,item,timestamp\n");
    for (u, i, ts) in [
        (long, "5", 1_600_000_000_000u64),
        (long, "18446744073709551616", 1_600_000_000_001),
        ("7", "5", 1_600_000_000_002),
        ("7", "18446744073709551616", 1_600_000_000_003),
    ] {
        pairs.push_str(&format!("{u},{i},{ts}\n"));
    }
    let (_t, v) = build_release(
        &[
            ("MicroLens-100k_pairs.csv", &pairs),
            ("MicroLens-100k_title_en.csv", "5, five\n"),
        ],
        "",
    );
    let d = dataset_json(&v);
    assert_eq!(
        d["accounting"]["rejected"],
        json!({}),
        "{}",
        d["accounting"]
    );
    assert_eq!(
        raw_ids(&v, "user_map.parquet"),
        ["7", long],
        "numeric ids in value order"
    );
    assert_eq!(
        raw_ids(&v, "item_map.parquet"),
        ["5", "18446744073709551616"]
    );
}

/// Regression (2026-12-05, found by an adversary with the release binary): like and view counts
/// above 2^63 - 1 were read as unsigned numbers and published wrapped, as negative counts, with
/// no warning. A count that does not fit the published int64 is a `bad_count` reject; the
/// largest one that fits is kept exactly.
#[test]
fn likes_and_views_beyond_i64_are_rejected_not_wrapped() {
    let (_t, v) = build_release(
        &[
            (
                "MicroLens-100k_pairs.csv",
                "user,item,timestamp\n1,1,1600000000000\n1,2,1600000000001\n1,3,1600000000002\n",
            ),
            (
                "MicroLens-100k_likes_and_views.txt",
                "1\t9223372036854775807\t5\n2\t9223372036854775808\t5\n3\t5\t9999999999999999999\n",
            ),
        ],
        "",
    );
    let items = rows_json(&v, "items.parquet");
    let counts: Vec<_> = items
        .iter()
        .map(|r| (r["likes"].clone(), r["views"].clone()))
        .collect();
    assert_eq!(
        counts,
        [
            (json!(9223372036854775807i64), json!(5)),
            (json!(null), json!(null)),
            (json!(null), json!(null)),
        ]
    );
    let rejects: Vec<_> = rows_json(&v, "rejects.parquet")
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].clone()))
        .collect();
    assert_eq!(rejects, [(2, json!("bad_count")), (3, json!("bad_count"))]);
}

/// Regression (2026-12-05, found running `make demo` after an adversary had truncated published
/// media files, which are hard links to cache blobs): a new build re-verified each local media
/// file but kept the damaged blob of the same sha256 in the cache, and publishing then failed
/// on one damaged file per run. The verified copy in hand now replaces a damaged blob, so one
/// build succeeds.
#[test]
fn damaged_cache_blobs_are_replaced_by_the_next_build_in_one_run() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), "microlens", 12, 5);
    let media =
        "[[stages.media]]\nmodality = \"image\"\npath = \"MicroLens-100k_covers/{raw_id}.jpg\"\n";
    let build = |name: &str| {
        let m = corpus_manifest(t.path(), name, "microlens", "", media);
        std::process::Command::new(crate::util::bin())
            .args(["build", &m, "--data-dir", "data"])
            .env("RECDATA_CACHE", t.path().join("cache"))
            .env("NO_COLOR", "1")
            .current_dir(t.path())
            .output()
            .unwrap()
    };
    let out = build("a");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Damage every media blob (what truncating the published files does to the cache).
    let mut damaged = 0;
    for (rel, _) in crate::util::tree(&t.path().join("cache/blobs")) {
        let p = t.path().join("cache/blobs").join(rel);
        if p.extension().is_none() {
            let mut perm = std::fs::metadata(&p).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&p, perm).unwrap();
            std::fs::write(&p, b"").unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 5, "{damaged} blobs damaged");
    let out = build("b");
    assert!(
        out.status.success(),
        "one build must repair the cache:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = crate::util::recdata(&["verify", "data/b/1"], t.path());
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}
