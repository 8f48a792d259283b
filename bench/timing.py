"""Shared by the benchmarks: median wall time after warm-up, the XLA conv flag, and the
training-step benchmarks' flags and measurement (time, FLOPs, model-FLOP utilisation)."""

import argparse
import os
import sys
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


def step_parser(variant: str) -> argparse.ArgumentParser:
  """Flags of a training-step benchmark: config variant, batch, repeats, peak matmul, convs."""
  parser = argparse.ArgumentParser()
  parser.add_argument('--variant', default=variant)
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--matmul', type=int, default=2048, help='side of the peak matmul')
  add_conv_flag(parser)
  return parser


def parse_step_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
  """Parses, prints the command line and applies the conv flag (before jax is imported)."""
  args = parser.parse_args()
  print(f'python {os.path.relpath(sys.argv[0])} ' + ' '.join(sys.argv[1:]))
  apply_conv_flag(args)
  return args


def step_utilisation(step, state, batch, *, repeats: int, matmul: int, images: int) -> dict:
  """Compiles a jit'd `step(state, batch, rng) -> (state, metrics)` and measures it.

  Prints compile time, step time, the compiled step's FLOPs (XLA cost analysis),
  the rate of a `matmul` x `matmul` float32 jnp.dot measured in the same run
  as the peak, and model-FLOP utilisation = (FLOPs / step time) / peak.
  """
  import jax
  import jax.numpy as jnp

  t = time.perf_counter()
  compiled = step.lower(state, batch, jax.random.key(0)).compile()
  print(f'compile {time.perf_counter() - t:.1f} s')
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = float(cost['flops'])

  holder = {'state': state}
  def run_step():
    holder['state'], metrics = compiled(holder['state'], batch, jax.random.key(1))
    jax.block_until_ready(metrics)
  step_time = median_time(run_step, repeats, warmup=1)

  a = jax.random.normal(jax.random.key(0), (matmul, matmul), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (matmul, matmul), jnp.float32)
  dot = jax.jit(jnp.dot)
  peak = 2 * matmul**3 / median_time(lambda: dot(a, b).block_until_ready(), max(repeats, 10))

  achieved = flops / step_time
  mfu = achieved / peak
  print(f'step {step_time * 1e3:.1f} ms  ({images / step_time:.2f} img/s)  '
        f'{flops / 1e9:.1f} GFLOP/step (XLA cost analysis)')
  print(f'achieved {achieved / 1e9:.1f} GFLOP/s; f32 matmul {matmul}x{matmul} peak '
        f'{peak / 1e9:.1f} GFLOP/s')
  print(f'model-FLOP utilisation {mfu:.1%}  (target >= 35%: {"PASS" if mfu >= 0.35 else "FAIL"})')
  return {'step_time': step_time, 'flops': flops, 'peak': peak, 'mfu': mfu}
