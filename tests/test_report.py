"""The results report: its tables parse back to the runs' results.json (a k-fold directory's to
numpy's mean and sample std over its folds), the published rows are the papers' tables, the
plots average a k-fold directory's folds, and the HTML page needs nothing but itself."""

import base64
import html.parser
import json
import os
import re
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from configs import common
from hfr_jax import evaluate
from hfr_jax import kfold
from hfr_jax import main as hfr_main
from hfr_jax import published
from hfr_jax import report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPERS = os.environ.get('HFR_PAPERS', '/work/shared/papers')
METRICS = ('rank1', 'vr_at_far_1e-2', 'vr_at_far_1e-3')


def curves(seed):
  rng = np.random.default_rng(seed)
  gallery_ids, probe_ids, vis_ids = np.arange(12), rng.integers(0, 12, 50), rng.integers(0, 12, 30)
  scores = lambda ids, signal: rng.normal(size=(len(ids), 12)) + signal * (
      ids[:, None] == gallery_ids)
  raw, gen = scores(probe_ids, rng.uniform(0.5, 1.5)), scores(probe_ids, rng.uniform(1, 3))
  return {'raw_nir': (raw, probe_ids, gallery_ids), 'pcfh': (gen, probe_ids, gallery_ids),
          'fused': ((raw + gen) / 2, probe_ids, gallery_ids),
          'vis_to_vis': (scores(vis_ids, 4.0), vis_ids, gallery_ids)}


def run(workdir, seed, config, dataset):
  return evaluate.write_report(str(workdir), curves(seed), title='t', config=config,
                               dataset=dataset, gap=('raw_nir', 'fused'),
                               judges={'judge': (curves(seed + 50), {'arch': '29'}),
                                       'photo_judge': (curves(seed + 70), {'arch': 'dlib'})})


# Row prefixes of the judges' rows -> their results.json keys.
JUDGED = {'judge: ': 'judge', 'photo judge: ': 'photo_judge'}


def _source(row_name, results):
  """(the results.json part a table row reads, the method) for a row's first cell."""
  for prefix, key in JUDGED.items():
    if row_name.startswith(prefix):
      return results[key], row_name.removeprefix(prefix)
  return results, row_name


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """A CASIA fold-1 run, a 3-seed k-fold directory and a run without curves.npz (synthetic)."""
  tmp = tmp_path_factory.mktemp('report')
  run(tmp / 'casia', 0, {'method': 'pcfh'}, {'name': 'casia_nir_vis2', 'config': 'fold1'})
  base = ml_collections.ConfigDict({'method': 'pcfh',
                                    'data': common.synthetic_config('small').to_dict()})
  for seed in (0, 1, 2):
    cfg = kfold.fold_config(base, seed)
    run(tmp / 'kf' / f'fold_{seed}', seed + 1, cfg, {'name': 'synthetic_nir_vis', 'config': 's'})
  # Every fold has its results.json: the driver reads them and trains nothing.
  trained = []
  original, hfr_main.run = hfr_main.run, lambda *a: trained.append(a)
  try:
    kfold.run_folds(base, str(tmp / 'kf'), [0, 1, 2], log=lambda _: None)
  finally:
    hfr_main.run = original
  assert not trained
  run(tmp / 'old', 9, {'method': 'pcfh'}, {'name': 'synthetic_nir_vis', 'config': 's'})
  os.remove(tmp / 'old' / 'curves.npz')
  text = report.write([str(tmp / 'casia'), str(tmp / 'kf'), str(tmp / 'old')],
                      str(tmp / 'out'))
  return tmp, text


def _results(path):
  return json.loads((path / 'results.json').read_text())


def _numbers(cell):
  return [float(x) for x in cell.split(' ± ')] if cell not in ('', '-') else []


