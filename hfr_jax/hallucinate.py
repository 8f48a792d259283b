"""NIR faces -> VIS faces with an exported PCFH generator.

python -m hfr_jax.hallucinate --model_dir=WORKDIR/export --input=FILE_OR_DIR --output=DIR

Landmarks come from a sidecar next to each image (<name>.pts in iBUG format,
<name>.txt with 68 "x y" rows, or <name>.npy), else from dlib when the
`landmarks` extra is installed. Images of another size are resized to the
generator's resolution (landmarks scaled with them); outputs are PNGs of
that resolution named after the inputs.
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
from hfr_jax import landmarks as landmarks_lib
from hfr_jax.models import pcfh

GENERATOR = 'hfr_jax.models.pcfh:MultiPathGenerator'

_MODEL_DIR = flags.DEFINE_string('model_dir', None, 'A PCFH export directory (WORKDIR/export).')
_INPUT = flags.DEFINE_string('input', None, 'A NIR image, or a directory of them.')
_OUTPUT = flags.DEFINE_string('output', None, 'Directory for the hallucinated VIS PNGs.')
flags.mark_flags_as_required(['model_dir', 'input', 'output'])

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def list_images(path: str) -> list[str]:
  if os.path.isdir(path):
    files = sorted(os.path.join(path, f) for f in os.listdir(path)
                   if f.lower().endswith(IMAGE_SUFFIXES))
    if not files:
      raise ValueError(f'--input: {path} holds no images ({", ".join(IMAGE_SUFFIXES)})')
    return files
  if not os.path.isfile(path):
    raise ValueError(f'--input: {path} does not exist')
  return [path]


def load_face(path: str, resolution: int):
  """uint8 RGB (resolution, resolution, 3) and its (68, 2) landmarks."""
  try:
    image = np.asarray(Image.open(path).convert('RGB'))
  except OSError as e:
    raise ValueError(f'{path}: not a readable image ({e})') from e
  points = landmarks_lib.for_image(path, image)
  h, w = image.shape[:2]
  if (h, w) != (resolution, resolution):
    image = np.asarray(Image.fromarray(image).resize((resolution, resolution), Image.BILINEAR))
    # Pixel centres at integers: x' + 0.5 = (x + 0.5) * scale.
    points = (points + 0.5) * np.array([resolution / w, resolution / h], np.float32) - 0.5
  return image, points


def load_generator(directory: str):
  """The NIR -> VIS generator of a PCFH export directory (`hfr_jax.export`)."""
  ga, _ = export.load(directory, factory=GENERATOR, what='a PCFH export')
  return ga


def hallucinate(ga, images: np.ndarray, points: np.ndarray) -> np.ndarray:
  """uint8 NIR (N, R, R, 3) -> uint8 VIS (N, R, R, 3) through GA."""
  graphdef, state = nnx.split(pcfh.NIRToVIS(ga))
  return np.asarray(_run(graphdef, state, images, points))


@functools.partial(jax.jit, static_argnames='graphdef')
def _run(graphdef, state, images, points):
  fake = nnx.merge(graphdef, state)(images.astype(jnp.float32) / 255.0, points)
  return jnp.round(fake * 255.0).clip(0, 255).astype(jnp.uint8)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Too many command-line arguments: {argv[1:]}')
  try:
    ga = load_generator(_MODEL_DIR.value)
    files = list_images(_INPUT.value)
    faces = [load_face(f, ga.resolution) for f in files]
  except (ValueError, FileNotFoundError, landmarks_lib.LandmarksUnavailable) as e:
    sys.exit(f'error: {e}')
  os.makedirs(_OUTPUT.value, exist_ok=True)
  for start in range(0, len(files), 16):
    chunk = faces[start:start + 16]
    out = hallucinate(ga, np.stack([f[0] for f in chunk]), np.stack([f[1] for f in chunk]))
    for path, image in zip(files[start:start + 16], out):
      name = os.path.splitext(os.path.basename(path))[0] + '.png'
      fileio.write_atomic(os.path.join(_OUTPUT.value, name),
                         lambda tmp, image=image: Image.fromarray(image).save(tmp, 'PNG'))
  print(f'{len(files)} VIS image(s) written to {_OUTPUT.value}')


if __name__ == '__main__':
  cli.run(main)
