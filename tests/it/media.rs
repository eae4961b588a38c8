//! Item media fetch against a real server: a mix of good, missing, corrupt, oversized, slow and
//! failing images gives the exact status table; --retry-failed redoes only the failures; the
//! media stage publishes the files, the table and the coverage report.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use arrow_array::{Array, Int32Array, StringArray};
use recdata::io::parquet::{column, read_batch};

use crate::fetch::{payload, run};
use crate::server::{Fault, Server};

pub fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x as u8).wrapping_mul(seed), y as u8, seed])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba([1, 2, 3, 255]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

type Row = (String, String, Option<i32>, Option<String>, Option<i32>);

fn status_rows(path: &Path) -> Vec<Row> {
    let b = read_batch(path).unwrap();
    let key: &StringArray = column(&b, "key").unwrap();
    let st: &StringArray = column(&b, "status").unwrap();
    let http: &Int32Array = column(&b, "http_status").unwrap();
    let fmt: &StringArray = column(&b, "format").unwrap();
    let w: &Int32Array = column(&b, "width").unwrap();
    (0..b.num_rows())
        .map(|i| {
            (
                key.value(i).to_string(),
                st.value(i).to_string(),
                (!http.is_null(i)).then(|| http.value(i)),
                (!fmt.is_null(i)).then(|| fmt.value(i).to_string()),
                (!w.is_null(i)).then(|| w.value(i)),
            )
        })
        .collect()
}

#[test]
fn media_fetch_gives_the_exact_status_table() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let good = jpeg(32, 24, 3);
    let expected_sha = recdata::util::hash::sha256_hex(&good);
    s.put("/i/good.jpg", good.clone(), None);
    s.put("/i/good.png", png(7, 5), None);
    // A JPEG cut in half: the header sniffs as JPEG, the decode fails.
    let mut cut = jpeg(64, 64, 9);
    cut.truncate(cut.len() / 2);
    s.put("/i/truncated.jpg", cut, None);
    s.put(
        "/i/html.jpg",
        b"<html><body>Not found</body></html>".to_vec(),
        None,
    );
    s.put("/i/huge.jpg", payload(300_000, 1), None);
    s.put("/i/slow.jpg", jpeg(8, 8, 1), None);
    s.sticky(
        "/i/slow.jpg",
        Fault::Slow {
            chunk: 10,
            delay: Duration::from_millis(900),
        },
    );
    s.put("/i/broken.jpg", good.clone(), None);
    s.sticky("/i/broken.jpg", Fault::Status(500));
    s.put("/i/flaky.jpg", good.clone(), None);
    s.faults("/i/flaky.jpg", vec![Fault::Status(503)]);
    s.put("/i/pinned.jpg", jpeg(16, 16, 5), None);
    let list = [
        ("a", "/i/good.jpg", String::new()),
        ("b", "/i/good.png", String::new()),
        ("c", "/i/missing.jpg", String::new()),
        ("d", "/i/truncated.jpg", String::new()),
        ("e", "/i/html.jpg", String::new()),
        ("f", "/i/huge.jpg", String::new()),
        ("g", "/i/slow.jpg", String::new()),
        ("h", "/i/broken.jpg", String::new()),
        ("i", "/i/flaky.jpg", String::new()),
        ("j", "/i/pinned.jpg", expected_sha.clone()),
        ("k", "/i/good.jpg", expected_sha.clone()),
    ];
    let tsv: String = std::iter::once("key\turl\tsha256\n".to_string())
        .chain(
            list.iter()
                .map(|(k, p, h)| format!("{k}\t{}\t{h}\n", s.url(p))),
        )
        .collect();
    std::fs::write(t.path().join("urls.tsv"), tsv).unwrap();
    let cache = t.path().join("cache");
    let args = [
        "media",
        "urls.tsv",
        "--out",
        "status.parquet",
        "--max-bytes",
        "100000",
        "--timeout",
        "0.5",
        "--retries",
        "2",
    ];
    let o = run(&args, t.path(), &cache);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = status_rows(&t.path().join("status.parquet"));
    let r = |k: &str, st: &str, http: Option<i32>, fmt: Option<&str>, w: Option<i32>| -> Row {
        (k.into(), st.into(), http, fmt.map(str::to_owned), w)
    };
    assert_eq!(
        rows,
        vec![
            r("a", "ok", Some(200), Some("jpeg"), Some(32)),
            r("b", "ok", Some(200), Some("png"), Some(7)),
            r("c", "http_error", Some(404), None, None),
            r("d", "not_image", Some(200), None, None),
            r("e", "not_image", Some(200), None, None),
            r("f", "too_large", Some(200), None, None),
            r("g", "timeout", Some(200), None, None),
            r("h", "http_error", Some(500), None, None),
            r("i", "ok", Some(200), Some("jpeg"), Some(32)),
            r("j", "checksum_mismatch", Some(200), None, None),
            r("k", "ok", Some(200), Some("jpeg"), Some(32)),
        ]
    );
    // 404 is final (one request); 500 is retried (two); the flaky 503 recovered.
    assert_eq!(s.log_for("/i/missing.jpg").len(), 1);
    assert_eq!(s.log_for("/i/broken.jpg").len(), 2);
    assert_eq!(s.log_for("/i/flaky.jpg").len(), 2);
    // The verified bytes are in the cache under their sha256.
    let blob = cache
        .join("blobs/sha256")
        .join(&expected_sha[..2])
        .join(&expected_sha);
    assert_eq!(std::fs::read(blob).unwrap(), good);

    // Re-run: everything is in the journal, nothing is requested.
    s.clear_log();
    let o = run(&args, t.path(), &cache);
    assert!(o.status.success());
    assert!(s.log().is_empty(), "{:?}", s.log());
    assert_eq!(status_rows(&t.path().join("status.parquet")), rows);

    // Fix the server; --retry-failed touches only the failures.
    s.put("/i/missing.jpg", jpeg(4, 4, 2), None);
    s.sticky("/i/broken.jpg", Fault::WrongBytes(good.clone()));
    s.clear_log();
    let mut retry = args.to_vec();
    retry.push("--retry-failed");
    let o = run(&retry, t.path(), &cache);
    assert!(o.status.success());
    let asked: std::collections::BTreeSet<String> = s.log().into_iter().map(|e| e.path).collect();
    for ok in ["/i/good.jpg", "/i/good.png", "/i/flaky.jpg"] {
        assert!(!asked.contains(ok), "{ok} was fetched again");
    }
    assert!(asked.contains("/i/missing.jpg") && asked.contains("/i/broken.jpg"));
    let rows2 = status_rows(&t.path().join("status.parquet"));
    assert_eq!(rows2[2].1, "ok");
    assert_eq!(rows2[7].1, "ok");
    assert_eq!(rows2[3].1, "not_image");
}

