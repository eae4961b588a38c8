//! Regression tests for what adversarial probing of the release binary found (issue "Real-world
//! contact", part 2): each test is named after the bug it pins, and failed before its fix.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bin, manifest, recdata, synth};

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?}):\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn build(dir: &Path, m: &Path) -> Output {
    recdata(&["build", m.to_str().unwrap(), "--data-dir", "data"], dir)
}

/// A Last.fm-format corpus and a manifest for version `v` of dataset `d`.
fn lastfm(dir: &Path, d: &str, v: &str) -> PathBuf {
    if !dir.join("raw").exists() {
        synth(&dir.join("raw"), 6, 30, 5);
    }
    manifest(
        dir,
        d,
        v,
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    )
}

const EVENTS: &str = "raw/userid-timestamp-artid-artname-traid-traname.tsv";

#[test]
fn published_version_named_like_a_staging_leftover_survives_the_next_build() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "2.tmp-1");
    ok(&build(t.path(), &m));
    let v = t.path().join("data/d/2.tmp-1");
    let before = std::fs::read(v.join("dataset.json")).unwrap();
    // Another version of the same dataset: its start-up clean-up must not take `2.tmp-1`.
    let m3 = manifest(
        t.path(),
        "d",
        "3",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    ok(&build(t.path(), &m3));
    assert_eq!(std::fs::read(v.join("dataset.json")).unwrap(), before);
    ok(&recdata(&["verify", v.to_str().unwrap()], t.path()));
    // And a staging leftover of a killed build (a hidden name) is still cleaned up.
    let leftover = t.path().join("data/d/.staging-4-99999");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("dataset.json"), b"{}").unwrap();
    ok(&build(t.path(), &m3));
    assert!(!leftover.exists());
    assert!(v.join("dataset.json").exists());
}

/// Waits until `pid` is stopped (`T` in /proc/<pid>/stat), or panics after 60 s.
fn wait_stopped(pid: u32) {
    let t0 = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('T'))
        {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "build never stopped"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn input_changed_while_reading_fails_the_build() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "1");
    // The build stops itself after parsing (normalize's output written, not committed); the
    // input is truncated; the build goes on.
    let child = Command::new(bin())
        .args(["build", m.to_str().unwrap(), "--data-dir", "data"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("RECDATA_FAULT", "stop@normalize:mid")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_stopped(child.id());
    let events = t.path().join(EVENTS);
    let text = std::fs::read(&events).unwrap();
    std::fs::write(&events, &text[..text.len() / 2]).unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("input changed while reading")
            && e.contains("userid-timestamp-artid-artname-traid-traname.tsv")
            && e.contains("changed size"),
        "{e}"
    );
    assert!(!t.path().join("data/d/1").exists(), "nothing is published");
    // Built again on the file as it now is, the recorded hash is that file's.
    ok(&build(t.path(), &m));
    let doc = crate::util::dataset_json(&t.path().join("data/d/1"));
    let (sha, bytes) = recdata::util::hash::sha256_file(&events).unwrap();
    let rec = &doc["source"]["files"][0];
    assert_eq!(rec["sha256"], sha.as_str());
    assert_eq!(rec["bytes"], bytes);
}

#[test]
fn same_size_rewrite_with_the_old_mtime_is_hashed_again() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "1");
    ok(&build(t.path(), &m));
    let events = t.path().join(EVENTS);
    let mtime = std::fs::metadata(&events).unwrap().modified().unwrap();
    // One listening event moved to another user: same size, same mtime afterwards.
    let text = std::fs::read(&events).unwrap();
    let at = text.windows(11).position(|w| w == b"user_000001").unwrap();
    let mut changed = text.clone();
    changed[at..at + 11].copy_from_slice(b"user_000002");
    assert_eq!(changed.len(), text.len());
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&events, &changed).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&events)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let m2 = manifest(
        t.path(),
        "d",
        "2",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    ok(&build(t.path(), &m2));
    let doc = crate::util::dataset_json(&t.path().join("data/d/2"));
    let (sha, _) = recdata::util::hash::sha256_file(&events).unwrap();
    assert_eq!(doc["source"]["files"][0]["sha256"], sha.as_str());
}

fn flip_byte(p: &Path) {
    let mut b = std::fs::read(p).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x55;
    // In place, as an editor or a bad disk would: the inode (and its hard links) changes.
    use std::io::{Seek, Write};
    let mut f = std::fs::File::options().write(true).open(p).unwrap();
    f.seek(std::io::SeekFrom::Start(mid as u64)).unwrap();
    f.write_all(&b[mid..=mid]).unwrap();
}

