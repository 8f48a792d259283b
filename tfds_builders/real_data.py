"""What the manual-download builders share: safe paths, images, landmarks, the face crop.

Each real-data builder (casia_nir_vis2, oulu_casia_nir_vis, buaa_visnir, cufsf)
only reads its release's layout into `Record`s per split; `Builder` here does
the rest, the same way for all of them:

* a missing protocol or list file is a one-line error naming it; an image a
  protocol or layout lists but the disk lacks is skipped and counted, in one
  warning line at the end of its split (how many, the manual dir, the first
  few); a split none of whose images is on disk is an error;
* a path from a protocol or list file must stay inside the release folder
  (no absolute paths, no `..`, no symlink pointing out of it);
* landmarks come from the sidecar table `<manual_dir>/landmarks.json` written
  by `python -m hfr_jax.tools.detect_landmarks --manual_dir=DIR`; without it,
  dlib runs here if the `landmarks` extra is installed, else the build stops
  naming that command. An image where no face was found is placed from the
  release's eye coordinates (the mean shape fitted to the two eyes) where the
  release has them, else dropped and counted in the log;
* each image is stored as a `resolution`-square crop framed like the
  synthetic set's faces (`FRAME_*`: outer-eye-corner distance 0.36 of the
  side, face centre at (0.5, 0.52)), landmarks and eyes moved with it, so
  every trainer and the evaluator see real and synthetic sets alike;
* images are PNG in three channels (NIR and sketches: three equal channels),
  written to array_record: no TensorFlow.

Coordinates: (x, y) = (column, row) pixels, pixel centres at integers.
"""

import bz2
import collections
import dataclasses
import io
import os

from absl import logging
import jax
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from hfr_jax import landmarks as landmarks_lib
from hfr_jax.ops import align

IMAGE_SUFFIXES = ('.bmp', '.jpg', '.jpeg', '.png', '.ppm', '.pgm', '.tif', '.tiff', '.ppm.bz2')
RESOLUTION = 144              # PCFH's face size (Sec. 4.2)
FRAME_EYE_DISTANCE = 0.36     # outer eye corners, fraction of the side (synthetic_nir_vis)
FRAME_CENTRE = (0.5, 0.52)    # centroid of the 68 points, fraction of the side
DETECT_COMMAND = 'python -m hfr_jax.tools.detect_landmarks --manual_dir={}'
SPLITS = ('train', 'gallery', 'probe', 'test_vis')


class ManualDataError(FileNotFoundError):
  """The manual data is missing, partial or malformed; the message says what and where."""


@dataclasses.dataclass(frozen=True)
class Record:
  """One image of a split. `path` is relative to the manual dir (POSIX separators).

  `missing`: listed by the release but not on disk (`path` is where it was
  expected); the split skips and counts it.
  """
  path: str
  identity: int
  modality: int                    # 0: probe domain (NIR, sketch); 1: gallery domain
  image_id: str
  eyes: np.ndarray | None = None   # (2, 2) in the image as stored, from the release
  missing: bool = False


# ----------------------------------------------------------------------------
# Paths.


def is_image(name: str) -> bool:
  return name.lower().endswith(IMAGE_SUFFIXES)


def image_stem(name: str) -> str:
  """`name` without its suffix: '00001_930831_fa.ppm.bz2' -> '00001_930831_fa'."""
  if name.lower().endswith('.ppm.bz2'):
    return name[:-len('.ppm.bz2')]
  return os.path.splitext(name)[0]


def relative(path: str, root: str) -> str:
  """`path` relative to `root`, with POSIX separators."""
  return os.path.relpath(path, root).replace(os.sep, '/')


def find_images(root: str) -> list[str]:
  """Every image under `root`, as sorted POSIX paths relative to it (symlinks followed)."""
  found = []
  for folder, dirs, files in os.walk(root, followlinks=True):
    dirs.sort()
    rel = os.path.relpath(folder, root)
    found += [f if rel == '.' else f'{rel}/{f}'.replace(os.sep, '/')
              for f in sorted(files) if is_image(f)]
  return sorted(found)


