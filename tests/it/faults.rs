//! The fault matrix (docs/reliability.md). A full build of a multimodal fixture — normalize,
//! filter, split, media fetch over HTTP, captions from an OpenAI-compatible server, three
//! encoders, semantic ids, diagnostics, publish — disturbed in every way a multi-day build is:
//!
//! - every stage killed with SIGKILL at its start, middle and end (`RECDATA_FAULT=kill@…`);
//! - every stage failing with ENOSPC in its middle (`RECDATA_FAULT=enospc@…`), and a real full
//!   disk (a small tmpfs as the data directory);
//! - a read-only output directory (a read-only tmpfs);
//! - an input truncated between a killed run and its resumption, and one changed after
//!   publication;
//! - two builds of the same manifest at once.
//!
//! Every cell checks: the exit (SIGKILL, or code 2 with a message naming the cause), that no
//! partial version is visible under `data/<dataset>/` (whatever is visible passes `recdata
//! verify`), that no cache holds a torn file, and that the next undisturbed run completes with
//! output byte-identical to a build that was never disturbed. Cells are collected, not stopped
//! at the first failure, and the matrix is printed (`cargo test faults -- --nocapture`).
//! With `RECDATA_FAULT_KEEP=DIR`, both sides of every published file that differs are written to
//! DIR (`<file>.got`, `<file>.want`) for a closer look.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::shard::{Fixture, version};
use crate::util::tree;

const DATASET: &str = "data/ml-shards";
const STAGES: [&str; 9] = [
    "normalize",
    "filter",
    "split",
    "media",
    "caption",
    "encode",
    "semantic_ids",
    "diagnostics",
    "publish",
];

