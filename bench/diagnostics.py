#!/usr/bin/env python3
"""Dataset diagnostics (docs/diagnostics.md) in plain numpy/pandas/pyarrow: the tests' reference
for `recdata diagnose` and the benchmark's Python side.

    python bench/diagnostics.py reference <dataset_dir> --out ref.json [--embedding NAME | --no-embedding] [--tgh JSON]
    python bench/diagnostics.py generate <dir> --users 1000000 --items 100000 --interactions 20000000 --seed 0
    python bench/diagnostics.py time <dataset_dir> [--max-users N] [--embedding NAME] [--all]
    python bench/diagnostics.py selftest

`reference` writes the numbers the Rust implementation is compared with (see `reference_json`
for the keys); `--tgh` takes the heuristic's parameters as a JSON object with the keys of
diagnostics.json's `protocol.tgh` (missing keys: the defaults of `Params`). `generate` writes a synthetic dataset in the published layout (splits/*.parquet,
items.parquet, embeddings/text.parquet, dataset.json), streamed in chunks of users. `time` runs
stats + TGH-2 + MostPop/Markov/Item-kNN/Embedding-NN + D1 (`--all`: everything `reference`
computes) and prints wall time and peak RSS as JSON; `--max-users N` evaluates a seeded subset of
the test users (stats and graph still on the full data) and extrapolates the per-user phases.

Choices the docs leave open are fixed here and marked "DEFINITION" (the Rust side does the same):

* Cosine: rows are normalised as float32(x / sqrt(sum(float64(x)^2))) (zero rows stay zero);
  cos(a, b) = float32(sum over k of float64(a_k) * float64(b_k)), i.e. the products are exact and
  accumulated in float64, then rounded once to float32. That makes the float32 value independent
  of the summation order (BLAS vs a Rust loop), so exact ties and orderings agree across languages
  (barring a double-rounding case, probability ~1e-8 per dot product). TGH scores are
  float64(cos) + 0.5 * EW with EW in float64.
* Item-kNN sim(i, j) = c / sqrt(float64(|U_i| * |U_j|)) with the product taken in integers.
* TGH padding: every padding call (TGH-1 to total_k; TGH-2 source 2 to sum(src2 hops), final to
  total_k) starts a fresh Rng(seed + user_id), as tgh.py re-creates random.Random(seed + uid)
  per call. When the pool has
  fewer candidates than the deficit, all of them are drawn and the list stays short. (tgh.py pads
  source 3 to 4 itself; with a fresh generator, the same candidates and the same deficit that is
  the same draw as the final padding here.)
* Every ranker's metrics come from its exact top 10 (all metrics are @K <= 10): the ranking is
  over the full item universe, only the positions past 10 are never materialised.
* Merge of train and valid rows into the history: two-pointer merge that takes the valid row
  first only when both timestamps are non-null and valid.ts < train.ts.
* Percentiles: median = middle value or mean of the two middle values; p90 over the sorted values
  x[0..n) is x[lo] + (h - lo) * (x[lo+1] - x[lo]) with h = 0.9 * (n - 1), lo = floor(h).
* top-p share: the k = ceil(p * n_items) items with the most interactions (zeros included).
* C_inf: the target lies in no ring at any depth (so target == src without a self-loop counts as
  unreachable: rings never contain the source again).
* Shuffle test: 2-gram rule a->b when count(a,b) >= 5 and 10 * count(a,b) >= (pairs starting
  with a); 3-gram rule (a,b)->c when count(a,b,c) >= 5 and 10 * count(a,b,c) >= (consecutive
  triples starting with (a,b)). Each user's training sequence is shuffled by Fisher-Yates
  (i from len-1 down to 1, j = below(i + 1)) with Rng(splitmix64(seed ^ user_id)), exactly as
  Rust does, so all four counts are comparable.
* D3 order-sufficiency curve: test users sampled as the last_n_sample smallest
  (splitmix64(seed ^ user_id), user_id) (all when there are fewer); for each last_n entry n (0:
  the whole history), TGH-1 around src with the cosine anchor = float32(s / |s|), s = the float64
  sum of the last n normalised history rows (zero when s = 0); the edge bonus, rings, id
  tie-break and padding are TGH-1's. Not computed without embeddings.
"""
import argparse
import os
import sys
import json
import math
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

KS = (1, 5, 10)


class Params:
    """The heuristic's parameters (diagnostics.json `protocol.tgh`; defaults as tgh.py)."""

    def __init__(self, alpha=0.5, total_k=10, tgh1_hops=(7, 2, 1), tgh2_src2_hops=(5, 1),
                 tgh2_src3_hops=(3, 1), seed=42, last_n=(3, 5, 0), last_n_sample=10_000, **_):
        self.alpha = float(alpha)
        self.total_k = int(total_k)
        self.h1 = tuple(int(x) for x in tgh1_hops)
        self.s2 = tuple(int(x) for x in tgh2_src2_hops)
        self.s3 = tuple(int(x) for x in tgh2_src3_hops)
        self.seed = int(seed)
        self.last_n = tuple(0 if x == "all" else int(x) for x in last_n)
        self.last_n_sample = int(last_n_sample)
        self.b2, self.b3 = sum(self.s2), sum(self.s3)
        self.ring_top = max(self.total_k, self.b2 + self.b3)


DEFAULT = Params()
M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
SPLITS = ("train", "valid", "test")


# ───────────────────────── deterministic generators ─────────────────────────

def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    """xoshiro256** seeded by four SplitMix64 outputs (src/util/rng.rs)."""

    def __init__(self, seed):
        sm = seed & M64
        s = []
        for _ in range(4):
            sm = (sm + GOLDEN) & M64
            z = sm
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            s.append(z ^ (z >> 31))
        self.s = s

    def next_u64(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & M64, 7) * 9) & M64
        t = (s1 << 17) & M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def below(self, n):
        return (self.next_u64() * n) >> 64


