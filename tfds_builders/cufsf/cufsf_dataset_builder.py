"""cufsf: the CUHK Face Sketch FERET database (Zhang et al. 2011): 1,194 sketch-photo pairs.

NULL's protocol: from a seeded permutation of the subjects, 250 form the
representation set, 250 the training set, the remaining 694 the test set.
Splits: `representation` and `train` (sketch and photo of each of their
subjects), `gallery` (the test subjects' photos) and `probe` (their
sketches). There is one photo per subject, so no `test_vis`: VIS->VIS needs
a second photo the release does not have.

Modality: ClassLabel ['sketch', 'photo'], 0 the probe domain, 1 the gallery
domain, as NIR and VIS elsewhere.
"""

import glob
import os
import re
import typing

import numpy as np

from tfds_builders import real_data

RELEASE = 'CUFSF'
NAMES = 'names_of_photos_used_for_drawing_sketches.txt'
SKETCHES, SKETCH_POINTS = 'original_sketch', 'sketch_points'
FERET = 'colorferet'
# Color FERET as unpacked: <FERET>/dvd1/data/images/<subject>/.., dvd2 alike; one level deeper
# too (colorferet/colorferet/dvd1/.. when the archive is unpacked into a folder of that name).
FERET_IMAGES = ('dvd*/data/images', '*/dvd*/data/images')


class CufsfConfig(real_data.RealConfig):
  """`representation` + `train` subjects drawn from `seed`, the rest test (NULL: 250/250/694)."""

  def __init__(self, *, name='default', representation=250, train=250, seed=0, **kwargs):
    super().__init__(name=name, description=(
        f'{representation} representation and {train} training subjects from seed {seed}, '
        'the rest test'), **kwargs)
    self.representation, self.train, self.seed = representation, train, seed


def subject_of(name: str, where: str) -> str:
  """The FERET subject number leading a file name: '00002fa010_930831' -> '00002'."""
  match = re.match(r'\d+', os.path.basename(name))
  if not match:
    raise real_data.ManualDataError(f'{where}: {name!r} does not start with a subject number')
  return match.group(0)


def date_and_pose(stem: str) -> tuple[str | None, str | None]:
  """(capture date, pose) of a FERET name in either naming, None where it has none.

  FERET's own names, as CUFSF's list gives them ('00043fb001d_931230'), and
  Color FERET's file stems ('00043_931230_fb', '00001_930831_fa_a') both give
  ('931230', 'fb'). The rule of the public CUFSF scripts: the date is the last
  number (six digits, after the subject's), the pose the first run of letters.
  """
  numbers, letters = re.findall(r'\d+', stem), re.findall(r'[a-z]+', stem.lower())
  date = numbers[-1] if len(numbers) > 1 and len(numbers[-1]) == 6 else None
  return date, letters[0] if letters else None


def feret_photos(feret_root: str) -> dict[str, dict[str, str]]:
  """Subject -> {file stem: path relative to feret_root} of Color FERET's images.

  Reads `FERET_IMAGES`/<subject>/ (not `thumbnails/` nor `smaller/`); a stem on
  both DVDs is taken from the first.
  """
  folders = sorted(folder for pattern in FERET_IMAGES
                   for folder in glob.glob(os.path.join(feret_root, pattern, '*'))
                   if os.path.isdir(folder))
  photos = {}
  for folder in folders:
    stems = photos.setdefault(os.path.basename(folder), {})
    for name in sorted(os.listdir(folder)):
      if real_data.is_image(name):
        stems.setdefault(real_data.image_stem(name),
                         real_data.relative(os.path.join(folder, name), feret_root))
  return photos


def photo_for(entry: str, photos: dict[str, str]) -> str | None:
  """The photo a list entry names among one subject's `photos` ({stem: path}), or None.

  The file whose stem is the entry; else, as the public CUFSF scripts match
  FERET names to Color FERET files, one of the same date (where the entry
  gives one) and pose (the entry's, else 'fa'), the first by name when several
  are (`_fa` before `_fa_a`).
  """
  if entry in photos:
    return photos[entry]
  date, pose = date_and_pose(entry)
  for stem in sorted(photos):
    stem_date, stem_pose = date_and_pose(stem)
    if stem_pose == (pose or 'fa') and date in (None, stem_date):
      return photos[stem]
  return None


def read_eyes(path: str) -> np.ndarray:
  """The first two `x y` lines of a .3pts file (eyes; the third is the mouth), left first."""
  rows = [l.split() for _, l in real_data.read_list(path)]
  try:
    eyes = np.array([[float(v) for v in r[:2]] for r in rows[:2]], np.float32)
    if eyes.shape != (2, 2):
      raise ValueError
  except ValueError as e:
    raise real_data.ManualDataError(f'{path}: expected lines "x y" (eyes, then mouth)') from e
  return eyes[np.argsort(eyes[:, 0], kind='stable')]


