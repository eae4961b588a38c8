//! AgroSense: golden tables from the synthetic fixture, one test per quirk, the pairing modes,
//! row accounting and the canonical schemas as pyarrow reads them.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::util::{python, recdata, tree};

/// Runs `code` with pyarrow/numpy available and `rows(path)` defined; returns its stdout as JSON.
pub fn py_json(code: &str, args: &[&str]) -> Value {
    let prelude = r#"
import json, sys, pyarrow as pa, pyarrow.parquet as pq
def rows(path):
    t = pq.read_table(path)
    for i, f in enumerate(t.schema):
        if pa.types.is_timestamp(f.type):
            t = t.set_column(i, f.name, t.column(i).cast(pa.int64()))
    out = t.to_pylist()
    for r in out:
        for k, v in r.items():
            if isinstance(v, bytes):
                r[k] = v.decode("latin-1")
    return out
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(format!("{prelude}\n{code}"))
        .args(args)
        .output()
        .expect("python3 with pyarrow");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// Writes `<name>.toml` for an `agrosense` corpus in `raw`.
pub fn manifest(dir: &Path, name: &str, corpus: &str, raw: &str, source: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "[dataset]\nname = \"{name}\"\nversion = \"1\"\n\n[source]\ncorpus = \"{corpus}\"\npath = \"{raw}\"\n{source}\n"
        ),
    )
    .unwrap();
    p
}