def splitmix64(z):
    """splitmix64 of a uint64 array (the `hash` tie-break key is splitmix64(42 ^ item_id))."""
    z = np.asarray(z, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


# ───────────────────────────── small helpers ─────────────────────────────

def gather(indptr, indices, rows):
    """Concatenation of the CSR rows `rows`."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    tot = int(lens.sum())
    if tot == 0:
        return indices[:0]
    offs = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(tot)
    return indices[offs]


def dist(x):
    """mean / median / p90 / max of an integer array (DEFINITION in the module docstring)."""
    n = len(x)
    if n == 0:
        return {"mean": None, "median": None, "p90": None, "max": None}
    x = np.sort(np.asarray(x, dtype=np.int64))
    med = float(x[n // 2]) if n % 2 else (float(x[n // 2 - 1]) + float(x[n // 2])) / 2.0
    h = 0.9 * (n - 1)
    lo = int(math.floor(h))
    p90 = float(x[lo]) if lo + 1 >= n else float(x[lo]) + (h - lo) * (float(x[lo + 1]) - float(x[lo]))
    return {"mean": int(x.sum()) / n, "median": med, "p90": p90, "max": int(x[-1])}


def metrics_from_ranks(rank):
    """rank: 1-based position of the target in the top 10, 0 when absent."""
    out = {}
    n = len(rank)
    for k in KS:
        hit = (rank >= 1) & (rank <= k)
        out[f"recall@{k}"] = float(hit.sum() / n) if n else None
    for k in KS:
        hit = (rank >= 1) & (rank <= k)
        g = np.where(hit, 1.0 / np.log2(np.maximum(rank, 1) + 1.0), 0.0)
        out[f"ndcg@{k}"] = float(g.sum() / n) if n else None
    return out


def ranks_in_lists(lists, row_of_user, target):
    """lists: (n_keys, 10) int64 padded with -1; returns the 1-based rank of target (0: absent)."""
    if len(target) == 0:
        return np.zeros(0, dtype=np.int64)
    eq = lists[row_of_user] == target[:, None]
    return np.where(eq.any(1), eq.argmax(1) + 1, 0)


def fill_by_pop(head, mp_order, exclude, k=10):
    """head (already ordered) then the most popular items not in `exclude`, up to k."""
    head = np.asarray(head[:k], dtype=np.int64)
    if len(head) >= k:
        return head
    need = k - len(head)
    cand = mp_order[: need + len(exclude)]
    cand = cand[~np.isin(cand, exclude)]
    return np.concatenate([head, cand[:need]])


def pad_lists(rows, k=10):
    out = np.full((len(rows), k), -1, dtype=np.int64)
    for r, row in enumerate(rows):
        out[r, : len(row)] = row[:k]
    return out


# ─────────────────────────────── loading ───────────────────────────────

def read_split(path):
    t = pq.read_table(path, columns=["user_id", "item_id", "ts"])
    user = t.column("user_id").to_numpy().astype(np.int64)
    item = t.column("item_id").to_numpy().astype(np.int64)
    ts_col = t.column("ts").cast(pa.int64())
    null = ts_col.is_null().to_numpy(zero_copy_only=False)
    ts = ts_col.fill_null(0).to_numpy().astype(np.int64)
    return {"user": user, "item": item, "ts": ts, "null": np.asarray(null, dtype=bool)}


def load_embeddings(path, n_items):
    """Rows L2-normalised (DEFINITION: float64 norm, one rounding to float32); missing items zero.
    Returns the normalised float32 rows widened to float64 (exact) for the dot products."""
    t = pq.read_table(path, columns=["item_id", "embedding"])
    col = t.column("embedding").combine_chunks()
    d = col.type.list_size
    vals = col.values.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, d)
    ids = t.column("item_id").to_numpy().astype(np.int64)
    keep = ids < n_items
    x = np.zeros((n_items, d), dtype=np.float64)
    x[ids[keep]] = vals[keep]
    norm = np.sqrt((x * x).sum(1))
    ok = norm > 0
    e32 = np.zeros((n_items, d), dtype=np.float32)
    e32[ok] = (x[ok] / norm[ok, None]).astype(np.float32)
    return e32.astype(np.float64)


def load_dataset(d, embedding=None, use_embedding=True):
    d = Path(d)
    ds = {s: read_split(d / "splits" / f"{s}.parquet") for s in SPLITS}
    items = pq.read_table(d / "items.parquet", columns=["item_id"]).column("item_id").to_numpy()
    ds["n_items"] = int(items.max()) + 1 if len(items) else 0
    ds["embedding"] = None
    ds["emb"] = None
    if use_embedding:
        edir = d / "embeddings"
        if embedding is None and edir.is_dir():
            files = sorted(p.name for p in edir.glob("*.parquet"))
            embedding = files[0][: -len(".parquet")] if files else None
        if embedding is not None:
            ds["embedding"] = embedding
            ds["emb"] = load_embeddings(edir / f"{embedding}.parquet", ds["n_items"])
    return ds


def cos_rows(emb, anchor, rows, vec=None):
    """float64(float32 cosine) of item `anchor` (or the vector `vec`) vs rows (DEFINITION in the
    module docstring)."""
    if emb is None:
        return np.zeros(len(rows))
    a = emb[anchor] if vec is None else vec
    # (the float64 sum is rounded to float32 once, so the value does not depend on how the
    # product is evaluated: emb[rows] @ a and (emb @ a)[rows] agree)
    return (emb[rows] @ a).astype(np.float32).astype(np.float64)


# ─────────────────────────────── statistics ───────────────────────────────

def split_stats(user, item, ts, null, n_items):
    r = len(user)
    if r == 0:
        return {"users": 0, "items": 0, "interactions": 0, "density": None, "gini": None,
                "top1_share": None, "top20_share": None, "user_degree": dist([]),
                "item_degree": dist([]), "repeat_ratio": None, "ts_min": None, "ts_max": None}
    udeg = np.bincount(user)
    udeg = udeg[udeg > 0]
    pop = np.bincount(item, minlength=n_items)
    ideg = pop[pop > 0]
    u, i = len(udeg), len(ideg)
    x = np.sort(pop)
    w = 2 * np.arange(1, n_items + 1, dtype=np.int64) - n_items - 1
    gini = int(np.dot(w, x)) / (n_items * r)
    desc = x[::-1]
    k1 = (n_items + 99) // 100          # ceil(0.01 * n_items)
    k20 = (n_items + 4) // 5            # ceil(0.20 * n_items)
    key = np.sort(user * n_items + item)
    pairs = 1 + int((key[1:] != key[:-1]).sum())
    tsv = ts[~null]
    return {
        "users": u, "items": i, "interactions": r,
        "density": r / (u * n_items),
        "gini": gini,
        "top1_share": int(desc[:k1].sum()) / r,
        "top20_share": int(desc[:k20].sum()) / r,
        "user_degree": dist(udeg), "item_degree": dist(ideg),
        "repeat_ratio": (r - pairs) / r,
        "ts_min": int(tsv.min()) if len(tsv) else None,
        "ts_max": int(tsv.max()) if len(tsv) else None,
    }


def all_stats(ds):
    n = ds["n_items"]
    out = {}
    cat = {k: np.concatenate([ds[s][k] for s in SPLITS]) for k in ("user", "item", "ts", "null")}
    out["all"] = split_stats(cat["user"], cat["item"], cat["ts"], cat["null"], n)
    del cat
    for s in SPLITS:
        out[s] = split_stats(ds[s]["user"], ds[s]["item"], ds[s]["ts"], ds[s]["null"], n)
    tr = ds["train"]
    tr_users = np.unique(tr["user"])
    tr_items = np.bincount(tr["item"], minlength=n) > 0
    cold = {}
    for s in ("valid", "test"):
        x = ds[s]
        if len(x["user"]) == 0:
            cold[s] = {"users": None, "items": None, "rows": None}
            continue
        users = np.unique(x["user"])
        items = np.unique(x["item"])
        cold[s] = {
            "users": float((~np.isin(users, tr_users)).sum() / len(users)),
            "items": float((~tr_items[items]).sum() / len(items)),
            "rows": float((~tr_items[x["item"]]).sum() / len(x["item"])),
        }
    out["cold_start"] = cold
    return out


# ─────────────────────────── graph and queries ───────────────────────────

class Graph:
    """Transition graph of the training sequences (B2.2): CSR by source, successors ascending."""

    def __init__(self, user, item, n):
        same = user[1:] == user[:-1]
        a = item[:-1][same]
        b = item[1:][same]
        self.n = n
        self.n_pairs = len(a)
        key, cnt = np.unique(a * n + b, return_counts=True)
        self.src = key // n
        self.dst = key % n
        self.cnt = cnt
        self.key = key
        self.edges = len(key)
        self.deg = np.bincount(self.src, minlength=n)
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(self.deg, out=self.indptr[1:])
        self.indeg = np.bincount(self.dst, minlength=n)
        lg = np.log1p(cnt.astype(np.float64))
        rowmax = np.zeros(n)
        if self.edges:
            starts = self.indptr[:-1][self.deg > 0]
            rowmax[self.deg > 0] = np.maximum.reduceat(lg, starts)
        rowmax[rowmax == 0] = 1.0
        self.ew = lg / rowmax[self.src]
        self.pool = np.flatnonzero((self.deg > 0) | (self.indeg > 0))   # ascending

    def succ(self, s):
        return self.dst[self.indptr[s]:self.indptr[s + 1]]


def rules2(src, cnt, n):
    """2-gram rules of a graph's (src, count) edge arrays."""
    total = np.bincount(src, weights=cnt, minlength=n)
    return int(((cnt >= 5) & (10 * cnt >= total[src])).sum())


def rules3(user, item, n):
    """3-gram rules (a,b)->c over consecutive triples of each user's rows (sorted by user)."""
    if len(user) < 3:
        return 0
    same = user[2:] == user[:-2]
    ab = item[:-2][same] * n + item[1:-1][same]
    c = item[2:][same]
    if len(c) == 0:
        return 0
    o = np.lexsort((c, ab))
    ab, c = ab[o], c[o]
    new = np.ones(len(c), dtype=bool)
    new[1:] = (ab[1:] != ab[:-1]) | (c[1:] != c[:-1])
    start = np.flatnonzero(new)
    cnt = np.diff(np.append(start, len(c)))
    g_ab = ab[start]
    keys, first = np.unique(ab, return_index=True)
    totals = np.diff(np.append(first, len(ab)))
    total_of = totals[np.searchsorted(keys, g_ab)]
    return int(((cnt >= 5) & (10 * cnt >= total_of)).sum())


def shuffled_items(user, item, seed):
    """Each user's rows shuffled by Fisher-Yates with Rng(splitmix64(seed ^ user)) (rows sorted
    by user)."""
    out = item.copy()
    if len(user) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
    ends = np.r_[starts[1:], len(user)]
    keys = splitmix64(np.uint64(seed) ^ user[starts].astype(np.uint64))
    for st, en, k in zip(starts, ends, keys):
        if en - st < 2:
            continue
        seg = out[st:en].tolist()
        rng = Rng(int(k))
        for i in range(len(seg) - 1, 0, -1):
            j = rng.below(i + 1)
            seg[i], seg[j] = seg[j], seg[i]
        out[st:en] = seg
    return out


def shuffle_rules(user, item, n, graph, seed):
    """2-gram and 3-gram rules (support >= 5, confidence >= 0.1) on the training sequences vs
    the same sequences shuffled per user."""
    def change(o, s):
        return (s / o - 1.0) if o else None

    o2 = rules2(graph.src, graph.cnt, n)
    o3 = rules3(user, item, n)
    it = shuffled_items(user, item, seed)
    same = user[1:] == user[:-1]
    key, cnt = np.unique(it[:-1][same] * n + it[1:][same], return_counts=True)
    s2 = rules2(key // n, cnt, n)
    s3 = rules3(user, it, n)
    return {"rules_2gram": {"original": o2, "shuffled": s2, "change": change(o2, s2)},
            "rules_3gram": {"original": o3, "shuffled": s3, "change": change(o3, s3)}}


def build_queries(ds):
    """Test users, their target, src = history[-1], src3 = history[-2] (history = train ⊕ valid)."""
    tr, va, te = ds["train"], ds["valid"], ds["test"]
    nu = int(max([x["user"].max() + 1 if len(x["user"]) else 0 for x in (tr, va, te)]))
    ntr = np.bincount(tr["user"], minlength=nu)
    nva = np.bincount(va["user"], minlength=nu)
    user = np.concatenate([tr["user"], va["user"]])
    item = np.concatenate([tr["item"], va["item"]])
    ts = np.concatenate([tr["ts"], va["ts"]])
    null = np.concatenate([tr["null"], va["null"]])
    flag = np.concatenate([np.zeros(len(tr["user"]), np.int8), np.ones(len(va["user"]), np.int8)])
    pos = np.arange(len(user))
    nnull_tr = np.bincount(tr["user"][tr["null"]], minlength=nu)
    nnull_va = np.bincount(va["user"][va["null"]], minlength=nu)
    # users whose train or valid side is entirely null (or empty): the merge is train then valid
    concat = (nnull_tr == ntr) | (nnull_va == nva)
    mixed = ~concat & ((nnull_tr > 0) | (nnull_va > 0))
    key = np.where(concat[user], 0, ts)
    if mixed.any():
        # DEFINITION: two-pointer merge; valid first only when both ts non-null and v < t
        off = np.zeros(nu + 1, dtype=np.int64)
        np.cumsum(ntr, out=off[1:])
        voff = np.zeros(nu + 1, dtype=np.int64)
        np.cumsum(nva, out=voff[1:])
        ntrain = len(tr["user"])
        for u in np.flatnonzero(mixed):
            ti = list(range(off[u], off[u + 1]))
            vi = list(range(ntrain + voff[u], ntrain + voff[u + 1]))
            i = j = r = 0
            while i < len(ti) or j < len(vi):
                if j < len(vi) and (i == len(ti) or (not null[vi[j]] and not null[ti[i]]
                                                      and ts[vi[j]] < ts[ti[i]])):
                    key[vi[j]] = r
                    flag[vi[j]] = 0
                    j += 1
                else:
                    key[ti[i]] = r
                    i += 1
                r += 1
    order = np.lexsort((pos, flag, key, user))
    h_item = item[order]
    hlen = ntr + nva
    end = np.cumsum(hlen)
    # test users: a test row and |history| >= 2
    tu, first = np.unique(te["user"], return_index=True)
    ok = hlen[tu] >= 2
    users = tu[ok]
    return {
        "users": users,
        "target": te["item"][first[ok]],
        "src": h_item[end[users] - 1],
        "src3": h_item[end[users] - 2],
        "skipped": int((~ok).sum()),
        "h_item": h_item,     # every user's history, concatenated
        "h_end": end,         # user u's history is h_item[h_end[u] - hlen[u]:h_end[u]]
        "hlen": hlen,
    }


# ─────────────────────────────── baselines ───────────────────────────────

def rank_mostpop(mp_rank, target):
    r = mp_rank[target] + 1
    return np.where(r <= 10, r, 0)


def rank_markov(g, pop, mp_rank, src, target):
    """Exact full rank: ring_1(src) by (count desc, pop desc, id asc), then the rest by popularity."""
    n = g.n
    perm = np.lexsort((g.dst, -pop[g.dst], -g.cnt, g.src))
    pos_in_src = np.empty(g.edges, dtype=np.int64)
    pos_in_src[perm] = np.arange(g.edges) - g.indptr[g.src[perm]]
    qk = src * n + target
    if g.edges:
        e = np.minimum(np.searchsorted(g.key, qk), g.edges - 1)
        is_edge = g.key[e] == qk
        in_ring = pos_in_src[e] + 1
    else:
        is_edge = np.zeros(len(src), dtype=bool)
        in_ring = np.zeros(len(src), dtype=np.int64)
    # outside ring 1: after the |ring_1| successors, by popularity among the non-successors
    k2 = np.sort(g.src * n + mp_rank[g.dst])
    before = np.searchsorted(k2, src * n + mp_rank[target]) - g.indptr[src]
    rank = np.where(is_edge, in_ring, g.deg[src] + mp_rank[target] - before + 1)
    return np.where(rank <= 10, rank, 0)


def lists_itemknn(tr_user, tr_item, n, pop, mp_order, srcs):
    """Top-10 per src: sim(src, j) = |U_src ∩ U_j| / sqrt(|U_src| |U_j|), sim(src, src) = 0;
    ties and zero scores by (popularity desc, id asc)."""
    key = np.unique(tr_user * n + tr_item)
    pu, pi = key // n, key % n
    nu = int(pu.max()) + 1 if len(pu) else 0
    ui_ptr = np.zeros(nu + 1, dtype=np.int64)
    np.cumsum(np.bincount(pu, minlength=nu), out=ui_ptr[1:])
    ui_items = pi
    o = np.argsort(pi, kind="stable")
    iu_users = pu[o]
    n_users_of = np.bincount(pi, minlength=n)
    iu_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_users_of, out=iu_ptr[1:])
    del key, o
    rows = []
    for s in srcs:
        us = iu_users[iu_ptr[s]:iu_ptr[s + 1]]
        if len(us) == 0:
            rows.append(fill_by_pop(np.zeros(0, np.int64), mp_order, np.zeros(0, np.int64)))
            continue
        its = gather(ui_ptr, ui_items, us)
        if len(its) > n // 8:
            c = np.bincount(its, minlength=n)
            cand = np.flatnonzero(c)
            cv = c[cand]
        else:
            cand, cv = np.unique(its, return_counts=True)
        keep = cand != s
        cand, cv = cand[keep], cv[keep]
        sim = cv / np.sqrt((n_users_of[s] * n_users_of[cand]).astype(np.float64))
        if len(cand) > 10:
            thr = np.partition(sim, len(sim) - 10)[len(sim) - 10]
            m = sim >= thr
            cand, sim = cand[m], sim[m]
        o = np.lexsort((cand, -pop[cand], -sim))
        rows.append(fill_by_pop(cand[o], mp_order, cand))
    return pad_lists(rows)


def lists_embnn(emb, pop, srcs, batch=256):
    """Top-10 per src by cos(e_src, e_j) (float32), src ranked last, ties (pop desc, id asc)."""
    n = emb.shape[0]
    rows = []
    ids = np.arange(n)
    for b0 in range(0, len(srcs), batch):
        sb = srcs[b0:b0 + batch]
        sc = (emb[sb] @ emb.T).astype(np.float32)
        sc[np.arange(len(sb)), sb] = -np.inf
        if n > 10:
            thr = np.partition(sc, n - 10, axis=1)[:, n - 10]
        else:
            thr = np.full(len(sb), -np.inf, dtype=np.float32)
        for r in range(len(sb)):
            row = sc[r]
            cand = ids[row >= thr[r]]
            o = np.lexsort((cand, -pop[cand], -row[cand].astype(np.float64)))
            rows.append(cand[o][:10])
    return pad_lists(rows)


# ─────────────────────────────────── TGH ───────────────────────────────────

class RingCache:
    """Rings around an anchor (B2.3) and, per tie-break key, the top 10 of each ring by
    (score desc, key asc), score = cos(anchor, i) (+ α·EW[anchor, i] on ring 1)."""

    def __init__(self, g, emb):
        self.g = g
        self.emb = emb
        self.mark = np.zeros(g.n, dtype=bool)

    def _next(self, ring):
        g = self.g
        if int(g.deg[ring].sum()) > g.edges // 4:      # big frontier: one pass over the edges
            f = np.zeros(g.n, dtype=bool)
            f[ring] = True
            c = g.dst[f[g.src]]
        else:
            c = gather(g.indptr, g.dst, ring)
        if len(c) > g.n // 16:
            f = np.zeros(g.n, dtype=bool)
            f[c] = True
            f &= ~self.mark
            r = np.flatnonzero(f)
        else:
            r = np.unique(c)
            r = r[~self.mark[r]]
        self.mark[r] = True
        return r

    def rings(self, s, depth):
        """ring_1 .. ring_depth; leaves `mark` set for s and the rings (call clear())."""
        g = self.g
        r1 = g.succ(s)
        self.mark[s] = True
        self.mark[r1] = True
        self.touched = [np.array([s]), r1]
        out = [r1]
        for _ in range(1, depth):
            r = self._next(out[-1])
            self.touched.append(r)
            out.append(r)
        return out

    def extend(self, ring):
        r = self._next(ring)
        self.touched.append(r)
        return r

    def clear(self):
        for t in self.touched:
            self.mark[t] = False
        self.touched = []

    def tops(self, s, rings, keys, k=10, alpha=0.5, vec=None):
        """`vec`: the cosine anchor when it is not s's own row (D3's last-n anchors)."""
        g = self.g
        out = {name: [] for name in keys}
        # big rings: one product with the whole table is cheaper than gathering the rows
        full = None
        if self.emb is not None and sum(len(r) for r in rings) > g.n // 8:
            full = cos_rows(self.emb, s, slice(None), vec)
        for h, ring in enumerate(rings):
            sc = cos_rows(self.emb, s, ring, vec) if full is None else full[ring]
            if h == 0:
                sc = sc + alpha * g.ew[g.indptr[s]:g.indptr[s + 1]]
            for name, key in keys.items():
                m, v = ring, sc
                if len(m) > k:
                    thr = np.partition(v, len(v) - k)[len(v) - k]
                    sel = v >= thr
                    m, v = m[sel], v[sel]
                o = np.lexsort((key[m], -v))
                out[name].append(m[o][:k].tolist())
        return out


def assemble(picks, hop_k, total_k):
    """B2.5 assembly with overflow (no padding)."""
    result, overflow = [], []
    for h, want in enumerate(hop_k):
        p = picks[h] if h < len(picks) else []
        take = min(len(overflow), max(0, want - len(p)))
        result += overflow[:take]
        overflow = overflow[take:]
        want -= take
        if not p:
            continue
        result += p[:want]
        overflow += p[want:]
    if len(result) < total_k:
        result += overflow
    return result[:total_k]


def random_pad(lst, total_k, pool, user_id, seed=DEFAULT.seed):
    """Append total_k - len(lst) items of (pool minus lst, ascending) drawn by a partial
    Fisher-Yates with xoshiro256** seeded by seed + user_id."""
    deficit = total_k - len(lst)
    if deficit <= 0:
        return lst
    used = np.asarray(lst, dtype=np.int64)
    cand = pool[~np.isin(pool, used)] if len(used) else pool
    deficit = min(deficit, len(cand))
    rng = Rng(seed + int(user_id))
    swaps = {}
    drawn = []
    m = len(cand)
    for i in range(deficit):
        j = i + rng.below(m - i)
        vi, vj = swaps.get(i, i), swaps.get(j, j)
        swaps[i], swaps[j] = vj, vi
        drawn.append(int(cand[vj]))
    return list(lst) + drawn


def tgh_lists_for_users(q, sel, tops_of, pool, variant, P=DEFAULT):
    """Final total_k-item lists for users `sel` (indices into q) given per-anchor ring tops."""
    src, src3, users = q["src"], q["src3"], q["users"]
    K = P.total_k
    out = np.full((len(sel), K), -1, dtype=np.int64)
    base_cache = {}
    pair_cache = {}
    for r, ix in enumerate(sel):
        s, uid = int(src[ix]), int(users[ix])
        if variant == 1:
            base = base_cache.get(s)
            if base is None:
                base = base_cache[s] = tgh1_base(tops_of[s], P)
            lst = base if len(base) == K else random_pad(base, K, pool, uid, P.seed)
        else:
            s3 = int(src3[ix])
            base2 = base_cache.get(s)
            if base2 is None:
                t = tops_of[s]
                base2 = base_cache[s] = assemble([t[h][:P.b2] for h in range(len(P.s2))], P.s2, P.b2)
            if len(base2) == P.b2:
                lst = pair_cache.get((s, s3))
                if lst is None:
                    lst = pair_cache[(s, s3)] = base2 + src3_part(tops_of[s3], base2, P)
            else:
                two = random_pad(base2, P.b2, pool, uid, P.seed)
                lst = two + src3_part(tops_of[s3], two, P)
            if len(lst) < K:
                lst = random_pad(lst, K, pool, uid, P.seed)
            lst = lst[:K]
        out[r, : len(lst)] = lst
    return out


def tgh1_base(t, P):
    """TGH-1's assembly (before padding) from one anchor's ring tops."""
    return assemble([t[h][:P.total_k] for h in range(len(P.h1))], P.h1, P.total_k)


def src3_part(t, excluded, P=DEFAULT):
    ex = set(excluded)
    picks = [[x for x in t[h] if x not in ex][:P.b3] for h in range(len(P.s3))]
    return assemble(picks, P.s3, P.b3)


def curve_sample(users, k, seed):
    """Indices (ascending) of the test users the D3 curve is evaluated on."""
    if len(users) <= k:
        return np.arange(len(users))
    h = splitmix64(np.uint64(seed) ^ users.astype(np.uint64))
    o = np.lexsort((users, h))
    return np.sort(o[:k])


def last_n_ranks(ds, q, g, P, sel):
    """D3: per last_n entry, the target's rank (1-based, 0: absent) in TGH-1 with the cosine
    anchor = the normalised mean of the last n history rows, for the users `sel`."""
    emb = ds["emb"]
    out = {n: np.zeros(len(sel), dtype=np.int64) for n in P.last_n}
    cache = RingCache(g, emb)
    ids = {"id": np.arange(g.n, dtype=np.uint64)}
    for r, ix in enumerate(sel):
        u, s, tgt = int(q["users"][ix]), int(q["src"][ix]), int(q["target"][ix])
        end, ln = int(q["h_end"][u]), int(q["hlen"][u])
        hist = q["h_item"][end - ln:end]
        rings = cache.rings(s, len(P.h1))
        for n in P.last_n:
            items = hist if n == 0 else hist[-n:]
            sm = emb[items].sum(0)
            norm = math.sqrt(float((sm * sm).sum()))
            vec = (sm / norm).astype(np.float32).astype(np.float64) if norm > 0 else np.zeros(emb.shape[1])
            t = cache.tops(s, rings, ids, P.ring_top, P.alpha, vec)["id"]
            base = tgh1_base(t, P)
            lst = base if len(base) == P.total_k else random_pad(base, P.total_k, g.pool, u, P.seed)
            out[n][r] = lst.index(tgt) + 1 if tgt in lst else 0
        cache.clear()
    return out


# ─────────────────────────────── the run ───────────────────────────────

ALL_RANKERS = ("mostpop", "markov", "itemknn", "embnn", "tgh1", "tgh2", "tgh1_hash", "tgh2_hash")


def compute(ds, rankers=ALL_RANKERS, d1=True, shuffle=True, stats=True, max_users=None, timings=None,
            P=DEFAULT, d3=True):
    timings = {} if timings is None else timings
    tick = [time.perf_counter()]

    def lap(name):
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - tick[0]
        tick[0] = now

    n = ds["n_items"]
    tr = ds["train"]
    res = {"embedding": ds["embedding"]}
    if stats:
        res["stats"] = all_stats(ds)
        lap("stats")
    g = Graph(tr["user"], tr["item"], n)
    pop = np.bincount(tr["item"], minlength=n)
    mp_order = np.lexsort((np.arange(n), -pop))
    mp_rank = np.empty(n, dtype=np.int64)
    mp_rank[mp_order] = np.arange(n)
    res["graph"] = {"edges": int(g.edges), "n_items": n}
    lap("graph")
    q = build_queries(ds)
    lap("queries")
    res["test_users"] = int(len(q["users"]))
    res["skipped_short_history"] = q["skipped"]
    sel = np.arange(len(q["users"]))
    if max_users is not None and max_users < len(sel):
        sel = np.sort(np.random.default_rng(0).choice(len(sel), max_users, replace=False))
    res["evaluated_users"] = int(len(sel))
    src, src3, target = q["src"][sel], q["src3"][sel], q["target"][sel]
    rk = {}
    if "mostpop" in rankers:
        rk["mostpop"] = metrics_from_ranks(rank_mostpop(mp_rank, target))
        lap("mostpop")
    if "markov" in rankers:
        rk["markov"] = metrics_from_ranks(rank_markov(g, pop, mp_rank, src, target))
        lap("markov")
    usrc, row_of = np.unique(src, return_inverse=True)
    want2 = "tgh2" in rankers or "tgh2_hash" in rankers
    # sizes that drive the cost (for extrapolating a --max-users run)
    res["work"] = {
        "users": [int(len(sel)), int(len(q["users"]))],
        "distinct_src": [int(len(usrc)), int(len(np.unique(q["src"])))],
        "distinct_anchors": [int(len(np.unique(np.concatenate([src, src3])))) if want2 else int(len(usrc)),
                             int(len(np.unique(np.concatenate([q["src"], q["src3"]])))) if want2
                             else int(len(np.unique(q["src"])))],
    }
    if "itemknn" in rankers:
        lists = lists_itemknn(tr["user"], tr["item"], n, pop, mp_order, usrc)
        rk["itemknn"] = metrics_from_ranks(ranks_in_lists(lists, row_of, target))
        lap("itemknn")
    if "embnn" in rankers and ds["emb"] is not None:
        lists = lists_embnn(ds["emb"], pop, usrc)
        rk["embnn"] = metrics_from_ranks(ranks_in_lists(lists, row_of, target))
        lap("embnn")

    tgh = [r for r in ("tgh1", "tgh2", "tgh1_hash", "tgh2_hash") if r in rankers]
    if tgh or d1:
        ids = np.arange(n, dtype=np.uint64)
        keys = {}
        if "tgh1" in tgh or "tgh2" in tgh:
            keys["id"] = ids
        if "tgh1_hash" in tgh or "tgh2_hash" in tgh:
            keys["hash"] = splitmix64(np.uint64(P.seed) ^ ids)
        want1 = "tgh1" in tgh or "tgh1_hash" in tgh
        L1 = len(P.h1) if want1 else 0
        L2 = max(len(P.s2), len(P.s3)) if want2 else 0
        anchors = np.unique(np.concatenate([src, src3])) if want2 else usrc
        is_src = np.zeros(n, dtype=bool)
        is_src[usrc] = True
        cache = RingCache(g, ds["emb"])
        tops = {name: {} for name in keys}
        # D1 bookkeeping: users grouped by src
        order = np.argsort(row_of, kind="stable")
        bounds = np.searchsorted(row_of[order], np.arange(len(usrc) + 1))
        ring_of_target = np.zeros(len(sel), dtype=np.int64)     # 0: in no ring
        d1_s = 0.0
        for a in anchors:
            a = int(a)
            # rings the lists read (TGH-1: around sources only), and 3 for D1
            depth = max(L2, L1 if is_src[a] else 0, 3 if (d1 and is_src[a]) else 0, 1)
            rings = cache.rings(a, depth)
            if keys:
                t = cache.tops(a, rings[:max(L1, L2)], keys, P.ring_top, P.alpha)
                for name in keys:
                    tops[name][a] = t[name]
            if d1 and is_src[a]:
                t_d1 = time.perf_counter()
                k = int(np.searchsorted(usrc, a))
                us = order[bounds[k]:bounds[k + 1]]
                tg = target[us]
                found = np.zeros(len(us), dtype=np.int64)
                for h, ring in enumerate(rings, 1):
                    hit = (found == 0) & np.isin(tg, ring)
                    found[hit] = h
                # deeper BFS only for targets that might still be reachable
                left = (found == 0) & (g.indeg[tg] > 0) & (tg != a)
                h, frontier = len(rings), rings[-1]
                while left.any() and len(frontier):
                    frontier = cache.extend(frontier)
                    h += 1
                    hit = left & np.isin(tg, frontier)
                    found[hit] = h
                    left &= ~hit
                ring_of_target[us] = found
                d1_s += time.perf_counter() - t_d1
            cache.clear()
        lap("rings")
        timings["rings"] -= d1_s      # D1's membership tests and deeper BFS are D1's
        timings["d1"] = timings.get("d1", 0.0) + d1_s
        tgh_ranks = {}
        for name in tgh:
            variant = 1 if name.startswith("tgh1") else 2
            kname = "hash" if name.endswith("_hash") else "id"
            lists = tgh_lists_for_users(q, sel, tops[kname], g.pool, variant, P)
            tgh_ranks[name] = ranks_in_lists(lists, np.arange(len(sel)), target)
            rk[name] = metrics_from_ranks(tgh_ranks[name])
            lap(name)
        if d3 and "tgh1" in tgh_ranks and "tgh2" in tgh_ranks:
            cs = curve_sample(q["users"][sel], P.last_n_sample, P.seed)
            pts = [("last 1", "tgh1", 1, tgh_ranks["tgh1"][cs]),
                   ("last 2", "tgh2", 2, tgh_ranks["tgh2"][cs])]
            if ds["emb"] is not None and P.last_n:
                lr = last_n_ranks(ds, q, g, P, sel[cs])
                for n_ in P.last_n:
                    pts.append(("full history", "tgh1_anchor_all", "all", lr[n_]) if n_ == 0 else
                               (f"last {n_}", f"tgh1_anchor_last{n_}", n_, lr[n_]))
            curve = []
            for hist, ranker, ln, r in pts:
                m = metrics_from_ranks(r)
                curve.append({"history": hist, "ranker": ranker, "last_n": ln,
                              "ndcg@10": m["ndcg@10"], "recall@10": m["recall@10"]})
            longer = max([c["ndcg@10"] for c in curve[1:]] + [0.0])
            res["d3"] = {"curve": curve, "curve_users": int(len(cs)),
                         "curve_sampled": bool(len(cs) < len(q["users"])),
                         "order_sufficiency": curve[0]["ndcg@10"] / longer if longer > 0 else None}
            lap("d3")
        if d1:
            deg = g.deg[src]
            m = len(sel)
            res["d1"] = {
                "outdegree": {**{k: v for k, v in dist(deg).items() if k != "max"},
                              "zero_share": float((deg == 0).sum() / m) if m else None},
                "coverage": {f"c{h}": float((ring_of_target == h).sum() / m) if m else None
                             for h in (1, 2, 3)},
                "s10": float(((ring_of_target == 1) & (deg <= 10)).sum() / m) if m else None,
            }
            res["d1"]["coverage"]["c_inf"] = float((ring_of_target == 0).sum() / m) if m else None
            lap("d1")
    res["rankers"] = rk
    if shuffle:
        res["shuffle_test"] = shuffle_rules(tr["user"], tr["item"], n, g, P.seed)
        lap("shuffle_test")
    return res


def reference_json(res):
    keys = ["embedding", "graph", "test_users", "skipped_short_history", "rankers", "stats", "d1",
            "d3", "shuffle_test"]
    return {"format": "recdata-diagnostics-reference", "version": 1,
            **{k: res[k] for k in keys if k in res}}


# ─────────────────────────────── generator ───────────────────────────────

SPLIT_SCHEMA = pa.schema([
    ("user_id", pa.uint32()), ("item_id", pa.uint32()), ("ts", pa.timestamp("ms", tz="UTC")),
    ("event", pa.dictionary(pa.int32(), pa.string())), ("value", pa.float32()),
    ("session_id", pa.int64()),
])


def split_table(user, item, ts):
    n = len(user)
    return pa.Table.from_arrays([
        pa.array(user.astype(np.uint32)), pa.array(item.astype(np.uint32)),
        pa.array(ts.astype(np.int64)).cast(pa.timestamp("ms", tz="UTC")),
        pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array(["click"])),
        pa.nulls(n, pa.float32()), pa.nulls(n, pa.int64()),
    ], schema=SPLIT_SCHEMA)


