# The two commands of the README:  `make run` (set up + main job)  and  `make test` (set up + tests).
# Both create .venv with the pinned stack on first use; later calls reuse it (delete .venv to start over).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export OMP_NUM_THREADS ?= 2
export GX_ANALYTICS_ENABLED := False
export TOKENIZERS_PARALLELISM := false
export LANCEDB_LOG ?= error
export PREFECT_HOME ?= $(CURDIR)/.prefect
PYTEST_ARGS ?=

.PHONY: setup run test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## main job on the embedded defaults: seed stage (collect -> gate -> dvc add/push -> MLflow), then dvc repro
run: setup
	$(BIN)/dreamgym seed
	$(BIN)/dvc repro

## the test suite (CI runs exactly this); pytest's "no tests collected" (exit 5) is a failure
test: setup
	@set +e; $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

lint: setup
	$(BIN)/ruff check dreamgym flows tests bench

bench: setup
	$(BIN)/python bench/envs.py --quick

clean:
	rm -rf artifacts .pytest_cache