/// Builds `m` into `dir/data`; returns the version folder (panics with stderr on failure).
pub fn build(dir: &Path, m: &Path) -> PathBuf {
    let out = recdata(&["build", m.to_str().unwrap(), "--data-dir", "data"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = m.file_stem().unwrap().to_str().unwrap();
    dir.join("data").join(name).join("1")
}

/// A published table's rows as pyarrow reads them.
pub fn table(v: &Path, t: &str) -> Value {
    py_json(
        "print(json.dumps(rows(sys.argv[1])))",
        &[v.join(t).to_str().unwrap()],
    )
}

pub fn dataset_json(v: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(v.join("dataset.json")).unwrap()).unwrap()
}

fn synth(out: &Path, rows: u32, seed: u64) {
    recdata::synth::agrosense::write(
        out,
        &recdata::synth::agrosense::Options {
            rows,
            seed,
            duplicates: false,
        },
    )
    .unwrap();
}

const PAIRED: &str = "pairing = \"random-by-class\"\nseed = 42\n";

/// (path under the source folder, sniffed format, extension, split, class) of every image the
/// fixture holds, in image-id order.
const IMAGES: &[(&str, &str, &str, Option<&str>, &str)] = &[
    (
        "Soil Image Dataset/Train/Alluvial soil/Alluvial-Soil..png",
        "png",
        "png",
        Some("Train"),
        "Alluvial soil",
    ),
    (
        "Soil Image Dataset/Train/Alluvial soil/Copy of IMG-20220531-WA0069.jpg",
        "jpeg",
        "jpg",
        Some("Train"),
        "Alluvial soil",
    ),
    (
        "Soil Image Dataset/Train/Alluvial soil/images (3).jpeg",
        "jpeg",
        "jpeg",
        Some("Train"),
        "Alluvial soil",
    ),
    (
        "Soil Image Dataset/Train/Black Soil/black soil (12).gif",
        "webp",
        "gif",
        Some("Train"),
        "Black Soil",
    ),
    (
        "Soil Image Dataset/Train/Black Soil/photo_2022-06-01_07-06-52.jpg",
        "webp",
        "jpg",
        Some("Train"),
        "Black Soil",
    ),
    (
        "Soil Image Dataset/Train/Clay soil/2560px-A_red_soil_crop_field.JPG.jpg",
        "jpeg",
        "jpg",
        Some("Train"),
        "Clay soil",
    ),
    (
        "Soil Image Dataset/Train/Clay soil/clay1.webp",
        "webp",
        "webp",
        Some("Train"),
        "Clay soil",
    ),
    (
        "Soil Image Dataset/Train/Red soil/Copy of Copy of red soil 4.jpg",
        "jpeg",
        "jpg",
        Some("Train"),
        "Red soil",
    ),
    (
        "Soil Image Dataset/Train/Red soil/Sample12.90.jpg",
        "png",
        "jpg",
        Some("Train"),
        "Red soil",
    ),
    (
        "Soil Image Dataset/test/Alluvial soil/alluvial 7.jpg",
        "jpeg",
        "jpg",
        Some("test"),
        "Alluvial soil",
    ),
    (
        "Soil Image Dataset/test/Black Soil/Black_Soil_12.gif",
        "webp",
        "gif",
        Some("test"),
        "Black Soil",
    ),
    (
        "Soil Image Dataset/test/Black Soil/IMG-20220601-WA0003.jpg",
        "jpeg",
        "jpg",
        Some("test"),
        "Black Soil",
    ),
    (
        "Soil Image Dataset/test/Clay soil/clay (2).jpg",
        "jpeg",
        "jpg",
        Some("test"),
        "Clay soil",
    ),
    (
        "Soil Image Dataset/test/Red soil/red-soil.jpg",
        "jpeg",
        "jpg",
        Some("test"),
        "Red soil",
    ),
    (
        "Soil types/Black Soil/1.jpg",
        "jpeg",
        "jpg",
        None,
        "Black Soil",
    ),
    (
        "Soil types/Black Soil/2.jpg",
        "jpeg",
        "jpg",
        None,
        "Black Soil",
    ),
    (
        "Soil types/Cinder Soil/1.jpg",
        "jpeg",
        "jpg",
        None,
        "Cinder Soil",
    ),
    (
        "Soil types/Laterite Soil/1.jpg",
        "jpeg",
        "jpg",
        None,
        "Laterite Soil",
    ),
    (
        "Soil types/Peat Soil/1.jpg",
        "jpeg",
        "jpg",
        None,
        "Peat Soil",
    ),
    (
        "Soil types/Yellow Soil/1.jpg",
        "jpeg",
        "jpg",
        None,
        "Yellow Soil",
    ),
];

#[test]
fn golden_synth_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 24, 1);
    let v = build(
        tmp.path(),
        &manifest(tmp.path(), "g", "agrosense", "raw", ""),
    );

    // samples + labels, checked against an independent reading of the CSVs by Python's csv
    // module (floats by Python's float(), the features as the row's own text).
    let problems = py_json(
        r#"
import csv, io
root, raw = sys.argv[1], sys.argv[2]
samples = rows(f"{root}/samples.parquet")
labels = {r["sample_id"]: r["item_id"] for r in rows(f"{root}/labels.parquet")}
items = {r["item_id"]: r["raw_id"] for r in rows(f"{root}/items.parquet")}
expected = []
for name in ["Crop_recommendation.csv", "dataset.csv",
             "Crop Recommendation using Soil Properties and Weather Prediction.csv"]:
    text = open(f"{raw}/{name}", encoding="utf-8-sig").read()
    for r in csv.DictReader(io.StringIO(text)):
        expected.append((name, r))
problems = []
if len(samples) != len(expected):
    problems.append(["count", len(samples), len(expected)])
for s, (name, r) in zip(samples, expected):
    label = r.pop("label")
    feats = json.loads(s["features"])
    want = {}
    for k, t in r.items():
        try:
            want[k] = json.loads(t)
        except ValueError:
            want[k] = t
    if s["source_file"] != name or feats != want or list(feats) != list(r) or items[labels[s["sample_id"]]] != label:
        problems.append([s, name, r, label])
    # numbers are the file's text verbatim
    for k, t in r.items():
        if t[:1].isdigit() and f'"{k}":{t}' not in s["features"]:
            problems.append(["verbatim", k, t, s["features"]])
    if name == "Crop_recommendation.csv":
        typed = [s["n"], s["p"], s["k"], s["temperature"], s["humidity"], s["ph"], s["rainfall"]]
        want = [int(r["N"]), int(r["P"]), int(r["K"])] + [float(r[c]) for c in ["temperature", "humidity", "ph", "rainfall"]]
        if typed != want:
            problems.append(["typed", typed, want])
    elif any(s[c] is not None for c in ["n", "p", "k", "temperature", "humidity", "ph", "rainfall"]):
        problems.append(["typed not null", s])
print(json.dumps({"problems": problems, "ids": [s["sample_id"] for s in samples]}))
"#,
        &[v.to_str().unwrap(), raw.to_str().unwrap()],
    );
    assert_eq!(problems["problems"], json!([]));
    assert_eq!(problems["ids"], json!((0..44).collect::<Vec<u64>>()));

    // The first row of the real file, exactly.
    let first = py_json(
        "print(json.dumps(rows(sys.argv[1] + '/samples.parquet')[0]))",
        &[v.to_str().unwrap()],
    );
    assert_eq!(
        first,
        json!({"sample_id": 0, "source_file": "Crop_recommendation.csv",
            "features": "{\"N\":90,\"P\":42,\"K\":43,\"temperature\":20.87974371,\"humidity\":82.00274423,\"ph\":6.502985292000001,\"rainfall\":202.9355362}",
            "n": 90, "p": 42, "k": 43, "temperature": 20.87974371, "humidity": 82.00274423,
            "ph": 6.502985292000001, "rainfall": 202.9355362})
    );

    // items: every label of the three files, dense ids in raw-id order, title = label.
    let items = py_json(
        "print(json.dumps(rows(sys.argv[1] + '/items.parquet')))",
        &[v.to_str().unwrap()],
    );
    let names = [
        "Barley",
        "Maize",
        "Teff",
        "Wheat",
        "chickpea",
        "grapes",
        "maize",
        "mango",
        "mulberry",
        "pomegranate",
        "potato",
        "ragi",
        "rice",
    ];
    let want: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"item_id": i, "raw_id": n, "title": n}))
        .collect();
    assert_eq!(items, Value::Array(want));

    // soil_images: exact rows; dimensions and sha256 from a full decode / hash of each file.
    let imgs = py_json(
        "print(json.dumps(rows(sys.argv[1] + '/soil_images.parquet')))",
        &[v.to_str().unwrap()],
    );
    let want: Vec<Value> = IMAGES
        .iter()
        .enumerate()
        .map(|(i, (path, format, ext, split, class))| {
            let bytes = std::fs::read(raw.join(path)).unwrap();
            let img = image::load_from_memory(&bytes).unwrap();
            use sha2::Digest;
            json!({
                "image_id": i,
                "dataset": if split.is_some() { "soil-image-dataset" } else { "soil-types" },
                "split": split,
                "soil_class": class,
                "path": path,
                "format": format,
                "extension": ext,
                "width": img.width(),
                "height": img.height(),
                "bytes": bytes.len(),
                "sha256": hex::encode(sha2::Sha256::digest(&bytes)),
            })
        })
        .collect();
    // phash: every decodable image has one (its bits against Python imagehash are checked in
    // agrosense_audit.rs); the other columns exactly.
    let mut imgs = imgs;
    for r in imgs.as_array_mut().unwrap() {
        let h = r.as_object_mut().unwrap().remove("phash");
        assert!(h.is_some_and(|h| h.is_u64()), "{r}");
    }
    assert_eq!(imgs, Value::Array(want));

    // No users, no interactions; no pairing table unless asked for.
    let doc = dataset_json(&v);
    let files: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "interactions.parquet",
            "item_map.parquet",
            "items.parquet",
            "labels.parquet",
            "rejects.parquet",
            "samples.parquet",
            "soil_images.parquet",
            "user_map.parquet",
            "users.parquet"
        ]
    );
    assert_eq!(doc["statistics"]["rows"], 0);
    assert_eq!(doc["accounting"]["filter"]["items"], 13);
}

#[test]
fn bom_is_stripped_from_every_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 24, 2);
    assert!(
        std::fs::read(raw.join("dataset.csv"))
            .unwrap()
            .starts_with(b"\xef\xbb\xbfN,P,K,ph,"),
        "the fixture's dataset.csv has a BOM"
    );
    // Also put one on the main file: its header must still be recognised.
    let crop = raw.join("Crop_recommendation.csv");
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(std::fs::read(&crop).unwrap());
    std::fs::write(&crop, bytes).unwrap();
    let v = build(
        tmp.path(),
        &manifest(
            tmp.path(),
            "b",
            "agrosense",
            "raw",
            "soil_images = \"skip\"",
        ),
    );
    let keys = py_json(
        r#"
s = rows(sys.argv[1] + "/samples.parquet")
print(json.dumps({f: list(json.loads(r["features"]))[0] for r in s for f in [r["source_file"]]}))
"#,
        &[v.to_str().unwrap()],
    );
    assert_eq!(
        keys,
        json!({"Crop_recommendation.csv": "N", "dataset.csv": "N",
            "Crop Recommendation using Soil Properties and Weather Prediction.csv": "Soilcolor"})
    );
    let doc = dataset_json(&v);
    assert_eq!(doc["accounting"]["raw"]["dataset.csv"]["rows"], 12);
    assert_eq!(
        doc["accounting"]["raw"]["Crop_recommendation.csv"]["rows"],
        24
    );
}

fn soil_row<'a>(imgs: &'a Value, path: &str) -> &'a Value {
    imgs.as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("{path} not in soil_images"))
}

fn built_soil_images(tag: &str) -> (tempfile::TempDir, Value) {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 24, 3);
    let v = build(
        tmp.path(),
        &manifest(tmp.path(), tag, "agrosense", "raw", "variants = \"skip\""),
    );
    let imgs = py_json(
        "print(json.dumps(rows(sys.argv[1] + '/soil_images.parquet')))",
        &[v.to_str().unwrap()],
    );
    (tmp, imgs)
}

#[test]
fn disguised_files_are_sniffed_by_magic_bytes() {
    let (tmp, imgs) = built_soil_images("m");
    let raw = tmp.path().join("raw");
    // (file, what it really is, the PNG colour type where it is a PNG)
    for (path, format, png_type) in [
        (
            "Soil Image Dataset/Train/Black Soil/photo_2022-06-01_07-06-52.jpg",
            "webp",
            None,
        ),
        (
            "Soil Image Dataset/Train/Red soil/Sample12.90.jpg",
            "png",
            Some(3u8),
        ),
        (
            "Soil Image Dataset/Train/Black Soil/black soil (12).gif",
            "webp",
            None,
        ),
        (
            "Soil Image Dataset/test/Black Soil/Black_Soil_12.gif",
            "webp",
            None,
        ),
        (
            "Soil Image Dataset/Train/Alluvial soil/Alluvial-Soil..png",
            "png",
            Some(6u8),
        ),
        (
            "Soil Image Dataset/Train/Clay soil/clay1.webp",
            "webp",
            None,
        ),
    ] {
        let bytes = std::fs::read(raw.join(path)).unwrap();
        if let Some(t) = png_type {
            assert_eq!(bytes[25], t, "{path}: PNG colour type in IHDR");
        }
        let r = soil_row(&imgs, path);
        assert_eq!(r["format"], format, "{path}");
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(u64::from(img.width())), Some(u64::from(img.height()))),
            "{path}"
        );
    }
    let formats: std::collections::BTreeMap<String, usize> =
        imgs.as_array()
            .unwrap()
            .iter()
            .fold(Default::default(), |mut m, r| {
                *m.entry(r["format"].as_str().unwrap().to_owned())
                    .or_default() += 1;
                m
            });
    assert_eq!(
        formats,
        [("jpeg", 14), ("png", 2), ("webp", 4)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    );
}

#[test]
fn odd_file_names_are_kept_as_written() {
    let (_tmp, imgs) = built_soil_images("n");
    for (path, ext) in [
        (
            "Soil Image Dataset/Train/Alluvial soil/images (3).jpeg",
            "jpeg",
        ),
        (
            "Soil Image Dataset/Train/Alluvial soil/Copy of IMG-20220531-WA0069.jpg",
            "jpg",
        ),
        (
            "Soil Image Dataset/Train/Red soil/Copy of Copy of red soil 4.jpg",
            "jpg",
        ),
        (
            "Soil Image Dataset/Train/Clay soil/2560px-A_red_soil_crop_field.JPG.jpg",
            "jpg",
        ),
        (
            "Soil Image Dataset/Train/Alluvial soil/Alluvial-Soil..png",
            "png",
        ),
        ("Soil Image Dataset/Train/Red soil/Sample12.90.jpg", "jpg"),
        ("Soil Image Dataset/test/Clay soil/clay (2).jpg", "jpg"),
    ] {
        assert_eq!(soil_row(&imgs, path)["extension"], ext, "{path}");
    }
    // Ids follow byte order of the paths (capital `Train` sorts before `test`).
    let paths: Vec<&str> = imgs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted);
}

