"""NULL training step at the `vae_gan` config's shapes: time, FLOPs, utilisation.

python bench/null_step.py [--variant vae_gan --batch 8 --repeats 5 --matmul 2048]

One jit'd step (both domains' encoders and decoders, the translations and
their re-encodings, both multi-scale discriminators, both Adam updates) on
random faces of the data's size (144x144, aligned to the model's 128x128
crops inside the step). FLOPs come from the compiled step's XLA cost
analysis; model-FLOP utilisation = (FLOPs / step time) / peak, with the peak
measured in the same run as the rate of a large float32 matmul (jnp.dot), as
bench/pcfh_step.py measures PCFH's. Target: >= 35 %.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from timing import parse_step_args, step_parser, step_utilisation  # noqa: E402  (bench/timing.py)


def main():
  parser = step_parser('vae_gan')
  args = parse_step_args(parser)

  from flax import nnx
  import jax

  from configs import null as null_config
  from hfr_jax import sharding
  from hfr_jax.null import train
  from hfr_jax.ops import align

  print(f'jax {jax.__version__} {jax.devices()}')
  config = null_config.get_config(args.variant)
  config.train.batch_size = args.batch
  r, crop = config.data.resolution, config.model.resolution
  trainer = train.Trainer(config, rngs=nnx.Rngs(0))
  mesh = sharding.make_mesh()
  graphdef, state = nnx.split(trainer)
  state = sharding.replicate(state, mesh)
  rng = np.random.default_rng(0)
  mean_face = np.asarray(align.mean_face(r))
  faces = lambda: rng.integers(0, 256, (args.batch, r, r, 3), dtype=np.uint8)
  points = lambda: (mean_face + rng.normal(0, 1, (args.batch, 68, 2))).astype(np.float32)
  batch = {'nir_image': faces(), 'nir_landmarks': points(), 'vis_image': faces(),
           'vis_landmarks': points()}
  batch = sharding.shard_batch(batch, mesh)
  step = train.make_train_step(config, graphdef)
  params = sum(x.size for x in jax.tree.leaves(nnx.state(trainer, nnx.Param)))

  print(f'config null.py:{args.variant}  data {r}x{r} -> crops {crop}x{crop}  batch {args.batch}  '
        f'{params / 1e6:.1f} M parameters (generator + discriminators)')
  step_utilisation(step, state, batch, repeats=args.repeats, matmul=args.matmul,
                   images=2 * args.batch)


if __name__ == '__main__':
  main()
