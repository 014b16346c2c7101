"""Benchmarks and soak tests, run outside the test suite: `python -m bench`, `python -m bench.soak`."""
