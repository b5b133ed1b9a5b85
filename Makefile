# zeroetl developer entry points. `make help` lists them.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The C extensions (setup.py): rebuilt in place whenever their sources change.
NATIVE := $(VENV)/.native
NATIVE_SRC := setup.py $(wildcard src/zeroetl/native/*.c src/zeroetl/native/*.h)

.PHONY: help demo test test-fast layers lint format bench clean

help:  ## this list
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/' | expand -t 14

$(STAMP): pyproject.toml
	@command -v mariadbd >/dev/null 2>&1 || test -x /usr/sbin/mariadbd || { \
	  echo "MariaDB server binaries missing: installing mariadb-server (needs root/apt)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client) \
	  || { echo "install them with: sudo apt-get install mariadb-server"; exit 1; }; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP) $(NATIVE)

$(NATIVE): $(STAMP) $(NATIVE_SRC)
	$(BIN)/pip install -q --no-deps -e .
	touch $(NATIVE)

# Options of `zeroetl demo` (ports, directory, size), e.g.
#   make demo DEMO_ARGS="--port 3317 --api-port 8156 --sql-port 5440 --dir /tmp/zeroetl-demo"
DEMO_ARGS ?=

demo: $(NATIVE)  ## sandbox + TICKIT + integration + analytics, then live traffic (DEMO_ARGS="--port N ...")
	$(BIN)/zeroetl demo $(DEMO_ARGS)

test: $(NATIVE)  ## lint (ruff, mypy, import layers) and the whole test suite (real MariaDB, DuckDB, ...)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/python tests/import_graph.py
	$(BIN)/pytest -q

test-fast: $(NATIVE)  ## unit tests and the destination conformance suite
	$(BIN)/pytest -q tests/unit tests/destinations

layers: $(STAMP)  ## import graph: layer breaches and cycles (lazy imports included)
	$(BIN)/python tests/import_graph.py

lint: $(STAMP)  ## ruff + mypy
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)  ## benchmarks against same-run baselines; results in bench/results/
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .zeroetl .pytest_cache .ruff_cache .mypy_cache