#[test]
fn non_image_file_is_rejected_and_accounted() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    synth(&raw, 24, 4);
    // Two more broken files: a truncated JPEG header and a stray file outside the class folders.
    std::fs::write(
        raw.join("Soil Image Dataset/Train/Red soil/cut.jpg"),
        b"\xff\xd8\xff\xe0\x00\x10JF",
    )
    .unwrap();
    std::fs::write(raw.join("Soil types/readme.jpg"), {
        let img = image::RgbImage::new(4, 4);
        let mut b = std::io::Cursor::new(Vec::new());
        img.write_to(&mut b, image::ImageFormat::Png).unwrap();
        b.into_inner()
    })
    .unwrap();
    let v = build(
        tmp.path(),
        &manifest(tmp.path(), "x", "agrosense", "raw", "variants = \"skip\""),
    );
    let rej = py_json(
        "print(json.dumps(rows(sys.argv[1] + '/rejects.parquet')))",
        &[v.to_str().unwrap()],
    );
    let got: Vec<(String, u64, String)> = rej
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["source_file"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "Soil Image Dataset/Train/Red soil/cut.jpg".to_owned(),
                0,
                "bad_image".to_owned()
            ),
            (
                "Soil Image Dataset/test/Red soil/download.jpg".to_owned(),
                0,
                "not_image".to_owned()
            ),
            (
                "Soil types/readme.jpg".to_owned(),
                0,
                "unexpected_location".to_owned()
            ),
        ]
    );
    assert!(
        rej[1]["raw"]
            .as_str()
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    let doc = dataset_json(&v);
    let a = &doc["accounting"]["raw"];
    assert_eq!(
        (
            &a["Soil Image Dataset/"]["lines"],
            &a["Soil Image Dataset/"]["rows"],
            &a["Soil Image Dataset/"]["rejected"]
        ),
        (&json!(16), &json!(14), &json!(2))
    );
    assert_eq!(
        (&a["Soil types/"]["lines"], &a["Soil types/"]["rejected"]),
        (&json!(7), &json!(1))
    );
    assert_eq!(
        doc["accounting"]["rejected"],
        json!({"bad_image": 1, "not_image": 1, "unexpected_location": 1})
    );
}

#[test]
fn pairing_none_writes_no_pairs_and_random_by_class_matches_numpy() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 30, 5);
    let none = build(
        tmp.path(),
        &manifest(tmp.path(), "none", "agrosense", "raw", "pairing = \"none\""),
    );
    assert!(!none.join("sample_soil.parquet").exists());
    assert!(
        !dataset_json(&none)["accounting"]["normalized_tables"]
            .as_object()
            .unwrap()
            .contains_key("sample_soil")
    );

    let a = build(
        tmp.path(),
        &manifest(tmp.path(), "a", "agrosense", "raw", PAIRED),
    );
    let b = build(
        tmp.path(),
        &manifest(tmp.path(), "b", "agrosense", "raw", PAIRED),
    );
    assert_eq!(
        table(&a, "sample_soil.parquet"),
        table(&b, "sample_soil.parquet"),
        "same seed, same pairs"
    );
    // The notebook's own draw: np.random.seed(42); np.random.randint(0, 4, size=len(df)), classes
    // in ImageFolder order; each image is of the drawn class and from the Train split.
    let check = py_json(
        r#"
import numpy as np
root = sys.argv[1]
pairs = rows(f"{root}/sample_soil.parquet")
imgs = {r["image_id"]: r for r in rows(f"{root}/soil_images.parquet")}
classes = sorted({r["soil_class"] for r in imgs.values() if r["dataset"] == "soil-image-dataset"})
np.random.seed(42)
want = np.random.randint(0, len(classes), size=len(pairs)).tolist()
bad = [p for p, w in zip(pairs, want)
       if p["soil_class_index"] != w or p["soil_class"] != classes[w]
       or imgs[p["soil_image_id"]]["soil_class"] != p["soil_class"]
       or imgs[p["soil_image_id"]]["split"] != "Train"]
print(json.dumps({"bad": bad, "n": len(pairs), "classes": classes,
                  "ids": [p["sample_id"] for p in pairs],
                  "images": len({p["soil_image_id"] for p in pairs})}))
"#,
        &[a.to_str().unwrap()],
    );
    assert_eq!(check["bad"], json!([]));
    assert_eq!(check["n"], 50, "30 + 12 + 8 samples");
    assert_eq!(check["ids"], json!((0..50).collect::<Vec<u64>>()));
    assert_eq!(
        check["classes"],
        json!(["Alluvial soil", "Black Soil", "Clay soil", "Red soil"])
    );
    assert!(check["images"].as_u64().unwrap() > 4, "{check}");

    // Another seed, other pairs; `all` draws from the test split too.
    let c = build(
        tmp.path(),
        &manifest(
            tmp.path(),
            "c",
            "agrosense",
            "raw",
            "pairing = \"random-by-class\"\nseed = 7\npairing_split = \"all\"",
        ),
    );
    assert_ne!(
        table(&a, "sample_soil.parquet"),
        table(&c, "sample_soil.parquet")
    );
}

