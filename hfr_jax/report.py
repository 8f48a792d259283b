"""Runs and k-fold runs in the papers' table layout, beside the papers' published figures.

python -m hfr_jax.report --workdirs=runs/pcfh_kfold,runs/null_casia --output=runs/report
python -m hfr_jax.report --workdirs runs/*            # further arguments are workdirs too

A workdir is a run (its results.json) or a k-fold directory (hfr_jax.kfold's kfold.json:
mean ± std over its folds). One table a dataset: every method of every run on it ×
rank-1 / VR@FAR=1% / VR@FAR=0.1% / gap closed, ours first, then the papers' rows on the
same dataset (hfr_jax.published) labelled as published, with paper, table and protocol.
Below each table, one ROC and one CMC of every run on that dataset (each run's
curves.npz, its recognizer F's curves; a k-fold directory's: the mean over its folds).
Writes OUTPUT/report.md with the plots as PNGs beside it, and OUTPUT/report.html, the
same with the plots embedded: one self-contained file.

`summarize` turns results.json payloads into the summaries the tables print; hfr_jax.kfold
uses it over folds.
"""

import base64
import dataclasses
import html
import json
import os
import re

from absl import flags
import numpy as np

from hfr_jax import cli
from hfr_jax import evaluate
from hfr_jax import fileio
from hfr_jax import metrics
from hfr_jax import published

_WORKDIRS = flags.DEFINE_list('workdirs', [], 'Run or k-fold directories, comma-separated '
                              '(further command-line arguments are workdirs too).')
# hfr_jax.hallucinate and translate define --output too; a test process may import all three.
_OUTPUT = flags.DEFINE_string('output', 'report', 'Directory for report.md, report.html and '
                              'the plots.', allow_override=True)

# results.json metric keys -> column titles (in %), the papers' three.
COLUMNS = (('rank1', 'rank-1'), ('vr_at_far_1e-2', 'VR@FAR=1%'), ('vr_at_far_1e-3', 'VR@FAR=0.1%'))
HEADER = ('method', *(title for _, title in COLUMNS), 'gap closed')


def summarize(results: list[dict]) -> dict:
  """results.json payloads (one run's, or one per fold) -> the summary the tables print.

  {'metrics': {method: {metric: {'mean', 'std', 'n'}}}, 'gap': {'raw', 'method'} or None,
   'gap_closed': {'mean', 'std', 'n'} or None, and for each judge of evaluate.JUDGES
   ('judge', 'photo_judge'): {'metrics', 'gap_closed'} or None}.
  std is the sample standard deviation over the payloads (ddof=1, as the papers' k-fold ±;
  0 for one payload), from metrics.summarize_folds. gap_closed is averaged over the
  payloads where it is defined (None: vis_to_vis not above raw); `n` counts them.
  """
  if not results:
    raise ValueError('summarize needs at least one results.json')
  out = {'metrics': _summarize_methods([r['metrics'] for r in results]),
         'gap': _gap(results[0]), 'gap_closed': _summarize_gap(results)}
  for key in evaluate.JUDGES:
    judges = [r.get(key) for r in results]
    out[key] = None
    if all(judges):
      out[key] = {'metrics': _summarize_methods([judged_methods(j) for j in judges]),
                  'gap_closed': _summarize_gap(judges)}
  return out


judged_methods = evaluate.judged_methods


def _summarize_methods(by_run: list[dict]) -> dict:
  methods = list(by_run[0])
  for i, run in enumerate(by_run):
    if list(run) != methods:
      raise ValueError(f'results {i} has methods {list(run)}, results 0 has {methods}')
  return {name: metrics.summarize_folds([run[name] for run in by_run]) for name in methods}


def _gap(results: dict) -> dict | None:
  """Which rows gap_closed compares; results.json before it said so: fused over raw_nir."""
  if 'gap_closed' not in results:
    return None
  return results.get('gap') or {'raw': 'raw_nir', 'method': 'fused'}


def _summarize_gap(results: list[dict]) -> dict | None:
  if not any('gap_closed' in r for r in results):
    return None
  values = [r['gap_closed'] for r in results if r.get('gap_closed') is not None]
  if not values:
    return {'mean': None, 'std': None, 'n': 0}
  return metrics.summarize_folds([{'gap_closed': v} for v in values])['gap_closed']


def cell(stat: dict | None, digits: int = 2) -> str:
  """{'mean', 'std', 'n'} (fractions) -> '98.80 ± 0.26' in %; one run: '98.80'; none: '-'."""
  if stat is None or stat.get('mean') is None:
    return '-'
  text = f"{100 * stat['mean']:.{digits}f}"
  if stat.get('std') is not None and stat.get('n') != 1:
    text += f" ± {100 * stat['std']:.{digits}f}"
  return text


