"""The photo judge: dlib's ResNet face recognizer, trained on real photographs.

F and the synthetic-trained judge are LightCNNs trained on this project's renderer;
what fools one can fool the other (issue 31). The photo judge never saw a rendered
face: dlib's `dlib_face_recognition_resnet_model_v1` (face-recognition-models, the
`landmarks` extra; 128-d descriptors, 99.38 % on LFW as released), fed the stored 68
landmarks, which dlib uses to cut its own aligned 150x150 chip (`get_face_chip`,
padding 0.25). It runs on the host, never inside a jit, a loss or a training step:
it only scores finished images.

Descriptors are compared by cosine similarity, as every other recognizer here.
"""

import functools

import numpy as np

from hfr_jax import landmarks

DESCRIBE = {'arch': 'dlib_face_recognition_resnet_model_v1', 'trained_on': 'real photographs',
            'package': 'face-recognition-models'}
# The setting of config.photo_judge: 'auto' scores with it where the extra is installed.
MODES = ('auto', 'on', 'off')


class Unavailable(RuntimeError):
  """dlib or its recognition model is not installed."""


@functools.cache
def _model():
  try:
    dlib, face_recognition_models = landmarks.import_dlib()
  except ImportError as e:
    raise Unavailable(f"the photo judge needs dlib ({e.name} is missing): "
                      "pip install -e '.[landmarks]'") from e
  return dlib, dlib.face_recognition_model_v1(
      face_recognition_models.face_recognition_model_location())


def available() -> bool:
  try:
    _model()
  except Unavailable:
    return False
  return True


def wanted(mode: str) -> bool:
  """Whether a run with config.photo_judge = `mode` scores with the photo judge; 'on'
  without the extra is a one-line error naming the flag."""
  if mode not in MODES:
    raise ValueError(f'config.photo_judge={mode!r} is not one of {MODES}')
  if mode == 'off':
    return False
  if mode == 'on' and not available():
    raise Unavailable("config.photo_judge='on' needs dlib: pip install -e '.[landmarks]' "
                      "(or --config.photo_judge=auto)")
  return available()


def _shape(dlib, points: np.ndarray):
  """A dlib full_object_detection from (68, 2) (x, y) points, boxed by their extent."""
  lo, hi = np.floor(points.min(0)), np.ceil(points.max(0))
  box = dlib.rectangle(int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1]))
  return dlib.full_object_detection(box, [dlib.point(int(round(x)), int(round(y)))
                                          for x, y in points])


def descriptors(images: np.ndarray, landmarks: np.ndarray, batch_size: int = 64) -> np.ndarray:
  """(N, 128) float32 descriptors of uint8 RGB `images` (N, H, W, 3), each aligned by its
  (68, 2) `landmarks` (x = column, y = row), in batches of dlib's batch call."""
  dlib, model = _model()
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f'photo judge: expected uint8 (N, H, W, 3) images, got {images.dtype} '
                     f'{images.shape}')
  out = []
  for start in range(0, len(images), batch_size):
    chunk = slice(start, start + batch_size)
    faces = []
    for points in np.asarray(landmarks[chunk], np.float64):
      detections = dlib.full_object_detections()
      detections.append(_shape(dlib, points))
      faces.append(detections)
    batch = [np.ascontiguousarray(image) for image in images[chunk]]
    out += [np.asarray(d[0], np.float32) for d in model.compute_face_descriptor(batch, faces)]
  return np.stack(out) if out else np.zeros((0, 128), np.float32)
