"""The benchmark harness behind bench/run, split by concern (see bench/bench.py)."""
