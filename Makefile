# Two entry points for a fresh machine: `make run` and `make test`.
# Both create the virtual environment in .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE := examples/demo
EXAMPLE_OUT := out/demo

.PHONY: install run test lint bench clean web browser quality

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,neural]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/vpm cycle $(EXAMPLE) --out $(EXAMPLE_OUT)
	$(BIN)/vpm status $(EXAMPLE) --out $(EXAMPLE_OUT)
	@echo "Digest: $(EXAMPLE_OUT)/reports/digest.md"

test: $(STAMP) web browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest
	$(MAKE) quality

# The summary quality gate: the offline engine on the repository's own
# bilingual set must keep ROUGE-L F1 at or above QUALITY_MIN.
QUALITY_MIN ?= 0.45
quality: $(STAMP)
	$(BIN)/vpm quality . --out out/quality --min-rouge-l $(QUALITY_MIN) --max-chars 400

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/cycle.py

# Dashboard assets from the npm registry, copied into the package's static
# folder so the dashboard works offline; the copies are not committed.
VENDOR := src/vpm/api/static/vendor

$(VENDOR)/mermaid.min.js: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp web/node_modules/mermaid/dist/mermaid.min.js $(VENDOR)/

web: $(VENDOR)/mermaid.min.js

# Debian's Chromium for the dashboard test; never a test tool's own download.
browser:
	scripts/ensure-chromium.sh

clean:
	rm -rf $(VENV) out
