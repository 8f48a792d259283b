"""Shared by the benchmarks: median wall time after warm-up, the XLA conv flag."""

import os
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


def add_conv_flag(parser) -> None:
  parser.add_argument('--xla_default_convs', action='store_true',
                      help="keep XLA's default (YNNPACK) CPU convolutions")


def apply_conv_flag(args) -> None:
  """Eigen convolutions unless --xla_default_convs; call before hfr_jax or jax is imported."""
  if args.xla_default_convs:
    os.environ['HFR_JAX_DEFAULT_CONVS'] = '1'   # hfr_jax.xla_flags.OPT_OUT
  from hfr_jax import xla_flags
  xla_flags.prefer_eigen_convolutions()
  print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
