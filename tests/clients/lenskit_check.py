"""LensKit (lenskit on PyPI) as an outside oracle and as a client.

1. LensKit reads the raw MovieLens directory itself (`load_movielens`): its interaction, user
   and item counts are an independent check of recdata's MovieLens adapter.
2. A LensKit user trains item-kNN from the published train+valid split and recommends for the
   test users; LensKit's own NDCG/Recall measure the lists against the published test split.
3. recdata's diagnostics report MostPop under full ranking (docs/diagnostics.md: the top 10 by
   training count, ties by item id, for every test user with at least two history items, the
   first test item as target). The same lists, built here from the published split, are
   measured by LensKit's NDCG and Recall: LensKit's numbers must equal recdata's.

Usage: lenskit_check.py <raw movielens dir> <version dir>. Prints one JSON line.
"""

import json
import logging
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from lenskit.batch import recommend  # noqa: E402
from lenskit.data import ItemList, ItemListCollection, from_interactions_df, load_movielens  # noqa: E402
from lenskit.knn import ItemKNNScorer  # noqa: E402
from lenskit.metrics import NDCG, LogRankWeight, Recall, RunAnalysis  # noqa: E402
from lenskit.pipeline import topn_pipeline  # noqa: E402

raw, version = sys.argv[1:3]
out = {}

ml = load_movielens(raw)
out["movielens"] = {
    "interactions": int(ml.interaction_count),
    "users": int(ml.user_count),
    "items": int(ml.item_count),
}

split = {s: pq.read_table(f"{version}/splits/{s}.parquet").to_pandas() for s in ["train", "valid", "test"]}
hist = pd.concat([split["train"], split["valid"]])[["user_id", "item_id"]]
data = from_interactions_df(hist, user_col="user_id", item_col="item_id")
pipe = topn_pipeline(ItemKNNScorer(k=20, feedback="implicit"))
pipe.train(data)
test = split["test"]
users = sorted(test["user_id"].unique().tolist())
recs = recommend(pipe, users, n=10, n_jobs=1)
truth = ItemListCollection.from_df(test[["user_id", "item_id"]], "user_id")
ra = RunAnalysis()
ra.add_metric(NDCG(n=10))
ra.add_metric(Recall(n=10))
summary = ra.measure(recs, truth).list_summary()
out["itemknn"] = {k: float(summary.loc[k, "mean"]) for k in summary.index}
seen = hist.groupby("user_id")["item_id"].apply(set).to_dict()
out["itemknn_lists"] = len(recs)
out["itemknn_recommends_seen"] = sum(
    len(set(map(int, il.ids())) & seen.get(k[0], set())) for k, il in recs
)

# 3. recdata's MostPop lists, measured by LensKit.
counts = split["train"]["item_id"].value_counts()
order = sorted(counts.index.tolist(), key=lambda i: (-int(counts[i]), int(i)))
top = order[:10]
if len(top) < 10:
    items = pq.read_table(f"{version}/items.parquet").column("item_id").to_pylist()
    top += [i for i in sorted(items) if i not in set(top)][: 10 - len(top)]
lists, tests = {}, {}
for u, g in test.groupby("user_id", sort=True):
    n_hist = int((split["train"]["user_id"] == u).sum() + (split["valid"]["user_id"] == u).sum())
    if n_hist < 2:
        continue
    lists[u] = ItemList(top, ordered=True)
    tests[u] = ItemList([int(g["item_id"].iloc[0])])
ra = RunAnalysis()
# recdata (like RecBole) discounts rank r by log2(r + 1): LensKit's `offset=1`. (LensKit's
# default clips ranks below 2, so ranks 1 and 2 weigh the same.)
ra.add_metric(NDCG(n=10, weight=LogRankWeight(offset=1)))
ra.add_metric(Recall(n=10))
s = ra.measure(ItemListCollection.from_dict(lists, "user_id"), ItemListCollection.from_dict(tests, "user_id")).list_summary()
out["mostpop_lenskit"] = {k: float(s.loc[k, "mean"]) for k in s.index}
out["mostpop_users"] = len(lists)
print(json.dumps(out, default=str))
