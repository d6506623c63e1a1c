# The two set-up commands of the README:  `make demo`  and  `make test`.
# Both create .venv with the project's own pinned ranges, so a fresh machine needs only
# python3 (3.11+), and for the integration tests Java 17 + Maven (servers/hapi).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck unit venv clean server-build

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[cli,test,tables,spark]'
	@touch $(STAMP)

## demo: the main job on the bundled seed cases: map -> push -> push again -> pull -> compare (out/)
demo: $(STAMP)
	@bash scripts/demo

## lint: formatting, ruff, mypy --strict
lint: $(STAMP)
	$(BIN)/ruff format --check src tests examples benchmarks scripts
	$(BIN)/ruff check src tests examples benchmarks scripts
	$(BIN)/mypy src

## server-build: the HAPI FHIR test server jar (servers/hapi; Maven, first run fills ~/.m2)
server-build:
	bash scripts/fhir-server build

## test: everything CI runs: lint, type check, unit + property + integration tests
test: $(STAMP) lint server-build
	$(BIN)/python -m pytest -p no:cacheprovider

## unit: the fast tests only (no HAPI server)
unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration and not java"

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
