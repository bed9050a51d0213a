"""Benchmarks of sapnet_ros: inference backends and the node's plumbing."""
