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

import os
import re

import numpy as np

from tfds_builders import real_data

RELEASE = 'CUFSF'
NAMES = 'names_of_photos_used_for_drawing_sketches.txt'
SKETCHES, PHOTOS, SKETCH_POINTS = 'original_sketch', 'photos', 'sketch_points'


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


class Builder(real_data.Builder):
  """CUFSF: sketch probes against a photo gallery."""

  VERSION = real_data.tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  RELEASE_DIR = RELEASE
  MODALITY_NAMES = ('sketch', 'photo')
  HAS_EYES = True
  BUILDER_CONFIGS = [CufsfConfig()]
  DEFAULT_CONFIG_NAME = 'default'
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  CUFSF (CUHK's multimedia lab) distributes the sketches, their fiducial points
  and the names of the FERET photos they were drawn from; the photos come from
  the Color FERET database (NIST, on request). Put them in the manual dir so
  that these exist:

    <manual_dir>/{RELEASE}/{NAMES}     (from CUFSF)
    <manual_dir>/{RELEASE}/{SKETCHES}/00002.jpg ..               (from CUFSF)
    <manual_dir>/{RELEASE}/{SKETCH_POINTS}/00002.3pts ..            (from CUFSF; optional)
    <manual_dir>/{RELEASE}/{PHOTOS}/00002fa010_930831.ppm.bz2 ..    (each FERET photo
        the names file lists, copied from the FERET release; .ppm.bz2, .ppm, .tif, .jpg
        and .png are read)

  Then, once, for the landmarks:

    python -m hfr_jax.tools.detect_landmarks --manual_dir=<manual_dir>
  """

  def records(self, manual_dir, config):
    root = os.path.join(manual_dir, RELEASE)
    names = real_data.require(os.path.join(root, NAMES), 'CUFSF photo list',
                              self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    sketch_dir = real_data.require(os.path.join(root, SKETCHES), 'sketch folder',
                                   self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    sketches = {}
    for name in sorted(os.listdir(sketch_dir)):
      if real_data.is_image(name):
        sketches.setdefault(subject_of(name, sketch_dir), f'{SKETCHES}/{name}')
    pairs = {}   # subject -> (sketch, photo, sketch eyes), paths relative to root
    for where, line in real_data.read_list(names):
      name = os.path.basename(line.split()[0].replace('\\', '/'))
      stem = name[:-len('.ppm.bz2')] if name.lower().endswith('.ppm.bz2') else (
          os.path.splitext(name)[0] if real_data.is_image(name) else name)
      subject = subject_of(stem, where)
      if subject not in sketches:
        raise real_data.ManualDataError(
            f'{where}: no sketch of subject {subject}: expected {sketch_dir}/{subject}.jpg')
      photo = real_data.existing_image(root, f'{PHOTOS}/{stem}.ppm.bz2', where)
      if photo is None:
        raise real_data.ManualDataError(
            f'{where}: FERET photo {stem!r} not found: expected {root}/{PHOTOS}/{stem}.ppm.bz2 '
            f'(or .ppm / .tif / .jpg / .png)\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
      real_data.safe_join(root, sketches[subject], where)
      points = real_data.safe_join(root, f'{SKETCH_POINTS}/{subject}.3pts', where)
      pairs[subject] = (sketches[subject], os.path.relpath(photo, root).replace(os.sep, '/'),
                        read_eyes(points) if os.path.isfile(points) else None)
    representation, train, test = real_data.shuffled_groups(
        pairs, (config.representation, config.train), config.seed)
    ids = real_data.contiguous_ids(pairs)
    record = lambda subject, k: real_data.Record(
        path=f'{RELEASE}/{pairs[subject][k]}', identity=ids[subject], modality=k,
        image_id=pairs[subject][k], eyes=pairs[subject][2] if k == 0 else None)
    return {'train': [record(s, k) for s in train for k in (0, 1)],
            'representation': [record(s, k) for s in representation for k in (0, 1)],
            'gallery': [record(s, 1) for s in test],
            'probe': [record(s, 0) for s in test]}
