//! Sharded builds: `build --shard K/N` for every K then `merge` gives the single-process build
//! byte for byte, with nothing fetched, captioned or encoded twice; shards are idempotent and
//! `merge` refuses an incomplete set. And the same through a real Slurm (slurmctld + slurmd on
//! localhost, `tests/slurm/cluster.sh`): `recdata slurm --submit`, one array task killed and
//! re-queued mid-run (opt-in locally with RECDATA_SLURM_TESTS=1, always in CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::server::{Fault, Server};
use crate::util::tree;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn rd(args: &[&str], cwd: &Path) -> Output {
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

pub(crate) fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed ({:?}):\n{}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Raw MicroLens files in `raw/` of a fresh directory, with covers served over HTTP and a
/// manifest that fetches, captions and encodes them.
pub(crate) struct Fixture {
    pub(crate) raw: tempfile::TempDir,
    pub(crate) covers: Server,
    pub(crate) mllm: crate::mllm::MllmServer,
    pub(crate) items: usize,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let raw = tempfile::tempdir().unwrap();
        crate::util::synth_cli(
            &raw.path().join("raw"),
            "microlens",
            &["--users", "200", "--seed", "3"],
        );
        let covers = Server::start();
        let mut items = 0;
        for e in std::fs::read_dir(raw.path().join("raw/MicroLens-100k_covers")).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            covers.put(&format!("/covers/{name}"), std::fs::read(&p).unwrap(), None);
            items += 1;
        }
        Fixture {
            raw,
            covers,
            mllm: crate::mllm::MllmServer::start(),
            items,
        }
    }

    /// A working directory with the raw files linked in and the manifest written.
    pub(crate) fn workdir(&self) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(self.raw.path().join("raw"), d.path().join("raw")).unwrap();
        let m = format!(
            r#"[dataset]
name = "ml-shards"
version = "1.0.0"

[source]
corpus = "microlens"
path = "raw"

[stages.filter]
min_user_interactions = 2
min_item_interactions = 1

[stages.split]
method = "leave_one_out"

[[stages.media]]
modality = "image"
url = "{covers}/covers/{{raw_id}}.jpg"
concurrency = 4
retries = 2
backoff_s = 0.05

[[stages.caption]]
name = "cover"
media = "image"
endpoint = "{mllm}"
model = "test-vlm"
prompt = "Describe this micro-video cover in one sentence."
concurrency = 2

[[stages.encode]]
name = "title"
model = "all-minilm-l6-v2"
fields = ["title", "category"]

[[stages.encode]]
name = "cover"
model = "efficientnet-lite0"
media = "image"

[[stages.encode]]
name = "cover_caption"
model = "all-minilm-l6-v2"
caption = "cover"

[stages.semantic_ids]
embeddings = ["title", "cover"]
codebooks = [4, 4]
normalize = "l2"

[stages.diagnostics]

[slurm]
time = "00:20:00"
cpus_per_task = 1
"#,
            covers = self.covers.url("").trim_end_matches('/'),
            mllm = self.mllm.url(),
        );
        std::fs::write(d.path().join("ml.toml"), m).unwrap();
        d
    }

    fn cover_requests(&self) -> usize {
        self.covers.log().len()
    }
}

pub(crate) fn version(d: &Path) -> PathBuf {
    d.join("data/ml-shards/1.0.0")
}

/// The published tree, without the card's and dataset.json's build timings (none are written:
/// a rebuilt dataset is byte-identical, so the whole tree compares).
fn published(d: &Path) -> Vec<(String, Vec<u8>)> {
    tree(&version(d))
}