class Pair(typing.NamedTuple):
  """One subject's sketch and photo, paths relative to the manual dir."""
  sketch: str
  photo: str                  # where it was looked for, if not found
  photo_found: bool
  eyes: np.ndarray | None     # the sketch's, from its .3pts file


class Builder(real_data.Builder):
  """CUFSF: sketch probes against a photo gallery."""

  VERSION = real_data.tfds.core.Version('1.1.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.',
                   '1.1.0': 'Photos read from the Color FERET release as published; '
                            'image_id is the path under the manual dir.'}
  RELEASE_DIR = RELEASE
  MODALITY_NAMES = ('sketch', 'photo')
  HAS_EYES = True
  BUILDER_CONFIGS = [CufsfConfig()]
  DEFAULT_CONFIG_NAME = 'default'
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  CUFSF (CUHK's multimedia lab) distributes the sketches, their fiducial points
  and the names of the FERET photos they were drawn from; the photos are in
  NIST's Color FERET release (on request). Put both in the manual dir as they
  are published, so that these exist:

    <manual_dir>/{RELEASE}/{NAMES}     (from CUFSF)
    <manual_dir>/{RELEASE}/{SKETCHES}/00002.jpg ..          (from CUFSF)
    <manual_dir>/{RELEASE}/{SKETCH_POINTS}/00002.3pts ..       (from CUFSF; optional)
    <manual_dir>/{FERET}/dvd1/data/images/00002/00002_930831_fa.ppm.bz2 ..
    <manual_dir>/{FERET}/dvd2/data/images/..      (Color FERET, both DVDs as
        unpacked; .ppm.bz2 or decompressed .ppm)

  Then, once, for the landmarks (the globs leave out the poses CUFSF's list
  does not name, and Color FERET's smaller copies):

    python -m hfr_jax.tools.detect_landmarks --manual_dir=<manual_dir> \\
        --include='{RELEASE}/{SKETCHES}/*' \\
        --include='{FERET}/*/data/images/*_f[ab]*' --include='{FERET}/*/data/images/*_b[aj]*'
  """

  def records(self, manual_dir, config):
    root = os.path.join(manual_dir, RELEASE)
    names = real_data.require(os.path.join(root, NAMES), 'CUFSF photo list')
    sketch_dir = real_data.require(os.path.join(root, SKETCHES), 'sketch folder',
                                   self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    feret_root = real_data.require(os.path.join(manual_dir, FERET), 'Color FERET release',
                                   self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    photos = feret_photos(feret_root)
    if not photos:
      raise real_data.ManualDataError(
          f'no Color FERET images: expected {feret_root}/dvd1/data/images/<subject>/'
          f'\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
    sketches = {}
    for name in sorted(os.listdir(sketch_dir)):
      if real_data.is_image(name):
        sketches.setdefault(subject_of(name, sketch_dir), f'{SKETCHES}/{name}')
    pairs = {}
    for where, line in real_data.read_list(names):
      entry = real_data.image_stem(os.path.basename(line.split()[0].replace('\\', '/')))
      subject = subject_of(entry, where)
      if subject not in sketches:
        raise real_data.ManualDataError(
            f'{where}: no sketch of subject {subject}: expected {sketch_dir}/{subject}.jpg')
      real_data.safe_join(root, sketches[subject], where)
      photo = photo_for(entry, photos.get(subject, {}))   # None: skipped and counted
      if photo is not None:
        real_data.safe_join(feret_root, photo, where)
      points = real_data.safe_join(root, f'{SKETCH_POINTS}/{subject}.3pts', where)
      pairs[subject] = Pair(
          sketch=f'{RELEASE}/{sketches[subject]}',
          photo=f'{FERET}/{photo or f"dvd*/data/images/{subject}/{entry}"}',
          photo_found=photo is not None,
          eyes=read_eyes(points) if os.path.isfile(points) else None)
    representation, train, test = real_data.shuffled_groups(
        pairs, (config.representation, config.train), config.seed)
    ids = real_data.contiguous_ids(pairs)

    def record(subject, k):
      pair = pairs[subject]
      path = pair.photo if k else pair.sketch
      return real_data.Record(path=path, identity=ids[subject], modality=k, image_id=path,
                              eyes=None if k else pair.eyes,
                              missing=bool(k) and not pair.photo_found)

    return {'train': [record(s, k) for s in train for k in (0, 1)],
            'representation': [record(s, k) for s in representation for k in (0, 1)],
            'gallery': [record(s, 1) for s in test],
            'probe': [record(s, 0) for s in test]}