fn build_with(d: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(crate::util::bin());
    c.args(["build", "ml.toml", "--data-dir", "data", "--quiet"])
        .current_dir(d)
        .env("NO_COLOR", "1")
        .env(
            "RECDATA_MODELS",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
        )
        .env("RECDATA_CACHE", d.join("cache"))
        .env("RECDATA_THREADS", "2")
        // Small embedding-cache flushes, so a kill mid-encode leaves finished work behind.
        .env("RECDATA_ENCODE_FLUSH_ITEMS", "16")
        .env_remove("RECDATA_FAULT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run recdata")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// One cell of the matrix: its name and what went wrong (empty: passed).
struct Cell {
    name: String,
    problems: Vec<String>,
}

struct Matrix {
    title: &'static str,
    cells: Vec<Cell>,
}

impl Matrix {
    fn new(title: &'static str) -> Matrix {
        Matrix {
            title,
            cells: Vec::new(),
        }
    }

    fn record(&mut self, name: String, problems: Vec<String>) {
        self.cells.push(Cell { name, problems });
    }

    /// Prints the cells and fails with every problem found.
    fn finish(self) {
        let passed = self.cells.iter().filter(|c| c.problems.is_empty()).count();
        eprintln!(
            "fault matrix: {}: {passed}/{} cells passed",
            self.title,
            self.cells.len()
        );
        for c in &self.cells {
            let mark = if c.problems.is_empty() {
                "pass"
            } else {
                "FAIL"
            };
            eprintln!("  {mark}  {}", c.name);
        }
        let failures: Vec<String> = self
            .cells
            .iter()
            .filter(|c| !c.problems.is_empty())
            .map(|c| format!("{}:\n    {}", c.name, c.problems.join("\n    ")))
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// What must hold right after a disturbed run: every visible entry of the dataset directory is
/// a complete version that `recdata verify` accepts (or `latest` pointing at one), and no cache
/// holds a torn file.
fn check_disturbed(d: &Path, problems: &mut Vec<String>) {
    let ds = d.join(DATASET);
    if let Ok(entries) = std::fs::read_dir(&ds) {
        for e in entries {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let target = if name == "latest" {
                match std::fs::read_link(e.path()) {
                    Ok(t) => ds.join(t),
                    Err(_) => {
                        problems.push("`latest` is not a symlink".into());
                        continue;
                    }
                }
            } else {
                e.path()
            };
            let v = crate::util::recdata(&["verify", target.to_str().unwrap()], d);
            if !v.status.success() {
                problems.push(format!(
                    "visible `{name}` does not verify: {}{}",
                    String::from_utf8_lossy(&v.stdout),
                    stderr(&v)
                ));
            }
        }
    }
    for root in [ds.join(".cache"), d.join("cache")] {
        torn_files(&root, problems);
    }
}

/// Files under `root` that a reader would find torn. Partial work of a killed build lives only
/// in `*.tmp-<pid>` / `.staging-*` names (removed at the next start) and `partial/*.part`
/// downloads (resumed by Range); append-only journals may end in one torn line, which their
/// readers skip (every earlier line must parse).
fn torn_files(root: &Path, problems: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(".tmp-") || name.starts_with(".staging-") || name.ends_with(".part") {
            continue;
        }
        if p.is_dir() {
            torn_files(&p, problems);
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let ok = if name.ends_with(".parquet") {
            parquet_ok(&p)
        } else if name.ends_with(".jsonl") {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.split('\n').collect();
            // Every line before the last one parses; the last is "" (complete) or torn.
            lines[..lines.len() - 1]
                .iter()
                .filter(|l| !l.is_empty())
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        } else if name.ends_with(".json") {
            serde_json::from_slice::<serde_json::Value>(&bytes).is_ok()
        } else if name.ends_with(".arrow") {
            arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
                .is_ok_and(|r| r.into_iter().all(|b| b.is_ok()))
        } else if p
            .parent()
            .and_then(|x| x.parent())
            .is_some_and(|x| x.ends_with("blobs/sha256"))
        {
            recdata::util::hash::sha256_hex(&bytes) == name
        } else {
            true
        };
        if !ok {
            problems.push(format!("torn file in the cache: {}", p.display()));
        }
    }
}

/// The footer parses and every row group decodes.
fn parquet_ok(p: &Path) -> bool {
    let f = std::fs::File::open(p).unwrap();
    let Ok(b) = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f) else {
        return false;
    };
    b.build().is_ok_and(|r| r.into_iter().all(|b| b.is_ok()))
}

/// The next undisturbed run completes to the reference bytes, and leaves no partial work.
fn check_resumes(d: &Path, reference: &[(String, Vec<u8>)], problems: &mut Vec<String>) {
    let o = build_with(d, &[]);
    if !o.status.success() {
        problems.push(format!("the next run failed: {}", stderr(&o)));
        return;
    }
    let got = tree(&version(d));
    if got.len() != reference.len() {
        problems.push(format!(
            "{} files published, the undisturbed build has {}",
            got.len(),
            reference.len()
        ));
    }
    for ((n, a), (m, b)) in got.iter().zip(reference) {
        if n != m || a != b {
            if let Some(keep) = std::env::var_os("RECDATA_FAULT_KEEP") {
                let k = PathBuf::from(keep);
                std::fs::create_dir_all(&k).unwrap();
                std::fs::write(k.join(format!("{}.got", n.replace('/', "_"))), a).unwrap();
                std::fs::write(k.join(format!("{}.want", m.replace('/', "_"))), b).unwrap();
            }
            problems.push(format!("{n} differs from the undisturbed build"));
        }
    }
    for dir in [d.join(DATASET), d.join(DATASET).join(".cache")] {
        for e in std::fs::read_dir(&dir).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            if n.starts_with(".staging-") || n.contains(".tmp-") {
                problems.push(format!("left behind after a completed build: {n}"));
            }
        }
    }
}

/// The undisturbed build every cell is compared with: its published files, and the bytes its
/// data directory takes (whole pages, as a tmpfs counts them).
fn reference(fx: &Fixture) -> (Vec<(String, Vec<u8>)>, u64) {
    let w = fx.workdir();
    let o = build_with(w.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    (tree(&version(w.path())), du(&w.path().join("data")))
}

/// SIGKILL at one phase of every stage.
fn kill_cells(phase: &str) {
    let fx = Fixture::new();
    let (want, _) = reference(&fx);
    let mut m = Matrix::new("SIGKILL");
    for stage in STAGES {
        let w = fx.workdir();
        let d = w.path();
        let mut problems = Vec::new();
        let o = build_with(d, &[("RECDATA_FAULT", &format!("kill@{stage}:{phase}"))]);
        if o.status.signal() != Some(libc::SIGKILL) {
            problems.push(format!(
                "expected death by SIGKILL at {stage}:{phase}, got {:?} (the point was never reached?) {}",
                o.status,
                stderr(&o)
            ));
        }
        if phase != "end" || stage != "publish" {
            // Only a kill after the final rename may leave the version behind.
            if version(d).exists() {
                problems.push("a version is visible although publish never finished".into());
            }
        }
        check_disturbed(d, &mut problems);
        check_resumes(d, &want, &mut problems);
        m.record(format!("kill {stage}:{phase}"), problems);
    }
    m.finish();
}

#[test]
fn sigkill_at_the_start_of_every_stage_resumes_to_identical_output() {
    kill_cells("start");
}

#[test]
fn sigkill_in_the_middle_of_every_stage_resumes_to_identical_output() {
    kill_cells("mid");
}

#[test]
fn sigkill_at_the_end_of_every_stage_resumes_to_identical_output() {
    kill_cells("end");
}

#[test]
fn a_full_disk_in_any_stage_fails_clearly_and_resumes_to_identical_output() {
    let fx = Fixture::new();
    let (want, need) = reference(&fx);
    let mut m = Matrix::new("ENOSPC");
    for stage in STAGES {
        let w = fx.workdir();
        let d = w.path();
        let mut problems = Vec::new();
        let o = build_with(d, &[("RECDATA_FAULT", &format!("enospc@{stage}:mid"))]);
        let err = stderr(&o);
        if o.status.code() != Some(2)
            || !err.contains("No space left on device")
            || !err.contains(stage)
        {
            problems.push(format!(
                "expected exit 2 naming the stage and ENOSPC, got {:?}: {err}",
                o.status
            ));
        }
        if version(d).exists() {
            problems.push("a version is visible after a failed build".into());
        }
        check_disturbed(d, &mut problems);
        check_resumes(d, &want, &mut problems);
        m.record(format!("ENOSPC {stage}:mid (injected)"), problems);
    }

    // A real full disk: the data directory on a tmpfs of 40% of what the build needs.
    if let Some(w) = tmpfs_workdir(&fx, &format!("size={}", need * 2 / 5)) {
        let d = w.dir.path();
        let mut problems = Vec::new();
        let o = build_with(d, &[]);
        let err = stderr(&o);
        if o.status.code() != Some(2) || !err.contains("No space left on device") {
            problems.push(format!(
                "expected exit 2 with ENOSPC, got {:?}: {err}",
                o.status
            ));
        }
        if !err.contains("data/ml-shards/") {
            problems.push(format!("the message names no path under data/: {err}"));
        }
        check_disturbed(d, &mut problems);
        w.remount(&format!("remount,size={}", 64 << 20));
        check_resumes(d, &want, &mut problems);
        m.record(
            "ENOSPC, real: tmpfs data directory at 40% of the build's size".into(),
            problems,
        );
    }

    // A read-only output directory.
    if let Some(w) = tmpfs_workdir(&fx, "ro,size=64m") {
        let d = w.dir.path();
        let mut problems = Vec::new();
        let o = build_with(d, &[]);
        let err = stderr(&o);
        if o.status.code() != Some(2)
            || !err.contains("Read-only file system")
            || !err.contains("`data/ml-shards`")
        {
            problems.push(format!(
                "expected exit 2 naming the read-only path, got {:?}: {err}",
                o.status
            ));
        }
        w.remount("remount,rw");
        check_resumes(d, &want, &mut problems);
        m.record(
            "read-only output directory (tmpfs mounted ro)".into(),
            problems,
        );
    }
    m.finish();
}

/// A fixture workdir whose `data/` is a fresh tmpfs mounted with `opts`; None (skipped) where
/// this process may not mount, unless CI.
fn tmpfs_workdir(fx: &Fixture, opts: &str) -> Option<Mounted> {
    let dir = fx.workdir();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            opts,
            "recdata-test",
            data.to_str().unwrap(),
        ])
        .output();
    match st {
        Ok(o) if o.status.success() => Some(Mounted { dir, data }),
        other => {
            let why = match other {
                Ok(o) => stderr(&o),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to mount a tmpfs (root): {why}"
            );
            eprintln!("skipping the tmpfs cells: cannot mount ({why})");
            None
        }
    }
}

