"""The k-fold driver: folds -> configs, mean and sample std against numpy over the folds'
results.json, resuming without rerunning a finished fold, and the command line end to end."""

import json
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import kfold
from hfr_jax import main as hfr_main
from hfr_jax import report
from configs import common
from configs import lightcnn as lightcnn_config
from configs import null as null_config
from configs import pcfh as pcfh_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = ('rank1', 'vr_at_far_1e-2', 'vr_at_far_1e-3')
CALLS = []   # (data seed, workdir) of each stub training
STOP_ON = set()   # data seeds whose stub training stops part-way


class Stopped(Exception):
  """A run that ended part-way (killed, out of memory, ...)."""


def train_and_evaluate(config, workdir):
  """A stub trainer (config.method 'stub' -> this module): scores drawn from the data seed.

  Raises Stopped on the seeds in STOP_ON, as a run stopped part-way ends.
  """
  CALLS.append((config.data.seed, workdir))
  if config.data.seed in STOP_ON:
    raise Stopped
  curves = stub_curves(config.data.seed)
  judged = stub_curves(config.data.seed + 100)
  return evaluate.write_report(workdir, curves, title='stub', config=config,
                               dataset={'name': config.data.name, 'config': 'stub'},
                               gap=('raw_nir', 'fused'),
                               judges={'judge': (judged, {'arch': '9'}),
                                       'photo_judge': (stub_curves(config.data.seed + 200),
                                                       {'arch': 'dlib'})})


def stub_curves(seed):
  rng = np.random.default_rng(seed)
  gallery_ids, probe_ids = np.arange(10), rng.integers(0, 10, 40)
  scores = lambda ids, signal: rng.normal(size=(len(ids), 10)) + signal * (
      ids[:, None] == gallery_ids)
  raw, gen = scores(probe_ids, rng.uniform(0.5, 1.5)), scores(probe_ids, rng.uniform(1, 3))
  vis_ids = rng.integers(0, 10, 30)
  return {'raw_nir': (raw, probe_ids, gallery_ids), 'stub': (gen, probe_ids, gallery_ids),
          'fused': ((raw + gen) / 2, probe_ids, gallery_ids),
          'vis_to_vis': (scores(vis_ids, 4.0), vis_ids, gallery_ids)}


@pytest.fixture
def stub(monkeypatch):
  monkeypatch.setitem(hfr_main.TRAINERS, 'stub', __name__)
  CALLS.clear()
  STOP_ON.clear()
  return ml_collections.ConfigDict({
      'method': 'stub', 'train': {'num_steps': 10},
      'data': common.synthetic_config('small').to_dict()})


def test_folds_are_ranges_and_lists_and_a_bad_one_names_the_flag():
  assert kfold.parse_folds('1-10') == list(range(1, 11))
  assert kfold.parse_folds('0-2') == [0, 1, 2]
  assert kfold.parse_folds('1,4, 7') == [1, 4, 7]
  assert kfold.parse_folds('1-3,7') == [1, 2, 3, 7]
  for bad in ('', 'x', '3-1', '1-2-3', '1,,2', '-1', '1,1', '1-3,2'):
    with pytest.raises(ValueError, match='^--folds'):
      kfold.parse_folds(bad)


def test_a_casia_fold_is_its_builder_config_for_pcfh_null_and_the_recognizer(tmp_path):
  for config in (pcfh_config.get_config('casia'), null_config.get_config('casia'),
                 lightcnn_config.get_config('evaluate')):
    fold = kfold.fold_config(config, 7)
    assert fold.data.config == 'fold7' and config.data.config == 'fold1'   # a copy
    assert _flat(fold.to_dict()) ^ _flat(config.to_dict()) == {
        ('data.config', 'fold7'), ('data.config', 'fold1')}
    fold.data.data_dir = str(tmp_path)
    assert datasets.builder(fold.data).builder_config.name == 'fold7'   # the builder's own
    for bad in (0, 11):
      with pytest.raises(ValueError, match=f'^--folds: casia_nir_vis2 has folds 1-10, not {bad}'):
        kfold.fold_config(config, bad)


def test_a_synthetic_fold_is_a_data_seed_and_other_sets_have_none():
  for config in (pcfh_config.get_config('demo'), null_config.get_config('demo'),
                 lightcnn_config.get_config('small')):
    fold = kfold.fold_config(config, 2)
    assert fold.data.seed == 2 and config.data.seed == 0
    assert _flat(fold.to_dict()) ^ _flat(config.to_dict()) == {('data.seed', 2), ('data.seed', 0)}
  with pytest.raises(ValueError, match="^--folds: config.data.name='oulu_casia_nir_vis' has no"):
    kfold.fold_config(null_config.get_config('oulu'), 1)


def _flat(tree, prefix=''):
  """{('a.b', leaf)}: a nested dict as a set of (path, value) pairs."""
  if isinstance(tree, dict):
    return {pair for k, v in tree.items() for pair in _flat(v, f'{prefix}{k}.')}
  return {(prefix[:-1], repr(tree) if isinstance(tree, (list, dict)) else tree)}