/// Every file of two published trees (same names) is byte-identical; otherwise names them all,
/// with the first differing line of each text file.
fn same_trees(a: &[(String, Vec<u8>)], b: &[(String, Vec<u8>)], what: &str) {
    let differ: Vec<String> = a
        .iter()
        .zip(b)
        .filter(|((_, x), (_, y))| x != y)
        .map(|((name, x), (_, y))| {
            let (x, y) = (String::from_utf8_lossy(x), String::from_utf8_lossy(y));
            match x.lines().zip(y.lines()).position(|(l, r)| l != r) {
                Some(i) if !name.ends_with(".parquet") => format!(
                    "{name} (line {}: {:?} vs {:?})",
                    i + 1,
                    x.lines().nth(i).unwrap_or(""),
                    y.lines().nth(i).unwrap_or("")
                ),
                _ => name.clone(),
            }
        })
        .collect();
    assert!(
        differ.is_empty(),
        "differ between the whole and the {what} build:\n{}",
        differ.join("\n")
    );
}

#[test]
fn shards_then_merge_give_the_single_process_build_byte_for_byte() {
    let fx = Fixture::new();

    // The reference: one process.
    let whole = fx.workdir();
    ok(&rd(
        &["build", "ml.toml", "--data-dir", "data"],
        whole.path(),
    ));
    let whole_requests = fx.cover_requests();
    assert!(
        whole_requests > 10 && whole_requests <= fx.items + 5,
        "{whole_requests} cover requests for {} covers",
        fx.items
    );
    let whole_captions = fx.mllm.log().len();

    // Three shards, in a fresh directory and cache.
    let sharded = fx.workdir();
    let d = sharded.path();
    // merge before any shard ran: a clear error, exit 2 or 1, nothing published.
    let o = rd(&["merge", "ml.toml", "--data-dir", "data"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no shards of this manifest"), "{err}");
    for k in 0..2 {
        let out = ok(&rd(
            &[
                "build",
                "ml.toml",
                "--data-dir",
                "data",
                "--shard",
                &format!("{k}/3"),
            ],
            d,
        ));
        assert!(out.contains("shards-"), "{out}");
    }
    // Two of three: merge names the missing one.
    let o = rd(&["merge", "ml.toml", "--data-dir", "data"], d);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 of 3 shards are not complete: 2/3"), "{err}");
    assert!(!version(d).exists(), "nothing published before merge");
    ok(&rd(
        &["build", "ml.toml", "--data-dir", "data", "--shard", "2/3"],
        d,
    ));
    let sharded_requests = fx.cover_requests() - whole_requests;
    assert_eq!(
        sharded_requests, whole_requests,
        "each cover fetched by one shard"
    );

    // A re-queued shard redoes nothing.
    let before = (fx.cover_requests(), fx.mllm.log().len());
    let o = rd(
        &["build", "ml.toml", "--data-dir", "data", "--shard", "1/3"],
        d,
    );
    ok(&o);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already complete"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!((fx.cover_requests(), fx.mllm.log().len()), before);

    // merge: no fetch, no caption request, no model call; the same bytes.
    let o = rd(&["merge", "ml.toml", "--data-dir", "data", "--json"], d);
    ok(&o);
    assert_eq!(
        (fx.cover_requests(), fx.mllm.log().len()),
        before,
        "merge fetched or captioned again"
    );
    let encoded: u64 = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "encode")
        .filter_map(|v| v["encoded"].as_u64())
        .sum();
    assert_eq!(encoded, 0, "merge encoded again");
    assert_eq!(fx.mllm.log().len() - whole_captions, whole_captions);
    let a = published(whole.path());
    let b = published(d);
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    same_trees(&a, &b, "merged");
}

#[test]
fn slurm_scripts_carry_the_manifest_resources() {
    let fx = Fixture::new();
    let w = fx.workdir();
    let out = ok(&rd(
        &[
            "slurm",
            "ml.toml",
            "--shards",
            "4",
            "--data-dir",
            "data",
            "--out",
            "jobs",
        ],
        w.path(),
    ));
    assert!(out.trim().ends_with("jobs/submit.sh"), "{out}");
    let s = std::fs::read_to_string(w.path().join("jobs/shards.sbatch")).unwrap();
    for want in [
        "#SBATCH --array=0-3",
        "#SBATCH --time=00:20:00",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --requeue",
        "--shard \"$SLURM_ARRAY_TASK_ID/4\"",
    ] {
        assert!(s.contains(want), "{want} not in\n{s}");
    }
    let m = std::fs::read_to_string(w.path().join("jobs/merge.sbatch")).unwrap();
    assert!(m.contains(" merge ") && m.contains("--shards 4"), "{m}");
    let sub = std::fs::read_to_string(w.path().join("jobs/submit.sh")).unwrap();
    assert!(sub.contains("--dependency=afterok:"), "{sub}");
    // Every [slurm] key reaches its script: the merge job takes its own resources where the
    // manifest gives them, the shards' otherwise; `--exe` names the binary the tasks run.
    let full = std::fs::read_to_string(w.path().join("ml.toml"))
        .unwrap()
        .replace(
            "cpus_per_task = 1\n",
            r#"cpus_per_task = 2
mem = "8G"
gres = "gpu:1"
partition = "gpu"
account = "recsys"
qos = "normal"
max_parallel = 2
merge_time = "01:00:00"
merge_mem = "32G"
merge_partition = "cpu"
setup = ["module load cuda/12"]
extra = ["--constraint=h100"]
"#,
        );
    std::fs::write(w.path().join("full.toml"), full).unwrap();
    ok(&rd(
        &[
            "slurm",
            "full.toml",
            "--shards",
            "3",
            "--data-dir",
            "data",
            "--out",
            "jobs-full",
            "--exe",
            "/opt/recdata/bin/recdata",
        ],
        w.path(),
    ));
    let s = std::fs::read_to_string(w.path().join("jobs-full/shards.sbatch")).unwrap();
    for want in [
        "#SBATCH --array=0-2%2",
        "#SBATCH --time=00:20:00",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=8G",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --partition=gpu",
        "#SBATCH --account=recsys",
        "#SBATCH --qos=normal",
        "#SBATCH --constraint=h100",
        "module load cuda/12",
        "exec /opt/recdata/bin/recdata build ",
    ] {
        assert!(s.contains(want), "{want} not in\n{s}");
    }
    let m = std::fs::read_to_string(w.path().join("jobs-full/merge.sbatch")).unwrap();
    for want in [
        "#SBATCH --time=01:00:00",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=32G",
        "#SBATCH --partition=cpu",
        "#SBATCH --account=recsys",
        "module load cuda/12",
        "exec /opt/recdata/bin/recdata merge ",
    ] {
        assert!(m.contains(want), "{want} not in\n{m}");
    }
    assert!(
        !m.contains("--gres") && !m.contains("--partition=gpu"),
        "{m}"
    );

    // A bad [slurm] key is a manifest error with the place.
    let bad = std::fs::read_to_string(w.path().join("ml.toml")).unwrap() + "partitoin = \"gpu\"\n";
    std::fs::write(w.path().join("bad.toml"), bad).unwrap();
    let o = rd(&["slurm", "bad.toml", "--shards", "2"], w.path());
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("partitoin") && err.contains("partition"),
        "{err}"
    );
}

