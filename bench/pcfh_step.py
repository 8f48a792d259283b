"""PCFH training step at the `default` config's shapes: time, FLOPs, utilisation.

python bench/pcfh_step.py [--variant default --batch 8 --repeats 5 --matmul 2048]

One jit'd step (GA/GB/A, DA and NE updates, the frozen recognizer, the IDW
warp) on random data of the config's shapes, with a LightCNN-29v2 recognizer
at 128x128 as in the paper. FLOPs come from the compiled step's XLA cost
analysis; model-FLOP utilisation = (FLOPs / step time) / peak, with the peak
measured in the same run as the rate of a large float32 matmul (jnp.dot).
Target: >= 35 %.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from timing import add_conv_flag, apply_conv_flag, median_time  # noqa: E402  (bench/timing.py)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--variant', default='default')
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--matmul', type=int, default=2048, help='side of the peak matmul')
  parser.add_argument('--recognizer_arch', default='29v2')
  add_conv_flag(parser)
  args = parser.parse_args()
  print('python bench/pcfh_step.py ' + ' '.join(sys.argv[1:]))
  apply_conv_flag(args)

  from flax import nnx
  import jax
  import jax.numpy as jnp

  from configs import pcfh as pcfh_config
  from hfr_jax import training
  from hfr_jax.models import lightcnn
  from hfr_jax.ops import align
  from hfr_jax.pcfh import train

  print(f'jax {jax.__version__} {jax.devices()}')
  config = pcfh_config.get_config(args.variant)
  config.train.batch_size = args.batch
  r = config.data.resolution
  recognizer = lightcnn.create(args.recognizer_arch, num_classes=1000, input_size=128,
                               rngs=nnx.Rngs(0))
  recognizer.eval()
  trainer = train.Trainer(config, recognizer, rngs=nnx.Rngs(0))
  mesh = training.make_mesh()
  graphdef, state = nnx.split(trainer)
  state = training.replicate(state, mesh)
  rng = np.random.default_rng(0)
  lm = np.asarray(align.mean_face(r))
  batch = {'nir_image': rng.integers(0, 256, (args.batch, r, r, 3), dtype=np.uint8),
           'vis_image': rng.integers(0, 256, (args.batch, r, r, 3), dtype=np.uint8),
           'nir_landmarks': (lm + rng.normal(0, 1, (args.batch, 68, 2))).astype(np.float32),
           'vis_landmarks': (lm + rng.normal(0, 1, (args.batch, 68, 2))).astype(np.float32)}
  batch = training.shard_batch(batch, mesh)
  step = train.make_train_step(config, graphdef)

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
  step_time = median_time(run_step, args.repeats, warmup=1)

  n = args.matmul
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  matmul = jax.jit(jnp.dot)
  mm_time = median_time(lambda: matmul(a, b).block_until_ready(), max(args.repeats, 10))
  peak = 2 * n**3 / mm_time

  achieved = flops / step_time
  print(f'config pcfh.py:{args.variant}  {r}x{r}  batch {args.batch}  '
        f'recognizer LightCNN-{args.recognizer_arch} 128x128')
  print(f'step {step_time * 1e3:.1f} ms  ({args.batch / step_time:.2f} img/s)  '
        f'{flops / 1e9:.1f} GFLOP/step (XLA cost analysis)')
  print(f'achieved {achieved / 1e9:.1f} GFLOP/s; f32 matmul {n}x{n} peak '
        f'{peak / 1e9:.1f} GFLOP/s')
  mfu = achieved / peak
  print(f'model-FLOP utilisation {mfu:.1%}  (target >= 35%: {"PASS" if mfu >= 0.35 else "FAIL"})')


if __name__ == '__main__':
  main()
