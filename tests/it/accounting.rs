//! Row accounting, for every corpus: each raw file's lines are counted here, independently of
//! recdata (text lines, gzip-compressed lines, parquet rows as pyarrow reads them), and must
//! equal `accounting.raw[file].lines`, which must equal header + skipped + rows + rejected;
//! `rejects.parquet` holds exactly the rejected rows, by file and by reason; the filter and split
//! counts add up, and match the published tables' row counts; the card shows the same numbers.

use crate::util::{build_ok, corpus_manifest, dataset_json, py, synth_cli};

/// What pyarrow and plain Python see in the raw files and the published version.
const FACTS: &str = r#"
import gzip, json, os, sys
import pyarrow.parquet as pq
raw, version = sys.argv[1], sys.argv[2]
doc = json.load(open(os.path.join(version, "dataset.json")))

def find(name):
    if name.endswith("/"):
        return os.path.join(raw, name) if os.path.isdir(os.path.join(raw, name)) else None
    for root, _, files in os.walk(raw):
        for f in files:
            p = os.path.join(root, f)
            if os.path.relpath(p, raw) == name or f == name:
                return p
    return None

def count(path):
    """Records in a raw file: lines of a text file (a last line without a newline counts),
    rows of a parquet file, files in a folder; None for .npz, whose records recdata defines."""
    if os.path.isdir(path):
        # A folder of files (AgroSense's image trees): one record per file.
        return sum(len(files) for _, _, files in os.walk(path))
    if path.endswith(".parquet"):
        return pq.ParquetFile(path).metadata.num_rows
    if path.endswith(".npz"):
        return None
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)

raw_counts = {}
for name in doc["accounting"]["raw"]:
    p = find(name)
    raw_counts[name] = None if p is None else count(p)

rejects = pq.read_table(os.path.join(version, "rejects.parquet")).to_pylist()
by_file, by_reason = {}, {}
def entry(source_file):
    """The accounting entry a reject belongs to: its file, or the folder that holds it."""
    for name in doc["accounting"]["raw"]:
        if source_file == name or (name.endswith("/") and source_file.startswith(name)):
            return name
    return source_file
for r in rejects:
    e = entry(r["source_file"])
    by_file[e] = by_file.get(e, 0) + 1
    by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + 1

tables = {f["path"]: pq.ParquetFile(os.path.join(version, f["path"])).metadata.num_rows
          for f in doc["files"] if f["path"].endswith(".parquet")}
print(json.dumps({"raw_counts": raw_counts, "rejects_by_file": by_file,
                  "rejects_by_reason": by_reason, "tables": tables}))
"#;

