//! Interop: a built version is read by the tools users already have. croissant.json passes
//! `mlcroissant validate` and mlcroissant loads its records; pyarrow, polars, Hugging Face
//! `datasets` and DuckDB read every table and the splits, with the counts of dataset.json; the
//! card's snippets run as written; `recdata export --format recbole` is loaded by RecBole's own
//! `create_dataset` (in its venv, see `make recbole`) with the same counts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use crate::util::{dataset_json, python};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rd(args: &[&str], cwd: &Path) -> Output {
    Command::new(crate::util::bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("RECDATA_MODELS", repo().join("models"))
        .env("RECDATA_CACHE", cwd.join("cache"))
        .env("RECDATA_THREADS", "2")
        .output()
        .expect("run recdata")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?}):\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn py(python: &str, script: &str, args: &[&str], cwd: &Path) -> String {
    let o = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run python");
    ok(&o)
}

/// One multimodal version shared by the tests of this module: MicroLens format, leave-one-out
/// splits, a text embedding (fixed-size lists), semantic ids (lists), media and diagnostics.
fn built() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        crate::util::synth_cli(
            &d.path().join("raw"),
            "microlens",
            &["--users", "60", "--seed", "11"],
        );
        std::fs::write(
            d.path().join("ml.toml"),
            r#"[dataset]
name = "ml-interop"
version = "1.0.0"

[source]
corpus = "microlens"
path = "raw"

[stages.filter]
min_user_interactions = 3
min_item_interactions = 2

[stages.split]
method = "leave_one_out"

[[stages.media]]
modality = "image"
path = "MicroLens-100k_covers/{raw_id}.jpg"

[[stages.encode]]
name = "title"
model = "all-minilm-l6-v2"
fields = ["title", "category"]

[stages.semantic_ids]
embeddings = ["title"]
codebooks = [4, 4]

[stages.diagnostics]
"#,
        )
        .unwrap();
        ok(&rd(&["build", "ml.toml", "--data-dir", "data"], d.path()));
        d
    })
    .path()
}

fn version_dir() -> PathBuf {
    built().join("data/ml-interop/1.0.0")
}

#[test]
fn croissant_validates_and_mlcroissant_loads_every_record_set() {
    let v = version_dir();
    let doc = dataset_json(&v);
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join("croissant.json")).unwrap()).unwrap();
    assert_eq!(c["conformsTo"], "http://mlcommons.org/croissant/1.1");
    assert_eq!(c["version"], "1.0.0");
    assert!(c["citeAs"].as_str().unwrap().contains("2309.15379"));
    // Every published parquet file is a distribution entry with its sha256.
    for f in doc["files"].as_array().unwrap() {
        let d = c["distribution"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["contentUrl"] == f["path"])
            .unwrap_or_else(|| panic!("{} not in croissant.json", f["path"]));
        assert_eq!(d["sha256"], f["sha256"]);
    }
    let script = r#"
import sys, json, logging, subprocess, mlcroissant as mlc
logging.disable(logging.WARNING)
doc = json.load(open("dataset.json"))
# `mlcroissant validate` exits non-zero on any error.
r = subprocess.run([sys.executable, "-m", "mlcroissant.scripts.validate", "--jsonld", "croissant.json"],
                   capture_output=True, text=True)
if r.returncode != 0:
    r = subprocess.run(["mlcroissant", "validate", "--jsonld", "croissant.json"], capture_output=True, text=True)
assert r.returncode == 0, r.stdout + r.stderr
assert "error" not in (r.stdout + r.stderr).lower().replace("0 error", ""), r.stdout + r.stderr
ds = mlc.Dataset("croissant.json")
counts, records = {}, {}
for rs in ds.metadata.record_sets:
    if rs.data is not None:
        continue
    # Read each record set once (a second `records()` over the same set may come back empty).
    records[rs.name] = list(ds.records(rs.name))
    counts[rs.name] = len(records[rs.name])
rows = {f["path"]: f["rows"] for f in doc["files"]}
splits = sum(rows[f"splits/{s}.parquet"] for s in ["train", "valid", "test"])
assert counts["splits"] == splits, (counts, splits)
# Every other table is a record set with exactly its file's rows (interactions, users, items,
# media, embeddings, semantic ids, ...), and no table is left without one.
# A table's record set is named after the table, or after the file when the table has several.
tables = [f for f in doc["files"] if f["path"].endswith(".parquet") and f["table"] != "splits"]
for f in tables:
    several = sum(g["table"] == f["table"] for g in tables) > 1
    name = f["path"][:-len(".parquet")].replace("/", "_") if several else f["table"]
    assert name in counts, (f["path"], name, sorted(counts))
    assert counts[name] == f["rows"], (name, counts[name], f["rows"])
