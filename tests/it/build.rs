//! End-to-end builds: golden tables, reject accounting, byte-identical rebuilds, immutability.

use std::path::Path;

use arrow_array::{BinaryArray, StringArray, TimestampMillisecondArray, UInt32Array, UInt64Array};
use recdata::io::parquet::{column, read_batch};

use crate::util::{build_ok, manifest, recdata, synth, tree};

const T1: &str = "11111111-1111-1111-1111-111111111111";
const T2: &str = "22222222-2222-2222-2222-222222222222";
const A1: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";

fn golden_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let lines = [
        format!("user_000001\t2009-01-01T00:00:05Z\t{A1}\tArtist A\t{T1}\tSong 1"),
        format!("user_000001\t2009-01-01T00:00:04Z\t{A1}\tArtist A\t{T2}\tSong 2"),
        "user_000001\t2009-01-01T00:00:04Z\t\tArtist B\t\t\"Unclosed".to_string(),
        format!("user_000001\t2009-01-01T00:00:03Z\t{A1}\tArtist A\t{T1}\tSong 1"),
        format!("user_000001\tyesterday\t{A1}\tArtist A\t{T1}\tSong 1"),
        format!("user_000002\t2009-01-02T00:00:03Z\t{A1}\tArtist A\t{T2}\tSong 2"),
        format!("user_000002\t2009-01-02T00:00:02Z\t{A1}\tArtist A\t{T1}\tSong 1"),
        format!("user_000002\t2009-01-02T00:00:01Z\t{A1}\tArtist A\t{T2}\tSong 2"),
        "user_000002\ttoo\tfew".to_string(),
    ];
    std::fs::write(
        dir.join("userid-timestamp-artid-artname-traid-traname.tsv"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("userid-profile.tsv"),
        "#id\tgender\tage\tcountry\tregistered\nuser_000001\tf\t\tPeru\tApr 27, 2005\nuser_000002\tm\tMexico\tFeb 1, 2006\nuser_000003\t\t22\t\t\n",
    )
    .unwrap();
}

fn rows(path: &Path) -> Vec<(u32, u32, i64)> {
    let b = read_batch(path).unwrap();
    let u: &UInt32Array = column(&b, "user_id").unwrap();
    let i: &UInt32Array = column(&b, "item_id").unwrap();
    let t: &TimestampMillisecondArray = column(&b, "ts").unwrap();
    (0..b.num_rows())
        .map(|r| (u.value(r), i.value(r), t.value(r)))
        .collect()
}

const S: i64 = 1_230_768_000_000; // 2009-01-01T00:00:00Z
const D: i64 = 86_400_000;

#[test]
fn golden_leave_one_out() {
    let tmp = tempfile::tempdir().unwrap();
    golden_corpus(&tmp.path().join("raw"));
    let m = manifest(
        tmp.path(),
        "golden",
        "1",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = tmp.path().join("data/golden/1");
    assert_eq!(
        std::fs::read_link(tmp.path().join("data/golden/latest")).unwrap(),
        Path::new("1")
    );

    // Items by raw id: T1 = 0, T2 = 1, the MBID-less "Unclosed = 2. Users by raw id.
    // user 1's ts-4 tie: line 2 is listed before line 3, and the file is newest-first,
    // so line 3 ("Unclosed) happened first.
    assert_eq!(
        rows(&v.join("splits/train.parquet")),
        vec![(0, 0, S + 3000), (0, 2, S + 4000), (1, 1, S + D + 1000)]
    );
    assert_eq!(
        rows(&v.join("splits/valid.parquet")),
        vec![(0, 1, S + 4000), (1, 0, S + D + 2000)]
    );
    assert_eq!(
        rows(&v.join("splits/test.parquet")),
        vec![(0, 0, S + 5000), (1, 1, S + D + 3000)]
    );
    assert_eq!(rows(&v.join("interactions.parquet")).len(), 7);

    let items = read_batch(&v.join("items.parquet")).unwrap();
    let raw: &StringArray = column(&items, "raw_id").unwrap();
    let title: &StringArray = column(&items, "title").unwrap();
    assert_eq!(raw.value(0), T1);
    assert_eq!(raw.value(1), T2);
    assert!(raw.value(2).starts_with("nombid-"));
    assert_eq!(title.value(2), "\"Unclosed", "quotes are plain text");

    let users = read_batch(&v.join("users.parquet")).unwrap();
    let country: &StringArray = column(&users, "country").unwrap();
    assert_eq!(
        (users.num_rows(), country.value(0), country.value(1)),
        (2, "Peru", "Mexico")
    );

    let rej = read_batch(&v.join("rejects.parquet")).unwrap();
    let line: &UInt64Array = column(&rej, "line").unwrap();
    let raw: &BinaryArray = column(&rej, "raw").unwrap();
    assert_eq!(line.values().to_vec(), vec![5, 9]);
    assert_eq!(raw.value(1), b"user_000002\ttoo\tfew");

    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join("dataset.json")).unwrap()).unwrap();
    let acc = &doc["accounting"];
    assert_eq!(
        acc["raw"]["userid-timestamp-artid-artname-traid-traname.tsv"]["lines"],
        9
    );
    assert_eq!(
        acc["raw"]["userid-timestamp-artid-artname-traid-traname.tsv"]["rejected"],
        2
    );
    assert_eq!(acc["rejected"]["bad_timestamp"], 1);
    assert_eq!(acc["rejected"]["field_count"], 1);
    assert_eq!(acc["raw"]["userid-profile.tsv"]["rows"], 3);
    assert_eq!(doc["split"]["method"], "leave_one_out");
    let card = std::fs::read_to_string(v.join("README.md")).unwrap();
    assert!(
        card.contains("leave_one_out") && card.contains("non-commercial"),
        "{card}"
    );
}