#[test]
fn damage_to_a_published_file_is_not_published_again() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "1");
    ok(&build(t.path(), &m));
    let v1 = t.path().join("data/d/1");
    let good: Vec<(String, Vec<u8>)> = [
        "rejects.parquet",
        "interactions.parquet",
        "splits/test.parquet",
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read(v1.join(f)).unwrap()))
    .collect();
    for (f, _) in &good {
        flip_byte(&v1.join(f));
    }
    assert_eq!(
        recdata(&["verify", v1.to_str().unwrap()], t.path())
            .status
            .code(),
        Some(1)
    );
    // A new version: the damaged cached stages are rebuilt, not linked.
    let m2 = manifest(
        t.path(),
        "d",
        "2",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    let o = build(t.path(), &m2);
    let e = ok(&o);
    assert!(
        e.contains("is damaged") && e.contains("rebuilding it"),
        "{e}"
    );
    let v2 = t.path().join("data/d/2");
    // Byte for byte what an undisturbed build of version 2 publishes.
    let clean = tempfile::tempdir().unwrap();
    synth(&clean.path().join("raw"), 6, 30, 5);
    let mc = manifest(
        clean.path(),
        "d",
        "2",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    ok(&build(clean.path(), &mc));
    for (f, _) in &good {
        assert_eq!(
            std::fs::read(v2.join(f)).unwrap(),
            std::fs::read(clean.path().join("data/d/2").join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(
        std::fs::read(v2.join("rejects.parquet")).unwrap(),
        good[0].1
    );
    ok(&recdata(&["verify", v2.to_str().unwrap()], t.path()));
    // Version 1 again: it is damaged, and the error says so (not "bump the version").
    let m = lastfm(t.path(), "d", "1");
    let o = build(t.path(), &m);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains("is damaged") && e.contains("rejects.parquet") && !e.contains("bump"),
        "{e}"
    );
    // It was left as it is.
    assert_ne!(
        std::fs::read(v1.join("rejects.parquet")).unwrap(),
        good[0].1
    );
}

fn movielens_raw(dir: &Path) -> PathBuf {
    let raw = dir.join("ml");
    crate::util::synth_cli(&raw, "movielens", &["--users", "12", "--seed", "3"]);
    let inner = raw.join("ml-100k");
    if inner.is_dir() { inner } else { raw }
}

fn movielens_manifest(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("ml.toml");
    std::fs::write(
        &p,
        format!("[dataset]\nname = \"ml\"\nversion = \"1\"\n\n[source]\ncorpus = \"movielens\"\npath = \"ml\"\n{extra}"),
    )
    .unwrap();
    p
}

#[test]
fn zero_usable_rows_is_a_failure_that_names_the_encoding() {
    let t = tempfile::tempdir().unwrap();
    let d = movielens_raw(t.path());
    let m = movielens_manifest(t.path(), "");
    let data = d.join("u.data");
    let text = std::fs::read_to_string(&data).unwrap();
    // UTF-16 with a byte order mark, as Windows tools write it.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(&data, utf16).unwrap();
    let o = build(t.path(), &m);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("no usable rows") && e.contains("UTF-16 little-endian"),
        "{e}"
    );
    assert!(e.contains("`u.data`") && e.contains("field_count"), "{e}");
    assert!(!t.path().join("data/ml/1").exists());
    // An empty ratings file.
    std::fs::write(&data, b"").unwrap();
    let o = build(t.path(), &m);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("no usable rows"), "{}", err(&o));
    // Every line rejected (a Last.fm file of the wrong shape).
    let t2 = tempfile::tempdir().unwrap();
    let m2 = lastfm(t2.path(), "d", "1");
    let events = t2.path().join(EVENTS);
    let bad: String = (0..50)
        .map(|i| format!("user_{i}\tnot a timestamp\n"))
        .collect();
    std::fs::write(&events, bad).unwrap();
    let o = build(t2.path(), &m2);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("no usable rows") && e.contains("50 rejected") && e.contains("field_count 50"),
        "{e}"
    );
}

#[test]
fn a_filter_that_removes_everything_is_a_failure() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), 6, 30, 5);
    let m = manifest(
        t.path(),
        "d",
        "1",
        "raw",
        "[stages.filter]\nmin_user_interactions = 100000\n",
    );
    let o = build(t.path(), &m);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let e = err(&o);
    assert!(
        e.contains("removed all") && e.contains("min_user_interactions = 100000"),
        "{e}"
    );
}

