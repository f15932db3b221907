"""The benchmark (`make bench`): see BENCHMARKS.md and bench/run.py."""
