"""Raw-pixel baseline on the synthetic NIR-VIS set.

python -m hfr_jax.main --config=configs/baseline.py --workdir=/tmp/baseline
python -m hfr_jax.main --config=configs/baseline.py:small --workdir=/tmp/b --config.data.seed=7
"""

import ml_collections

from hfr_jax import datasets


def get_config(arg: str = 'default') -> ml_collections.ConfigDict:
  if arg not in ('default', 'small'):
    raise ValueError(f'configs/baseline.py: unknown variant {arg!r} (default, small)')
  config = ml_collections.ConfigDict()
  config.method = 'baseline'
  config.data = datasets.synthetic_config(arg)
  config.align_size = 64 if arg == 'default' else 32
  config.eval_batch_size = 64
  return config
