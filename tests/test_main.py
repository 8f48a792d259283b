"""The entry point end to end: config overrides, dataset build, baseline report."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hfr_jax import baseline
from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import metrics

from conftest import tiny_data_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _main(*args, cwd=REPO):
  return subprocess.run([sys.executable, '-m', 'hfr_jax.main', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def baseline_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('main')
  data_dir, workdir = tmp / 'data', tmp / 'work'
  proc = _main('--config=configs/baseline.py:small', f'--workdir={workdir}',
               f'--config.data.data_dir={data_dir}', '--config.data.seed=11',
               '--config.data.num_identities=10', '--config.data.resolution=48')
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc, data_dir, workdir


def test_baseline_writes_report_results_and_plots(baseline_run):
  proc, _, workdir = baseline_run
  for name in ('report.md', 'results.json', 'roc.png', 'cmc.png'):
    assert (workdir / name).stat().st_size > 0
  assert f'{workdir}/report.md' in proc.stdout
  assert not [p for p in os.listdir(workdir) if p.startswith('tmp.')]


def test_results_json_matches_a_fresh_evaluation(baseline_run):
  _, data_dir, workdir = baseline_run
  results = json.loads((workdir / 'results.json').read_text())
  assert results['dataset']['config'].startswith('seed11_ids10_res48')
  assert results['config']['data']['seed'] == 11
  assert results['num_gallery'] == 5 and results['num_probe'] == 15
  # Recompute NIR->VIS from the same set with the library calls.
  data = tiny_data_config(data_dir, seed=11, num_identities=10, resolution=48,
                          vis_per_identity=3, nir_per_identity=3)
  b = datasets.prepare(data)
  # All images at once (no batching, padding or masks) against the report's batched loop.
  g_img, g_lm, gid = evaluate.read_images(b, 'gallery', batch_size=1000)
  p_img, p_lm, pid = evaluate.read_images(b, 'probe', batch_size=1000)
  g = np.asarray(baseline.pixel_features(g_img, g_lm, size=32))
  p = np.asarray(baseline.pixel_features(p_img, p_lm, size=32))
  expected = metrics.summary(metrics.cosine_similarity(p, g), pid, gid)
  for k, v in expected.items():
    assert results['metrics']['nir_to_vis'][k] == pytest.approx(v)


def test_unknown_variant_and_method_fail_with_one_clear_line(tmp_path):
  proc = _main('--config=configs/baseline.py:nope', f'--workdir={tmp_path}')
  assert proc.returncode != 0 and "unknown variant 'nope'" in proc.stderr
  proc = _main('--config=configs/baseline.py:small', f'--workdir={tmp_path}',
               '--config.method=magic')
  assert proc.returncode != 0 and "config.method='magic'" in proc.stderr


def test_unknown_dataset_names_the_config_key(tmp_path):
  data = tiny_data_config(tmp_path, name='no_such_set')
  with pytest.raises(ValueError, match='config.data.name'):
    datasets.builder(data)
  proc = _main('--config=configs/baseline.py:small', f'--workdir={tmp_path / "work"}',
               '--config.data.name=no_such_set')
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
  assert proc.stderr.strip().splitlines()[-1] == (
      "hfr_jax.main: config.data.name: unknown dataset 'no_such_set' "
      "(no tfds_builders/no_such_set/)")
  assert not (tmp_path / 'work').exists()


def test_eigen_convolution_flag_is_added_once_and_never_over_a_user_choice(monkeypatch):
  from hfr_jax import xla_flags
  monkeypatch.setattr(xla_flags.importlib.metadata, 'version', lambda name: '0.10.2')
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=2')
  assert xla_flags.prefer_eigen_convolutions()
  assert os.environ['XLA_FLAGS'] == ('--xla_force_host_platform_device_count=2 '
                                     + xla_flags.EIGEN_CONVOLUTIONS)
  assert not xla_flags.prefer_eigen_convolutions()       # already there
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_experimental_ynn_fusion_type=default')
  assert not xla_flags.prefer_eigen_convolutions()       # the user's own choice stays
  assert os.environ['XLA_FLAGS'] == '--xla_cpu_experimental_ynn_fusion_type=default'
  monkeypatch.setattr(xla_flags.importlib.metadata, 'version', lambda name: '0.11.0')
  monkeypatch.setenv('XLA_FLAGS', '')
  assert not xla_flags.prefer_eigen_convolutions()       # unmeasured jaxlib: XLA might abort
  assert os.environ['XLA_FLAGS'] == ''