def test_a_runs_rows_parse_back_to_its_results_json_beside_the_published_rows(runs):
  tmp, text = runs
  assert text == (tmp / 'out' / 'report.md').read_text()
  names, casia, synthetic = report.parse_markdown_tables(text)
  assert [row[0] for row in names[1:]] == ['casia', 'kf', 'old']
  assert casia[0] == ['method', 'source', 'rank-1', 'VR@FAR=1%', 'VR@FAR=0.1%', 'gap closed']
  results = _results(tmp / 'casia')
  ours = [row for row in casia[1:] if row[1] == 'ours: casia']
  assert [row[0] for row in ours] == [f'{prefix}{m}' for prefix in ('', *JUDGED)
                                      for m in results['metrics']]
  for row in ours:
    source, method = _source(row[0], results)
    m = source[method]
    np.testing.assert_allclose([_numbers(c)[0] for c in row[2:5]],
                               [100 * m[k] for k in METRICS], atol=0.005 + 1e-9)
    if row[0].endswith('fused'):
      assert _numbers(row[5]) == pytest.approx([100 * source['gap_closed']], abs=0.05 + 1e-9)
    else:
      assert row[5] == ''
  # Then the papers' CASIA rows, each labelled published, with its paper, table and protocol.
  theirs = casia[1 + len(ours):]
  rows = published.rows('casia_nir_vis2')
  assert len(theirs) == len(rows) > 0 and {r.table for r in rows} == {'Table 1', 'Table 2'}
  for cells, row in zip(theirs, rows):
    assert cells[0] == row.method and cells[1].startswith(f'published: {row.paper} {row.table}')
    assert [_numbers(c) for c in cells[2:5]] == [
        [v for v in (value, std) if v is not None] if value is not None else []
        for value, std in ((row.rank1, row.rank1_std), (row.vr_1, row.vr_1_std),
                           (row.vr_01, row.vr_01_std))]
  assert not any(row[1].startswith('published') for row in synthetic)


def test_a_kfold_directorys_rows_are_numpys_mean_and_sample_std_over_its_folds(runs):
  tmp, text = runs
  synthetic = report.parse_markdown_tables(text)[2]
  folds = [_results(tmp / 'kf' / f'fold_{seed}') for seed in (0, 1, 2)]
  ours = [row for row in synthetic[1:] if row[1] == 'ours: kf']
  assert len(ours) == 12
  for row in ours:
    by_fold = [_source(row[0], f)[0] for f in folds]
    method = _source(row[0], folds[0])[1]
    values = np.array([[f[method][k] for k in METRICS] for f in by_fold])
    np.testing.assert_allclose([_numbers(c) for c in row[2:5]],
                               100 * np.stack([values.mean(0), values.std(0, ddof=1)], 1),
                               atol=0.005 + 1e-9)
    if row[0].endswith('fused'):
      gaps = np.array([f['gap_closed'] for f in by_fold])
      np.testing.assert_allclose(_numbers(row[5]), [100 * gaps.mean(), 100 * gaps.std(ddof=1)],
                                 atol=0.05 + 1e-9)
  assert [row[0] for row in synthetic[1:] if row[1] == 'ours: old'][:1] == ['raw_nir']
  assert 'Neither paper publishes figures on this set.' in text
  assert f'curves.npz (runs written before it was kept) for: {tmp / "old"}' in text


def test_a_kfold_directorys_curves_are_the_mean_of_its_folds(runs):
  tmp, _ = runs
  loaded = report.load(str(tmp / 'kf'))
  folds = []
  for seed in (0, 1, 2):
    with np.load(tmp / 'kf' / f'fold_{seed}' / 'curves.npz') as data:
      folds.append({k: data[k] for k in data.files})
  for key in ('roc.fused', 'cmc.raw_nir', 'judge.roc.pcfh', 'photo_judge.cmc.fused'):
    np.testing.assert_allclose(loaded.points[key], np.mean([f[key] for f in folds], axis=0))
  assert report.load(str(tmp / 'old')).points is None


class _Tags(html.parser.HTMLParser):

  def __init__(self):
    super().__init__()
    self.tags, self.tables, self._cell = [], [], None

  def handle_starttag(self, tag, attrs):
    self.tags.append((tag, dict(attrs)))
    if tag == 'table':
      self.tables.append([])
    elif tag == 'tr':
      self.tables[-1].append([])
    elif tag in ('td', 'th'):
      self._cell = ''

  def handle_endtag(self, tag):
    if tag in ('td', 'th'):
      self.tables[-1][-1].append(self._cell)
      self._cell = None

  def handle_data(self, data):
    if self._cell is not None:
      self._cell += data


