//! Semantic ids: codes in range and unique after collision handling, deterministic across runs
//! and thread counts, clusters recovered on synthetic data with known structure, metrics equal
//! to a direct numpy computation, clear errors.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::py;

/// `n` vectors of `d` dims around `c` centres (std 0.3, centres 4 apart), a few exact
/// duplicates; writes `emb.parquet` and the true labels `labels.json`.
fn mixture(dir: &Path, n: usize, d: usize, c: usize) {
    py(
        r#"
import sys, json, numpy as np, pyarrow as pa, pyarrow.parquet as pq
out, n, d, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.RandomState(11)
cent = rng.randn(c, d).astype(np.float32) * 4
lab = rng.randint(0, c, n)
x = (cent[lab] + rng.randn(n, d).astype(np.float32) * 0.3).astype(np.float32)
x[n - 3:] = x[0]  # three duplicates of row 0
lab[n - 3:] = lab[0]
arr = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel(), pa.float32()), d)
pq.write_table(pa.table({"item_id": pa.array(np.arange(n) + 100, pa.uint32()), "embedding": arr}), f"{out}/emb.parquet")
json.dump(lab.tolist(), open(f"{out}/labels.json", "w"))
"#,
        &[
            dir.to_str().unwrap(),
            &n.to_string(),
            &d.to_string(),
            &c.to_string(),
        ],
    );
}

fn sid(dir: &Path, args: &[&str], threads: &str) -> Output {
    Command::new(crate::util::bin())
        .args(["semantic-ids", "emb.parquet"])
        .args(args)
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", threads)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn report(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("semantic_ids.json")).unwrap()).unwrap()
}

