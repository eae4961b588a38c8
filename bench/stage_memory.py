#!/usr/bin/env python3
"""`make bench-memory`: peak resident memory per stage, per corpus, at each corpus' largest
synthetic size (the full-size releases where the generator can make them).

For every corpus: `recdata synth` (once, cached in bench/work/memory/<corpus>/raw), then a cold
`recdata --json build` (fresh data dir and stage cache) of a manifest with the default filter
and a leave-one-out split where the corpus has users, with the media and encoders left out.
Reads each stage's `peak_rss_bytes` from the `stage` events (exact when the stage set the
process's high-water mark, else sampled every 20 ms; src/util/rss.rs) and the whole process's
peak from wait4(). Results go to
bench/results-memory.json and the table in bench/README.md.

    .venv/bin/python bench/stage_memory.py --bin $CARGO_TARGET_DIR/release/recdata [--only lastfm-1k,...]
"""
import argparse, json, os, shutil, subprocess, sys, threading, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "memory"

# corpus, synth arguments (the largest size each generator is used at in this directory's
# benchmarks, or the real release's size), extra [source] keys, whether it has users to split.
CORPORA = [
    ("lastfm-1k", ["--users", "992", "--events-per-user", "19305"], "", True),
    ("microlens-1m", ["--users", "1000000", "--events-per-user", "9"], "", True),
    ("movielens-1m", ["--users", "6040", "--events-per-user", "166"], "", True),
    ("amazon-reviews-2023", ["--users", "630000", "--events-per-user", "1"], 'category = "All_Beauty"', True),
    ("finn-slates", ["--users", "2277645"], "", True),
    ("deezer-sessions", ["--users", "100000"], "", True),
    ("qilin", ["--users", "15482"], "", True),
    ("agrosense", [], "", False),
]


def measure(cmd, cwd):
    """Runs cmd; returns (wall seconds, peak RSS MiB of the process, stdout)."""
    t = time.perf_counter()
    env = dict(os.environ, RECDATA_CACHE=str(Path(cwd) / "cache"))
    # GNU time, not this script's wait4(): see harness.GNU_TIME (the child's ru_maxrss would
    # include this process's own peak).
    rss_file = Path(cwd) / ".peak-rss"
    timed = os.access("/usr/bin/time", os.X_OK)
    full = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] + [str(c) for c in cmd] if timed else cmd
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
    bufs = {}
    readers = [threading.Thread(target=lambda n=n, f=f: bufs.__setitem__(n, f.read()))
               for n, f in (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    _, status, ru = os.wait4(p.pid, 0)  # wait4, not communicate(): it gives the child's rusage
    for r in readers:
        r.join()
    out, err = bufs["out"], bufs["err"]
    secs = time.perf_counter() - t
    if status != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({status}):\n{err.decode()[-3000:]}")
    kib = int(rss_file.read_text().split()[-1]) if timed else ru.ru_maxrss
    return secs, kib / 1024, out.decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--only", default="", help="comma-separated corpora")
    a = ap.parse_args()
    only = set(filter(None, a.only.split(",")))
    results = {}
    path = HERE / "results-memory.json"
    if path.exists():
        results = json.loads(path.read_text())
    for corpus, args, keys, split in CORPORA:
        if only and corpus not in only:
            continue
        d = WORK / corpus
        raw = d / "raw"
        stamp = d / ("synth-" + "-".join(args or ["default"]))
        if not stamp.exists():
            shutil.rmtree(d, ignore_errors=True)
            raw.mkdir(parents=True)
            t = time.perf_counter()
            subprocess.run([a.bin, "synth", corpus, "--seed", "1", "--out", str(raw), *args],
                           check=True, stdout=subprocess.DEVNULL)
            print(f"[memory] synth {corpus}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
            stamp.touch()
        stages = '[stages.split]\nmethod = "leave_one_out"\n' if split else ""
        src = corpus.removesuffix("-1m")
        (d / "m.toml").write_text(
            f'[dataset]\nname = "mem"\nversion = "1"\n[source]\ncorpus = "{src}"\npath = "raw"\n{keys}\n{stages}')
        for x in ["data", "cache"]:
            shutil.rmtree(d / x, ignore_errors=True)
        secs, rss, out = measure([a.bin, "--json", "build", "m.toml", "--data-dir", "data"], cwd=d)
        stages_out = {}
        for line in out.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("type") == "stage" and not e.get("cached"):
                stages_out[e["stage"]] = {
                    "seconds": round(e["seconds"], 2),
                    "peak_rss_mib": None if e.get("peak_rss_bytes") is None else round(e["peak_rss_bytes"] / 2**20),
                }
        doc = json.loads((d / "data" / "mem" / "1" / "dataset.json").read_text())
        raw_lines = sum(v["lines"] for v in doc["accounting"]["raw"].values())
        raw_bytes = sum(f.stat().st_size for f in raw.rglob("*") if f.is_file())
        results[corpus] = {
            "synth_args": args,
            "raw_bytes": raw_bytes,
            "raw_records": raw_lines,
            "interactions": doc["accounting"]["filter"]["output_rows"],
            "wall_s": round(secs, 1),
            "peak_rss_mib": round(rss),
            "stages": stages_out,
        }
        print(f"[memory] {corpus}: {secs:.1f} s, peak {rss:.0f} MiB, "
              + ", ".join(f"{k} {v['peak_rss_mib']} MiB" for k, v in stages_out.items()), file=sys.stderr)
        path.write_text(json.dumps(results, indent=1) + "\n")
        shutil.rmtree(d / "data", ignore_errors=True)


if __name__ == "__main__":
    main()
