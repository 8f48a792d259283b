"""PCFH training step at the `default` config's shapes: time, FLOPs, utilisation.

python bench/pcfh_step.py [--variant default --batch 8 --repeats 5 --matmul 2048]

One jit'd step (GA/GB/A, DA and NE updates, the frozen recognizer, the IDW
warp) on random data of the config's shapes, with a LightCNN-29v2 recognizer
at 128x128 as in the paper. FLOPs come from the compiled step's XLA cost
analysis; model-FLOP utilisation = (FLOPs / step time) / peak, with the peak
measured in the same run as the rate of a large float32 matmul (jnp.dot).
Target: >= 35 %.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from timing import parse_step_args, step_parser, step_utilisation  # noqa: E402  (bench/timing.py)


def main():
  parser = step_parser('default')
  parser.add_argument('--recognizer_arch', default='29v2')
  args = parse_step_args(parser)

  from flax import nnx
  import jax

  from configs import pcfh as pcfh_config
  from hfr_jax import sharding
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
  mesh = sharding.make_mesh()
  graphdef, state = nnx.split(trainer)
  state = sharding.replicate(state, mesh)
  rng = np.random.default_rng(0)
  lm = np.asarray(align.mean_face(r))
  batch = {'nir_image': rng.integers(0, 256, (args.batch, r, r, 3), dtype=np.uint8),
           'vis_image': rng.integers(0, 256, (args.batch, r, r, 3), dtype=np.uint8),
           'nir_landmarks': (lm + rng.normal(0, 1, (args.batch, 68, 2))).astype(np.float32),
           'vis_landmarks': (lm + rng.normal(0, 1, (args.batch, 68, 2))).astype(np.float32)}
  batch = sharding.shard_batch(batch, mesh)
  step = train.make_train_step(config, graphdef)

  print(f'config pcfh.py:{args.variant}  {r}x{r}  batch {args.batch}  '
        f'recognizer LightCNN-{args.recognizer_arch} 128x128')
  step_utilisation(step, state, batch, repeats=args.repeats, matmul=args.matmul,
                   images=args.batch)


if __name__ == '__main__':
  main()
