//! AgroSense end to end: stratified sample split, group-aware image re-split, the media
//! duplicate audit and the trivial baselines, each checked against an outside oracle
//! (tests/clients/agrosense_oracle.py: Python imagehash, numpy brute force, pandas,
//! scikit-learn) on a fixture with planted duplicates, and against a clean fixture.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::python;

use crate::util::recdata_with_models as recdata;

fn synth(dir: &Path, duplicates: bool) -> PathBuf {
    let raw = dir.join("raw");
    let mut args = vec![
        "synth",
        "agrosense",
        "--seed",
        "1",
        "--users",
        "600",
        "--out",
        "raw",
    ];
    if duplicates {
        args.push("--duplicates");
    }
    let o = recdata(&args, dir);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    raw
}

fn manifest(dir: &Path, split: &str, diagnostics: &str) -> PathBuf {
    manifest_with(dir, split, diagnostics, "")
}

fn manifest_with(dir: &Path, split: &str, diagnostics: &str, extra: &str) -> PathBuf {
    let p = dir.join("ag.toml");
    std::fs::write(
        &p,
        format!(
            "[dataset]\nname = \"ag\"\nversion = \"1\"\n\n[source]\ncorpus = \"agrosense\"\npath = \"raw\"\n\n[stages.split]\nmethod = \"stratified\"\nratios = [0.6, 0.2, 0.2]\nseed = 5\n{split}\n\n{extra}\n[stages.diagnostics]\n{diagnostics}\n"
        ),
    )
    .unwrap();
    p
}

