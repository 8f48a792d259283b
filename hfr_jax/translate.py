"""NIR faces -> VIS faces with an exported NULL model, in a random or a borrowed style.

python -m hfr_jax.translate --model_dir=WORKDIR/export --input=FILE_OR_DIR --output=DIR \
    [--style_from=VIS_IMAGE] [--seed=0]

x_{1->2} = D2(Ec1(x1), s2) (Sec. 3.2): each NIR face's content code decoded by
the VIS decoder, with a style s2 ~ N(0, I) drawn from --seed and the file's
position in the sorted input list, or with the style code (mean) of the VIS
face --style_from for every input. Files, landmarks (sidecars, else dlib) and
errors are handled as `hfr_jax.hallucinate` handles them; faces are aligned by
their landmarks onto the mean face at the model's resolution, so outputs are
aligned VIS crops of that size, PNGs named after the inputs.
"""

import functools
import os
import sys

from absl import app
from absl import flags
from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from hfr_jax import cli
from hfr_jax import export
from hfr_jax import fileio
from hfr_jax import hallucinate
from hfr_jax import landmarks as landmarks_lib
from hfr_jax.models import null as null_models

FACTORY = 'hfr_jax.models.null:NULLModel'
CHUNK = 16

# hfr_jax.hallucinate, imported for its file handling, defines the same three flags; ours
# replace them (allow_override), with this tool's help.
_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'A NULL export directory (WORKDIR/export).',
                                 allow_override=True)
_INPUT = flags.DEFINE_string('input', None, 'A NIR image, or a directory of them.',
                             allow_override=True)
_OUTPUT = flags.DEFINE_string('output', None, 'Directory for the translated VIS PNGs.',
                              allow_override=True)
_STYLE_FROM = flags.DEFINE_string('style_from', None,
                                  'A VIS face whose style every output takes (default: random).')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the random styles.')
flags.mark_flags_as_required(['model_dir', 'input', 'output'])


def load_model(directory: str):
  """(NULLModel, input resolution) of a NULL export directory (`hfr_jax.export`)."""
  model, meta = export.load(directory, factory=FACTORY, what='a NULL export')
  return model, int(meta['info'].get('input_resolution') or model.resolution)


def random_styles(model, count: int, seed: int) -> np.ndarray:
  """(count, style_dim) styles ~ N(0, I); the i-th depends on (seed, i) only."""
  key = jax.random.key(seed)
  return np.stack([np.asarray(jax.random.normal(jax.random.fold_in(key, i), (model.style_dim,)))
                   for i in range(count)])


def borrowed_style(model, image: np.ndarray, points: np.ndarray) -> np.ndarray:
  """(style_dim,) mean style code of one stored VIS face (uint8 (H, W, 3))."""
  graphdef, state = nnx.split(model)
  return np.asarray(_style(graphdef, state, image[None], points[None]))[0]


def translate(model, images: np.ndarray, points: np.ndarray, styles: np.ndarray) -> np.ndarray:
  """uint8 NIR (N, H, W, 3) + landmarks + (N, style_dim) styles -> uint8 VIS (N, R, R, 3)."""
  graphdef, state = nnx.split(model)
  return np.asarray(_translate(graphdef, state, images, points, styles))


@functools.partial(jax.jit, static_argnames='graphdef')
def _style(graphdef, state, images, points):
  model = nnx.merge(graphdef, state)
  x = null_models.model_input(images.astype(jnp.float32), points, resolution=model.resolution,
                              channels=null_models.DOMAINS['vis'])
  return model.vis.style(x)[0]


@functools.partial(jax.jit, static_argnames='graphdef')
def _translate(graphdef, state, images, points, styles):
  fake = nnx.merge(graphdef, state).nir_to_vis(images.astype(jnp.float32), points, styles)
  return jnp.round((fake + 1.0) * 127.5).clip(0, 255).astype(jnp.uint8)


def save_png(image: np.ndarray, directory: str, like: str):
  """Writes `image` as DIRECTORY/<like's stem>.png, whole or not at all."""
  target = os.path.join(directory, os.path.splitext(os.path.basename(like))[0] + '.png')
  fileio.write_atomic(target, lambda tmp: Image.fromarray(image).save(tmp, 'PNG'))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Too many command-line arguments: {argv[1:]}')
  try:
    model, size = load_model(_MODEL_DIR.value)
    files = hallucinate.list_images(_INPUT.value)
    faces = [hallucinate.load_face(f, size) for f in files]
    if _STYLE_FROM.value:
      styles = np.repeat(borrowed_style(model, *hallucinate.load_face(_STYLE_FROM.value, size))
                         [None], len(files), axis=0)
    else:
      styles = random_styles(model, len(files), _SEED.value)
  except (ValueError, FileNotFoundError, landmarks_lib.LandmarksUnavailable) as e:
    sys.exit(f'error: {e}')
  os.makedirs(_OUTPUT.value, exist_ok=True)
  for start in range(0, len(files), CHUNK):
    part = slice(start, start + CHUNK)
    images, points = (np.stack(a) for a in zip(*faces[part]))
    for path, image in zip(files[part], translate(model, images, points, styles[part])):
      save_png(image, _OUTPUT.value, path)
  print(f'{len(files)} VIS image(s) written to {_OUTPUT.value}')


if __name__ == '__main__':
  cli.run(main)
