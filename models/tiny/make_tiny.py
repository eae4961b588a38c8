#!/usr/bin/env python3
"""Write the tiny test models for recdata's encode stage, byte-identical on every run.

    python models/tiny/make_tiny.py [OUT_DIR]      # default: models/tiny/

Needs numpy, onnx and tokenizers (all in the test venv .venv, `make pydeps`); when onnxruntime is
importable too, every valid model is loaded and run once as a check. Prints the sha256 of each
file as JSON on stdout; progress goes to stderr.

Files (int64 token ids; float32 everywhere else; `batch`/`seq` are symbolic dimensions):
  tiny-tokenizer.json    BERT-style WordPiece: lowercase BertNormalizer, BertPreTokenizer,
                         "[CLS] $A [SEP]"; [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4; no padding or
                         truncation configured (set them in code)
  tiny-text.onnx         input_ids [batch,seq], attention_mask [batch,seq]
                         -> last_hidden_state [batch,seq,16] = tanh(E[input_ids] @ W + b); no pooling,
                         attention_mask is declared but unused (the caller pools over it)
  tiny-image.onnx        pixel_values [batch,3,32,32] -> embedding [batch,8]
                         = ReduceMean_{H,W}(Relu(Conv3x3(3->8, pad 1)))
  tiny-image-fixed.onnx  the same weights with a fixed batch of 2: pixel_values [2,3,32,32] -> embedding [2,8]
  tiny-broken.onnx       the first half of tiny-image.onnx's bytes: not a loadable model
"""

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20261126
OPSET = 17
IR_VERSION = 8
PRODUCER = ("recdata-make-tiny", "1")
HIDDEN = 16
IMAGE_CHANNELS = 8
IMAGE_SIZE = 32

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
DIGITS = [str(d) for d in range(10)]
PUNCT = list(".,!?'\"-:;()/&")
WORDS = (
    "the of and to in is it that for on with as was be by at this are from or an have not but "
    "they his her she he we you i my your all one had were there their what so up out if about "
    "who get which go me when make can like time no just him know take people into year good "
    "some could them see other than then now look only come its over think also back after use "
    "two how our work first well way even new want because any these give day most us love song "
    "music movie book video photo cat dog red blue green big small happy sad old great best"
).split()
SUFFIXES = ["##s", "##es", "##ed", "##ing", "##ly", "##er", "##est", "##ness", "##ment", "##tion"]


def vocab():
    tokens = SPECIALS + LETTERS + DIGITS + PUNCT + ["##" + c for c in LETTERS + DIGITS] + SUFFIXES
    for w in WORDS:
        if w not in tokens:
            tokens.append(w)
    return {t: i for i, t in enumerate(tokens)}


def log(msg):
    print(f"[make_tiny] {msg}", file=sys.stderr, flush=True)


def write_tokenizer(path, voc):
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordPiece(vocab=voc, unk_token="[UNK]", continuing_subword_prefix="##",
                                     max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                                strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", voc["[CLS]"]), ("[SEP]", voc["[SEP]"])])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS])
    tok.save(str(path), pretty=True)
    return tok


def model_bytes(graph):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name=PRODUCER[0], producer_version=PRODUCER[1])
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m, full_check=True)
    return m.SerializeToString(deterministic=True)


