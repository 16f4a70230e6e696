"""Benchmarks of a running alchemiscale stack: real Neo4j, real object store, APIs over HTTP.

Run ``python -m bench.run`` (quick preset) or ``python -m bench.run --full``; every figure is
printed on its own line and written to ``bench/results/`` (see README.md, "Benchmarks").
"""