assert len(counts) == len(tables) + 1 + ("split_names" in counts), sorted(counts)
for t in ["interactions", "users", "items", "semantic_ids"]:
    assert t in counts, (t, sorted(counts))
emb = [k for k in counts if k.startswith("embeddings")]
# Split names come from the file names; array columns come back as arrays.
recs = records["splits"]
assert {r["splits/split"] for r in recs} == {b"train", b"valid", b"test"}, {r["splits/split"] for r in recs}
first = records[emb[0]][0]
vec = [v for k, v in first.items() if k.endswith("/embedding")][0]
assert len(vec) == 384, len(vec)
print(json.dumps(counts, sort_keys=True))
# mlcroissant's libraries can abort in their own atexit handlers under load ("terminate called
# without an active exception"), after everything above was checked: leave without them.
sys.stdout.flush()
import os
os._exit(0)
"#;
    let out = py(&python(), script, &[], &v);
    assert!(out.contains("\"splits\""), "{out}");
}

#[test]
fn pyarrow_polars_datasets_and_duckdb_read_the_version() {
    let v = version_dir();
    let script = r#"
import json, pyarrow.parquet as pq, polars as pl, duckdb
from datasets import load_dataset
doc = json.load(open("dataset.json"))
for f in doc["files"]:
    assert pq.read_table(f["path"]).num_rows == f["rows"], f
    assert pl.read_parquet(f["path"]).height == f["rows"], f
    assert duckdb.execute(f"SELECT count(*) FROM '{f['path']}'").fetchone()[0] == f["rows"], f
rows = {f["path"]: f["rows"] for f in doc["files"]}
ds = load_dataset("parquet", data_files={"train": "splits/train.parquet", "validation": "splits/valid.parquet", "test": "splits/test.parquet"})
assert ds["train"].num_rows == rows["splits/train.parquet"]
assert ds["validation"].num_rows == rows["splits/valid.parquet"]
assert ds["test"].num_rows == rows["splits/test.parquet"]
assert ds["train"].features["item_id"].dtype == "uint32", ds["train"].features
# DuckDB over the directory: a join across tables, as a user would write it.
n = duckdb.execute("SELECT count(*) FROM 'splits/*.parquet' s JOIN 'items.parquet' i USING (item_id)").fetchone()[0]
assert n == sum(rows[f"splits/{s}.parquet"] for s in ["train", "valid", "test"]), n
print("ok")
"#;
    assert_eq!(py(&python(), script, &[], &v).trim(), "ok");
}

