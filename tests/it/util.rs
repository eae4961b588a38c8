use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test: this build's, or `RECDATA_TEST_BIN` (a release binary, or an older
/// one to show that a regression test fails without its fix).
pub fn bin() -> PathBuf {
    std::env::var_os("RECDATA_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_recdata")))
}

/// recdata with the repository's model registry, a private cache in `cwd` and two threads
/// (the tests run in temporary folders, outside the checkout).
pub fn recdata_with_models(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env(
            "RECDATA_MODELS",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
        )
        .env("RECDATA_CACHE", cwd.join("cache"))
        .env("RECDATA_THREADS", "2")
        .output()
        .expect("run recdata")
}

pub fn recdata(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("run recdata")
}

/// Writes a manifest for a Last.fm-format corpus in `raw` (relative to `dir`).
pub fn manifest(dir: &Path, name: &str, version: &str, raw: &str, stages: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!("[dataset]\nname = \"{name}\"\nversion = \"{version}\"\n\n[source]\ncorpus = \"lastfm-1k\"\npath = \"{raw}\"\n\n{stages}"),
    )
    .unwrap();
    p
}

pub fn synth(out: &Path, users: u32, per_user: u32, seed: u64) {
    recdata::synth::lastfm_1k::write(
        out,
        &recdata::synth::lastfm_1k::Options {
            users,
            seed,
            events_per_user: per_user,
        },
    )
    .unwrap();
}

/// All files under `dir` (relative path → bytes), following no symlinks.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

pub fn python() -> String {
    std::env::var("RECDATA_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs a Python script in the test venv (pyarrow, numpy, onnxruntime, pillow, tokenizers) and
/// returns its stdout; panics with its stderr when it fails.
pub fn py(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python (make test installs the venv)");
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds `manifest` (a path relative to `dir`) into `dir/data`; panics with stderr on failure.
pub fn build_ok(dir: &Path, manifest: &str) -> Output {
    let out = recdata(&["build", manifest, "--data-dir", "data"], dir);
    assert!(
        out.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes a manifest for corpus `corpus` reading `raw` (relative to `dir`), with `extra` TOML
/// (source keys first, then stages) appended.
pub fn corpus_manifest(
    dir: &Path,
    name: &str,
    corpus: &str,
    source_keys: &str,
    stages: &str,
) -> String {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!("[dataset]\nname = \"{name}\"\nversion = \"1\"\n\n[source]\ncorpus = \"{corpus}\"\npath = \"raw\"\n{source_keys}\n\n{stages}"),
    )
    .unwrap();
    p.file_name().unwrap().to_str().unwrap().to_owned()
}

/// Every table of a published version as text: one JSON row per line under a `== path ==`
/// heading, as pyarrow reads it (for golden snapshots and exact assertions).
pub fn dump(version_dir: &Path) -> String {
    let script = r#"
import json, sys, pyarrow.parquet as pq
root = sys.argv[1]
doc = json.load(open(f"{root}/dataset.json"))
for f in sorted(doc["files"], key=lambda f: f["path"]):
    print(f"== {f['path']} ==")
    for row in pq.read_table(f"{root}/{f['path']}").to_pylist():
        print(json.dumps(row, ensure_ascii=False, default=str, sort_keys=False))
"#;
    let out = Command::new(python())
        .args(["-c", script, version_dir.to_str().unwrap()])
        .output()
        .expect("python3 with pyarrow (make test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The rows of one table in a version, as JSON values.
pub fn rows_json(version_dir: &Path, file: &str) -> Vec<serde_json::Value> {
    let d = dump(version_dir);
    let mut on = false;
    let mut out = Vec::new();
    for l in d.lines() {
        if let Some(h) = l.strip_prefix("== ") {
            on = h.trim_end_matches(" ==") == file;
        } else if on {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    out
}

/// The `dataset.json` of a version.
pub fn dataset_json(version_dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(version_dir.join("dataset.json")).unwrap()).unwrap()
}

/// Runs `recdata synth <corpus> --out <out> <args>`; panics with stderr on failure.
pub fn synth_cli(out: &Path, corpus: &str, args: &[&str]) {
    let mut all = vec!["synth", corpus, "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    let o = recdata(&all, Path::new("."));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The stage cache directory of `stage` (`normalize`, `filter`, ...) under a dataset folder.
pub fn stage_cache(dataset_dir: &Path, stage: &str) -> PathBuf {
    let prefix = format!("{stage}-");
    std::fs::read_dir(dataset_dir.join(".cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&prefix)
        })
        .unwrap_or_else(|| panic!("no {stage} cache under {}", dataset_dir.display()))
}