fn slurm_wanted() -> bool {
    std::env::var_os("RECDATA_SLURM_TESTS").is_some() || std::env::var_os("CI").is_some()
}

fn sh(cmd: &str, conf: &str) -> String {
    let o = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .env("SLURM_CONF", conf)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// State of every job and array task of `ids`, e.g. ["12_0 COMPLETED", ...] (from squeue and,
/// for finished jobs, scontrol).
fn job_states(ids: &[&str], conf: &str) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let text = sh(&format!("scontrol -o show job {id} 2>/dev/null"), conf);
        for line in text.lines() {
            let f = |k: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .unwrap_or("")
                    .to_owned()
            };
            let task = f("ArrayTaskId");
            let state = f("JobState");
            out.push(if task.is_empty() {
                format!("{id} {state}")
            } else {
                format!("{id}_{task} {state}")
            });
        }
    }
    out
}

#[test]
fn slurm_job_array_with_a_killed_and_requeued_task_gives_the_same_dataset() {
    if !slurm_wanted() {
        eprintln!("skipped: set RECDATA_SLURM_TESTS=1 (CI sets CI=1) to run Slurm on this machine");
        return;
    }
    let up = Command::new(repo().join("tests/slurm/cluster.sh"))
        .arg("up")
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "cluster: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let conf = String::from_utf8_lossy(&up.stdout).trim().to_owned();

    let fx = Fixture::new();
    let whole = fx.workdir();
    ok(&rd(
        &["build", "ml.toml", "--data-dir", "data"],
        whole.path(),
    ));
    let wanted: std::collections::HashSet<String> = fx
        .covers
        .log()
        .into_iter()
        .filter(|e| e.status == 200)
        .map(|e| e.path)
        .collect();
    fx.covers.clear_log();

    // Slow covers, so the task killed below is killed mid-fetch.
    for e in std::fs::read_dir(fx.raw.path().join("raw/MicroLens-100k_covers")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        fx.covers.sticky(
            &format!("/covers/{name}"),
            Fault::Slow {
                chunk: 2048,
                delay: Duration::from_millis(300),
            },
        );
    }
    let w = fx.workdir();
    let d = w.path();
    let submit = Command::new(crate::util::bin())
        .args([
            "slurm",
            "ml.toml",
            "--shards",
            "4",
            "--data-dir",
            "data",
            "--submit",
            "--json",
        ])
        .current_dir(d)
        .env("SLURM_CONF", &conf)
        .env("NO_COLOR", "1")
        .env("RECDATA_MODELS", repo().join("models"))
        .env("RECDATA_CACHE", d.join("cache"))
        .env("RECDATA_THREADS", "1")
        .output()
        .unwrap();
    let out = ok(&submit);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let array = v["array_job"].as_str().unwrap().to_owned();
    let merge = v["merge_job"].as_str().unwrap().to_owned();

    // Kill task 1 once it has fetched some covers, and re-queue it.
    let started = Instant::now();
    let shard_media = |k: u32| -> usize {
        let cache = d.join("data/ml-shards/.cache");
        std::fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("shards-"))
            .map(|e| e.path().join(format!("{k}/media/0-image.journal.jsonl")))
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| t.lines().count())
            .sum()
    };
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "task 1 never started fetching: {:?}",
            job_states(&[&array], &conf)
        );
        if shard_media(1) >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let rq = sh(
        &format!("scontrol requeue {array}_1 2>&1; echo rc=$?"),
        &conf,
    );
    assert!(rq.contains("rc=0"), "requeue: {rq}");
    // Slurm holds a re-queued job for a while (its begin time moves ~2 min ahead): release it.
    std::thread::sleep(Duration::from_millis(500));
    sh(
        &format!("scontrol update JobId={array}_1 StartTime=now"),
        &conf,
    );
    let killed_at = shard_media(1);

    // Wait for the merge job.
    loop {
        let states = job_states(&[&array, &merge], &conf);
        let merge_state = states
            .iter()
            .find(|s| s.starts_with(&format!("{merge} ")))
            .cloned()
            .unwrap_or_default();
        if merge_state.ends_with("COMPLETED") {
            break;
        }
        assert!(
            ![
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                "NODE_FAIL",
                "OUT_OF_MEMORY"
            ]
            .iter()
            .any(|s| merge_state.ends_with(s)),
            "merge job ended {merge_state}: {states:?}\n{}",
            std::fs::read_to_string(d.join("data/ml-shards/.slurm/logs/merge.out"))
                .unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(540),
            "slurm build did not finish: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The re-queued task ran twice (its log has two starts) and refetched nothing it had.
    let log1 = std::fs::read_to_string(d.join("data/ml-shards/.slurm/logs/shard-1.out")).unwrap();
    assert!(
        log1.matches("Reusing").count() >= 1,
        "the re-queued task did not resume from its journal:\n{log1}"
    );
    assert!(killed_at >= 2);
    let fetched: std::collections::HashSet<String> = fx
        .covers
        .log()
        .into_iter()
        .filter(|e| e.status == 200 || e.status == 206)
        .map(|e| e.path)
        .collect();
    assert_eq!(
        fetched, wanted,
        "every cover fetched completely once it was needed"
    );

    let a = published(whole.path());
    let b = published(d);
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    same_trees(&a, &b, "Slurm");
}