#[test]
fn movielens_missing_or_unusable_side_file_is_an_error_unless_optional() {
    let t = tempfile::tempdir().unwrap();
    let d = movielens_raw(t.path());
    std::fs::remove_file(d.join("u.item")).unwrap();
    let m = movielens_manifest(t.path(), "");
    let o = build(t.path(), &m);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let e = err(&o);
    assert!(e.contains("u.item") && e.contains("items = false"), "{e}");
    // A directory where the file should be, and a symlink loop: said as what they are.
    std::fs::create_dir(d.join("u.item")).unwrap();
    let e = err(&build(t.path(), &m));
    assert!(e.contains("u.item") && e.contains("is a directory"), "{e}");
    std::fs::remove_dir(d.join("u.item")).unwrap();
    std::os::unix::fs::symlink(d.join("u.item"), d.join("u.item")).unwrap();
    let e = err(&build(t.path(), &m));
    assert!(e.contains("a loop of symbolic links"), "{e}");
    std::fs::remove_file(d.join("u.item")).unwrap();
    // Optional when the manifest says so: items without titles, exit 0.
    let m = movielens_manifest(t.path(), "items = false\n");
    ok(&build(t.path(), &m));
}

/// Runs `recdata build` with a deadline: a hang is a failure, not a stuck test.
fn build_with_deadline(dir: &Path, m: &Path, secs: u64) -> Output {
    let mut child = Command::new(bin())
        .args(["build", m.to_str().unwrap(), "--data-dir", "data"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            child.kill().unwrap();
            panic!("recdata build hung on a non-regular input");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fifo_or_dev_zero_as_input_is_refused_not_hung() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "1");
    let events = t.path().join(EVENTS);
    std::fs::remove_file(&events).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &events).unwrap();
    let o = build_with_deadline(t.path(), &m, 60);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("is a character device, not a regular file"),
        "{}",
        err(&o)
    );
    std::fs::remove_file(&events).unwrap();
    let c = std::ffi::CString::new(events.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let o = build_with_deadline(t.path(), &m, 60);
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("is a FIFO (named pipe)"), "{}", err(&o));
}

#[test]
fn manifest_errors_cost_linear_time_and_print_a_capped_list() {
    let t = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "[dataset]\nname = \"d\"\nversion = \"1\"\n\n[source]\ncorpus = \"lastfm-1k\"\npath = \"raw\"\n\n[stages.filter]\n",
    );
    for i in 0..60_000 {
        text.push_str(&format!("unknown_key_{i} = {i}\n"));
    }
    std::fs::write(t.path().join("m.toml"), text).unwrap();
    let t0 = Instant::now();
    let o = recdata(&["validate", "m.toml"], t.path());
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(secs < 20.0, "60,000 errors took {secs:.1} s");
    assert_eq!(
        e.matches("unknown key `unknown_key_").count(),
        20,
        "{}",
        &e[..2000]
    );
    assert!(e.contains("... and 59980 more"), "{}", &e[e.len() - 500..]);
    assert!(e.contains("60000 errors in manifest"));
}

#[test]
fn manifest_ux_exit_codes_positions_and_clipped_lines() {
    let t = tempfile::tempdir().unwrap();
    // A manifest that is not there could not run: 2.
    let o = recdata(&["build", "absent.toml"], t.path());
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    // Not UTF-8: the position of the first bad byte.
    std::fs::write(
        t.path().join("latin1.toml"),
        b"[dataset]\nname = \"d\"\nversion = \"1\"\ndescription = \"caf\xe9\"\n",
    )
    .unwrap();
    let o = recdata(&["validate", "latin1.toml"], t.path());
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    assert!(
        e.contains("not valid UTF-8") && e.contains("latin1.toml:4:19"),
        "{e}"
    );
    // A 400 KB line (nesting past the parser's limit) is not echoed whole.
    let deep = "x = ".to_owned() + &"[".repeat(400_000) + "\n";
    std::fs::write(t.path().join("deep.toml"), deep).unwrap();
    let o = recdata(&["validate", "deep.toml"], t.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stderr.len() < 10_000, "{} bytes of error", o.stderr.len());
    // The top level's valid keys include `include`.
    std::fs::write(t.path().join("typo.toml"), "inclde = []\n").unwrap();
    let e = err(&recdata(&["validate", "typo.toml"], t.path()));
    assert!(e.contains("did you mean `include`?"), "{e}");
}

