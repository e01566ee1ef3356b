"""Benchmarks (pytest-benchmark) and their markdown report."""
