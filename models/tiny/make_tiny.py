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

One per shape a user may bring (`[models.<id>]` in a manifest):
  tiny-text-causal.onnx  decoder-style: input_ids, attention_mask, position_ids (int64)
                         -> last_hidden_state [batch,seq,16] = tanh(0.5 * CumSum_seq(E[ids] * mask) + P[pos]);
                         the last token's row sums the whole text (pooling = "last")
  tiny-text-fp16.onnx    int32 input_ids, attention_mask, token_type_ids
                         -> last_hidden_state float16 [batch,seq,16] = tanh(E[ids] @ W + b + T[types])
  tiny-clip-image.onnx   image tower: pixel_values [batch,3,16,16] -> image_embeds [batch,3] = mean colour
  tiny-clip-text.onnx    text tower: input_ids, attention_mask -> text_embeds [batch,3]
                         = sum over the mask of C[ids], C = red (1,0,0), green (0,1,0), blue (0,0,1),
                         specials 0, every other token small and positive (uniform in [0, 0.1) per
                         axis): "red" lands next to red images
  tiny-image-fp16.onnx   tiny-image.onnx with float16 input and output (float32 inside)
  tiny-audio-wave.onnx   wav2vec2-style: input_values [batch,samples] float, attention_mask int64
                         -> last_hidden_state [batch,frames,8]: the magnitude of 8 band-pass filters
                         (100 Hz .. 12.8 kHz, quadrature pairs of 400 taps, stride 320) over x * mask
  tiny-audio-pooled-fp16.onnx  the same filters, float16 input_values only, pooled in the graph
                         -> audio_embeds float16 [batch,8]
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


def causal_text_model(rng, vocab_size):
    E = rng.normal(0.0, 1.0, (vocab_size, HIDDEN)).astype(np.float32)
    P = rng.normal(0.0, 0.1, (512, HIDDEN)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["embedded"], name="gather", axis=0),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], name="cast", to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"], name="unsq"),
        helper.make_node("Mul", ["embedded", "mask3"], ["masked"], name="mul"),
        helper.make_node("CumSum", ["masked", "axis1"], ["summed"], name="cumsum"),
        helper.make_node("Mul", ["summed", "half"], ["scaled"], name="scale"),
        helper.make_node("Gather", ["P", "position_ids"], ["pos"], name="gather_pos", axis=0),
        helper.make_node("Add", ["scaled", "pos"], ["biased"], name="add"),
        helper.make_node("Tanh", ["biased"], ["last_hidden_state"], name="tanh"),
    ]
    ints = ["input_ids", "attention_mask", "position_ids"]
    graph = helper.make_graph(
        nodes, "tiny_text_causal",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in ints],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", HIDDEN])],
        [numpy_helper.from_array(E, "E"), numpy_helper.from_array(P, "P"),
         numpy_helper.from_array(np.array([2], np.int64), "axis2"),
         numpy_helper.from_array(np.array(1, np.int64), "axis1"),
         numpy_helper.from_array(np.array(0.5, np.float32), "half")])
    return model_bytes(graph)


def fp16_text_model(rng, vocab_size):
    E = rng.normal(0.0, 1.0, (vocab_size, HIDDEN)).astype(np.float32)
    W = rng.normal(0.0, 1.0 / np.sqrt(HIDDEN), (HIDDEN, HIDDEN)).astype(np.float32)
    b = rng.normal(0.0, 0.1, (HIDDEN,)).astype(np.float32)
    T = rng.normal(0.0, 0.1, (2, HIDDEN)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["embedded"], name="gather", axis=0),
        helper.make_node("Gather", ["T", "token_type_ids"], ["typed"], name="gather_types", axis=0),
        helper.make_node("MatMul", ["embedded", "W"], ["projected"], name="matmul"),
        helper.make_node("Add", ["projected", "b"], ["biased"], name="add"),
        helper.make_node("Add", ["biased", "typed"], ["with_types"], name="add_types"),
        helper.make_node("Tanh", ["with_types"], ["hidden"], name="tanh"),
        helper.make_node("Cast", ["hidden"], ["last_hidden_state"], name="to_half", to=TensorProto.FLOAT16),
    ]
    ints = ["input_ids", "attention_mask", "token_type_ids"]
    graph = helper.make_graph(
        nodes, "tiny_text_fp16",
        [helper.make_tensor_value_info(n, TensorProto.INT32, ["batch", "seq"]) for n in ints],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT16, ["batch", "seq", HIDDEN])],
        [numpy_helper.from_array(E, "E"), numpy_helper.from_array(W, "W"),
         numpy_helper.from_array(b, "b"), numpy_helper.from_array(T, "T")])
    return model_bytes(graph)


CLIP_SIZE = 16
COLOURS = {"red": 0, "green": 1, "blue": 2}


