"""k-fold protocols: every fold's training and evaluation, then mean ± std over the folds.

python -m hfr_jax.kfold --config=configs/pcfh.py:casia --folds=1-10 --workdir=DIR
python -m hfr_jax.kfold --config=configs/lightcnn.py:small --folds=0-2 --workdir=DIR

Each fold is an ordinary run (hfr_jax.main.run: the trainer config.method names) in
DIR/fold_N, so a fold stopped part-way resumes from its newest checkpoint, and a fold
whose DIR/fold_N/results.json exists is read, not rerun (it must have been written by
the same config). DIR/kfold.json then holds every fold's metrics and their summary,
DIR/kfold.md the table: mean ± std of each method's rank-1, VR@FAR=1% and VR@FAR=0.1%,
gap closed, and the judge's rows where the runs have a judge. std is the sample standard
deviation over the folds (ddof=1), the papers' k-fold ± (PCFH's Table 2).

What a fold is depends on config.data.name:
  casia_nir_vis2: View 2's ten train/test splits, N = 1..10 sets the builder config foldN
    (PCFH's Table 2, NULL's Table 1);
  synthetic_nir_vis: a data seed, N sets config.data.seed (a fresh set of identities):
    the synthetic set's stand-in for folds;
  the other sets have one protocol and no folds.
"""

import copy
import datetime
import json
import os
import shlex
import sys
import time

from absl import flags
import jax

from hfr_jax import cli
from hfr_jax import evaluate
from hfr_jax import fileio
from hfr_jax import main as hfr_main
from hfr_jax import multihost
from hfr_jax import report
from tfds_builders.casia_nir_vis2 import casia_nir_vis2_dataset_builder as casia

# --config and --workdir are hfr_jax.main's; here --workdir holds a directory per fold.
flags.adopt_module_key_flags(hfr_main)
_FOLDS = flags.DEFINE_string(
    'folds', None, 'Folds to run, e.g. 1-10, 0-2 or 1,4,7: CASIA NIR-VIS 2.0 View 2 folds '
    '(1-10), or data seeds of synthetic_nir_vis.')
flags.mark_flag_as_required('folds')

# config.data.name -> (what a fold sets, its description, the folds it has or None: any >= 0).
FOLD_KINDS = {
    'casia_nir_vis2': ('data.config', 'View 2 fold', tuple(range(1, len(casia.FOLDS) + 1))),
    'synthetic_nir_vis': ('data.seed', 'data seed', None),
}


def parse_folds(spec: str) -> list[int]:
  """'1-10' / '0-2' / '1,4,7' / '1-3,7' -> the fold numbers, in order, each once."""
  folds = []
  for part in (spec or '').split(','):
    part = part.strip()
    bounds = part.split('-')
    if not part or len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
      raise ValueError(f'--folds={spec!r}: expected numbers and ranges such as 1-10, 0-2 or '
                       '1,4,7')
    lo, hi = int(bounds[0]), int(bounds[-1])
    if hi < lo:
      raise ValueError(f'--folds={spec!r}: the range {part} runs backwards')
    folds += range(lo, hi + 1)
  if len(set(folds)) != len(folds):
    raise ValueError(f'--folds={spec!r}: names a fold twice')
  return folds


def fold_config(config, fold: int):
  """`config` with its data set to fold `fold` (see the module docstring); config is kept."""
  name = config.data.name
  if name not in FOLD_KINDS:
    raise ValueError(f'--folds: config.data.name={name!r} has no folds (casia_nir_vis2 has View '
                     '2 folds 1-10; synthetic_nir_vis takes data seeds)')
  field, kind, allowed = FOLD_KINDS[name]
  if allowed is not None and fold not in allowed:
    raise ValueError(f'--folds: {name} has folds {allowed[0]}-{allowed[-1]}, not {fold}')
  out = copy.deepcopy(config)
  if field == 'data.config':
    out.data.config = f'fold{fold}'
  else:
    out.data.seed = fold
  return out


def describe(config) -> str:
  """What a fold of `config` is, for people: 'View 2 fold' or 'data seed'."""
  return FOLD_KINDS[config.data.name][1]


def run_folds(config, workdir: str, folds: list[int], *, command: str | None = None,
              log=print) -> dict:
  """Runs (or reads) each fold in workdir/fold_N; writes and returns kfold.json's payload."""
  configs = [fold_config(config, fold) for fold in folds]   # every fold checked before any runs
  kind = describe(config)
  seconds = _previous_seconds(workdir)
  done = []
  for i, (fold, cfg) in enumerate(zip(folds, configs), 1):
    fold_dir = os.path.join(workdir, f'fold_{fold}')
    head = f'fold {i}/{len(folds)} ({kind} {fold})'
    results = _finished(fold_dir, cfg)
    if results is not None:
      log(f'{head}: done before, {fold_dir}/results.json')
    else:
      log(f'{head}: training and evaluating in {fold_dir}')
      start = time.monotonic()
      results = hfr_main.run(cfg, fold_dir)
      seconds[fold] = time.monotonic() - start
      log(f'{head}: {_headline(results)} in {_duration(seconds[fold])}')
    done.append({'fold': fold, 'workdir': f'fold_{fold}', 'dataset': results.get('dataset'),
                 'seconds': seconds.get(fold), 'metrics': results['metrics'],
                 **{k: results[k] for k in ('gap', 'gap_closed', *report.JUDGES)
                    if k in results}})
  payload = {
      'command': command,
      'config': json.loads(config.to_json_best_effort()),
      'fold_kind': kind,
      'folds': done,
      # The set the folds were scored on (casia_oulu: trained on CASIA folds, tested on Oulu).
      'dataset': {'name': (done[0]['dataset'] or {}).get('name', config.data.name),
                  'configs': [(f['dataset'] or {}).get('config') for f in done]},
      'summary': report.summarize(done),
      'std': 'sample standard deviation over the folds (ddof=1)',
      'git_commit': evaluate.git_commit(),
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(),
  }
  _write(workdir, 'kfold.json', json.dumps(payload, indent=2, default=str, allow_nan=False))
  _write(workdir, 'kfold.md', markdown(payload))
  return payload


