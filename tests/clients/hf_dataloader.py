"""What a PyTorch user does with a published version: Hugging Face `datasets` builds a
DatasetDict from the split files, adds each item's title vector, and a torch DataLoader
iterates the training batches. Every value that comes out is compared with pyarrow's reading
of the same files.

Usage: hf_dataloader.py <version dir> <embedding name>. Prints one JSON line.
"""

import json
import logging
import sys

logging.disable(logging.WARNING)

import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from datasets import DatasetDict, load_dataset  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

version, emb = sys.argv[1:3]
files = {s: f"{version}/splits/{s}.parquet" for s in ["train", "valid", "test"]}
dd = load_dataset("parquet", data_files=files)
assert isinstance(dd, DatasetDict), type(dd)
out = {"rows": {s: dd[s].num_rows for s in dd}}

# Item vectors joined on item_id, the way a training script adds features.
e = pq.read_table(f"{version}/embeddings/{emb}.parquet")
vec = {i: v for i, v in zip(e.column("item_id").to_pylist(), e.column("embedding").to_pylist())}
dim = len(next(iter(vec.values())))
zero = [0.0] * dim


def add_vector(batch):
    batch["vector"] = [vec.get(i, zero) for i in batch["item_id"]]
    return batch


train = dd["train"].map(add_vector, batched=True).with_format(
    "torch", columns=["user_id", "item_id", "vector"]
)
loader = DataLoader(train, batch_size=7, shuffle=False, num_workers=0)
users, items, vectors = [], [], []
for b in loader:
    assert b["vector"].dtype == torch.float32 and b["vector"].shape[1] == dim, b["vector"].shape
    users.append(b["user_id"])
    items.append(b["item_id"])
    vectors.append(b["vector"])
users, items, vectors = torch.cat(users), torch.cat(items), torch.cat(vectors)

t = pq.read_table(files["train"])
want_items = np.array(t.column("item_id").to_pylist())
out["batches_equal_parquet"] = bool(
    np.array_equal(users.numpy(), np.array(t.column("user_id").to_pylist()))
    and np.array_equal(items.numpy(), want_items)
)
want_vec = np.array([vec.get(int(i), zero) for i in want_items], dtype=np.float32)
out["vectors_equal_parquet"] = bool(np.array_equal(vectors.numpy(), want_vec))
out["with_vector"] = int(sum(int(i) in vec for i in want_items))
# A shuffled loader sees every row exactly once too.
seen = torch.cat([b["item_id"] for b in DataLoader(train, batch_size=16, shuffle=True)])
out["shuffled_multiset_equal"] = sorted(seen.tolist()) == sorted(want_items.tolist())
print(json.dumps(out))
