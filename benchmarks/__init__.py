"""Benchmarks for flowsim. Not tests: run them by hand, e.g. ``python -m benchmarks.fanout``."""
