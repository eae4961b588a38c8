"""What a Cornac user does with a published version: the train and test splits as (user,
item, rating) triples into `BaseMethod.from_splits`, BPR and MostPop trained, ranking metrics
computed by Cornac's own evaluation.

Usage: cornac_train.py <version dir>. Prints one JSON line.
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")

import cornac  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from cornac.eval_methods import BaseMethod  # noqa: E402
from cornac.metrics import NDCG, Recall  # noqa: E402
from cornac.models import BPR, MostPop  # noqa: E402

version = sys.argv[1]


def triples(s):
    t = pq.read_table(f"{version}/splits/{s}.parquet")
    return [(str(u), str(i), 1.0) for u, i in zip(t.column("user_id").to_pylist(), t.column("item_id").to_pylist())]


train = triples("train") + triples("valid")
test = triples("test")
method = BaseMethod.from_splits(train_data=train, test_data=test, exclude_unknowns=True, seed=7, verbose=False)
models = [MostPop(), BPR(k=16, max_iter=20, learning_rate=0.05, seed=7)]
metrics = [Recall(k=10), NDCG(k=10)]
exp = cornac.Experiment(eval_method=method, models=models, metrics=metrics, verbose=False, save_dir=None)
exp.run()
result = exp.result
out = {
    "train_rows": len(train),
    "test_rows": len(test),
    "cornac_train_users": method.train_set.num_users,
    "cornac_train_items": method.train_set.num_items,
    "cornac_test_users": len(method.test_set.uid_map),
}
for r in result:
    out[r.model_name] = {k: float(v) for k, v in r.metric_avg_results.items()}
print(json.dumps(out))