#[test]
fn synth_fixture_quirks_are_accounted() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 5, 40, 3);
    let m = manifest(tmp.path(), "q", "1", "raw", "");
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("data/q/1/dataset.json")).unwrap())
            .unwrap();
    let ev = &doc["accounting"]["raw"]["userid-timestamp-artid-artname-traid-traname.tsv"];
    assert_eq!(
        doc["accounting"]["rejected"]["field_count"], 2,
        "the 5- and 7-field lines"
    );
    assert_eq!(ev["repaired"], 1, "the invalid UTF-8 name");
    let lines = ev["lines"].as_u64().unwrap();
    assert_eq!(
        lines,
        ev["rows"].as_u64().unwrap() + ev["rejected"].as_u64().unwrap()
    );
    assert_eq!(doc["accounting"]["normalized_interactions"], ev["rows"]);
    // reject the UTF-8 instead
    let m2 = manifest(tmp.path(), "q2", "1", "raw", "");
    let text = std::fs::read_to_string(&m2).unwrap().replace(
        "corpus = \"lastfm-1k\"",
        "corpus = \"lastfm-1k\"\ninvalid_utf8 = \"reject\"",
    );
    std::fs::write(&m2, text).unwrap();
    let out = recdata(
        &[
            "build",
            m2.to_str().unwrap(),
            "--data-dir",
            "data",
            "--json",
        ],
        tmp.path(),
    );
    assert!(out.status.success());
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("data/q2/1/dataset.json")).unwrap())
            .unwrap();
    assert_eq!(doc["accounting"]["rejected"]["invalid_utf8"], 1);
    // --json: one JSON object per stdout line; every stage that ran reports its peak memory.
    let mut stages = Vec::new();
    for l in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["type"].is_string());
        if v["type"] == "stage" && v["cached"] == false {
            assert!(
                v["peak_rss_bytes"].as_u64().is_some_and(|b| b > 1 << 20),
                "{v}"
            );
            stages.push(v["stage"].as_str().unwrap().to_owned());
        }
    }
    assert!(
        stages.contains(&"filter".to_owned()) && stages.contains(&"publish".to_owned()),
        "{stages:?}"
    );
}

