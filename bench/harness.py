"""How every ETL benchmark measures: whole processes, the tools alternating (A B C, A B C, ...),
one warm-up run each, then `reps` timed rounds; medians reported (as hyperfine does), with the
min and max. A fixed order would give the first tool the cold page cache and a freshly
installed Python package its import and byte-compilation cost.

And a floor for each job: the time to read the input bytes once plus the time to write the
same output tables with the same encoder (zstd parquet) — a parse-free copy. A job near its
floor is I/O- and encoder-bound; one far from it has parsing or algorithmic work left.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path


# GNU time reports the peak RSS of the command alone. wait4() on a child started from this
# process does not: Linux carries the pre-exec high-water mark into the child's ru_maxrss, and
# Python starts children with vfork (the parent's address space), so every figure would include
# this orchestrator's own peak (a parent holding 300 MB made `true` report 310 MiB).
GNU_TIME = "/usr/bin/time"


def run(cmd, **kw):
    """Runs cmd; returns (seconds, peak RSS in MiB, stdout). Exits on failure."""
    import tempfile

    use_time = os.access(GNU_TIME, os.X_OK)
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        full = [GNU_TIME, "-f", "%M", "-o", rss_file.name] + [str(c) for c in cmd] if use_time else cmd
        t = time.perf_counter()
        p = subprocess.Popen(full, stdout=subprocess.PIPE, **kw)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        secs = time.perf_counter() - t
        if status != 0:
            sys.exit(f"failed ({status}): {' '.join(map(str, cmd))}")
        if use_time:
            lines = [l for l in open(rss_file.name).read().split("\n") if l.strip().isdigit()]
            kib = int(lines[-1])
        else:
            kib = ru.ru_maxrss
    return secs, kib / 1024, out.decode().strip()


def measure(jobs, work, reps=3, warmup=1, log=sys.stderr):
    """jobs: [(name, cmd_for(outdir) -> argv)]. Returns {name: {median_s, min_s, max_s, runs,
    peak_rss_mib (median), stdout}}."""
    runs = {name: [] for name, _ in jobs}
    rss = {name: [] for name, _ in jobs}
    outs = {}
    for k in range(warmup + reps):
        for name, cmd in jobs:
            d = Path(work) / f"out-{name}"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            secs, mib, out = run(cmd(d))
            tag = "warm-up" if k < warmup else f"run {k - warmup + 1}/{reps}"
            print(f"{name:>16} {tag:>9}: {secs:8.2f} s {mib:8.0f} MiB", file=log, flush=True)
            if k >= warmup:
                runs[name].append(secs)
                rss[name].append(mib)
            outs[name] = out
    res = {}
    for name, _ in jobs:
        r = runs[name]
        res[name] = {
            "median_s": round(statistics.median(r), 2),
            "min_s": round(min(r), 2),
            "max_s": round(max(r), 2),
            "runs": [round(x, 2) for x in r],
            "peak_rss_mib": round(statistics.median(rss[name])),
            "stdout": outs[name][-200:],
        }
    return res


FLOOR = textwrap.dedent(r'''
import sys, time, json, pyarrow.parquet as pq
inputs, tables, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
n = 0
for p in inputs:
    with open(p, "rb", buffering=0) as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                break
            n += len(b)
read_s = time.perf_counter() - t
loaded = [(name, pq.read_table(path)) for name, path in tables]
t = time.perf_counter()
for name, tbl in loaded:
    pq.write_table(tbl, f"{out}/{name}", compression="zstd")
write_s = time.perf_counter() - t
print(json.dumps({"read_s": read_s, "write_s": write_s, "bytes": n}))
''')


def floor(inputs, tables, work, reps=3, python=sys.executable):
    """The floor of a job: read `inputs` once + write `tables` ([(file name, parquet path)]: the
    job's own outputs, loaded first, not timed) as zstd parquet with pyarrow. Medians of reps."""
    out = Path(work) / "out-floor"
    reads, writes = [], []
    for _ in range(reps + 1):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        _, _, o = run([python, "-c", FLOOR, json.dumps([str(p) for p in inputs]),
                       json.dumps([[n, str(p)] for n, p in tables]), str(out)])
        r = json.loads(o)
        reads.append(r["read_s"])
        writes.append(r["write_s"])
    reads, writes = reads[1:], writes[1:]  # the first is the warm-up
    return {
        "read_s": round(statistics.median(reads), 2),
        "write_s": round(statistics.median(writes), 2),
        "floor_s": round(statistics.median(reads) + statistics.median(writes), 2),
    }


def ratios(res, floor_s=None, base="recdata"):
    """Adds time_vs_recdata (other / recdata: > 1 means recdata is faster) and x_floor."""
    b = res[base]["median_s"]
    for r in res.values():
        r["time_vs_recdata"] = round(r["median_s"] / b, 2)
        if floor_s:
            r["x_floor"] = round(r["median_s"] / floor_s, 2)
    return res
