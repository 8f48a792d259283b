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

Every results table is written here: also one run's, `format_table` (the console table
hfr_jax.main ends with) and `run_markdown` (the report.md evaluate.write_report writes
beside results.json). `summarize` turns results.json payloads into the summaries the tables
print; hfr_jax.kfold uses it over folds.
"""

import base64
import dataclasses
import html
import json
import math
import os
import re

from absl import flags
import numpy as np

from hfr_jax import cli
from hfr_jax import fileio
from hfr_jax import metrics
from hfr_jax import published

# results.json metric keys -> column titles (in %), the papers' three.
COLUMNS = (('rank1', 'rank-1'), ('vr_at_far_1e-2', 'VR@FAR=1%'), ('vr_at_far_1e-3', 'VR@FAR=0.1%'))
HEADER = ('method', *(title for _, title in COLUMNS), 'gap closed')
# One run's payload['metrics'] keys -> console table columns, in percent as in report.md.
RUN_COLUMNS = (('rank1', 'rank-1'), ('rank5', 'rank-5'), ('vr_at_far_1e-2', 'VR@FAR=1%'),
               ('vr_at_far_1e-3', 'VR@FAR=0.1%'), ('eer', 'EER'))
# results.json keys of the recognizers that took no part in training -> their row labels.
JUDGES = {'judge': 'judge', 'photo_judge': 'photo judge'}


def recognizer_label(key: str) -> str:
  """How tables name a recognizer of results.json: 'f' is F, a judge its JUDGES label."""
  return 'F' if key == 'f' else JUDGES.get(key, key)


def judged_methods(judged: dict) -> dict:
  """A results.json judge's methods (it also holds gap_closed and recognizer)."""
  return {name: m for name, m in judged.items() if isinstance(m, dict) and 'rank1' in m}


def summarize(results: list[dict]) -> dict:
  """results.json payloads (one run's, or one per fold) -> the summary the tables print.

  {'metrics': {method: {metric: {'mean', 'std', 'n'}}}, 'gap': {'raw', 'method'} or None,
   'gap_closed': {'mean', 'std', 'n'} or None, and for each judge of JUDGES
   ('judge', 'photo_judge'): {'metrics', 'gap_closed'} or None}.
  std is the sample standard deviation over the payloads (ddof=1, as the papers' k-fold ±;
  0 for one payload), from metrics.summarize_folds. gap_closed is averaged over the
  payloads where it is defined (None: vis_to_vis not above raw); `n` counts them.
  """
  if not results:
    raise ValueError('summarize needs at least one results.json')
  out = {'metrics': _summarize_methods([r['metrics'] for r in results]),
         'gap': _gap(results[0]), 'gap_closed': _summarize_gap(results)}
  for key in JUDGES:
    judges = [r.get(key) for r in results]
    out[key] = None
    if all(judges):
      out[key] = {'metrics': _summarize_methods([judged_methods(j) for j in judges]),
                  'gap_closed': _summarize_gap(judges)}
  return out


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
                             for key, label in JUDGES.items()]
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


def format_table(payload: dict) -> str:
  """The results a run ends with: one row per method (%), then gap_closed if reported.

  With judges (recognizers that took no part in training: payload['judge'],
  payload['photo_judge']), their rows follow as '<judge>: <method>', then their gap closed.
  """
  judges = {key: judged_methods(payload[key])
            for key in JUDGES if payload.get(key)}   # in JUDGES' order
  # NULL's translations, under each recognizer that scored them.
  translation = payload.get('translation') or {}
  translated = {key: judged_methods(translation[key])
                for key in ('f', *JUDGES) if translation.get(key)}
  label = recognizer_label
  rows = payload['metrics']
  width = max(len('method (%)'), *map(len, rows),
              *(len(f'{label(key)}: {name}') for by in (judges, translated)
                for key, m in by.items() for name in m))
  cell = lambda value: '-' if value is None else f'{100 * value:.2f}'
  row = lambda name, m: name.ljust(width) + ''.join(f'{cell(m.get(key)):>13}'
                                                    for key, _ in RUN_COLUMNS)
  lines = ['method (%)'.ljust(width) + ''.join(f'{title:>13}' for _, title in RUN_COLUMNS)]
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
                     for key in JUDGES if key in validated)
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


