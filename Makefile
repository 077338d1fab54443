# Two entry points: `make run` (install what serving needs and serve on SQLite) and `make test`
# (install the test tools too and run every check). Both share .venv, created on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# `make run` listens here; PORT and HOST may come from the environment, as platforms set PORT.
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run test lint typecheck unit install browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: .runtime = the package and its runtime dependencies; .test = those plus the test
# extra. Installing the test extra installs the runtime too, so it refreshes both stamps:
# `make run` after `make test` installs nothing, `make test` after `make run` adds the extra.
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.runtime

install: $(VENV)/.test

run: $(VENV)/.runtime
	$(BIN)/bandit-router serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python scripts/generate_sync_client.py --check

typecheck: install
	$(BIN)/mypy

# The browser test drives Debian's chromium; Playwright never downloads a browser here.
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

unit: install browser
	$(BIN)/pytest -n 2

test: lint typecheck unit