def generate(out, users, items, interactions, seed, dim=64, chunk_users=50_000):
    out = Path(out)
    (out / "splits").mkdir(parents=True, exist_ok=True)
    (out / "embeddings").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    if interactions < 3 * users:
        raise SystemExit("need interactions >= 3 * users (every user has >= 3 rows)")
    # sequence lengths: 3 + geometric, then adjusted to the exact total
    extra = interactions / users - 3
    L = 3 + rng.geometric(1.0 / (extra + 1.0), users) - 1
    L = np.minimum(L, 3 + int(extra * 40) + 10)
    diff = interactions - int(L.sum())
    while diff != 0:
        if diff > 0:
            np.add.at(L, rng.integers(0, users, diff), 1)
        else:
            cand = np.flatnonzero(L > 3)
            pick = rng.choice(cand, min(-diff, len(cand)), replace=False)
            L[pick] -= 1
        diff = interactions - int(L.sum())
    # items: clusters (embedding neighbourhoods), Zipf popularity, 8 successors each
    n_cl = max(1, items // 100)
    cluster = rng.integers(0, n_cl, items)
    by_cl = np.argsort(cluster, kind="stable")
    cstart = np.searchsorted(cluster[by_cl], np.arange(n_cl + 1))
    w = np.empty(items)
    w[rng.permutation(items)] = 1.0 / np.arange(1, items + 1) ** 1.05
    cdf = np.cumsum(w / w.sum())

    def pop_sample(k):
        return np.minimum(np.searchsorted(cdf, rng.random(k)), items - 1)

    lo, hi = cstart[cluster], cstart[cluster + 1]
    near = by_cl[lo[:, None] + (rng.random((items, 6)) * (hi - lo)[:, None]).astype(np.int64)]
    succ = np.concatenate([near, pop_sample(items * 2).reshape(items, 2)], axis=1)
    succ_cdf = np.cumsum([0.3, 0.2, 0.15, 0.1, 0.08, 0.07, 0.05, 0.05])
    succ_cdf /= succ_cdf[-1]
    centers = rng.standard_normal((n_cl, dim))
    emb = (centers[cluster] + 0.6 * rng.standard_normal((items, dim))).astype(np.float32)

    writers = {s: pq.ParquetWriter(out / "splits" / f"{s}.parquet", SPLIT_SCHEMA) for s in SPLITS}
    t_base = 1_577_836_800_000      # 2020-01-01
    for u0 in range(0, users, chunk_users):
        lc = L[u0:u0 + chunk_users]
        cu = len(lc)
        ml = int(lc.max())
        seq = np.zeros((cu, ml), dtype=np.int64)
        seq[:, 0] = pop_sample(cu)
        for t in range(1, ml):
            act = np.flatnonzero(lc > t)
            prev = seq[act, t - 1]
            k = np.searchsorted(succ_cdf, rng.random(len(act)))
            nxt = np.where(rng.random(len(act)) < 0.55, succ[prev, np.minimum(k, 7)],
                           pop_sample(len(act)))
            seq[act, t] = nxt
        mask = np.arange(ml)[None, :] < lc[:, None]
        item = seq[mask]
        user = np.repeat(np.arange(u0, u0 + cu), lc)
        start = t_base + rng.integers(0, 3 * 365 * 86_400_000, cu)
        gaps = rng.exponential(6 * 3_600_000, len(item)).astype(np.int64) + 1
        cs = np.cumsum(gaps)
        first = np.cumsum(lc) - lc
        ts = np.repeat(start, lc) + cs - np.repeat(cs[first], lc)
        from_end = np.repeat(np.cumsum(lc), lc) - 1 - np.arange(len(item))
        for s, m in (("train", from_end >= 2), ("valid", from_end == 1), ("test", from_end == 0)):
            writers[s].write_table(split_table(user[m], item[m], ts[m]))
    for wr in writers.values():
        wr.close()
    pq.write_table(pa.table({"item_id": pa.array(np.arange(items, dtype=np.uint32))}),
                   out / "items.parquet")
    pq.write_table(pa.table({
        "item_id": pa.array(np.arange(items, dtype=np.uint32)),
        "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.ravel()), dim),
    }), out / "embeddings" / "text.parquet")
    (out / "dataset.json").write_text(json.dumps(
        {"name": "synthetic", "version": "1", "split": {"method": "leave_one_out"}}, indent=1) + "\n")
    return {"users": users, "items": items, "interactions": int(L.sum())}


# ─────────────────────────────── selftest ───────────────────────────────

def write_dataset(d, rows, n_items, emb=None):
    """rows: list of (user, item, ts or None, split)."""
    d = Path(d)
    (d / "splits").mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows, columns=["user", "item", "ts", "split"])
    for s in SPLITS:
        x = df[df.split == s]
        t = split_table(x.user.to_numpy(), x.item.to_numpy(), np.zeros(len(x), np.int64))
        ts = pa.array([None if pd.isna(v) else int(v) for v in x.ts], type=pa.int64())
        t = t.set_column(2, "ts", ts.cast(pa.timestamp("ms", tz="UTC")))
        pq.write_table(t, d / "splits" / f"{s}.parquet")
    pq.write_table(pa.table({"item_id": pa.array(np.arange(n_items, dtype=np.uint32))}),
                   d / "items.parquet")
    if emb is not None:
        (d / "embeddings").mkdir(exist_ok=True)
        e = np.asarray(emb, dtype=np.float32)
        pq.write_table(pa.table({
            "item_id": pa.array(np.arange(len(e), dtype=np.uint32)),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(e.ravel()), e.shape[1]),
        }), d / "embeddings" / "e.parquet")


