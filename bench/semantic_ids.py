#!/usr/bin/env python3
"""Semantic ids: `recdata semantic-ids` vs faiss-cpu's greedy ResidualQuantizer (residual
k-means, beam 1) on the same N x d float32 embeddings, 3 x 256 codes, 25 iterations, both on
2 threads. Reports wall time, peak RSS and reconstruction MSE, and the ratios.

    .venv/bin/python bench/semantic_ids.py --bin target/release/recdata [--n 1000000] [--dim 384]
"""
import argparse, json, os, resource, subprocess, sys, time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "semantic_ids"

FAISS = r"""
import json, os, resource, sys, time
t0 = time.time()
import numpy as np, pyarrow.parquet as pq, faiss
path, levels, k, iters, sample, train_type = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
faiss.omp_set_num_threads(2)
col = pq.read_table(path, columns=["embedding"]).column("embedding").combine_chunks()
d = col.type.list_size
x = np.ascontiguousarray(col.values.to_numpy(zero_copy_only=False).reshape(-1, d), dtype=np.float32)
t1 = time.time()
rq = faiss.ResidualQuantizer(d, levels, int(np.log2(k)))
rq.max_beam_size = 1                      # greedy encoding = residual k-means
rq.cp.niter = iters
rq.cp.max_points_per_centroid = sample // k
rq.cp.seed = 0
rq.train_type = train_type                # 0: plain residual k-means; 1 (faiss default): progressive-dim k-means
rng = np.random.RandomState(0)
train = x[np.sort(rng.choice(len(x), min(len(x), sample), replace=False))]
rq.train(train)
codes = rq.compute_codes(x)
t2 = time.time()
xh = rq.decode(codes)
mse = float(((x - xh) ** 2).mean())
print(json.dumps({"seconds": time.time() - t0, "quantize_seconds": t2 - t1, "mse": mse,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_data(path: Path, n: int, d: int, seed: int = 0):
    """A mixture of 2,000 anisotropic Gaussian clusters, L2-normalised (like text embeddings)."""
    if path.exists():
        return
    partial = path.with_name(path.name + ".partial")   # renamed when complete: a killed run leaves no short file
    rng = np.random.RandomState(seed)
    centres = rng.randn(2000, d).astype(np.float32)
    scales = rng.uniform(0.3, 1.2, (2000, d)).astype(np.float32)
    writer = None
    step = 100_000
    for lo in range(0, n, step):
        m = min(step, n - lo)
        lab = rng.randint(0, 2000, m)
        x = centres[lab] + rng.randn(m, d).astype(np.float32) * scales[lab]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        t = pa.table({"item_id": pa.array(np.arange(lo, lo + m), pa.uint32()),
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel(), pa.float32()), d)})
        if writer is None:
            writer = pq.ParquetWriter(partial, t.schema, compression="zstd")
        writer.write_table(t)
    writer.close()
    partial.rename(path)


def timed(cmd, env):
    t = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    rss = int(p.stderr.strip().splitlines()[-1]) / 1024
    return time.time() - t, rss, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--iters", type=int, default=25)
    ap.add_argument("--no-portable", action="store_true", help="skip the run with --kernel portable")
    ap.add_argument("--recdata-only", action="store_true",
                    help="skip faiss (the 10M-row scale test: faiss needs the whole matrix in memory)")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / f"emb-{a.n}x{a.dim}.parquet"
    print(f"data: {a.n:,} x {a.dim} float32 -> {data}", file=sys.stderr)
    make_data(data, a.n, a.dim)
    sample = 256 * a.k
    env = dict(os.environ, RAYON_NUM_THREADS="2", OMP_NUM_THREADS="2")
    out = WORK / "out"
    rd_wall, rd_rss, stdout = timed([a.bin, "--json", "semantic-ids", str(data), "--codebooks", ",".join([str(a.k)] * a.levels),
                                     "--iters", str(a.iters), "--sample", str(sample), "--dedup", "none", "--out", str(out)], env)
    rep = json.loads(stdout.strip().splitlines()[-1])["report"]
    rd_mse = rep["metrics"]["reconstruction_mse"]
    rows = [("**recdata semantic-ids** (residual k-means, k-means++ seeding)", rd_wall, rd_rss, rd_mse, None)]
    if a.recdata_only:
        spilled = a.n * a.dim * 4 > int(os.environ.get("RECDATA_SID_MEMORY_MB", "4096")) * (1 << 20)
        print(f"| recdata semantic-ids, {a.n:,} x {a.dim}{' (vectors spilled to disk)' if spilled else ''} | {rd_wall:.1f} s | "
              f"{rd_rss:,.0f} MiB | {rd_mse:.6f} |")
        (WORK / f"results-{a.n}.json").write_text(json.dumps({"n": a.n, "dim": a.dim, "wall": rd_wall, "rss_mib": rd_rss,
                                                               "spilled": spilled, "recdata_report": rep["metrics"]}, indent=1))
        return
    if not a.no_portable:
        # The same run with the fixed-order kernel (the same codes on every CPU).
        pw, pr, pout = timed([a.bin, "--json", "semantic-ids", str(data), "--codebooks", ",".join([str(a.k)] * a.levels),
                              "--iters", str(a.iters), "--sample", str(sample), "--dedup", "none", "--kernel", "portable",
                              "--out", str(WORK / "out-portable")], env)
        prep = json.loads(pout.strip().splitlines()[-1])["report"]
        rows.append(("recdata semantic-ids `--kernel portable` (the same codes on every CPU)", pw, pr,
                     prep["metrics"]["reconstruction_mse"], None))
    fver = __import__("faiss").__version__
    fa_all = {}
    for tt, label in [(0, "plain residual k-means (Train_default)"), (1, "progressive-dim k-means (faiss default)")]:
        w, r, fout = timed([sys.executable, "-c", FAISS, str(data), str(a.levels), str(a.k), str(a.iters), str(sample), str(tt)], env)
        fa = json.loads(fout.strip().splitlines()[-1])
        fa_all[label] = fa
        rows.append((f"faiss-cpu {fver} ResidualQuantizer, beam 1, {label}", w, r, fa["mse"], fa["quantize_seconds"]))
    table = ["| tool | wall | quantize step | peak RSS | reconstruction MSE | wall ÷ recdata |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, w, r, m, q in rows:
        table.append(f"| {name} | {w:.1f} s | {'—' if q is None else f'{q:.1f} s'} | {r:,.0f} MiB | {m:.6f} | {w / rd_wall:.2f} |")
    print("\n".join(table))
    print(f"\n{a.n:,} x {a.dim}, {a.levels} x {a.k} codes, {a.iters} iterations, training sample {sample:,}, 2 threads; "
          f"recdata's wall includes its metrics (collisions, usage, entropy, NN preservation) and writing the outputs; "
          f"faiss's includes starting Python and reading the parquet.")
    (WORK / f"results-{a.n}.json").write_text(json.dumps({"n": a.n, "dim": a.dim, "rows": rows, "faiss": fa_all, "recdata_report": rep["metrics"]}, indent=1))


if __name__ == "__main__":
    main()
