# Newcomer entry points: `make run` (main job on the sample archive) and `make test`.
# Both create .venv when missing and install everything the project needs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYS_STAMP := $(VENV)/.system-packages
SYSTEM_PACKAGES := poppler-utils fonts-dejavu-core fonts-liberation fonts-freefont-ttf \
  fonts-urw-base35 fonts-crosextra-carlito fonts-crosextra-caladea fonts-go fonts-open-sans \
  fonts-comic-neue fonts-dancingscript
LAKE ?= lake
SOURCE ?= samples/archive
ARGS ?=

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120

.PHONY: run ui test test-fast lint install system-packages bench bench-deps bench-lake evaluate clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools

# apt only where we are root and a package is missing; otherwise say what is needed. The
# fonts give synthetic training data its variety (synth.fonts uses whichever are installed).
$(SYS_STAMP): | $(BIN)/python
	@if [ "$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' $(SYSTEM_PACKAGES) 2>/dev/null \
	      | grep -c '^ii')" = "$(words $(SYSTEM_PACKAGES))" ]; then \
	  echo "system packages present"; \
	elif ! command -v dpkg-query >/dev/null && command -v pdftoppm >/dev/null; then \
	  echo "not Debian: install poppler and, for varied synthetic data, the fonts in" \
	    "SYSTEM_PACKAGES"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); \
	else \
	  echo "please install: $(SYSTEM_PACKAGES)"; \
	fi
	@touch $@

# torch is pinned to the CPU wheel that lies on the machine; installing it first keeps pip
# from resolving a CUDA build for any package that depends on torch.
$(STAMP): pyproject.toml | $(BIN)/python $(SYS_STAMP)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

run: install
	$(BIN)/ocr-pipeline ingest $(SOURCE) --lake $(LAKE) $(ARGS)

# The run history of `make run` (its runs, artifacts, CER trend) in the Prefect UI; Ctrl-C stops it.
ui: install
	$(BIN)/ocr-pipeline ui $(ARGS)

# Lint, types and import contracts (layers, no Prefect in the library) before the tests.
lint: install
	$(BIN)/ruff check ocr_tasks flows tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest tests $(ARGS)

test-fast: lint
	$(BIN)/python -m pytest tests -m 'not slow' $(ARGS)

# Cost per page: engine, flow (1 and 2 workers) and Tesseract side by side (ARGS: --pages N
# --funsd-pages N --systems ...; see bench/cost_per_page.py --help).
bench: install bench-deps
	$(BIN)/python bench/cost_per_page.py $(ARGS)

# Tesseract 5 for the side-by-side comparison (apt where we are root).
bench-deps:
	@if command -v tesseract >/dev/null; then \
	  echo "tesseract present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr); \
	else \
	  echo "please install tesseract-ocr (the benchmark skips Tesseract without it)"; \
	fi

# Run start and verify on lakes of 100k and 1M documents.
bench-lake: install
	$(BIN)/python bench/lake_scale.py $(ARGS)

evaluate: install
	$(BIN)/ocr-pipeline evaluate --data ../shared/data/funsd-train --format funsd $(ARGS)

clean:
	rm -rf $(VENV) $(LAKE) .pytest_cache
