# Two commands for a fresh clone (Python >= 3.9 and PyPI are all they need):
#   make demo   start the local inbox, run an example program, show what arrived
#   make test   the whole test suite, then mypy --strict and ruff
#   make screenshot   regenerate docs/inbox-issue.png (needs chromium and chromedriver)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test suite lint typecheck clean screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# The README's picture of the inbox's issue page: a real inbox, real exceptions, headless
# Chromium (Debian's chromium and chromium-driver; nothing is downloaded).
screenshot: $(STAMP)
	$(BIN)/python docs/screenshot.py docs/inbox-issue.png

test: $(STAMP)
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory typecheck lint

# The test suite alone (.ci/run runs it on every other Python with VENV=.venv-3.X).
suite: $(STAMP)
	$(BIN)/python -m pytest

typecheck: $(STAMP)
	$(BIN)/python -m mypy

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

clean:
	rm -rf $(VENV) .venv-* .mypy_cache .ruff_cache .pytest_cache build dist

# Side-by-side benchmarks against posthog and sentry-sdk, in their own virtualenv (the
# peers are pinned in bench/requirements.txt); writes bench/RESULTS.md. About 40 minutes;
# `make bench BENCH_ARGS=--quick` for a short run, `BENCH_ARGS="--only capture"` for one.
BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_ARGS ?=

.PHONY: bench

$(BENCH_STAMP): pyproject.toml bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e . -r bench/requirements.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py $(BENCH_ARGS)