def run_markdown(payload: dict, *, notes: str = '', images=(), sections: str = '') -> str:
  """One run's report.md, from its results.json payload (evaluate.write_report's).

  The methods' table (payload['metrics'] and 'counts'), then what the payload holds of:
  the gap closed ('gap', 'gap_closed'), the judges (JUDGES' keys) beside F, twin fidelity
  ('twin_fidelity') and image fidelity ('fidelity'); then `sections` (more markdown), the
  ROC and CMC, `images` (file names beside report.md) and the commit. `notes` follows the
  dataset line.
  """
  results, counts = payload['metrics'], payload['counts']
  headline = ''
  gap = payload.get('gap')
  if gap is not None:
    closed = payload['gap_closed']
    share = 'no gap to close' if closed is None else f'{100 * closed:.1f} % of the rank-1 gap'
    headline = (f"\n**Gap closed** by {gap['method']}: {share} between {gap['raw']} "
                f"({_fmt(results[gap['raw']]['rank1'])} %) and vis_to_vis "
                f"({_fmt(results['vis_to_vis']['rank1'])} %, the same recognizer on VIS "
                f"probes), (fused - raw) / (vis_to_vis - raw).\n")
  fidelity_table = ''
  fidelity = payload.get('fidelity')
  if fidelity is not None:
    lines = '\n'.join(f'| {name} | {f["psnr"]:.2f} | {f["ssim"]:.4f} |'
                      for name, f in fidelity.items())
    fidelity_table = f"""
**Fidelity** to the probes' VIS twins (each probe's scene rendered in VIS), mean over the probes;
raw_nir, the probe itself, is the floor.

| images | PSNR dB | SSIM |
|---|---|---|
{lines}
"""
  judge_table = _judge_table(results, payload) if any(k in payload for k in JUDGES) else ''
  twin_table = _twin_table(payload['twin_fidelity']) if payload.get('twin_fidelity') else ''
  pictures = ''.join(f' ![{n}]({n})' for n in images)
  rows = '\n'.join(
      f'| {name} | {counts[name]["num_probe"]} x {counts[name]["num_gallery"]} | '
      f'{_fmt(r["rank1"])} | {_fmt(r["rank5"])} | {_fmt(r["vr_at_far_1e-2"])} | '
      f'{_fmt(r["vr_at_far_1e-3"])} | {_fmt(r["eer"])} |'
      for name, r in results.items())
  dataset = payload['dataset']
  return f"""# {payload['title']}

Dataset: `{dataset.get('name')}` / `{dataset.get('config')}`. {notes}

| method | probe x gallery | rank-1 % | rank-5 % | VR@FAR=1% | VR@FAR=0.1% | EER % |
|---|---|---|---|---|---|---|
{rows}
{headline}{judge_table}{twin_table}{fidelity_table}{sections}
![ROC](roc.png) ![CMC](cmc.png){pictures}

Commit `{payload['git_commit']}`, {payload['created']}.
"""


def _fmt(x):
  return f'{100 * x:.2f}'


def scores_table(columns: dict, gaps: dict | None = None) -> str:
  """A markdown table of rank-1 and VR@FAR=1% %: a row per method, a column pair per
  recognizer. columns: {label: {method: metrics.summary}} (a method a column lacks is
  '-'); gaps: {label: gap closed or None}, a last row."""
  cell = lambda r, key: _fmt(r[key]) if r is not None else '-'
  methods = list(dict.fromkeys(m for c in columns.values() for m in c))
  rows = '\n'.join(
      f'| {name} | ' + ' | '.join(cell(c.get(name), key) for key in ('rank1', 'vr_at_far_1e-2')
                                  for c in columns.values()) + ' |'
      for name in methods)
  if gaps is not None:
    share = lambda x: 'no gap' if x is None else f'{100 * x:.1f} %'
    rows += ('\n| gap closed | ' + ' | '.join(share(gaps.get(label)) for label in columns)
             + ' |' + ' |' * len(columns))
  header = ' | '.join(f'{metric} {title}' for metric in ('rank-1 %', 'VR@FAR=1%')
                      for title in columns)
  return f"""| method | {header} |
|---|{'---|' * 2 * len(columns)}
{rows}"""