def _finished(fold_dir: str, config) -> dict | None:
  """A fold's results.json, if it has one; it must come from `config`."""
  path = os.path.join(fold_dir, 'results.json')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    results = json.load(f)
  differ = _differences(json.loads(config.to_json_best_effort()), results.get('config'))
  if differ:
    raise ValueError(f'{path} was written by another config ({"; ".join(differ[:3])}): give '
                     f'another --workdir, or remove {fold_dir} to run that fold again')
  return results


def _differences(ours, theirs, path: str = 'config') -> list[str]:
  """'config.a.b: ours vs theirs' for each field where two config dicts differ."""
  if isinstance(ours, dict) and isinstance(theirs, dict):
    return [d for key in sorted(set(ours) | set(theirs))
            for d in _differences(ours.get(key), theirs.get(key), f'{path}.{key}')]
  return [] if ours == theirs else [f'{path}: {ours!r} here, {theirs!r} there']


def _previous_seconds(workdir: str) -> dict:
  """Each fold's training time from an earlier kfold.json in `workdir`, for the table."""
  try:
    with open(os.path.join(workdir, 'kfold.json')) as f:
      return {fold['fold']: fold['seconds'] for fold in json.load(f)['folds']}
  except (OSError, ValueError, KeyError):
    return {}


def _headline(results: dict) -> str:
  """'rank-1 raw_nir 20.00 %, fused 35.50 %, ...': each method's rank-1."""
  return 'rank-1 ' + ', '.join(f'{name} {100 * m["rank1"]:.2f} %'
                               for name, m in results['metrics'].items())


def _duration(seconds: float | None) -> str:
  if seconds is None:
    return '-'
  minutes, seconds = divmod(round(seconds), 60)
  return f'{minutes} min {seconds} s' if minutes else f'{seconds} s'


def table(payload: dict) -> str:
  """The mean ± std table of kfold.md, one row per method (the judge's after F's)."""
  return report.markdown_table(report.HEADER, report.summary_rows(payload['summary']))


def markdown(payload: dict) -> str:
  """kfold.md: the command, what the folds are, the mean ± std table, each fold's rank-1."""
  folds = payload['folds']
  methods = list(folds[0]['metrics'])
  judged = [(key, label, m) for key, label in report.JUDGES.items()
            for m in report.judged_methods(folds[0].get(key) or {})]
  per_fold = [[str(f['fold']), *(f'{100 * f["metrics"][m]["rank1"]:.2f}' for m in methods),
               *(f'{100 * f[key][m]["rank1"]:.2f}' for key, _, m in judged),
               _duration(f['seconds']), f'[{f["workdir"]}/report.md]({f["workdir"]}/report.md)']
              for f in folds]
  header = ['fold', *methods, *(f'{label}: {m}' for _, label, m in judged), 'time', 'report']
  command = f'`{payload["command"]}`\n\n' if payload.get('command') else ''
  summary = payload['summary']
  notes = ['Mean ± sample standard deviation (ddof=1) over the folds, in %.']
  if summary.get('gap'):
    gap = summary['gap']
    notes.append(f"Gap closed = ({gap['method']} - {gap['raw']}) / (vis_to_vis - {gap['raw']}) "
                 'rank-1, over the folds where vis_to_vis is above raw.')
  if any(summary.get(key) for key in report.JUDGES):
    notes.append('judge and photo judge rows: the same images scored by a recognizer that took '
                 'no part in training.')
  return f"""# k-fold: {payload['config'].get('method')} on {payload['dataset']['name']}

{command}{len(folds)} folds ({payload['fold_kind']}s {', '.join(str(f['fold']) for f in folds)}).
{' '.join(notes)}

{table(payload)}

Rank-1 % of each fold (time: training and evaluation, where this directory ran them):

{report.markdown_table(header, per_fold)}
"""


def _write(workdir: str, name: str, text: str):
  """`name` in `workdir`, complete or not at all (a temporary name, then renamed); from
  process 0 only when several processes run the folds (hfr_jax.multihost)."""
  if jax.process_index() != 0:
    return
  os.makedirs(workdir, exist_ok=True)
  fileio.write_text(os.path.join(workdir, name), text)


def main(argv):
  if len(argv) > 1:
    raise SystemExit(f'{cli.program()}: too many command-line arguments: {argv[1:]}')
  workdir = flags.FLAGS.workdir
  with cli.one_line_errors():
    multihost.initialize()   # hfr_jax.main's --distributed flags, before JAX's backends start
    first = jax.process_index() == 0
    payload = run_folds(flags.FLAGS.config, workdir, parse_folds(_FOLDS.value),
                        command=shlex.join(['python', '-m', 'hfr_jax.kfold', *sys.argv[1:]]),
                        log=print if first else lambda *args, **kwargs: None)
  if first:
    print(table(payload))
    print(f'Report: {workdir}/kfold.md')


if __name__ == '__main__':
  cli.run(main)
