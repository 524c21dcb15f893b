# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
# Real data and weights: a folder laid out like ../shared (data/, models/). Override with STROKELENS_HOME=...
ifeq ($(origin STROKELENS_HOME), undefined)
  ifneq ($(wildcard ../shared/data),)
    export STROKELENS_HOME := $(abspath ../shared)
  endif
endif
DEMO_OUT ?= out/demo

.PHONY: setup browser demo test lint docs wheel-check bench-smoke bench-quick bench-full catalogue defaults figures clean

setup: $(VENV)/.installed browser

# torch==2.13.0 goes in first so that nothing later pulls a multi-gigabyte CUDA build.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The browser tests drive Debian's chromium through Playwright (no browser download): apt-get it when
# missing. Without apt-get they skip here and fail in CI, saying so.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || { \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v chromium >/dev/null 2>&1 || echo "no chromium and no apt-get: the browser tests skip here (and fail in CI)"

# The main job on the embedded default (the shipped models and drawings), whatever STROKELENS_HOME says.
demo: setup
	env -u STROKELENS_HOME $(VENV)/bin/strokelens demo --out $(DEMO_OUT)

lint: setup
	$(PY) -m ruff check src tests benchmarks scripts
	$(PY) -m ruff format --check src tests benchmarks scripts
	PYTHONPATH=src $(VENV)/bin/lint-imports  # the layers in pyproject.toml's [tool.importlinter]

# The docs site (mkdocs.yml; docs/, the API reference from the docstrings) into site/. --strict: a
# broken link, a page missing from the nav or a docstring mkdocstrings cannot read fails the build.
# Offline: the theme fetches no fonts.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet -d site

# The tests, the wheel in a fresh venv, then every benchmark on a handful of real inputs (so that none
# rots unseen).
test: setup lint docs
	$(PY) -m pytest -q -n 2
	$(MAKE) --no-print-directory wheel-check
	$(MAKE) --no-print-directory bench-smoke

# The wheel as a new user meets it: built, installed with torch==2.13.0 (CPU) in a fresh venv, and run
# (demo, predict, explain, serve) from an empty folder with no STROKELENS_HOME. Prints the wheel's size
# and its wall time (about 75 s on 2 busy cores with pip's cache warm, 4-5 minutes cold).
wheel-check: setup
	env -u STROKELENS_HOME $(PY) scripts/wheel_check.py

BENCHMARKS := $(filter-out benchmarks/figures.py benchmarks/_%.py,$(wildcard benchmarks/*.py))

# Every benchmark with --smoke, two at a time on one thread each, with its wall and CPU time
# (benchmarks/_smoke.py; about 140 CPU seconds in all, so about a minute and a quarter on 2 cores).
# Figures go to a temporary folder, never to benchmarks/results.
bench-smoke: setup
	$(PY) benchmarks/_smoke.py --jobs 2

bench-quick: setup
	for b in $(BENCHMARKS); do $(PY) $$b --quick || exit 1; done

# Full runs, one at a time (each about 10 minutes at most on 2 CPU cores); then `make defaults figures`.
bench-full: setup
	for b in $(BENCHMARKS); do $(PY) $$b --json benchmarks/results/$$(basename $$b .py).json || exit 1; done

# The methods' capabilities as data (src/strokelens/attribution/catalogue.json, which `defaults` reads;
# tests/test_capabilities.py fails while it is stale).
catalogue: setup
	$(PY) -m strokelens.methods --write

# Each model's default method, chosen from benchmarks/results/*.json (src/strokelens/defaults.json;
# tests/test_defaults.py fails while it is stale). Standard library only, like `figures`.
defaults:
	PYTHONPATH=src $(if $(wildcard $(PY)),$(PY),python3) -m strokelens.defaults --write

# The generated tables (docs/benchmarks.md, README.md's headline rows, docs/defaults.md, docs/variants.md),
# from benchmarks/results/*.json (standard library only: no set-up needed).
figures:
	$(if $(wildcard $(PY)),$(PY),python3) benchmarks/figures.py

clean:
	rm -rf $(VENV) out site .pytest_cache
