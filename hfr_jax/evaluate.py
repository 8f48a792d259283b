"""Features -> scores -> metrics -> results.json, report.md, roc.png, cmc.png."""

import datetime
import json
import os
import subprocess

import matplotlib
matplotlib.use('Agg')
from matplotlib import pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from hfr_jax import metrics  # noqa: E402


def git_commit() -> str | None:
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True,
                          check=True, cwd=os.path.dirname(__file__)).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


def plot_roc(curves: dict, path: str):
  fig, ax = plt.subplots(figsize=(5, 4))
  for name, (scores, probe_ids, gallery_ids) in curves.items():
    far, tar, _ = metrics.roc_curve(scores, probe_ids, gallery_ids)
    keep = far > 0
    ax.semilogx(far[keep], tar[keep], label=name)
  ax.set(xlabel='false accept rate', ylabel='verification rate', xlim=(1e-4, 1), ylim=(0, 1.01),
         title='ROC')
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(loc='lower right')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def plot_cmc(curves: dict, path: str, max_rank: int = 20):
  fig, ax = plt.subplots(figsize=(5, 4))
  for name, (scores, probe_ids, gallery_ids) in curves.items():
    cmc = metrics.cmc_curve(scores, probe_ids, gallery_ids)[:max_rank]
    ax.plot(np.arange(1, len(cmc) + 1), cmc, marker='.', label=name)
  ax.set(xlabel='rank', ylabel='identification rate', ylim=(0, 1.01), title='CMC')
  ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
  ax.grid(True, alpha=0.3)
  ax.legend(loc='lower right')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def _fmt(x):
  return f'{100 * x:.2f}'


def write_report(workdir: str, curves: dict, *, title: str, dataset: dict, config,
                 notes: str = '', extra: dict | None = None,
                 images: dict[str, np.ndarray] | None = None) -> dict:
  """Scores every entry of `curves` ({method: (scores, probe_ids, gallery_ids)}).

  Writes results.json (each method's metrics under `metrics` and at the top
  level), roc.png, cmc.png, any `images` ({'grid.png': (H, W, 3) float in
  [0, 1]}) and report.md to `workdir`, each file complete or not at all
  (written to a temporary name, then renamed).
  """
  os.makedirs(workdir, exist_ok=True)
  results = {name: metrics.summary(*c) for name, c in curves.items()}
  counts = {name: {'num_probe': int(np.shape(c[0])[0]), 'num_gallery': int(np.shape(c[0])[1])}
            for name, c in curves.items()}
  payload = {
      'title': title,
      'metrics': results,
      'counts': counts,
      'dataset': dataset,
      'config': json.loads(config.to_json_best_effort()) if hasattr(config, 'to_json_best_effort')
                else config,
      'git_commit': git_commit(),
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(),
      **(extra or {}),
      **results,
  }
  first = next(iter(counts.values()))
  payload['num_gallery'], payload['num_probe'] = first['num_gallery'], first['num_probe']
  for name in ('roc.png', 'cmc.png'):
    tmp = os.path.join(workdir, 'tmp.' + name)
    (plot_roc if name == 'roc.png' else plot_cmc)(curves, tmp)
    os.replace(tmp, os.path.join(workdir, name))
  for name, image in (images or {}).items():
    tmp = os.path.join(workdir, 'tmp.' + name)
    Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(tmp, 'PNG')
    os.replace(tmp, os.path.join(workdir, name))
  pictures = ''.join(f' ![{n}]({n})' for n in (images or {}))
  rows = '\n'.join(
      f'| {name} | {counts[name]["num_probe"]} x {counts[name]["num_gallery"]} | '
      f'{_fmt(r["rank1"])} | {_fmt(r["rank5"])} | {_fmt(r["vr_at_far_1e-2"])} | '
      f'{_fmt(r["vr_at_far_1e-3"])} | {_fmt(r["eer"])} |'
      for name, r in results.items())
  report = f"""# {title}

Dataset: `{dataset.get('name')}` / `{dataset.get('config')}`. {notes}

| method | probe x gallery | rank-1 % | rank-5 % | VR@FAR=1% | VR@FAR=0.1% | EER % |
|---|---|---|---|---|---|---|
{rows}

![ROC](roc.png) ![CMC](cmc.png){pictures}

Commit `{payload['git_commit']}`, {payload['created']}.
"""
  for name, text in (('results.json', json.dumps(payload, indent=2, default=str)),
                     ('report.md', report)):
    tmp = os.path.join(workdir, 'tmp.' + name)
    with open(tmp, 'w') as f:
      f.write(text)
    os.replace(tmp, os.path.join(workdir, name))
  return payload