fn build(dir: &Path, m: &Path) -> (std::process::Output, PathBuf) {
    let o = recdata(&["build", m.to_str().unwrap(), "--data-dir", "data"], dir);
    (o, dir.join("data/ag/1"))
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn oracle(ver: &Path, raw: &Path, t: u32) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/agrosense_oracle.py");
    let o = Command::new(python())
        .arg(script)
        .arg(ver)
        .arg(raw)
        .arg(t.to_string())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Our groups as sorted path lists.
fn groups(diag: &Value) -> Vec<Vec<String>> {
    let mut g: Vec<Vec<String>> = diag["media"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut p: Vec<String> = g["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["path"].as_str().unwrap().to_owned())
                .collect();
            p.sort();
            p
        })
        .collect();
    g.sort();
    g
}

fn close(a: &Value, b: &Value) -> bool {
    (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-12
}

#[test]
fn planted_duplicates_are_found_with_the_right_groups_and_baselines_match_sklearn() {
    let d = tempfile::tempdir().unwrap();
    let raw = synth(d.path(), true);
    // The soil images embedded inside the build (an encoder over a side table).
    // A second encoder over the table that encodes the label itself: the k-NN baseline must use
    // the one `[stages.diagnostics] embedding` names, not the first by name (adversary finding).
    let m = manifest_with(
        d.path(),
        "",
        "embedding = \"soil\"",
        "[[stages.encode]]\nname = \"soil\"\nmodel = \"efficientnet-lite0\"\ntable = \"soil_images\"\nmedia = \"image\"\n\n[[stages.encode]]\nname = \"a_label\"\nmodel = \"all-minilm-l6-v2\"\ntable = \"soil_images\"\nfields = [\"soil_class\"]\n",
    );
    let (o, ver) = build(d.path(), &m);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let diag = json(&ver.join("diagnostics.json"));
    let want = oracle(&ver, &raw, 8);

    // The perceptual hashes are imagehash's: most bit for bit, none more than 2 bits off
    // (JPEG decoders differ in the last level on a few tiny files).
    let bits: Vec<u64> = want["phash_bits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(bits.iter().all(|&b| b <= 2), "{bits:?}");
    assert!(
        bits.iter().filter(|&&b| b == 0).count() * 10 >= bits.len() * 8,
        "{bits:?}"
    );

    // The planted groups, exactly: the exact copy across Train/test and within a folder, the
    // re-encoded JPEG and the half-size copy across splits, the near copy within Soil types.
    let planted: Vec<Vec<String>> = {
        let mut g = vec![
            vec![
                "Soil Image Dataset/Train/Red soil/Copy of field 1.jpg",
                "Soil Image Dataset/Train/Red soil/field 1.jpg",
                "Soil Image Dataset/test/Red soil/field 1 - Copy.jpg",
            ],
            vec![
                "Soil Image Dataset/Train/Black Soil/plot 7.jpg",
                "Soil Image Dataset/test/Black Soil/plot 7.jpg",
            ],
            vec![
                "Soil Image Dataset/Train/Clay soil/sample 3.png",
                "Soil Image Dataset/test/Clay soil/sample 3 small.jpg",
            ],
            vec![
                "Soil types/Yellow Soil/yellow 2 (1).jpg",
                "Soil types/Yellow Soil/yellow 2.jpg",
            ],
        ]
        .into_iter()
        .map(|g| g.into_iter().map(String::from).collect::<Vec<_>>())
        .collect::<Vec<_>>();
        g.sort();
        g
    };
    assert_eq!(groups(&diag), planted);
    let oracle_groups: Vec<Vec<String>> = serde_json::from_value(want["groups"].clone()).unwrap();
    assert_eq!(oracle_groups, planted);
    let media = &diag["media"];
    assert_eq!(media["exact"]["groups"], 1);
    assert_eq!(media["exact"]["redundant"], 2);
    assert_eq!(media["near"]["groups_across_splits"], 2);
    assert_eq!(media["test_images_with_train_copy"]["exact"], want["exact"]);
    assert_eq!(media["test_images_with_train_copy"]["near"], want["near"]);
    assert_eq!(media["test_images"], want["test_images"]);

    // Baselines: the same numbers as pandas / scikit-learn on the published tables.
    let b = &diag["baselines"];
    assert_eq!(
        b["samples"]["majority_class"]["item_id"],
        want["majority_item_id"]
    );
    assert!(close(
        &b["samples"]["majority_class"]["accuracy"],
        &want["majority_accuracy"]
    ));
    assert_eq!(
        b["samples"]["nearest_centroid"]["test_samples"],
        want["centroid_test_samples"]
    );
    assert!(
        close(
            &b["samples"]["nearest_centroid"]["accuracy"],
            &want["centroid_accuracy"]
        ),
        "{b:#} vs {want:#}"
    );
    assert!(close(
        &b["images"]["exact_hash_lookup"]["accuracy"],
        &want["exact_lookup_accuracy"]
    ));
    assert!(close(
        &b["images"]["near_hash_lookup"]["accuracy"],
        &want["near_lookup_accuracy"]
    ));
    assert_eq!(b["images"]["knn_embeddings"]["applicable"], true, "{b:#}");
    assert_eq!(b["images"]["knn_embeddings"]["encoder"], "soil", "{b:#}");
    assert!(
        close(
            &b["images"]["knn_embeddings"]["accuracy"],
            &want["knn_accuracy"]
        ),
        "{b:#} vs {want:#}"
    );

    // The build's soil-image vectors are `recdata encode`'s of the same files, bit for bit.
    let table = d.path().join("soil.parquet");
    let py = Command::new(python())
        .arg("-c")
        .arg("import sys, pyarrow as pa, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1] + '/soil_images.parquet')\npq.write_table(pa.table({'image_id': t['image_id'], 'file': pa.array([sys.argv[2] + '/' + p for p in t['path'].to_pylist()])}), sys.argv[3])")
        .arg(&ver)
        .arg(&raw)
        .arg(&table)
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let o = recdata(
        &[
            "encode",
            table.to_str().unwrap(),
            "--model",
            "efficientnet-lite0",
            "--kind",
            "image",
            "--column",
            "file",
            "--id-column",
            "image_id",
            "--out",
            "alone.parquet",
        ],
        d.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let same = Command::new(python())
        .arg("-c")
        .arg("import sys, pyarrow.parquet as pq\na = pq.read_table(sys.argv[1]).sort_by('image_id')\nb = pq.read_table(sys.argv[2])\nb = b.filter(b['status'].to_numpy(zero_copy_only=False) == 'ok').sort_by('image_id')\nprint(a['image_id'].to_pylist() == b['image_id'].to_pylist() and a['embedding'].to_pylist() == b['embedding'].to_pylist(), a.num_rows)")
        .arg(ver.join("embeddings/soil.parquet"))
        .arg(d.path().join("alone.parquet"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&same.stdout).trim(),
        "True 36",
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );

    // The stratified split: every label within one sample of its target.
    for (label, c) in want["per_label"].as_object().unwrap() {
        let n: f64 = ["train", "valid", "test"]
            .iter()
            .map(|s| c[*s].as_f64().unwrap())
            .sum();
        for (s, r) in [("train", 0.6), ("valid", 0.2), ("test", 0.2)] {
            let got = c[s].as_f64().unwrap();
            assert!(
                (got - n * r).abs() <= 1.0,
                "label {label} {s}: {got} of {n}"
            );
        }
    }

    // Findings in dataset.json, the card and the report (thumbnails side by side).
    let ds = json(&ver.join("dataset.json"));
    let leak: Vec<(String, u64)> = ds["diagnostics"]["leakage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        leak.contains(&("media_exact_copy_across_splits".into(), 1)),
        "{leak:?}"
    );
    assert!(
        leak.contains(&("media_near_copy_across_splits".into(), 2)),
        "{leak:?}"
    );
    assert_eq!(ds["split"]["method"], "stratified");
    let card = std::fs::read_to_string(ver.join("README.md")).unwrap();
    assert!(card.contains("test images have a copy in train"), "{card}");
    let html = std::fs::read_to_string(ver.join("report.html")).unwrap();
    assert!(
        html.matches("data:image/jpeg;base64,").count() >= 9,
        "thumbnails"
    );
    // The version verifies (the report is regenerated from diagnostics.json, thumbnails
    // included), and building it again finds it already published, byte for byte.
    let o = recdata(&["verify", ver.to_str().unwrap()], d.path());
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let (o, _) = build(d.path(), &m);
    assert!(
        o.status.success(),
        "rebuild: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // And a build into another data folder gives the same bytes (no timings in the JSON).
    let o = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "again"],
        d.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "diagnostics.json",
        "dataset.json",
        "report.html",
        "README.md",
        "splits/images.parquet",
        "embeddings/soil.parquet",
    ] {
        assert_eq!(
            std::fs::read(ver.join(f)).unwrap(),
            std::fs::read(d.path().join("again/ag/1").join(f)).unwrap(),
            "{f} differs between two builds"
        );
    }

    // max_leakage = 0 fails the build (exit 1) after publishing, naming the finding.
    std::fs::write(
        &m,
        std::fs::read_to_string(&m).unwrap().replace(
            "[stages.diagnostics]\n",
            "[stages.diagnostics]\nmax_leakage = 0\n",
        ),
    )
    .unwrap();
    std::fs::write(
        &m,
        std::fs::read_to_string(&m)
            .unwrap()
            .replace("version = \"1\"", "version = \"2\""),
    )
    .unwrap();
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("media_exact_copy_across_splits (1)"));
}

#[test]
fn a_clean_fixture_has_no_duplicates_and_the_group_resplit_keeps_groups_together() {
    let d = tempfile::tempdir().unwrap();
    let clean = d.path().join("clean");
    std::fs::create_dir_all(&clean).unwrap();
    synth(&clean, false);
    let m = manifest(&clean, "", "max_leakage = 0");
    let (o, ver) = build(&clean, &m);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let diag = json(&ver.join("diagnostics.json"));
    assert_eq!(diag["media"]["exact"]["groups"], 0, "{:#}", diag["media"]);
    assert_eq!(diag["media"]["near"]["groups"], 0, "{:#}", diag["media"]);
    assert_eq!(diag["media"]["test_images_with_train_copy"]["any"], 0);

    // With planted duplicates, the group-aware re-split (near copies too) puts every group in
    // one split: the audit then finds no copy across splits, and max_leakage = 0 passes.
    let dup = d.path().join("dup");
    std::fs::create_dir_all(&dup).unwrap();
    let raw = synth(&dup, true);
    let m = manifest(
        &dup,
        "images = \"group\"\nnear_duplicates = true",
        "max_leakage = 0",
    );
    let (o, ver) = build(&dup, &m);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let diag = json(&ver.join("diagnostics.json"));
    assert_eq!(
        diag["media"]["test_images_with_train_copy"]["any"], 0,
        "{:#}",
        diag["media"]
    );
    for g in diag["media"]["groups"].as_array().unwrap() {
        assert!(g["splits"].as_array().unwrap().len() <= 1, "{g:#}");
    }
    let want = oracle(&ver, &raw, 8);
    assert_eq!(want["exact"], 0);
    assert_eq!(want["near"], 0);
    let ds = json(&ver.join("dataset.json"));
    assert_eq!(ds["split"]["images"]["method"], "group");
    // Every image has a split under the re-split (Soil types included).
    assert_eq!(ds["split"]["images"]["no_split"], 0);

    // An interaction method on a sample corpus is an error that names the fix.
    let m2 = dup.join("bad.toml");
    std::fs::write(
        &m2,
        std::fs::read_to_string(&m)
            .unwrap()
            .replace("method = \"stratified\"", "method = \"random\"")
            .replace("images = \"group\"\nnear_duplicates = true", ""),
    )
    .unwrap();
    let o = recdata(
        &["build", m2.to_str().unwrap(), "--data-dir", "data2"],
        &dup,
    );
    // A configuration the data cannot satisfy: exit 1, like other manifest errors.
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("use method = \"stratified\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn item_covers_that_are_copies_are_grouped_and_counted_as_test_twins() {
    // MicroLens-format covers: one cover copied byte for byte over another item's, one
    // re-encoded as a third item's (JPEG quality 40); both must come out as groups of items.
    let d = tempfile::tempdir().unwrap();
    let o = recdata(
        &[
            "synth",
            "microlens",
            "--users",
            "300",
            "--seed",
            "7",
            "--out",
            "raw",
        ],
        d.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let covers = d.path().join("raw/MicroLens-100k_covers");
    let mut names: Vec<String> = std::fs::read_dir(&covers)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (a, b, c, e) = (&names[0], &names[1], &names[2], &names[3]);
    std::fs::copy(covers.join(a), covers.join(b)).unwrap();
    let py = Command::new(python())
        .arg("-c")
        .arg("import sys\nfrom PIL import Image, ImageDraw\n# the synthetic covers are colour fields with a stripe (no perceptual hash): a structured picture\nim = Image.new('RGB', (96, 64), (120, 90, 60))\nd = ImageDraw.Draw(im)\nd.ellipse((10, 8, 50, 40), fill=(230, 200, 160))\nd.rectangle((55, 20, 90, 60), fill=(20, 30, 40))\nd.line((0, 63, 95, 0), fill=(250, 250, 250), width=3)\nim.save(sys.argv[1], quality=92)\nim.save(sys.argv[2], quality=40)")
        .arg(covers.join(c))
        .arg(covers.join(e))
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let m = d.path().join("ml.toml");
    std::fs::write(
        &m,
        "[dataset]\nname = \"ml\"\nversion = \"1\"\n\n[source]\ncorpus = \"microlens\"\npath = \"raw\"\n\n[[stages.media]]\nmodality = \"image\"\npath = \"MicroLens-100k_covers/{raw_id}.jpg\"\n\n[stages.split]\nmethod = \"leave_one_out\"\n\n[stages.diagnostics]\nnear_threshold = 4\n",
    )
    .unwrap();
    let o = recdata(&["build", "ml.toml", "--data-dir", "data"], d.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ver = d.path().join("data/ml/1");
    let diag = json(&ver.join("diagnostics.json"));
    let media = &diag["media"];
    // Raw ids of the planted groups -> item ids, through item_map.parquet.
    let map = Command::new(python())
        .arg("-c")
        .arg("import sys, json, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1]).to_pylist()\nprint(json.dumps({str(r['raw_id']): r['item_id'] for r in t}))")
        .arg(ver.join("item_map.parquet"))
        .output()
        .unwrap();
    let map: Value = serde_json::from_slice(&map.stdout).unwrap();
    let id = |f: &str| map[f.trim_end_matches(".jpg")].as_u64();
    let groups: Vec<(String, Vec<u64>)> = media["duplicate_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let mut ids: Vec<u64> = g["images"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["item_id"].as_u64().unwrap())
                .collect();
            ids.sort();
            (g["kind"].as_str().unwrap().to_owned(), ids)
        })
        .collect();
    if let (Some(x), Some(y)) = (id(a), id(b)) {
        let mut want = vec![x, y];
        want.sort();
        assert!(groups.contains(&("exact".into(), want)), "{groups:?}");
    }
    if let (Some(x), Some(y)) = (id(c), id(e)) {
        assert!(
            groups.iter().any(|(_, g)| g.contains(&x) && g.contains(&y)),
            "{groups:?}"
        );
    }
    assert!(media["exact_groups"].as_u64().unwrap() >= 1, "{media:#}");
    let f = diag["leakage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "media_duplicate_items")
        .expect("finding");
    assert_eq!(f["count"], media["test_targets_with_train_twin"]);
    assert_eq!(f["severity"], "warning");
}

#[test]
fn sample_corpus_configurations_that_would_mislead_are_errors() {
    // Adversary findings on the release binary, each an error that names the fix.
    let d = tempfile::tempdir().unwrap();
    let raw = synth(d.path(), true);
    let fails = |name: &str, split: &str, extra: &str, source: &str, want: &str| {
        let p = d.path().join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "[dataset]\nname = \"{name}\"\nversion = \"1\"\n\n[source]\ncorpus = \"agrosense\"\npath = \"raw\"\n{source}\n\n[stages.split]\nmethod = \"stratified\"\n{split}\n\n{extra}\n[stages.diagnostics]\n"
            ),
        )
        .unwrap();
        let o = recdata(
            &["build", p.to_str().unwrap(), "--data-dir", "data"],
            d.path(),
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    };
    // A split folder that is not a split name silently emptied the test split (and passed
    // max_leakage = 0 on nothing).
    std::fs::rename(
        raw.join("Soil Image Dataset/test"),
        raw.join("Soil Image Dataset/Test set"),
    )
    .unwrap();
    fails("unknown_split_folder", "", "", "", "`Test set`");
    std::fs::rename(
        raw.join("Soil Image Dataset/Test set"),
        raw.join("Soil Image Dataset/test"),
    )
    .unwrap();
    // The pairing draws from Train; a group re-split would move paired images to test.
    fails(
        "pairing_with_group_resplit",
        "images = \"group\"",
        "",
        "pairing = \"random-by-class\"",
        "Use images = \"upstream\", or pairing = \"none\"",
    );
    // A threshold with no effect is not accepted silently.
    fails(
        "near_threshold_without_group",
        "near_threshold = 4",
        "",
        "",
        "needs `images = \"group\"`",
    );
    // Audio over a table of images.
    fails(
        "audio_over_images",
        "",
        "[[stages.encode]]\nname = \"a\"\nmodel = \"openwakeword-speech-embedding\"\ntable = \"soil_images\"\nmedia = \"audio\"\n",
        "",
        "holds images",
    );
    // Zero samples is a failure, even with soil images.
    std::fs::write(
        raw.join("Crop_recommendation.csv"),
        "N,P,K,temperature,humidity,ph,rainfall,label\n",
    )
    .unwrap();
    fails(
        "zero_samples",
        "",
        "",
        "variants = \"skip\"",
        "no usable rows",
    );
}

#[test]
fn near_copies_by_embedding_cosine_are_the_pairs_numpy_finds() {
    // `near_cosine`: pairs of image vectors at or above the threshold join the duplicate groups.
    // The pairs are exactly numpy's over the published embeddings; a mirrored copy (26 pHash
    // bits from its original) is found at a low enough threshold.
    let d = tempfile::tempdir().unwrap();
    let raw = synth(d.path(), true);
    let py = Command::new(python())
        .arg("-c")
        .arg("import sys\nfrom PIL import Image, ImageOps\nImageOps.mirror(Image.open(sys.argv[1])).save(sys.argv[2], quality=90)")
        .arg(raw.join("Soil Image Dataset/Train/Red soil/field 2.jpg"))
        .arg(raw.join("Soil Image Dataset/test/Red soil/field 2 mirrored.jpg"))
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let m = manifest_with(
        d.path(),
        "",
        "embedding = \"soil\"\nnear_cosine = 0.93",
        "[[stages.encode]]\nname = \"soil\"\nmodel = \"efficientnet-lite0\"\ntable = \"soil_images\"\nmedia = \"image\"\n",
    );
    let (o, ver) = build(d.path(), &m);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let diag = json(&ver.join("diagnostics.json"));
    let nc = &diag["media"]["near_cosine"];
    assert_eq!(nc["applicable"], true, "{nc:#}");
    let count = Command::new(python())
        .arg("-c")
        .arg("import sys, numpy as np, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1] + '/embeddings/soil.parquet')\nx = np.stack(t['embedding'].to_pylist()).astype(np.float32)\nx /= np.linalg.norm(x, axis=1, keepdims=True)\nc = x @ x.T\nprint(int((np.triu(c, 1) >= np.float32(0.93)).sum()))")
        .arg(&ver)
        .output()
        .unwrap();
    let want: u64 = String::from_utf8_lossy(&count.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(nc["pairs"].as_u64().unwrap(), want, "{nc:#}");
    let mirrored = groups(&diag).into_iter().any(|g| {
        g.contains(&"Soil Image Dataset/Train/Red soil/field 2.jpg".to_string())
            && g.contains(&"Soil Image Dataset/test/Red soil/field 2 mirrored.jpg".to_string())
    });
    assert!(mirrored, "{:?}", groups(&diag));
}

#[test]
fn statuses_of_every_encoder_over_one_side_table_are_kept() {
    // Two encoders over soil_images: the first one's failures (a truncated JPEG) were written to
    // encode_status_soil_images.parquet and then overwritten by an empty table for the second.
    let d = tempfile::tempdir().unwrap();
    let raw = synth(d.path(), false);
    let good = std::fs::read(raw.join("Soil Image Dataset/Train/Red soil/red-soil.jpg"))
        .or_else(|_| std::fs::read(raw.join("Soil Image Dataset/test/Red soil/red-soil.jpg")))
        .unwrap();
    std::fs::write(
        raw.join("Soil Image Dataset/Train/Red soil/cut.jpg"),
        &good[..good.len() / 2],
    )
    .unwrap();
    let m = manifest_with(
        d.path(),
        "",
        "",
        "[[stages.encode]]\nname = \"soil\"\nmodel = \"efficientnet-lite0\"\ntable = \"soil_images\"\nmedia = \"image\"\n\n[[stages.encode]]\nname = \"z_label\"\nmodel = \"all-minilm-l6-v2\"\ntable = \"soil_images\"\nfields = [\"soil_class\"]\n",
    );
    let (o, ver) = build(d.path(), &m);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = Command::new(python())
        .arg("-c")
        .arg("import sys, json, pyarrow.parquet as pq\nprint(json.dumps(pq.read_table(sys.argv[1]).to_pylist()))")
        .arg(ver.join("encode_status_soil_images.parquet"))
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&rows.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["encoder"], "soil");
    assert_eq!(rows[0]["status"], "truncated");
}
