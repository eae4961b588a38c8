//! Downloads against a real HTTP server on 127.0.0.1 with injected faults: resume by byte
//! range, Retry-After, backoff, mirror fail-over, checksum refusal, lock files, SIGKILL resume,
//! and builds from remote archives.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::server::{Fault, Server, dead_url};
use crate::util::{bin, synth};

fn sha(b: &[u8]) -> String {
    recdata::util::hash::sha256_hex(b)
}

/// Deterministic pseudo-random bytes (incompressible, so resume offsets are meaningful).
pub fn payload(n: usize, seed: u64) -> Vec<u8> {
    let mut r = recdata::util::rng::Rng::new(seed);
    (0..n).map(|_| r.next_u64() as u8).collect()
}

pub fn run(args: &[&str], cwd: &Path, cache: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("RECDATA_CACHE", cache)
        .output()
        .expect("run recdata")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const FAST: &str =
    "[source.fetch]\nretries = 4\nbackoff_s = 0.05\nbackoff_max_s = 0.2\nread_timeout_s = 3\n";

/// A manifest whose source is `files` (TOML `[[source.files]]` blocks).
fn remote_manifest(dir: &Path, name: &str, files: &str, extra: &str) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "[dataset]\nname = \"{name}\"\nversion = \"1\"\n\n[source]\ncorpus = \"lastfm-1k\"\n{FAST}{extra}\n{files}"
        ),
    )
    .unwrap();
    p
}