def test_the_html_page_is_self_contained_and_holds_the_same_tables(runs):
  tmp, text = runs
  page = (tmp / 'out' / 'report.html').read_text()
  parser = _Tags()
  parser.feed(page)
  outside = re.sub(r'data:image/png;base64,[A-Za-z0-9+/=]+', '', page)
  assert not re.search(r'https?:|//|url\(', outside)
  assert not [t for t, a in parser.tags if t in ('script', 'link', 'iframe', 'object')]
  sources = [a.get('src') or a.get('href') for t, a in parser.tags if 'src' in a or 'href' in a]
  images = [a['src'] for t, a in parser.tags if t == 'img']
  assert sources == images and len(images) == 4   # ROC and CMC of each dataset
  pngs = [f'{kind}_{dataset}.png' for dataset in ('casia_nir_vis2', 'synthetic_nir_vis')
          for kind in ('roc', 'cmc')]
  for src, name in zip(images, pngs):
    assert src.startswith('data:image/png;base64,')
    assert base64.b64decode(src.split(',', 1)[1]) == (tmp / 'out' / name).read_bytes()
    assert f']({name})' in text
  md = report.parse_markdown_tables(text)
  strip_code = lambda c: c.replace('`', '')
  assert parser.tables == [[[strip_code(c) for c in row] for row in t] for t in md]


def test_published_rows_are_the_papers_tables_as_printed():
  """Every number of hfr_jax.published against the tables in the papers' text."""
  if not os.path.isdir(PAPERS):
    pytest.skip(f'no papers at {PAPERS} (set HFR_PAPERS)')
  with open(os.path.join(PAPERS, 'pcfh_ijcai2019.txt')) as f:
    pcfh = f.read().splitlines()
  with open(os.path.join(PAPERS, 'null_unsupervised_hfr.txt')) as f:
    null = f.read().splitlines()
  for paper, lines in (('PCFH', pcfh), ('NULL', null)):
    tables = sorted({r.table for r in published.ROWS if r.paper == paper})
    assert len(tables) == (4 if paper == 'PCFH' else 3)
    for table in tables:
      ours = [r for r in published.ROWS if r.paper == paper and r.table == table]
      printed = (_pcfh_table if paper == 'PCFH' else _null_table)(lines, table)
      expected = [[x for x in (r.rank1, r.rank1_std, r.vr_1, r.vr_1_std, r.vr_01, r.vr_01_std)
                   if x is not None] for r in ours]
      assert printed == expected, (paper, table)
  for row in published.ROWS:
    assert row.dataset in published.DATASETS
    assert os.path.isdir(os.path.join(REPO, 'tfds_builders', row.dataset))


def _pcfh_table(lines, table):
  """PCFH's rows above the caption 'Table N:': the last three columns, 'mean±std' split."""
  caption = next(i for i, line in enumerate(lines) if line.startswith(f'{table}:'))
  start = max(i for i in range(caption) if lines[i].strip().startswith('Method'))
  rows = []
  for line in lines[start + 1:caption]:
    if line.strip():
      rows.append([float(x) for cell in line.split()[-3:] for x in cell.split('±')])
  return rows


def _null_table(lines, table):
  """NULL's rows below the caption 'Table N.' (first copy): the number before the set type."""
  caption = next(i for i, line in enumerate(lines) if line.startswith(f'{table}.'))
  rows = []
  for line in lines[caption + 1:]:
    if line.strip().startswith(('Results obtained', 'Table')):
      break
    m = re.search(r'([\d.]+) (pairwise|unpaired)\s*$', line)
    if m:
      rows.append([float(m.group(1))])
  return rows


def test_the_command_takes_workdirs_as_a_list_and_as_arguments(runs, tmp_path):
  tmp, text = runs
  proc = subprocess.run(
      [sys.executable, '-m', 'hfr_jax.report', f'--workdirs={tmp / "casia"},{tmp / "kf"}',
       str(tmp / 'old'), f'--output={tmp_path}'], cwd=REPO, capture_output=True, text=True,
      timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout == text + f'Report: {tmp_path}/report.md, {tmp_path}/report.html\n'
  proc = subprocess.run([sys.executable, '-m', 'hfr_jax.report', f'--workdirs={tmp_path}/none'],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
      f'hfr_jax.report: --workdirs: {tmp_path}/none has no results.json (a run) or kfold.json '
      '(hfr_jax.kfold)']
