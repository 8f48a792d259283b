"""The Colab notebooks, top to bottom in a Jupyter kernel on CPU, as a user runs them.

Each gets tiny parameters injected after its `parameters` cell, the way
papermill does; a cell that raises fails the test. What the executed notebook
shows is then checked against what the run wrote: the printed backend is the
one JAX runs on, the table is results.json's, the images are the run's files,
and every training phase showed a progress bar that reached its last step.
"""

import base64
import json
import os
import re
import sys
import time

import jax
import nbformat
from nbclient import NotebookClient
import pytest

from hfr_jax.report import format_table

from test_null_train import TINY_MODEL
from test_pcfh_train import judge_dir, save_tiny_judge, save_tiny_recognizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, 'notebooks')
STEPS = 3

# conftest.TINY's set: 4 training identities (2 held out for validation), 4 test ones.
TINY_DATA = {'data.num_identities': 8, 'data.resolution': 48, 'data.vis_per_identity': 3,
             'data.nir_per_identity': 2, 'eval.val_identities': 2, 'eval.batch_size': 8,
             'train.log_every': 1, 'train.eval_every': STEPS, 'train.checkpoint_every': STEPS,
             'train.image_every': 0}


def pcfh_parameters(tmp_path) -> dict:
  """The demo variant at test size, with a tiny F and judge given as directories, the path
  a CASIA run with converted LightCNNs takes (training them is test_frozen_recognizer's):
  F's and the judge's training would double the notebook's time, most of it compiling."""
  recognizer = tmp_path / 'recognizer'
  save_tiny_recognizer(recognizer)
  save_tiny_judge(recognizer)
  model = dict(width=4, num_res=1, local_num_res=1, aux_width=4, aux_num_res=1,
               attention_width=4, disc_width=4, disc_num_down=2, mi_width=4, mi_resolution=16)
  return dict(VARIANT='demo', OVERRIDES={
      **TINY_DATA, **{f'model.{k}': v for k, v in model.items()},
      'recognizer.dir': str(recognizer), 'recognizer.train_if_missing': False,
      'judge.dir': judge_dir(recognizer), 'judge.train_if_missing': False})


def null_parameters(tmp_path) -> dict:
  del tmp_path
  return dict(VARIANT='vae_gan,demo', OVERRIDES={
      **TINY_DATA, **{f'model.{k}': v for k, v in TINY_MODEL.items()}, 'photo_judge': 'off'})


# Each notebook: its parameters for CI, and the name on its training progress bar.
RUNS = {'pcfh_colab.ipynb': (pcfh_parameters, 'PCFH'),
        'null_colab.ipynb': (null_parameters, 'NULL')}


def test_every_notebook_runs_in_ci():
  assert sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith('.ipynb')) == sorted(RUNS)


@pytest.mark.parametrize('name', sorted(RUNS))
def test_committed_notebook_has_no_outputs_and_a_parameters_cell_first(name):
  nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
  nbformat.validate(nb)
  code = [c for c in nb.cells if c.cell_type == 'code']
  assert [(c.outputs, c.execution_count) for c in code] == [([], None)] * len(code)
  assert 'widgets' not in nb.metadata
  assert code[0].metadata.get('tags') == ['parameters']


def _inject(nb, parameters: dict):
  """papermill's injection: a cell after the `parameters` cell that assigns `parameters`."""
  index = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
  cell = nbformat.v4.new_code_cell('\n'.join(f'{k} = {v!r}' for k, v in parameters.items()))
  cell.metadata['tags'] = ['injected-parameters']
  nb.cells.insert(index + 1, cell)


def _outputs(nb, cell_id, kind):
  cell = next(c for c in nb.cells if c.get('id') == cell_id)
  if kind == 'image/png':
    return [base64.b64decode(o.data['image/png']) for o in cell.outputs
            if o.output_type == 'display_data' and 'image/png' in o.data]
  return ''.join(o.text for o in cell.outputs if o.output_type == 'stream' and o.name == kind)


@pytest.mark.heavy(50)
@pytest.mark.parametrize('name', sorted(RUNS))
def test_notebook_runs_top_to_bottom_and_shows_what_the_run_wrote(name, tmp_path):
  parameters, bar = RUNS[name]
  workdir = tmp_path / 'work'
  nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
  _inject(nb, dict(parameters(tmp_path), STEPS=STEPS, DATA_DIR=str(tmp_path / 'tfds'),
                   WORKDIR=str(workdir)))
  # The kernel imports this checkout's hfr_jax, from the repository root as on Colab.
  env = {**os.environ, 'PYTHONPATH': ROOT,
         'MPLBACKEND': 'module://matplotlib_inline.backend_inline'}   # plt.show() draws inline
  start = time.perf_counter()
  NotebookClient(nb, timeout=600, kernel_name='python3').execute(cwd=ROOT, env=env)
  elapsed = time.perf_counter() - start
  print(f'{name}: {elapsed:.0f} s', file=sys.stderr)

  assert re.search(r'^backend: (\w+),', _outputs(nb, 'devices', 'stdout'), re.M).group(1) == (
      jax.default_backend())
  results = json.loads((workdir / 'results.json').read_text())
  assert results['config']['train']['num_steps'] == STEPS   # the injected parameters took
  assert format_table(results) in _outputs(nb, 'table', 'stdout')
  shown = _outputs(nb, 'images', 'image/png')
  written = [(workdir / n).read_bytes() for n in ('samples.png', 'roc.png', 'cmc.png')]
  assert shown == written
  assert len(_outputs(nb, 'data', 'image/png')) == 1   # the NIR / VIS pairs
  # The bar tqdm draws without ipywidgets (Colab has them and draws a widget instead).
  err = _outputs(nb, 'train', 'stderr')
  assert re.search(rf'{bar}: 100%\|.*\| {STEPS}/{STEPS} ', err), err[-2000:]
  assert 'steps/s  ETA' not in err   # the console line, which a bar replaces