/// Every python block of the card's "How to load" section runs in the version directory.
#[test]
fn card_snippets_run_as_written() {
    let v = version_dir();
    let card = std::fs::read_to_string(v.join("README.md")).unwrap();
    let section = card
        .split("## How to load")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let blocks: Vec<&str> = section
        .split("```python\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 5, "{section}");
    for b in blocks {
        py(
            &python(),
            &format!("import logging\nlogging.disable(logging.WARNING)\n{b}"),
            &[],
            &v,
        );
    }
}

/// The venv with RecBole (and torch) that `make recbole` makes; None when it is absent.
fn recbole_python() -> Option<String> {
    let p = std::env::var("RECDATA_RECBOLE_PYTHON").ok()?;
    Path::new(&p).exists().then_some(p)
}

#[test]
fn recbole_export_is_loaded_by_recbole_create_dataset() {
    let v = version_dir();
    let out = tempfile::tempdir().unwrap();
    let o = rd(
        &[
            "export",
            v.to_str().unwrap(),
            "--format",
            "recbole",
            "--out",
            out.path().to_str().unwrap(),
            "--embeddings",
            "all",
        ],
        built(),
    );
    let dir = PathBuf::from(ok(&o).trim());
    assert_eq!(dir, out.path().join("ml-interop"));
    let doc = dataset_json(&v);
    let rows = |p: &str| {
        doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == p)
            .unwrap()["rows"]
            .as_u64()
            .unwrap()
    };
    // The atomic files as RecBole documents them: `name:type` headers, one line per row.
    let inter = std::fs::read_to_string(dir.join("ml-interop.inter")).unwrap();
    let mut lines = inter.lines();
    assert_eq!(
        lines.next().unwrap(),
        "user_id:token\titem_id:token\ttimestamp:float"
    );
    assert_eq!(lines.count() as u64, rows("interactions.parquet"));
    for s in ["train", "valid", "test"] {
        let t = std::fs::read_to_string(dir.join(format!("ml-interop.{s}.inter"))).unwrap();
        assert_eq!(
            t.lines().count() as u64 - 1,
            rows(&format!("splits/{s}.parquet"))
        );
    }
    let item = std::fs::read_to_string(dir.join("ml-interop.item")).unwrap();
    let header = item.lines().next().unwrap();
    assert!(
        header.starts_with("item_id:token\titem_raw_id:token\ttitle:token_seq"),
        "{header}"
    );
    assert_eq!(item.lines().count() as u64 - 1, rows("items.parquet"));
    // The title vectors as RecBole pre-trained embeddings: float_seq, one line per vector, the
    // values as written (shortest round-trip decimals of the parquet's f32).
    let emb = std::fs::read_to_string(dir.join("ml-interop.itememb_title")).unwrap();
    let mut emb_lines = emb.lines();
    assert_eq!(
        emb_lines.next().unwrap(),
        "title_iid:token\ttitle_emb:float_seq"
    );
    assert_eq!(
        emb.lines().count() as u64 - 1,
        rows("embeddings/title.parquet")
    );
    let first: Vec<f32> = emb_lines
        .next()
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let want = crate::util::py(
        "import sys, json, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1])\nprint(json.dumps(t.column('embedding')[0].as_py()))",
        &[v.join("embeddings/title.parquet").to_str().unwrap()],
    );
    let want: Vec<f32> = serde_json::from_str(want.trim()).unwrap();
    assert_eq!(first, want, "float_seq values round-trip exactly");
    let yaml = std::fs::read_to_string(dir.join("ml-interop.yaml")).unwrap();
    assert!(
        yaml.contains("additional_feat_suffix: [itememb_title]"),
        "{yaml}"
    );
    assert!(
        yaml.contains("preload_weight:\n  title_iid: title_emb"),
        "{yaml}"
    );
    // An encoder the version does not have is an error naming the ones it has.
    let bad = rd(
        &[
            "export",
            v.to_str().unwrap(),
            "--format",
            "recbole",
            "--out",
            out.path().join("bad").to_str().unwrap(),
            "--embeddings",
            "cover",
        ],
        built(),
    );
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("no embeddings named `cover`") && err.contains("it has: title"),
        "{err}"
    );
    // A second export is byte-identical (no timestamps, no ordering from hash maps).
    let out2 = tempfile::tempdir().unwrap();
    ok(&rd(
        &[
            "export",
            v.to_str().unwrap(),
            "--format",
            "recbole",
            "--out",
            out2.path().to_str().unwrap(),
            "--embeddings",
            "all",
        ],
        built(),
    ));
    for f in [
        "ml-interop.inter",
        "ml-interop.item",
        "ml-interop.test.inter",
        "ml-interop.itememb_title",
    ] {
        assert_eq!(
            std::fs::read(dir.join(f)).unwrap(),
            std::fs::read(out2.path().join("ml-interop").join(f)).unwrap(),
            "{f}"
        );
    }

    let Some(rb) = recbole_python() else {
        assert!(
            std::env::var("CI").is_err(),
            "RECDATA_RECBOLE_PYTHON is not set: CI runs `make recbole` (make test sets it)"
        );
        eprintln!("skipping RecBole's own loader: RECDATA_RECBOLE_PYTHON not set (make recbole)");
        return;
    };
    // The title vectors as rows, for the RecBole side to compare with its preload matrix.
    let vectors = out.path().join("title-vectors.json");
    crate::util::py(
        "import sys, json, pyarrow.parquet as pq\njson.dump(pq.read_table(sys.argv[1]).to_pylist(), open(sys.argv[2], 'w'))",
        &[
            v.join("embeddings/title.parquet").to_str().unwrap(),
            vectors.to_str().unwrap(),
        ],
    );
    let script = r#"
import sys, json, logging
logging.disable(logging.WARNING)
from recbole.config import Config
from recbole.data import create_dataset
root, name = sys.argv[1], sys.argv[2]
config = Config(model="Pop", dataset=name, config_file_list=[f"{root}/{name}/{name}.yaml"],
                config_dict={"data_path": root, "show_progress": False, "save_dataset": False,
                             "checkpoint_dir": f"{root}/ckpt", "log_wandb": False})
