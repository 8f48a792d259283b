"""Shared by the benchmarks: median wall time of a call after warm-up."""

import time

import numpy as np


def median_time(fn, repeats: int, warmup: int = 2) -> float:
  """Median seconds of `repeats` calls of fn(), after `warmup` calls (compilation)."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t)
  return float(np.median(times))
