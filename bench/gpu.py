#!/usr/bin/env python3
"""`make bench-gpu`: the CUDA run as one script. `recdata encode` on the GPU and on the CPU, the
vectors compared, items/s, GPU utilisation, and the same work by onnxruntime-gpu in Python.

    .venv/bin/python bench/gpu.py --bin target/release/recdata                 # on a GPU machine
    .venv/bin/python bench/gpu.py --bin target/release/recdata --dry-run       # anywhere (CPU)

Steps (each one fails the script with exit 1 and a message saying what broke):
  1. `recdata doctor --device cuda:N --json` must report CUDA working (the GPU runtime from
     `make runtime-gpu`, CUDA 13 + cuDNN 9 libraries found; see --cuda-libs).
  2. A fixed input set, made here and identical on every machine: --images JPEGs (640x480,
     gradients + shapes + noise, seeded) and --titles item titles (English and Chinese, seeded).
  3. For each model: EfficientNet-Lite0 over the images, all-MiniLM-L6-v2 and
     multilingual-e5-small over the titles, each fp32 and fp16 (the variants `make models`
     writes with models/make_fp16.py):
       recdata encode --device cpu            the reference vectors (and the CPU items/s)
       recdata encode --device cuda:N         items/s (from `stats.seconds`: session load, decode
                                              or tokenize, model, cache writes), GPU utilisation
                                              and memory sampled by `nvidia-smi -lms 100`
       Python: onnxruntime-gpu InferenceSession(CUDAExecutionProvider) with the preprocessing a
              user writes (PIL resize + ImageNet mean/std; tokenizers + mean pooling + L2)
  4. Agreement: cosine of every row, device vs CPU (fp32: min >= 0.999; fp16 vs the fp32 CPU
     vectors: min >= 0.995) and recdata vs Python on the device (mean >= 0.998).
Results: bench/results-gpu.json and a markdown table on stdout (with the date, GPU name and
driver), which goes into bench/README.md by hand with the run's date.

--dry-run runs every step on the CPU with small sets (the "device" run is `--device cpu`, the
Python side plain onnxruntime, no nvidia-smi): `make test` runs it (tests/it/bench_gpu.rs) so the
script cannot rot while no GPU is at hand. Its results go to bench/work/gpu/results-dry-run.json.

The Python baseline runs in --baseline-python (default: the venv `make bench-gpu` makes at
~/.cache/recdata-ort-gpu-venv with onnxruntime-gpu==1.31.1, numpy, pillow, tokenizers, installed
from models/.downloads when the machine is offline; dry run: this interpreter). CUDA libraries:
--cuda-libs adds folders to LD_LIBRARY_PATH; by default every `nvidia/*/lib` folder of the
baseline interpreter's site-packages (the nvidia-* wheels of onnxruntime-gpu[cuda,cudnn] or of
PyTorch) is added, for recdata and Python alike.
"""

import argparse
import datetime
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODELS = REPO / "models"

# (registry id, kind, fp32 twin for the fp16 comparison)
JOBS = [
    ("efficientnet-lite0", "image", None),
    ("efficientnet-lite0-fp16", "image", "efficientnet-lite0"),
    ("all-minilm-l6-v2", "text", None),
    ("all-minilm-l6-v2-fp16", "text", "all-minilm-l6-v2"),
    ("multilingual-e5-small", "text", None),
    ("multilingual-e5-small-fp16", "text", "multilingual-e5-small"),
]
MIN_COS_DEVICE = 0.999  # fp32 device vs fp32 CPU, every row
MIN_COS_FP16 = 0.995  # fp16 device vs fp32 CPU, every row
MEAN_COS_PYTHON = 0.998  # recdata vs the Python baseline, same device, mean over rows

EN = ["wireless", "noise-cancelling", "headphones", "vintage", "leather", "backpack", "organic", "green",
      "tea", "stainless", "steel", "water", "bottle", "kids", "puzzle", "board", "game", "running",
      "shoes", "ceramic", "coffee", "mug", "desk", "lamp", "travel", "guide", "to", "kyoto", "funny",
      "cat", "video", "street", "food", "tour", "piano", "cover", "of", "a", "pop", "song"]