def text_model(rng, vocab_size):
    E = rng.normal(0.0, 1.0, (vocab_size, HIDDEN)).astype(np.float32)
    W = rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), (HIDDEN, HIDDEN)).astype(np.float32)
    b = rng.normal(0.0, 0.1, (HIDDEN,)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["embedded"], name="gather", axis=0),
        helper.make_node("MatMul", ["embedded", "W"], ["projected"], name="matmul"),
        helper.make_node("Add", ["projected", "b"], ["biased"], name="add"),
        helper.make_node("Tanh", ["biased"], ["last_hidden_state"], name="tanh"),
    ]
    graph = helper.make_graph(
        nodes, "tiny_text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", HIDDEN])],
        [numpy_helper.from_array(E, "E"), numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")])
    return model_bytes(graph)


def image_model(rng, batch):
    K = rng.normal(0.0, 0.5, (IMAGE_CHANNELS, 3, 3, 3)).astype(np.float32)
    B = rng.normal(0.0, 0.1, (IMAGE_CHANNELS,)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["pixel_values", "K", "B"], ["conv"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("ReduceMean", ["relu"], ["embedding"], name="pool", axes=[2, 3], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "tiny_image",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [batch, 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch, IMAGE_CHANNELS])],
        [numpy_helper.from_array(K, "K"), numpy_helper.from_array(B, "B")])
    return model_bytes(graph)


def check(out, voc, tok):
    """Load every valid model with onnxruntime and run it once; the broken one must not load."""
    try:
        import onnxruntime as ort
    except ImportError:
        log("onnxruntime not importable: models not run")
        return
    enc = tok.encode_batch(["Hello, world!", "the cats played music"])
    if enc[0].tokens[0] != "[CLS]" or enc[0].tokens[-1] != "[SEP]" or "[UNK]" in enc[1].tokens:
        raise SystemExit(f"tiny tokenizer check failed: {enc[0].tokens} / {enc[1].tokens}")
    seq = max(len(e.ids) for e in enc)
    ids = np.zeros((2, seq), np.int64)
    mask = np.zeros((2, seq), np.int64)
    for i, e in enumerate(enc):
        ids[i, :len(e.ids)] = e.ids
        mask[i, :len(e.ids)] = 1
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(str(out / "tiny-text.onnx"), opts, providers=["CPUExecutionProvider"])
    assert [i.name for i in s.get_inputs()] == ["input_ids", "attention_mask"], s.get_inputs()
    (h,) = s.run(None, {"input_ids": ids, "attention_mask": mask})
    assert h.shape == (2, seq, HIDDEN) and h.dtype == np.float32 and np.abs(h).max() <= 1.0
    x = np.random.RandomState(1).rand(2, 3, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)
    embs = []
    for name in ("tiny-image.onnx", "tiny-image-fixed.onnx"):
        s = ort.InferenceSession(str(out / name), opts, providers=["CPUExecutionProvider"])
        (e,) = s.run(None, {"pixel_values": x})
        assert e.shape == (2, IMAGE_CHANNELS) and (e >= 0).all(), (name, e.shape)
        embs.append(e)
    assert np.array_equal(embs[0], embs[1]), "tiny-image and tiny-image-fixed disagree"
    try:
        ort.InferenceSession(str(out / "tiny-broken.onnx"), opts, providers=["CPUExecutionProvider"])
    except Exception:
        pass
    else:
        raise SystemExit("tiny-broken.onnx loaded in onnxruntime: it must not")
    log(f"checked with onnxruntime {ort.__version__}: text {list(h.shape)}, images [2, {IMAGE_CHANNELS}], broken refused")


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    # The legacy generator: its stream is frozen across numpy versions. Both image models get the
    # same weights, so they give the same embeddings.
    voc = vocab()
    tok = write_tokenizer(out / "tiny-tokenizer.json", voc)
    files = {
        "tiny-text.onnx": text_model(np.random.RandomState(SEED), len(voc)),
        "tiny-image.onnx": image_model(np.random.RandomState(SEED + 1), "batch"),
        "tiny-image-fixed.onnx": image_model(np.random.RandomState(SEED + 1), 2),
    }
    files["tiny-broken.onnx"] = files["tiny-image.onnx"][: len(files["tiny-image.onnx"]) // 2]
    for name, data in files.items():
        (out / name).write_bytes(data)
    log(f"wrote {len(files) + 1} files to {out} (vocab {len(voc)} tokens)")
    check(out, voc, tok)
    sums = {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
            for name in ["tiny-tokenizer.json"] + list(files)}
    print(json.dumps(sums, indent=2))


if __name__ == "__main__":
    main()