def clip_models(rng, voc):
    C = rng.uniform(0.0, 0.1, (len(voc), 3)).astype(np.float32)
    for word, axis in COLOURS.items():
        C[voc[word]] = 0.0
        C[voc[word], axis] = 1.0
    for special in SPECIALS:
        C[voc[special]] = 0.0
    text = helper.make_graph(
        [helper.make_node("Gather", ["C", "input_ids"], ["embedded"], name="gather", axis=0),
         helper.make_node("Cast", ["attention_mask"], ["maskf"], name="cast", to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"], name="unsq"),
         helper.make_node("Mul", ["embedded", "mask3"], ["masked"], name="mul"),
         helper.make_node("ReduceSum", ["masked", "axis1"], ["text_embeds"], name="sum", keepdims=0)],
        "tiny_clip_text",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
         for n in ["input_ids", "attention_mask"]],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(C, "C"),
         numpy_helper.from_array(np.array([2], np.int64), "axis2"),
         numpy_helper.from_array(np.array([1], np.int64), "axis1")])
    image = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values"], ["image_embeds"], name="pool", axes=[2, 3], keepdims=0)],
        "tiny_clip_image",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, CLIP_SIZE, CLIP_SIZE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", 3])])
    return model_bytes(text), model_bytes(image)


def fp16_image_model(rng):
    K = rng.normal(0.0, 0.5, (IMAGE_CHANNELS, 3, 3, 3)).astype(np.float32)
    B = rng.normal(0.0, 0.1, (IMAGE_CHANNELS,)).astype(np.float32)
    nodes = [
        helper.make_node("Cast", ["pixel_values"], ["x"], name="to_float", to=TensorProto.FLOAT),
        helper.make_node("Conv", ["x", "K", "B"], ["conv"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("ReduceMean", ["relu"], ["pooled"], name="pool", axes=[2, 3], keepdims=0),
        helper.make_node("Cast", ["pooled"], ["embedding"], name="to_half", to=TensorProto.FLOAT16),
    ]
    graph = helper.make_graph(
        nodes, "tiny_image_fp16",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT16, ["batch", 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT16, ["batch", IMAGE_CHANNELS])],
        [numpy_helper.from_array(K, "K"), numpy_helper.from_array(B, "B")])
    return model_bytes(graph)


AUDIO_FILTERS = 8
AUDIO_KERNEL = 400
AUDIO_STRIDE = 320


def audio_filters(rng):
    """Eight band-pass filters at 100 Hz .. 12.8 kHz (at 16 kHz), each a Hann-windowed cosine
    and sine pair (16 kernels: the 8 cosines, then the 8 sines), so a band's energy does not
    depend on the tone's phase."""
    t = np.arange(AUDIO_KERNEL, dtype=np.float64)
    win = np.hanning(AUDIO_KERNEL)
    freqs = 100.0 * 2.0 ** np.arange(AUDIO_FILTERS)
    cos = [np.cos(2 * np.pi * f * t / 16000.0) * win for f in freqs]
    sin = [np.sin(2 * np.pi * f * t / 16000.0) * win for f in freqs]
    K = np.stack(cos + sin) / AUDIO_KERNEL
    K = K + rng.normal(0.0, 1e-5, K.shape)
    return K.astype(np.float32).reshape(2 * AUDIO_FILTERS, 1, AUDIO_KERNEL)


def band_energy(conv, out):
    """[batch, 16, frames] quadrature responses -> [batch, 8, frames] magnitudes."""
    return [
        helper.make_node("Mul", [conv, conv], [conv + "_sq"], name=conv + "_square"),
        helper.make_node("Reshape", [conv + "_sq", "pairs"], [conv + "_pairs"], name=conv + "_pairs"),
        helper.make_node("ReduceSum", [conv + "_pairs", "axis1"], [conv + "_power"], name=conv + "_sum", keepdims=0),
        helper.make_node("Sqrt", [conv + "_power"], [out], name=conv + "_sqrt"),
    ]


def audio_models(rng):
    K = audio_filters(rng)
    consts = [numpy_helper.from_array(K, "K"), numpy_helper.from_array(np.array([1], np.int64), "axis1"),
              numpy_helper.from_array(np.array([0, 2, AUDIO_FILTERS, -1], np.int64), "pairs")]
    wave = helper.make_graph(
        [helper.make_node("Cast", ["attention_mask"], ["maskf"], name="cast", to=TensorProto.FLOAT),
         helper.make_node("Mul", ["input_values", "maskf"], ["masked"], name="mul"),
         helper.make_node("Unsqueeze", ["masked", "axis1"], ["x"], name="unsq"),
         helper.make_node("Conv", ["x", "K"], ["conv"], name="conv",
                          kernel_shape=[AUDIO_KERNEL], strides=[AUDIO_STRIDE])]
        + band_energy("conv", "energy")
        + [helper.make_node("Transpose", ["energy"], ["last_hidden_state"], name="frames", perm=[0, 2, 1])],
        "tiny_audio_wave",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["batch", "samples"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "samples"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "frames", AUDIO_FILTERS])],
        consts)
    pooled = helper.make_graph(
        [helper.make_node("Cast", ["input_values"], ["xf"], name="to_float", to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["xf", "axis1"], ["x"], name="unsq"),
         helper.make_node("Conv", ["x", "K"], ["conv"], name="conv",
                          kernel_shape=[AUDIO_KERNEL], strides=[AUDIO_STRIDE])]
        + band_energy("conv", "energy")
        + [helper.make_node("ReduceMean", ["energy"], ["pooled"], name="pool", axes=[2], keepdims=0),
         helper.make_node("Cast", ["pooled"], ["audio_embeds"], name="to_half", to=TensorProto.FLOAT16)],
        "tiny_audio_pooled_fp16",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT16, ["batch", "samples"])],
        [helper.make_tensor_value_info("audio_embeds", TensorProto.FLOAT16, ["batch", AUDIO_FILTERS])],
        consts)
    return model_bytes(wave), model_bytes(pooled)


