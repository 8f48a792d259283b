"""The entry point end to end: config overrides, dataset build, baseline report, output."""

import json
import math
import os
import re
import subprocess
import sys
import warnings

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from hfr_jax import baseline
from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import metrics
from hfr_jax.report import format_table
import tfds_builders.synthetic_nir_vis as snv
from tfds_builders.synthetic_nir_vis import presets

from conftest import TINY, tiny_data_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# An absl log record: 'I1128 05:58:00.947580 140263891229568 xla_bridge.py:849] ...'.
ABSL_RECORD = re.compile(r'^[DIWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^ ]+:\d+\] ', re.M)


def _main(*args, cwd=REPO):
  return subprocess.run([sys.executable, '-m', 'hfr_jax.main', *args], cwd=cwd,
                        capture_output=True, text=True, timeout=600)


def _baseline_args(data_dir, workdir):
  return ('--config=configs/baseline.py:small', f'--workdir={workdir}',
          f'--config.data.data_dir={data_dir}', '--config.data.seed=11',
          '--config.data.num_identities=10', '--config.data.resolution=48')


# Session scope: an xdist worker computes it once, even when tests of other modules come between.
@pytest.fixture(scope='session')
def baseline_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('main')
  data_dir, workdir = tmp / 'data', tmp / 'work'
  proc = _main(*_baseline_args(data_dir, workdir))
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
  assert results['dataset']['config'].startswith(f'casia_{presets.CASIA.digest()}_seed11_ids10_res48')
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


def test_a_default_run_prints_progress_then_the_table_and_the_report_path(baseline_run):
  proc, _, workdir = baseline_run
  assert not ABSL_RECORD.findall(proc.stderr), proc.stderr[-3000:]
  assert 'Warning' not in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
  assert 'examples/s' not in proc.stderr and 'splits/s' not in proc.stderr   # TFDS's build bars
  results = json.loads((workdir / 'results.json').read_text())
  out = proc.stdout.splitlines()
  assert out[-1] == f'Report: {workdir}/report.md'
  table = out[-2 - len(results['metrics']):-1]
  assert table == format_table(results).splitlines()
  assert all(line.startswith(('Downloading and preparing', 'Dataset synthetic_nir_vis'))
             for line in out[:-2 - len(results['metrics'])])   # TFDS's two build lines


def test_verbosity_1_brings_back_every_librarys_log_records(baseline_run, tmp_path):
  _, data_dir, _ = baseline_run
  proc = _main(*_baseline_args(data_dir, tmp_path / 'work'), '--verbosity=1')
  assert proc.returncode == 0, proc.stderr[-3000:]
  records = ABSL_RECORD.findall(proc.stderr)
  assert len(records) > 20
  assert 'xla_bridge.py' in proc.stderr and 'Using custom data configuration' in proc.stderr


def test_results_table_gives_each_method_in_percent_and_the_gap_closed():
  keys = ('rank1', 'rank5', 'vr_at_far_1e-2', 'vr_at_far_1e-3', 'eer')
  metrics_ = {'raw_nir': dict(zip(keys, (0.25, 0.5, 0.125, 0.0625, 0.375))),
              'fused': dict(zip(keys, (0.5, 0.75, 0.25, 0.125, 0.25)), num_probe=3),
              'vis_to_vis': dict(zip(keys, (1.0, 1.0, 0.96875, 0.5, 0.0)))}
  lines = format_table({'metrics': metrics_, 'gap_closed': 1 / 3}).splitlines()
  assert lines[0].split()[:2] == ['method', '(%)'] and len(lines) == 5
  for line, (name, m) in zip(lines[1:4], metrics_.items()):
    cells = line.split()
    assert cells[0] == name
    np.testing.assert_allclose([float(c) for c in cells[1:]], [100 * m[k] for k in keys],
                               atol=0.005)
  assert lines[4].endswith(': 33.3 %')
  assert len(format_table({'metrics': metrics_}).splitlines()) == 4   # no gap_closed: no line
  assert 'undefined' in format_table({'metrics': metrics_, 'gap_closed': math.nan})


def test_results_table_adds_the_judges_rows_labelled_after_fs():
  keys = ('rank1', 'rank5', 'vr_at_far_1e-2', 'vr_at_far_1e-3', 'eer')
  by_f = {'raw_nir': dict(zip(keys, (0.25, 0.5, 0.125, 0.0625, 0.375))),
          'vis_to_vis': dict(zip(keys, (1.0, 1.0, 0.96875, 0.5, 0.0)))}
  judge = {'raw_nir': dict(zip(keys, (0.125, 0.25, 0.0625, 0.03125, 0.5))),
           'vis_to_vis': dict(zip(keys, (0.75, 0.875, 0.5, 0.25, 0.125))),
           'gap_closed': 0.25, 'recognizer': {'arch': '29', 'seed': 1}}
  lines = format_table({'metrics': by_f, 'gap_closed': 1 / 3, 'judge': judge}).splitlines()
  assert len(lines) == 1 + 2 + 1 + 2 + 1
  assert lines[3].startswith('gap closed') and lines[3].endswith(': 33.3 %')
  for line, name in zip(lines[4:6], ('raw_nir', 'vis_to_vis')):
    assert line.startswith(f'judge: {name} ')
    np.testing.assert_allclose([float(c) for c in line.split()[2:]],
                               [100 * judge[name][k] for k in keys], atol=0.005)
  assert lines[6].startswith('judge: gap closed') and lines[6].endswith(': 25.0 %')
  # One column width for F's and the judge's rows: the cells line up under the header.
  assert len({len(line) for line in lines[:3] + lines[4:6]}) == 1
  # A fused score weighted on held-out identities comes last, in one line.
  validated = {'weight': 0.7, 'f': {'rank1': 0.5, 'gap_closed': 1 / 3},
               'judge': {'rank1': 0.375, 'gap_closed': 0.4}}
  last = format_table({'metrics': by_f, 'gap_closed': 1 / 3, 'judge': judge,
                       'fused_validated': validated}).splitlines()
  assert last[:-1] == lines
  assert ('weight 0.70' in last[-1] and 'rank-1 50.00 %, gap closed 33.3 %' in last[-1]
          and last[-1].endswith('judge: rank-1 37.50 %'))


def test_results_table_puts_the_photo_judge_after_the_judge_and_twin_fidelity_last():
  keys = ('rank1', 'rank5', 'vr_at_far_1e-2', 'vr_at_far_1e-3', 'eer')
  by_f = {'raw_nir': dict(zip(keys, (0.25, 0.5, 0.125, 0.0625, 0.375)))}
  judge = {'raw_nir': dict(zip(keys, (0.125, 0.25, 0.0625, 0.03125, 0.5))), 'gap_closed': None}
  photo = {'raw_nir': dict(zip(keys, (0.875, 1.0, 0.75, 0.5, 0.0625))), 'gap_closed': None}
  twin = {'photo_judge': {'raw_nir': {'cosine': 0.9125, 'tar_at_far_1e-2': 0.625},
                          'pcfh': {'cosine': 0.5, 'tar_at_far_1e-2': 0.0625}}}
  lines = format_table({'metrics': by_f, 'judge': judge, 'photo_judge': photo,
                        'twin_fidelity': twin}).splitlines()
  assert [line.split('  ')[0] for line in lines[1:4]] == [
      'raw_nir', 'judge: raw_nir', 'photo judge: raw_nir']
  np.testing.assert_allclose([float(c) for c in lines[3].split()[3:]],
                             [100 * photo['raw_nir'][k] for k in keys], atol=0.005)
  assert lines[4] == ('twin fidelity under photo judge: cosine to own VIS twin raw_nir 0.912, '
                      'pcfh 0.500; TAR@FAR=1% raw_nir 62.50, pcfh 6.25')


def test_rendering_workers_are_spawned_and_draw_the_serial_bytes(tiny_builder, tmp_path):
  """main builds its dataset after JAX has started: forking then copies JAX's threads."""
  jax.devices()   # a started backend: JAX now warns at every os.fork()
  config = snv.make_config(**TINY, num_workers=2)
  builder = tfds.builder('synthetic_nir_vis', config=config, data_dir=str(tmp_path))
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    builder.download_and_prepare()
  assert not [w for w in caught if 'fork' in str(w.message)]
  files = sorted(p.name for p in (tmp_path / 'synthetic_nir_vis').glob('*/*/*.array_record*'))
  assert len(files) == 4
  for name in files:
    ours = next((tmp_path / 'synthetic_nir_vis').glob(f'*/*/{name}')).read_bytes()
    serial = next(iter(tiny_builder.data_path.glob(name))).read_bytes()   # num_workers=1
    assert ours == serial


def test_results_table_gives_nulls_translations_under_each_recognizer_and_the_code_shares():
  keys = ('rank1', 'rank5', 'vr_at_far_1e-2', 'vr_at_far_1e-3', 'eer')
  codes = {'null': dict(zip(keys, (0.125, 0.25, 0.125, 0.0625, 0.25)))}
  photo = {'raw_nir': dict(zip(keys, (0.875, 1.0, 0.75, 0.5, 0.0625))),
           'translation': dict(zip(keys, (0.25, 0.5, 0.125, 0.0, 0.375))),
           'vis_to_vis': dict(zip(keys, (1.0, 1.0, 1.0, 1.0, 0.0))),
           'gap_closed': -5.0, 'recognizer': {'arch': 'dlib'}}
  lines = format_table({'metrics': codes, 'identity_share': {'content_vis': 0.5, 'style_vis': 0.25},
                        'translation': {'photo_judge': photo, 'style': 'mean',
                                        'fidelity': None}}).splitlines()
  assert [l.split(':')[0] for l in lines[2:6]] == ['photo judge'] * 4
  for line, name in zip(lines[2:5], ('raw_nir', 'translation', 'vis_to_vis')):
    assert line.startswith(f'photo judge: {name} ')
    np.testing.assert_allclose([float(c) for c in line.split()[3:]],
                               [100 * photo[name][k] for k in keys], atol=0.005)
  assert '(translation - raw)' in lines[5] and lines[5].endswith(': -500.0 %')
  assert lines[6] == 'identity share of each code: content_vis 0.500, style_vis 0.250'
