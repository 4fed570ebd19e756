"""Real servers for tests, benchmarks and `make lab` on one machine (not shipped in the wheel)."""
