"""oulu_casia_nir_vis: Oulu-CASIA NIR&VIS (Chen et al. 2009), the face recognition protocol.

The protocol of Shao & Fu (2017) as the NULL paper states it: normal indoor
illumination only, the six expressions, eight frames per expression chosen at
random (here from a fixed seed), 20 training and 20 test subjects, so 960 VIS
gallery and 960 NIR probe images. Splits: `train` (both spectra of the
training subjects), `gallery` (the test subjects' chosen VIS frames), `probe`
(their chosen NIR frames) and `test_vis` (other VIS frames of the test
subjects, `test_vis_per_expression` per sequence, for VIS->VIS).
"""

import os
import zlib

from absl import logging
import numpy as np

from tfds_builders import real_data

RELEASE = 'OriginalImg'
SPECTRA = ('NI', 'VL')          # ClassLabel order: NIR 0, VIS 1
ILLUMINATION = 'Strong'         # normal indoor light (the others: Weak, Dark)
EXPRESSIONS = ('Anger', 'Disgust', 'Fear', 'Happiness', 'Sadness', 'Surprise')


class OuluConfig(real_data.RealConfig):
  """Subjects and frames drawn from `seed`; the defaults are the published protocol."""

  def __init__(self, *, name='default', num_train=20, num_test=20, per_expression=8,
               test_vis_per_expression=2, seed=0, **kwargs):
    super().__init__(name=name, description=(
        f'{num_train} training and {num_test} test subjects, {per_expression} frames per '
        f'expression and spectrum, normal indoor light, seed {seed}'), **kwargs)
    self.num_train, self.num_test = num_train, num_test
    self.per_expression, self.test_vis_per_expression = per_expression, test_vis_per_expression
    self.seed = seed


def choose(frames, count: int, seed: int, sequence: str):
  """(`count` of `frames` in order, the others in random order), from the sequence's own seed.

  Seeded per sequence, so one sequence's choice does not depend on any other.
  """
  rng = np.random.default_rng([seed, zlib.crc32(sequence.encode())])
  picked = rng.permutation(len(frames))
  if len(frames) < count:
    logging.warning('%s: %d frames, fewer than the %d the protocol takes', sequence,
                    len(frames), count)
  return [frames[i] for i in sorted(picked[:count])], [frames[i] for i in picked[count:]]


class Builder(real_data.Builder):
  """Oulu-CASIA NIR&VIS: NIR probes against a VIS gallery, 20 + 20 subjects."""

  VERSION = real_data.tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  RELEASE_DIR = RELEASE
  BUILDER_CONFIGS = [OuluConfig()]
  DEFAULT_CONFIG_NAME = 'default'
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Request the Oulu-CASIA NIR&VIS facial expression database from the University
  of Oulu (Center for Machine Vision and Signal Analysis). Put its folder of
  original frames, `{RELEASE}/`, in the manual dir, so that these exist:

    <manual_dir>/{RELEASE}/VL/{ILLUMINATION}/P001/Anger/000.jpeg    (VIS frames)
    <manual_dir>/{RELEASE}/NI/{ILLUMINATION}/P001/Anger/000.jpeg    (NIR frames)

  (subjects P001.., expressions {', '.join(EXPRESSIONS)}; the Weak and Dark
  folders are not read). Then, once, for the landmarks:

    python -m hfr_jax.tools.detect_landmarks --manual_dir=<manual_dir>
  """

  def records(self, manual_dir, config):
    root = os.path.join(manual_dir, RELEASE)
    folders = {s: real_data.require(os.path.join(root, s, ILLUMINATION),
                                    f'{s} {ILLUMINATION} folder', self.MANUAL_DOWNLOAD_INSTRUCTIONS)
               for s in SPECTRA}
    subjects = set.intersection(*[
        {d for d in os.listdir(f) if os.path.isdir(os.path.join(f, d))} for f in folders.values()])
    train, test, _ = real_data.shuffled_groups(subjects, (config.num_train, config.num_test),
                                               config.seed)
    ids = real_data.contiguous_ids(train + test)
    splits = {s: [] for s in real_data.SPLITS}
    for subject in train + test:
      for modality, spectrum in enumerate(SPECTRA):
        for expression in EXPRESSIONS:
          sequence = f'{spectrum}/{ILLUMINATION}/{subject}/{expression}'
          folder = real_data.require(
              real_data.safe_join(root, sequence, root), f'{sequence} folder',
              self.MANUAL_DOWNLOAD_INSTRUCTIONS)
          frames = sorted(f'{sequence}/{n}' for n in os.listdir(folder) if real_data.is_image(n))
          chosen, rest = choose(frames, config.per_expression, config.seed, sequence)
          if subject in train:
            groups = {'train': chosen}
          elif spectrum == 'VL':
            groups = {'gallery': chosen, 'test_vis': rest[:config.test_vis_per_expression]}
          else:
            groups = {'probe': chosen}
          for split, rels in groups.items():
            for rel in rels:
              real_data.safe_join(root, rel, folder)   # a symlinked frame must stay inside
              splits[split].append(real_data.Record(
                  path=f'{RELEASE}/{rel}', identity=ids[subject], modality=modality,
                  image_id=rel))
    return splits
