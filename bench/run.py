#!/usr/bin/env python3
"""`make bench`: recdata vs. the Python a user would write today, side by side in one run.

Builds (once, cached in bench/work/) a full-size synthetic Last.fm-1K — 992 users, ~19M lines,
~2.4 GB TSV in the exact upstream format — then runs the same job three ways:
read TSV → dedup exact → iterative 5-core → leave-one-out → write parquet.

  recdata          recdata build (cold: no stage cache), release binary
  pandas           pandas.read_csv(quoting=QUOTE_NONE, on_bad_lines="skip") + groupby loops
  polars-python    polars.read_csv(quote_char=None, ...) + lazy group-bys

Each job runs in its own process; wall time from the clock, peak RSS from GNU time's %M
(harness.run: wait4() here would add this script's own peak to every figure). The tools
alternate, with a warm-up run each, and medians are reported; the floor is reading the TSV once
plus writing recdata's output tables with zstd (bench/harness.py). Results go to
bench/results.json and the table in bench/README.md.
"""
import argparse, json, shutil, sys, textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
WORK = HERE / "work"
RAW = WORK / "lastfm-1k"
EVENTS = RAW / "userid-timestamp-artid-artname-traid-traname.tsv"

PANDAS = textwrap.dedent(r'''
import csv, sys, pandas as pd
src, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(src, sep="\t", header=None, names=["user", "ts", "artid", "artname", "traid", "traname"],
                 quoting=csv.QUOTE_NONE, on_bad_lines="skip", encoding_errors="replace", dtype=str, keep_default_na=False)
df["ts"] = pd.to_datetime(df["ts"], format="%Y-%m-%dT%H:%M:%SZ", errors="coerce", utc=True)
df = df.dropna(subset=["ts"])
df["item"] = df["traid"].where(df["traid"] != "", "nombid:" + df["artname"] + "\x1f" + df["traname"])
df = df[["user", "item", "ts"]].drop_duplicates()
while True:
    n = len(df)
    df = df[df.groupby("item")["item"].transform("size") >= 5]
    df = df[df.groupby("user")["user"].transform("size") >= 5]
    if len(df) == n:
        break
df = df.sort_values(["user", "ts"], kind="stable")
pos = df.groupby("user").cumcount(ascending=False)
df = df.assign(user_id=df["user"].astype("category").cat.codes, item_id=df["item"].astype("category").cat.codes)
df[pos >= 2].to_parquet(f"{out}/train.parquet")
df[pos == 1].to_parquet(f"{out}/valid.parquet")
df[pos == 0].to_parquet(f"{out}/test.parquet")
print(len(df))
''')

POLARS = textwrap.dedent(r'''
import sys, polars as pl
src, out = sys.argv[1], sys.argv[2]
df = pl.read_csv(src, separator="\t", has_header=False, quote_char=None, truncate_ragged_lines=True,
                 encoding="utf8-lossy", new_columns=["user", "ts", "artid", "artname", "traid", "traname"],
                 schema_overrides={c: pl.String for c in ["user", "ts", "artid", "artname", "traid", "traname"]})
lf = (df.lazy()
      .with_columns(pl.col("ts").str.strptime(pl.Datetime("ms", "UTC"), "%Y-%m-%dT%H:%M:%SZ", strict=False))
      .drop_nulls(["ts", "traname"])
      .with_columns(pl.when(pl.col("traid").fill_null("") != "").then(pl.col("traid"))
                    .otherwise(pl.lit("nombid:") + pl.col("artname").fill_null("") + "\x1f" + pl.col("traname")).alias("item"))
      .select("user", "item", "ts").unique(maintain_order=True))
df = lf.collect()
while True:
    n = df.height
    df = df.filter((pl.len().over("item") >= 5)).filter(pl.len().over("user") >= 5)
    if df.height == n:
        break
df = df.sort(["user", "ts"], maintain_order=True).with_columns(
    (pl.len().over("user") - pl.int_range(pl.len()).over("user") - 1).alias("pos"))
df.filter(pl.col("pos") >= 2).write_parquet(f"{out}/train.parquet")
df.filter(pl.col("pos") == 1).write_parquet(f"{out}/valid.parquet")
df.filter(pl.col("pos") == 0).write_parquet(f"{out}/test.parquet")
print(df.height)
''')

MANIFEST = """
[dataset]
name = "bench-lastfm-1k"
version = "1"
[source]
corpus = "lastfm-1k"
path = "{raw}"
[stages.filter]
dedup = "exact"
min_user_interactions = 5
min_item_interactions = 5
[stages.split]
method = "leave_one_out"
"""


from harness import floor, measure, ratios, run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--users", type=int, default=992)
    ap.add_argument("--events-per-user", type=int, default=19305)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--out", default=str(HERE / "results.json"))
    a = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    stamp = WORK / f"synth-{a.users}-{a.events_per_user}.ok"
    if not stamp.exists():
        shutil.rmtree(RAW, ignore_errors=True)
        s, _, _ = run([a.bin, "synth", "lastfm-1k", "--users", str(a.users), "--events-per-user",
                       str(a.events_per_user), "--seed", "1", "--out", str(RAW)])
        print(f"synth: {s:.1f}s", file=sys.stderr)
        stamp.touch()
    size = EVENTS.stat().st_size
    manifest = WORK / "bench.toml"
    manifest.write_text(MANIFEST.format(raw=RAW))
    py = sys.executable
    jobs = [
        ("recdata", lambda d: [a.bin, "build", str(manifest), "--data-dir", str(d), "-q"]),
        ("polars-python", lambda d: [py, "-c", POLARS, str(EVENTS), str(d)]),
        ("pandas", lambda d: [py, "-c", PANDAS, str(EVENTS), str(d)]),
    ]
    jobs = [j for j in jobs if j[0] not in a.skip]
    res = measure(jobs, WORK, reps=a.reps)
    # The floor: read the TSV once + write recdata's published tables with zstd.
    v = WORK / "out-recdata" / "bench-lastfm-1k" / "1"
    tables = [(p.name, p) for p in [v / "interactions.parquet", v / "items.parquet", v / "users.parquet",
                                    v / "splits/train.parquet", v / "splits/valid.parquet",
                                    v / "splits/test.parquet", v / "rejects.parquet"]]
    fl = floor([EVENTS, RAW / "userid-profile.tsv"], tables, WORK)
    ratios(res, fl["floor_s"])
    results = {"input_bytes": size, "users": a.users, "events_per_user": a.events_per_user,
               "method": f"alternating A B C, 1 warm-up + {a.reps} runs each, medians", "floor": fl,
               "jobs": res}
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
