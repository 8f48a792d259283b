"""Raw-pixel baseline on the synthetic NIR-VIS set.

python -m hfr_jax.main --config=configs/baseline.py --workdir=/tmp/baseline
python -m hfr_jax.main --config=configs/baseline.py:small --workdir=/tmp/b --config.data.seed=7
"""

import ml_collections


def synthetic_data(variant: str = 'default') -> ml_collections.ConfigDict:
  """config.data for synthetic_nir_vis; `small` is the 64x64 CPU/test set."""
  data = ml_collections.ConfigDict()
  data.name = 'synthetic_nir_vis'
  data.config = ''             # builder config name, for datasets other than synthetic
  data.data_dir = ml_collections.config_dict.placeholder(str)   # None: TFDS default
  data.seed = 0
  if variant == 'small':
    data.num_identities, data.resolution = 40, 64
    data.vis_per_identity, data.nir_per_identity = 3, 3
  else:
    data.num_identities, data.resolution = 360, 144
    data.vis_per_identity, data.nir_per_identity = 4, 6
  return data


def get_config(arg: str = 'default') -> ml_collections.ConfigDict:
  if arg not in ('default', 'small'):
    raise ValueError(f'configs/baseline.py: unknown variant {arg!r} (default, small)')
  config = ml_collections.ConfigDict()
  config.method = 'baseline'
  config.data = synthetic_data(arg)
  config.align_size = 64 if arg == 'default' else 32
  config.eval_batch_size = 64
  return config