def safe_join(root: str, rel: str, where: str) -> str:
  """root/rel, refusing a `rel` that leaves `root`; `where` ('file:line') goes in errors.

  Backslashes count as separators (the releases' lists are written on Windows).
  Refused: absolute paths, drive letters, `..` components, and anything whose
  real path (symlinks resolved) is outside the real path of `root`.
  """
  rel = rel.strip().replace('\\', '/')
  parts = rel.split('/')
  if not rel or rel.startswith('/') or (len(parts[0]) == 2 and parts[0][1] == ':'):
    raise ManualDataError(f'{where}: {rel!r} is not a path relative to {root}')
  if '..' in parts:
    raise ManualDataError(f'{where}: {rel!r} leaves {root} (".." is not allowed)')
  path = os.path.join(root, *[p for p in parts if p not in ('', '.')])
  real_root = os.path.realpath(root)
  if os.path.commonpath([os.path.realpath(path), real_root]) != real_root:
    raise ManualDataError(f'{where}: {rel!r} resolves to {os.path.realpath(path)}, '
                          f'outside {real_root} (a symlink pointing out is not allowed)')
  return path


def existing_image(root: str, rel: str, where: str) -> str | None:
  """root/rel if it exists, else the same stem with another image suffix, else None.

  The CASIA NIR-VIS 2.0 lists name `.bmp` where the file is `.jpg` and the
  reverse; the other releases get the same tolerance.
  """
  path = safe_join(root, rel, where)
  if os.path.isfile(path):
    return path
  stem = image_stem(path)
  for suffix in IMAGE_SUFFIXES:
    for candidate in (stem + suffix, stem + suffix.upper()):
      if os.path.isfile(candidate):
        return safe_join(root, relative(candidate, root), where)
  return None


def read_list(path: str) -> list[tuple[str, str]]:
  """(where = 'file:line', stripped line) of every non-blank line; CRLF or LF."""
  try:
    with open(path, encoding='utf-8-sig', newline='') as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise ManualDataError(f'{path}: cannot read ({e.strerror})') from e
  return [(f'{path}:{n}', line.strip()) for n, line in enumerate(lines, 1) if line.strip()]


def require(path: str, what: str, instructions: str = '') -> str:
  """`path` if it exists, else an error naming `what` and `path` (then `instructions`)."""
  if not os.path.exists(path):
    raise ManualDataError(f'{what} not found: expected {path}'
                          + (f'\n{instructions}' if instructions else ''))
  return path


# ----------------------------------------------------------------------------
# Images.


def read_image(path: str) -> np.ndarray:
  """uint8 (H, W, 3) RGB; gray images get three equal channels. `.bz2` is unpacked.

  Raises ValueError naming the file when it cannot be decoded.
  """
  try:
    if path.lower().endswith('.bz2'):
      with bz2.open(path) as f:
        data = io.BytesIO(f.read())
      image = Image.open(data)
    else:
      image = Image.open(path)
    image.load()
    return np.asarray(image.convert('RGB'))
  except (OSError, ValueError, EOFError, Image.DecompressionBombError) as e:
    raise ValueError(f'{path}: not a readable image ({e})') from e


def frame_template(size: int) -> np.ndarray:
  """(68, 2) where a face's landmarks land in a size x size crop."""
  return align.mean_face(size, eye_distance=FRAME_EYE_DISTANCE, centre=FRAME_CENTRE)


# Jitted: op by op they cost ~30 ms an image, most of a build's time. One compilation per
# image shape, and a release has a few.
_similarity = jax.jit(align.similarity_transform)
_warp = jax.jit(align.warp_affine, static_argnums=2)