ds = create_dataset(config)
w = ds.get_preload_weight("title_iid")
tok = ds.field2token_id["item_id"]
t = json.load(open(sys.argv[3]))  # the parquet's rows (RecBole's venv has no pyarrow)
same = all(abs(float(a) - b) < 1e-6 for r in t for a, b in zip(w[tok[str(r["item_id"])]], r["embedding"]))
print(json.dumps({"inter": ds.inter_num, "users": ds.user_num - 1, "items": ds.item_num - 1,
                  "item_fields": sorted(ds.item_feat.columns) if ds.item_feat is not None else [],
                  "preload": list(w.shape), "preload_rows_match": same, "vectors": len(t)}))
"#;
    let o = py(
        &rb,
        script,
        &[
            out.path().to_str().unwrap(),
            "ml-interop",
            vectors.to_str().unwrap(),
        ],
        out.path(),
    );
    let got: serde_json::Value = serde_json::from_str(o.lines().last().unwrap()).unwrap();
    let splits: u64 = ["train", "valid", "test"]
        .iter()
        .map(|s| rows(&format!("splits/{s}.parquet")))
        .sum();
    assert_eq!(got["inter"].as_u64().unwrap(), splits, "{o}");
    assert_eq!(got["items"].as_u64().unwrap(), rows("items.parquet"), "{o}");
    assert_eq!(got["users"].as_u64().unwrap(), rows("users.parquet"), "{o}");
    // RecBole's preload_weight: one row per item id (+ the padding row 0), every vector in
    // the row of its item.
    assert_eq!(
        got["preload"][0].as_u64().unwrap(),
        rows("items.parquet") + 1,
        "{o}"
    );
    assert_eq!(got["preload"][1].as_u64().unwrap(), 384, "{o}");
    assert_eq!(got["preload_rows_match"], true, "{o}");
    assert!(got["vectors"].as_u64().unwrap() > 0, "{o}");
    assert!(
        got["item_fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "title"),
        "{o}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

#[test]
fn verify_passes_a_faithful_copy_and_names_every_difference_in_a_damaged_one() {
    let v = version_dir();
    let t = tempfile::tempdir().unwrap();
    let copy = t.path().join("copy");
    copy_tree(&v, &copy);
    let o = rd(&["verify", copy.to_str().unwrap()], t.path());
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("OK ml-interop 1.0.0"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // One of each kind of damage.
    let items = copy.join("items.parquet");
    let mut b = std::fs::read(&items).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(&items, b).unwrap();
    std::fs::remove_file(copy.join("splits/valid.parquet")).unwrap();
    let media_dir = std::fs::read_dir(copy.join("media/image"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&media_dir, b"not the cover").unwrap();
    std::fs::write(copy.join("notes.txt"), b"mine").unwrap();
    let card = std::fs::read_to_string(copy.join("README.md")).unwrap();
    std::fs::write(copy.join("README.md"), card.replace("ml-interop", "ml-x")).unwrap();

    let o = rd(&["verify", copy.to_str().unwrap(), "--json"], t.path());
    assert_eq!(o.status.code(), Some(1));
    let r: serde_json::Value = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "verify")
        .expect("a verify line");
    assert_eq!(r["ok"], false);
    let got: std::collections::BTreeSet<(String, String)> = r["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let rel_media = media_dir
        .strip_prefix(&copy)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for want in [
        ("sha256", "items.parquet"),
        ("missing", "splits/valid.parquet"),
        ("media", rel_media.as_str()),
        ("unexpected", "notes.txt"),
        ("regenerated", "README.md"),
    ] {
        assert!(
            got.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} not in {got:?}"
        );
    }
    // Human output: one tab-separated line per difference on stdout.
    let o = rd(&["verify", copy.to_str().unwrap()], t.path());
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("sha256\titems.parquet\tsha256 "), "{text}");
    // Not a dataset at all: could not run (2).
    let o = rd(&["verify", t.path().to_str().unwrap()], t.path());
    assert_eq!(o.status.code(), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Real clients doing what their users do (tests/clients/*.py): train, iterate, join, measure.

fn client(script: &str) -> String {
    repo()
        .join("tests/clients")
        .join(script)
        .to_string_lossy()
        .into_owned()
}

/// The venv with torch (RecBole, LensKit, Hugging Face `datasets`): `make recbole`.
fn torch_python() -> Option<String> {
    let p = recbole_python();
    if p.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "RECDATA_RECBOLE_PYTHON is not set: CI runs `make recbole` (make test sets it)"
        );
        eprintln!("skipping: RECDATA_RECBOLE_PYTHON not set (make recbole)");
    }
    p
}

fn last_json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn run_script(python: &str, script: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec![client(script)];
    all.extend(args.iter().map(|a| a.to_string()));
    // In a scratch folder: Cornac and RecBole write logs (CornacExp-*.log, log_tensorboard/)
    // into the working directory, which would otherwise be the repository.
    let scratch = tempfile::tempdir().unwrap();
    let o = Command::new(python)
        .args(&all)
        .current_dir(scratch.path())
        .output()
        .expect("run python");
    last_json(&ok(&o))
}

/// RecBole issue: `data_preparation` failed on the export (`raw_id` in both .user and .item).
/// Now BPR and SASRec train one epoch and evaluate; RecBole's test set is the published one;
/// a popularity scorer with known scores, run through RecBole's evaluator, equals numpy.
#[test]
fn recbole_trains_bpr_and_sasrec_from_the_export_and_its_evaluator_agrees_with_numpy() {
    let v = version_dir();
    let out = tempfile::tempdir().unwrap();
    ok(&rd(
        &[
            "export",
            v.to_str().unwrap(),
            "--format",
            "recbole",
            "--out",
            out.path().to_str().unwrap(),
            "--embeddings",
            "title",
        ],
        built(),
    ));
    // No field name in two atomic files (RecBole joins them onto the interactions).
    let dir = out.path().join("ml-interop");
    let mut seen = std::collections::BTreeMap::new();
    for f in [
        "ml-interop.inter",
        "ml-interop.item",
        "ml-interop.user",
        "ml-interop.itememb_title",
    ] {
        let Ok(text) = std::fs::read_to_string(dir.join(f)) else {
            continue;
        };
        for h in text.lines().next().unwrap().split('\t') {
            let name = h.split(':').next().unwrap().to_owned();
            if name != "user_id" && name != "item_id" {
                assert!(
                    seen.insert(name.clone(), f).is_none(),
                    "`{name}` in {f} and {}",
                    seen[&name]
                );
            }
        }
    }
    let Some(rb) = torch_python() else { return };
    let got = run_script(
        &rb,
        "recbole_train.py",
        &[
            out.path().to_str().unwrap(),
            "ml-interop",
            v.to_str().unwrap(),
            "title",
        ],
    );
    assert_eq!(got["test_split_equal"], true, "{got}");
    for m in ["bpr", "sasrec"] {
        for k in ["recall@10", "ndcg@10"] {
            let x = got[m][k].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&x), "{m} {k}: {got}");
        }
    }
    assert_eq!(got["sasrec_embedding_dim"], 384, "{got}");
    let test_rows = dataset_json(&v)["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "splits/test.parquet")
        .unwrap()["rows"]
        .as_u64()
        .unwrap();
    assert_eq!(got["sasrec_test_rows"].as_u64(), Some(test_rows), "{got}");
    for k in ["recall@10", "ndcg@10"] {
        let (a, b) = (
            got["pop_recbole"][k].as_f64().unwrap(),
            got["pop_numpy"][k].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-4, "{k}: RecBole {a} vs numpy {b}: {got}");
    }
    assert!(
        got["pop_numpy"]["recall@10"].as_f64().unwrap() > 0.0,
        "{got}"
    );
}

#[test]
fn hf_datasets_and_a_torch_dataloader_iterate_the_splits_with_their_vectors() {
    let v = version_dir();
    let Some(py) = torch_python() else { return };
    let got = run_script(&py, "hf_dataloader.py", &[v.to_str().unwrap(), "title"]);
    let doc = dataset_json(&v);
    for (s, f) in [("train", "train"), ("valid", "valid"), ("test", "test")] {
        let want = doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["path"] == format!("splits/{f}.parquet"))
            .unwrap()["rows"]
            .clone();
        assert_eq!(got["rows"][s], want, "{got}");
    }
    assert_eq!(got["batches_equal_parquet"], true, "{got}");
    assert_eq!(got["vectors_equal_parquet"], true, "{got}");
    assert_eq!(got["shuffled_multiset_equal"], true, "{got}");
    assert!(got["with_vector"].as_u64().unwrap() > 0, "{got}");
}

#[test]
fn duckdb_and_polars_joins_equal_a_plain_python_join_value_for_value() {
    let v = version_dir();
    let got = run_script(&python(), "joins.py", &[v.to_str().unwrap(), "title"]);
    for k in [
        "duckdb_equal",
        "polars_equal",
        "counts_duckdb_equal",
        "counts_polars_equal",
    ] {
        assert_eq!(got[k], true, "{k}: {got}");
    }
    assert!(
        got["rows"].as_u64().unwrap() > 0 && got["with_code"].as_u64().unwrap() > 0,
        "{got}"
    );
}

/// On the MovieLens-format version: Cornac's ranking needs more candidate items per user than
/// its cutoff (its `rank` fails when fewer than k items are left to rank).
#[test]
fn cornac_trains_bpr_and_mostpop_from_the_published_splits() {
    let v = movielens_built().0.path().join("data/ml-lk/1");
    let got = run_script(&python(), "cornac_train.py", &[v.to_str().unwrap()]);
    let doc = dataset_json(&v);
    let rows = |p: &str| {
        doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == p)
            .unwrap()["rows"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        got["train_rows"].as_u64(),
        Some(rows("splits/train.parquet") + rows("splits/valid.parquet"))
    );
    for m in ["MostPop", "BPR"] {
        for k in ["Recall@10", "NDCG@10"] {
            let x = got[m][k].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&x), "{m} {k}: {got}");
        }
    }
}

/// A MovieLens-format version with leave-one-out splits and diagnostics, and its raw folder.
fn movielens_built() -> &'static (tempfile::TempDir, PathBuf) {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        crate::util::synth_cli(
            &d.path().join("raw"),
            "movielens",
            &["--users", "80", "--events-per-user", "30", "--seed", "4"],
        );
        let raw = if d.path().join("raw/ml-100k").is_dir() {
            d.path().join("raw/ml-100k")
        } else {
            d.path().join("raw")
        };
        std::fs::write(
            d.path().join("ml.toml"),
            format!(
                "[dataset]\nname = \"ml-lk\"\nversion = \"1\"\n\n[source]\ncorpus = \"movielens\"\npath = \"{}\"\n\n\
                 [stages.filter]\nmin_user_interactions = 5\nid_base = 1\n\n[stages.split]\nmethod = \"leave_one_out\"\n\n[stages.diagnostics]\n",
                raw.display()
            ),
        )
        .unwrap();
        ok(&rd(&["build", "ml.toml", "--data-dir", "data"], d.path()));
        (d, raw)
    })
}

/// LensKit reads the raw MovieLens files itself (its counts are the adapter's), trains
/// item-kNN from the published split, and measures recdata's MostPop lists with its own NDCG
/// and Recall: the numbers recdata's diagnostics report.
#[test]
fn lenskit_reads_movielens_trains_from_the_split_and_its_metrics_equal_recdatas() {
    let (d, raw) = movielens_built();
    let v = d.path().join("data/ml-lk/1");
    let Some(py) = torch_python() else { return };
    let got = run_script(
        &py,
        "lenskit_check.py",
        &[raw.to_str().unwrap(), v.to_str().unwrap()],
    );
    let doc = dataset_json(&v);
    let acc = &doc["accounting"];
    assert_eq!(
        got["movielens"]["interactions"], acc["normalized_interactions"],
        "{got}"
    );
    assert_eq!(
        got["movielens"]["users"], acc["filter"]["catalogue_users"],
        "{got}"
    );
    assert_eq!(
        got["movielens"]["items"], acc["filter"]["catalogue_items"],
        "{got}"
    );
    assert_eq!(got["itemknn_recommends_seen"], 0, "{got}");
    let diag: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join("diagnostics.json")).unwrap()).unwrap();
    assert_eq!(got["mostpop_users"], diag["test_users"], "{got}");
    for (ours, theirs) in [("ndcg@10", "NDCG@10"), ("recall@10", "Recall@10")] {
        let a = diag["rankers"]["mostpop"][ours].as_f64().unwrap();
        let b = got["mostpop_lenskit"][theirs].as_f64().unwrap();
        assert!((a - b).abs() < 1e-9, "{ours}: recdata {a} vs LensKit {b}");
    }
    for k in ["NDCG@10", "Recall@10"] {
        let x = got["itemknn"][k].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&x), "{k}: {got}");
    }
}
