"""The photo judge: dlib's ResNet recognizer fed our stored landmarks, on a real photograph."""

import numpy as np
import pytest

pytest.importorskip('dlib', reason="dlib is not installed (pip install -e '.[landmarks]')")
pytest.importorskip('face_recognition_models',
                    reason="dlib's models are not installed (the landmarks extra)")
skimage_data = pytest.importorskip(
    'skimage.data', reason='scikit-image ships the test photograph (the test extra)')

import dlib  # noqa: E402
import face_recognition_models  # noqa: E402

from hfr_jax import landmarks  # noqa: E402
from hfr_jax.recognizer import photo_judge  # noqa: E402


@pytest.fixture(scope='module')
def astronaut():
  image = skimage_data.astronaut()
  points, _ = landmarks.detect_with_retries(image)
  return image, points


def test_descriptor_is_dlibs_own_pipeline_from_its_detection(astronaut):
  """Our (x, y) landmarks -> dlib's chip -> descriptor equals dlib's detector + predictor +
  recognizer on the photograph (the documented face_recognition pipeline)."""
  image, points = astronaut
  detector, predictor = landmarks.dlib_models()
  shape = predictor(image, max(detector(image, 0), key=lambda b: b.area()))
  model = dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())
  want = np.asarray(model.compute_face_descriptor(image, shape), np.float32)
  got = photo_judge.descriptors(image[None], points[None])
  assert got.shape == (1, 128)
  np.testing.assert_allclose(got[0], want, atol=1e-5)


def test_a_face_moved_in_its_frame_keeps_its_descriptor_and_batches_change_nothing(astronaut):
  image, points = astronaut
  moved = np.zeros_like(image)
  moved[40:, 25:] = image[:-40, :-25]
  batch = np.stack([image, moved, image[:, ::-1]])
  mirrored, _ = landmarks.detect_with_retries(np.ascontiguousarray(image[:, ::-1]))
  found = photo_judge.descriptors(batch, np.stack([points, points + [25, 40], mirrored]))
  one_by_one = np.concatenate([photo_judge.descriptors(batch[i:i + 1], p[None]) for i, p in
                               enumerate([points, points + [25, 40], mirrored])])
  np.testing.assert_allclose(found, one_by_one, atol=1e-6)
  distance = lambda a, b: float(np.linalg.norm(a - b))
  assert distance(found[0], found[1]) < 0.05
  # Her mirror image is still her under dlib's 0.6 threshold, farther than the shifted copy.
  assert distance(found[0], found[1]) < distance(found[0], found[2]) < 0.6


def test_bad_images_and_modes_are_one_line_errors():
  with pytest.raises(ValueError, match='expected uint8'):
    photo_judge.descriptors(np.zeros((1, 8, 8, 3), np.float32), np.zeros((1, 68, 2)))
  with pytest.raises(ValueError, match=r"config.photo_judge='yes'"):
    photo_judge.wanted('yes')
  assert photo_judge.wanted('auto') and photo_judge.wanted('on') and not photo_judge.wanted('off')