def face_crop(image: np.ndarray, points: np.ndarray, size: int, eyes=None):
  """(crop uint8 (size, size, 3), points in the crop, eyes in the crop or None).

  The crop is the least-squares similarity (`align.similarity_transform`)
  taking `points` onto `frame_template(size)`, sampled bilinearly. A face
  larger than twice the crop is first box-filtered down by a whole factor, so
  the bilinear sampling does not alias.
  """
  points = np.asarray(points, np.float32)
  to_crop = np.eye(3)
  to_crop[:2] = np.asarray(_similarity(points, frame_template(size)), np.float64)
  warp, source = to_crop, image
  factor = int(1.0 / np.sqrt(abs(np.linalg.det(to_crop[:2, :2]))))
  if factor >= 2:
    # Pixel i of reduce() averages pixels [i f, (i + 1) f): its centre is i f + (f - 1) / 2.
    source = np.asarray(Image.fromarray(image).reduce(factor))
    offset = (factor - 1) / (2 * factor)
    to_reduced = np.array([[1 / factor, 0, -offset], [0, 1 / factor, -offset], [0, 0, 1]])
    warp = to_crop @ np.linalg.inv(to_reduced)
  crop = np.asarray(_warp(source, warp[:2].astype(np.float32), size))
  crop = np.clip(np.round(crop), 0, 255).astype(np.uint8)
  move = lambda p: (np.asarray(p, np.float64) @ to_crop[:2, :2].T + to_crop[:2, 2]).astype(
      np.float32)
  return crop, move(points), None if eyes is None else move(eyes)


def png(image: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format='PNG')
  return buf.getvalue()


# ----------------------------------------------------------------------------
# Landmarks.


class Landmarks:
  """68 points for each image: the sidecar table, else dlib here, else an error.

  `for_image` returns (points, how) with how in {'table', 'detected', 'eyes'},
  or (None, 'dropped') when no face was found and there are no eyes.
  """

  def __init__(self, manual_dir: str):
    self.manual_dir = manual_dir
    self.path = os.path.join(manual_dir, landmarks_lib.TABLE_NAME)
    self.command = DETECT_COMMAND.format(manual_dir)
    self.points, self.no_face = {}, set()
    self.has_table = os.path.isfile(self.path)
    if self.has_table:
      try:
        self.points, self.no_face = landmarks_lib.read_table(self.path)
      except ValueError as e:
        raise ManualDataError(f'{e}; rebuild it with {self.command}') from e
    else:
      self._need_detector(f'no landmarks table at {self.path}')

  def _need_detector(self, why: str):
    try:
      landmarks_lib.dlib_models()
    except landmarks_lib.LandmarksUnavailable as e:
      raise ManualDataError(
          f'{why}, and dlib is not installed to detect them here. Run\n  {self.command}\n'
          "(needs the landmarks extra: pip install -e '.[landmarks]')") from e

  def for_image(self, rel: str, image: np.ndarray, eyes=None):
    if rel in self.points:
      return self.points[rel], 'table'
    if rel not in self.no_face:
      if self.has_table:
        self._need_detector(f'{rel} is not in {self.path} (written before the image was added?)')
      points, _ = landmarks_lib.detect_with_retries(image)
      if points is not None:
        return points, 'detected'
    if eyes is not None:
      return landmarks_lib.from_eyes(eyes), 'eyes'
    return None, 'dropped'


# ----------------------------------------------------------------------------
# The builder.


class RealConfig(tfds.core.BuilderConfig):
  """A protocol of one release; `resolution` is the stored crop's side."""

  def __init__(self, *, name: str, description: str, resolution: int = RESOLUTION, **kwargs):
    super().__init__(name=name, description=description, **kwargs)
    self.resolution = resolution