def selftest():
    # generators: SplitMix64's published first output for state 0, and determinism
    assert int(splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF
    r1, r2 = Rng(7), Rng(7)
    assert [r1.next_u64() for _ in range(3)] == [r2.next_u64() for _ in range(3)]
    assert all(Rng(3).below(10) < 10 for _ in range(5))

    # assembly with overflow (B2.5): ring 3 empty, ring 2 short -> ring 1 surplus fills in order
    assert assemble([[1, 2, 3, 4, 5, 6, 7, 8, 9], [10], []], (7, 2, 1), 10) == \
        [1, 2, 3, 4, 5, 6, 7, 8, 10, 9]
    assert assemble([[1, 2], [3, 4, 5, 6], [7]], (7, 2, 1), 10) == [1, 2, 3, 4, 7, 5, 6]
    assert assemble([[], [3, 4], [7, 8]], (3, 1), 4) == [3, 4]      # 2 rings only, no padding

    # rules (as src/diagnose/recency.rs's test): 0->1 six times, then 1->2 five times and 1->3
    # once; 0->4 once. 2-grams 0->1 (6 of 7) and 1->2 (5 of 6); 3-gram (0,1)->2 (5 of 6).
    seqs = [[0, 1, 2]] * 5 + [[0, 1, 3], [0, 4]]
    su = np.repeat(np.arange(len(seqs)), [len(x) for x in seqs])
    si = np.concatenate([np.array(x) for x in seqs])
    gr = Graph(su, si, 5)
    assert rules2(gr.src, gr.cnt, 5) == 2 and rules3(su, si, 5) == 1
    # confidence 5 of 50 is a rule, 5 of 51 is not
    for extra, want in ((45, 2), (46, 1)):
        seqs = [[0, 1]] * 5 + [[0, 2]] * extra
        su = np.repeat(np.arange(len(seqs)), 2)
        gr = Graph(su, np.concatenate([np.array(x) for x in seqs]), 3)
        assert rules2(gr.src, gr.cnt, 3) == want
    # the per-user shuffle: Fisher-Yates with Rng(splitmix64(seed ^ user))
    su, si = np.array([0, 0, 0, 1, 1, 1, 1]), np.array([0, 1, 2, 3, 4, 5, 6])
    sh = shuffled_items(su, si, 42)
    want = [3, 4, 5, 6]
    rng = Rng(int(splitmix64(np.array([42 ^ 1], dtype=np.uint64))[0]))
    for i in range(3, 0, -1):
        j = rng.below(i + 1)
        want[i], want[j] = want[j], want[i]
    assert sh[3:].tolist() == want and sorted(sh[:3].tolist()) == [0, 1, 2]
    # the D3 sample: the k users with the smallest splitmix64(seed ^ user)
    us = np.arange(0, 150, 3)
    cs = curve_sample(us, 10, 42)
    keys = sorted((int(splitmix64(np.array([42 ^ int(u)], dtype=np.uint64))[0]), int(u)) for u in us)
    assert sorted(us[cs].tolist()) == sorted(u for _, u in keys[:10])

    # a 5-user dataset, 12 items (0..11); items 8..11 never appear
    T, V, E = "train", "valid", "test"
    rows = []
    seqs = {
        0: ([0, 1, 2, 3], [1], [2]),
        1: ([0, 1, 2], [4], [0]),
        2: ([1, 2, 0], [1], [3]),
        3: ([5, 6], [7], [5]),
        4: ([7], [], [6]),
    }
    for u, (tr, va, te) in seqs.items():
        t = 1000 * u
        for s, lst in ((T, tr), (V, va), (E, te)):
            for it in lst:
                t += 1
                rows.append((u, it, t, s))
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(tmp, rows, 12)
        ds = load_dataset(tmp)
        res = compute(ds)
    # training popularity: 0:3 1:3 2:3 3:1 5:1 6:1 7:1 -> MostPop order 0,1,2,3,5,6,7,4,8,...
    # test users: 0..3 (user 4 has a 1-item history); targets 2, 0, 3, 5
    assert res["test_users"] == 4 and res["skipped_short_history"] == 1
    mp = res["rankers"]["mostpop"]
    # ranks: 2 -> 3, 0 -> 1, 3 -> 4, 5 -> 5  => recall@1 = 1/4, recall@5 = 1
    assert mp["recall@1"] == 0.25 and mp["recall@5"] == 1.0
    assert abs(mp["ndcg@5"] - (1 / np.log2(4) + 1 + 1 / np.log2(5) + 1 / np.log2(6)) / 4) < 1e-12
    # graph: 0->1 x2, 1->2 x3, 2->3, 2->0, 5->6 => 5 distinct edges
    assert res["graph"] == {"edges": 5, "n_items": 12}
    # Markov: u0 src=1 (history 0,1,2,3,1): ring_1(1) = {2}; target 2 -> rank 1
    #         u1 src=4: no successors -> popularity order, target 0 -> rank 1
    #         u2 src=1: target 3 -> after 2, then popularity 0,1,3 -> rank 4
    #         u3 src=7: no successors, target 5 -> popularity rank 5
    mk = res["rankers"]["markov"]
    assert mk["recall@1"] == 0.5 and mk["recall@5"] == 1.0
    assert abs(mk["ndcg@5"] - (1 + 1 + 1 / np.log2(5) + 1 / np.log2(6)) / 4) < 1e-12
    # TGH-1 without embeddings, u2 (src 1): ring_1 = {2} (EW 1), ring_2 = {3, 0}, ring_3 = {}
    # (0's successor 1 is the source). Lists: ring1 [2]; ring2 top by id [0, 3];
    # assembly: [2] + [0, 3] (ring 2 wants 2) ; ring 3 empty and overflow empty -> 3 items, then
    # 7 random items from pool {0,1,2,3,5,6} minus {2,0,3} = {1,5,6} -> only 3 left: 6 items.
    cache = RingCache(Graph(ds["train"]["user"], ds["train"]["item"], 12), None)
    rings = cache.rings(1, 3)
    assert [r.tolist() for r in rings] == [[2], [0, 3], []]
    t = cache.tops(1, rings, {"id": np.arange(12, dtype=np.uint64)})["id"]
    cache.clear()
    base = assemble([t[0], t[1], t[2]], (7, 2, 1), 10)
    assert base == [2, 0, 3]
    full = random_pad(base, 10, np.array([0, 1, 2, 3, 5, 6]), 2)
    assert full[:3] == [2, 0, 3] and sorted(full[3:]) == [1, 5, 6]
    # the draw order is the partial Fisher-Yates of xoshiro256** seeded 42 + 2
    rng = Rng(44)
    c = [1, 5, 6]
    for i in range(3):
        j = i + rng.below(3 - i)
        c[i], c[j] = c[j], c[i]
    assert full[3:] == c
    # D1: sources 1, 4, 1, 7 -> outdegrees 1, 0, 1, 0; targets 2 (ring 1), 0 (unreachable from
    # 4), 3 (ring 2), 5 (7 has no edges) -> c1 = c2 = 1/4, c_inf = 1/2, s10 = 1/4
    d1 = res["d1"]
    assert d1["outdegree"]["zero_share"] == 0.5 and d1["outdegree"]["mean"] == 0.5
    assert d1["coverage"] == {"c1": 0.25, "c2": 0.25, "c3": 0.0, "c_inf": 0.5}
    assert d1["s10"] == 0.25
    st = res["stats"]
    assert st["train"]["interactions"] == 13 and st["all"]["interactions"] == 22
    assert st["test"]["users"] == 5 and st["valid"]["users"] == 4
    # all: user 0 has [0,1,2,3,1,2] -> 2 repeats; user 1 [0,1,2,4,0] -> 1; user 2 [1,2,0,1,3] -> 1;
    # user 3 [5,6,7,5] -> 1; user 4 [7,6] -> 0  => 5 / 22
    assert st["all"]["repeat_ratio"] == 5 / 22
    assert st["cold_start"]["valid"]["items"] == 1 / 3       # valid items {1, 4, 7}: 4 is cold
    # item-kNN: u0 src=1: users of 1 = {0, 1, 2}; co-items 0 (3 users), 2 (3), 3 (1)
    # sim(1,0) = 3/sqrt(9) = 1 = sim(1,2); ties by popularity (equal), id -> 0, 2, then 3
    # (1/sqrt(3)), then zero scores by popularity: 1, 5, 6, 7, ...; target 2 -> rank 2
    # u1 src=4 (no training users): popularity, target 0 -> rank 1; u2 src=1, target 3 -> rank 3;
    # u3 src=7: only user 4 has 7 and has nothing else -> popularity, target 5 -> rank 5
    kn = res["rankers"]["itemknn"]
    assert kn["recall@1"] == 0.25 and kn["recall@5"] == 1.0
    assert abs(kn["ndcg@10"] - (1 / np.log2(3) + 1 + 1 / np.log2(4) + 1 / np.log2(6)) / 4) < 1e-12

    # TGH-2 with embeddings and the history merge with equal timestamps
    with tempfile.TemporaryDirectory() as tmp:
        rows2 = [(0, 0, 1, T), (0, 1, 2, T), (0, 2, 5, T), (0, 3, 5, V), (0, 4, 9, E),
                 (1, 0, None, T), (1, 1, None, T), (1, 2, None, V), (1, 3, None, E),
                 (2, 2, 1, T), (2, 3, 2, T), (2, 4, 3, T), (2, 1, 4, V), (2, 3, 5, E),
                 (3, 0, 10, T), (3, 1, None, T), (3, 2, 5, V), (3, 3, 20, E)]
        write_dataset(tmp, rows2, 6, np.eye(6))      # cos(i, j) = [i == j]
        ds2 = load_dataset(tmp)
        q = build_queries(ds2)
        # u0: train ts 5 and valid ts 5 tie -> train first: history 0,1,2,3 -> src 3, src3 2
        # u1: no timestamps -> train then valid; u3: valid ts 5 < train ts 10 -> valid first,
        # then the train rows (the null one cannot be compared): history 2,0,1
        assert q["users"].tolist() == [0, 1, 2, 3]
        assert q["src"].tolist() == [3, 2, 1, 1] and q["src3"].tolist() == [2, 1, 4, 0]
        pop2 = np.bincount(ds2["train"]["item"], minlength=6)    # 0:3 1:3 2:2 3:1 4:1 5:0
        # Embedding-NN: every other item has cos 0, so popularity then id, the source last
        l = lists_embnn(ds2["emb"], pop2, np.array([3, 2]))
        assert l[0, :6].tolist() == [0, 1, 2, 4, 5, 3] and l[1, :6].tolist() == [0, 1, 3, 4, 5, 2]
        # TGH-2 for u2 (src 1, src3 4): ring_1(1) = [2], ring_2(1) = [3] -> [2, 3], padded to 6
        # from pool {0,1,2,3,4} minus {2,3} = [0, 1, 4] (exhausted); 4 has no successors
        g2 = Graph(ds2["train"]["user"], ds2["train"]["item"], 6)
        cache = RingCache(g2, ds2["emb"])
        tops = {}
        for a in (1, 4):
            tops[a] = cache.tops(a, cache.rings(a, 2), {"id": np.arange(6, dtype=np.uint64)})["id"]
            cache.clear()
        lst = tgh_lists_for_users(q, [2], tops, g2.pool, 2)[0]
        rng = Rng(DEFAULT.seed + 2)
        c = [0, 1, 4]
        for i in range(3):
            j = i + rng.below(3 - i)
            c[i], c[j] = c[j], c[i]
        assert lst.tolist() == [2, 3] + c + [-1] * 5
        res2 = compute(ds2)
        # TGH-2 targets: u0 4 = ring_1(3) -> 1; u1 3 = ring_1(2) -> 1; u2, u3 3 at rank 2
        t2 = res2["rankers"]["tgh2"]
        assert res2["embedding"] == "e" and t2["recall@1"] == 0.5 and t2["recall@5"] == 1.0
    print("selftest ok")


# ─────────────────────────────────── CLI ───────────────────────────────────

def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compare(a):
    """`make bench-diagnostics`: recdata diagnose vs this file's `time`, side by side."""
    import subprocess, tempfile
    ds = Path(a.dataset)
    if not (ds / "splits" / "train.parquet").exists():
        print(f"generating {a.users:,} users / {a.items:,} items / {a.interactions:,} rows in {ds}", file=sys.stderr)
        generate(str(ds), a.users, a.items, a.interactions, 0, 64)
    env = dict(os.environ, RAYON_NUM_THREADS="2", OMP_NUM_THREADS="2")

    def timed(cmd):
        t = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True)
        if p.returncode not in (0, 1):
            sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
        return time.perf_counter() - t, int(p.stderr.strip().splitlines()[-1]) / 1024, p.stdout

    out = Path(tempfile.mkdtemp(prefix="diag-bench-"))
    rd_wall, rd_rss, _ = timed([a.bin, "--quiet", "diagnose", str(ds), "--out", str(out)])
    rd = json.loads((out / "diagnostics.json").read_text())
    cmd = [sys.executable, __file__, "time", str(ds)] + (["--max-users", str(a.max_users)] if a.max_users else [])
    py_wall, py_rss, py_out = timed(cmd)
    py = json.loads(py_out[py_out.index("{"):])  # `time` prints one indented JSON document
    py_full = py.get("extrapolated_full_s") or py["wall_s"]
    rows = [
        ("**recdata diagnose** (stats, leakage audit, TGH-1 + TGH-2 with both tie-breaks, MostPop, Markov, item-kNN, embedding-NN, D1–D3, report)",
         rd_wall, rd_rss, rd["test_users"], rd_wall),
        (f"numpy/pandas (bench/diagnostics.py: stats, TGH-2, the four baselines, D1){' on ' + format(py['evaluated_users'], ',') + ' sampled users, extrapolated' if py.get('subset') else ''}",
         py_wall, py_rss, py["evaluated_users"], py_full),
    ]
    print("| implementation | wall (measured) | peak RSS | users evaluated | full-dataset time | ÷ recdata |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, w, r, n, full in rows:
        print(f"| {name} | {w:.1f} s | {r:,.0f} MiB | {n:,} | {full:,.0f} s | {full / rd_wall:.1f} |")
    check = {k: (rd["rankers"][k]["ndcg@10"], py["rankers"][k]["ndcg@10"]) for k in ("mostpop", "markov", "itemknn", "embnn", "tgh2") if k in py.get("rankers", {})}
    print(f"\nNDCG@10 recdata vs python ({'python on its sample' if py.get('subset') else 'all users'}): " +
          ", ".join(f"{k} {x:.4f} / {y:.4f}" for k, (x, y) in check.items()))
    Path(a.results).write_text(json.dumps({"dataset": str(ds), "recdata": {"wall_s": rd_wall, "rss_mib": rd_rss, "test_users": rd["test_users"]},
                                           "python": py, "python_wall_s": py_wall, "python_rss_mib": py_rss,
                                           "ratio": py_full / rd_wall}, indent=1) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("reference")
    p.add_argument("dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--embedding")
    p.add_argument("--no-embedding", action="store_true")
    p.add_argument("--tgh", default="{}", help="the heuristic's parameters as JSON (protocol.tgh keys)")
    p = sub.add_parser("generate")
    p.add_argument("dir")
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--interactions", type=int, default=20_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dim", type=int, default=64)
    p = sub.add_parser("time")
    p.add_argument("dataset")
    p.add_argument("--max-users", type=int)
    p.add_argument("--embedding")
    p.add_argument("--all", action="store_true", help="everything `reference` computes")
    sub.add_parser("selftest")
    p = sub.add_parser("compare", help="recdata diagnose vs the Python implementation (make bench-diagnostics)")
    p.add_argument("--bin", required=True)
    p.add_argument("--dataset", default=str(Path(__file__).parent / "work" / "diagnostics" / "synthetic-1m"))
    p.add_argument("--users", type=int, default=1_000_000)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--interactions", type=int, default=20_000_000)
    p.add_argument("--max-users", type=int, default=5000)
    p.add_argument("--results", default=str(Path(__file__).parent / "results-diagnostics.json"))
    a = ap.parse_args(argv)

    if a.cmd == "selftest":
        selftest()
    elif a.cmd == "compare":
        compare(a)
    elif a.cmd == "generate":
        t0 = time.perf_counter()
        info = generate(a.dir, a.users, a.items, a.interactions, a.seed, a.dim)
        print(json.dumps({**info, "seconds": round(time.perf_counter() - t0, 2),
                          "peak_rss_mib": round(peak_rss_mib(), 1)}))
    elif a.cmd == "reference":
        ds = load_dataset(a.dataset, a.embedding, not a.no_embedding)
        res = compute(ds, P=Params(**json.loads(a.tgh)))
        Path(a.out).write_text(json.dumps(reference_json(res), indent=1) + "\n")
    elif a.cmd == "time":
        t0 = time.perf_counter()
        timings = {}
        ds = load_dataset(a.dataset, a.embedding)
        timings["load"] = time.perf_counter() - t0
        if a.all:
            rankers, shuffle = ALL_RANKERS, True
        else:
            rankers, shuffle = ("mostpop", "markov", "itemknn", "embnn", "tgh2"), False
        res = compute(ds, rankers=rankers, d1=True, shuffle=shuffle, max_users=a.max_users,
                      timings=timings, d3=shuffle)
        wall = time.perf_counter() - t0
        n_all, n_eval = res["test_users"], res["evaluated_users"]
        # extrapolation to all test users: per-source work (rings, item-kNN, embedding-NN, D1)
        # by the number of distinct sources / anchors, per-user work by the number of users
        w = res["work"]
        ratio = {k: (v[1] / v[0] if v[0] else 0.0) for k, v in w.items()}
        driver = {"rings": "distinct_anchors", "itemknn": "distinct_src", "embnn": "distinct_src",
                  "d1": "distinct_src"}
        scaled = {k: v * ratio[driver.get(k, "users")] for k, v in timings.items()
                  if k in ("markov", "itemknn", "embnn", "rings", "d1", "mostpop") or k.startswith("tgh")}
        fixed = wall - sum(timings[k] for k in scaled)
        out = {
            "dataset": str(a.dataset),
            "computed": [r for r in rankers if r != "embnn" or ds["emb"] is not None]
                        + ["stats", "d1"] + (["shuffle_test"] if shuffle else []),
            "wall_s": round(wall, 3),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "phases_s": {k: round(v, 3) for k, v in timings.items()},
            "test_users": n_all,
            "evaluated_users": n_eval,
            "subset": n_eval < n_all,
            "work_evaluated_vs_full": w,
            "per_user_s": sum(scaled.values()) / n_all if n_all else None,
            "extrapolated_full_s": round(fixed + sum(scaled.values()), 1),
            "note": ("a seeded subset of the test users was evaluated; extrapolated_full_s scales "
                     "rings/itemknn/embnn/d1 by the distinct sources (anchors for rings) and the "
                     "rest by users. Popular sources are over-represented in a sample, so this "
                     "tends to overestimate") if n_eval < n_all else "all test users evaluated",
            "tgh2_ndcg@10": res["rankers"].get("tgh2", {}).get("ndcg@10"),
            "rankers": res["rankers"],
        }
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
