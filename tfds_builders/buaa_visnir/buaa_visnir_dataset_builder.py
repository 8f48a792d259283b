"""buaa_visnir: BUAA-VisNir (Huang et al. 2012), VIS-NIR pairs of 150 subjects.

The literature tests on it only (PCFH: a model trained on CASIA NIR-VIS 2.0
fold 1 meets the BUAA test set). Its protocol: the first `num_train`
subjects (default 50) train, the other 100 test; per test subject one VIS
image is the gallery and its NIR images the probes. Config `test_only` makes
all 150 subjects test subjects (no `train` split). Splits: `train` (both
spectra of the training subjects), `gallery` (image 1 of each test subject),
`probe` (their NIR images), `test_vis` (their other VIS images).

Which file is which (see README, an assumption): a subject's images
1 .. 2 * pairs are its VIS-NIR pairs, odd numbers VIS, even numbers NIR. One
of them missing from a subject's folder is skipped and counted in the log.
"""

import os
import re

from tfds_builders import real_data

RELEASE = 'BUAA-VisNir'


class BuaaConfig(real_data.RealConfig):
  """The first `num_train` subjects (numeric order) train; `pairs` VIS-NIR pairs each."""

  def __init__(self, *, name, num_train=50, pairs=9, **kwargs):
    super().__init__(name=name, description=(
        f'first {num_train} subjects train, the rest test; {pairs} VIS-NIR pairs each'),
        **kwargs)
    self.num_train, self.pairs = num_train, pairs


class Builder(real_data.Builder):
  """BUAA-VisNir: NIR probes against a one-VIS-per-subject gallery."""

  VERSION = real_data.tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  RELEASE_DIR = RELEASE
  BUILDER_CONFIGS = [BuaaConfig(name='default'), BuaaConfig(name='test_only', num_train=0)]
  DEFAULT_CONFIG_NAME = 'default'
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Request the BUAA-VisNir face database from Beihang University's IRIP lab
  (technical report IRIP-TR-12-FR-001). Put it in the manual dir as one folder
  per subject, numbered, each holding its images numbered from 1:

    <manual_dir>/{RELEASE}/1/1.bmp  1/2.bmp .. 1/18.bmp    (odd: VIS, even: NIR)
    <manual_dir>/{RELEASE}/150/1.bmp ..

  Then, once, for the landmarks:

    python -m hfr_jax.tools.detect_landmarks --manual_dir=<manual_dir>
  """

  def records(self, manual_dir, config):
    root = os.path.join(manual_dir, RELEASE)
    subjects = sorted((d for d in os.listdir(root) if re.fullmatch(r'\d+', d)
                       and os.path.isdir(os.path.join(root, d))), key=int)
    if len(subjects) <= config.num_train:
      raise real_data.ManualDataError(
          f'{root}: {len(subjects)} numbered subject folders; config {config.name!r} trains '
          f'on {config.num_train} and needs more to test\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}')
    ids = real_data.contiguous_ids(subjects)
    splits = {'train': [], 'gallery': [], 'probe': [], 'test_vis': []}
    for n, subject in enumerate(subjects):
      for k in range(1, 2 * config.pairs + 1):
        rel = f'{subject}/{k}.bmp'
        found = real_data.existing_image(root, rel, root)   # None: skipped and counted
        rel = rel if found is None else real_data.relative(found, root)
        vis = k % 2 == 1
        split = ('train' if n < config.num_train else
                 'gallery' if k == 1 else 'test_vis' if vis else 'probe')
        splits[split].append(real_data.Record(
            path=f'{RELEASE}/{rel}', identity=ids[subject], modality=int(vis), image_id=rel,
            missing=found is None))
    if not config.num_train:
      del splits['train']
    return splits