#[test]
fn export_refuses_to_overwrite_an_earlier_export_without_force() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "1");
    ok(&build(t.path(), &m));
    let v = t.path().join("data/d/1");
    let args = |force: bool| {
        let mut a = vec![
            "export",
            v.to_str().unwrap(),
            "--format",
            "recbole",
            "--out",
            "out",
        ];
        if force {
            a.push("--force");
        }
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| recdata(&a.iter().map(String::as_str).collect::<Vec<_>>(), t.path());
    ok(&run(args(false)));
    std::fs::write(t.path().join("out/d/mine.txt"), b"notes").unwrap();
    let o = run(args(false));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("already exists") && err(&o).contains("--force"),
        "{}",
        err(&o)
    );
    assert!(t.path().join("out/d/mine.txt").exists());
    ok(&run(args(true)));
    assert!(t.path().join("out/d/d.inter").exists());
}

#[test]
fn a_line_without_end_is_rejected_as_too_long_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "1");
    let events = t.path().join(EVENTS);
    let mut text = std::fs::read(&events).unwrap();
    // 50 MB of one line, at the end of the file, without a newline.
    text.extend(std::iter::repeat_n(b'x', 50 << 20));
    std::fs::write(&events, &text).unwrap();
    let o = recdata(
        &["build", m.to_str().unwrap(), "--data-dir", "data", "--json"],
        t.path(),
    );
    ok(&o);
    let peak = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "stage" && v["stage"] == "normalize")
        .and_then(|v| v["peak_rss_bytes"].as_u64())
        .expect("a normalize stage event with its peak");
    assert!(peak < 160 << 20, "normalize peaked at {} MiB", peak >> 20);
    let doc = crate::util::dataset_json(&t.path().join("data/d/1"));
    assert_eq!(
        doc["accounting"]["rejected"]["line_too_long"], 1,
        "{}",
        doc["accounting"]
    );
}

// ---------------------------------------------------------------------------------------------
// Part 3: what real samples showed.

/// Diagnostics on a dataset with `id_base = 1` counted the padding id 0 as a user and an item
/// ("Diagnosing 944 users, 1350 items" on 943 users and 1,349 items).
#[test]
fn diagnostics_with_id_base_1_count_real_ids_only() {
    let t = tempfile::tempdir().unwrap();
    synth(&t.path().join("raw"), 8, 40, 9);
    let m = manifest(
        t.path(),
        "d",
        "1",
        "raw",
        "[stages.filter]\nid_base = 1\n\n[stages.split]\nmethod = \"leave_one_out\"\n\n[stages.diagnostics]\n",
    );
    let o = build(t.path(), &m);
    let e = ok(&o);
    let v = t.path().join("data/d/1");
    let doc = crate::util::dataset_json(&v);
    let (users, items) = (
        doc["accounting"]["filter"]["users"].as_u64().unwrap(),
        doc["accounting"]["filter"]["items"].as_u64().unwrap(),
    );
    assert!(
        e.contains(&format!("Diagnosing {users} users, {items} items")),
        "{e}"
    );
    let diag: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join("diagnostics.json")).unwrap()).unwrap();
    assert_eq!(diag["stats"]["n_users"], users, "{}", diag["stats"]);
    assert_eq!(diag["stats"]["n_items"], items, "{}", diag["stats"]);
    // MostPop never recommends the padding id: with every real item ranked, NDCG is the same
    // as on the id_base = 0 build of the same data.
    let m0 = manifest(
        t.path(),
        "d0",
        "1",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n\n[stages.diagnostics]\n",
    );
    ok(&build(t.path(), &m0));
    let d0: serde_json::Value = serde_json::from_slice(
        &std::fs::read(t.path().join("data/d0/1/diagnostics.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(diag["rankers"]["mostpop"], d0["rankers"]["mostpop"]);
    assert_eq!(diag["stats"]["all"]["gini"], d0["stats"]["all"]["gini"]);
}

fn agrosense_build(dir: &Path) -> PathBuf {
    recdata::synth::agrosense::write(
        &dir.join("raw"),
        &recdata::synth::agrosense::Options {
            rows: 60,
            seed: 3,
            duplicates: false,
        },
    )
    .unwrap();
    let m = crate::agrosense::manifest(dir, "agro", "agrosense", "raw", "");
    crate::agrosense::build(dir, &m)
}

/// `inspect` on a corpus without interactions printed `interactions 0 users 0 items 0` and
/// `time range ? .. ?`; it now says what the dataset has.
#[test]
fn inspect_shows_the_tables_of_a_corpus_without_interactions() {
    let t = tempfile::tempdir().unwrap();
    let v = agrosense_build(t.path());
    let o = recdata(&["inspect", v.to_str().unwrap()], t.path());
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        !out.contains("time range  ?") && !out.contains("interactions 0"),
        "{out}"
    );
    assert!(out.contains("interactions none"), "{out}");
    let doc = crate::util::dataset_json(&v);
    let rows = |table: &str| -> u64 {
        doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["table"] == table)
            .map(|f| f["rows"].as_u64().unwrap())
            .sum()
    };
    for table in ["samples", "soil_images", "items"] {
        assert!(rows(table) > 0, "{table}");
        assert!(
            out.contains(&format!("{table} {}", rows(table))),
            "{table}: {out}"
        );
    }
}

