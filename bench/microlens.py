#!/usr/bin/env python3
"""`make bench` (MicroLens): MicroLens-1M-size pairs + titles → canonical parquet, recdata vs.
the pandas a user would write, side by side in one run.

Input (once, cached in bench/work/): `recdata synth microlens-1m --users 1000000`: ~9.1M
interactions in `MicroLens-1M_pairs.csv` (header, unsorted, 13-digit ms timestamps) and
`MicroLens-1M_title.csv` (no header, Chinese titles with unbalanced quotes: split each line at
its first comma).

The job, each way (recdata, polars-python, pandas): read pairs and titles → sort by (user, time) → dense user/item ids in
raw-id order → write interactions, items, user_map and item_map as zstd parquet.

Each job runs in its own process; the tools alternate with a warm-up each, medians are reported,
and the floor is reading both files once plus writing recdata's tables with zstd
(bench/harness.py). Results go to bench/results-microlens.json and bench/README.md.
"""
import argparse, json, shutil, sys, textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import floor, measure, ratios, run  # noqa: E402

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

POLARS = textwrap.dedent(r'''
import sys, polars as pl
src, out = sys.argv[1], sys.argv[2]
pairs = pl.read_csv(f"{src}/MicroLens-1M_pairs.csv",
                    schema_overrides={"user": pl.Int64, "item": pl.Int64, "timestamp": pl.Int64})
# Titles have unbalanced quotes: each line is split at its first comma, not parsed as CSV.
lines = pl.read_csv(f"{src}/MicroLens-1M_title.csv", has_header=False, separator="\x1f", quote_char=None,
                    schema={"line": pl.String})
items = (lines.select(pl.col("line").str.splitn(",", 2).alias("p")).unnest("p")
         .select(pl.col("field_0").cast(pl.Int64).alias("raw_id"),
                 pl.when(pl.col("field_1") == "").then(None).otherwise(pl.col("field_1")).alias("title")))
pairs = pairs.sort(["user", "timestamp"], maintain_order=True)
users = pairs.select(pl.col("user").unique().sort()).with_row_index("user_id")
item_ids = pairs.select(pl.col("item").unique().sort()).with_row_index("item_id")
pairs = (pairs.join(users, on="user", how="left", maintain_order="left")
              .join(item_ids, on="item", how="left", maintain_order="left"))
pairs.select("user_id", "item_id",
             pl.from_epoch("timestamp", time_unit="ms").dt.replace_time_zone("UTC").cast(pl.Datetime("ms", "UTC")).alias("ts")
             ).write_parquet(f"{out}/interactions.parquet", compression="zstd")
it = item_ids.join(items, left_on="item", right_on="raw_id", how="left", maintain_order="left")
it.select("item_id", pl.col("item").cast(pl.String).alias("raw_id"), "title").write_parquet(
    f"{out}/items.parquet", compression="zstd")
users.select("user_id", pl.col("user").cast(pl.String).alias("raw_id")).write_parquet(
    f"{out}/user_map.parquet", compression="zstd")
it.select("item_id", pl.col("item").cast(pl.String).alias("raw_id")).write_parquet(
    f"{out}/item_map.parquet", compression="zstd")
print(pairs.height)
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
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[])
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
    titles = RAW / "MicroLens-1M_title.csv"
    manifest = WORK / "bench-microlens.toml"
    manifest.write_text(MANIFEST.format(raw=RAW))
    jobs = [
        ("recdata", lambda d: [a.bin, "build", str(manifest), "--data-dir", str(d), "-q"]),
        ("polars-python", lambda d: [sys.executable, "-c", POLARS, str(RAW), str(d)]),
        ("pandas", lambda d: [sys.executable, "-c", PANDAS, str(RAW), str(d)]),
    ]
    jobs = [j for j in jobs if j[0] not in a.skip]
    work = WORK / "microlens"
    res = measure(jobs, work, reps=a.reps)
    v = work / "out-recdata" / "bench-microlens-1m" / "1"
    tables = [(t, v / t) for t in ["interactions.parquet", "items.parquet", "user_map.parquet",
                                   "item_map.parquet", "users.parquet", "rejects.parquet"]]
    fl = floor([pairs, titles], tables, work)
    ratios(res, fl["floor_s"])
    results = {"input_bytes": pairs.stat().st_size + titles.stat().st_size, "users": a.users,
               "method": f"alternating, 1 warm-up + {a.reps} runs each, medians", "floor": fl, "jobs": res}
    (HERE / "results-microlens.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
