//! Behaviour unchanged: the sha256 of every published file of the demo datasets and of each
//! corpus' synthetic build, recorded in `tests/golden/published.json`. A refactor must leave
//! every byte alone; a change on purpose re-records them with `RECDATA_BLESS=1` and says why in
//! its commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (synth corpus, synth args, manifest in manifests/, raw folder it reads).
const BUILDS: &[(&str, &[&str], &str, &str)] = &[
    (
        "lastfm-1k",
        &["--users", "50", "--events-per-user", "200", "--seed", "7"],
        "lastfm-1k-synth",
        "lastfm-1k-synth",
    ),
    (
        "microlens",
        &["--users", "300", "--seed", "7"],
        "microlens-synth",
        "microlens-synth",
    ),
    (
        "agrosense",
        &["--users", "600", "--seed", "1", "--duplicates"],
        "agrosense-synth",
        "agrosense-synth",
    ),
    (
        "deezer-sessions",
        &["--users", "50", "--seed", "7"],
        "deezer-sessions-synth",
        "deezer-sessions-synth",
    ),
    (
        "finn-slates",
        &["--users", "200", "--seed", "7"],
        "finn-slates-synth",
        "finn-slates-synth",
    ),
    ("qilin", &[], "qilin-synth", "qilin-synth"),
    (
        "microlens-1m",
        &[],
        "microlens-1m-synth",
        "microlens-1m-synth",
    ),
];

fn run(args: &[&str], cwd: &Path) {
    let o = Command::new(crate::util::bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("RECDATA_MODELS", repo().join("models"))
        .env("RECDATA_CACHE", cwd.join("cache"))
        .env("RECDATA_THREADS", "2")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// sha256 of every file under `dir` (relative path → sha256).
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    crate::util::tree(dir)
        .into_iter()
        .map(|(p, b)| (p, recdata::util::hash::sha256_hex(&b)))
        .collect()
}

#[test]
fn published_bytes_of_the_demo_and_synth_builds_are_unchanged() {
    let t = tempfile::tempdir().unwrap();
    // The manifests read ../data/raw/<name>: the same layout as the repository.
    std::fs::create_dir_all(t.path().join("manifests")).unwrap();
    std::os::unix::fs::symlink(repo().join("pipelines"), t.path().join("pipelines")).unwrap();
    let mut got: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (corpus, args, manifest, raw) in BUILDS {
        let m = t.path().join("manifests").join(format!("{manifest}.toml"));
        std::fs::copy(
            repo().join("manifests").join(format!("{manifest}.toml")),
            &m,
        )
        .unwrap();
        let raw_dir = t.path().join("data/raw").join(raw);
        let mut a = vec!["synth", corpus, "--out", raw_dir.to_str().unwrap()];
        a.extend_from_slice(args);
        run(&a, t.path());
        run(
            &["build", m.to_str().unwrap(), "--data-dir", "data"],
            t.path(),
        );
        let ds = t.path().join("data").join(manifest);
        let version = std::fs::read_link(ds.join("latest")).unwrap();
        got.insert(manifest.to_string(), hashes(&ds.join(version)));
    }
    let path = repo().join("tests/golden/published.json");
    if std::env::var_os("RECDATA_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let want: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_slice(&std::fs::read(&path).expect("tests/golden/published.json"))
            .unwrap();
    let mut diffs = Vec::new();
    for (ds, files) in &want {
        let have = got.get(ds).cloned().unwrap_or_default();
        for (f, sha) in files {
            match have.get(f) {
                Some(h) if h == sha => {}
                Some(h) => diffs.push(format!("{ds}/{f}: {sha} → {h}")),
                None => diffs.push(format!("{ds}/{f}: missing")),
            }
        }
        for f in have.keys().filter(|f| !files.contains_key(*f)) {
            diffs.push(format!("{ds}/{f}: new"));
        }
    }
    assert!(
        diffs.is_empty(),
        "published bytes changed ({} files):\n{}\n(a change on purpose: RECDATA_BLESS=1 cargo test golden, and say why)",
        diffs.len(),
        diffs.join("\n")
    );
}
