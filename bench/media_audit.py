#!/usr/bin/env python3
"""The media duplicate audit: `recdata build` (AgroSense corpus, stratified split, diagnostics)
vs the Python a user would write (hashlib + imagehash + numpy), on N synthetic soil images.

    .venv/bin/python bench/media_audit.py --bin $CARGO_TARGET_DIR/release/recdata
    .venv/bin/python bench/media_audit.py --n 2000 --reps 1 --bin target/debug/recdata \
        --out bench/work/results-media-audit-2000.json          # a quick end-to-end check

Input (made once per N, cached in bench/work/media-audit-N/, stamp `images.json`): N JPEGs of
160x120 (seeded numpy: a smooth random colour field, 3-6 rectangles/ellipses, noise; PIL,
quality 85) in the AgroSense layout `raw/Soil Image Dataset/{Train,test}/<4 classes>/`,
80/20 train/test, with planted duplicates: 2% exact byte copies (half of them in the other split
under the same name, half in the same folder as "Copy of <name>"), 2% re-encoded copies (the
decoded original saved again at JPEG quality 60) in the other split, 1% half-size copies (80x60,
LANCZOS, quality 85) in the other split; every copy has its own original. Beside them
`Crop_recommendation.csv` from `recdata synth agrosense --seed 1 --users 600` (the corpus needs
it; its 600 rows cost nothing next to the images). Planted copies are 0-2 pHash bits from their
originals. In a 5,000-picture trial no two distinct pictures were within 8 bits (one pair within
10, ten within 12); extrapolating that tail, a few tens of accidental pairs within 8 bits are to
be expected among 100,000 (as with real photos), so the counts found may exceed the planted ones
a little, equally for both tools (not a disagreement). At N = 2,000 they equal the planted ones.

Jobs, each a whole process, alternating (recdata, Python with each --workers value, floor), one
warm-up round then --reps timed rounds, medians (as bench/harness.py measures: wall time of the
process; peak RSS: see `measured`):

  recdata   recdata --json build m.toml --data-dir <fresh dir>  ([stages.split] stratified with
            images = "upstream", [stages.diagnostics] near_threshold = 8). Reads every image,
            sha256 + decode + imagehash-compatible pHash (normalize, all cores), groups exact
            and near copies and counts test images with a train copy (diagnostics); also writes
            the crop tables, splits, report.html with thumbnails, the card, the stage cache.
            Per-stage seconds come from its JSON stage events.
  python    bench/work/media-audit-N/reference.py (written by this script; REFERENCE below):
            walk the tree; per file read the bytes once, hashlib.sha256 + imagehash.phash
            (multiprocessing.Pool(W).imap over chunks of 64 files when W > 1); exact groups by
            a dict; near pairs (Hamming <= 8) among the distinct hashes by multi-index hashing
            in numpy (pigeonhole: 9 bit-slices, bucket-mates compared block-wise with
            np.bitwise_count); union-find; the same counts as recdata. --near-method brute:
            chunked all-pairs np.bitwise_count instead. On 100,000 hashes (slices drawn from
            real ones) buckets took 2.3 s, brute ~20 s (0.8 s at 20,000, quadratic), so buckets
            is the default. Peak RSS: the largest single process; for W > 1 also the sum of
            the parent's and every worker's own peak (an upper bound: pages shared after fork
            count once per process).
  floor     one process: read every image's bytes once (a cat-like read), then decode every
            image with PIL (Image.open(path).load(), no hashing): the I/O and decode work
            any audit must do, on one core.

Agreement (exit 1 after writing the results if not): images, test images, the exact-group count
and the test images with an exact / near / any train copy must be equal between recdata and
every Python run. Reported besides: near-group counts, the planted counts, and (from the warm-up
round) the per-image sha256/pHash differences between recdata's soil_images.parquet and
hashlib/imagehash.

Results: bench/results-media-audit.json (--out), and a markdown table on stdout.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CLASSES = ("Alluvial soil", "Black Soil", "Clay soil", "Red soil")
SOIL = "Soil Image Dataset"
W, H = 160, 120
GEN_VERSION = 2
NAME = "media-audit"


# ─────────────────────────────── the images ───────────────────────────────

def picture(seed, i):
    """Image i of the corpus as a (H, W, 3) uint8 array; depends only on (seed, i): a smooth
    random colour field (an 8x8 grid of random colours, bicubic-upsampled: gradients in random
    directions), 3-6 random rectangles/ellipses, uniform noise of +-10 levels."""
    from PIL import Image, ImageDraw
    rng = np.random.default_rng([seed, i])
    grid = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    im = Image.fromarray(grid).resize((W, H), Image.BICUBIC)
    d = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 7))):
        x0, y0 = int(rng.integers(-20, W)), int(rng.integers(-20, H))
        w, h = int(rng.integers(15, 80)), int(rng.integers(15, 60))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (d.rectangle if rng.random() < 0.5 else d.ellipse)([x0, y0, x0 + w, y0 + h], fill=fill)
    arr = np.asarray(im, dtype=np.int16) + rng.integers(-10, 11, (H, W, 3), dtype=np.int16)
    return np.clip(arr, 0, 255).astype(np.uint8)


def _write_originals(job):
    from PIL import Image
    seed, items = job
    for i, path in items:
        Image.fromarray(picture(seed, i)).save(path, quality=85)


def _write_copies(items):
    from PIL import Image
    for kind, src, dst in items:
        if kind == "exact":
            shutil.copyfile(src, dst)
        elif kind == "reencoded":
            Image.open(src).convert("RGB").save(dst, quality=60)
        else:  # half-size
            Image.open(src).convert("RGB").resize((W // 2, H // 2), Image.LANCZOS).save(dst, quality=85)


def make_corpus(work, n, seed, bin_, workers):
    """The image tree + Crop_recommendation.csv under work/raw; returns the stamp's content."""
    stamp = work / "images.json"
    want = {"version": GEN_VERSION, "n": n, "seed": seed, "size": [W, H]}
    if stamp.exists():
        s = json.loads(stamp.read_text())
        if all(s.get(k) == v for k, v in want.items()):
            return s
    raw = work / "raw"
    shutil.rmtree(raw, ignore_errors=True)
    for split in ("Train", "test"):
        for c in CLASSES:
            (raw / SOIL / split / c).mkdir(parents=True)
    t0 = time.perf_counter()
    n_exact, n_reenc, n_half = round(0.02 * n), round(0.02 * n), round(0.01 * n)
    n_exact_across = n_exact // 2
    n_orig = n - n_exact - n_reenc - n_half
    rng = np.random.default_rng(seed)
    train = rng.random(n_orig) < 0.8
    cls = rng.integers(0, len(CLASSES), n_orig)
    src = rng.choice(n_orig, n_exact + n_reenc + n_half, replace=False)

    def folder(i, other=False):
        split = "Train" if train[i] != other else "test"
        return raw / SOIL / split / CLASSES[cls[i]]

    names = [f"soil_{i:06d}.jpg" for i in range(n_orig)]
    orig = [(i, folder(i) / names[i]) for i in range(n_orig)]
    copies = []
    for k, i in enumerate(src):
        if k < n_exact_across:
            copies.append(("exact", folder(i) / names[i], folder(i, True) / names[i]))
        elif k < n_exact:
            copies.append(("exact", folder(i) / names[i], folder(i) / f"Copy of {names[i]}"))
        elif k < n_exact + n_reenc:
            copies.append(("reencoded", folder(i) / names[i], folder(i, True) / names[i].replace(".jpg", "_q60.jpg")))
        else:
            copies.append(("half", folder(i) / names[i], folder(i, True) / names[i].replace(".jpg", "_small.jpg")))
    step = 500
    with Pool(workers) as pool:
        list(pool.imap_unordered(_write_originals, [(seed, orig[s:s + step]) for s in range(0, len(orig), step)]))
        list(pool.imap_unordered(_write_copies, [copies[s:s + step] for s in range(0, len(copies), step)]))
    # The crop table the AgroSense corpus needs: from recdata's own synthetic corpus.
    synth = work / "synth"
    shutil.rmtree(synth, ignore_errors=True)
    subprocess.run([bin_, "synth", "agrosense", "--seed", "1", "--users", "600", "--out", str(synth)],
                   check=True, stdout=subprocess.DEVNULL)
    shutil.copyfile(synth / "Crop_recommendation.csv", raw / "Crop_recommendation.csv")
    shutil.rmtree(synth)
    files = [p for p in (raw / SOIL).rglob("*") if p.is_file()]
    assert len(files) == n, (len(files), n)
    test_of = lambda c: c[2].parts[-3] == "test"  # noqa: E731
    s = dict(want, files=len(files), bytes=sum(p.stat().st_size for p in files),
             generate_s=round(time.perf_counter() - t0, 1),
             planted={
                 "exact_copies_across_splits": n_exact_across,
                 "exact_copies_same_folder": n_exact - n_exact_across,
                 "reencoded_q60_across_splits": n_reenc,
                 "half_size_across_splits": n_half,
                 "test_originals": int((~train).sum()),
                 "train_originals": int(train.sum()),
             },
             # What the audit should find when no two distinct pictures are within 8 bits and
             # every re-encoded / half-size copy is within 8 bits of its original.
             expected={
                 "exact_groups": n_exact,
                 "near_groups": n_reenc + n_half,
                 "test_with_train_copy_exact": n_exact_across,
                 "test_with_train_copy_near": n_reenc + n_half,
                 "test_images": int((~train).sum()) + sum(1 for c in copies if test_of(c)),
             })
    stamp.write_text(json.dumps(s, indent=1) + "\n")
    return s


