#!/usr/bin/env python3
"""`make bench` (FINN.no slates): recdata vs. the numpy/pyarrow script a user would write.

Builds (once, cached in bench/work/) a full-size synthetic FINN.no `data.npz` — 2,277,645 users x
20 steps x 25 slots, int32, written like `np.savez_compressed` — plus `ind2val.json` and
`itemattr.npz`, then produces the same two tables two ways:

  recdata   `recdata build` (cold: no stage cache) of a manifest without a split: exposures
            (one row per real step, slate items in display order, <UNK> as null, clicked
            position) and click interactions, plus users/items/maps, dataset card, accounting.
  numpy-polars  the same with polars for the table work (dense ids, lists, parquet).
  numpy     np.load of every array, vectorized masking and search, dense ids assigned the way
            recdata does (raw-id string order), a pyarrow ListArray, exposures.parquet +
            interactions.parquet with zstd. Less work than recdata: no users/items/map tables,
            no accounting or rejects, no stage cache, no input checksums, and the click's first
            match is taken (no click_idx tie-break for an item shown twice).

Each job runs in its own process; the tools alternate with a warm-up each, medians are reported,
and the floor is reading the inputs once plus writing recdata's tables with zstd
(bench/harness.py). Results go to bench/results-finn.json (results-finn-<users>.json for other sizes) and the FINN section
of bench/README.md.
"""
import argparse, json, os, shutil, sys, textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness import floor, measure, ratios, run  # noqa: E402
WORK = HERE / "work"

NUMPY = textwrap.dedent(r'''
import json, sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
raw, out = sys.argv[1], sys.argv[2]
d = np.load(f"{raw}/data.npz")
ind = json.load(open(f"{raw}/ind2val.json"))
user_id, click, itype = d["userId"], d["click"], d["interaction_type"]
slate = d["slate"]                                   # (U, T, S): 4.5 GB at full size
U, T, S = slate.shape
real = click != 0                                    # padding steps have click == 0
uu, tt = np.nonzero(real)                            # user-major, step order
slates = slate[real]                                 # (N, S)
del slate
c = click[real]
keep = slates > 1                                    # drop padding (0) and noClick (1)
lengths = keep.sum(axis=1)
vals = slates[keep]                                  # row-major: display order
match = keep & (slates == c[:, None])
del slates
kpos = np.cumsum(keep, axis=1, dtype=np.int8) - 1    # position among the kept items
del keep
first = match.argmax(axis=1)
found = match[np.arange(len(c)), first] & (c != 1)
del match
pos = np.where(found, kpos[np.arange(len(c)), first], 0).astype(np.uint16)
del kpos
# Dense ids as recdata assigns them: users and items in the order of their raw ids as strings.
rows = np.unique(uu)
ulut = np.zeros(U, dtype=np.uint32)
ulut[rows[np.argsort(user_id[rows].astype(str), kind="stable")]] = np.arange(len(rows), dtype=np.uint32)
clicked = c >= 3
present = np.zeros(int(max(vals.max(), c.max())) + 1, dtype=bool)
present[vals] = True
present[c[clicked]] = True
present[:3] = False
ids = np.nonzero(present)[0]
ilut = np.zeros(len(present), dtype=np.uint32)
ilut[ids[np.argsort(ids.astype(str), kind="stable")]] = np.arange(len(ids), dtype=np.uint32)
offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
np.cumsum(lengths, out=offsets[1:])
items = pa.ListArray.from_arrays(pa.array(offsets), pa.array(ilut[vals], mask=vals == 2))
del vals
codes = np.full(int(itype.max()) + 1, 2, dtype=np.int32)
for k, v in ind["interaction_type"].items():
    codes[int(k)] = {"search": 0, "rec": 1}.get(v, 2)
ctx = pa.DictionaryArray.from_arrays(pa.array(codes[itype[real]]), pa.array(["search", "rec", "other"]))
exposures = pa.table({
    "exposure_id": pa.array((uu * T + tt).astype(np.uint64)),
    "user_id": pa.array(ulut[uu]),
    "ts": pa.nulls(len(c), pa.timestamp("ms", tz="UTC")),
    "step": pa.array(tt.astype(np.uint32)),
    "context": ctx,
    "items": items,
    "clicked_position": pa.array(pos, mask=~found),
})
pq.write_table(exposures, f"{out}/exposures.parquet", compression="zstd")
del exposures, items
cu, ct, ci = ulut[uu[clicked]], tt[clicked], ilut[c[clicked]]
order = np.lexsort((ct, cu))                         # by user, then step
n = len(order)
interactions = pa.table({
    "user_id": pa.array(cu[order]),
    "item_id": pa.array(ci[order]),
    "ts": pa.nulls(n, pa.timestamp("ms", tz="UTC")),
    "event": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array(["click"])),
})
pq.write_table(interactions, f"{out}/interactions.parquet", compression="zstd")
print(len(c), n)
''')

