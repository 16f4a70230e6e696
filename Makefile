# Everything a fresh clone needs: `make demo` and `make test` set up the environment themselves.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export ALCHEMISCALE_NEO4J_LIB ?= $(CURDIR)/.cache/neo4j/lib
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2

.PHONY: help install neo4j test test-unit demo docs bench bench-full clean

help:
	@echo "make demo   - set up and run a local deployment computing a small hydration free energy network"
	@echo "make test   - set up and run the test suite"
	@echo "make docs   - build the Sphinx documentation (warnings are errors)"
	@echo "make bench  - quick benchmarks (bench/); make bench-full for the full preset"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[chemistry,test,docs]'
	touch $(STAMP)

install: $(STAMP) neo4j

neo4j: $(STAMP)
	$(PY) -m alchemiscale.neo4jserver fetch --lib-dir $(ALCHEMISCALE_NEO4J_LIB)

test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest alchemiscale/tests/unit $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/alchemiscale demo

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: install
	$(PY) -m bench.run

bench-full: install
	$(PY) -m bench.run --full

clean:
	rm -rf docs/_build .pytest_cache
