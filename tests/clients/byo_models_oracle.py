"""The oracle for bring-your-own models: recompute every item's vector the way a Python user
of each model would (HF `tokenizers`, PIL, the `wave` module, numpy, onnxruntime's Python
API), and compare with the embeddings recdata published.

Usage: byo_models_oracle.py <version dir> <raw dir> <models dir>
Prints one JSON line: per encoder, the items compared and the smallest cosine.

The encoders (names, models, settings) mirror the manifest written by tests/it/models.rs.
"""

import json
import sys
import wave

import numpy as np
import onnxruntime as ort
import pyarrow.parquet as pq
from PIL import Image
from tokenizers import Tokenizer

version, raw, models = sys.argv[1:4]

opts = ort.SessionOptions()
opts.log_severity_level = 3


def session(name):
    return ort.InferenceSession(f"{models}/{name}", opts, providers=["CPUExecutionProvider"])


def l2(v):
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


items = pq.read_table(f"{version}/items.parquet").to_pylist()
imap = {r["item_id"]: r["raw_id"] for r in pq.read_table(f"{version}/item_map.parquet").to_pylist()}
title = {r["item_id"]: r.get("title") for r in items}

tok = Tokenizer.from_file(f"{models}/tiny-tokenizer.json")
tok.enable_truncation(256)


def text_vec(model, item, prefix, pooling, int_type, extra):
    t = (title[item] or "").strip()
    ids = np.array([tok.encode(prefix + t).ids], int_type)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    if "position_ids" in extra:
        feeds["position_ids"] = np.arange(ids.shape[1], dtype=int_type)[None]
    if "token_type_ids" in extra:
        feeds["token_type_ids"] = np.zeros_like(ids)
    (h,) = model.run(None, feeds)
    h = h.astype(np.float32)
    if pooling == "last":
        v = h[0, -1]
    elif pooling == "mean":
        v = h[0].mean(axis=0)
    else:
        v = h[0]
    return l2(v)


def image_vec(model, item, size, input_type):
    img = Image.open(f"{raw}/MicroLens-100k_covers/{imap[item]}.jpg").convert("RGB")
    x = np.asarray(img.resize((size, size), Image.BILINEAR), np.float32) / 255.0
    x = x.transpose(2, 0, 1)[None]  # mean 0, std 1: nothing else to do
    (v,) = model.run(None, {"pixel_values": x.astype(input_type)})
    return l2(v[0].astype(np.float32))


def pcm(item):
    with wave.open(f"{raw}/audio/{imap[item]}.wav") as w:
        assert w.getframerate() == 16000 and w.getsampwidth() == 2 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def wav2vec_vec(model, item):
    x = pcm(item).astype(np.float64)
    x = ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)[None]
    (h,) = model.run(None, {"input_values": x, "attention_mask": np.ones_like(x, np.int64)})
    return l2(h[0].mean(axis=0))


def clap_vec(model, item):
    x = pcm(item)
    t48 = np.arange(round(len(x) * 3)) / 48000.0
    up = np.interp(t48, np.arange(len(x)) / 16000.0, x).astype(np.float16)[None]
    (v,) = model.run(None, {"input_values": up})
    return l2(v[0].astype(np.float32))


encoders = {
    "title_last": lambda m: (session("tiny-text-causal.onnx"),
                             lambda s, i: text_vec(s, i, "passage: ", "last", np.int64, ["position_ids"])),
    "title_fp16": lambda m: (session("tiny-text-fp16.onnx"),
                             lambda s, i: text_vec(s, i, "", "mean", np.int32, ["token_type_ids"])),
    "title_clip": lambda m: (session("tiny-clip-text.onnx"),
                             lambda s, i: text_vec(s, i, "", "none", np.int64, [])),
    "cover_clip": lambda m: (session("tiny-clip-image.onnx"), lambda s, i: image_vec(s, i, 16, np.float32)),
    "cover_fp16": lambda m: (session("tiny-image-fp16.onnx"), lambda s, i: image_vec(s, i, 32, np.float16)),
    "audio_wave": lambda m: (session("tiny-audio-wave.onnx"), wav2vec_vec),
    "audio_48k": lambda m: (session("tiny-audio-pooled-fp16.onnx"), clap_vec),
}

out = {}
for name, make in encoders.items():
    s, fn = make(None)
    t = pq.read_table(f"{version}/embeddings/{name}.parquet")
    ids = t.column("item_id").to_pylist()
    vecs = np.asarray(t.column("embedding").to_pylist(), np.float32)
    cos = [float(np.dot(l2(v), fn(s, i))) for i, v in zip(ids, vecs)]
    out[name] = {"items": len(ids), "min_cosine": min(cos), "dim": int(vecs.shape[1])}

print(json.dumps(out))
