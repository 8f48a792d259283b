"""dlib landmarks on a real photograph (scikit-image's astronaut), and the table the tool writes."""

import json
import os

import numpy as np
from PIL import Image
import pytest

pytest.importorskip('dlib', reason="dlib is not installed (pip install -e '.[landmarks]')")
pytest.importorskip('face_recognition_models',
                    reason="dlib's 68-point model is not installed (the landmarks extra)")
skimage_data = pytest.importorskip(
    'skimage.data', reason='scikit-image ships the test photograph (the test extra)')

from hfr_jax import landmarks  # noqa: E402
from hfr_jax.ops import mean_shape  # noqa: E402
from hfr_jax.tools import detect_landmarks  # noqa: E402
from tfds_builders import real_data  # noqa: E402


def test_dlib_finds_the_astronaut_with_68_points_in_ibug_order():
  image = skimage_data.astronaut()
  points, upsample = landmarks.detect_with_retries(image)
  assert points is not None and points.shape == (68, 2) and upsample == 0
  detector, _ = landmarks.dlib_models()
  box = max(detector(image, 0), key=lambda b: b.area())
  margin = 0.1 * box.width()        # the jaw and brows may stray just past dlib's box
  x0, x1 = box.left() - margin, box.right() + margin
  y0, y1 = box.top() - margin, box.bottom() + margin
  assert ((x0 <= points[:, 0]) & (points[:, 0] <= x1)).all()
  assert ((y0 <= points[:, 1]) & (points[:, 1] <= y1)).all()
  y = lambda idx: points[idx, 1].mean()
  x = lambda idx: points[idx, 0].mean()
  assert y(np.r_[mean_shape.LEFT_BROW, mean_shape.RIGHT_BROW]) < y(
      np.r_[mean_shape.LEFT_EYE, mean_shape.RIGHT_EYE]) < points[30, 1] < y(mean_shape.OUTER_LIPS)
  assert x(mean_shape.LEFT_EYE) < points[30, 0] < x(mean_shape.RIGHT_EYE)   # image left first
  jaw_x = points[mean_shape.JAW, 0]                                         # 0..16, left to right
  assert (np.diff(jaw_x) >= 0).all() and jaw_x[16] - jaw_x[0] > 0.6 * box.width()
  assert points[8, 1] == points[mean_shape.JAW, 1].max()                  # 8 is the chin


def test_tool_writes_one_table_of_faces_no_faces_and_unreadable_files(tmp_path):
  manual = tmp_path / 'manual'
  (manual / 'release' / 'a').mkdir(parents=True)
  Image.fromarray(skimage_data.astronaut()).save(manual / 'release' / 'a' / 'face.png')
  Image.fromarray(np.full((64, 64), 128, np.uint8)).save(manual / 'release' / 'blank.bmp')
  (manual / 'release' / 'broken.jpg').write_bytes(b'\xff\xd8 not a jpeg')
  (manual / 'release' / 'notes.txt').write_text('not an image')

  summary = detect_landmarks.run(str(manual), workers=1, progress=False)
  with open(manual / 'landmarks.json') as f:
    table = json.load(f)
  assert set(table['landmarks']) == {'release/a/face.png'}
  assert table['no_face'] == ['release/blank.bmp']
  assert table['unreadable'] == ['release/broken.jpg']
  expected, _ = landmarks.detect_with_retries(real_data.read_image(
      str(manual / 'release' / 'a' / 'face.png')))
  points, no_face = landmarks.read_table(str(manual / 'landmarks.json'))
  np.testing.assert_array_equal(points['release/a/face.png'], expected)
  assert summary['images'] == 3 and summary['faces'] == 1

  # Run again with two processes: what the table holds is kept, the unreadable file retried.
  again = detect_landmarks.run(str(manual), workers=2, progress=False)
  assert again['kept'] == 2 and again['unreadable'] == ['release/broken.jpg']
  assert landmarks.read_table(str(manual / 'landmarks.json'))[1] == no_face
  # --include: only the matching images are detected (into another table here).
  only = detect_landmarks.run(str(manual), str(tmp_path / 'only.json'), include=['*/a/*'],
                              progress=False)
  assert only['images'] == 1 and set(landmarks.read_table(str(tmp_path / 'only.json'))[0]) == {
      'release/a/face.png'}


