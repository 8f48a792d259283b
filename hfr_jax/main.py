"""Entry point: python -m hfr_jax.main --config=configs/<x>.py[:variant] --workdir=DIR."""

import importlib

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from hfr_jax import xla_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and reports go.')
flags.mark_flags_as_required(['config', 'workdir'])

# config.method -> module with train_and_evaluate(config, workdir).
TRAINERS = {
    'baseline': 'hfr_jax.baseline',
    'lightcnn': 'hfr_jax.recognizer.train',
    'pcfh': 'hfr_jax.pcfh.train',
}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Too many command-line arguments: {argv[1:]}')
  xla_flags.prefer_eigen_convolutions()   # before JAX starts its CPU backend
  config = _CONFIG.value
  if config.method not in TRAINERS:
    raise app.UsageError(f'--config: config.method={config.method!r} is not one of '
                         f'{sorted(TRAINERS)}')
  logging.info('JAX process %d / %d, devices: %s', jax.process_index(), jax.process_count(),
               jax.devices())
  trainer = importlib.import_module(TRAINERS[config.method])
  try:
    trainer.train_and_evaluate(config, _WORKDIR.value)
  except (ValueError, FileNotFoundError, FloatingPointError) as e:
    # Bad configs, files and datasets (and a non-finite loss) raise these with a message that
    # names the key, file or step: show that one line; --verbosity=1 keeps the traceback.
    if logging.get_verbosity() >= logging.DEBUG:
      raise
    raise SystemExit(f'hfr_jax.main: {e}') from None
  print(f'Report: {_WORKDIR.value}/report.md')


if __name__ == '__main__':
  app.run(main)
