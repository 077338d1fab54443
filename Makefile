# Two entry points: `make run` (install and serve on SQLite) and `make test` (install and run
# every check). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck unit install browser

$(BIN)/bandit-router: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/bandit-router

run: install
	$(BIN)/bandit-router serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The browser test drives Debian's chromium; Playwright never downloads a browser here.
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

unit: install browser
	$(BIN)/pytest

test: lint typecheck unit
