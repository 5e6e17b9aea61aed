# The two commands a newcomer needs: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test system-deps cluster-deps kerberos-deps lint bench minicluster

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

# The mini cluster's Java side, built from Maven Central (the test session starts the cluster itself).
cluster-deps: setup
	$(BIN)/python -m scripts.minicluster.minicluster build

# SPNEGO for secured clusters: MIT Kerberos from Debian, then requests-kerberos built against it.
kerberos-deps: setup system-deps
	$(BIN)/pip install -q -e '.[kerberos]'

test: setup system-deps cluster-deps kerberos-deps
	$(BIN)/python -m pytest -ra

lint: setup
	$(BIN)/ruff check workbench_plugin engines spark_jobs gateway panel_app tests bench scripts
	$(BIN)/mypy
	$(BIN)/python scripts/import_graph.py

bench: setup
	$(BIN)/python bench/tracking.py
	$(BIN)/python bench/local_engine.py
	$(BIN)/python bench/engines.py

# A real HDFS + YARN mini cluster on 127.0.0.1 in the foreground (Ctrl-C stops it); needs java 17 + mvn.
minicluster: setup
	$(BIN)/python -m scripts.minicluster.minicluster start --dir .minicluster
