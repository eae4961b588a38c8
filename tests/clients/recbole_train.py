"""What a RecBole user does with `recdata export --format recbole`: the README's pipeline
(Config -> create_dataset -> data_preparation -> model -> Trainer.fit -> evaluate), for a
general model (BPR) and a sequential one (SASRec, its item embeddings initialised from the
exported pre-trained vectors), on the exported benchmark split. Then an oracle for the numbers:
a popularity scorer whose scores are known exactly, evaluated by RecBole's own full-ranking
evaluator, against an independent numpy computation of the same protocol on the published
parquet splits (RecBole's built-in Pop is not usable as the oracle: it counts an item once per
training batch however often it occurs there, see ../shared/docs/test-audit.md).

Usage: recbole_train.py <export root> <dataset name> <published version dir> <embedding name>
Prints one JSON line.
"""

import json
import logging
import sys
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.model.abstract_recommender import GeneralRecommender  # noqa: E402
from recbole.model.general_recommender import BPR  # noqa: E402
from recbole.model.sequential_recommender import SASRec  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import InputType, init_seed  # noqa: E402

root, name, version, emb = sys.argv[1:5]
COMMON = {
    "data_path": root,
    "show_progress": False,
    "save_dataset": False,
    "save_dataloaders": False,
    "checkpoint_dir": f"{root}/ckpt",
    "log_wandb": False,
    "epochs": 1,
    "seed": 2024,
    "reproducibility": True,
    "device": "cpu",
    "use_gpu": False,
    "metrics": ["Recall", "NDCG"],
    "topk": [10],
    "valid_metric": "NDCG@10",
    "train_batch_size": 256,
    "eval_batch_size": 4096,
}
out = {}


def run(model_cls, yaml, extra, init=None):
    config = Config(
        model=model_cls,
        dataset=name,
        config_file_list=[f"{root}/{name}/{yaml}"],
        config_dict={**COMMON, **extra},
    )
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = model_cls(config, train._dataset).to(config["device"])
    if init is not None:
        init(model, dataset)
    trainer = Trainer(config, model)
    best_valid, _ = trainer.fit(train, valid, saved=False, show_progress=False)
    result = trainer.evaluate(test, load_best_model=False, show_progress=False)
    return dataset, train, valid, test, dict(result), best_valid


class PopExact(GeneralRecommender):
    """Scores every item by its exact number of training interactions, ties broken by the
    smaller recdata item id; nothing to learn."""

    input_type = InputType.POINTWISE

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        items = dataset.inter_feat[self.ITEM_ID].numpy()
        counts = np.bincount(items, minlength=self.n_items).astype(np.float64)
        # RecBole's internal ids are its own; the tie-break uses the published item_id.
        tokens = dataset.field2id_token[self.ITEM_ID]
        ids = np.array([int(t) if t != "[PAD]" else 1 << 30 for t in tokens], dtype=np.float64)
        self.register_buffer("score", torch.tensor(counts - ids / (1 << 31)))
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def calculate_loss(self, interaction):
        return self.dummy.sum() * 0

    def predict(self, interaction):
        return self.score[interaction[self.ITEM_ID]]

    def full_sort_predict(self, interaction):
        n = interaction[self.USER_ID].shape[0]
        return self.score.repeat(n, 1).view(-1)


# 1. BPR, general model.
ds, train, valid, test, res, _ = run(BPR, f"{name}.yaml", {})
out["bpr"] = res
# The benchmark split RecBole uses is the published one, row for row.
tok_u = ds.field2id_token["user_id"]
tok_i = ds.field2id_token["item_id"]
rb_test = sorted(
    zip(
        [int(tok_u[u]) for u in test._dataset.inter_feat["user_id"].numpy()],
        [int(tok_i[i]) for i in test._dataset.inter_feat["item_id"].numpy()],
    )
)
t = pq.read_table(f"{version}/splits/test.parquet")
ours = sorted(zip(t.column("user_id").to_pylist(), t.column("item_id").to_pylist()))
out["test_split_equal"] = rb_test == ours
out["train_rows"] = len(train._dataset.inter_feat)

# 2. SASRec on the augmented sequential benchmark files, embeddings from the exported vectors.
dim = None


def load_vectors(model, dataset):
    global dim
    w = dataset.get_preload_weight(f"{emb}_iid")
    dim = w.shape[1]
    with torch.no_grad():
        model.item_embedding.weight.copy_(torch.from_numpy(w).float())


with open(f"{root}/{name}/{name}.itememb_{emb}") as f:
    f.readline()
    w_dim = len(f.readline().split("\t")[1].split(" "))
ds2, train2, valid2, test2, res2, _ = run(
    SASRec,
    f"{name}.sequential.yaml",
    {
        "hidden_size": w_dim,
        "inner_size": 64,
        "n_layers": 1,
        "n_heads": 2,
        "loss_type": "CE",
        "train_neg_sample_args": None,
    },
    init=load_vectors,
)
out["sasrec"] = res2
out["sasrec_embedding_dim"] = dim
out["sasrec_test_rows"] = len(test2._dataset.inter_feat)

# 3. The oracle: exact popularity through RecBole's evaluator vs numpy on the parquet.
_, _, _, _, res3, _ = run(PopExact, f"{name}.yaml", {"epochs": 0})
out["pop_recbole"] = {k: float(v) for k, v in res3.items()}

split = {s: pq.read_table(f"{version}/splits/{s}.parquet") for s in ["train", "valid", "test"]}
items = pq.read_table(f"{version}/items.parquet").column("item_id").to_numpy()
n = int(items.max()) + 1
tr_items = split["train"].column("item_id").to_numpy()
score = np.bincount(tr_items, minlength=n).astype(np.float64) - np.arange(n) / (1 << 31)
known = np.zeros(n, dtype=bool)
known[items] = True
# RecBole ranks the items it knows: those of any split or the items table.
for s in split.values():
    known[s.column("item_id").to_numpy()] = True
score[~known] = -np.inf
hist = {}
for s in ["train", "valid"]:
    for u, i in zip(split[s].column("user_id").to_pylist(), split[s].column("item_id").to_pylist()):
        hist.setdefault(u, set()).add(i)
pos = {}
for u, i in zip(split["test"].column("user_id").to_pylist(), split["test"].column("item_id").to_pylist()):
    pos.setdefault(u, set()).add(i)
rec, ndcg = [], []
for u, p in pos.items():
    s = score.copy()
    # RecBole masks the user's other known items (train and valid), never a test positive,
    # even when it was also seen in training.
    for i in hist.get(u, set()) - p:
        s[i] = -np.inf
    top = np.argsort(-s, kind="stable")[:10]
    hits = [1.0 if i in p else 0.0 for i in top]
    rec.append(sum(hits) / len(p))
    idcg = sum(1 / np.log2(k + 2) for k in range(min(len(p), 10)))
    ndcg.append(sum(h / np.log2(k + 2) for k, h in enumerate(hits)) / idcg)
out["pop_numpy"] = {"recall@10": float(np.mean(rec)), "ndcg@10": float(np.mean(ndcg))}
print(json.dumps(out))
