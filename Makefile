# shiba's two commands: `make serve` and `make test`. Each sets up .venv first (once; again only
# when pyproject.toml changes).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODELS := build/models
REST_PORT ?= 8501
GRPC_PORT ?= 8500

.PHONY: serve test test-fast check lint typecheck imports protos demo-model bench clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[tensorflow,onnx,openvino,torch,ray,demo,dev,plots]"
	# OpenVINO's usage telemetry phones home from its converter; without the package it uses a
	# built-in stub. A server must not send traffic nobody asked for.
	$(BIN)/python -m pip uninstall --quiet --yes openvino-telemetry
	# TF Serving's own gRPC stubs, for the tests' clients; --no-deps, since the package declares the
	# full tensorflow, which would install a second TensorFlow beside tensorflow-cpu.
	$(BIN)/python -m pip install --quiet --no-deps "tensorflow-serving-api==2.21.0"
	touch $(STAMP)

$(MODELS)/ViT/1/saved_model.pb: demo/build_vit.py | $(STAMP)
	$(BIN)/python demo/build_vit.py --out $(MODELS) --force

demo-model: $(MODELS)/ViT/1/saved_model.pb

serve: $(STAMP) demo-model
	$(BIN)/shiba serve --model_name=ViT --model_base_path=$(CURDIR)/$(MODELS)/ViT \
		--rest_api_port=$(REST_PORT)

check: lint typecheck imports

lint: $(STAMP)
	$(BIN)/ruff check src tests demo examples benchmarks deploy
	$(BIN)/ruff format --check src tests demo examples benchmarks deploy

typecheck: $(STAMP)
	$(BIN)/mypy src tests deploy

imports: $(STAMP)
	$(BIN)/lint-imports

# Regenerates the committed *_pb2.py / *_pb2.pyi from src/shiba/_proto/**/*.proto; make test fails
# (tests/_proto/test_generate.py) while they differ.
protos: $(STAMP)
	# As a file, not a module: the package imports the code this writes.
	$(BIN)/python src/shiba/_proto/generate.py

# The web application's browser tests drive Debian's Chromium through Playwright (which cannot
# download its own browsers here); quick when it is already installed.
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: check chromium
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP) demo-model
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache
