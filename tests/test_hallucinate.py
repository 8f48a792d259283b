"""Export -> load -> hallucinate CLI round trip, and landmark sidecars."""

import os
import subprocess
import sys

from flax import nnx
import jax
import numpy as np
from PIL import Image
import pytest

from hfr_jax import export
from hfr_jax import hallucinate
from hfr_jax import landmarks
from hfr_jax.models import pcfh
from hfr_jax.ops import align

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KWARGS = dict(resolution=48, width=4, num_res=1, local_num_res=1)


def write_pts(path, points):
  body = '\n'.join(f'{x:.3f} {y:.3f}' for x, y in points)
  path.write_text(f'version: 1\nn_points: 68\n{{\n{body}\n}}\n')


def test_sidecars_read_back_the_same_points(tmp_path):
  points = np.random.default_rng(0).uniform(0, 48, (68, 2)).astype(np.float32)
  write_pts(tmp_path / 'a.pts', points)
  np.savetxt(tmp_path / 'b.txt', points)
  np.save(tmp_path / 'c.npy', points)
  for name in ('a.pts', 'b.txt', 'c.npy'):
    np.testing.assert_allclose(landmarks.read_sidecar(str(tmp_path / name)), points, atol=1e-3)
  assert landmarks.sidecar_for(str(tmp_path / 'a.png')) == str(tmp_path / 'a.pts')
  np.savetxt(tmp_path / 'bad.txt', points[:5])
  with pytest.raises(ValueError, match=r'bad\.txt: expected 68'):
    landmarks.read_sidecar(str(tmp_path / 'bad.txt'))


@pytest.mark.heavy(40)
def test_export_load_and_cli_reproduce_the_generator(tmp_path):
  ga = pcfh.MultiPathGenerator(1, 3, rngs=nnx.Rngs(0), **KWARGS)
  export.save(ga, str(tmp_path / 'export'), factory=hallucinate.GENERATOR, kwargs=KWARGS)
  loaded = hallucinate.load_generator(str(tmp_path / 'export'))
  rng = np.random.default_rng(1)
  gray = rng.integers(0, 256, (2, 48, 48, 1), dtype=np.uint8)
  images = np.repeat(gray, 3, axis=-1)
  points = np.stack([align.mean_face(48) + rng.normal(0, 1, (68, 2))] * 2).astype(np.float32)
  want = hallucinate.hallucinate(ga, images, points)
  np.testing.assert_array_equal(hallucinate.hallucinate(loaded, images, points), want)
  # Reference: GA on [-1, 1] gray, back to uint8 by hand.
  x = images[..., :1].astype(np.float32) / 127.5 - 1
  by_hand = np.clip(np.round((np.asarray(ga(x, points)) + 1) * 127.5), 0, 255)
  np.testing.assert_allclose(want, by_hand, atol=1)

  inputs = tmp_path / 'in'
  inputs.mkdir()
  for i in range(2):
    Image.fromarray(images[i]).save(inputs / f'face{i}.png')
    write_pts(inputs / f'face{i}.pts', points[i])
  env = {**os.environ, 'PYTHONPATH': ROOT}
  proc = subprocess.run(
      [sys.executable, '-m', 'hfr_jax.hallucinate', f'--model_dir={tmp_path / "export"}',
       f'--input={inputs}', f'--output={tmp_path / "out"}'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-2000:]
  for i in range(2):
    got = np.asarray(Image.open(tmp_path / 'out' / f'face{i}.png'))
    np.testing.assert_array_equal(got, want[i])


def test_cli_names_a_missing_input_in_one_line(tmp_path):
  ga = pcfh.MultiPathGenerator(1, 3, rngs=nnx.Rngs(0), **KWARGS)
  export.save(ga, str(tmp_path / 'export'), factory=hallucinate.GENERATOR, kwargs=KWARGS)
  proc = subprocess.run(
      [sys.executable, '-m', 'hfr_jax.hallucinate', f'--model_dir={tmp_path / "export"}',
       f'--input={tmp_path / "nope"}', f'--output={tmp_path / "out"}'],
      cwd=ROOT, env={**os.environ, 'PYTHONPATH': ROOT}, capture_output=True, text=True,
      timeout=600)
  assert proc.returncode != 0
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error: --input:') and 'nope' in last
  assert not (tmp_path / 'out').exists()