/// The card of an image corpus listed every raw file inline (1,722 rows for the AgroSense
/// snapshot): per folder now, the per-file list stays in dataset.json.
#[test]
fn the_card_of_an_image_corpus_summarises_raw_files_per_folder() {
    let t = tempfile::tempdir().unwrap();
    // More photographs than a card should list one by one (the real snapshot has 1,719).
    let folder = t.path().join("raw/Soil Image Dataset/Train/Red soil");
    recdata::synth::agrosense::write(
        &t.path().join("raw"),
        &recdata::synth::agrosense::Options {
            rows: 60,
            seed: 3,
            duplicates: false,
        },
    )
    .unwrap();
    let one = std::fs::read(folder.join("Sample12.90.jpg")).unwrap();
    for k in 0..40 {
        std::fs::write(folder.join(format!("Copy of sample {k}.jpg")), &one).unwrap();
    }
    let m = crate::agrosense::manifest(t.path(), "agro", "agrosense", "raw", "");
    let v = crate::agrosense::build(t.path(), &m);
    let doc = crate::util::dataset_json(&v);
    let files = doc["source"]["files"].as_array().unwrap().len();
    assert!(files > 30, "the fixture has {files} raw files");
    let card = std::fs::read_to_string(v.join("README.md")).unwrap();
    assert!(
        card.contains(&format!("{files} raw files, by folder")),
        "{card}"
    );
    // One row per folder (15 here), not one per file; no photograph is named in the card.
    let section = card.split("raw files, by folder").nth(1).unwrap();
    let rows = section
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with("| `"))
        .count();
    assert!(rows > 0 && rows < 20, "{rows} rows:\n{section}");
    assert!(!card.contains("Copy of sample 0.jpg"), "{card}");
    assert!(
        card.contains("| `Soil Image Dataset/Train/Red soil/` | 42 |"),
        "{card}"
    );
    // Every file is still listed, with its sha256, in dataset.json.
    assert!(
        doc["source"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["sha256"].as_str().is_some_and(|s| s.len() == 64))
    );
}