# ─────────────────────────────── the Python side ───────────────────────────────

REFERENCE = r'''
"""Media duplicate audit as a user writes it: hashlib + imagehash + numpy (written by
bench/media_audit.py).

    python reference.py <corpus dir> [--workers 2] [--near 8] [--near-method buckets|brute] [--dump hashes.tsv]

Prints one JSON object: the counts recdata's diagnostics.json has under `media`, phase times and
peak RSS (this process, and the sum over it and its pool workers)."""
import argparse, hashlib, io, json, os, resource, sys, time
from multiprocessing import Pool

import numpy as np
import imagehash
from PIL import Image


def hash_files(paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            b = f.read()
        sha = hashlib.sha256(b).hexdigest()
        try:
            bits = imagehash.phash(Image.open(io.BytesIO(b))).hash  # 8x8 bool, row-major
            ph = int.from_bytes(np.packbits(bits).tobytes(), "big")  # bit 63 = top-left
        except Exception:
            ph = None
        out.append((sha, ph))
    return out, os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def near_pairs_buckets(u, t):
    """Pairs (i, j), i < j, of the distinct hashes u within t bits. Pigeonhole: two hashes
    within t bits agree on one of t + 1 disjoint bit-slices, so only hashes sharing a slice
    value are compared (multi-index hashing), block by block with np.bitwise_count."""
    k = t + 1
    found = []
    for r in range(k):
        lo, hi = r * 64 // k, (r + 1) * 64 // k
        key = (u >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        cut = np.flatnonzero(ks[1:] != ks[:-1]) + 1
        for s, e in zip(np.r_[0, cut], np.r_[cut, len(ks)]):
            m = e - s
            if m < 2:
                continue
            idx = order[s:e]
            blk = u[idx]
            step = max(1, (1 << 22) // m)
            for c in range(0, m - 1, step):
                d = np.bitwise_count(blk[c:c + step, None] ^ blk[None, c:])
                ii, jj = np.nonzero(d <= t)
                ii = ii + c
                jj = jj + c
                keep = ii < jj
                if keep.any():
                    found.append(np.stack([idx[ii[keep]], idx[jj[keep]]], 1))
    if not found:
        return np.zeros((0, 2), np.int64)
    p = np.concatenate(found)
    p = np.sort(p, axis=1)
    return np.unique(p, axis=0)


def near_pairs_brute(u, t):
    """The same pairs from all n^2 / 2 distances, in row chunks."""
    n = len(u)
    step = max(1, (1 << 23) // max(n, 1))
    found = []
    for c in range(0, n - 1, step):
        d = np.bitwise_count(u[c:c + step, None] ^ u[None, c:])
        ii, jj = np.nonzero(d <= t)
        ii = ii + c
        jj = jj + c
        keep = ii < jj
        if keep.any():
            found.append(np.stack([ii[keep], jj[keep]], 1))
    return np.concatenate(found) if found else np.zeros((0, 2), np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--near", type=int, default=8)
    ap.add_argument("--near-method", choices=("buckets", "brute"), default="buckets")
    ap.add_argument("--dump")
    a = ap.parse_args()
    t0 = time.perf_counter()

    # 1. Walk: <corpus>/Soil Image Dataset/<split>/<class>/<file>.
    root = os.path.join(a.corpus, "Soil Image Dataset")
    paths, split, cls = [], [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root).split(os.sep)
        if len(rel) != 2:
            continue
        for f in sorted(filenames):
            paths.append(os.path.join(dirpath, f))
            split.append(rel[0].lower())
            cls.append(rel[1])
    t_walk = time.perf_counter()

    # 2. sha256 + pHash of every file.
    chunks = [paths[s:s + 64] for s in range(0, len(paths), 64)]
    rss = {}
    shas, phs = [], []
    if a.workers > 1:
        with Pool(a.workers) as pool:
            for out, pid, r in pool.imap(hash_files, chunks):
                shas += [s for s, _ in out]
                phs += [p for _, p in out]
                rss[pid] = max(rss.get(pid, 0), r)
    else:
        for ch in chunks:
            out, _, _ = hash_files(ch)
            shas += [s for s, _ in out]
            phs += [p for _, p in out]
    t_hash = time.perf_counter()

    # 3. Union-find over exact copies, equal pHashes and near pHashes.
    n = len(paths)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x, y):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)

    by_sha = {}
    for i, s in enumerate(shas):
        by_sha.setdefault(s, []).append(i)
    exact_groups = [g for g in by_sha.values() if len(g) > 1]
    for g in exact_groups:
        for j in g[1:]:
            union(g[0], j)
    exact_root = [find(i) for i in range(n)]

    hashed = np.array([i for i, p in enumerate(phs) if p is not None], np.int64)
    hv = np.array([phs[i] for i in hashed], np.uint64)
    uniq, first, inv = np.unique(hv, return_index=True, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    same = np.flatnonzero(inv[order][1:] == inv[order][:-1])
    for k in same:
        union(int(hashed[order[k]]), int(hashed[order[k + 1]]))
    t_exact = time.perf_counter()
    pairs = (near_pairs_buckets if a.near_method == "buckets" else near_pairs_brute)(uniq, a.near)
    t_near = time.perf_counter()
    for x, y in pairs.tolist():
        union(int(hashed[first[x]]), int(hashed[first[y]]))
    root = [find(i) for i in range(n)]

    # 4. Counts, as recdata's diagnostics.json `media` has them.
    comps = {}
    for i, r in enumerate(root):
        comps.setdefault(r, []).append(i)
    near_groups = [m for m in comps.values() if len(m) > 1 and len({exact_root[i] for i in m}) > 1]
    train_sha = {shas[i] for i in range(n) if split[i] == "train"}
    train_comp = {root[i] for i in range(n) if split[i] == "train"}
    t_ex = t_nr = n_test = 0
    for i in range(n):
        if split[i] != "test":
            continue
        n_test += 1
        if shas[i] in train_sha:
            t_ex += 1
        elif root[i] in train_comp:
            t_nr += 1
    t_end = time.perf_counter()

    if a.dump:
        with open(a.dump, "w") as f:
            for p, s, h in zip(paths, shas, phs):
                f.write(f"{os.path.relpath(p, a.corpus)}\t{s}\t{'' if h is None else h}\n")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "images": n, "hashed": len(hashed), "distinct_contents": len(by_sha),
        "near_pairs": len(pairs), "workers": a.workers, "near_method": a.near_method,
        "exact_groups": len(exact_groups), "near_groups": len(near_groups), "test_images": n_test,
        "test_with_train_copy": {"exact": t_ex, "near": t_nr, "any": t_ex + t_nr},
        "phases_s": {"walk": round(t_walk - t0, 3), "hash": round(t_hash - t_walk, 3),
                     "exact_groups": round(t_exact - t_hash, 3), "near_pairs": round(t_near - t_exact, 3),
                     "components_and_counts": round(t_end - t_near, 3)},
        "peak_rss_self_mib": round(own / 1024, 1),
        "peak_rss_sum_mib": round((own + sum(rss.values())) / 1024, 1),
    }))


if __name__ == "__main__":
    main()
'''

