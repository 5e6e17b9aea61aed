# The two commands a newcomer needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test system-deps lint bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,cluster]'
	touch $@

setup: $(STAMP)

# The demo project on the embedded default: local engine, local store, dashboard on 127.0.0.1.
demo: setup
	$(BIN)/hypertuner demo

system-deps:
	bash scripts/install-system-deps.sh

test: setup system-deps
	$(BIN)/python -m pytest -ra

lint: setup
	$(BIN)/ruff check workbench_plugin engines spark_jobs gateway panel_app tests bench scripts
	$(BIN)/mypy

bench: setup
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/local_engine.py
