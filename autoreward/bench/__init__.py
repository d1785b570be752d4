"""Benchmarks: what env stepping and reward code cost (`env`), the task suite (`suite`), ONI's models (`intrinsic`)."""