#[test]
fn media_stage_publishes_files_table_and_coverage() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    crate::util::synth(&t.path().join("raw"), 5, 30, 4);
    // Covers for every item id except multiples of 3 (404) and 4 (corrupt).
    for id in 0..2000u32 {
        if id.is_multiple_of(3) {
            continue;
        }
        let body = if id.is_multiple_of(4) {
            b"GIF89a-not-really".to_vec()
        } else {
            jpeg(8 + id % 5, 8, id as u8)
        };
        s.put(&format!("/covers/{id}.jpg"), body, None);
    }
    let stages = format!(
        "[stages.filter]\nmin_user_interactions = 1\nmin_item_interactions = 1\n\n[[stages.media]]\nmodality = \"image\"\nurl = \"{}\"\nretries = 1\n",
        s.url("/covers/{item_id}.jpg")
    );
    let m = crate::util::manifest(t.path(), "covers", "1", "raw", &stages);
    let cache = t.path().join("cache");
    let o = run(&["build", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v = t.path().join("data/covers/1");
    let b = read_batch(&v.join("media.parquet")).unwrap();
    let ids: &arrow_array::UInt32Array = column(&b, "item_id").unwrap();
    let paths: &StringArray = column(&b, "path").unwrap();
    let statuses = arrow_cast_strings(&b, "status");
    assert!(b.num_rows() > 10);
    for (i, status) in statuses.iter().enumerate() {
        let id = ids.value(i);
        let want = if id.is_multiple_of(3) {
            "http_error"
        } else if id.is_multiple_of(4) {
            "not_image"
        } else {
            "ok"
        };
        assert_eq!(status, want, "item {id}");
        if want == "ok" {
            let p = v.join(paths.value(i));
            assert_eq!(p.extension().unwrap(), "jpg");
            assert!(image::open(&p).is_ok());
        } else {
            assert!(paths.is_null(i));
        }
    }
    // media.parquet (and every other table) has the canonical schema as pyarrow reads it.
    assert_eq!(crate::pyarrow::check_with_pyarrow(&v), 7);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join("dataset.json")).unwrap()).unwrap();
    let cov = &doc["media_coverage"][0];
    assert_eq!(cov["modality"], "image");
    assert_eq!(cov["items"].as_u64().unwrap(), b.num_rows() as u64);
    let card = std::fs::read_to_string(v.join("README.md")).unwrap();
    assert!(card.contains("## Modality coverage"), "{card}");
    assert!(card.contains("http_error:"));
    let o = run(&["inspect", v.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("media       image:") && text.contains("missing: http_error"),
        "{text}"
    );
    // A rebuild into another store (fetching again) is byte-identical.
    let o = run(
        &["build", m.to_str().unwrap(), "--data-dir", "data2"],
        t.path(),
        &cache,
    );
    assert!(o.status.success());
    assert_eq!(
        crate::util::tree(&v),
        crate::util::tree(&t.path().join("data2/covers/1"))
    );
    // Fix some covers upstream; a new version built with --retry-failed asks only for the
    // failures (the journal is shared by versions of the same items).
    for id in (0..2000u32).filter(|i| i.is_multiple_of(3)) {
        s.put(&format!("/covers/{id}.jpg"), jpeg(9, 9, 1), None);
    }
    s.clear_log();
    let m2 = crate::util::manifest(t.path(), "covers", "2", "raw", &stages);
    let o = run(
        &["build", m2.to_str().unwrap(), "--retry-failed"],
        t.path(),
        &cache,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let failed_before: std::collections::BTreeSet<String> = ids
        .iter()
        .zip(&statuses)
        .filter(|(_, st)| *st != "ok")
        .map(|(id, _)| format!("/covers/{}.jpg", id.unwrap()))
        .collect();
    let asked: std::collections::BTreeSet<String> = s.log().into_iter().map(|e| e.path).collect();
    assert_eq!(asked, failed_before);
    let b2 = read_batch(&t.path().join("data/covers/2/media.parquet")).unwrap();
    let st2 = arrow_cast_strings(&b2, "status");
    let ids2: &arrow_array::UInt32Array = column(&b2, "item_id").unwrap();
    for (i, st) in st2.iter().enumerate() {
        let id = ids2.value(i);
        // Items that were 404 now have covers; the corrupt ones are still corrupt.
        let want = if id.is_multiple_of(4) && !id.is_multiple_of(3) {
            "not_image"
        } else {
            "ok"
        };
        assert_eq!(st, want, "item {id} after --retry-failed");
    }
    // Version 1 is untouched.
    assert_eq!(
        arrow_cast_strings(&read_batch(&v.join("media.parquet")).unwrap(), "status"),
        statuses
    );
}

fn arrow_cast_strings(b: &arrow_array::RecordBatch, name: &str) -> Vec<String> {
    let c = b.column_by_name(name).unwrap();
    let d = c
        .as_any()
        .downcast_ref::<arrow_array::Int32DictionaryArray>()
        .unwrap();
    let values: &StringArray = d.values().as_any().downcast_ref().unwrap();
    d.keys()
        .iter()
        .map(|k| values.value(k.unwrap() as usize).to_string())
        .collect()
}

#[test]
fn killed_media_fetch_resumes_without_refetching_finished_items() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let mut tsv = String::new();
    for i in 0..24u32 {
        let path = format!("/m/{i}.jpg");
        let img = jpeg(16, 16, i as u8);
        s.put(&path, img.clone(), None);
        s.sticky(
            &path,
            Fault::Slow {
                chunk: img.len() / 4 + 1,
                delay: Duration::from_millis(60),
            },
        );
        tsv += &format!("k{i}\t{}\n", s.url(&path));
    }
    std::fs::write(t.path().join("urls.tsv"), tsv).unwrap();
    let cache = t.path().join("cache");
    let args = [
        "media",
        "urls.tsv",
        "--out",
        "st.parquet",
        "--concurrency",
        "2",
    ];
    let journal = t.path().join("st.parquet.journal.jsonl");
    let mut child = std::process::Command::new(crate::util::bin())
        .args(args)
        .current_dir(t.path())
        .env("RECDATA_CACHE", &cache)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&journal)
        .map(|j| j.lines().count())
        .unwrap_or(0)
        < 5
    {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL, mid-item
    child.wait().unwrap();
    let done: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["url"].as_str().unwrap().to_string())
        .collect();
    assert!(done.len() >= 5 && done.len() < 24, "{}", done.len());
    assert!(!t.path().join("st.parquet").exists());
    s.clear_log();
    let o = run(&args, t.path(), &cache);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let asked: Vec<String> = s.log().into_iter().map(|e| s.url(&e.path)).collect();
    for u in &done {
        assert!(
            !asked.contains(u),
            "{u} was finished before the kill but fetched again"
        );
    }
    assert_eq!(asked.len() + done.len(), 24);
    let rows = status_rows(&t.path().join("st.parquet"));
    assert_eq!(rows.len(), 24);
    assert!(rows.iter().all(|r| r.1 == "ok"), "{rows:?}");
}
