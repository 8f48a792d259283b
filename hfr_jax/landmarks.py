"""68-point landmarks: read from sidecar files, or detected with dlib.

Two kinds of sidecar: one file beside each image (`read_sidecar`, what
hallucinate/translate read), and one table for a whole manually downloaded
release (`write_table` / `read_table`, `<manual_dir>/landmarks.json`, written
by hfr_jax.tools.detect_landmarks and read by the real-data builders).

Detection needs the optional `landmarks` extra (dlib-bin and
face-recognition-models, whose shape_predictor_68 gives iBUG-68 points):
pip install -e '.[landmarks]'. Points are (x, y) = (column, row) pixels.
"""

import functools
import os
import warnings

import numpy as np

from hfr_jax import fileio

SIDECAR_SUFFIXES = ('.pts', '.txt', '.npy')


class LandmarksUnavailable(RuntimeError):
  """No sidecar and no detector (or no face found)."""


def import_dlib():
  """(dlib, face_recognition_models), the `landmarks` extra; ImportError naming the missing one."""
  warnings.filterwarnings('ignore', message='pkg_resources')   # face_recognition_models'
  import dlib
  import face_recognition_models
  return dlib, face_recognition_models


@functools.cache
def dlib_models():
  """(frontal face detector, 68-point shape predictor); one-line error without the extra."""
  try:
    dlib, face_recognition_models = import_dlib()
  except ImportError as e:
    raise LandmarksUnavailable(
        f"landmark detection needs dlib ({e.name} is missing): pip install -e '.[landmarks]', "
        'or give each image a sidecar <name>.pts / .txt / .npy with 68 (x, y) points') from e
  return (dlib.get_frontal_face_detector(),
          dlib.shape_predictor(face_recognition_models.pose_predictor_model_location()))


def detect(image: np.ndarray, upsample: int = 0) -> np.ndarray | None:
  """(68, 2) float32 points of the largest face in a uint8 RGB image, or None."""
  detector, predictor = dlib_models()
  boxes = detector(image, upsample)
  if not boxes:
    return None
  shape = predictor(image, max(boxes, key=lambda b: b.area()))
  return np.array([[p.x, p.y] for p in shape.parts()], np.float32)


def read_sidecar(path: str) -> np.ndarray:
  """iBUG .pts, whitespace .txt (68 rows of x y) or .npy -> (68, 2) float32."""
  try:
    if path.endswith('.npy'):
      points = np.load(path, allow_pickle=False)
    else:
      with open(path) as f:
        lines = [l.strip() for l in f if l.strip()]
      if path.endswith('.pts'):   # version / n_points header, then { x y ... }
        lines = lines[lines.index('{') + 1:lines.index('}')]
      points = np.array([[float(v) for v in l.replace(',', ' ').split()] for l in lines])
  except (OSError, ValueError) as e:
    raise ValueError(f'{path}: unreadable landmarks ({e})') from e
  points = np.asarray(points, np.float32)
  if points.shape != (68, 2):
    raise ValueError(f'{path}: expected 68 (x, y) points, found shape {points.shape}')
  return points


def sidecar_for(image_path: str) -> str | None:
  stem = os.path.splitext(image_path)[0]
  for suffix in SIDECAR_SUFFIXES:
    if os.path.isfile(stem + suffix):
      return stem + suffix
  return None


def for_image(image_path: str, image: np.ndarray) -> np.ndarray:
  """Sidecar landmarks if present, else dlib's; raises LandmarksUnavailable."""
  sidecar = sidecar_for(image_path)
  if sidecar:
    return read_sidecar(sidecar)
  points = detect(image)
  if points is None:
    raise LandmarksUnavailable(f'{image_path}: no face found by dlib and no sidecar landmarks')
  return points


# ----------------------------------------------------------------------------
# Real photographs: detection with retries, eye-based placement, one sidecar table.

# dlib's detector upsamples the image this many times before giving up: NIR faces, dark and
# low in contrast, are often found only at 1 or 2 (each doubles the image side, ~4x the time).
UPSAMPLES = (0, 1, 2)
TABLE_NAME = 'landmarks.json'
TABLE_FORMAT = 'hfr_jax landmarks 1'
DETECTOR = ('dlib get_frontal_face_detector + shape_predictor_68_face_landmarks '
            '(face_recognition_models)')


def detect_with_retries(image: np.ndarray, upsamples=UPSAMPLES):
  """(points, upsample) of the first upsampling that finds a face, or (None, None)."""
  for upsample in upsamples:
    points = detect(image, upsample)
    if points is not None:
      return points, upsample
  return None, None


def from_eyes(eyes: np.ndarray) -> np.ndarray:
  """(68, 2) mean shape placed so its eye centres land on `eyes` (2, 2): a two-point fit.

  The similarity (rotation, scale, shift) taking the centroids of the mean
  shape's eye points 36-41 and 42-47 onto the two eye positions. Eyes are
  given in any order: the one further left in the image is the iBUG "left"
  eye (36-41, the subject's right eye).
  """
  from hfr_jax.ops import mean_shape   # numpy only
  eyes = np.asarray(eyes, np.float64)
  eyes = eyes[np.argsort(eyes[:, 0], kind='stable')]
  shape = mean_shape.MEAN_SHAPE_68
  src = np.array([shape[mean_shape.LEFT_EYE].mean(0), shape[mean_shape.RIGHT_EYE].mean(0)])
  complex_of = lambda p: p[..., 0] + 1j * p[..., 1]
  scale_rotation = (complex_of(eyes[1]) - complex_of(eyes[0])) / (complex_of(src[1]) -
                                                                 complex_of(src[0]))
  placed = complex_of(eyes[0]) + scale_rotation * (complex_of(shape) - complex_of(src[0]))
  return np.stack([placed.real, placed.imag], -1).astype(np.float32)


def write_table(path: str, points: dict, no_face, unreadable=(), upsamples=UPSAMPLES):
  """Writes the sidecar table (JSON) whole or not at all: a temporary file, then a rename.

  points: {path relative to the manual dir: (68, 2)}; no_face: images where no
  upsampling found a face; unreadable: images that could not be decoded.
  """
  import json
  table = {
      'format': TABLE_FORMAT,
      'detector': DETECTOR,
      'upsamples': list(upsamples),
      'coordinates': 'x = column, y = row, pixels of the image as stored, iBUG-68 order',
      'landmarks': {k: [[_number(x) for x in p] for p in np.asarray(v, np.float64)]
                    for k, v in sorted(points.items())},
      'no_face': sorted(no_face),
      'unreadable': sorted(unreadable),
  }
  fileio.write_text(path, json.dumps(table, separators=(',', ':')))


def _number(x: float):
  """dlib's whole-pixel points as ints, others to 0.01 pixel: a short table."""
  return int(x) if float(x).is_integer() else round(float(x), 2)


def read_table(path: str):
  """(points {relative path: (68, 2) float32}, no_face set) of a sidecar table."""
  import json
  try:
    with open(path) as f:
      table = json.load(f)
    if table.get('format') != TABLE_FORMAT:
      raise ValueError(f'format {table.get("format")!r}, expected {TABLE_FORMAT!r}')
    points = {k: np.asarray(v, np.float32) for k, v in table['landmarks'].items()}
    bad = [k for k, v in points.items() if v.shape != (68, 2)]
    if bad:
      raise ValueError(f'{bad[0]}: expected 68 (x, y) points')
    return points, set(table.get('no_face', ()))
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ValueError(f'{path}: unreadable landmarks table ({e})') from e