def test_two_workers_find_what_one_finds(tmp_path):
  for name in ('one', 'two'):
    folder = tmp_path / name / 'r'
    folder.mkdir(parents=True)
    for k, size in enumerate((512, 384, 256)):
      Image.fromarray(skimage_data.astronaut()).resize((size, size)).save(folder / f'{k}.jpg')
  detect_landmarks.run(str(tmp_path / 'one'), workers=1, progress=False)
  detect_landmarks.run(str(tmp_path / 'two'), workers=2, progress=False)
  one, _ = landmarks.read_table(os.path.join(tmp_path, 'one', 'landmarks.json'))
  two, _ = landmarks.read_table(os.path.join(tmp_path, 'two', 'landmarks.json'))
  assert set(one) == set(two) == {f'r/{k}.jpg' for k in range(3)}
  for k in one:
    np.testing.assert_array_equal(one[k], two[k])


@pytest.mark.parametrize('rel,include,exclude,expected', [
    ('NIR-VIS-2.0/s1/NIR/00001/001.bmp', [], [], True),
    ('NIR-VIS-2.0/s1/NIR_128x128/00001/001.bmp', [], ['*_128x128*'], False),
    ('OriginalImg/VL/Strong/P001/Anger/000.jpeg', ['OriginalImg/*/Strong/*'], [], True),   # * spans /
    ('OriginalImg/VL/Dark/P001/Anger/000.jpeg', ['OriginalImg/*/Strong/*'], [], False),
    ('OriginalImg/VL/Strong/P001/Anger/000.jpeg', ['OriginalImg/*'], ['*/Strong/*'], False),
    ('BUAA-VisNir/1/11.bmp', ['BUAA-VisNir/*/[1-9].*'], [], False),
    ('BUAA-VisNir/1/9.bmp', ['BUAA-VisNir/*/[1-9].*'], [], True),
])
def test_selected_is_fnmatch_include_then_exclude(rel, include, exclude, expected):
  assert detect_landmarks.selected(rel, include, exclude) is expected


def test_include_and_exclude_choose_the_images_detected(tmp_path, monkeypatch):
  names = ['NIR-VIS-2.0/s1/NIR/00001/001.bmp', 'NIR-VIS-2.0/s1/NIR_128x128/00001/001.bmp',
           'NIR-VIS-2.0/s1/VIS/00001/001.jpg', 'NIR-VIS-2.0/s1/VIS_128x128/00001/001.jpg',
           'OriginalImg/VL/Strong/P001/Anger/000.jpeg', 'OriginalImg/VL/Dark/P001/Anger/000.jpeg']
  for name in names:
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(tmp_path / name)
  detected = []

  def detect(image, upsamples):
    detected.append(image.shape)
    return np.ones((68, 2), np.float32), 0

  monkeypatch.setattr(landmarks, 'dlib_models', lambda: (None, None))
  monkeypatch.setattr(landmarks, 'detect_with_retries', detect)
  summary = detect_landmarks.run(str(tmp_path), str(tmp_path / 'a.json'),
                                 include=['NIR-VIS-2.0/*', 'OriginalImg/*/Strong/*'],
                                 exclude=['*_128x128*'], progress=False)
  assert set(landmarks.read_table(str(tmp_path / 'a.json'))[0]) == {
      names[0], names[2], names[4]}
  assert summary['images'] == 3 and len(detected) == 3
  summary = detect_landmarks.run(str(tmp_path), str(tmp_path / 'b.json'),
                                 exclude=['*_128x128*'], progress=False)
  assert set(landmarks.read_table(str(tmp_path / 'b.json'))[0]) == {
      names[0], names[2], names[4], names[5]}
