"""casia_nir_vis2: CASIA NIR-VIS 2.0 (Li et al., CVPRW 2013), from the manually obtained release.

Configs `fold1` ... `fold10` are View 2's ten folds (the paper's test protocol),
`dev` is View 1 (for tuning). Splits: `train` (the fold's VIS and NIR training
lists), `gallery` (its VIS gallery list, one image per test subject), `probe`
(its NIR probe list) and `test_vis`, the other VIS images of the probe
subjects found on disk (not in any list; the evaluator's VIS->VIS upper bound).
A listed image missing from disk is skipped and counted in the log; a missing
protocol file is an error naming it.
"""

import os
import re

import numpy as np

from tfds_builders import real_data

RELEASE = 'NIR-VIS-2.0'
FOLDS = tuple(f'fold{k}' for k in range(1, 11))


def list_names(config_name: str) -> dict[str, tuple[str, ...]]:
  """Split -> the protocol files it reads, for `fold1`..`fold10` or `dev`."""
  suffix = 'dev' if config_name == 'dev' else config_name[len('fold'):]
  return {'train': (f'vis_train_{suffix}.txt', f'nir_train_{suffix}.txt'),
          'gallery': (f'vis_gallery_{suffix}.txt',),
          'probe': (f'nir_probe_{suffix}.txt',)}


def read_eyes(root: str) -> dict[str, np.ndarray]:
  """Image stem relative to `root` (e.g. 's1/NIR/10001/001') -> (2, 2) eyes, image-left first.

  Reads s<k>/s<k>_nir_eyes.txt and s<k>/s<k>_vis_eyes.txt where present: one
  image a line, `<path relative to s<k>> x1 y1 x2 y2`, whitespace separated,
  backslashes allowed (see README: the format is an assumption from public code).
  """
  eyes = {}
  for session in sorted(os.listdir(root)):
    for spectrum in ('nir', 'vis'):
      path = os.path.join(root, session, f'{session}_{spectrum}_eyes.txt')
      if not re.fullmatch(r's\d+', session) or not os.path.isfile(path):
        continue
      for where, line in real_data.read_list(path):
        fields = line.split()
        try:
          xy = np.array([float(v) for v in fields[1:5]], np.float32).reshape(2, 2)
          if len(fields) != 5:
            raise ValueError
        except ValueError as e:
          raise real_data.ManualDataError(
              f'{where}: expected "<image> x1 y1 x2 y2", got {line!r}') from e
        rel = fields[0].replace('\\', '/').lstrip('/')
        if not rel.startswith(f'{session}/'):
          rel = f'{session}/{rel}'
        eyes[os.path.splitext(rel)[0]] = xy[np.argsort(xy[:, 0], kind='stable')]
  return eyes


class Builder(real_data.Builder):
  """CASIA NIR-VIS 2.0: NIR probes against a VIS gallery, View 1 and View 2's ten folds."""

  VERSION = real_data.tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Initial release.'}
  RELEASE_DIR = RELEASE
  HAS_EYES = True
  BUILDER_CONFIGS = [
      real_data.RealConfig(name=name, description=(
          'View 1 (development)' if name == 'dev' else f'View 2, fold {name[4:]}'))
      for name in FOLDS + ('dev',)]
  DEFAULT_CONFIG_NAME = 'fold1'
  MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
  Request CASIA NIR-VIS 2.0 from CASIA's Center for Biometrics and Security
  Research (the database page links the release agreement). Unpack it and put
  the release folder `{RELEASE}/` in the manual dir, so that these exist:

    <manual_dir>/{RELEASE}/s1/NIR/<subject>/<NNN>.bmp    (sessions s1..s4, NIR and VIS)
    <manual_dir>/{RELEASE}/protocols/nir_probe_1.txt     (View 2: *_1.txt .. *_10.txt;
                                                          View 1: *_dev.txt)
    <manual_dir>/{RELEASE}/s1/s1_nir_eyes.txt            (eye coordinates, if shipped)

  <manual_dir> is <data_dir>/downloads/manual unless given (hfr_jax configs:
  --config.data.manual_dir). Then, once, for the landmarks (dlib, 2 cores):

    python -m hfr_jax.tools.detect_landmarks --manual_dir=<manual_dir>
  """

  def records(self, manual_dir, config):
    root = os.path.join(manual_dir, RELEASE)
    protocols = real_data.require(os.path.join(root, 'protocols'), 'protocol folder',
                                  self.MANUAL_DOWNLOAD_INSTRUCTIONS)
    eyes = read_eyes(root)
    listed = {}    # split -> [(path relative to root, subject, modality, missing)]
    for split, names in list_names(config.name).items():
      listed[split], seen = [], set()
      for name in names:
        path = real_data.require(os.path.join(protocols, name), f'protocol file {name}')
        want = name.split('_')[0].upper()
        for where, line in real_data.read_list(path):
          listed[split].append(self._resolve(root, line.split()[0], want, where))
          if listed[split][-1][0] in seen:   # a line listed twice: one record
            listed[split].pop()
          else:
            seen.add(listed[split][-1][0])
    listed['test_vis'] = self._other_vis(root, listed)
    ids = real_data.contiguous_ids(row[1] for rows in listed.values() for row in rows)
    return {split: [real_data.Record(
        path=f'{RELEASE}/{rel}', identity=ids[subject], modality=modality, image_id=rel,
        eyes=eyes.get(os.path.splitext(rel)[0]), missing=missing)
                    for rel, subject, modality, missing in rows]
            for split, rows in listed.items()}

  @staticmethod
  def _resolve(root, entry, want, where):
    """(path relative to root, subject, modality, missing) of one protocol line.

    The path is the file on disk, or the line's own path where neither it nor
    another image suffix is found (then `missing` is True).
    """
    real_data.safe_join(root, entry, where)   # first: a path leaving the release is refused
    parts = entry.replace('\\', '/').split('/')
    if len(parts) < 4 or parts[-3].upper() not in ('NIR', 'VIS'):
      raise real_data.ManualDataError(
          f'{where}: expected <session>\\<NIR|VIS>\\<subject>\\<image>, got {entry!r}')
    if parts[-3].upper() != want:
      raise real_data.ManualDataError(f'{where}: {entry!r} is not a {want} image, '
                                      f'but the list holds {want} images only')
    found = real_data.existing_image(root, entry, where)
    rel = ('/'.join(p for p in parts if p not in ('', '.')) if found is None else
           real_data.relative(found, root))
    return rel, parts[-2], 0 if want == 'NIR' else 1, found is None

  @staticmethod
  def _other_vis(root, listed):
    """VIS images on disk of the probe subjects that no list of this protocol names."""
    subjects = {row[1] for row in listed['probe']}
    named = {os.path.splitext(row[0])[0] for rows in listed.values() for row in rows}
    rows = []
    for session in sorted(os.listdir(root)):
      for subject in sorted(subjects):
        folder = os.path.join(session, 'VIS', subject)
        if not re.fullmatch(r's\d+', session) or not os.path.isdir(os.path.join(root, folder)):
          continue
        for name in sorted(os.listdir(os.path.join(root, folder))):
          rel = f'{session}/VIS/{subject}/{name}'
          if real_data.is_image(name) and os.path.splitext(rel)[0] not in named:
            real_data.safe_join(root, rel, os.path.join(root, folder))
            rows.append((rel, subject, 1, False))
    return rows
