# Everything a fresh clone needs: `make demo` and `make test` set up the environment themselves.
PYTHON ?= $(shell command -v python3.11 || echo python3.11)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Neo4j jars: ALCHEMISCALE_NEO4J_LIB if set, else .cache/neo4j/lib here (alchemiscale.local.neo4jserver.default_lib_dir)
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2

.PHONY: help install system upstream-peer neo4j test test-unit fuzz demo docs bench bench-full clean

help:
	@echo "make demo   - set up and run a local deployment computing a small hydration free energy network"
	@echo "make test   - set up and run the test suite"
	@echo "make fuzz   - schemathesis against both APIs, FUZZ_CASES (default 1000) generated cases per API"
	@echo "make docs   - build the Sphinx documentation (warnings are errors)"
	@echo "make bench  - quick benchmarks (bench/); make bench-full for the full preset"

UPSTREAM_VENV := .venv-upstream
UPSTREAM_STAMP := $(UPSTREAM_VENV)/.installed
REQUIREMENTS := $(wildcard devtools/requirements/*.txt) devtools/install-env.sh
# the gufe 1.x / openfe wheels; without them the stack comes from its public git tags
export ALCHEMISCALE_WHEELHOUSE ?= $(abspath ../shared/wheels)
export PYTHON
# AmberTools' sqm (openfe's default AM1-BCC charges) is installed into the environment's bin/
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

$(STAMP): pyproject.toml $(REQUIREMENTS)
	bash devtools/install-env.sh $(VENV) chemistry,notebook,test,docs
	touch $(STAMP)

# upstream alchemiscale 0.8.0 in an environment of its own: a real peer for the tests, and for the benchmarks its
# servers and store side by side
$(UPSTREAM_STAMP): $(REQUIREMENTS)
	bash devtools/install-env.sh --upstream $(UPSTREAM_VENV)
	touch $(UPSTREAM_STAMP)

install: $(STAMP) neo4j system

# Chromium and chromedriver for the dashboard's browser test (apt-get as root, else a hint)
system:
	bash devtools/install-system.sh

upstream-peer: $(UPSTREAM_STAMP)

neo4j: $(STAMP)
	$(PY) -m alchemiscale.local.neo4jserver fetch

test: install upstream-peer
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest alchemiscale/tests/unit $(PYTEST_ARGS)

# the suite runs the same fuzz test with a small budget
FUZZ_CASES ?= 1000
fuzz: install
	ALCHEMISCALE_FUZZ_CASES=$(FUZZ_CASES) $(PY) -m pytest -n 0 -s alchemiscale/tests/integration/faults/test_schemathesis.py $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/alchemiscale demo

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: install upstream-peer
	$(PY) -m bench.run

bench-full: install upstream-peer
	$(PY) -m bench.run --full

clean:
	rm -rf docs/_build .pytest_cache