ZH = ["无线", "降噪", "耳机", "复古", "皮革", "背包", "有机", "绿茶", "不锈钢", "水杯", "儿童", "拼图",
      "桌游", "跑鞋", "陶瓷", "咖啡杯", "台灯", "京都", "旅行", "攻略", "搞笑", "猫咪", "视频", "街头",
      "美食", "探店", "钢琴", "翻唱", "流行", "歌曲"]


def log(msg):
    print(f"[bench-gpu] {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


def make_inputs(work, n_images, n_titles):
    """The fixed image and title sets (seeded: the same bytes on every machine)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(20261205)
    img_dir = work / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    yy, xx = np.mgrid[0:480, 0:640]
    for i in range(n_images):
        p = img_dir / f"{i:06d}.jpg"
        if not p.is_file():
            a, b, c = rng.uniform(0, 1, 3)
            base = np.stack([xx / 640 * 255 * a, yy / 480 * 255 * b, (xx + yy) / 1120 * 255 * c], -1)
            noise = rng.normal(0, 12, base.shape)
            im = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
            d = ImageDraw.Draw(im)
            for _ in range(int(rng.integers(2, 7))):
                x0, y0 = int(rng.integers(0, 560)), int(rng.integers(0, 400))
                box = [x0, y0, x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 200))]
                fill = tuple(int(v) for v in rng.integers(0, 256, 3))
                (d.ellipse if rng.uniform() < 0.5 else d.rectangle)(box, fill=fill)
            im.save(p, quality=90)
        else:
            rng.uniform(0, 1, 3)  # keep the stream aligned when files exist
        paths.append(str(p))
    titles = []
    seen = set()
    while len(titles) < n_titles:
        words = ZH if rng.uniform() < 0.5 else EN
        k = int(rng.integers(2, 9))
        t = ("" if words is ZH else " ").join(words[int(j)] for j in rng.integers(0, len(words), k))
        t = f"{t} {int(rng.integers(1, 1000))}"
        if t not in seen:  # distinct: recdata encodes identical contents once
            seen.add(t)
            titles.append(t)
    ids = pa.array(range(n_images), pa.int64())
    pq.write_table(pa.table({"item_id": ids, "path": pa.array(paths, pa.string())}), work / "images.parquet")
    pq.write_table(pa.table({"item_id": pa.array(range(n_titles), pa.int64()), "title": pa.array(titles, pa.string())}),
                   work / "titles.parquet")
    return paths, titles


class GpuSampler:
    """nvidia-smi utilisation and memory, every 100 ms, while a run lasts."""

    def __init__(self, index):
        self.index, self.samples, self.proc = index, [], None

    def __enter__(self):
        if self.index is None:
            return self
        self.proc = subprocess.Popen(
            ["nvidia-smi", f"--id={self.index}", "--query-gpu=utilization.gpu,memory.used",
             "--format=csv,noheader,nounits", "-lms", "100"], stdout=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            try:
                u, m = (float(x) for x in line.split(","))
                self.samples.append((u, m))
            except ValueError:
                pass

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()
            self.thread.join(timeout=2)

    def summary(self):
        if not self.samples:
            return None
        u = np.array([s[0] for s in self.samples])
        m = np.array([s[1] for s in self.samples])
        return {"util_mean_pct": round(float(u.mean()), 1), "util_max_pct": float(u.max()),
                "mem_max_mib": float(m.max()), "samples": len(u)}


def recdata_encode(binary, env, work, model, kind, device, batch, tag):
    inp, col = (work / "images.parquet", "path") if kind == "image" else (work / "titles.parquet", "title")
    out = work / f"out-{tag}-{model}.parquet"
    cache = work / f"cache-{tag}-{model}"
    shutil.rmtree(cache, ignore_errors=True)
    out.unlink(missing_ok=True)
    cmd = [str(binary), "--json", "encode", str(inp), "--model", model, "--column", col, "--kind", kind,
           "--out", str(out), "--device", device, "--batch-size", str(batch), "--cache-dir", str(cache)]
    t = time.monotonic()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t
    shutil.rmtree(cache, ignore_errors=True)
    if p.returncode != 0:
        raise Failed(f"recdata encode --model {model} --device {device} exited {p.returncode}:\n{p.stderr[-2000:]}")
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    if summary["ok"] != summary["rows"]:
        raise Failed(f"recdata encode --model {model} --device {device}: {summary['ok']} of {summary['rows']} rows ok")
    st = summary["stats"]
    return out, {"encode_s": st["seconds"], "wall_s": round(wall, 3), "rows": summary["rows"],
                 "items_per_s": round(summary["rows"] / st["seconds"], 1)}


def read_vectors(path):
    import pyarrow.parquet as pq

    t = pq.read_table(path).sort_by("item_id")
    emb = t.column("embedding").combine_chunks()
    flat = emb.values.to_numpy(zero_copy_only=False).astype(np.float32)
    return flat.reshape(len(t), -1)


def row_cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


BASELINE = r'''
import json, sys, time
import numpy as np
cfg = json.loads(open(sys.argv[1]).read())
t0 = time.monotonic()
import onnxruntime as ort
if cfg["cuda"] and hasattr(ort, "preload_dlls"):
    ort.preload_dlls()
so = ort.SessionOptions()
providers = [("CUDAExecutionProvider", {"device_id": cfg["device_id"]})] if cfg["cuda"] else ["CPUExecutionProvider"]
sess = ort.InferenceSession(cfg["onnx"], so, providers=providers)
if cfg["cuda"] and "CUDAExecutionProvider" not in sess.get_providers():
    sys.exit("onnxruntime did not put the session on CUDA: " + ",".join(sess.get_providers()))
fp16 = sess.get_inputs()[0].type == "tensor(float16)"
load_s = time.monotonic() - t0
t1 = time.monotonic()
out = []
B = cfg["batch"]
if cfg["kind"] == "image":
    from PIL import Image
    mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
    items = cfg["items"]
    for i in range(0, len(items), B):
        batch = []
        for p in items[i:i + B]:
            im = Image.open(p).convert("RGB").resize((224, 224), Image.BILINEAR)
            batch.append(((np.asarray(im, np.float32) / 255.0 - mean) / std).transpose(2, 0, 1))
        x = np.stack(batch)
        y = sess.run(["embedding"], {"pixel_values": x.astype(np.float16) if fp16 else x})[0].astype(np.float32)
        out.append(y / np.linalg.norm(y, axis=1, keepdims=True))
else:
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(cfg["tokenizer"])
    tok.enable_truncation(cfg["max_length"]); tok.enable_padding()
    texts = [cfg["prefix"] + t for t in cfg["items"]]
    for i in range(0, len(texts), B):
        enc = tok.encode_batch(texts[i:i + B])
        ids = np.array([e.ids for e in enc], np.int64); am = np.array([e.attention_mask for e in enc], np.int64)
        h = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": am, "token_type_ids": np.zeros_like(ids)})[0].astype(np.float32)
        m = am[:, :, None].astype(np.float32)
        y = (h * m).sum(1) / m.sum(1)
        out.append(y / np.linalg.norm(y, axis=1, keepdims=True))
emb = np.concatenate(out)
encode_s = time.monotonic() - t1
np.save(cfg["out"], emb)
print(json.dumps({"load_s": load_s, "encode_s": encode_s, "rows": len(emb), "onnxruntime": ort.__version__,
                  "providers": sess.get_providers()}))
'''


def registry():
    import tomllib

    return tomllib.loads((MODELS / "models.toml").read_text())["models"]


def python_encode(python, env, work, model, kind, items, cuda, device_id, batch, tag):
    spec = registry()[model]
    out = work / f"py-{tag}-{model}.npy"
    cfg = {"onnx": str(MODELS / spec["onnx"]), "kind": kind, "items": items, "cuda": cuda, "device_id": device_id,
           "batch": batch, "out": str(out), "tokenizer": str(MODELS / spec.get("tokenizer", "")),
           "max_length": spec.get("max_length", 512), "prefix": spec.get("prefix", "")}
    cfg_path = work / f"py-{tag}-{model}.json"
    cfg_path.write_text(json.dumps(cfg))
    t = time.monotonic()
    p = subprocess.run([str(python), "-c", BASELINE, str(cfg_path)],
                       env=env, capture_output=True, text=True)
    wall = time.monotonic() - t
    if p.returncode != 0:
        raise Failed(f"the Python onnxruntime baseline for {model} failed ({python}):\n{p.stderr[-2000:]}")
    info = json.loads(p.stdout.strip().splitlines()[-1])
    s = info["load_s"] + info["encode_s"]
    return np.load(out), {"encode_s": round(s, 3), "wall_s": round(wall, 3), "items_per_s": round(info["rows"] / s, 1),
                          "onnxruntime": info["onnxruntime"], "providers": info["providers"]}


def cuda_lib_dirs(python, extra):
    dirs = list(extra)
    p = subprocess.run([str(python), "-c", "import sys, json; print(json.dumps(sys.path))"], capture_output=True, text=True)
    if p.returncode == 0:
        for sp in json.loads(p.stdout):
            dirs += sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib")))
    return dirs


def gpu_info(index):
    p = subprocess.run(["nvidia-smi", f"--id={index}", "--query-gpu=name,driver_version,memory.total",
                        "--format=csv,noheader"], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=REPO / "target" / "release" / "recdata")
    ap.add_argument("--device", default="cuda:0", help="cuda:N (ignored by --dry-run)")
    ap.add_argument("--dry-run", action="store_true", help="every step on the CPU with small sets")
    ap.add_argument("--images", type=int, default=None, help="images (default 5000; dry run 24)")
    ap.add_argument("--titles", type=int, default=None, help="titles (default 20000; dry run 48)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default 256; dry run 16)")
    ap.add_argument("--baseline-python", type=Path, default=None)
    ap.add_argument("--cuda-libs", action="append", default=[], help="a folder to add to LD_LIBRARY_PATH")
    ap.add_argument("--only", default=None, help="comma-separated model ids")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default bench/work/gpu[-dry-run])")
    a = ap.parse_args()

    dry = a.dry_run
    device = "cpu" if dry else a.device
    device_id = None if dry else (int(device.split(":")[1]) if ":" in device else 0)
    n_images = a.images or (24 if dry else 5000)
    n_titles = a.titles or (48 if dry else 20000)
    batch = a.batch or (16 if dry else 256)
    work = a.work or HERE / "work" / ("gpu-dry-run" if dry else "gpu")
    work.mkdir(parents=True, exist_ok=True)
    out_json = a.out or (work / "results-dry-run.json" if dry else HERE / "results-gpu.json")
    python = a.baseline_python or (Path(sys.executable) if dry else Path.home() / ".cache" / "recdata-ort-gpu-venv" / "bin" / "python")
    jobs = [j for j in JOBS if a.only is None or j[0] in a.only.split(",")]

    env = dict(os.environ, RECDATA_MODELS=str(MODELS))
    env.pop("RECDATA_DEVICE", None)
    if not dry:
        libs = cuda_lib_dirs(python, a.cuda_libs)
        env["LD_LIBRARY_PATH"] = ":".join(libs + [env.get("LD_LIBRARY_PATH", "")]).strip(":")
    try:
        # 1. doctor
        p = subprocess.run([str(a.bin), "--json", "doctor", "--device", device], env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise Failed(f"`recdata doctor --device {device}` says this machine cannot run the benchmark "
                         f"(exit {p.returncode}):\n{p.stdout[-1500:]}{p.stderr[-1500:]}")
        log(f"doctor --device {device}: ok")
        # 2. inputs
        t = time.monotonic()
        paths, titles = make_inputs(work, n_images, n_titles)
        log(f"{n_images} images and {n_titles} titles ready ({time.monotonic() - t:.1f} s)")
        # 3. runs
        results, problems, cpu_vecs = [], [], {}
        for model, kind, twin in jobs:
            items = paths if kind == "image" else titles
            ref_model = twin or model
            if ref_model not in cpu_vecs:
                out, cpu = recdata_encode(a.bin, env, work, ref_model, kind, "cpu", batch, "cpu")
                cpu_vecs[ref_model] = (read_vectors(out), cpu)
            ref, cpu_stats = cpu_vecs[ref_model]
            if twin is not None:  # the fp16 model's own CPU speed
                _, cpu_stats = recdata_encode(a.bin, env, work, model, kind, "cpu", batch, "cpu")
            with GpuSampler(device_id) as sampler:
                out, dev = recdata_encode(a.bin, env, work, model, kind, device, batch, "dev")
            dev["gpu"] = sampler.summary()
            vec = read_vectors(out)
            cos = row_cosines(vec, ref)
            with GpuSampler(device_id) as sampler:
                pyvec, py = python_encode(python, env, work, model, kind, items, not dry, device_id or 0, batch, "dev")
            py["gpu"] = sampler.summary()
            pycos = row_cosines(vec, pyvec)
            row = {"model": model, "kind": kind, "items": len(items), "batch": batch, "cpu": cpu_stats,
                   "device": dev, "python": py,
                   "cos_vs_cpu_fp32": {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)},
                   "cos_vs_python": {"min": round(float(pycos.min()), 6), "mean": round(float(pycos.mean()), 6)},
                   "speedup_vs_cpu": round(cpu_stats["encode_s"] / dev["encode_s"], 2),
                   "ratio_vs_python": round(py["encode_s"] / dev["encode_s"], 2)}
            floor = MIN_COS_FP16 if twin else MIN_COS_DEVICE
            if cos.min() < floor:
                problems.append(f"{model}: {device} vectors vs the fp32 CPU vectors: min cosine {cos.min():.6f} < {floor}")
            if pycos.mean() < MEAN_COS_PYTHON:
                problems.append(f"{model}: recdata vs Python on {device}: mean cosine {pycos.mean():.6f} < {MEAN_COS_PYTHON}")
            results.append(row)
            log(f"{model}: {device} {dev['items_per_s']}/s (cpu {cpu_stats['items_per_s']}/s, python {py['items_per_s']}/s), "
                f"cos vs cpu min {cos.min():.5f}, vs python mean {pycos.mean():.5f}")
    except Failed as e:
        log(f"error: {e}")
        return 1
    doc = {"date": datetime.date.today().isoformat(), "dry_run": dry, "device": device,
           "gpu": gpu_info(device_id) if not dry else None, "recdata": str(a.bin), "images": n_images,
           "titles": n_titles, "batch": batch, "results": results, "problems": problems}
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"GPU run {doc['date']}: {doc['gpu'] or device}, {n_images} images 640x480, {n_titles} titles, batch {batch}\n")
    print("| model | items | recdata cpu /s | recdata device /s | speed-up | Python ORT device /s | recdata / Python | GPU util mean (max) | cos vs fp32 CPU (min) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        g = r["device"]["gpu"]
        util = f"{g['util_mean_pct']}% ({g['util_max_pct']:.0f}%)" if g else "n/a"
        print(f"| {r['model']} | {r['items']} | {r['cpu']['items_per_s']} | {r['device']['items_per_s']} | "
              f"{r['speedup_vs_cpu']}x | {r['python']['items_per_s']} | {r['ratio_vs_python']}x | {util} | "
              f"{r['cos_vs_cpu_fp32']['min']:.5f} |")
    if problems:
        log("checks failed:\n  " + "\n  ".join(problems))
        return 1
    log(f"results in {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
