"""Benchmarks that print numbers; docs/benchmarks.md records them."""
