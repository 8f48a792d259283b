"""Entry point: python -m hfr_jax.main --config=configs/<x>.py[:variant] --workdir=DIR.

Prints the dataset and training progress, the results table and the report's
path; --verbosity=1 adds every library's log records (see hfr_jax/cli.py).
Several processes (a TPU pod slice, GPU machines): --distributed, or
--coordinator_address, --num_processes and --process_id (see hfr_jax/multihost.py).
"""

import importlib
import math

from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from hfr_jax import cli
from hfr_jax import evaluate
from hfr_jax import multihost

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


# payload['metrics'] keys -> table columns, in percent as in report.md.
COLUMNS = (('rank1', 'rank-1'), ('rank5', 'rank-5'), ('vr_at_far_1e-2', 'VR@FAR=1%'),
           ('vr_at_far_1e-3', 'VR@FAR=0.1%'), ('eer', 'EER'))


def format_table(payload: dict) -> str:
  """The results a run ends with: one row per method (%), then gap_closed if reported.

  With judges (recognizers that took no part in training: payload['judge'],
  payload['photo_judge']), their rows follow as '<judge>: <method>', then their gap closed.
  """
  judges = {key: evaluate.judged_methods(payload[key])
            for key in evaluate.JUDGES if payload.get(key)}   # in JUDGES' order
  # NULL's translations, under each recognizer that scored them.
  translation = payload.get('translation') or {}
  translated = {key: evaluate.judged_methods(translation[key])
                for key in ('f', *evaluate.JUDGES) if translation.get(key)}
  label = evaluate.recognizer_label
  rows = payload['metrics']
  width = max(len('method (%)'), *map(len, rows),
              *(len(f'{label(key)}: {name}') for by in (judges, translated)
                for key, m in by.items() for name in m))
  cell = lambda value: '-' if value is None else f'{100 * value:.2f}'
  row = lambda name, m: name.ljust(width) + ''.join(f'{cell(m.get(key)):>13}'
                                                    for key, _ in COLUMNS)
  lines = ['method (%)'.ljust(width) + ''.join(f'{title:>13}' for _, title in COLUMNS)]
  lines += [row(name, m) for name, m in rows.items()]
  lines += _gap_line('', payload)
  for key, methods in judges.items():
    lines += [row(f'{label(key)}: {name}', m) for name, m in methods.items()]
    lines += _gap_line(f'{label(key)}: ', payload[key])
  for key, methods in translated.items():
    lines += [row(f'{label(key)}: {name}', m) for name, m in methods.items()]
    lines += _gap_line(f'{label(key)}: ', translation[key], method='translation')
  shares = payload.get('identity_share')
  if shares:
    lines.append('identity share of each code: ' + ', '.join(f'{k} {v:.3f}'
                                                            for k, v in shares.items()))
  validated = payload.get('fused_validated')
  if validated:
    f = validated['f']
    gap = '-' if f['gap_closed'] is None else f'{100 * f["gap_closed"]:.1f} %'
    others = ''.join(f'; {label(key)}: rank-1 {cell(validated[key]["rank1"])} %'
                     for key in evaluate.JUDGES if key in validated)
    lines.append(f"fused with GA at weight {validated['weight']:.2f} (chosen on held-out "
                 f"training identities): rank-1 {cell(f['rank1'])} %, gap closed {gap}"
                 f"{others}")
  twin = payload.get('twin_fidelity')
  if twin:
    for key, by in twin.items():
      lines.append(f'twin fidelity under {label(key)}: cosine to own VIS twin ' + ', '.join(
          f'{name} {m["cosine"]:.3f}' for name, m in by.items()) + '; TAR@FAR=1% ' + ', '.join(
          f'{name} {cell(m["tar_at_far_1e-2"])}' for name, m in by.items()))
  return '\n'.join(lines)


def _gap_line(prefix: str, results: dict, method: str = 'fused') -> list[str]:
  gap = results.get('gap_closed')
  if gap is None:
    return []
  shown = 'undefined (vis_to_vis is not above raw)' if math.isnan(gap) else f'{100 * gap:.1f} %'
  return [f'{prefix}gap closed, ({method} - raw) / (vis_to_vis - raw) rank-1: {shown}']


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
  with cli.one_line_errors():
    multihost.initialize()   # before anything starts JAX's backends
    logging.info('JAX process %d / %d, devices: %s', jax.process_index(), jax.process_count(),
                 jax.devices())
    payload = run(_CONFIG.value, _WORKDIR.value)
  if jax.process_index() == 0:   # every process has the payload; one prints it
    print(format_table(payload))
    print(f'Report: {_WORKDIR.value}/report.md')


if __name__ == '__main__':
  cli.run(main)
