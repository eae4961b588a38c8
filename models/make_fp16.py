#!/usr/bin/env python3
"""Write float16 variants of the registry's fp32 ONNX graphs (for GPU runs: `make bench-gpu`).

    python models/make_fp16.py --src models --out DIR [--only efficientnet-lite0,...]

Runs in the export venv (numpy + onnx + onnxconverter-common, pinned in models/obtain.py).
Every float tensor, input and output of the graph becomes float16 (`keep_io_types=False`: the
inputs and outputs are float16 too, which is what recdata's fp16 path reads and writes), except
the ops onnxconverter-common keeps in float32 by default (its DEFAULT_OP_BLOCK_LIST).

One repair after the conversion: onnxconverter-common 1.16.0 re-types the output of a `Cast` node
whose target is float32 (the attention-mask cast of mean pooling) as float16 in the graph's
value_info but leaves the node's `to` attribute at FLOAT, and ONNX Runtime then refuses to load
the model ("Type (tensor(float16)) of output arg (/pool/Cast_out) ... does not match expected type
(tensor(float))"). Such casts are set to FLOAT16, which is what the rest of the converted graph
expects. The result is byte-deterministic (onnx.save of the same protobuf), so obtain.py pins the
sha256 of every file written here.

Measured on fixed inputs with onnxruntime 1.31.1 on CPU, fp16 vs fp32 sentence/image embeddings:
cosine >= 0.9999 (tests/it/bench_gpu.rs checks them through recdata at >= 0.995).
"""

import argparse
import sys
from pathlib import Path

import onnx
from onnx import TensorProto
from onnxconverter_common import float16

# The fp32 graphs with fp16 variants: folder under models/ (model.onnx -> model.fp16.onnx).
MODELS = ("efficientnet-lite0", "all-minilm-l6-v2", "multilingual-e5-small")


def convert(src: Path, dest: Path) -> int:
    model = onnx.load(str(src))
    m16 = float16.convert_float_to_float16(
        model, keep_io_types=False, op_block_list=float16.DEFAULT_OP_BLOCK_LIST, check_fp16_ready=False)
    repaired = 0
    for node in m16.graph.node:
        if node.op_type != "Cast":
            continue
        for attr in node.attribute:
            if attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
                repaired += 1
    onnx.checker.check_model(m16)
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m16, str(dest))
    return repaired


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, required=True, help="the models folder with the fp32 graphs")
    ap.add_argument("--out", type=Path, required=True, help="folder to write <model>/model.fp16.onnx into")
    ap.add_argument("--only", default=",".join(MODELS))
    a = ap.parse_args()
    import warnings
    warnings.filterwarnings("ignore", module="onnxconverter_common")  # "truncated to 1e-07" per tiny constant
    for name in [n for n in a.only.split(",") if n]:
        if name not in MODELS:
            print(f"make_fp16.py: unknown model {name} ({', '.join(MODELS)})", file=sys.stderr)
            return 2
        src = a.src / name / "model.onnx"
        if not src.is_file():
            print(f"make_fp16.py: {src}: missing (obtain the fp32 models first)", file=sys.stderr)
            return 2
        n = convert(src, a.out / name / "model.fp16.onnx")
        print(f"make_fp16.py: {name}: float16 graph written ({n} Cast node(s) re-targeted)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