fn file_block(url: &str, mirrors: &[String], sha: Option<&str>, name: &str) -> String {
    let mut s = format!("[[source.files]]\nurl = \"{url}\"\nname = \"{name}\"\n");
    if !mirrors.is_empty() {
        s.push_str(&format!(
            "mirrors = [{}]\n",
            mirrors
                .iter()
                .map(|m| format!("\"{m}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(h) = sha {
        s.push_str(&format!("sha256 = \"{h}\"\n"));
    }
    s
}

fn blob(cache: &Path, sha: &str) -> PathBuf {
    cache.join("blobs/sha256").join(&sha[..2]).join(sha)
}

fn partials(cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(cache.join("partial"))
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn resume_continues_from_the_byte_it_stopped_at() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let body = payload(1_000_000, 1);
    s.put("/data.bin", body.clone(), Some("\"v1\""));
    s.faults(
        "/data.bin",
        vec![Fault::CloseAfter(300_000), Fault::CloseAfter(250_000)],
    );
    let m = remote_manifest(
        t.path(),
        "resume",
        &file_block(&s.url("/data.bin"), &[], Some(&sha(&body)), "data.bin"),
        "",
    );
    let cache = t.path().join("cache");
    let o = run(&["fetch", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(blob(&cache, &sha(&body))).unwrap(), body);
    let log = s.log_for("/data.bin");
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0].range_from, None);
    assert_eq!(log[1].range_from, Some(300_000));
    assert_eq!(log[1].if_range.as_deref(), Some("\"v1\""));
    assert_eq!(log[2].range_from, Some(550_000));
    // The server's log proves no byte was sent twice.
    let sent: u64 = log.iter().map(|e| e.body_bytes).sum();
    assert_eq!(sent, body.len() as u64);
    assert!(
        partials(&cache)
            .iter()
            .all(|p| !p.to_string_lossy().ends_with(".part"))
    );
    // A second fetch is served by the cache: no request at all.
    s.clear_log();
    let o = run(&["fetch", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("\tcache"));
    assert!(s.log().is_empty());
}

#[test]
fn changed_upstream_restarts_instead_of_splicing() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let v1 = payload(200_000, 2);
    let v2 = payload(200_000, 3);
    s.put("/f.bin", v1, Some("\"a\""));
    s.faults("/f.bin", vec![Fault::CloseAfter(50_000)]);
    let m = remote_manifest(
        t.path(),
        "splice",
        &file_block(&s.url("/f.bin"), &[], Some(&sha(&v2)), "f.bin"),
        "",
    );
    let cache = t.path().join("cache");
    // Between the attempts the file changes (new ETag): If-Range makes the server send it whole.
    let s2 = s.clone();
    let v2c = v2.clone();
    std::thread::spawn(move || {
        while s2.log_for("/f.bin").is_empty() {
            std::thread::sleep(Duration::from_millis(1));
        }
        s2.put("/f.bin", v2c, Some("\"b\""));
    });
    std::thread::sleep(Duration::from_millis(50));
    let o = run(&["fetch", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = s.log_for("/f.bin");
    assert_eq!(log[1].range_from, Some(50_000));
    assert_eq!(
        log[1].status, 200,
        "stale validator must get the whole file"
    );
    assert_eq!(std::fs::read(blob(&cache, &sha(&v2))).unwrap(), v2);
}

#[test]
fn retry_after_and_server_errors_are_retried() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let body = payload(10_000, 4);
    s.put("/r.bin", body.clone(), None);
    s.faults(
        "/r.bin",
        vec![
            Fault::RetryAfter(429, 1),
            Fault::Status(500),
            Fault::RetryAfter(503, 1),
        ],
    );
    let m = remote_manifest(
        t.path(),
        "retry",
        &file_block(&s.url("/r.bin"), &[], Some(&sha(&body)), "r.bin"),
        "",
    );
    let cache = t.path().join("cache");
    let o = run(&["--json", "fetch", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    let log = s.log_for("/r.bin");
    assert_eq!(
        log.iter().map(|e| e.status).collect::<Vec<_>>(),
        vec![429, 500, 503, 200]
    );
    // Retry-After: 1 was honoured both times (the backoff alone is at most 0.2 s).
    assert!(log[1].at - log[0].at >= Duration::from_millis(950));
    assert!(log[3].at - log[2].at >= Duration::from_millis(950));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.matches("\"type\":\"download_retry\"").count(),
        3,
        "{out}"
    );
}

#[test]
fn mirrors_fail_over_and_the_serving_mirror_is_reported() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let body = payload(50_000, 5);
    s.put("/m2/x.bin", body.clone(), None);
    s.put("/m3/x.bin", body.clone(), None);
    s.sticky("/m2/x.bin", Fault::WrongBytes(payload(50_000, 6)));
    let mirrors = vec![s.url("/gone/x.bin"), s.url("/m2/x.bin"), s.url("/m3/x.bin")];
    let m = remote_manifest(
        t.path(),
        "mirrors",
        &file_block(&dead_url("/x.bin"), &mirrors, Some(&sha(&body)), "x.bin"),
        "",
    );
    let cache = t.path().join("cache");
    let o = run(&["--json", "fetch", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let fetched = out
        .lines()
        .find(|l| l.contains("\"type\":\"fetched\""))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(fetched).unwrap();
    assert_eq!(v["served_by"], s.url("/m3/x.bin"));
    let outcomes: Vec<String> = v["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap().to_string())
        .collect();
    assert!(
        outcomes.iter().any(|o| o.contains("could not connect")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().any(|o| o == "HTTP 404 Not Found"),
        "{outcomes:?}"
    );
    assert!(out.contains("\"type\":\"checksum_mismatch\""));
    // The dead primary was retried (connection refused is transient), the 404 was not.
    assert_eq!(s.log_for("/gone/x.bin").len(), 1);
}

#[test]
fn checksum_mismatch_is_refused_and_nothing_is_kept() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let good = payload(20_000, 7);
    let bad = payload(20_000, 8);
    s.put("/a/f.tsv", bad.clone(), None);
    s.put("/b/f.tsv", bad.clone(), None);
    let m = remote_manifest(
        t.path(),
        "mismatch",
        &file_block(
            &s.url("/a/f.tsv"),
            &[s.url("/b/f.tsv")],
            Some(&sha(&good)),
            "f.tsv",
        ),
        "",
    );
    let cache = t.path().join("cache");
    let o = run(&["fetch", m.to_str().unwrap()], t.path(), &cache);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("checksum mismatch for `f.tsv`"), "{e}");
    assert!(e.contains(&sha(&good)) && e.contains(&sha(&bad)), "{e}");
    assert!(!blob(&cache, &sha(&bad)).exists());
    assert!(!blob(&cache, &sha(&good)).exists());
    assert!(
        partials(&cache)
            .iter()
            .all(|p| !p.to_string_lossy().ends_with(".part"))
    );
    // A build refuses the same way, before reading anything.
    let o = run(
        &["build", m.to_str().unwrap(), "--data-dir", "data"],
        t.path(),
        &cache,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(!t.path().join("data/mismatch/1").exists());
}

#[test]
fn unpinned_files_are_locked_and_later_verified() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let v1 = payload(5_000, 9);
    s.put("/u.bin", v1.clone(), None);
    let m = remote_manifest(
        t.path(),
        "unpinned",
        &file_block(&s.url("/u.bin"), &[], None, "u.bin"),
        "",
    );
    let cache = t.path().join("cache");
    let o = run(&["fetch", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no sha256 pinned for u.bin"),
        "{}",
        stderr(&o)
    );
    let lock = std::fs::read_to_string(t.path().join("unpinned.toml.lock")).unwrap();
    assert!(
        lock.contains(&sha(&v1)) && lock.contains("size = 5000"),
        "{lock}"
    );
    // Upstream changes; a fresh cache must not accept the new bytes.
    s.put("/u.bin", payload(5_000, 10), None);
    let o = run(
        &["fetch", m.to_str().unwrap()],
        t.path(),
        &t.path().join("cache2"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("checksum mismatch"), "{}", stderr(&o));
}

#[test]
fn killed_fetch_resumes_where_it_stopped() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let body = payload(2_000_000, 11);
    s.put("/big.bin", body.clone(), Some("\"k\""));
    s.faults(
        "/big.bin",
        vec![Fault::Slow {
            chunk: 16_384,
            delay: Duration::from_millis(20),
        }],
    );
    let m = remote_manifest(
        t.path(),
        "killed",
        &file_block(&s.url("/big.bin"), &[], Some(&sha(&body)), "big.bin"),
        "",
    );
    let cache = t.path().join("cache");
    let mut child = Command::new(bin())
        .args(["fetch", m.to_str().unwrap()])
        .current_dir(t.path())
        .env("RECDATA_CACHE", &cache)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let part = |c: &Path| {
        partials(c)
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with(".part"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(p) = part(&cache)
            && std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0) > 300_000
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "download never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let have = std::fs::metadata(part(&cache).unwrap()).unwrap().len();
    let o = run(&["fetch", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(blob(&cache, &sha(&body))).unwrap(), body);
    let log = s.log_for("/big.bin");
    assert_eq!(log.last().unwrap().range_from, Some(have), "{log:?}");
    assert_eq!(log.last().unwrap().body_bytes, body.len() as u64 - have);
}

/// A tar.gz of a Last.fm-format corpus under a top-level directory, as upstream ships it.
fn lastfm_tarball(dir: &Path) -> Vec<u8> {
    let raw = dir.join("lastfm-dataset-1K");
    synth(&raw, 6, 40, 3);
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    b.append_dir_all("lastfm-dataset-1K", &raw).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

#[test]
fn build_from_a_remote_archive_matches_the_local_build() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let tgz = lastfm_tarball(t.path());
    s.put("/lastfm-dataset-1K.tar.gz", tgz.clone(), Some("\"t\""));
    let m = remote_manifest(
        t.path(),
        "remote",
        &(file_block(
            &s.url("/lastfm-dataset-1K.tar.gz"),
            &[],
            Some(&sha(&tgz)),
            "lastfm-dataset-1K.tar.gz",
        ) + "strip_components = 1\n"),
        "",
    );
    // The same dataset name from a local folder, into another store: parquet metadata names
    // the dataset, so equal names make the files comparable byte for byte.
    let local_dir = t.path().join("local");
    std::fs::create_dir_all(&local_dir).unwrap();
    std::fs::rename(
        t.path().join("lastfm-dataset-1K"),
        local_dir.join("lastfm-dataset-1K"),
    )
    .unwrap();
    let local = crate::util::manifest(&local_dir, "remote", "1", "lastfm-dataset-1K", "");
    let cache = t.path().join("cache");
    let o = run(&["build", m.to_str().unwrap()], t.path(), &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["build", local.to_str().unwrap()], &local_dir, &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "interactions.parquet",
        "items.parquet",
        "users.parquet",
        "rejects.parquet",
    ] {
        let a = std::fs::read(t.path().join("data/remote/1").join(f)).unwrap();
        let b = std::fs::read(local_dir.join("data/remote/1").join(f)).unwrap();
        assert!(a == b, "{f} differs between the remote and the local build");
    }
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(t.path().join("data/remote/1/dataset.json")).unwrap(),
    )
    .unwrap();
    let d = &doc["source"]["downloaded"][0];
    assert_eq!(d["sha256"], sha(&tgz));
    assert_eq!(d["extracted"]["kind"], "tar_gz");
    let card = std::fs::read_to_string(t.path().join("data/remote/1/README.md")).unwrap();
    assert!(card.contains(&sha(&tgz)));
    // Rebuild with a fresh data dir from the cache alone (server gone quiet): identical bytes.
    s.clear_log();
    let o = run(
        &["build", m.to_str().unwrap(), "--data-dir", "data2"],
        t.path(),
        &cache,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(s.log().is_empty());
    assert_eq!(
        crate::util::tree(&t.path().join("data/remote/1")),
        crate::util::tree(&t.path().join("data2/remote/1"))
    );
    // cache ls lists the blob and its extraction; gc with --keep keeps them.
    let o = run(&["cache", "ls"], t.path(), &cache);
    let ls = String::from_utf8_lossy(&o.stdout);
    assert!(ls.contains(&sha(&tgz)) && ls.contains("extracted"), "{ls}");
    let o = run(
        &[
            "cache",
            "gc",
            "--older-than-days",
            "0",
            "--keep",
            m.to_str().unwrap(),
        ],
        t.path(),
        &cache,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(blob(&cache, &sha(&tgz)).exists());
    let o = run(&["cache", "gc", "--older-than-days", "0"], t.path(), &cache);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!blob(&cache, &sha(&tgz)).exists());
}

fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opt = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opt).unwrap();
        std::io::Write::write_all(&mut w, data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn tar_with_symlink(target: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "data/link", target).unwrap();
    let body = b"pwned\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "data/link/file.txt", &body[..])
        .unwrap();
    b.into_inner().unwrap()
}

fn refused(name: &str, bytes: Vec<u8>, expect: &str) {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    s.put(&format!("/{name}"), bytes.clone(), None);
    let m = remote_manifest(
        t.path(),
        "evil",
        &file_block(&s.url(&format!("/{name}")), &[], Some(&sha(&bytes)), name),
        "",
    );
    let cache = t.path().join("cache");
    let o = run(&["build", m.to_str().unwrap()], t.path(), &cache);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains(&format!("refusing to extract `{name}`")), "{e}");
    assert!(e.contains(expect), "{e}");
    // Nothing escaped, and no half-extracted tree is left to be mistaken for a good one.
    assert!(!t.path().join("evil.txt").exists());
    assert!(!cache.join("extracted").join(sha(&bytes)).exists());
}

#[test]
fn zip_slip_is_refused() {
    refused(
        "slip.zip",
        zip_with(&[("ok.txt", b"fine"), ("../../evil.txt", b"escaped")]),
        "entry `../../evil.txt`: path contains `..`",
    );
}

#[test]
fn absolute_zip_entry_is_refused() {
    refused(
        "abs.zip",
        zip_with(&[("/tmp/evil.txt", b"x")]),
        "absolute path",
    );
}

#[test]
fn tar_symlink_escape_is_refused() {
    refused(
        "link.tar",
        tar_with_symlink("../../../etc"),
        "symlink to `../../../etc` points outside",
    );
}

#[test]
fn tar_write_through_internal_symlink_is_refused() {
    // The link stays inside, but a later entry may not write through it.
    refused(
        "through.tar",
        tar_with_symlink("."),
        "path goes through a symlink",
    );
}

#[test]
fn zip_bomb_is_refused() {
    let zeros = vec![0u8; 64 << 20];
    refused(
        "bomb.zip",
        zip_with(&[("zeros.bin", &zeros)]),
        "likely decompression bomb",
    );
}

#[test]
fn concurrent_fetches_share_one_download() {
    let t = tempfile::tempdir().unwrap();
    let s = Server::start();
    let body = payload(600_000, 12);
    s.put("/shared.bin", body.clone(), Some("\"s\""));
    s.sticky(
        "/shared.bin",
        Fault::Slow {
            chunk: 32_768,
            delay: Duration::from_millis(10),
        },
    );
    let m = remote_manifest(
        t.path(),
        "shared",
        &file_block(&s.url("/shared.bin"), &[], Some(&sha(&body)), "shared.bin"),
        "",
    );
    let cache = t.path().join("cache");
    let spawn = || {
        Command::new(bin())
            .args(["fetch", m.to_str().unwrap()])
            .current_dir(t.path())
            .env("RECDATA_CACHE", &cache)
            .output()
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(spawn);
        let b = sc.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success() && b.status.success());
    // The second process waited on the lock and found the verified blob: one transfer.
    let sent: u64 = s.log_for("/shared.bin").iter().map(|e| e.body_bytes).sum();
    assert_eq!(sent, body.len() as u64);
    assert_eq!(std::fs::read(blob(&cache, &sha(&body))).unwrap(), body);
}

#[test]
fn per_host_limit_caps_simultaneous_downloads() {
    for per_host in [1u64, 2] {
        let t = tempfile::tempdir().unwrap();
        let s = Server::start();
        let mut files = String::new();
        for k in 0..4 {
            let body = payload(40_000, 20 + k);
            let path = format!("/f{k}.bin");
            s.put(&path, body.clone(), None);
            s.sticky(
                &path,
                Fault::Slow {
                    chunk: 4_000,
                    delay: Duration::from_millis(20),
                },
            );
            files += &file_block(&s.url(&path), &[], Some(&sha(&body)), &format!("f{k}.bin"));
        }
        let m = remote_manifest(
            t.path(),
            "limits",
            &files,
            &format!("concurrency = 8\nper_host = {per_host}\n"),
        );
        let o = run(
            &["fetch", m.to_str().unwrap()],
            t.path(),
            &t.path().join("cache"),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(s.max_concurrent(), per_host);
    }
}

enum TarEntry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

fn tar_of(entries: &[TarEntry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match e {
            TarEntry::File(name, body) => {
                h.set_size(body.len() as u64);
                b.append_data(&mut h, name, *body).unwrap();
            }
            TarEntry::Symlink(name, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, name, target).unwrap();
            }
            TarEntry::HardLink(name, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, name, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[test]
fn chained_symlink_escape_is_refused() {
    // `e -> .` is harmless alone, but makes `e/e/e/../../..` climb three real levels.
    refused(
        "chain.tar",
        tar_of(&[
            TarEntry::Symlink("sub/e", "."),
            TarEntry::Symlink("sub/f", "e/e/e/../../../../x"),
        ]),
        "symlink to `e/e/e/../../../../x` points outside",
    );
}

#[test]
fn hard_link_onto_an_earlier_entry_is_refused() {
    refused(
        "hl.tar",
        tar_of(&[
            TarEntry::File("data.csv", b"a,b\n"),
            TarEntry::File("evil.csv", b"x,y\n"),
            TarEntry::Symlink("l", "data.csv"),
            TarEntry::HardLink("l", "evil.csv"),
        ]),
        "hard link overwrites an entry extracted earlier",
    );
}
