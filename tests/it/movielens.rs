//! MovieLens 100K / 1M: ratings as values, Latin-1 titles, `::` separators, coded 1M
//! demographics; golden snapshots of the synthetic releases.

use std::path::Path;

use serde_json::json;

use crate::util::{build_ok, corpus_manifest, dataset_json, dump, rows_json};

fn synth(out: &Path, corpus: &str, users: u32, seed: u64) {
    let (users, seed) = (users.to_string(), seed.to_string());
    crate::util::synth_cli(
        out,
        corpus,
        &["--users", &users, "--events-per-user", "4", "--seed", &seed],
    );
}

#[test]
fn synth_100k_golden() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), "movielens", 4, 1);
    assert!(t.path().join("raw/ml-100k/u.data").is_file());
    let m = corpus_manifest(t.path(), "ml100k", "movielens", "", "");
    build_ok(t.path(), &m);
    let v = t.path().join("data/ml100k/1");
    crate::pyarrow::check_with_pyarrow(&v);
    insta::assert_snapshot!(dump(&v));
}

#[test]
fn synth_1m_golden() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), "movielens-1m", 4, 1);
    assert!(t.path().join("raw/ml-1m/ratings.dat").is_file());
    let m = corpus_manifest(t.path(), "ml1m", "movielens", "", "");
    build_ok(t.path(), &m);
    let v = t.path().join("data/ml1m/1");
    crate::pyarrow::check_with_pyarrow(&v);
    insta::assert_snapshot!(dump(&v));
}

#[test]
fn ratings_are_values_titles_are_latin1_and_bad_rows_are_rejected() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("raw/ml-1m");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("ratings.dat"),
        b"1::2::5::978300760\n1::1::3::978302109\n2::2::4.5::978301968\n2::1::9::978301968\n2::3::1\nx::1::3::978300000\n3::1::4::9999999999999999999\n",
    )
    .unwrap();
    std::fs::write(
        d.join("movies.dat"),
        b"1::Toy Story (1995)::Animation|Children's|Comedy\n2::Mis\xe9rables, Les (1995)::Drama|Musical\n3::Gar\xe7on (1983)::Drama\n",
    )
    .unwrap();
    std::fs::write(
        d.join("users.dat"),
        b"1::F::1::10::48067\n2::M::56::16::70072\n3::M::30::16::55117\n",
    )
    .unwrap();
    let m = corpus_manifest(
        t.path(),
        "q",
        "movielens",
        "",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    build_ok(t.path(), &m);
    let v = t.path().join("data/q/1");
    crate::pyarrow::check_with_pyarrow(&v);
    let inter: Vec<_> = rows_json(&v, "interactions.parquet")
        .iter()
        .map(|r| {
            (
                r["user_id"].clone(),
                r["item_id"].clone(),
                r["value"].clone(),
                r["event"].clone(),
            )
        })
        .collect();
    assert_eq!(
        inter,
        vec![
            (json!(0), json!(1), json!(5.0), json!("rating")),
            (json!(0), json!(0), json!(3.0), json!("rating")),
            (json!(1), json!(1), json!(4.5), json!("rating")),
        ]
    );
    // Values travel into the splits.
    let split_rows: Vec<_> = ["train", "valid", "test"]
        .iter()
        .flat_map(|s| rows_json(&v, &format!("splits/{s}.parquet")))
        .collect();
    assert_eq!(split_rows.len(), 3);
    assert!(split_rows.iter().all(|r| r["value"].is_number()));
    let items = rows_json(&v, "items.parquet");
    assert_eq!(items[1]["title"], json!("Misérables, Les (1995)"));
    assert_eq!(items[1]["year"], json!(1995));
    assert_eq!(items[1]["genres"], json!(["Drama", "Musical"]));
    let users = rows_json(&v, "users.parquet");
    assert_eq!(users[0]["age"], json!("Under 18"));
    assert_eq!(users[0]["occupation"], json!("K-12 student"));
    assert_eq!(users[1]["age"], json!("56+"));
    let mut reasons: Vec<_> = rows_json(&v, "rejects.parquet")
        .iter()
        .map(|r| {
            (
                r["source_file"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("ratings.dat".to_owned(), 4, "bad_rating".to_owned()),
            ("ratings.dat".to_owned(), 5, "field_count".to_owned()),
            ("ratings.dat".to_owned(), 6, "bad_id".to_owned()),
            // Found by the `movielens` fuzz target: seconds whose milliseconds overflow i64.
            ("ratings.dat".to_owned(), 7, "bad_timestamp".to_owned()),
            ("users.dat".to_owned(), 3, "bad_age".to_owned()),
        ]
    );
    let doc = dataset_json(&v);
    assert_eq!(doc["accounting"]["raw"]["ratings.dat"]["rows"], json!(3));
}

#[test]
fn u_item_genre_flags_and_the_unknown_movie() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("raw");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("u.data"),
        b"1\t1\t4\t874724710\n1\t267\t2\t874724711\n",
    )
    .unwrap();
    let flags = |on: &[usize]| {
        (0..19)
            .map(|k| if on.contains(&k) { "|1" } else { "|0" })
            .collect::<String>()
    };
    std::fs::write(
        d.join("u.item"),
        format!(
            "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995){}\n267|unknown|||{}\n",
            flags(&[3, 4, 5]),
            flags(&[0])
        ),
    )
    .unwrap();
    // No u.user: said in the manifest (a missing side file is otherwise an error).
    let m = corpus_manifest(
        t.path(),
        "k",
        "movielens",
        "variant = \"100k\"\nusers = false",
        "",
    );
    build_ok(t.path(), &m);
    let items = rows_json(&t.path().join("data/k/1"), "items.parquet");
    assert_eq!(
        items[0]["genres"],
        json!(["Animation", "Children's", "Comedy"])
    );
    assert_eq!(items[0]["release_date"], json!("01-Jan-1995"));
    assert_eq!(items[1]["title"], json!("unknown"));
    assert_eq!(items[1]["release_date"], json!(null));
    assert_eq!(items[1]["year"], json!(null));
    assert_eq!(items[1]["genres"], json!(["unknown"]));
}
