"""68-point landmarks: read from sidecar files, or detected with dlib.

Detection needs the optional `landmarks` extra (dlib-bin and
face-recognition-models, whose shape_predictor_68 gives iBUG-68 points):
pip install -e '.[landmarks]'. Points are (x, y) = (column, row) pixels.
"""

import functools
import os
import warnings

import numpy as np

SIDECAR_SUFFIXES = ('.pts', '.txt', '.npy')


class LandmarksUnavailable(RuntimeError):
  """No sidecar and no detector (or no face found)."""


@functools.cache
def dlib_models():
  """(frontal face detector, 68-point shape predictor); one-line error without the extra."""
  try:
    warnings.filterwarnings('ignore', message='pkg_resources')
    import dlib
    import face_recognition_models
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
