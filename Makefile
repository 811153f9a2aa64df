# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench completions clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check mlops_cli tests benchmarks
	$(BIN)/ruff format --check mlops_cli tests benchmarks

bench: install
	@for bench in benchmarks/bench_*.py; do echo "== $$bench"; $(BIN)/python $$bench || exit 1; done

completions: install
	$(BIN)/python -m mlops_cli.cli.completions completions

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
