"""The joins users write against a published version, in DuckDB and in polars, compared value
for value with each other and with a plain-Python join over pyarrow's reading of the files:
test interactions with their item's title, vector and semantic id; per-split counts per user.

Usage: joins.py <version dir> <embedding name>. Prints one JSON line.
"""

import json
import sys

import duckdb
import polars as pl
import pyarrow.parquet as pq

version, emb = sys.argv[1:3]
p = lambda f: f"{version}/{f}"  # noqa: E731

# 1. test rows + item title + vector + semantic code, in a fixed order.
q = f"""
SELECT s.user_id, s.item_id, i.title, e.embedding, c.codes
FROM '{p("splits/test.parquet")}' s
JOIN '{p("items.parquet")}' i USING (item_id)
LEFT JOIN '{p(f"embeddings/{emb}.parquet")}' e USING (item_id)
LEFT JOIN '{p("semantic_ids.parquet")}' c USING (item_id)
ORDER BY s.user_id, s.item_id
"""
duck = duckdb.execute(q).fetchall()
sid = pl.read_parquet(p("semantic_ids.parquet"))
codes_col = "codes" if "codes" in sid.columns else [c for c in sid.columns if c != "item_id"][0]
polars = (
    pl.read_parquet(p("splits/test.parquet"))
    .select("user_id", "item_id")
    .join(pl.read_parquet(p("items.parquet")).select("item_id", "title"), on="item_id")
    .join(pl.read_parquet(p(f"embeddings/{emb}.parquet")).select("item_id", "embedding"), on="item_id", how="left")
    .join(sid.select("item_id", pl.col(codes_col).alias("codes")), on="item_id", how="left")
    .sort("user_id", "item_id")
    .rows()
)


def plain():
    items = pq.read_table(p("items.parquet")).to_pylist()
    title = {r["item_id"]: r["title"] for r in items}
    vec = {r["item_id"]: r["embedding"] for r in pq.read_table(p(f"embeddings/{emb}.parquet")).to_pylist()}
    code = {r["item_id"]: r[codes_col] for r in pq.read_table(p("semantic_ids.parquet")).to_pylist()}
    rows = [
        (r["user_id"], r["item_id"], title[r["item_id"]], vec.get(r["item_id"]), code.get(r["item_id"]))
        for r in pq.read_table(p("splits/test.parquet")).to_pylist()
    ]
    return sorted(rows, key=lambda r: (r[0], r[1]))


def norm(rows):
    return [
        (u, i, t, None if v is None else [float(x) for x in v], None if c is None else [int(x) for x in c])
        for u, i, t, v, c in rows
    ]


ref = norm(plain())
out = {
    "rows": len(ref),
    "duckdb_equal": norm(duck) == ref,
    "polars_equal": norm(polars) == ref,
    "with_vector": sum(r[3] is not None for r in ref),
    "with_code": sum(r[4] is not None for r in ref),
}

# 2. per-user counts by split, both engines against pyarrow.
dq = duckdb.execute(
    f"SELECT user_id, count(*) FILTER (WHERE split = 'train'), count(*) FILTER (WHERE split = 'test') "
    f"FROM read_parquet('{p('splits/*.parquet')}', filename = true) "
    f", LATERAL (SELECT regexp_extract(filename, '([a-z]+)\\.parquet$', 1) AS split) GROUP BY user_id ORDER BY user_id"
).fetchall()
pc = (
    pl.concat(
        [pl.read_parquet(p(f"splits/{s}.parquet")).select("user_id").with_columns(pl.lit(s).alias("split")) for s in ["train", "valid", "test"]]
    )
    .group_by("user_id")
    .agg((pl.col("split") == "train").sum().alias("train"), (pl.col("split") == "test").sum().alias("test"))
    .sort("user_id")
    .rows()
)
counts = {}
for s in ["train", "test"]:
    for u in pq.read_table(p(f"splits/{s}.parquet")).column("user_id").to_pylist():
        counts.setdefault(u, {"train": 0, "test": 0})[s] += 1
ref2 = sorted((u, c["train"], c["test"]) for u, c in counts.items())
out["counts_duckdb_equal"] = [tuple(r) for r in dq] == ref2
out["counts_polars_equal"] = [tuple(r) for r in pc] == ref2
print(json.dumps(out))