#[test]
fn pairing_options_are_never_silent() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 24, 6);
    let m = manifest(tmp.path(), "s", "agrosense", "raw", "seed = 3");
    let out = recdata(&["validate", m.to_str().unwrap()], tmp.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("only applies to `pairing = \"random-by-class\"`"),
        "{err}"
    );

    let m = manifest(
        tmp.path(),
        "t",
        "agrosense",
        "raw",
        "pairing = \"random-by-class\"\nsoil_images = \"skip\"",
    );
    let out = recdata(&["validate", m.to_str().unwrap()], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs the soil images"));

    // A split that does not exist: the build says so instead of pairing nothing.
    let m = manifest(
        tmp.path(),
        "u",
        "agrosense",
        "raw",
        "pairing = \"random-by-class\"\npairing_split = \"Valid\"",
    );
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no image") && err.contains("Train, test"),
        "{err}"
    );
}

#[test]
fn bad_rows_are_rejected_and_a_bad_header_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let lines = [
        "N,P,K,temperature,humidity,ph,rainfall,label",
        "90,42,43,20.87974371,82.00274423,6.502985292000001,202.9355362,rice",
        "85,58,41,21.77046169,80.31964408,7.038096361,226.6555374,rice",
        "",
        "60,55,44,23.00445915,82.3207629,7.840207144,263.9642476,",
        "74,35,40,26.49109635,80.15836264,6.980400905,242.8640342",
        "78,42,42,20.13017482,81.60487287,7.628472891,262.7173405,rice,extra",
        "69,3x,23,29.9,80.2,7.0,200.1,maize",
        "69,37,23,nan,80.2,7.0,200.1,maize",
        "69,37,23,29.9,80.2,7.0,200.1,\"maize",
        "71,54,16,22.61359953,63.69070564,5.749914421,87.75953857,maize",
    ];
    std::fs::write(raw.join("Crop_recommendation.csv"), lines.join("\n") + "\n").unwrap();
    let v = build(
        tmp.path(),
        &manifest(tmp.path(), "r", "agrosense", "raw", ""),
    );
    let rej = py_json(
        "print(json.dumps([(r['line'], r['reason']) for r in rows(sys.argv[1] + '/rejects.parquet')]))",
        &[v.to_str().unwrap()],
    );
    assert_eq!(
        rej,
        json!([
            [5, "empty_label"],
            [6, "field_count"],
            [7, "field_count"],
            [8, "bad_number"],
            [9, "bad_number"],
            [10, "bad_quote"]
        ])
    );
    let doc = dataset_json(&v);
    assert_eq!(
        doc["accounting"]["raw"]["Crop_recommendation.csv"],
        json!({"file": "Crop_recommendation.csv", "lines": 11, "header": 1, "rows": 3,
            "rejected": 6, "skipped": 1, "repaired": 0})
    );
    assert!(!v.join("soil_images.parquet").exists(), "no soil folders");

    std::fs::write(
        raw.join("Crop_recommendation.csv"),
        "N,P,K,temp,humidity,ph,rainfall,label\n1,2,3,4.0,5.0,6.0,7.0,rice\n",
    )
    .unwrap();
    let m = manifest(tmp.path(), "h", "agrosense", "raw", "");
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Crop_recommendation.csv")
            && err.contains("line 1")
            && err.contains("N,P,K,temperature,humidity,ph,rainfall,label"),
        "{err}"
    );

    // A soil folder named in the manifest must exist, even with `soil_images = "auto"`.
    let m = manifest(
        tmp.path(),
        "k",
        "agrosense",
        "raw",
        "soil_image_dir = \"Dataset\"",
    );
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Dataset"));

    // Required variants that are missing: an error naming the file.
    let m = manifest(
        tmp.path(),
        "q",
        "agrosense",
        "raw",
        "variants = \"require\"",
    );
    let out = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        tmp.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dataset.csv"));
}