FLOOR = textwrap.dedent(r'''
import json, os, sys, time
from PIL import Image
root = os.path.join(sys.argv[1], "Soil Image Dataset")
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
t = time.perf_counter()
n = 0
for p in paths:
    with open(p, "rb", buffering=0) as f:
        n += len(f.read())
read_s = time.perf_counter() - t
t = time.perf_counter()
for p in paths:
    with Image.open(p) as im:
        im.load()
decode_s = time.perf_counter() - t
print(json.dumps({"files": len(paths), "bytes": n, "read_s": read_s, "decode_s": decode_s}))
''')


# ─────────────────────────────── running and comparing ───────────────────────────────

def recdata_counts(data_dir):
    d = json.loads((data_dir / NAME / "1" / "diagnostics.json").read_text())["media"]
    t = d["test_images_with_train_copy"]
    return {"images": d["images"], "hashed": d["hashed"], "distinct_contents": d["distinct_contents"],
            "exact_groups": d["exact"]["groups"], "near_groups": d["near"]["groups"],
            "test_images": d["test_images"],
            "test_with_train_copy": {"exact": t["exact"], "near": t["near"], "any": t["any"]}}


def compare_hashes(data_dir, dump):
    """recdata's per-image sha256/pHash (soil_images.parquet) vs the Python dump."""
    import pyarrow.parquet as pq
    t = pq.read_table(data_dir / NAME / "1" / "soil_images.parquet", columns=["path", "sha256", "phash"]).to_pylist()
    ours = {r["path"]: (r["sha256"], r["phash"]) for r in t}
    bits, sha_diff, missing, examples = {}, 0, 0, []
    for line in dump.read_text().splitlines():
        p, s, h = line.split("\t")
        if p not in ours:
            missing += 1
            continue
        rs, rh = ours[p]
        sha_diff += rs != s
        if rh is None or h == "":
            d = -1 if (rh is None) != (h == "") else 0
        else:
            d = bin(int(h) ^ rh).count("1")
        bits[d] = bits.get(d, 0) + 1
        if d != 0 and len(examples) < 5:
            examples.append({"path": p, "recdata": None if rh is None else f"{rh:016x}",
                             "imagehash": None if h == "" else f"{int(h):016x}", "bits": d})
    return {"images_compared": sum(bits.values()), "only_in_python": missing, "sha256_differ": sha_diff,
            "phash_differ": sum(v for k, v in bits.items() if k != 0),
            "phash_bits_histogram": {str(k): v for k, v in sorted(bits.items())}, "examples": examples}


