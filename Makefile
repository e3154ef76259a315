# Every target sets up .venv first (torch==2.13.0 before the rest, then the exact versions of
# requirements-lock.txt, then this package in editable mode without touching the pins).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rsgpt4v-installed
PYTEST_ARGS ?=
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: quickstart test test-fast lint bench docs debs clean

$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Debian packages the tests need (the browser for the demo's end-to-end test); installed when missing.
debs:
	@bash scripts/ensure-debs.sh chromium:chromium

quickstart: $(STAMP)
	$(VENV)/bin/rsgpt4v quickstart

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

test: $(STAMP) debs lint docs
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

test-fast: $(STAMP) lint
	$(PY) -m pytest -q -ra -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache
