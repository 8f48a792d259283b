"""Entry point: python -m hfr_jax.main --config=configs/<x>.py[:variant] --workdir=DIR.

Prints the dataset and training progress, the results table and the report's
path; --verbosity=1 adds every library's log records (see hfr_jax/cli.py).
Several processes (a TPU pod slice, GPU machines): --distributed, or
--coordinator_address, --num_processes and --process_id (see hfr_jax/multihost.py).
"""

import importlib

from absl import flags
from absl import logging
from ml_collections import config_flags

from hfr_jax import cli
from hfr_jax import multihost
from hfr_jax import report

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, logs and reports go.')
flags.mark_flags_as_required(['config', 'workdir'])

# config.method -> module with train_and_evaluate(config, workdir).
TRAINERS = {
    'baseline': 'hfr_jax.baseline',
    'kmeans': 'hfr_jax.null.kmeans',
    'lightcnn': 'hfr_jax.recognizer.train',
    'null': 'hfr_jax.null.train',
    'pcfh': 'hfr_jax.pcfh.train',
}


def run(config, workdir: str) -> dict:
  """Trains and evaluates `config` in `workdir` with config.method's trainer: results.json.

  The one way a config becomes a run, for this entry point and hfr_jax.kfold's folds.
  A run resumes from the newest checkpoint in `workdir`.
  """
  if config.method not in TRAINERS:
    raise ValueError(f'config.method={config.method!r} is not one of {sorted(TRAINERS)}')
  trainer = importlib.import_module(TRAINERS[config.method])
  return trainer.train_and_evaluate(config, workdir)


def main(argv):
  if len(argv) > 1:
    raise SystemExit(f'{cli.program()}: too many command-line arguments: {argv[1:]}')
  # Not at the top: a mistyped flag or config field ends before JAX's seconds of imports.
  import jax  # pylint: disable=import-outside-toplevel
  with cli.one_line_errors():
    multihost.initialize()   # before anything starts JAX's backends
    logging.info('JAX process %d / %d, devices: %s', jax.process_index(), jax.process_count(),
                 jax.devices())
    payload = run(_CONFIG.value, _WORKDIR.value)
  if jax.process_index() == 0:   # every process has the payload; one prints it
    print(report.format_table(payload))
    print(f'Report: {_WORKDIR.value}/report.md')


if __name__ == '__main__':
  cli.run(main)
