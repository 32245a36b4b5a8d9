# qlake — the two commands that matter: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= $(CURDIR)/lake
SAMPLE ?= $(CURDIR)/../shared/data/raw

.PHONY: install demo test fuzz bench bench-stream clean services-down

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "Java 17 is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: install
	QLAKE_HOME=$(DEMO_HOME) SAMPLE=$(SAMPLE) bash scripts/demo.sh

test: install
	$(BIN)/python -m pytest -q

# Longer fuzzing of the delivery reader than the suite's one-minute budget (tests/test_delivery_fuzz.py).
fuzz: install
	QLAKE_FUZZ_EXAMPLES=20000 QLAKE_FUZZ_RUN_EXAMPLES=400 $(BIN)/python -m pytest -q tests/test_delivery_fuzz.py

bench: install
	$(BIN)/python -m bench; status=$$?; $(BIN)/python -m bench.stream --runs 3 --out bench/results_stream.json; exit $$status

bench-stream: install
	$(BIN)/python -m bench.stream --runs 3 --out bench/results_stream.json

services-down:
	QLAKE_HOME=$(DEMO_HOME) $(BIN)/qlake services down

clean: services-down
	rm -rf $(DEMO_HOME)
