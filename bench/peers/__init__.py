"""Peer servers the benchmarks measure Yubin against (not a benchmark itself)."""