/// `MicroLens-100k_title_en.csv` lines are `<id>, <title>`: every published title kept the
/// leading space.
#[test]
fn microlens_titles_do_not_keep_the_separator_space() {
    let t = tempfile::tempdir().unwrap();
    crate::util::synth_cli(
        &t.path().join("raw"),
        "microlens",
        &["--users", "20", "--seed", "2"],
    );
    let raw = std::fs::read_to_string(t.path().join("raw/MicroLens-100k_title_en.csv")).unwrap();
    assert!(
        raw.lines().next().unwrap().contains(", "),
        "the real format: {raw}"
    );
    std::fs::write(
        t.path().join("ml.toml"),
        "[dataset]\nname = \"ml\"\nversion = \"1\"\n\n[source]\ncorpus = \"microlens\"\npath = \"raw\"\n",
    )
    .unwrap();
    ok(&build(t.path(), &t.path().join("ml.toml")));
    let titles = crate::util::py(
        "import sys, json, pyarrow.parquet as pq\nprint(json.dumps(pq.read_table(sys.argv[1]).column('title').to_pylist()))",
        &[t.path().join("data/ml/1/items.parquet").to_str().unwrap()],
    );
    let titles: Vec<Option<String>> = serde_json::from_str(titles.trim()).unwrap();
    let with_text: Vec<&String> = titles.iter().flatten().filter(|t| !t.is_empty()).collect();
    assert!(!with_text.is_empty());
    for t in with_text {
        assert_eq!(t.trim(), t, "{t:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// What a second adversarial pass over the release binary found (before this issue closed).

/// `export --out <data dir> --force` removed every published version of the dataset.
#[test]
fn export_never_replaces_a_dataset_or_a_version() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "1");
    ok(&build(t.path(), &m));
    let m2 = manifest(
        t.path(),
        "d",
        "2",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    ok(&build(t.path(), &m2));
    for force in [false, true] {
        let mut args = vec![
            "export",
            "data/d/latest",
            "--format",
            "recbole",
            "--out",
            "data",
        ];
        if force {
            args.push("--force");
        }
        let o = recdata(&args, t.path());
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        assert!(err(&o).contains("is a dataset folder"), "{}", err(&o));
        // Into a version folder too.
        let o = recdata(
            &[
                "export", "data/d/1", "--format", "recbole", "--out", "data/d/2", "--force",
            ],
            t.path(),
        );
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    }
    for v in ["1", "2"] {
        ok(&recdata(&["verify", &format!("data/d/{v}")], t.path()));
    }
    // A folder that is not an earlier export is not replaced, even with --force.
    std::fs::create_dir_all(t.path().join("mine/d")).unwrap();
    std::fs::write(t.path().join("mine/d/notes.txt"), b"mine").unwrap();
    let o = recdata(
        &[
            "export", "data/d/1", "--format", "recbole", "--out", "mine", "--force",
        ],
        t.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(t.path().join("mine/d/notes.txt").exists());
}

/// A dataset.json whose `dataset.name` is `/tmp/x` or `../..` made `export` write (and, with
/// --force, delete) outside --out, and `diagnose` write outside the working folder.
#[test]
fn a_hostile_dataset_name_cannot_steer_export_or_diagnose() {
    let t = tempfile::tempdir().unwrap();
    let m = manifest(
        t.path(),
        "d",
        "1",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    synth(&t.path().join("raw"), 6, 30, 5);
    ok(&build(t.path(), &m));
    let copy = t.path().join("hostile");
    std::fs::create_dir_all(copy.join("splits")).unwrap();
    for f in std::fs::read_dir(t.path().join("data/d/1")).unwrap() {
        let f = f.unwrap().path();
        if f.is_file() {
            std::fs::copy(&f, copy.join(f.file_name().unwrap())).unwrap();
        }
    }
    for s in ["train", "valid", "test"] {
        std::fs::copy(
            t.path().join(format!("data/d/1/splits/{s}.parquet")),
            copy.join(format!("splits/{s}.parquet")),
        )
        .unwrap();
    }
    let victim = t.path().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), b"precious").unwrap();
    let doc = std::fs::read_to_string(copy.join("dataset.json")).unwrap();
    std::fs::write(
        copy.join("dataset.json"),
        doc.replacen(
            "\"name\": \"d\"",
            &format!("\"name\": \"{}\"", victim.display()),
            1,
        ),
    )
    .unwrap();
    let o = recdata(
        &[
            "export", "hostile", "--format", "recbole", "--out", "out", "--force",
        ],
        t.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(err(&o).contains("not a valid dataset name"), "{}", err(&o));
    assert!(victim.join("keep.txt").exists());
    assert!(!t.path().join("victim.inter").exists());
    let o = recdata(&["diagnose", "hostile", "-q"], t.path());
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", err(&o));
    assert!(t.path().join("dataset-1-diagnostics/report.html").exists());
    assert!(!victim.join("report.html").exists());
}

/// `diagnose --out <a published version>` overwrote that version's report.
#[test]
fn diagnose_never_writes_into_a_published_version() {
    let t = tempfile::tempdir().unwrap();
    let m = manifest(
        t.path(),
        "d",
        "1",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n\n[stages.diagnostics]\n",
    );
    synth(&t.path().join("raw"), 6, 30, 5);
    ok(&build(t.path(), &m));
    for out in ["data/d/1", "data/d", "data/d/1/splits"] {
        let o = recdata(
            &[
                "diagnose",
                "data/d/1",
                "--out",
                out,
                "--set",
                "alpha=0.3",
                "-q",
            ],
            t.path(),
        );
        assert_eq!(o.status.code(), Some(1), "{out}: {}", err(&o));
    }
    ok(&recdata(&["verify", "data/d/1"], t.path()));
}

/// An interaction corpus whose interactions are all gone (a header-only pairs.csv) published an
/// empty dataset because a side table (comments) had rows.
#[test]
fn zero_interactions_is_a_failure_even_when_side_tables_have_rows() {
    let t = tempfile::tempdir().unwrap();
    crate::util::synth_cli(
        &t.path().join("raw"),
        "microlens",
        &["--users", "30", "--seed", "4"],
    );
    let pairs = t.path().join("raw/MicroLens-100k_pairs.csv");
    let header = std::fs::read_to_string(&pairs)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(&pairs, header + "\n").unwrap();
    std::fs::write(
        t.path().join("m.toml"),
        "[dataset]\nname = \"m\"\nversion = \"1\"\n\n[source]\ncorpus = \"microlens\"\npath = \"raw\"\n",
    )
    .unwrap();
    let o = build(t.path(), &t.path().join("m.toml"));
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        err(&o).contains("none became an interaction"),
        "{}",
        err(&o)
    );
}

/// A tar.gz of a Last.fm corpus, served by the test server; the manifest pins it.
fn served_archive(dir: &Path) -> (crate::server::Server, PathBuf, String) {
    synth(&dir.join("src"), 6, 30, 5);
    let o = Command::new("tar")
        .args(["czf", "corpus.tar.gz", "-C", "src", "."])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success());
    let bytes = std::fs::read(dir.join("corpus.tar.gz")).unwrap();
    let sha = recdata::util::hash::sha256_hex(&bytes);
    let s = crate::server::Server::start();
    s.put("/corpus.tar.gz", bytes, None);
    let m = dir.join("r.toml");
    std::fs::write(
        &m,
        format!(
            "[dataset]\nname = \"r\"\nversion = \"1\"\n\n[source]\ncorpus = \"lastfm-1k\"\n\n\
             [[source.files]]\nurl = \"{}\"\nsha256 = \"{sha}\"\n",
            s.url("/corpus.tar.gz")
        ),
    )
    .unwrap();
    (s, m, sha)
}

fn build_cached(dir: &Path, m: &Path, version: &str) -> Output {
    let text = std::fs::read_to_string(m).unwrap();
    let mv = dir.join(format!("r{version}.toml"));
    std::fs::write(
        &mv,
        text.replace("version = \"1\"", &format!("version = \"{version}\"")),
    )
    .unwrap();
    Command::new(bin())
        .args(["build", mv.to_str().unwrap(), "--data-dir", "data"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RECDATA_CACHE", dir.join("cache"))
        .output()
        .unwrap()
}

fn flip_first_byte(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = std::fs::metadata(p).unwrap().permissions();
    perm.set_mode(0o644);
    std::fs::set_permissions(p, perm).unwrap();
    let mut b = std::fs::read(p).unwrap();
    b[0] ^= 0x20;
    use std::io::{Seek, Write};
    let mut f = std::fs::File::options().write(true).open(p).unwrap();
    f.seek(std::io::SeekFrom::Start(0)).unwrap();
    f.write_all(&b[..1]).unwrap();
}

/// Damaged bytes in the download cache (a blob, or a file of an extracted archive, both hard
/// linked into source views) were used and recorded as verified.
#[test]
fn damaged_download_and_extraction_caches_are_not_used() {
    let t = tempfile::tempdir().unwrap();
    let (_server, m, sha) = served_archive(t.path());
    ok(&build_cached(t.path(), &m, "1"));
    let v1 = crate::util::dataset_json(&t.path().join("data/r/1"));
    // A file of the extracted archive.
    let extracted = std::fs::read_dir(t.path().join("cache/extracted"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    flip_first_byte(&extracted.join(EVENTS.trim_start_matches("raw/")));
    let o = build_cached(t.path(), &m, "2");
    let e = ok(&o);
    assert!(
        e.contains("is damaged") && e.contains("extracting it again"),
        "{e}"
    );
    let v2 = crate::util::dataset_json(&t.path().join("data/r/2"));
    assert_eq!(v2["source"]["files"], v1["source"]["files"]);
    assert_eq!(v2["accounting"], v1["accounting"]);
    // The downloaded blob itself.
    let blob = t
        .path()
        .join("cache/blobs/sha256")
        .join(&sha[..2])
        .join(&sha);
    flip_first_byte(&blob);
    let o = build_cached(t.path(), &m, "3");
    let e = ok(&o);
    assert!(
        e.contains("is damaged") && e.contains("downloading it again"),
        "{e}"
    );
    let (again, _) = recdata::util::hash::sha256_file(&blob).unwrap();
    assert_eq!(again, sha);
    let v3 = crate::util::dataset_json(&t.path().join("data/r/3"));
    assert_eq!(v3["accounting"], v1["accounting"]);
}

/// A body that never ends filled the disk: a pinned `size` now stops it, and the partial file
/// is removed.
#[test]
fn a_body_longer_than_the_pinned_size_is_abandoned() {
    let t = tempfile::tempdir().unwrap();
    let s = crate::server::Server::start();
    s.put("/x.zip", vec![0u8; 10], None);
    s.sticky("/x.zip", crate::server::Fault::Endless);
    std::fs::write(
        t.path().join("inf.toml"),
        format!(
            "[dataset]\nname = \"f\"\nversion = \"1\"\n\n[source]\ncorpus = \"movielens\"\n\
             [source.fetch]\nretries = 1\n\n[[source.files]]\nurl = \"{}\"\nsha256 = \"{}\"\nsize = 39727\n",
            s.url("/x.zip"),
            "0".repeat(64)
        ),
    )
    .unwrap();
    let o = Command::new(bin())
        .args(["fetch", "inf.toml"])
        .current_dir(t.path())
        .env("NO_COLOR", "1")
        .env("RECDATA_CACHE", t.path().join("cache"))
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert!(
        err(&o).contains("more than the 39727 bytes expected"),
        "{}",
        err(&o)
    );
    let partial: u64 = std::fs::read_dir(t.path().join("cache/partial"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    assert!(
        partial < 1 << 20,
        "{partial} bytes of partial downloads left"
    );
}

/// Extracting an archive of 100,000 entries took quadratic time (24 s; unzip: 4 s).
#[test]
fn extracting_many_entries_takes_linear_time() {
    let t = tempfile::tempdir().unwrap();
    let zip = t.path().join("many.zip");
    crate::util::py(
        "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z:\n    [z.writestr(f'e/{i}', b'') for i in range(100000)]",
        &[zip.to_str().unwrap()],
    );
    // User CPU time of this thread: the kernel's share (creating 100,000 inodes; unzip spends
    // the same there) depends on the filesystem, the quadratic bookkeeping was ours.
    let user_cpu = || {
        // SAFETY: getrusage fills a plain struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        ru.ru_utime.tv_sec as f64 + ru.ru_utime.tv_usec as f64 / 1e6
    };
    let before = user_cpu();
    let tree = recdata::fetch::archive::extract(
        &zip,
        "many.zip",
        recdata::fetch::archive::Kind::Zip,
        &t.path().join("out"),
        recdata::fetch::archive::ExtractLimits::default(),
    )
    .unwrap();
    assert_eq!(tree.len(), 100_000);
    let secs = user_cpu() - before;
    assert!(secs < 6.0, "100,000 entries took {secs:.1} s of user CPU");
}

/// A manifest of 120,000 tables took 15 s to validate (quadratic merge).
#[test]
fn a_manifest_with_many_tables_validates_in_linear_time() {
    let t = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "[dataset]\nname=\"x\"\nversion=\"1\"\n[source]\ncorpus=\"lastfm-1k\"\npath=\"raw\"\n",
    );
    for i in 0..120_000 {
        text.push_str(&format!("[t{i}]\n"));
    }
    std::fs::write(t.path().join("tab.toml"), text).unwrap();
    let t0 = Instant::now();
    let o = recdata(&["validate", "tab.toml"], t.path());
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(1));
    assert!(secs < 10.0, "{secs:.1} s");
}

/// A manifest (or include) that is /dev/zero or a FIFO exhausted memory or hung; a 5 MB value
/// was echoed whole in the error's first line.
#[test]
fn manifests_are_small_regular_files_and_messages_clip_long_values() {
    let t = tempfile::tempdir().unwrap();
    let o = recdata(&["validate", "/dev/zero"], t.path());
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));
    std::fs::write(t.path().join("inc.toml"), "include = [\"/dev/zero\"]\n").unwrap();
    let o = recdata(&["validate", "inc.toml"], t.path());
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    let fifo = t.path().join("mf.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let o = recdata(&["validate", "mf.toml"], t.path());
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let long = "a".repeat(5_000_000);
    std::fs::write(
        t.path().join("long.toml"),
        format!("[dataset]\nname = \"{long}\"\nversion = \"1\"\n\n[source]\ncorpus = \"lastfm-1k\"\npath = \"{long}\"\n"),
    )
    .unwrap();
    let o = recdata(&["validate", "long.toml"], t.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stderr.len() < 20_000, "{} bytes of error", o.stderr.len());
}

/// `verify` hashed files outside the version (`../../etc/hostname`) listed in dataset.json.
#[test]
fn verify_refuses_files_outside_the_version() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("v");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(t.path().join("secret"), b"x").unwrap();
    std::fs::write(
        d.join("dataset.json"),
        r#"{"dataset": {"name": "d", "version": "1"}, "files": [{"path": "../secret", "bytes": 1, "sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", "rows": 0, "table": "x"}]}"#,
    )
    .unwrap();
    let o = recdata(&["verify", d.to_str().unwrap(), "--json"], t.path());
    assert_eq!(o.status.code(), Some(1), "{}", err(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"outside\""),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

/// Building `1.0-rc1` after `1.0` pointed `latest` at the release candidate.
#[test]
fn latest_prefers_a_release_over_its_pre_release() {
    let t = tempfile::tempdir().unwrap();
    let m = lastfm(t.path(), "d", "1.0");
    ok(&build(t.path(), &m));
    let rc = manifest(
        t.path(),
        "d",
        "1.0-rc1",
        "raw",
        "[stages.split]\nmethod = \"leave_one_out\"\n",
    );
    ok(&build(t.path(), &rc));
    assert_eq!(
        std::fs::read_link(t.path().join("data/d/latest")).unwrap(),
        Path::new("1.0")
    );
}