def test_mean_and_std_are_numpys_over_the_folds_results_json(stub, tmp_path):
  payload = kfold.run_folds(stub, str(tmp_path), [3, 4, 5], log=lambda _: None)
  runs = [json.loads((tmp_path / f'fold_{n}' / 'results.json').read_text()) for n in (3, 4, 5)]
  saved = json.loads((tmp_path / 'kfold.json').read_text())
  assert saved['summary'] == payload['summary'] and [f['fold'] for f in saved['folds']] == [3, 4, 5]
  md = report.parse_markdown_tables((tmp_path / 'kfold.md').read_text())[0]
  assert md[0] == list(report.HEADER)
  rows = {row[0]: row[1:] for row in md[1:]}
  prefixes = {'': None, 'judge: ': 'judge', 'photo judge: ': 'photo_judge'}
  assert list(rows) == [prefix + m for prefix in prefixes for m in runs[0]['metrics']]
  for prefix, key in prefixes.items():
    get = (lambda r: r) if key is None else (lambda r, key=key: r[key])
    for method in runs[0]['metrics']:
      values = np.array([[get(r)[method][k] for k in METRICS] for r in runs])
      mean, std = values.mean(axis=0), values.std(axis=0, ddof=1)
      stats = (payload['summary'][key] if key else payload['summary'])['metrics'][method]
      np.testing.assert_allclose([stats[k]['mean'] for k in METRICS], mean, rtol=1e-12)
      np.testing.assert_allclose([stats[k]['std'] for k in METRICS], std, rtol=1e-12)
      cells = [c.split(' ± ') for c in rows[prefix + method][:3]]
      np.testing.assert_allclose(np.array(cells, float), 100 * np.stack([mean, std], 1),
                                 atol=0.005 + 1e-9)
    gaps = np.array([get(r)['gap_closed'] for r in runs])
    closed = rows[prefix + 'fused'][3].split(' ± ')
    np.testing.assert_allclose(np.array(closed, float),
                               [100 * gaps.mean(), 100 * gaps.std(ddof=1)], atol=0.05 + 1e-9)
    assert all(rows[prefix + m][3] == '' for m in ('raw_nir', 'stub', 'vis_to_vis'))


def test_finished_folds_are_read_and_a_stopped_fold_runs_again(stub, tmp_path):
  log = []
  kfold.run_folds(stub, str(tmp_path), [0, 1], log=log.append)
  assert [seed for seed, _ in CALLS] == [0, 1]
  STOP_ON.add(3)   # fold 3 stops part-way: folds 0-2 keep their results
  with pytest.raises(Stopped):
    kfold.run_folds(stub, str(tmp_path), [0, 1, 2, 3, 4], log=log.append)
  assert [seed for seed, _ in CALLS] == [0, 1, 2, 3]
  assert log[-5:-2] == [f'fold 1/5 (data seed 0): done before, {tmp_path}/fold_0/results.json',
                        f'fold 2/5 (data seed 1): done before, {tmp_path}/fold_1/results.json',
                        f'fold 3/5 (data seed 2): training and evaluating in {tmp_path}/fold_2']
  assert log[-2].startswith('fold 3/5 (data seed 2): rank-1 raw_nir ')
  assert log[-1] == f'fold 4/5 (data seed 3): training and evaluating in {tmp_path}/fold_3'
  STOP_ON.clear()
  payload = kfold.run_folds(stub, str(tmp_path), [0, 1, 2, 3, 4], log=log.append)
  assert [seed for seed, _ in CALLS] == [0, 1, 2, 3, 3, 4]
  assert CALLS[-1][1] == str(tmp_path / 'fold_4')
  assert [f['fold'] for f in payload['folds']] == [0, 1, 2, 3, 4]
  assert payload['summary']['metrics']['fused']['rank1']['n'] == 5
  assert log[-1].startswith('fold 5/5 (data seed 4): rank-1 raw_nir ')


def test_a_fold_written_by_another_config_is_refused_not_mixed_in(stub, tmp_path):
  kfold.run_folds(stub, str(tmp_path), [0], log=lambda _: None)
  stub.train.num_steps = 20
  with pytest.raises(ValueError, match=r'config.train.num_steps: 20 here, 10 there'):
    kfold.run_folds(stub, str(tmp_path), [0, 1], log=lambda _: None)
  assert len(CALLS) == 1


def _kfold(*args):
  return subprocess.run([sys.executable, '-m', 'hfr_jax.kfold', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600)


@pytest.mark.heavy(35)
def test_the_command_runs_each_fold_prints_progress_and_the_table(tmp_path):
  """Two seeds of the raw-pixel baseline on a tiny set: the real trainer path, no training."""
  work = tmp_path / 'work'
  args = ('--config=configs/baseline.py:small', f'--workdir={work}', '--folds=11,12',
          f'--config.data.data_dir={tmp_path / "data"}', '--config.data.num_identities=10',
          '--config.data.resolution=48')
  proc = _kfold(*args)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = [line for line in proc.stdout.splitlines() if line.startswith(('fold ', '|', 'Report'))]
  assert out[0] == f'fold 1/2 (data seed 11): training and evaluating in {work}/fold_11'
  assert out[1].startswith('fold 1/2 (data seed 11): rank-1 nir_to_vis ')
  assert out[3].startswith('fold 2/2 (data seed 12): rank-1 nir_to_vis ')
  assert out[4:-1] == kfold.table(json.loads((work / 'kfold.json').read_text())).splitlines()
  assert out[-1] == f'Report: {work}/kfold.md'
  for seed in (11, 12):
    results = json.loads((work / f'fold_{seed}' / 'results.json').read_text())
    assert results['config']['data']['seed'] == seed
  assert _kfold(*args).stdout.count('done before') == 2
  proc = _kfold(*args[:2], '--folds=2-x')
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines() == [
      "hfr_jax.kfold: --folds='2-x': expected numbers and ranges such as 1-10, 0-2 or 1,4,7"]
