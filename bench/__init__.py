"""Benchmarks for Asthron: ``scripts/bench`` (or ``python -m bench``) runs them all.

These are measurements, never tests: nothing here asserts on timing in the test suite.
Each benchmark module has ``NAME``, ``TITLE`` and ``run(ctx) -> list[Result]``; the shared
pieces (results, percentiles, the server subprocess, the report) live in ``bench.harness``.
"""