def _judge_table(by_f: dict, payload: dict) -> str:
  """report.md's F-vs-judges table: rank-1 and VR@FAR=1% of each method, gap closed below."""
  judges = [k for k in JUDGES if k in payload]
  methods = list(judged_methods(payload[judges[0]]))
  columns = {'F': {m: by_f[m] for m in methods if m in by_f},
             **{JUDGES[k]: judged_methods(payload[k]) for k in judges}}
  gaps = None
  if 'gap_closed' in payload:
    gaps = {'F': payload['gap_closed'], **{JUDGES[k]: payload[k].get('gap_closed')
                                           for k in judges}}
  about = '; '.join(f'{JUDGES[k]}: ' + ', '.join(f'{a} {v}' for a, v in
                                                   payload[k]['recognizer'].items()
                                                   if v is not None) for k in judges)
  return f"""
**Judges**: recognizers that took no part in training score the same images ({about}).
F is the recognizer of the table above; a generator trained against F can fool F without
drawing the person, which a judge would not reward; the photo judge, trained on real
photographs, does not share F's view of the renderer.

{scores_table(columns, gaps)}
"""


def _twin_table(twin: dict) -> str:
  """report.md's twin fidelity: each recognizer's cosine to the own twin and twin TAR."""
  names = list(next(iter(twin.values())))
  rows = '\n'.join(
      f'| {recognizer_label(k)} | ' + ' | '.join(f'{by[n]["cosine"]:.3f}' for n in names) + ' | ' +
      ' | '.join(_fmt(by[n]['tar_at_far_1e-2']) for n in names) + ' |'
      for k, by in twin.items())
  cosines, tars = (' | '.join(f'{what} {n}' for n in names) for what in ('cosine', 'TAR'))
  return f"""
**Twin fidelity**: under each recognizer, each probe against its own VIS twin (the same scene
rendered in VIS): mean cosine similarity, and twin verification, TAR % at FAR = 1 % of
probe-vs-own-twin pairs against probe-vs-other-identities'-twins pairs.

| recognizer | {cosines} | {tars} |
|---|{'---|' * 2 * len(names)}
{rows}
"""


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
      # Not at the top: evaluate imports this module, and JAX, which the tables do not need.
      from hfr_jax import evaluate  # pylint: disable=import-outside-toplevel
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
  """`python -m hfr_jax.report`; its flags are defined in the `__main__` block below."""
  workdirs = [*_WORKDIRS.value, *argv[1:]]
  if not workdirs:
    raise SystemExit(f'{cli.program()}: --workdirs: name at least one run or k-fold directory')
  with cli.one_line_errors():
    text = write(workdirs, _OUTPUT.value)
  print(text, end='')
  print(f'Report: {_OUTPUT.value}/report.md, {_OUTPUT.value}/report.html')


if __name__ == '__main__':
  # The command's flags are defined here, not on import: `python -m` runs this file as
  # __main__, and the hfr_jax.report that evaluate imports would define them a second time
  # (and every program importing evaluate would take --workdirs and --output).
  _WORKDIRS = flags.DEFINE_list('workdirs', [], 'Run or k-fold directories, comma-separated '
                                '(further command-line arguments are workdirs too).')
  _OUTPUT = flags.DEFINE_string('output', 'report', 'Directory for report.md, report.html and '
                                'the plots.')
  cli.run(main)
