//! Every written parquet file, read back by pyarrow, has exactly the canonical schema from
//! `schemas/` (names, pyarrow type names, nullability) and the row count in `dataset.json`.

use std::process::Command;

use crate::util::{manifest, python, recdata, synth};

#[test]
fn pyarrow_reads_every_file_with_the_canonical_schema() {
    let tmp = tempfile::tempdir().unwrap();
    synth(&tmp.path().join("raw"), 8, 50, 1);
    let m = manifest(
        tmp.path(),
        "p",
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
    assert_eq!(check_with_pyarrow(&tmp.path().join("data/p/1")), 9);
}

/// Reads every file a version lists with pyarrow and checks it against `schemas/`; returns how
/// many files were checked.
pub fn check_with_pyarrow(version_dir: &std::path::Path) -> usize {
    let script = r#"
import json, re, sys, pyarrow.parquet as pq
root, schemas = sys.argv[1], sys.argv[2]
doc = json.load(open(f"{root}/dataset.json"))
corpus = doc["source"]["corpus"]
checked = 0
for f in doc["files"]:
    t = pq.read_table(f"{root}/{f['path']}")
    s = json.load(open(f"{schemas}/{f['table']}.json"))
    want = [(x["name"], x["type"], x["nullable"]) for x in s["fields"] + s.get("corpus_extras", {}).get(corpus, [])]
    got = [(x.name, str(x.type), x.nullable) for x in t.schema]
    # `fixed_size_list<...>[*]`: any length (the encoder's / the file's dimension).
    got = [(n, re.sub(r"\[\d+\]$", "[*]", g) if w.endswith("[*]") else g, k) for (n, g, k), (_, w, _) in zip(got, want)] if len(got) == len(want) else got
    assert got == want, (f["path"], got, want)
    assert t.num_rows == f["rows"], (f["path"], t.num_rows, f["rows"])
    md = pq.read_metadata(f"{root}/{f['path']}").metadata
    assert md[b"recdata.table"].decode() == f["table"]
    checked += 1
print(checked)
"#;
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let out = Command::new(python())
        .args([
            "-c",
            script,
            version_dir.to_str().unwrap(),
            schemas.to_str().unwrap(),
        ])
        .output()
        .expect("python3 with pyarrow (make test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
