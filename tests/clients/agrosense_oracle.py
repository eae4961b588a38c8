"""Outside oracle for the AgroSense media audit and sample baselines (tests/it/agrosense_audit.rs).

    python agrosense_oracle.py <published version dir> <source data dir> <near threshold>

Everything is recomputed from the published parquet with the tools a user would reach for:
imagehash.phash on the original files (PIL), brute-force pairwise Hamming distances with
numpy and a plain union-find for the duplicate groups, pandas for the lookups, and scikit-learn's
StandardScaler + NearestCentroid for the centroid baseline. Prints one JSON object.
"""
import json
import sys
from collections import Counter

import imagehash
import numpy as np
import pandas as pd
from PIL import Image
from sklearn.neighbors import NearestCentroid
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ver, root, t = sys.argv[1], sys.argv[2], int(sys.argv[3])
imgs = pd.read_parquet(f"{ver}/soil_images.parquet").rename(columns={"split": "folder"})
split = pd.read_parquet(f"{ver}/splits/images.parquet")[["image_id", "split"]]
imgs = imgs.merge(split, on="image_id", how="left")

# imagehash on the files
ih = [int(str(imagehash.phash(Image.open(f"{root}/{p}"))), 16) for p in imgs["path"]]
ours = imgs["phash"].astype("uint64").tolist()
phash_bits = [bin(a ^ int(b)).count("1") for a, b in zip(ih, ours)]

# groups: union-find over identical sha256 or imagehash distance <= t (brute force)
n = len(imgs)
parent = list(range(n))
def find(x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x
def union(a, b):
    ra, rb = find(a), find(b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)
h = np.array(ih, dtype=np.uint64)
x = h[:, None] ^ h[None, :]
dist = np.array([[bin(int(v)).count("1") for v in row] for row in x])
sha = imgs["sha256"].tolist()
for i in range(n):
    for j in range(i + 1, n):
        if sha[i] == sha[j] or dist[i, j] <= t:
            union(i, j)
groups = {}
for i in range(n):
    groups.setdefault(find(i), []).append(imgs["path"][i])
groups = sorted(sorted(g) for g in groups.values() if len(g) > 1)

# test images with a copy in train
train = imgs[imgs.split == "train"]
test = imgs[imgs.split == "test"]
train_sha = {}
for s, c in zip(train.sha256, train.soil_class):
    train_sha.setdefault(s, []).append(c)
root_of = {imgs["image_id"][i]: find(i) for i in range(n)}
index_of = {imgs["image_id"][i]: i for i in range(n)}
train_by_root = {}
for iid, c in zip(train.image_id, train.soil_class):
    train_by_root.setdefault(root_of[iid], []).append(c)
def vote(cs):
    cnt = Counter(cs)
    best = max(cnt.values())
    return min(c for c in cnt if cnt[c] == best)
exact = near = exact_hits = any_hits = 0
for iid, s, c in zip(test.image_id, test.sha256, test.soil_class):
    if s in train_sha:
        exact += 1
        ok = vote(train_sha[s]) == c
        exact_hits += ok
        any_hits += ok
    else:
        # near: within t bits of a train image itself (brute force over all train images)
        i = index_of[iid]
        close = [tc for tj, tc in zip(train.index, train.soil_class) if dist[i, tj] <= t]
        if close:
            near += 1
            any_hits += vote(close) == c

# sample baselines
sp = pd.read_parquet(f"{ver}/splits/samples.parquet")
samples = pd.read_parquet(f"{ver}/samples.parquet").merge(sp, on="sample_id")
tr, te = samples[samples.split == "train"], samples[samples.split == "test"]
cnt = Counter(tr.item_id)
best = max(cnt.values())
maj = min(k for k in cnt if cnt[k] == best)
F = ["n", "p", "k", "temperature", "humidity", "ph", "rainfall"]
trf, tef = tr.dropna(subset=F), te.dropna(subset=F)
clf = make_pipeline(StandardScaler(), NearestCentroid()).fit(trf[F].to_numpy(float), trf.item_id)
centroid = float((clf.predict(tef[F].to_numpy(float)) == tef.item_id.to_numpy()).mean())

# k-NN on the image embeddings (an encoder over soil_images), as a user would with sklearn
import os
knn = None
if os.path.exists(f"{ver}/embeddings/soil.parquet"):
    from sklearn.neighbors import KNeighborsClassifier
    e = pd.read_parquet(f"{ver}/embeddings/soil.parquet")
    e = imgs[["image_id", "soil_class", "split"]].merge(e, on="image_id")
    etr, ete = e[e.split == "train"], e[e.split == "test"]
    X = lambda d: np.stack(d.embedding.to_numpy()).astype(np.float64)
    clf = KNeighborsClassifier(n_neighbors=5, metric="cosine", algorithm="brute").fit(X(etr), etr.soil_class)
    knn = float((clf.predict(X(ete)) == ete.soil_class.to_numpy()).sum() / len(test))

# class proportions of the stratified split
per = samples.groupby(["item_id", "split"]).size().unstack(fill_value=0)
print(json.dumps({
    "phash_bits": phash_bits,
    "groups": groups,
    "test_images": len(test),
    "exact": exact, "near": near,
    "exact_lookup_accuracy": exact_hits / len(test) if len(test) else None,
    "near_lookup_accuracy": any_hits / len(test) if len(test) else None,
    "majority_item_id": int(maj),
    "majority_accuracy": float((te.item_id == maj).mean()),
    "centroid_accuracy": centroid,
    "centroid_test_samples": len(tef),
    "knn_accuracy": knn,
    "per_label": {str(k): {s: int(per.loc[k].get(s, 0)) for s in ["train", "valid", "test"]} for k in per.index},
}))