def check_shapes(out, voc, tok):
    """Run each bring-your-own shape once with onnxruntime."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    run = lambda name, feeds: ort.InferenceSession(str(out / name), opts, providers=["CPUExecutionProvider"]).run(None, feeds)
    e = tok.encode("red red blue")
    ids = np.array([e.ids], np.int64)
    ones = np.ones_like(ids)
    (h,) = run("tiny-text-causal.onnx", {"input_ids": ids, "attention_mask": ones,
                                         "position_ids": np.arange(ids.shape[1])[None]})
    assert h.shape == (1, ids.shape[1], HIDDEN), h.shape
    (h,) = run("tiny-text-fp16.onnx", {"input_ids": ids.astype(np.int32), "attention_mask": ones.astype(np.int32),
                                       "token_type_ids": np.zeros_like(ids, np.int32)})
    assert h.dtype == np.float16, h.dtype
    (t,) = run("tiny-clip-text.onnx", {"input_ids": ids, "attention_mask": ones})
    assert np.allclose(t, [[2.0, 0.0, 1.0]]), t  # only colour words and specials
    red = np.zeros((1, 3, CLIP_SIZE, CLIP_SIZE), np.float32)
    red[:, 0] = 1.0
    (i,) = run("tiny-clip-image.onnx", {"pixel_values": red})
    assert np.allclose(i, [[1.0, 0.0, 0.0]]), i
    x = np.random.RandomState(1).rand(2, 3, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)
    (full,) = run("tiny-image.onnx", {"pixel_values": x})
    (half,) = run("tiny-image-fp16.onnx", {"pixel_values": x.astype(np.float16)})
    assert half.dtype == np.float16 and np.abs(half.astype(np.float32) - full).max() < 1e-2
    tone = np.sin(2 * np.pi * 800 * np.arange(16000) / 16000.0).astype(np.float32)[None]
    (w,) = run("tiny-audio-wave.onnx", {"input_values": tone, "attention_mask": np.ones_like(tone, np.int64)})
    assert w.shape == (1, (16000 - AUDIO_KERNEL) // AUDIO_STRIDE + 1, AUDIO_FILTERS), w.shape
    assert w.mean(axis=1)[0].argmax() == 3, w.mean(axis=1)  # the 800 Hz filter
    (p,) = run("tiny-audio-pooled-fp16.onnx", {"input_values": tone.astype(np.float16)})
    assert p.dtype == np.float16 and np.abs(p.astype(np.float32) - w.mean(axis=1)).max() < 1e-2
    log("checked the bring-your-own shapes (causal, fp16 text, CLIP towers, fp16 image, waveform audio)")


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
    check_shapes(out, voc, tok)


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
    files["tiny-text-causal.onnx"] = causal_text_model(np.random.RandomState(SEED + 2), len(voc))
    files["tiny-text-fp16.onnx"] = fp16_text_model(np.random.RandomState(SEED + 3), len(voc))
    files["tiny-clip-text.onnx"], files["tiny-clip-image.onnx"] = clip_models(np.random.RandomState(SEED + 5), voc)
    files["tiny-image-fp16.onnx"] = fp16_image_model(np.random.RandomState(SEED + 1))
    files["tiny-audio-wave.onnx"], files["tiny-audio-pooled-fp16.onnx"] = audio_models(np.random.RandomState(SEED + 4))
    for name, data in files.items():
        (out / name).write_bytes(data)
    log(f"wrote {len(files) + 1} files to {out} (vocab {len(voc)} tokens)")
    check(out, voc, tok)
    sums = {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
            for name in ["tiny-tokenizer.json"] + list(files)}
    print(json.dumps(sums, indent=2))


if __name__ == "__main__":
    main()