#[test]
fn codes_are_valid_unique_deterministic_and_recover_clusters() {
    let d = tempfile::tempdir().unwrap();
    mixture(d.path(), 3000, 16, 8);
    let o = sid(
        d.path(),
        &["--codebooks", "8,16,16", "--out", "a", "--seed", "3"],
        "1",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = sid(
        d.path(),
        &["--codebooks", "8,16,16", "--out", "b", "--seed", "3"],
        "2",
    );
    assert!(o.status.success());
    let (a, b) = (report(&d.path().join("a")), report(&d.path().join("b")));
    assert_eq!(
        a["codes_sha256"], b["codes_sha256"],
        "same codes with 1 and 2 threads"
    );
    for f in [
        "semantic_ids.parquet",
        "codebooks.parquet",
        "semantic_ids.json",
    ] {
        let sha = |dir: &str| {
            recdata::util::hash::sha256_file(&d.path().join(dir).join(f))
                .unwrap()
                .0
        };
        assert_eq!(sha("a"), sha("b"), "{f} differs between 1 and 2 threads");
    }
    let o = sid(
        d.path(),
        &["--codebooks", "8,16,16", "--out", "c", "--seed", "4"],
        "2",
    );
    assert!(o.status.success());
    assert_ne!(
        a["codes_sha256"],
        report(&d.path().join("c"))["codes_sha256"],
        "the seed matters"
    );

    let check = py(
        r#"
import sys, json, pyarrow.parquet as pq
from collections import defaultdict
d = sys.argv[1]
t = pq.read_table(f"{d}/a/semantic_ids.parquet").to_pylist()
lab = json.load(open(f"{d}/labels.json"))
codes = [r["codes"] for r in t]
ok_range = all(len(c) == 4 and c[0] < 8 and c[1] < 16 and c[2] < 16 for c in codes)
unique = len({tuple(c) for c in codes}) == len(codes)
ids = [r["item_id"] for r in t] == list(range(100, 100 + len(t)))
# the first level recovers the mixture: every true cluster maps to exactly one code and back
m = defaultdict(set); r = defaultdict(set)
for c, l in zip(codes, lab):
    m[l].add(c[0]); r[c[0]].add(l)
recovered = all(len(v) == 1 for v in m.values()) and all(len(v) == 1 for v in r.values())
# the duplicates of row 0 share its tuple; the whole group is numbered 0..g-1 in row order
dup = [c[3] for c in codes if c[:3] == codes[0][:3]]
dup = dup == list(range(len(dup))) and len(dup) >= 4
same = all(codes[i][:3] == codes[0][:3] for i in [len(codes) - 3, len(codes) - 2, len(codes) - 1])
print(json.dumps({"range": ok_range, "unique": unique, "ids": ids, "recovered": recovered, "dup": dup, "same": same}))
"#,
        &[d.path().to_str().unwrap()],
    );
    let c: serde_json::Value = serde_json::from_str(&check).unwrap();
    assert_eq!(c["range"], true, "{c}");
    assert_eq!(c["unique"], true, "{c}");
    assert_eq!(c["ids"], true, "{c}");
    assert_eq!(c["recovered"], true, "{c}");
    assert_eq!(c["same"], true, "{c}");
    assert_eq!(c["dup"], true, "{c}");
    assert_eq!(a["metrics"]["collision_rate_after"], 0.0);
    assert_eq!(a["metrics"]["levels"][0]["utilization"], 1.0);
    assert!(
        a["metrics"]["nn"]["prefix1_agreement"].as_f64().unwrap() > 0.99,
        "{}",
        a["metrics"]["nn"]
    );
}

#[test]
fn metrics_match_numpy() {
    let d = tempfile::tempdir().unwrap();
    mixture(d.path(), 600, 8, 5);
    let o = sid(d.path(), &["--codebooks", "4,8", "--out", "m"], "2");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = report(&d.path().join("m"));
    let want = py(
        r#"
import sys, json, numpy as np, pyarrow.parquet as pq
d = sys.argv[1]
t = pq.read_table(f"{d}/m/semantic_ids.parquet")
codes = np.array(t.column("codes").to_pylist())
cb = pq.read_table(f"{d}/m/codebooks.parquet").to_pylist()
x = np.array(pq.read_table(f"{d}/emb.parquet").column("embedding").to_pylist(), np.float64)
C = {}
for r in cb: C[(r["level"], r["code"])] = np.array(r["centroid"], np.float64)
xh = np.array([C[(1, a)] + C[(2, b)] for a, b in codes[:, :2]])
n = len(codes)
tuples = {}
for c in map(tuple, codes[:, :2]): tuples[c] = tuples.get(c, 0) + 1
def ent(cnt):
    p = np.array(list(cnt), float) / n; p = p[p > 0]; return float(-(p * np.log(p)).sum())
lv = []
for l, k in [(0, 4), (1, 8)]:
    cnt = np.bincount(codes[:, l], minlength=k)
    lv.append({"utilization": float((cnt > 0).mean()), "entropy": ent(cnt), "perplexity": float(np.exp(ent(cnt)))})
print(json.dumps({"collision_rate": (n - len(tuples)) / n, "mse": float(((x - xh) ** 2).mean()),
  "rel": float((np.abs(x - xh) / (np.maximum(np.abs(x), np.abs(xh)) + 1e-4)).mean()),
  "levels": lv, "tuple_entropy": ent(tuples.values())}))
"#,
        &[d.path().to_str().unwrap()],
    );
    let w: serde_json::Value = serde_json::from_str(&want).unwrap();
    let m = &got["metrics"];
    let close = |a: &serde_json::Value, b: &serde_json::Value, what: &str| {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        assert!(
            (a - b).abs() <= 1e-6 * b.abs().max(1.0),
            "{what}: recdata {a} vs numpy {b}"
        );
    };
    close(
        &m["collisions_before"]["rate"],
        &w["collision_rate"],
        "collision rate",
    );
    close(&m["reconstruction_mse"], &w["mse"], "mse");
    close(&m["relative_error"], &w["rel"], "relative error");
    close(&m["tuple_entropy"], &w["tuple_entropy"], "tuple entropy");
    for l in 0..2 {
        for k in ["utilization", "entropy", "perplexity"] {
            close(&m["levels"][l][k], &w["levels"][l][k], k);
        }
    }
}

#[test]
fn bad_inputs_are_clear_errors() {
    let d = tempfile::tempdir().unwrap();
    mixture(d.path(), 50, 4, 2);
    let o = sid(d.path(), &["--codebook-size", "64", "--out", "x"], "1");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("needs at least 64 items; there are 50"));
    let o = sid(
        d.path(),
        &["--column", "nope", "--codebook-size", "4", "--out", "x"],
        "1",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column `nope`"));
    // 50 items in 2 x 2 codes: groups far larger than an extra level of 4 codes can number.
    let o = sid(
        d.path(),
        &["--codebooks", "2,2", "--dedup-vocab", "4", "--out", "x"],
        "1",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--dedup-vocab"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn reassign_removes_collisions_on_the_last_level() {
    let d = tempfile::tempdir().unwrap();
    mixture(d.path(), 800, 8, 4);
    let o = sid(
        d.path(),
        &["--codebooks", "4,256", "--dedup", "reassign", "--out", "r"],
        "2",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = report(&d.path().join("r"));
    let m = &r["metrics"];
    assert!(
        m["collisions_before"]["rate"].as_f64().unwrap() > 0.0,
        "{m}"
    );
    let re = &m["reassigned"];
    assert!(re["moved"].as_u64().unwrap() > 0, "{re}");
    assert!(
        re["mean_sq_error_after"].as_f64().unwrap() >= re["mean_sq_error_before"].as_f64().unwrap(),
        "{re}"
    );
    assert_eq!(m["collision_rate_after"], 0.0, "{m}");
    // Unique codes, and the prefix (level 1) never changes: only the last level moves.
    let check = py(
        r#"
import sys, json, pyarrow.parquet as pq
d = sys.argv[1]
codes = [tuple(r["codes"]) for r in pq.read_table(f"{d}/r/semantic_ids.parquet").to_pylist()]
print(json.dumps({"unique": len(set(codes)) == len(codes), "lens": sorted({len(c) for c in codes})}))
"#,
        &[d.path().to_str().unwrap()],
    );
    let c: serde_json::Value = serde_json::from_str(&check).unwrap();
    assert_eq!(c["unique"], true, "{c}");
}

/// The same build streamed from a spill file (a memory budget of 0) gives the same codes and
/// metrics as the in-memory build, and leaves no spill file behind.
#[test]
fn spilled_vectors_give_the_same_codes_as_in_memory() {
    let d = tempfile::tempdir().unwrap();
    mixture(d.path(), 5000, 12, 6);
    let args = [
        "--codebooks",
        "8,8",
        "--pca",
        "10",
        "--l2",
        "--dedup",
        "reassign",
    ];
    let mem = sid(d.path(), &[&args[..], &["--out", "mem"]].concat(), "2");
    assert!(
        mem.status.success(),
        "{}",
        String::from_utf8_lossy(&mem.stderr)
    );
    let spill = Command::new(crate::util::bin())
        .args(["semantic-ids", "emb.parquet"])
        .args(args)
        .args(["--out", "spill"])
        .current_dir(d.path())
        .env("RECDATA_SID_MEMORY_MB", "0")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        spill.status.success(),
        "{}",
        String::from_utf8_lossy(&spill.stderr)
    );
    let err = String::from_utf8_lossy(&spill.stderr);
    assert!(err.contains("streaming them from a spill file"), "{err}");
    let (a, b) = (
        report(&d.path().join("mem")),
        report(&d.path().join("spill")),
    );
    assert_eq!(a["codes_sha256"], b["codes_sha256"]);
    assert_eq!(a["input_sha256"], b["input_sha256"]);
    assert_eq!(a["metrics"], b["metrics"]);
    let left: Vec<_> = std::fs::read_dir(d.path().join("spill"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "spill files left: {left:?}");
}

/// Sinkhorn balancing fills every last-level code to its capacity (⌊N/K⌋ or ⌈N/K⌉) exactly
/// on skewed data where plain k-means does not, and records the method.
#[test]
fn sinkhorn_balancing_meets_the_capacities_exactly() {
    let d = tempfile::tempdir().unwrap();
    // 1003 items, 4 centres: capacities of 16 codes are 62 or 63.
    mixture(d.path(), 1003, 8, 4);
    let plain = sid(d.path(), &["--codebooks", "4,16", "--out", "plain"], "2");
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let o = sid(
        d.path(),
        &[
            "--codebooks",
            "4,16",
            "--balance",
            "sinkhorn",
            "--balance-levels",
            "all",
            "--out",
            "bal",
        ],
        "1",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = sid(
        d.path(),
        &[
            "--codebooks",
            "4,16",
            "--balance",
            "sinkhorn",
            "--balance-levels",
            "all",
            "--out",
            "bal2",
        ],
        "2",
    );
    assert!(again.status.success());
    let r = report(&d.path().join("bal"));
    assert_eq!(
        r["codes_sha256"],
        report(&d.path().join("bal2"))["codes_sha256"]
    );
    let b = &r["metrics"]["balance"];
    assert_eq!(b.as_array().unwrap().len(), 2, "{b}");
    assert_eq!(b[1]["method"], "sinkhorn");
    assert_eq!(b[1]["capacity_min"], 62);
    assert_eq!(b[1]["capacity_max"], 63);
    assert!(b[1]["tau"].as_f64().unwrap() > 0.0);
    let counts = py(
        r#"
import sys, json, collections, pyarrow.parquet as pq
d = sys.argv[1]
out = {}
for run in ["plain", "bal"]:
    codes = [r["codes"] for r in pq.read_table(f"{d}/{run}/semantic_ids.parquet").to_pylist()]
    out[run] = [sorted(collections.Counter(c[l] for c in codes).values()) for l in range(2)]
print(json.dumps(out))
"#,
        &[d.path().to_str().unwrap()],
    );
    let c: serde_json::Value = serde_json::from_str(&counts).unwrap();
    let level2: Vec<u64> = c["bal"][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(level2.len(), 16, "{c}");
    assert!(level2.iter().all(|&n| n == 62 || n == 63), "{c}");
    assert_eq!(level2.iter().sum::<u64>(), 1003);
    let level1: Vec<u64> = c["bal"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(level1.iter().all(|&n| n == 250 || n == 251), "{c}");
    // Plain k-means on 4 unequal clusters is not balanced at level 1.
    let plain1: Vec<u64> = c["plain"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(
        plain1.iter().max().unwrap() - plain1.iter().min().unwrap() > 10,
        "{c}"
    );
    assert!(r["metrics"]["levels"][1]["cv"].as_f64().unwrap() < 0.01);
}

/// PCA: the kept variance and the axes match numpy's eigendecomposition of the covariance,
/// projection.parquet holds what new items need, whitening gives unit variance.
#[test]
fn pca_projection_matches_numpy() {
    let d = tempfile::tempdir().unwrap();
    mixture(d.path(), 2000, 12, 5);
    let o = sid(
        d.path(),
        &["--codebooks", "8,8", "--pca", "6", "--whiten", "--out", "p"],
        "2",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = report(&d.path().join("p"));
    assert_eq!(r["preprocessing"]["output_dim"], 6, "{r}");
    assert_eq!(r["dim"], 6);
    let check = py(
        r#"
import sys, json, numpy as np, pyarrow.parquet as pq
d = sys.argv[1]
x = np.stack(pq.read_table(f"{d}/emb.parquet")["embedding"].to_numpy(zero_copy_only=False)).astype(np.float64)
p = pq.read_table(f"{d}/p/projection.parquet").to_pylist()
mean = np.array(p[0]["vector"]); axes = np.array([r["vector"] for r in p[1:]]); eig = np.array([r["eigenvalue"] for r in p[1:]])
w, v = np.linalg.eigh(np.cov(x, rowvar=False))
order = np.argsort(-w)
w, v = w[order][:6], v[:, order][:, :6]
rep = json.load(open(f"{d}/p/semantic_ids.json"))
y = ((x - mean) @ axes.T) / np.sqrt(eig)
print(json.dumps({
  "kinds": [r["kind"] for r in p][:2],
  "mean_err": float(np.abs(mean - x.mean(0)).max()),
  "eig_rel_err": float(np.max(np.abs(eig - w) / w)),
  "axis_cos_min": float(np.min(np.abs(np.sum(axes * v.T, axis=1)))),
  "explained": float(w.sum() / np.linalg.eigvalsh(np.cov(x, rowvar=False)).sum()),
  "reported_explained": rep["preprocessing"]["explained_variance"],
  "whitened_var": np.var(y, axis=0, ddof=1).tolist(),
}))
"#,
        &[d.path().to_str().unwrap()],
    );
    let c: serde_json::Value = serde_json::from_str(&check).unwrap();
    assert_eq!(c["kinds"], serde_json::json!(["mean", "axis"]));
    assert!(c["mean_err"].as_f64().unwrap() < 1e-4, "{c}");
    assert!(c["eig_rel_err"].as_f64().unwrap() < 1e-4, "{c}");
    assert!(c["axis_cos_min"].as_f64().unwrap() > 0.9999, "{c}");
    assert!(
        (c["explained"].as_f64().unwrap() - c["reported_explained"].as_f64().unwrap()).abs() < 1e-5,
        "{c}"
    );
    for v in c["whitened_var"].as_array().unwrap() {
        assert!((v.as_f64().unwrap() - 1.0).abs() < 1e-3, "{c}");
    }
}

/// `qemu-x86_64` (Debian's qemu-user), which runs this machine's binary on an emulated CPU.
fn qemu() -> Option<&'static str> {
    let found = Command::new("qemu-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "qemu-x86_64 is missing: CI installs qemu-user (.ci/run, make test)"
        );
        eprintln!("skipping: qemu-x86_64 not installed (apt-get install qemu-user)");
    }
    found.then_some("qemu-x86_64")
}

/// The portable kernel's promise, checked on a second CPU: the same binary run natively (AVX
/// and, on most machines, FMA GEMM kernels) and on an emulated Nehalem (SSE4.2, no AVX, no
/// FMA: the baseline kernels and glibc's non-FMA exp/log) writes byte-identical outputs, with
/// PCA, whitening, Sinkhorn balancing and reassignment exercising every kernel call.
#[test]
#[cfg(target_arch = "x86_64")]
fn portable_kernel_gives_the_same_bytes_on_a_cpu_without_avx() {
    let Some(qemu) = qemu() else { return };
    let d = tempfile::tempdir().unwrap();
    mixture(d.path(), 1500, 24, 6);
    let configs: [&[&str]; 2] = [
        &["--codebooks", "8,16,16", "--l2"],
        &[
            "--codebooks",
            "8,16,16",
            "--pca",
            "12",
            "--whiten",
            "--balance",
            "sinkhorn",
            "--balance-levels",
            "all",
            "--dedup",
            "reassign",
        ],
    ];
    let run = |emulated: bool, args: &[&str], out: &str| {
        let mut cmd = if emulated {
            let mut c = Command::new(qemu);
            c.args(["-cpu", "Nehalem"]).arg(crate::util::bin());
            c
        } else {
            Command::new(crate::util::bin())
        };
        let o = cmd
            .args([
                "semantic-ids",
                "emb.parquet",
                "--kernel",
                "portable",
                "--seed",
                "5",
            ])
            .args(args)
            .args(["--out", out])
            .current_dir(d.path())
            .env("RAYON_NUM_THREADS", "2")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{out}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    for (i, args) in configs.iter().enumerate() {
        let (native, emulated) = (format!("native{i}"), format!("nehalem{i}"));
        run(false, args, &native);
        run(true, args, &emulated);
        let r = report(&d.path().join(&native));
        assert_eq!(r["kernel"], "portable");
        assert_eq!(
            r["simd"], "any",
            "the portable codes do not depend on the SIMD level"
        );
        for f in [
            "semantic_ids.parquet",
            "codebooks.parquet",
            "semantic_ids.json",
        ] {
            assert_eq!(
                std::fs::read(d.path().join(&native).join(f)).unwrap(),
                std::fs::read(d.path().join(&emulated).join(f)).unwrap(),
                "{f} differs between this CPU and an emulated Nehalem ({args:?})"
            );
        }
        if i == 1 {
            assert!(d.path().join(&native).join("projection.parquet").exists());
            assert_eq!(
                std::fs::read(d.path().join(&native).join("projection.parquet")).unwrap(),
                std::fs::read(d.path().join(&emulated).join("projection.parquet")).unwrap(),
            );
        }
    }
    // The emulated CPU really is another SIMD level: the GEMM kernel reports it.
    let o = Command::new(qemu)
        .args(["-cpu", "Nehalem"])
        .arg(crate::util::bin())
        .args([
            "semantic-ids",
            "emb.parquet",
            "--codebooks",
            "8,16",
            "--out",
            "gemm",
        ])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(report(&d.path().join("gemm"))["simd"], "x86_64-sse2");
}

/// The portable kernel finds the same structure as GEMM: on well-separated clusters (no
/// near-ties for the last bits to flip) both kernels give the same first level.
#[test]
fn portable_and_gemm_kernels_agree_away_from_ties() {
    let d = tempfile::tempdir().unwrap();
    mixture(d.path(), 2000, 16, 8);
    for kernel in ["gemm", "portable"] {
        let o = sid(
            d.path(),
            &["--codebooks", "8,16", "--kernel", kernel, "--out", kernel],
            "2",
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let first = |k: &str| {
        py(
            "import sys, pyarrow.parquet as pq\nprint([c[0] for c in pq.read_table(sys.argv[1]).column('codes').to_pylist()])",
            &[d.path()
                .join(k)
                .join("semantic_ids.parquet")
                .to_str()
                .unwrap()],
        )
    };
    assert_eq!(first("gemm"), first("portable"));
    assert_eq!(report(&d.path().join("portable"))["kernel"], "portable");
    assert_eq!(report(&d.path().join("gemm"))["kernel"], "gemm");
}