#[test]
fn rebuild_is_byte_identical_and_versions_are_immutable() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 12, 80, 11);
    let stages = "[stages.filter]\nmin_user_interactions = 3\nmin_item_interactions = 2\n[stages.split]\nmethod = \"leave_one_out\"\n";
    let m = manifest(tmp.path(), "r", "1.0", "raw", stages);
    for dir in ["a", "b"] {
        let out = recdata(
            &["build", m.to_str().unwrap(), "--data-dir", dir],
            tmp.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        tree(&tmp.path().join("a/r/1.0")),
        tree(&tmp.path().join("b/r/1.0"))
    );

    // Same manifest again: unchanged, exit 0.
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "a"],
        tmp.path(),
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("identical"));

    // Different content under the same version: refused, exit 1, nothing modified.
    let before = tree(&tmp.path().join("a/r/1.0"));
    let m2 = manifest(tmp.path(), "r", "1.0", "raw", &stages.replace("= 3", "= 4"));
    let out = recdata(
        &["build", m2.to_str().unwrap(), "--data-dir", "a"],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already published"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(before, tree(&tmp.path().join("a/r/1.0")));

    // inspect verifies checksums.
    let out = recdata(&["inspect", "a/r/latest"], tmp.path());
    assert!(out.status.success());
    let f = tmp.path().join("a/r/1.0/items.parquet");
    let mut bytes = std::fs::read(&f).unwrap();
    let k = bytes.len() / 2;
    bytes[k] ^= 1;
    std::fs::remove_file(&f).unwrap(); // the file is a hard link into the cache: replace, don't edit
    std::fs::write(&f, bytes).unwrap();
    let out = recdata(&["inspect", "a/r/1.0"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
}

/// Regression (adversary, 2026-12-05): the `publish` stage event had an empty fingerprint and
/// said `cached: false` even when the version was already published with identical content.
#[test]
fn publish_event_has_its_fingerprint_and_an_unchanged_version_is_cached() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 6, 40, 5);
    let m = manifest(tmp.path(), "pe", "1", "raw", "");
    let publish_event = || {
        let out = recdata(
            &["build", m.to_str().unwrap(), "--data-dir", "data", "--json"],
            tmp.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["type"] == "stage" && v["stage"] == "publish")
            .expect("a publish stage event")
    };
    let first = publish_event();
    assert_eq!(first["cached"], false, "{first}");
    assert_eq!(first["fingerprint"].as_str().unwrap().len(), 64, "{first}");
    let again = publish_event();
    assert_eq!(again["cached"], true, "an unchanged version: {again}");
    assert_eq!(again["fingerprint"], first["fingerprint"]);
}

/// Regression (adversary with the release binary, 2026-12-05): `profiles = false` under
/// `[source]` failed every Last.fm-1K build after the parse with an internal error ("table
/// `users` has 6 fields but 2 columns were given"). The users table keeps its profile columns,
/// all null, and the build publishes.
#[test]
fn lastfm_without_profiles_builds_with_null_profile_columns() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 5, 40, 3);
    let m = manifest(tmp.path(), "np", "1", "raw", "profiles = false\n");
    build_ok(tmp.path(), m.to_str().unwrap());
    let users = tmp.path().join("data/np/1/users.parquet");
    let got = crate::util::py(
        "import sys, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1])\n\
         print(t.num_rows, *[t.column(c).null_count for c in ['gender', 'age', 'country', 'registered']])",
        &[users.to_str().unwrap()],
    );
    let n: Vec<u64> = got.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert!(n[0] > 0, "{got}");
    assert_eq!(n[1..], [n[0]; 4], "every profile column is null: {got}");
}

/// Regression (adversary with the release binary, 2026-12-05): removing a file's entry from a
/// stage's `.files.json` (or emptying it to `{}`) turned off the check for that file, and
/// damage to it was published by the next build. The stages committed whole (normalize,
/// filter, split) now treat a file their record does not list as damage: the stage is rebuilt
/// and the new version equals a fresh build's.
#[test]
fn a_file_left_out_of_a_stage_record_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    synth(&root.join("raw"), 6, 40, 9);
    let loo = "[stages.split]\nmethod = \"leave_one_out\"\n";
    let m1 = manifest(root, "lr", "1", "raw", loo);
    let build = |m: &Path, data: &str| {
        let out = recdata(&["build", m.to_str().unwrap(), "--data-dir", data], root);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    build(&m1, "d");
    let cache = crate::util::stage_cache(&root.join("d/lr"), "normalize");
    // The record loses the interactions' entry, then the file is damaged in place.
    let rec_path = cache.join(".files.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&rec_path).unwrap()).unwrap();
    rec.as_object_mut()
        .unwrap()
        .remove("interactions.parquet")
        .unwrap();
    std::fs::write(&rec_path, rec.to_string()).unwrap();
    let f = cache.join("interactions.parquet");
    let mut bytes = std::fs::read(&f).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x10;
    std::fs::write(&f, bytes).unwrap();

    let m2 = manifest(
        root,
        "lr",
        "2",
        "raw",
        "[stages.filter]\nmin_user_interactions = 2\n[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    let log = build(&m2, "d");
    assert!(
        log.contains("is damaged") && log.contains("is not in its .files.json"),
        "{log}"
    );
    build(&m2, "fresh");
    let published = |data: &str| {
        tree(&root.join(data).join("lr/2"))
            .into_iter()
            .filter(|(p, _)| p.ends_with(".parquet"))
            .collect::<Vec<_>>()
    };
    assert_eq!(published("d"), published("fresh"));
}