class Builder(tfds.core.GeneratorBasedBuilder):
  """Base of the manual-download builders: subclasses set RELEASE_DIR and define `records`.

  `records(manual_dir, config)` returns {split: [Record, ...]} read from the
  release folder manual_dir / RELEASE_DIR; a listed image not on disk is a
  Record with `missing` set, which the split skips and counts.
  """

  RELEASE_DIR = ''
  MODALITY_NAMES = ('nir', 'vis')   # ClassLabel: 0 the probe domain, 1 the gallery domain
  HAS_EYES = False                  # the release ships eye coordinates

  def __init__(self, *, file_format=None, **kwargs):
    # TFRecord (TFDS's default) needs TensorFlow to finalise a split.
    super().__init__(file_format=file_format or 'array_record', **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    r = self.builder_config.resolution
    features = {
        'image': tfds.features.Image(shape=(r, r, 3), encoding_format='png'),
        'landmarks': tfds.features.Tensor(shape=(68, 2), dtype=np.float32),
        'identity': tfds.features.Scalar(dtype=np.int64),
        'modality': tfds.features.ClassLabel(names=list(self.MODALITY_NAMES)),
        'image_id': tfds.features.Text(),
    }
    if self.HAS_EYES:
      features['eyes'] = tfds.features.Tensor(
          shape=(2, 2), dtype=np.float32, optional=True,
          doc="the release's eye centres in the crop, image-left eye first; None where absent")
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(features), supervised_keys=None)

  def records(self, manual_dir: str, config) -> dict[str, list[Record]]:
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    # Not `dl_manager.manual_dir`: for a missing or empty folder it raises without saying
    # which file of the release was expected.
    manual_dir = os.fspath(getattr(dl_manager, '_manual_dir', None) or '')
    root = os.path.join(manual_dir, self.RELEASE_DIR)
    if not os.path.isdir(root):
      raise ManualDataError(
          f'{self.name}: release folder not found: expected {root}\n'
          f'{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
    splits = self.records(manual_dir, self.builder_config)
    for split, records in list(splits.items()):
      if any(not r.missing for r in records):
        continue
      if split != 'test_vis':
        raise ManualDataError(f'{self.name}/{self.builder_config.name}: the {split} split '
                              f'has no image ({len(records)} listed, none on disk); check {root}')
      # TFDS cannot write an empty split; VIS->VIS evaluation needs one.
      logging.warning('%s/%s: no VIS images beyond the gallery; no test_vis split', self.name,
                      self.builder_config.name)
      del splits[split]
    landmarks = Landmarks(manual_dir)
    return {split: self._generate_examples(split, records, landmarks, manual_dir)
            for split, records in splits.items()}

  def _generate_examples(self, split, records, landmarks, manual_dir):
    size = self.builder_config.resolution
    counts, dropped, missing = collections.Counter(), [], []
    for record in records:
      if record.missing:
        missing.append(record.path)
        continue
      image = read_image(os.path.join(manual_dir, record.path))
      points, how = landmarks.for_image(record.path, image, record.eyes)
      counts[how] += 1
      if points is None:
        dropped.append(record.path)
        continue
      crop, points, eyes = face_crop(image, points, size, record.eyes)
      example = {'image': png(crop), 'landmarks': points, 'identity': record.identity,
                 'modality': record.modality, 'image_id': record.image_id}
      if self.HAS_EYES:
        example['eyes'] = eyes
      yield record.path, example
    summary = ', '.join(f'{k} {v}' for k, v in sorted(counts.items()))
    notes = [f'{self.name}/{self.builder_config.name} {split}: '
             f'{len(records) - len(missing)} images ({summary})']
    if missing:
      notes.append(f'skipped {len(missing)} listed but not found in {manual_dir}: '
                   f'{_first(missing)}')
    if dropped:
      notes.append(f'dropped (no face found, no eye coordinates): {_first(dropped)}')
    (logging.warning if len(notes) > 1 else logging.info)('%s', '; '.join(notes))


def _first(paths, n=5) -> str:
  return ', '.join(paths[:n]) + (' ...' if len(paths) > n else '')


def contiguous_ids(subjects) -> dict[str, int]:
  """Subject name -> 0..N-1 in sorted order (numeric names sort as numbers)."""
  key = lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s)
  return {s: i for i, s in enumerate(sorted(set(subjects), key=key))}


def shuffled_groups(subjects, sizes, seed: int) -> list[list[str]]:
  """Consecutive groups of `sizes` from a seeded permutation of the sorted subjects.

  The subjects after the last size form one more group (maybe empty). Raises
  ManualDataError when there are fewer subjects than the sizes ask for.
  """
  subjects = sorted(set(subjects))
  if sum(sizes) > len(subjects):
    raise ManualDataError(f'{len(subjects)} subjects found; the protocol needs '
                          f'{" + ".join(map(str, sizes))}')
  order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
  bounds = np.cumsum([0, *sizes])
  return [sorted(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])] + [
      sorted(order[bounds[-1]:])]
