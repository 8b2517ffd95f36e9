# Two entry points for a fresh machine: `make run` and `make test`.
# Both create the virtual environment in .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE := examples/demo
EXAMPLE_OUT := out/demo

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/vpm cycle $(EXAMPLE) --out $(EXAMPLE_OUT)
	$(BIN)/vpm status $(EXAMPLE) --out $(EXAMPLE_OUT)
	@echo "Digest: $(EXAMPLE_OUT)/reports/digest.md"

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/cycle.py

clean:
	rm -rf $(VENV) out