struct Mounted {
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Mounted {
    fn remount(&self, opts: &str) {
        let o = Command::new("mount")
            .args(["-o", opts, self.data.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "remount {opts}: {}", stderr(&o));
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.data).output();
    }
}

fn du(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            n += du(&e.path());
        } else if t.is_file() {
            // Whole pages, as tmpfs counts them.
            n += e.metadata().unwrap().len().div_ceil(4096) * 4096;
        }
    }
    n
}

/// Copies the raw files of `from` into `d/raw` (replacing the fixture's shared symlink), so the
/// cell can change them.
fn own_raw(from: &Path, d: &Path) {
    std::fs::remove_file(d.join("raw")).unwrap();
    let o = Command::new("cp")
        .args(["-r"])
        .arg(from.join("raw"))
        .arg(d.join("raw"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

fn pairs_files(d: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(d.join("raw"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().unwrap().to_string_lossy().contains("pairs"))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

#[test]
fn inputs_changed_between_runs_are_detected_by_hash_and_never_mixed() {
    let fx = Fixture::new();
    let (want, _) = reference(&fx);
    let mut m = Matrix::new("inputs changed");

    // Killed mid-filter, then the interactions file is truncated mid-line: the resumed build
    // must be exactly a clean build of the truncated input, nothing from the first run.
    {
        let w = fx.workdir();
        let d = w.path();
        own_raw(fx.raw.path(), d);
        let mut problems = Vec::new();
        let o = build_with(d, &[("RECDATA_FAULT", "kill@filter:mid")]);
        if o.status.signal() != Some(libc::SIGKILL) {
            problems.push(format!("not killed: {:?}", o.status));
        }
        for f in pairs_files(d) {
            let b = std::fs::read(&f).unwrap();
            std::fs::write(&f, &b[..b.len() * 2 / 3]).unwrap();
        }
        // The same truncated input, built cleanly elsewhere.
        let clean = fx.workdir();
        own_raw(d, clean.path());
        let o = build_with(clean.path(), &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let clean_tree = tree(&version(clean.path()));
        if clean_tree == want {
            problems.push("truncating the input changed nothing (the cell tests nothing)".into());
        }
        check_resumes(d, &clean_tree, &mut problems);
        let doc = crate::util::dataset_json(&version(d));
        let inputs = doc["source"]["files"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut matched = 0;
        for f in pairs_files(d) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            // The adapter reads one of the CSV/TSV forms.
            let Some(rec) = inputs
                .iter()
                .find(|i| i["file"].as_str().is_some_and(|p| p.ends_with(&name)))
            else {
                continue;
            };
            matched += 1;
            let sha = recdata::util::hash::sha256_file(&f).unwrap().0;
            if rec["sha256"].as_str() != Some(sha.as_str()) {
                problems.push(format!(
                    "dataset.json does not record the truncated {name}'s sha256"
                ));
            }
        }
        if matched == 0 {
            problems.push(format!(
                "no pairs file among the recorded inputs {inputs:?}"
            ));
        }
        m.record(
            "input truncated mid-line between a killed run and its resumption".into(),
            problems,
        );
    }

    // Changed after publication: the same version is never rewritten.
    {
        let w = fx.workdir();
        let d = w.path();
        own_raw(fx.raw.path(), d);
        let mut problems = Vec::new();
        let o = build_with(d, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let before = tree(&version(d));
        let f = &pairs_files(d)[0];
        let mut b = std::fs::read(f).unwrap();
        let last = b[..b.len() - 1].iter().rposition(|&c| c == b'\n').unwrap();
        b.truncate(last + 1);
        std::fs::write(f, &b).unwrap();
        let o = build_with(d, &[]);
        let err = stderr(&o);
        // Exit 1: the inputs are wrong for this version (src/error.rs), not a failure to run.
        if o.status.code() != Some(1) || !err.contains("already published") {
            problems.push(format!(
                "expected exit 1 refusing to modify the published version, got {:?}: {err}",
                o.status
            ));
        }
        if tree(&version(d)) != before {
            problems.push("the published version changed".into());
        }
        check_disturbed(d, &mut problems);
        m.record(
            "input changed after publication: the version is not rewritten".into(),
            problems,
        );
    }
    m.finish();
}

#[test]
fn two_builds_of_one_manifest_at_once_one_fails_clearly_nothing_is_corrupted() {
    let fx = Fixture::new();
    let (want, _) = reference(&fx);
    let mut m = Matrix::new("concurrent builds");
    let w = fx.workdir();
    let d = w.path().to_path_buf();
    let mut problems = Vec::new();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| build_with(&d, &[]));
        let b = s.spawn(|| build_with(&d, &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let codes = [a.status.code(), b.status.code()];
    let loser = if a.status.success() { &b } else { &a };
    if !codes.contains(&Some(0)) || !codes.contains(&Some(2)) {
        problems.push(format!(
            "expected one success and one exit 2, got {codes:?}: {}{}",
            stderr(&a),
            stderr(&b)
        ));
    } else if !stderr(loser).contains(".lock") || !stderr(loser).contains("another recdata build") {
        problems.push(format!("the refusal is unclear: {}", stderr(loser)));
    }
    check_disturbed(&d, &mut problems);
    check_resumes(&d, &want, &mut problems);
    m.record("two builds of one manifest at once".into(), problems);
    m.finish();
}
