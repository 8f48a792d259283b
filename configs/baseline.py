"""Raw-pixel baseline on the synthetic NIR-VIS set.

python -m hfr_jax.main --config=configs/baseline.py --workdir=/tmp/baseline
python -m hfr_jax.main --config=configs/baseline.py:small --workdir=/tmp/b --config.data.seed=7
"""

import os
import sys

import ml_collections

# config_flags loads this file by path, as a module of no package: the `configs` beside it
# is then made importable, wherever the command runs.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ != 'configs' and _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
from configs import common  # noqa: E402

VARIANTS = ('default', 'small')


def get_config(arg: str = 'default') -> ml_collections.ConfigDict:
  common.parse_variant(arg, 'configs/baseline.py', {'variants': VARIANTS}, single=True)
  config = ml_collections.ConfigDict()
  config.method = 'baseline'
  config.data = common.synthetic_config(arg)
  config.align_size = 64 if arg == 'default' else 32
  config.eval_batch_size = 64
  return config
