# recdata — build, test, demo, bench, lint.
# CARGO_TARGET_DIR lives outside the clone so CI and fresh clones reuse compiled dependencies.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/recdata-target
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(CARGO_TARGET_DIR)/release/recdata
DEBUG_BIN := $(CARGO_TARGET_DIR)/debug/recdata

.PHONY: build test demo bench lint pydeps clean

build:
	cargo build --release

# Python is only a test oracle (pyarrow reads our parquet back) and the bench baseline.
$(VENV)/.ok:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet pyarrow pandas polars numpy
	touch $@

pydeps: $(VENV)/.ok

test: pydeps
	RECDATA_PYTHON=$(abspath $(PY)) cargo test --all-targets

# Two demo datasets: Last.fm-format listening histories, and a multimodal MicroLens-format
# corpus with real JPEG covers (and real MP4 videos when ffmpeg, a Debian package, is present).
demo:
	cargo build --release
	command -v ffmpeg >/dev/null || (apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null 2>&1) || echo "ffmpeg not installed: the demo's videos are skipped"
	$(BIN) synth lastfm-1k --users 50 --events-per-user 200 --seed 7 --out data/raw/lastfm-1k-synth
	$(BIN) build manifests/lastfm-1k-synth.toml
	$(BIN) synth microlens --users 300 --seed 7 --out data/raw/microlens-synth
	$(BIN) build manifests/microlens-synth.toml
	$(BIN) inspect data/lastfm-1k-synth/latest
	$(BIN) inspect data/microlens-synth/latest

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

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean:
	rm -rf data/lastfm-1k-synth data/microlens-synth data/raw
