"""The translate CLI (NULL's exported model -> VIS images) against the model run by hand."""

import os
import subprocess
import sys

from flax import nnx
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from hfr_jax import export
from hfr_jax.models import null as null_models

from test_null_train import TINY_MODEL
from trainer_runs import ROOT, random_faces


@pytest.mark.heavy(65)
def test_translate_cli_reproduces_the_exported_model(tmp_path):
  # Not at the top: the tiny config files of the subprocess runs import this module, and the
  # CLIs' required flags would then bind hfr_jax.main.
  from hfr_jax import translate
  from test_hallucinate import write_pts
  kwargs = {k: v for k, v in TINY_MODEL.items() if not k.startswith('disc')}
  model = null_models.NULLModel(**kwargs, rngs=nnx.Rngs(0))
  export.save(model, str(tmp_path / 'export'), factory=translate.FACTORY, kwargs=kwargs,
              info={'input_resolution': 48})
  batch = random_faces(2, 48, seed=3)
  inputs = tmp_path / 'in'
  inputs.mkdir()
  for i in range(2):
    Image.fromarray(batch['nir_image'][i]).save(inputs / f'face{i}.png')
    write_pts(inputs / f'face{i}.pts', batch['nir_landmarks'][i])
  Image.fromarray(batch['vis_image'][0]).save(tmp_path / 'style.png')
  write_pts(tmp_path / 'style.pts', batch['vis_landmarks'][0])

  # Reference: D2(Ec1(aligned NIR), s) by hand, s the VIS face's style mean.
  x_vis = null_models.model_input(batch['vis_image'][:1].astype(np.float32),
                                  batch['vis_landmarks'][:1], resolution=16, channels=3)
  style = model.vis.style(x_vis)[0]
  x_nir = null_models.model_input(batch['nir_image'].astype(np.float32), batch['nir_landmarks'],
                                  resolution=16, channels=1)
  fake = model.vis.decoder(model.nir.content(x_nir)[0], jnp.repeat(style, 2, axis=0))
  want = np.clip(np.round((np.asarray(fake) + 1) * 127.5), 0, 255)

  env = {**os.environ, 'PYTHONPATH': ROOT}
  common = [sys.executable, '-m', 'hfr_jax.translate', f'--model_dir={tmp_path / "export"}',
            f'--input={inputs}']
  borrowed = subprocess.run(common + [f'--output={tmp_path / "out"}',
                                      f'--style_from={tmp_path / "style.png"}'],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert borrowed.returncode == 0, borrowed.stderr[-2000:]
  for i in range(2):
    got = np.asarray(Image.open(tmp_path / 'out' / f'face{i}.png'))
    assert got.shape == (16, 16, 3)
    np.testing.assert_allclose(got, want[i], atol=1)

  # Random styles: one per file, from --seed; a missing style face is one line.
  rand = subprocess.run(common + [f'--output={tmp_path / "rand"}', '--seed=5'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert rand.returncode == 0, rand.stderr[-2000:]
  loaded, _ = translate.load_model(str(tmp_path / 'export'))
  styles = translate.random_styles(loaded, 2, 5)
  got = np.stack([np.asarray(Image.open(tmp_path / 'rand' / f'face{i}.png')) for i in range(2)])
  want = translate.translate(loaded, batch['nir_image'], batch['nir_landmarks'], styles)
  np.testing.assert_allclose(got.astype(int), want.astype(int), atol=1)   # rounding of x.5
  missing = subprocess.run(common + [f'--output={tmp_path / "x"}',
                                     f'--style_from={tmp_path / "nope.png"}'],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert missing.returncode != 0
  assert missing.stderr.strip().splitlines()[-1].startswith('error: ')