# numpy for the tensor-shaped part (a 3-D slate array has no table form to hand polars without
# exploding 1.1 billion cells), polars for the table work: dense ids by sorted unique + join,
# list columns, parquet writing.
POLARS = textwrap.dedent(r'''
import json, sys, numpy as np, polars as pl
raw, out = sys.argv[1], sys.argv[2]
d = np.load(f"{raw}/data.npz")
ind = json.load(open(f"{raw}/ind2val.json"))
user_id, click, itype = d["userId"], d["click"], d["interaction_type"]
slate = d["slate"]
U, T, S = slate.shape
real = click != 0
uu, tt = np.nonzero(real)
slates = slate[real]
del slate
c = click[real]
keep = slates > 1
lengths = keep.sum(axis=1)
vals = slates[keep]
match = keep & (slates == c[:, None])
del slates
kpos = np.cumsum(keep, axis=1, dtype=np.int8) - 1
del keep
first = match.argmax(axis=1)
found = match[np.arange(len(c)), first] & (c != 1)
del match
pos = np.where(found, kpos[np.arange(len(c)), first], 0).astype(np.uint16)
del kpos
# Dense ids in raw-id string order, with polars.
users = (pl.DataFrame({"raw": user_id[np.unique(uu)]})
         .with_columns(pl.col("raw").cast(pl.String).alias("key")).sort("key")
         .with_row_index("user_id").select("raw", "user_id"))
clicked = c >= 3
items = (pl.concat([pl.Series("raw", vals), pl.Series("raw", c[clicked])]).unique().to_frame()
         .filter(pl.col("raw") >= 3)
         .with_columns(pl.col("raw").cast(pl.String).alias("key")).sort("key")
         .with_row_index("item_id").select("raw", "item_id"))
offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
np.cumsum(lengths, out=offsets[1:])
flat = (pl.DataFrame({"raw": vals}).join(items, on="raw", how="left", maintain_order="left")
        .select(pl.when(pl.col("raw") == 2).then(None).otherwise(pl.col("item_id")).alias("i")))
del vals
row = np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths)
lists = (flat.with_columns(pl.Series("row", row)).group_by("row", maintain_order=True)
         .agg(pl.col("i")).get_column("i"))
codes = {int(k): {"search": "search", "rec": "rec"}.get(v, "other") for k, v in ind["interaction_type"].items()}
ex = pl.DataFrame({"exposure_id": (uu * T + tt).astype(np.uint64), "raw_user": user_id[uu],
                   "step": tt.astype(np.uint32), "itype": itype[real]})
ex = (ex.join(users, left_on="raw_user", right_on="raw", how="left", maintain_order="left")
        .with_columns(pl.lit(None, pl.Datetime("ms", "UTC")).alias("ts"),
                      pl.col("itype").replace_strict(codes, default="other").cast(pl.Categorical).alias("context"),
                      lists.alias("items"),
                      pl.Series("clicked_position", pos).set(pl.Series(~found), None)))
ex.select("exposure_id", "user_id", "ts", "step", "context", "items", "clicked_position").write_parquet(
    f"{out}/exposures.parquet", compression="zstd")
del ex, flat, lists
cl = (pl.DataFrame({"raw_user": user_id[uu[clicked]], "step": tt[clicked], "raw": c[clicked]})
      .join(users, left_on="raw_user", right_on="raw", how="left", maintain_order="left")
      .join(items, on="raw", how="left", maintain_order="left")
      .sort(["user_id", "step"], maintain_order=True)
      .select("user_id", "item_id", pl.lit(None, pl.Datetime("ms", "UTC")).alias("ts"),
              pl.lit("click").cast(pl.Categorical).alias("event")))
cl.write_parquet(f"{out}/interactions.parquet", compression="zstd")
print(len(c), cl.height)
''')

MANIFEST = """
[dataset]
name = "bench-finn"
version = "1"
[source]
corpus = "finn-slates"
path = "{raw}"
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--users", type=int, default=2277645)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[])
    a = ap.parse_args()
    WORK.mkdir(exist_ok=True)
    raw = WORK / f"finn-{a.users}"
    stamp = WORK / f"finn-synth-{a.users}.ok"
    if not stamp.exists():
        shutil.rmtree(raw, ignore_errors=True)
        secs, _, _ = run([a.bin, "synth", "finn-slates", "--users", str(a.users), "--seed", "1",
                          "--out", str(raw)])
        print(f"synth: {secs:.1f}s", file=sys.stderr)
        stamp.touch()
    manifest = WORK / "bench-finn.toml"
    manifest.write_text(MANIFEST.format(raw=raw))
    data_npz = raw / "data.npz"
    jobs = [
        ("recdata", lambda d: [a.bin, "build", str(manifest), "--data-dir", str(d), "-q"]),
        ("numpy-pyarrow", lambda d: [sys.executable, "-c", NUMPY, str(raw), str(d)]),
        ("numpy-polars", lambda d: [sys.executable, "-c", POLARS, str(raw), str(d)]),
    ]
    jobs = [j for j in jobs if j[0] not in a.skip]
    work = WORK / f"finn-{a.users}-runs"
    res = measure(jobs, work, reps=a.reps)
    # Every tool produced the same tables: compare row counts from the parquet footers.
    import pyarrow.parquet as pq
    rows = {}
    for name, _ in jobs:
        sub = "bench-finn/1/" if name == "recdata" else ""
        d = work / f"out-{name}" / sub
        rows[name] = {t: pq.read_metadata(d / f"{t}.parquet").num_rows for t in ("exposures", "interactions")}
    if len({json.dumps(r, sort_keys=True) for r in rows.values()}) != 1:
        sys.exit(f"outputs differ: {rows}")
    v = work / "out-recdata" / "bench-finn" / "1"
    tables = [(t, v / t) for t in ["exposures.parquet", "interactions.parquet", "users.parquet",
                                   "items.parquet", "user_map.parquet", "item_map.parquet"]]
    fl = floor([data_npz, raw / "ind2val.json", raw / "itemattr.npz"], tables, work)
    ratios(res, fl["floor_s"])
    results = {"users": a.users, "data_npz_bytes": data_npz.stat().st_size, "cpus": os.cpu_count(),
               "method": f"alternating, 1 warm-up + {a.reps} runs each, medians", "rows": rows["recdata"],
               "floor": fl, "jobs": res}
    name = "results-finn.json" if a.users == 2277645 else f"results-finn-{a.users}.json"
    (HERE / name).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