def summary_rows(summary: dict) -> list[list[str]]:
  """A summary's rows under HEADER: each method, then each judge's as '<judge>: <method>'.

  gap closed (in %, one decimal) sits on the row of the method it measures.
  """
  rows = []
  parts = [('', summary)] + [(f'{label}: ', summary.get(key))
                             for key, label in evaluate.JUDGES.items()]
  for prefix, part in parts:
    if not part:
      continue
    gap = summary.get('gap') or {}
    for name, stats in part['metrics'].items():
      closed = ''
      if name == gap.get('method') and part.get('gap_closed') is not None:
        closed = 'no gap' if part['gap_closed']['n'] == 0 else cell(part['gap_closed'], 1)
      rows.append([prefix + name, *(cell(stats.get(key)) for key, _ in COLUMNS), closed])
  return rows


def published_rows(dataset: str) -> list[list[str]]:
  """The papers' rows for `dataset`, under HEADER plus a source column (see `markdown_table`)."""
  return [[row.method, f'published: {row.paper} {row.table} ({row.protocol})',
           *(cell(row.stats().get(key)) for key, _ in COLUMNS), '']
          for row in published.rows(dataset)]


def markdown_table(header, rows) -> str:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  return '\n'.join(lines + ['| ' + ' | '.join(row) + ' |' for row in rows])


def parse_markdown_tables(text: str) -> list[list[list[str]]]:
  """The cells of each Markdown table in `text`, header row first (separators dropped)."""
  tables, current = [], None
  for line in text.splitlines():
    if line.startswith('|'):
      if current is None:
        current = []
        tables.append(current)
      cells = [c.strip() for c in line.strip().strip('|').split('|')]
      if not all(re.fullmatch(r'-+', c) for c in cells):
        current.append(cells)
    else:
      current = None
  return tables


@dataclasses.dataclass
class Run:
  """A workdir, read: what the tables and plots need of it."""
  path: str
  label: str = dataclasses.field(init=False, default='')   # short name, set by `labels`
  dataset: str            # builder name (results.json `dataset`)
  about: str              # method, protocol
  summary: dict
  points: dict | None     # evaluate.curve_points arrays, or None (no curves.npz)


def load(path: str) -> Run:
  """A run's results.json, or a k-fold directory's kfold.json (with its folds' curves)."""
  path = os.path.normpath(path)
  if os.path.exists(os.path.join(path, 'kfold.json')):
    with open(os.path.join(path, 'kfold.json')) as f:
      kfold = json.load(f)
    folds = kfold['folds']
    points = [_read_points(os.path.join(path, fold['workdir'])) for fold in folds]
    about = (f"{_method(kfold['config'])}, {len(folds)} folds ({kfold['fold_kind']}s "
             f"{', '.join(str(fold['fold']) for fold in folds)}), mean ± std")
    return Run(path, kfold['dataset']['name'], about, kfold['summary'],
               None if any(p is None for p in points) else mean_points(points))
  if not os.path.exists(os.path.join(path, 'results.json')):
    raise ValueError(f'--workdirs: {path} has no results.json (a run) or kfold.json '
                     '(hfr_jax.kfold)')
  with open(os.path.join(path, 'results.json')) as f:
    results = json.load(f)
  dataset = results.get('dataset') or {}
  about = f"{_method(results.get('config') or {})}, one run on {dataset.get('config')}"
  return Run(path, dataset.get('name'), about, summarize([results]), _read_points(path))


def _method(config: dict) -> str:
  method = config.get('method', '?')
  setting = config.get('setting')
  return f'{method} {setting}' if setting and setting != method else method


def _read_points(workdir: str) -> dict | None:
  path = os.path.join(workdir, 'curves.npz')
  if not os.path.exists(path):
    return None
  with np.load(path) as data:
    return {key: data[key] for key in data.files}


def mean_points(points: list[dict]) -> dict:
  """The mean over folds of each curve every fold has (CMCs cut to the shortest)."""
  keys = [key for key in points[0] if all(key in p for p in points)]
  out = {}
  for key in keys:
    n = min(len(p[key]) for p in points)
    out[key] = np.mean([p[key][:n] for p in points], axis=0)
  return out


def label_runs(runs: list[Run]):
  """Each run's label: the fewest last components of its path that tell it from the others."""
  parts = [run.path.split(os.sep) for run in runs]
  for k in range(1, max(map(len, parts)) + 1):
    labels = [os.sep.join(p[-k:]) for p in parts]
    if len(set(labels)) == len(labels) or k == max(map(len, parts)):
      break
  for run, label in zip(runs, labels):
    run.label = label