fn u(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn check(corpus: &str, synth_args: &[&str], source_keys: &str, stages: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    synth_cli(&d.join("raw"), corpus, synth_args);
    let name = format!("acct-{}", corpus.replace('-', "_"));
    let m = corpus_manifest(
        d,
        &name,
        corpus.trim_end_matches("-1m"),
        source_keys,
        stages,
    );
    build_ok(d, &m);
    let v = d.join("data").join(&name).join("1");
    let doc = dataset_json(&v);
    let acc = &doc["accounting"];
    let facts: serde_json::Value = serde_json::from_str(&py(
        FACTS,
        &[d.join("raw").to_str().unwrap(), v.to_str().unwrap()],
    ))
    .unwrap();
    let card = std::fs::read_to_string(v.join("README.md")).unwrap();

    let raw = acc["raw"].as_object().unwrap();
    assert!(!raw.is_empty(), "{corpus}: no raw files accounted");
    let mut rejected_total = 0;
    for (file, a) in raw {
        let (lines, header, skipped, rows, rejected) = (
            u(&a["lines"]),
            u(&a["header"]),
            u(&a["skipped"]),
            u(&a["rows"]),
            u(&a["rejected"]),
        );
        let counted = &facts["raw_counts"][file];
        assert!(
            !counted.is_null() || file.ends_with(".npz"),
            "{corpus}: raw file {file} not found under raw/"
        );
        if let Some(n) = counted.as_u64() {
            assert_eq!(
                lines, n,
                "{corpus}: {file}: recdata counted {lines} lines, the file has {n}"
            );
        }
        assert_eq!(
            lines,
            header + skipped + rows + rejected,
            "{corpus}: {file}: {lines} lines != {header} header + {skipped} skipped + {rows} rows + {rejected} rejected"
        );
        assert_eq!(
            facts["rejects_by_file"][file].as_u64().unwrap_or(0),
            rejected,
            "{corpus}: {file}: rejects.parquet rows vs accounting"
        );
        rejected_total += rejected;
        let row = format!(
            "| `{file}` | {lines} | {header} | {skipped} | {rows} | {rejected} | {} |",
            u(&a["repaired"])
        );
        assert!(
            card.contains(&row),
            "{corpus}: the card lacks {row}\n{card}"
        );
    }
    // Every reject belongs to an accounted file, and the reasons add up.
    let by_file: u64 = facts["rejects_by_file"]
        .as_object()
        .unwrap()
        .values()
        .map(u)
        .sum();
    assert_eq!(
        by_file, rejected_total,
        "{corpus}: rejects from files not accounted"
    );
    let reasons = acc["rejected"].as_object().cloned().unwrap_or_default();
    assert_eq!(
        serde_json::Value::Object(reasons),
        facts["rejects_by_reason"],
        "{corpus}: rejects by reason"
    );

    // normalize → filter → split.
    let f = &acc["filter"];
    assert_eq!(
        u(&acc["normalized_interactions"]),
        u(&f["input_rows"]),
        "{corpus}"
    );
    let removed = u(&f["removed_time_window"])
        + u(&f["removed_dedup"])
        + u(&f["removed_max_user"])
        + u(&f["removed_k_core"]);
    assert_eq!(
        u(&f["input_rows"]),
        removed + u(&f["output_rows"]),
        "{corpus}: filter"
    );
    let tables = &facts["tables"];
    assert_eq!(
        tables["interactions.parquet"].as_u64(),
        Some(u(&f["output_rows"])),
        "{corpus}: interactions.parquet rows vs filter output"
    );
    if let Some(s) = acc["splits"].as_object() {
        let mut total = 0;
        for part in ["train", "valid", "test"] {
            let n = tables[format!("splits/{part}.parquet")].as_u64();
            assert_eq!(n, s[part].as_u64(), "{corpus}: splits/{part}.parquet rows");
            total += n.unwrap();
        }
        assert_eq!(
            total,
            u(&f["output_rows"]),
            "{corpus}: splits vs filter output"
        );
    }
    assert_eq!(
        tables["users.parquet"].as_u64(),
        f["users"].as_u64(),
        "{corpus}: users.parquet rows"
    );
    assert_eq!(
        tables["items.parquet"].as_u64(),
        f["items"].as_u64(),
        "{corpus}: items.parquet rows"
    );
    assert_eq!(
        tables["rejects.parquet"].as_u64(),
        Some(rejected_total),
        "{corpus}: rejects.parquet rows"
    );
    for t in f["side_tables"].as_array().into_iter().flatten() {
        let file = format!("{}.parquet", t["table"].as_str().unwrap());
        assert_eq!(
            tables[&file].as_u64(),
            t["output_rows"].as_u64(),
            "{corpus}: {file}"
        );
        assert_eq!(
            u(&t["input_rows"]),
            u(&t["removed_user_filtered"]) + u(&t["output_rows"]),
            "{corpus}: {file}"
        );
    }
}

const FILTER_SPLIT: &str =
    "[stages.filter]\nmin_user_interactions = 2\n[stages.split]\nmethod = \"leave_one_out\"\n";

macro_rules! corpora {
    ($($t:ident: $corpus:literal, [$($a:literal),*], $keys:literal, $stages:expr;)*) => {$(
        #[test]
        fn $t() {
            check($corpus, &[$($a),*], $keys, $stages);
        }
    )*};
}

corpora! {
    lastfm_1k: "lastfm-1k", ["--users", "12", "--events-per-user", "40"], "", FILTER_SPLIT;
    microlens: "microlens", ["--users", "30"], "", FILTER_SPLIT;
    microlens_1m: "microlens-1m", ["--users", "30"], "", FILTER_SPLIT;
    movielens_100k: "movielens", ["--users", "15"], "", FILTER_SPLIT;
    movielens_1m: "movielens-1m", ["--users", "15"], "", FILTER_SPLIT;
    amazon_reviews_2023: "amazon-reviews-2023", ["--users", "20"], "category = \"All_Beauty\"", FILTER_SPLIT;
    agrosense: "agrosense", [], "", "";
    deezer_sessions: "deezer-sessions", [], "", FILTER_SPLIT;
    qilin: "qilin", [], "", FILTER_SPLIT;
    finn_slates: "finn-slates", [], "", FILTER_SPLIT;
}
