#!/usr/bin/env python3
"""A 4-shard Slurm build vs the single-process build of the same manifest, on this machine.

    python bench/slurm.py --bin $CARGO_TARGET_DIR/release/recdata [--shards 4] [--users 300]

Starts the single-node cluster (tests/slurm/cluster.sh), synthesizes the MicroLens-format demo
corpus, then, each in a fresh directory with a fresh cache (nothing shared between the two):

* `recdata build manifests/microlens-synth.toml` — wall time;
* `recdata slurm ... --shards N --submit --exe <wrapper>`, waiting for the merge job — wall time
  from submit to the merge job's end. The wrapper logs the wall clock (ns) when each task's
  recdata process starts and ends and then execs the real binary, so per task we have its own
  run time and, against the moment sbatch returned, its launch latency (queueing for a free CPU
  included: 4 tasks on 2 CPUs run in two waves); the merge job's latency is its recdata start
  minus the last shard's end. Slurm's own Start/End (1 s resolution) are kept for reference.

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

    # Logs the wall clock around each task's recdata process (a child: Slurm signals every process of a job).
    times = WORK / "times.log"
    wrapper = WORK / "recdata-timed"
    wrapper.write_text(
        "#!/bin/bash\n"
        f'echo "start $(date +%s.%N) ${{SLURM_ARRAY_TASK_ID:-merge}} $$" >> {times}\n'
        f'trap \'echo "end $(date +%s.%N) ${{SLURM_ARRAY_TASK_ID:-merge}} $$" >> {times}\' EXIT\n'
        f'"{exe}" "$@"\n')
    wrapper.chmod(0o755)

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
                              "--submit", "--exe", str(wrapper)], cwd=d, env=env, check=True, capture_output=True,
                             text=True).stdout
        submitted = time.time()
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
        results["submit_seconds"] = submitted - t0
        marks = {}
        for line in times.read_text().splitlines():
            what, at, task, _pid = line.split()
            marks.setdefault(task, {})[what] = float(at)
        tasks = scontrol(array, conf)
        per_task = []
        for t in sorted(tasks, key=lambda t: int(t.get("ArrayTaskId", 0))):
            k = t.get("ArrayTaskId")
            mk = marks[k]
            per_task.append({"task": k, "own_s": mk["end"] - mk["start"],
                             "launch_after_submit_s": mk["start"] - submitted,
                             "slurm_elapsed_s": ts(t["EndTime"]) - ts(t["StartTime"]),
                             "slurm_start_delay_s": ts(t["StartTime"]) - ts(t["SubmitTime"])})
        last_end = max(marks[t["task"]]["end"] for t in per_task)
        results["merge_launch_after_last_shard_s"] = marks["merge"]["start"] - last_end
        results["merge_own_s"] = marks["merge"]["end"] - marks["merge"]["start"]
        results["merge_end_to_seen_s"] = (t0 + results["slurm_seconds"]) - marks["merge"]["end"]
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
    print("\n| task | recdata's own run | launched after submit |\n| --- | ---: | ---: |")
    for t in results["tasks"]:
        print(f"| shard {t['task']} | {t['own_s']:.2f} s | {t['launch_after_submit_s']:.2f} s |")
    print(f"| merge | {results['merge_own_s']:.2f} s | {results['merge_launch_after_last_shard_s']:.2f} s after the last shard ended |")
    print(f"\nsubmission (recdata slurm --submit) took {results['submit_seconds']:.2f} s; "
          f"byte-identical: {results['byte_identical']} ({results['files']} files)")


if __name__ == "__main__":
    main()