#[test]
fn repo_snapshot_layout_and_reconciliation() {
    // The codeload tarball with strip_components = 1 leaves everything under Datasets/.
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw/Datasets"), 40, 8);
    let v = build(
        tmp.path(),
        &manifest(tmp.path(), "rec", "agrosense", "raw", PAIRED),
    );
    let doc = dataset_json(&v);
    let acc = &doc["accounting"];
    let mut total_rejected = 0;
    for (file, a) in acc["raw"].as_object().unwrap() {
        let n = |k: &str| a[k].as_u64().unwrap();
        assert_eq!(
            n("lines"),
            n("header") + n("skipped") + n("rows") + n("rejected"),
            "{file}"
        );
        total_rejected += n("rejected");
    }
    assert_eq!(
        total_rejected,
        acc["rejected"]
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_u64().unwrap())
            .sum::<u64>()
    );
    let csv_rows: u64 = [
        "Crop_recommendation.csv",
        "dataset.csv",
        "Crop Recommendation using Soil Properties and Weather Prediction.csv",
    ]
    .iter()
    .map(|f| acc["raw"][*f]["rows"].as_u64().unwrap())
    .sum();
    let t = &acc["normalized_tables"];
    assert_eq!(t["samples"], csv_rows);
    assert_eq!(t["labels"], csv_rows);
    assert_eq!(t["sample_soil"], csv_rows);
    assert_eq!(
        t["soil_images"].as_u64().unwrap(),
        acc["raw"]["Soil Image Dataset/"]["rows"].as_u64().unwrap()
            + acc["raw"]["Soil types/"]["rows"].as_u64().unwrap()
    );
    for f in doc["files"].as_array().unwrap() {
        if let Some(n) = t.get(f["table"].as_str().unwrap()) {
            assert_eq!(&f["rows"], n, "{f}");
        }
    }
    // 40 rows → 3 crops in contiguous blocks, plus 6 + 4 variant labels.
    assert_eq!(acc["filter"]["items"], 13);
    assert_eq!(crate::pyarrow::check_with_pyarrow(&v), 10);
}

#[test]
fn synth_is_deterministic_and_the_crop_file_is_byte_faithful() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("a"), 24, 9);
    synth(&tmp.path().join("b"), 24, 9);
    synth(&tmp.path().join("c"), 24, 10);
    assert_eq!(tree(&tmp.path().join("a")), tree(&tmp.path().join("b")));
    assert_ne!(tree(&tmp.path().join("a")), tree(&tmp.path().join("c")));
    let text = std::fs::read_to_string(tmp.path().join("a/Crop_recommendation.csv")).unwrap();
    assert!(text.starts_with(
        "N,P,K,temperature,humidity,ph,rainfall,label\n90,42,43,20.87974371,82.00274423,6.502985292000001,202.9355362,rice\n"
    ));
    assert!(text.ends_with('\n') && !text.contains('\r') && !text.contains('"'));
    let labels: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    let mut blocks = labels.clone();
    blocks.dedup();
    assert_eq!(blocks, ["rice", "maize", "chickpea"], "contiguous blocks");
    // Floats with long repr artifacts besides the first row's.
    assert!(
        text.lines()
            .skip(2)
            .any(|l| l.split(',').any(|f| f.len() >= 17 && f.contains('.'))),
        "{text}"
    );
    // The full-size shape: 22 labels × 100 rows.
    synth(&tmp.path().join("full"), 2200, 1);
    let text = std::fs::read_to_string(tmp.path().join("full/Crop_recommendation.csv")).unwrap();
    let mut blocks: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2200);
    blocks.dedup();
    assert_eq!(blocks, recdata::synth::agrosense::LABELS);
}
