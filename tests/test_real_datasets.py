"""Real-data builders on their dummy_data miniatures: splits against the protocol files,
identities, modality, landmarks, and the errors a broken or hostile release must give.

Expected records are read from the fixtures' own protocol / list files and
landmarks table here, independently of the builders' parsing.
"""

import bz2
import io
import os
import re
import shutil

from flax import nnx
import numpy as np
from PIL import Image
import pytest
import tensorflow_datasets as tfds

from configs import lightcnn as lightcnn_config
from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import input_pipeline
from hfr_jax import landmarks as landmarks_lib
from hfr_jax import metrics
from hfr_jax.models import lightcnn
from hfr_jax.ops import mean_shape
from hfr_jax.recognizer import pretrained
from hfr_jax.recognizer import train as recognizer_train
from tfds_builders import real_data
import tfds_builders.buaa_visnir as buaa
import tfds_builders.casia_nir_vis2 as casia
import tfds_builders.cufsf as cufsf
import tfds_builders.oulu_casia_nir_vis as oulu

CASIA_DUMMY = os.path.join(os.path.dirname(casia.__file__), 'dummy_data')


def build(name, config, manual_dir, data_dir):
  builder = tfds.builder(name, config=config, data_dir=str(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


def read_split(builder, split):
  source = builder.as_data_source(split)
  return [source[i] for i in range(len(source))]


def image_id(record) -> str:
  value = record['image_id']
  return value.decode() if isinstance(value, bytes) else str(value)


def stem(path: str) -> str:
  return os.path.splitext(path)[0]


def table(manual_dir):
  return landmarks_lib.read_table(os.path.join(manual_dir, 'landmarks.json'))


# ----------------------------------------------------------------------------
# CASIA NIR-VIS 2.0


def casia_lines(name: str) -> list[str]:
  """A protocol file's entries, parsed here the plain way: CRLF, backslashes."""
  with open(os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0', 'protocols', name), 'rb') as f:
    return [l.decode().strip().replace('\\', '/') for l in f.read().split(b'\n') if l.strip()]


def casia_eye_stems() -> set[str]:
  stems = set()
  for session in ('s1', 's2', 's3', 's4'):
    for spectrum in ('nir', 'vis'):
      path = os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0', session, f'{session}_{spectrum}_eyes.txt')
      if os.path.exists(path):
        with open(path) as f:
          stems |= {f'{session}/' + stem(l.split()[0].replace('\\', '/')) for l in f if l.strip()}
  return stems


def casia_dropped() -> set[str]:
  """Stems of images the builder must drop: no face in the table and no eyes."""
  _, no_face = table(CASIA_DUMMY)
  return {stem(p[len('NIR-VIS-2.0/'):]) for p in no_face} - casia_eye_stems()


@pytest.fixture(scope='module')
def casia_fold1(tmp_path_factory):
  return build('casia_nir_vis2', 'fold1', CASIA_DUMMY, tmp_path_factory.mktemp('tfds'))


@pytest.mark.parametrize('config,suffix', [('fold1', '1'), ('dev', 'dev')])
def test_casia_splits_are_the_protocol_files(config, suffix, tmp_path, casia_fold1, caplog):
  builder = casia_fold1 if config == 'fold1' else build('casia_nir_vis2', config, CASIA_DUMMY,
                                                        tmp_path)
  if config == 'dev':   # built here: its log counts the image dropped from its train split
    for dropped in casia_dropped():
      assert any('dropped' in m and dropped in m for m in caplog.messages), dropped
  lists = {'train': casia_lines(f'vis_train_{suffix}.txt') + casia_lines(f'nir_train_{suffix}.txt'),
           'gallery': casia_lines(f'vis_gallery_{suffix}.txt'),
           'probe': casia_lines(f'nir_probe_{suffix}.txt')}
  dropped = casia_dropped()
  subject_of = {}
  for split, lines in lists.items():
    records = read_split(builder, split)
    expected = {stem(l) for l in lines} - dropped
    assert sorted(stem(image_id(r)) for r in records) == sorted(expected)
    for r in records:
      path = image_id(r)
      assert os.path.isfile(os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0', path))   # the file on disk
      assert int(r['modality']) == {'NIR': input_pipeline.NIR,
                                    'VIS': input_pipeline.VIS}[path.split('/')[1]]
      subject_of.setdefault(path.split('/')[2], set()).add(int(r['identity']))
  # One identity per subject, the same in every split, distinct across subjects.
  assert all(len(ids) == 1 for ids in subject_of.values())
  assert len({min(ids) for ids in subject_of.values()}) == len(subject_of)
  train = {s for l in lists['train'] for s in [l.split('/')[2]]}
  assert train.isdisjoint({l.split('/')[2] for l in lists['probe']})


def test_datasets_prepare_finds_the_builder_by_name_and_reads_manual_dir(tmp_path):
  import ml_collections
  data = ml_collections.ConfigDict(dict(name='casia_nir_vis2', config='fold1',
                                        data_dir=str(tmp_path), manual_dir=CASIA_DUMMY))
  builder = datasets.prepare(data)
  assert builder.name == 'casia_nir_vis2' and builder.builder_config.name == 'fold1'
  assert set(builder.info.splits) == {'train', 'gallery', 'probe', 'test_vis'}


def test_casia_test_vis_is_the_probe_subjects_other_vis_images(casia_fold1):
  probe_subjects = {l.split('/')[2] for l in casia_lines('nir_probe_1.txt')}
  gallery = {stem(l) for l in casia_lines('vis_gallery_1.txt')}
  release = os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0')
  on_disk = {f'{session}/VIS/{subject}/{stem(name)}'
             for session in os.listdir(release) if session.startswith('s')
             for subject in probe_subjects
             if os.path.isdir(os.path.join(release, session, 'VIS', subject))
             for name in os.listdir(os.path.join(release, session, 'VIS', subject))}
  records = read_split(casia_fold1, 'test_vis')
  assert {stem(image_id(r)) for r in records} == on_disk - gallery
  assert {int(r['modality']) for r in records} == {input_pipeline.VIS}


def test_casia_names_the_file_on_disk_when_the_list_gives_the_other_suffix(casia_fold1):
  listed = casia_lines('vis_gallery_1.txt') + casia_lines('nir_probe_1.txt')
  mismatched = [l for l in listed
                if not os.path.exists(os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0', l))]
  assert mismatched, 'the fixture should hold a .bmp/.jpg mismatch'
  found = {stem(image_id(r)): image_id(r)
           for split in ('gallery', 'probe') for r in read_split(casia_fold1, split)}
  for line in mismatched:
    assert found[stem(line)] != line and os.path.exists(
        os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0', found[stem(line)]))


def test_real_records_have_no_vis_twin_for_the_evaluator(casia_fold1):
  _, index = input_pipeline.open_split(casia_fold1, 'probe')
  assert len(index.has_twin) and not index.has_twin.any()
  assert set(index.modality) == {input_pipeline.NIR}


def test_casia_crops_put_the_landmarks_on_the_frame_and_eyes_beside_them(casia_fold1):
  template = real_data.frame_template(casia_fold1.builder_config.resolution)
  eye_stems, (points, no_face) = casia_eye_stems(), table(CASIA_DUMMY)
  for split in ('train', 'gallery', 'probe'):
    for r in read_split(casia_fold1, split):
      assert r['image'].shape == (144, 144, 3)
      # The similarity fit leaves only the table's jitter (<= 0.5 px on a 16 px face, x9).
      assert np.abs(r['landmarks'] - template).max() < 12
      rel = 'NIR-VIS-2.0/' + image_id(r)
      if rel in no_face:   # placed from the release's eyes: the mean shape exactly
        np.testing.assert_allclose(r['landmarks'], template, atol=1e-3)
      if stem(image_id(r)) in eye_stems:
        eyes = r['eyes']
        assert eyes[0, 0] < eyes[1, 0]   # image-left eye first
        centres = [r['landmarks'][mean_shape.LEFT_EYE].mean(0),
                   r['landmarks'][mean_shape.RIGHT_EYE].mean(0)]
        np.testing.assert_allclose(eyes, centres, atol=6)
      else:
        assert r['eyes'] is None


# ----------------------------------------------------------------------------
# What every builder shares.


def test_face_crop_moves_image_and_points_together():
  rng = np.random.default_rng(0)
  for scale, size in ((0.3, 48), (2.5, 64)):    # the first one box-filters before sampling
    h, w = int(400 * scale) + 40, int(300 * scale) + 40
    points = (mean_shape.MEAN_SHAPE_68 * 200 * scale + 20 + rng.normal(0, 0.3, (68, 2)))
    image = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.mgrid[:h, :w]
    nose = points[30]
    image[np.hypot(xx - nose[0], yy - nose[1]) <= 6 * scale] = 255
    crop, moved, eyes = real_data.face_crop(image, points, size, points[[36, 45]])
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(moved, real_data.frame_template(size), atol=1.0)
    np.testing.assert_allclose(eyes, moved[[36, 45]], atol=1e-4)
    weight = crop[..., 0].astype(np.float64)
    cy, cx = np.mgrid[:size, :size]
    centroid = np.array([(cx * weight).sum(), (cy * weight).sum()]) / weight.sum()
    np.testing.assert_allclose(centroid, moved[30], atol=0.35)


def test_from_eyes_is_the_mean_shape_under_the_eyes_similarity():
  angle, scale, shift = 0.3, 57.0, np.array([40.0, 25.0])
  rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  expected = mean_shape.MEAN_SHAPE_68 @ rot.T + shift
  eyes = np.array([expected[mean_shape.LEFT_EYE].mean(0), expected[mean_shape.RIGHT_EYE].mean(0)])
  np.testing.assert_allclose(landmarks_lib.from_eyes(eyes), expected, atol=1e-3)
  np.testing.assert_allclose(landmarks_lib.from_eyes(eyes[::-1]), expected, atol=1e-3)


def test_landmarks_table_round_trips(tmp_path):
  points = {'a/b.bmp': np.arange(136, dtype=np.float32).reshape(68, 2) / 3,
            'c.jpg': np.ones((68, 2), np.float32)}
  path = str(tmp_path / 'landmarks.json')
  landmarks_lib.write_table(path, points, ['d.png'])
  read, no_face = landmarks_lib.read_table(path)
  assert no_face == {'d.png'} and set(read) == set(points)
  for k in points:
    np.testing.assert_allclose(read[k], points[k], atol=0.005)


# ----------------------------------------------------------------------------
# Errors: missing, partial, corrupt or hostile manual data.


@pytest.fixture
def casia_copy(tmp_path):
  manual = tmp_path / 'manual'
  shutil.copytree(CASIA_DUMMY, manual)
  return manual


def _fails(manual, data_dir, match, config='fold1'):
  with pytest.raises(Exception, match=match) as info:
    build('casia_nir_vis2', config, manual, data_dir)
  return info


def test_missing_release_names_the_expected_folder(tmp_path):
  manual = tmp_path / 'manual'
  manual.mkdir()
  (manual / 'unrelated.txt').write_text('x')
  _fails(manual, tmp_path / 'tfds', r'expected .*manual/NIR-VIS-2\.0')


def test_missing_protocol_file_is_one_line_naming_it(tmp_path):
  # The dummy release has fold 1 and View 1 only.
  info = _fails(CASIA_DUMMY, tmp_path / 'tfds', r'protocol file vis_train_2\.txt not found: '
                r'expected .*NIR-VIS-2\.0/protocols/vis_train_2\.txt$', config='fold2')
  assert '\n' not in str(info.value)


def test_missing_listed_image_is_skipped_and_counted_in_one_warning(casia_copy, tmp_path,
                                                                    caplog):
  line = casia_lines('nir_probe_1.txt')[2]
  os.remove(casia_copy / 'NIR-VIS-2.0' / line)
  builder = build('casia_nir_vis2', 'fold1', casia_copy, tmp_path / 'tfds')
  expected = {stem(l) for l in casia_lines('nir_probe_1.txt')} - casia_dropped()
  assert stem(line) in expected
  assert sorted(stem(image_id(r)) for r in read_split(builder, 'probe')) == sorted(
      expected - {stem(line)})
  warnings = [m for m in caplog.messages if 'not found' in m]
  assert len(warnings) == 1 and warnings[0].startswith('casia_nir_vis2/fold1 probe: ')
  assert f'skipped 1 listed but not found in {casia_copy}: NIR-VIS-2.0/{line}' in warnings[0]


def test_corrupt_image_is_named_and_nothing_half_written_stays(casia_copy, tmp_path):
  # A probe image: train and gallery are written before the failure.
  line = casia_lines('nir_probe_1.txt')[-1]
  (casia_copy / 'NIR-VIS-2.0' / line).write_bytes(b'BM not really a bitmap')
  _fails(casia_copy, tmp_path / 'tfds', re.escape(line) + ': not a readable image')
  leftovers = list((tmp_path / 'tfds').rglob('*'))
  assert not [p for p in leftovers if p.is_file() and 'array_record' in p.name], leftovers
  assert not (tmp_path / 'tfds' / 'casia_nir_vis2' / 'fold1' / '1.0.0').exists()
  # Repaired, the same data_dir builds.
  shutil.copy(os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0', line), casia_copy / 'NIR-VIS-2.0' / line)
  assert len(read_split(build('casia_nir_vis2', 'fold1', casia_copy, tmp_path / 'tfds'),
                        'probe')) > 0


def _rewrite_first_line(manual, name, entry):
  path = manual / 'NIR-VIS-2.0' / 'protocols' / name
  lines = path.read_bytes().split(b'\r\n')
  lines[0] = entry.encode()
  path.write_bytes(b'\r\n'.join(lines))


@pytest.mark.parametrize('entry', [
    '..\\..\\outside\\VIS\\00001\\001.jpg',
    's1\\VIS\\..\\..\\..\\00001\\001.jpg',
    '/etc/VIS/00001/001.jpg',
    'C:\\data\\VIS\\00001\\001.jpg',
])
def test_protocol_paths_cannot_leave_the_release(entry, casia_copy, tmp_path):
  _rewrite_first_line(casia_copy, 'vis_gallery_1.txt', entry)
  _fails(casia_copy, tmp_path / 'tfds', r'vis_gallery_1\.txt:1: .*(not a path relative|leaves)')


def test_symlink_out_of_the_release_is_refused(casia_copy, tmp_path):
  outside = tmp_path / 'outside'
  outside.mkdir()
  shutil.copy(os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0', 's1', 'VIS', '00003', '001.jpg'),
              outside / '009.jpg')
  os.symlink(outside / '009.jpg', casia_copy / 'NIR-VIS-2.0' / 's1' / 'VIS' / '00003' / '009.jpg')
  _rewrite_first_line(casia_copy, 'vis_gallery_1.txt', 's1\\VIS\\00003\\009.jpg')
  _fails(casia_copy, tmp_path / 'tfds', r'vis_gallery_1\.txt:1: .*outside')


def test_symlinked_release_folder_is_accepted(tmp_path):
  manual = tmp_path / 'manual'
  manual.mkdir()
  os.symlink(os.path.join(CASIA_DUMMY, 'NIR-VIS-2.0'), manual / 'NIR-VIS-2.0')
  shutil.copy(os.path.join(CASIA_DUMMY, 'landmarks.json'), manual / 'landmarks.json')
  builder = build('casia_nir_vis2', 'fold1', manual, tmp_path / 'tfds')
  assert len(read_split(builder, 'gallery')) == len(casia_lines('vis_gallery_1.txt'))


def test_list_of_the_wrong_spectrum_is_refused(casia_copy, tmp_path):
  _rewrite_first_line(casia_copy, 'nir_probe_1.txt', 's1\\VIS\\00003\\001.jpg')
  _fails(casia_copy, tmp_path / 'tfds', r'nir_probe_1\.txt:1: .*not a NIR image')


def test_without_table_or_dlib_the_error_names_the_command(casia_copy, tmp_path, monkeypatch):
  os.remove(casia_copy / 'landmarks.json')

  def no_dlib():
    raise landmarks_lib.LandmarksUnavailable('dlib is missing')

  monkeypatch.setattr(landmarks_lib, 'dlib_models', no_dlib)
  _fails(casia_copy, tmp_path / 'tfds',
         rf'python -m hfr_jax\.tools\.detect_landmarks --manual_dir={casia_copy}')


# ----------------------------------------------------------------------------
# Oulu-CASIA NIR&VIS, BUAA-VisNir, CUFSF: miniature configs on their dummy releases.


def dummy(module):
  return os.path.join(os.path.dirname(module.__file__), 'dummy_data')


def test_oulu_protocol_defaults_are_the_published_ones():
  config = oulu.Builder.BUILDER_CONFIGS[0]
  assert (config.num_train, config.num_test, config.per_expression) == (20, 20, 8)


def test_oulu_splits_take_frames_per_expression_of_disjoint_subjects(tmp_path):
  config = oulu.OuluConfig(name='tiny', num_train=1, num_test=1, per_expression=1,
                           test_vis_per_expression=1)
  builder = build('oulu_casia_nir_vis', config, dummy(oulu), tmp_path)
  splits = {s: read_split(builder, s) for s in ('train', 'gallery', 'probe', 'test_vis')}
  release = os.path.join(dummy(oulu), 'OriginalImg')
  sequences = {}
  for split, records in splits.items():
    for r in records:
      spectrum, light, subject, expression, _ = image_id(r).split('/')
      assert light == 'Strong' and os.path.isfile(os.path.join(release, image_id(r)))
      assert int(r['modality']) == {'NI': input_pipeline.NIR, 'VL': input_pipeline.VIS}[spectrum]
      sequences.setdefault((split, spectrum, subject, expression), []).append(r)
  subjects = {s: {k[2] for k in sequences if k[0] == s} for s in splits}
  assert len(subjects['train']) == 1 and len(subjects['gallery']) == 1
  assert subjects['gallery'] == subjects['probe'] == subjects['test_vis']
  assert subjects['train'].isdisjoint(subjects['gallery'])
  expressions = len(oulu.oulu_casia_nir_vis_dataset_builder.EXPRESSIONS)
  assert len(splits['train']) == 2 * expressions        # both spectra, one frame each
  assert len(splits['gallery']) == len(splits['probe']) == len(splits['test_vis']) == expressions
  assert all(len(v) == 1 for v in sequences.values())
  gallery_ids = {image_id(r) for r in splits['gallery']}
  assert gallery_ids.isdisjoint(image_id(r) for r in splits['test_vis'])
  identity = {k[2]: {int(r['identity']) for r in v} for k, v in sequences.items()}
  assert all(len(v) == 1 for v in identity.values())
  # The same seed draws the same frames.
  again = build('oulu_casia_nir_vis', config, dummy(oulu), tmp_path / 'again')
  assert {image_id(r) for r in read_split(again, 'gallery')} == gallery_ids


def test_oulu_default_config_needs_forty_subjects(tmp_path):
  with pytest.raises(real_data.ManualDataError, match='3 subjects found; the protocol needs 20'):
    build('oulu_casia_nir_vis', 'default', dummy(oulu), tmp_path)


def test_buaa_first_subjects_train_and_one_vis_is_the_gallery(tmp_path):
  config = buaa.BuaaConfig(name='tiny', num_train=1, pairs=2)
  builder = build('buaa_visnir', config, dummy(buaa), tmp_path)
  release = os.path.join(dummy(buaa), 'BUAA-VisNir')
  subjects = sorted(os.listdir(release), key=int)
  _, no_face = table(dummy(buaa))
  used = lambda subjects, ks: {f'{s}/{k}.bmp' for s in subjects for k in ks} - {
      p[len('BUAA-VisNir/'):] for p in no_face}
  expected = {'train': used(subjects[:1], range(1, 5)), 'gallery': used(subjects[1:], [1]),
              'probe': used(subjects[1:], [2, 4]), 'test_vis': used(subjects[1:], [3])}
  identity = {}
  for split, paths in expected.items():
    records = read_split(builder, split)
    assert {image_id(r) for r in records} == paths
    for r in records:
      subject, k = image_id(r)[:-len('.bmp')].split('/')
      assert int(r['modality']) == (input_pipeline.VIS if int(k) % 2 else input_pipeline.NIR)
      identity.setdefault(subject, set()).add(int(r['identity']))
  assert all(len(v) == 1 for v in identity.values()) and len(identity) == len(subjects)


def test_buaa_test_only_has_no_train_split_and_registered_configs_name_what_lacks(tmp_path):
  builder = build('buaa_visnir', buaa.BuaaConfig(name='tiny_test', num_train=0, pairs=2),
                  dummy(buaa), tmp_path)
  assert 'train' not in builder.info.splits
  assert len(read_split(builder, 'gallery')) == len(os.listdir(
      os.path.join(dummy(buaa), 'BUAA-VisNir')))
  with pytest.raises(real_data.ManualDataError, match='4 numbered subject folders'):
    build('buaa_visnir', 'default', dummy(buaa), tmp_path / 'default')        # 50 to train


def test_buaa_registered_config_skips_and_counts_the_images_a_folder_lacks(tmp_path, caplog):
  # 9 VIS-NIR pairs a subject; the dummy folders hold images 1-5 only.
  subjects = len(os.listdir(os.path.join(dummy(buaa), 'BUAA-VisNir')))
  builder = build('buaa_visnir', 'test_only', dummy(buaa), tmp_path)
  skipped = {}
  for m in caplog.messages:
    found = re.match(r'buaa_visnir/test_only (\w+): .*; skipped (\d+) listed but not found', m)
    if found:
      skipped[found.group(1)] = int(found.group(2))
  assert skipped == {'probe': subjects * (9 - 2), 'test_vis': subjects * (8 - 2)}
  assert len(read_split(builder, 'gallery')) == subjects


def test_buaa_missing_image_is_skipped_and_counted_in_one_warning(tmp_path, caplog):
  config = buaa.BuaaConfig(name='tiny', num_train=1, pairs=2)
  full = build('buaa_visnir', config, dummy(buaa), tmp_path / 'full')
  before = {split: read_split(full, split) for split in full.info.splits}
  removed = image_id(before['probe'][0])
  manual = tmp_path / 'manual'
  shutil.copytree(dummy(buaa), manual)
  os.remove(manual / 'BUAA-VisNir' / removed)
  caplog.clear()
  builder = build('buaa_visnir', config, manual, tmp_path / 'tfds')
  after = {split: read_split(builder, split) for split in builder.info.splits}
  assert {s: len(r) for s, r in after.items()} == {
      s: len(r) - (s == 'probe') for s, r in before.items()}
  assert removed not in {image_id(r) for r in after['probe']}
  warnings = [m for m in caplog.messages if 'not found' in m]
  assert len(warnings) == 1 and warnings[0].startswith('buaa_visnir/tiny probe: ')
  assert f'skipped 1 listed but not found in {manual}: BUAA-VisNir/{removed}' in warnings[0]


# The photo each sketch of the CUFSF miniature was drawn from, by the list's FERET names
# ('00043fb001d_931230': subject, pose fb, date 931230), under dummy_data/colorferet/. Each
# Color FERET file there is one flat colour, a different one for each file.
CUFSF_PHOTOS = {
    '00002': 'dvd1/data/images/00002/00002_930831_fa.ppm.bz2',     # not 940422's, nor fb
    '00005': 'dvd1/data/images/00005/00005_930831_fa_a.ppm.bz2',   # the list has no `_a`
    '00011': 'dvd1/data/images/00011/00011_930831_fa.ppm',         # decompressed
    '00012': 'dvd1/data/images/00012/00012_930831_fb.ppm.bz2',
    '00043': 'dvd2/data/images/00043/00043_931230_fb.ppm.bz2',     # the first of fb, fb_a
}   # 01013's (ba, on dvd2) is in the table's no_face: dropped


def colour(path) -> np.ndarray:
  """The (flat) colour of a Color FERET fixture file, read here without the builder."""
  with (bz2.open if str(path).endswith('.bz2') else open)(path, 'rb') as f:
    return np.asarray(Image.open(io.BytesIO(f.read())).convert('RGB'))[8, 8]


def test_cufsf_pairs_each_sketch_with_the_color_feret_photo_it_was_drawn_from(tmp_path):
  feret = os.path.join(dummy(cufsf), 'colorferet')
  builder = build('cufsf', cufsf.CufsfConfig(name='tiny', representation=1, train=2),
                  dummy(cufsf), tmp_path)
  sketches, photos = {}, {}
  for split in builder.info.splits:
    for r in read_split(builder, split):
      (photos if int(r['modality']) else sketches)[int(r['identity'])] = r
  subject = {i: os.path.basename(image_id(r))[:5] for i, r in sketches.items()}
  assert sorted(subject.values()) == ['00002', '00005', '00011', '00012', '00043', '01013']
  assert {subject[i] for i in photos} == set(CUFSF_PHOTOS)
  for i, r in photos.items():
    expected = os.path.join(feret, CUFSF_PHOTOS[subject[i]])
    assert image_id(r) == 'colorferet/' + CUFSF_PHOTOS[subject[i]]
    np.testing.assert_array_equal(r['image'][72, 72], colour(expected))   # the crop's centre
    folder = os.path.dirname(expected)   # the subject's other photos: other colours
    others = [os.path.join(folder, n) for n in os.listdir(folder)
              if n != os.path.basename(expected)]
    assert others and all((colour(o) != colour(expected)).any() for o in others)


def test_cufsf_list_entries_find_their_color_feret_file():
  module = cufsf.cufsf_dataset_builder
  photos = module.feret_photos(os.path.join(dummy(cufsf), 'colorferet'))
  assert photos['00002']['00002_930831_fa'] == CUFSF_PHOTOS['00002']   # images/, not thumbnails/
  find = lambda entry: module.photo_for(entry, photos[entry[:5]])
  assert find('00043_931230_fb_a') == 'dvd2/data/images/00043/00043_931230_fb_a.ppm.bz2'  # stem
  assert find('00043fb001d_931230') == CUFSF_PHOTOS['00043']        # date and pose
  assert find('00005_930831_fa') == CUFSF_PHOTOS['00005']           # lacks `_a`
  assert find('00002') == CUFSF_PHOTOS['00002']                     # no date nor pose: fa, 930831
  assert find('00012fb') == CUFSF_PHOTOS['00012']                   # no date
  assert find('00002fa010_950101') is None and find('00002ba010_930831') is None


def test_cufsf_missing_photo_is_skipped_and_counted_in_one_warning(tmp_path, caplog):
  manual = tmp_path / 'manual'
  shutil.copytree(dummy(cufsf), manual)
  os.remove(manual / 'colorferet' / CUFSF_PHOTOS['00011'])   # its fb photo stays
  config = cufsf.CufsfConfig(name='tiny', representation=1, train=2)
  builder = build('cufsf', config, manual, tmp_path / 'tfds')
  photos = [image_id(r) for split in builder.info.splits for r in read_split(builder, split)
            if int(r['modality'])]
  assert sorted(photos) == sorted('colorferet/' + p for s, p in CUFSF_PHOTOS.items()
                                  if s != '00011')
  warnings = [m for m in caplog.messages if 'not found' in m]
  assert len(warnings) == 1
  assert (f'skipped 1 listed but not found in {manual}: '
          'colorferet/dvd*/data/images/00011/00011fa010_930831') in warnings[0]
  shutil.rmtree(manual / 'colorferet')
  with pytest.raises(real_data.ManualDataError, match=r'Color FERET release not found: expected '
                     + re.escape(str(manual / 'colorferet'))):
    build('cufsf', config, manual, tmp_path / 'tfds2')


def test_cufsf_sketch_probes_photo_gallery_and_nulls_three_subject_sets(tmp_path):
  assert (cufsf.Builder.BUILDER_CONFIGS[0].representation,
          cufsf.Builder.BUILDER_CONFIGS[0].train) == (250, 250)
  config = cufsf.CufsfConfig(name='tiny', representation=1, train=2)
  builder = build('cufsf', config, dummy(cufsf), tmp_path)
  assert set(builder.info.splits) == {'representation', 'train', 'gallery', 'probe'}
  with open(os.path.join(dummy(cufsf), 'CUFSF',
                         'names_of_photos_used_for_drawing_sketches.txt')) as f:
    subjects = {l.strip()[:5] for l in f if l.strip()}
  _, no_face = table(dummy(cufsf))
  seen, template = {}, real_data.frame_template(config.resolution)
  for split in builder.info.splits:
    for r in read_split(builder, split):
      path = image_id(r)
      sketch = path.startswith('CUFSF/original_sketch/')
      assert int(r['modality']) == (0 if sketch else 1)
      assert builder.info.features['modality'].int2str(int(r['modality'])) == (
          'sketch' if sketch else 'photo')
      subject = os.path.basename(path)[:5]
      seen.setdefault(subject, set()).add((split, int(r['identity'])))
      if path in no_face:   # a sketch with fiducial points: placed from its eyes
        np.testing.assert_allclose(r['landmarks'], template, atol=1e-3)
  assert set(seen) == subjects
  assert all(len({i for _, i in v}) == 1 for v in seen.values())       # one identity each
  assert len({min(i for _, i in v) for v in seen.values()}) == len(subjects)
  photo_dropped = {os.path.basename(p)[:5] for p in no_face if p.startswith('colorferet/')}
  groups = {}
  for subject, found in seen.items():
    splits = {split for split, _ in found}
    group = ('representation' if 'representation' in splits else
             'train' if 'train' in splits else 'test')
    groups[group] = groups.get(group, 0) + 1
    test_splits = {'probe'} if subject in photo_dropped else {'probe', 'gallery'}
    assert splits == ({group} if group != 'test' else test_splits)
  assert groups == {'representation': config.representation, 'train': config.train,
                    'test': len(subjects) - config.representation - config.train}
  for split in ('representation', 'train'):   # sketch and photo of each subject, less drops
    records = read_split(builder, split)
    subjects_here = {os.path.basename(image_id(r))[:5] for r in records}
    assert len(records) == 2 * len(subjects_here) - len(subjects_here & photo_dropped)


# ----------------------------------------------------------------------------
# Configs name these builders and their configs.


@pytest.mark.parametrize('variant,field', [('casia', 'data'), ('casia_oulu', 'eval_data'),
                                           ('casia_buaa', 'eval_data')])
def test_pcfh_real_variants_name_registered_builders(variant, field):
  from configs import pcfh as pcfh_config
  config = pcfh_config.get_config(variant)
  assert (config.data.name, config.data.config) == ('casia_nir_vis2', 'fold1')
  builder = datasets.builder(config[field])
  assert builder.builder_config.name == config[field].config
  assert builder.builder_config.resolution == config.data.resolution


@pytest.mark.parametrize('scale', ['casia', 'oulu', 'cufsf'])
def test_null_real_scales_name_registered_builders(scale):
  from configs import null as null_config
  data = null_config.get_config(f'vae_gan,{scale}').data
  builder = datasets.builder(data)
  assert (builder.name, builder.builder_config.name) == (data.name, data.config)


def test_without_a_table_the_builder_detects_itself(casia_copy, tmp_path, monkeypatch):
  os.remove(casia_copy / 'landmarks.json')
  seen = []
  shape = landmarks_lib.from_eyes(np.array([[5.0, 6.0], [11.0, 6.0]]))

  def detect(image, upsample=0):
    seen.append(image.shape)
    return shape

  monkeypatch.setattr(landmarks_lib, 'dlib_models', lambda: (None, None))
  monkeypatch.setattr(landmarks_lib, 'detect', detect)
  builder = build('casia_nir_vis2', 'fold1', casia_copy, tmp_path / 'tfds')
  probe = read_split(builder, 'probe')
  assert len(probe) == len(casia_lines('nir_probe_1.txt'))     # nothing dropped: all found
  assert seen and all(s == (16, 16, 3) for s in seen)
  template = real_data.frame_template(builder.builder_config.resolution)
  for r in probe:
    np.testing.assert_allclose(r['landmarks'], template, atol=1e-3)


def test_without_vis_probes_the_evaluator_scores_nir_to_vis_and_reports_no_gap(tmp_path):
  """CUFSF has no test_vis split: no vis_to_vis curve, and no gap_closed, instead of a crash."""
  builder = build('cufsf', cufsf.CufsfConfig(name='tiny', representation=1, train=2),
                  dummy(cufsf), tmp_path / 'data')
  pixels = lambda b: np.asarray(b['image'], np.float32).reshape(len(b['image']), -1)
  curves = evaluate.feature_curves(pixels, builder, batch_size=4)
  assert set(curves) == {'nir_to_vis'}
  scores, probe_ids, gallery_ids = curves['nir_to_vis']
  probes = read_split(builder, 'probe')
  gallery = read_split(builder, 'gallery')
  want = lambda rs: np.stack([np.asarray(r['image'], np.float32).reshape(-1) for r in rs])
  np.testing.assert_allclose(scores, metrics.cosine_similarity(want(probes), want(gallery)),
                             rtol=1e-5)
  results = evaluate.write_report(str(tmp_path / 'run'), curves, title='t', dataset={},
                                  config={}, gap=('nir_to_vis', 'nir_to_vis'))
  assert 'gap_closed' not in results and 'vis_to_vis' not in results['metrics']


def test_lightcnn_evaluate_scores_a_pretrained_model_without_training(casia_fold1, tmp_path):
  """configs/lightcnn.py:evaluate: a converted checkpoint scored on a real set, nothing trained."""
  model = lightcnn.create('9', num_classes=4, width=0.125, input_size=32, rngs=nnx.Rngs(0))
  pretrained.save_pretrained(model, str(tmp_path / 'lcnn'), arch='9', num_classes=4, width=0.125,
                             input_size=32)
  config = lightcnn_config.get_config('evaluate')
  assert (config.data.name, config.data.config) == ('casia_nir_vis2', 'fold1')
  config.pretrained_dir = str(tmp_path / 'lcnn')
  config.data.update(data_dir=str(casia_fold1.data_dir_root), manual_dir=CASIA_DUMMY)
  results = recognizer_train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run' / 'checkpoints').exists()   # nothing trained
  # The same figures from the saved model's features, scored directly.
  model = pretrained.load_pretrained(str(tmp_path / 'lcnn'))
  embed = evaluate.recognizer_fn(model)
  gallery, gallery_ids = evaluate.split_outputs(embed, casia_fold1, 'gallery')
  probes, probe_ids = evaluate.split_outputs(embed, casia_fold1, 'probe')
  scores = metrics.cosine_similarity(probes, gallery)
  assert results['metrics']['nir_to_vis']['rank1'] == pytest.approx(
      np.mean(gallery_ids[scores.argmax(1)] == probe_ids))
  config.pretrained_dir = str(tmp_path / 'nowhere')
  with pytest.raises(FileNotFoundError, match='nowhere'):
    recognizer_train.train_and_evaluate(config, str(tmp_path / 'run2'))