def _blocks(runs: list[Run], output: str) -> list[tuple]:
  """The report as blocks: ('h1' | 'h2' | 'p', text), ('table', header, rows), ('img', alt,
  file name in `output`)."""
  blocks = [('h1', 'Results'),
            ('p', 'All figures in %. Ours: each method of each run; a k-fold directory gives '
                  'mean ± sample standard deviation (ddof=1) over its folds. gap closed = '
                  '(fused - raw) / (vis_to_vis - raw) rank-1, on the row it measures. '
                  '"judge: " and "photo judge: " rows: the same images scored by a recognizer '
                  'that took no part in training (the photo judge: dlib\'s, trained on real '
                  'photographs). Published: the papers\' tables (hfr_jax/published.py); '
                  'their protocols and recognizers are theirs, not ours.')]
  label_runs(runs)
  blocks.append(('table', ('run', 'workdir', 'what'),
                 [[run.label, f'`{run.path}`', run.about] for run in runs]))
  by_dataset = {}
  for run in runs:
    by_dataset.setdefault(run.dataset, []).append(run)
  for dataset, group in by_dataset.items():
    blocks.append(('h2', f'{published.DATASETS.get(dataset, dataset)} (`{dataset}`)'))
    rows = [[r[0], f'ours: {run.label}', *r[1:]]
            for run in group for r in summary_rows(run.summary)]
    rows += published_rows(dataset)
    if not published.rows(dataset):
      blocks.append(('p', 'Neither paper publishes figures on this set.'))
    blocks.append(('table', (HEADER[0], 'source', *HEADER[1:]), rows))
    plotted = [run for run in group if run.points is not None]
    missing = [run.path for run in group if run.points is None]
    if missing:
      blocks.append(('p', f'No curves.npz (runs written before it was kept) for: '
                          f'{", ".join(missing)}; not plotted.'))
    if plotted:
      roc, cmc = f'roc_{dataset}.png', f'cmc_{dataset}.png'
      many = len(plotted) > 1
      label = lambda run, name: f'{run.label}: {name}' if many else name
      evaluate.draw_roc({label(run, k[4:]): (run.points['far'], v) for run in plotted
                         for k, v in run.points.items() if k.startswith('roc.')},
                        os.path.join(output, roc), title=f'ROC, {dataset}')
      evaluate.draw_cmc({label(run, k[4:]): v for run in plotted
                         for k, v in run.points.items() if k.startswith('cmc.')},
                        os.path.join(output, cmc), title=f'CMC, {dataset}')
      blocks += [('img', f'ROC {dataset}', roc), ('img', f'CMC {dataset}', cmc)]
  return blocks


def _markdown(blocks) -> str:
  parts = []
  for kind, *rest in blocks:
    if kind == 'h1':
      parts.append(f'# {rest[0]}')
    elif kind == 'h2':
      parts.append(f'## {rest[0]}')
    elif kind == 'p':
      parts.append(rest[0])
    elif kind == 'table':
      parts.append(markdown_table(*rest))
    elif kind == 'img':
      parts.append(f'![{rest[0]}]({rest[1]})')
  return '\n\n'.join(parts) + '\n'


def _inline(text: str) -> str:
  return re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(text))


def _html(blocks, output: str) -> str:
  """The report as one HTML page: the plots inlined as data: URIs, nothing fetched."""
  body = []
  for kind, *rest in blocks:
    if kind in ('h1', 'h2', 'p'):
      body.append(f'<{kind}>{_inline(rest[0])}</{kind}>')
    elif kind == 'table':
      header, rows = rest
      head = ''.join(f'<th>{_inline(c)}</th>' for c in header)
      cells = ''.join('<tr>' + ''.join(f'<td>{_inline(c)}</td>' for c in row) + '</tr>'
                      for row in rows)
      body.append(f'<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>')
    elif kind == 'img':
      with open(os.path.join(output, rest[1]), 'rb') as f:
        data = base64.b64encode(f.read()).decode('ascii')
      body.append(f'<img alt="{html.escape(rest[0])}" src="data:image/png;base64,{data}">')
  style = ('body{font-family:sans-serif;max-width:75em;margin:2em auto}'
           'table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.2em .5em}'
           'td{text-align:right}td:first-child,td:nth-child(2){text-align:left}'
           'img{max-width:48%}')
  return ('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Results</title>'
          f'<style>{style}</style></head><body>\n' + '\n'.join(body) + '\n</body></html>\n')


def write(workdirs: list[str], output: str) -> str:
  """Reads `workdirs`, writes output/report.md (+ PNGs) and output/report.html: the .md text."""
  runs = [load(w) for w in workdirs]
  os.makedirs(output, exist_ok=True)
  blocks = _blocks(runs, output)
  text = _markdown(blocks)
  for name, content in (('report.md', text), ('report.html', _html(blocks, output))):
    fileio.write_text(os.path.join(output, name), content)
  return text


def main(argv):
  workdirs = [*_WORKDIRS.value, *argv[1:]]
  if not workdirs:
    raise SystemExit(f'{cli.program()}: --workdirs: name at least one run or k-fold directory')
  with cli.one_line_errors():
    text = write(workdirs, _OUTPUT.value)
  print(text, end='')
  print(f'Report: {_OUTPUT.value}/report.md, {_OUTPUT.value}/report.html')


if __name__ == '__main__':
  cli.run(main)
