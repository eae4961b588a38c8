#!/usr/bin/env python3
"""`make bench` (MicroLens): MicroLens-1M-size pairs + titles → canonical parquet, recdata vs.
the pandas a user would write, side by side in one run.

Input (once, cached in bench/work/): `recdata synth microlens-1m --users 1000000`: ~9.1M
interactions in `MicroLens-1M_pairs.csv` (header, unsorted, 13-digit ms timestamps) and
`MicroLens-1M_title.csv` (no header, Chinese titles with unbalanced quotes: split each line at
its first comma).

The job, both ways: read pairs and titles → sort by (user, time) → dense user/item ids in
raw-id order → write interactions, items, user_map and item_map as zstd parquet.

Each job runs in its own process; wall time and peak RSS come from wait4(). Results go to
bench/results-microlens.json and the table in bench/README.md.
"""
import argparse, json, shutil, sys, textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import run  # noqa: E402

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RAW = WORK / "microlens-1m"

PANDAS = textwrap.dedent(r'''
import sys, pandas as pd
src, out = sys.argv[1], sys.argv[2]
pairs = pd.read_csv(f"{src}/MicroLens-1M_pairs.csv", dtype={"user": "int64", "item": "int64", "timestamp": "int64"})
ids, titles = [], []
with open(f"{src}/MicroLens-1M_title.csv", encoding="utf-8") as f:   # quotes are unbalanced: no csv module
    for line in f:
        i, _, t = line.rstrip("\n").partition(",")
        ids.append(int(i)); titles.append(t or None)
items = pd.DataFrame({"raw_id": ids, "title": titles})
pairs = pairs.sort_values(["user", "timestamp"], kind="stable")
users = pd.Index(sorted(pairs["user"].unique()))
item_ids = pd.Index(sorted(pairs["item"].unique()))
pairs["user_id"] = users.get_indexer(pairs["user"]).astype("uint32")
pairs["item_id"] = item_ids.get_indexer(pairs["item"]).astype("uint32")
pairs["ts"] = pd.to_datetime(pairs["timestamp"], unit="ms", utc=True)
pairs[["user_id", "item_id", "ts"]].to_parquet(f"{out}/interactions.parquet", compression="zstd", index=False)
items = items.set_index("raw_id").reindex(item_ids)
items.index.name = "raw_id"
items = items.reset_index()
items.insert(0, "item_id", range(len(items)))
items["raw_id"] = items["raw_id"].astype(str)
items.to_parquet(f"{out}/items.parquet", compression="zstd", index=False)
pd.DataFrame({"user_id": range(len(users)), "raw_id": users.astype(str)}).to_parquet(f"{out}/user_map.parquet", compression="zstd", index=False)
items[["item_id", "raw_id"]].to_parquet(f"{out}/item_map.parquet", compression="zstd", index=False)
print(len(pairs))
''')

MANIFEST = """
[dataset]
name = "bench-microlens-1m"
version = "1"
[source]
corpus = "microlens"
variant = "1m"
path = "{raw}"
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--users", type=int, default=1_000_000)
    a = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    stamp = WORK / f"microlens-1m-{a.users}-v2.ok"
    if not stamp.exists():
        shutil.rmtree(RAW, ignore_errors=True)
        # 9,095,620 interactions of 1,000,000 users: 9.1 per user.
        s, _, _ = run([a.bin, "synth", "microlens-1m", "--users", str(a.users), "--events-per-user", "9",
                       "--seed", "1", "--out", str(RAW), "-q"])
        print(f"synth: {s:.1f}s", file=sys.stderr)
        stamp.touch()
    pairs = RAW / "MicroLens-1M_pairs.csv"
    manifest = WORK / "bench-microlens.toml"
    manifest.write_text(MANIFEST.format(raw=RAW))
    results = {"input_bytes": pairs.stat().st_size, "users": a.users, "jobs": {}}
    jobs = [
        ("recdata", lambda d: [a.bin, "build", str(manifest), "--data-dir", str(d), "-q"]),
        ("pandas", lambda d: [sys.executable, "-c", PANDAS, str(RAW), str(d)]),
    ]
    for name, cmd in jobs:
        d = WORK / f"out-microlens-{name}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        secs, rss, out = run(cmd(d))
        results["jobs"][name] = {"seconds": round(secs, 2), "peak_rss_mib": round(rss)}
        print(f"{name:>14}: {secs:8.1f} s  {rss:8.0f} MiB  {out[-60:]}", file=sys.stderr)
    base = results["jobs"]["recdata"]
    for r in results["jobs"].values():
        r["time_vs_recdata"] = round(r["seconds"] / base["seconds"], 2)
    (HERE / "results-microlens.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
