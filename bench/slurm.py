#!/usr/bin/env python3
"""A 4-shard Slurm build vs the single-process build of the same manifest, on this machine.

    python bench/slurm.py --bin $CARGO_TARGET_DIR/release/recdata [--shards 4] [--users 300]

Starts the single-node cluster (tests/slurm/cluster.sh), synthesizes the MicroLens-format demo
corpus, then, each in a fresh directory with a fresh cache (nothing shared between the two):

* `recdata build manifests/microlens-synth.toml` — wall time;
* `recdata slurm ... --shards N --submit`, waiting for the merge job — wall time from submit to
  the merge job's end, each task's own run time (from Slurm's Start/End), and the scheduler's
  share: the time tasks spent waiting although a CPU was free is not separable on 2 cores, so
  the overhead reported is (a) the merge job's start delay after the last shard ended and
  (b) per task, Slurm's elapsed time minus the recdata process's own wall time (job launch,
  prolog, epilog).

Checks the two published versions are byte-identical and writes bench/results-slurm.json.
"""
import argparse, hashlib, json, os, shutil, subprocess, sys, time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "slurm"


def tree_digest(d: Path) -> dict:
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(d))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def scontrol(job: str, conf: str) -> list[dict]:
    text = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True, text=True,
                          env=dict(os.environ, SLURM_CONF=conf)).stdout
    rows = []
    for line in text.splitlines():
        rows.append(dict(kv.split("=", 1) for kv in line.split() if "=" in kv))
    return rows


def ts(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S").timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--users", type=int, default=300)
    a = ap.parse_args()
    exe = str(Path(a.bin).resolve())
    conf = subprocess.run([str(REPO / "tests/slurm/cluster.sh"), "up"], check=True, capture_output=True,
                          text=True).stdout.strip()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    raw = WORK / "raw"
    subprocess.run([exe, "synth", "microlens", "--users", str(a.users), "--seed", "7", "--out", str(raw)],
                   check=True, capture_output=True)
    manifest_text = (REPO / "manifests/microlens-synth.toml").read_text().replace(
        'path = "../data/raw/microlens-synth"', f'path = "{raw}"').replace(
        '"../pipelines/seqrec-loo.toml"', f'"{REPO}/pipelines/seqrec-loo.toml"')

    results = {}
    for mode in ["whole", "slurm"]:
        d = WORK / mode
        d.mkdir()
        (d / "m.toml").write_text(manifest_text)
        env = dict(os.environ, RECDATA_CACHE=str(d / "cache"), RECDATA_MODELS=str(REPO / "models"),
                   SLURM_CONF=conf, NO_COLOR="1")
        t0 = time.time()
        if mode == "whole":
            subprocess.run([exe, "build", "m.toml", "--data-dir", "data"], cwd=d, env=env, check=True,
                           capture_output=True)
            results["whole_seconds"] = time.time() - t0
            continue
        out = subprocess.run([exe, "--json", "slurm", "m.toml", "--shards", str(a.shards), "--data-dir", "data",
                              "--submit"], cwd=d, env=env, check=True, capture_output=True, text=True).stdout
        ids = json.loads(out.strip().splitlines()[-1])
        array, merge = ids["array_job"], ids["merge_job"]
        while True:
            m = scontrol(merge, conf)
            state = m[0].get("JobState") if m else "?"
            if state == "COMPLETED":
                break
            if state in ("FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
                sys.exit(f"merge job {state}; logs in {d}/data/microlens-synth/.slurm/logs")
            time.sleep(0.2)
        results["slurm_seconds"] = time.time() - t0
        tasks = scontrol(array, conf)
        per_task = []
        for t in tasks:
            k = t.get("ArrayTaskId")
            elapsed = ts(t["EndTime"]) - ts(t["StartTime"])
            per_task.append({"task": k, "slurm_elapsed_s": elapsed, "start_delay_s": ts(t["StartTime"]) - ts(t["SubmitTime"])})
        mj = m[0]
        last_end = max(ts(t["EndTime"]) for t in tasks)
        results["merge_start_delay_s"] = ts(mj["StartTime"]) - last_end
        results["merge_elapsed_s"] = ts(mj["EndTime"]) - ts(mj["StartTime"])
        results["tasks"] = per_task
    a_tree = tree_digest(WORK / "whole/data/microlens-synth/1.0.0")
    b_tree = tree_digest(WORK / "slurm/data/microlens-synth/1.0.0")
    results["byte_identical"] = a_tree == b_tree
    results["files"] = len(a_tree)
    results["shards"] = a.shards
    results["users"] = a.users
    (HERE / "results-slurm.json").write_text(json.dumps(results, indent=1))
    w, s = results["whole_seconds"], results["slurm_seconds"]
    print(f"| build | wall | ÷ single process |\n| --- | ---: | ---: |\n"
          f"| single process (`recdata build`) | {w:.1f} s | 1.00 |\n"
          f"| Slurm: {a.shards} shard tasks + merge job (`recdata slurm --submit`) | {s:.1f} s | {s / w:.2f} |")
    print(f"\nmerge job started {results['merge_start_delay_s']:.0f} s after the last shard ended "
          f"(Slurm timestamps have 1 s resolution); merge job ran {results['merge_elapsed_s']:.0f} s; "
          f"per task (elapsed, start delay after submit): "
          + ", ".join(f"{t['task']}: {t['slurm_elapsed_s']:.0f} s / {t['start_delay_s']:.0f} s" for t in per_task)
          + f"; byte-identical: {results['byte_identical']}")


if __name__ == "__main__":
    main()