GNU_TIME = "/usr/bin/time"


def measured(cmd, cwd):
    """(seconds, peak RSS MiB, stdout) of one whole process, as bench/harness.py's run() (which
    this is, plus the process' stdout on failure), but the peak RSS from GNU time's %M when
    /usr/bin/time exists:
    Linux folds the parent's peak RSS into a child's ru_maxrss at exec (the forked or vforked
    address space is the child's until then), so wait4() in this script would report at least
    this script's own peak (numpy, pyarrow) for every child, where time(1) adds ~1 MiB."""
    f = Path(cwd) / ".maxrss"
    timed = [GNU_TIME, "-o", str(f), "-f", "%M"] if os.path.exists(GNU_TIME) else []
    t = time.perf_counter()
    p = subprocess.Popen(timed + cmd, stdout=subprocess.PIPE, cwd=cwd)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(map(str, cmd))}\n{out.decode(errors='replace')[-3000:]}")
    mib = int(f.read_text().split()[-1]) / 1024 if timed else ru.ru_maxrss / 1024
    return secs, mib, out.decode().strip()


def median(xs):
    return round(statistics.median(xs), 3)


def main():
    default_bin = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "recdata"
    if not default_bin.exists():
        default_bin = ROOT / "target" / "release" / "recdata"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(default_bin), help="recdata binary [%(default)s]")
    ap.add_argument("--n", type=int, default=100_000, help="images in the corpus [%(default)s]")
    ap.add_argument("--reps", type=int, default=3, help="timed rounds after one warm-up [%(default)s]")
    ap.add_argument("--workers", default="2,1",
                    help="Python runs: comma-separated multiprocessing.Pool sizes for the hashing, "
                         "each a job of its own (1: no pool) [%(default)s]")
    ap.add_argument("--near", type=int, default=8, help="near-copy threshold, Hamming bits [%(default)s]")
    ap.add_argument("--near-method", choices=("buckets", "brute"), default="buckets",
                    help="the Python side's near-pair search [%(default)s]")
    ap.add_argument("--seed", type=int, default=0, help="image generator seed [%(default)s]")
    ap.add_argument("--python", default=sys.executable,
                    help="python with pillow, imagehash, numpy >= 2 [%(default)s]")
    ap.add_argument("--no-floor", action="store_true", help="skip the read/decode floor")
    ap.add_argument("--out", default=str(HERE / "results-media-audit.json"), help="results JSON [%(default)s]")
    a = ap.parse_args()
    bin_ = str(Path(a.bin).resolve())
    if not Path(bin_).exists():
        sys.exit(f"no recdata binary at {bin_} (--bin)")
    workers = [int(w) for w in a.workers.split(",") if w]
    work = HERE / "work" / f"media-audit-{a.n}"
    work.mkdir(parents=True, exist_ok=True)
    log = sys.stderr

    t = time.perf_counter()
    corpus = make_corpus(work, a.n, a.seed, bin_, max(1, min(2, os.cpu_count() or 1)))
    print(f"corpus: {corpus['files']:,} images, {corpus['bytes'] / 2**20:,.1f} MiB "
          f"({time.perf_counter() - t:.1f} s)", file=log, flush=True)
    raw = work / "raw"
    manifest = work / "m.toml"
    manifest.write_text(textwrap.dedent(f"""\
        [dataset]
        name = "{NAME}"
        version = "1"
        [source]
        corpus = "agrosense"
        path = {json.dumps(str(raw))}
        [stages.split]
        method = "stratified"
        images = "upstream"
        [stages.diagnostics]
        near_threshold = {a.near}
        """))
    ref = work / "reference.py"
    ref.write_text(REFERENCE.lstrip())

    jobs = [("recdata", None)] + [(f"python-{w}w", w) for w in workers]
    if not a.no_floor:
        jobs.append(("floor", None))
    runs = {name: {"wall": [], "rss": [], "out": []} for name, _ in jobs}
    hash_check = None
    for k in range(1 + a.reps):
        tag = "warm-up" if k == 0 else f"run {k}/{a.reps}"
        for name, w in jobs:
            d = work / "runs" / f"out-{name}"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            if name == "recdata":
                cmd = [bin_, "--json", "build", str(manifest), "--data-dir", str(d / "data")]
            elif name == "floor":
                cmd = [a.python, "-c", FLOOR, str(raw)]
            else:
                cmd = [a.python, str(ref), str(raw), "--workers", str(w), "--near", str(a.near),
                       "--near-method", a.near_method]
                if k == 0 and name == jobs[1][0]:
                    cmd += ["--dump", str(d / "hashes.tsv")]
            secs, mib, out = measured(cmd, d)
            if name == "recdata":
                stages = {}
                for line in out.splitlines():
                    ev = json.loads(line)
                    if ev.get("type") == "stage":
                        stages[ev["stage"]] = ev["seconds"]
                info = {"stages": stages, "counts": recdata_counts(d / "data")}
            else:
                info = json.loads(out.splitlines()[-1])
            if k == 0 and name == jobs[1][0]:
                hash_check = compare_hashes(work / "runs" / "out-recdata" / "data", d / "hashes.tsv")
            extra = ""
            if name == "recdata":
                extra = "  normalize {:.2f} s, diagnostics {:.2f} s".format(
                    info["stages"].get("normalize", 0), info["stages"].get("diagnostics", 0))
            elif name == "floor":
                extra = "  read {:.2f} s, decode {:.2f} s".format(info["read_s"], info["decode_s"])
            else:
                extra = "  hash {:.2f} s, near pairs {:.2f} s, sum of process peaks {:.0f} MiB".format(
                    info["phases_s"]["hash"], info["phases_s"]["near_pairs"], info["peak_rss_sum_mib"])
            print(f"{name:>12} {tag:>9}: {secs:8.2f} s {mib:7.0f} MiB{extra}", file=log, flush=True)
            if k > 0:
                runs[name]["wall"].append(secs)
                runs[name]["rss"].append(mib)
            runs[name]["out"].append(info)

    # Medians.
    res = {"images": corpus["files"], "bytes": corpus["bytes"], "size": [W, H],
           "near_threshold": a.near, "reps": a.reps, "near_method": a.near_method,
           "cpus": os.cpu_count(), "bin": bin_,
           "peak_rss_from": "GNU time %M" if os.path.exists(GNU_TIME) else "wait4 (includes this script's own peak)",
           "planted": corpus["planted"], "expected_if_planted_only": corpus["expected"], "jobs": {}}
    timed = lambda name: runs[name]["out"][1:] or runs[name]["out"]  # noqa: E731
    for name, w in jobs:
        r = runs[name]
        if name == "floor":
            res["floor"] = {"read_s": median([o["read_s"] for o in timed(name)]),
                            "pil_decode_s": median([o["decode_s"] for o in timed(name)]),
                            "note": "one process: every file read once, then every file decoded by PIL (no hashing)"}
            continue
        j = {"median_s": median(r["wall"]), "min_s": round(min(r["wall"]), 3), "max_s": round(max(r["wall"]), 3),
             "runs": [round(x, 3) for x in r["wall"]], "peak_rss_mib": round(statistics.median(r["rss"]))}
        last = r["out"][-1]
        if name == "recdata":
            j["stages_s"] = {s: median([o["stages"][s] for o in timed(name) if s in o["stages"]])
                             for s in last["stages"]}
            j["counts"] = last["counts"]
            j["peak_rss_all_processes_mib"] = j["peak_rss_mib"]
        else:
            j["workers"] = w
            j["phases_s"] = {p: median([o["phases_s"][p] for o in timed(name)]) for p in last["phases_s"]}
            j["peak_rss_all_processes_mib"] = round(statistics.median([o["peak_rss_sum_mib"] for o in timed(name)]))
            j["counts"] = {k: last[k] for k in ("images", "hashed", "distinct_contents", "exact_groups",
                                                "near_groups", "test_images", "test_with_train_copy")}
            j["near_pairs"] = last["near_pairs"]
        res["jobs"][name] = j
    base = res["jobs"]["recdata"]["median_s"]
    for j in res["jobs"].values():
        j["time_vs_recdata"] = round(j["median_s"] / base, 2)
    res["phash_check"] = hash_check

    # Agreement.
    rc = res["jobs"]["recdata"]["counts"]
    problems = []
    for name, j in res["jobs"].items():
        if name == "recdata":
            continue
        for o in runs[name]["out"]:
            keys = ("images", "test_images", "exact_groups", "test_with_train_copy")
            pc, want = {k: o[k] for k in keys}, {k: rc[k] for k in keys}
            if pc != want:
                problems.append(f"{name}: {pc} != recdata {want}")
                break
        if j["counts"]["near_groups"] != rc["near_groups"]:
            res.setdefault("notes", []).append(
                f"near groups differ: {name} {j['counts']['near_groups']}, recdata {rc['near_groups']}")
    res["agree"] = not problems
    res["disagreements"] = problems
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")

    # The table.
    print(f"\n{res['images']:,} images ({res['bytes'] / 2**20:,.0f} MiB of JPEG, {W}x{H}), "
          f"near = Hamming <= {a.near}, median of {a.reps} after a warm-up\n")
    print("| tool | wall s | peak RSS MiB | time ÷ recdata |")
    print("| --- | ---: | ---: | ---: |")
    for name, j in res["jobs"].items():
        if name == "recdata":
            label = "**recdata build**"
        else:
            w = j["workers"]
            label = f"hashlib + imagehash + numpy, {w} process{'es' if w > 1 else ''}"
        rss = f"{j['peak_rss_mib']:,}"
        if name != "recdata" and j["workers"] > 1:
            rss = (f"{j['peak_rss_all_processes_mib']:,} (sum of {j['workers'] + 1} processes' peaks; "
                   f"largest {j['peak_rss_mib']:,})")
        print(f"| {label} | {j['median_s']:.2f} | {rss} | {j['time_vs_recdata']:.2f} |")
    st = res["jobs"]["recdata"]["stages_s"]
    print("\nrecdata stages (s): " + ", ".join(f"{s} {v:.2f}" for s, v in st.items()))
    for name, j in res["jobs"].items():
        if name != "recdata":
            print(f"{name} phases (s): " + ", ".join(f"{p} {v:.2f}" for p, v in j["phases_s"].items()))
    if "floor" in res:
        f = res["floor"]
        print(f"floor (one process): read all bytes {f['read_s']:.2f} s, PIL decode all {f['pil_decode_s']:.2f} s")
    print(f"\ncounts (recdata): {rc['images']} images, {rc['hashed']} with a pHash, "
          f"exact groups {rc['exact_groups']}, near groups {rc['near_groups']}, "
          f"test images with a train copy: exact {rc['test_with_train_copy']['exact']}, "
          f"near {rc['test_with_train_copy']['near']} (planted: {json.dumps(corpus['expected'])})")
    if hash_check:
        print(f"pHash recdata vs imagehash: {hash_check['phash_differ']} of {hash_check['images_compared']} "
              f"differ (bits: {hash_check['phash_bits_histogram']}), sha256 differ: {hash_check['sha256_differ']}")
    for n in res.get("notes", []):
        print("note:", n)
    print(f"results: {a.out}")
    if problems:
        print("DISAGREEMENT:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
