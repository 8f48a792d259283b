"""The synthetic NIR-VIS dataset: determinism, protocol shape, exact landmarks."""

import copy
import dataclasses
import hashlib
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage
import tensorflow_datasets as tfds

import tfds_builders.synthetic_nir_vis as snv
from tfds_builders.synthetic_nir_vis import presets
from tfds_builders.synthetic_nir_vis import render
from tfds_builders.synthetic_nir_vis import synthetic_nir_vis_dataset_builder as sb

from conftest import TINY


def _read_all(builder, split):
  source = builder.as_data_source(split)
  return [source[i] for i in range(len(source))]


def test_same_seed_gives_same_bytes():
  a = sb._render_example((5, 3, 'nir', 1, 64, True, presets.CASIA))
  b = sb._render_example((5, 3, 'nir', 1, 64, True, presets.CASIA))
  assert a[1]['image'] == b[1]['image'] and a[1]['vis_twin'] == b[1]['vis_twin']
  np.testing.assert_array_equal(a[1]['landmarks'], b[1]['landmarks'])


def test_new_seed_gives_new_identities():
  shapes = [render.sample_identity(np.random.default_rng([s, 0])) for s in (0, 1)]
  assert not np.allclose(shapes[0].shape, shapes[1].shape, atol=1e-3)
  a = sb._render_example((0, 0, 'vis', 0, 64, False, presets.CASIA))[1]
  b = sb._render_example((1, 0, 'vis', 0, 64, False, presets.CASIA))[1]
  assert a['image'] != b['image']


def test_config_name_encodes_seed_count_and_resolution():
  names = {snv.make_config(seed=s, num_identities=n, resolution=r).name
           for s in (0, 1) for n in (10, 20) for r in (64, 144)}
  assert len(names) == 8
  # A registered config comes back as the registered object (TFDS requires it).
  assert snv.make_config() is sb.Builder.BUILDER_CONFIGS[0]


def test_splits_follow_the_casia_protocol_shape(tiny_builder):
  splits = {s: _read_all(tiny_builder, s) for s in ('train', 'gallery', 'probe', 'test_vis')}
  ids = {s: {int(e['identity']) for e in exs} for s, exs in splits.items()}
  assert ids['train'].isdisjoint(ids['gallery'])
  assert ids['gallery'] == ids['probe'] == ids['test_vis']
  n_train = snv.make_config(**TINY).num_train_identities
  n_test = TINY['num_identities'] - n_train
  modality = lambda s: {int(e['modality']) for e in splits[s]}
  assert modality('gallery') == {1} and modality('test_vis') == {1} and modality('probe') == {0}
  assert modality('train') == {0, 1}
  assert len(splits['gallery']) == n_test                      # one VIS per test identity
  assert len(splits['probe']) == n_test * TINY['nir_per_identity']
  assert len(splits['test_vis']) == n_test * (TINY['vis_per_identity'] - 1)
  assert len(splits['train']) == n_train * (TINY['vis_per_identity'] + TINY['nir_per_identity'])
  image_ids = [e['image_id'] for exs in splits.values() for e in exs]
  assert len(set(image_ids)) == len(image_ids) and isinstance(image_ids[0], bytes)


def test_each_probe_carries_its_vis_twin_and_no_other_image_does(tiny_builder):
  seed, size = TINY['seed'], TINY['resolution']
  for split in ('train', 'gallery', 'test_vis'):
    assert all(e['vis_twin'] is None for e in _read_all(tiny_builder, split)), split
  probes = _read_all(tiny_builder, 'probe')
  assert len(probes) == 8
  for ex in probes:
    identity, _, index = ex['image_id'].decode().split('_')
    identity, index = int(identity), int(index)
    # Rebuilt from the renderer: the probe's scene, photographed by a VIS camera whose
    # generator is the twin's own, so the probe's bytes are those of a build without twins.
    person = render.sample_identity(np.random.default_rng([seed, identity]))
    rng = np.random.default_rng([seed, identity, 1, index])
    scene = render.sample_scene(person, rng, render.NIR, size)
    nir, nir_lm = render.render_scene(person, scene, render.NIR, rng)
    twin, twin_lm = render.render_scene(person, scene, render.VIS,
                                        np.random.default_rng([seed, identity, 3, index]))
    np.testing.assert_array_equal(ex['image'], nir)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(ex['vis_twin']))), twin)
    np.testing.assert_array_equal(ex['landmarks'], nir_lm)
    np.testing.assert_array_equal(ex['landmarks'], twin_lm)


def test_nir_is_gray_vis_is_colour(tiny_builder):
  for ex in _read_all(tiny_builder, 'train'):
    img = ex['image'].astype(int)
    assert img.shape == (TINY['resolution'],) * 2 + (3,)
    spread = np.abs(img[..., 0] - img[..., 2]).mean()
    if ex['modality'] == 0:
      assert spread == 0
    else:
      assert spread > 1


def test_landmarks_are_inside_the_image_in_ibug_order(tiny_builder):
  for ex in _read_all(tiny_builder, 'probe'):
    lm = ex['landmarks']
    assert lm.shape == (68, 2) and lm.dtype == np.float32
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]          # eyes left to right
    assert lm[48, 0] < lm[54, 0] and lm[0, 0] < lm[16, 0]
    assert lm[27, 1] < lm[30, 1] < lm[33, 1] < lm[57, 1] < lm[8, 1]  # top to bottom


def _pupil_centre(image, eye):
  """Darkest point of the eye opening, away from the lash line on its rim."""
  size = image.shape[0]
  mask = Image.new('L', (size, size), 0)
  ImageDraw.Draw(mask).polygon([tuple(p) for p in eye], fill=1)
  opening = np.asarray(mask, bool)
  inside = ndimage.binary_erosion(opening, iterations=2)
  gray = ndimage.gaussian_filter(image.astype(float).mean(-1), 0.5)
  darkest = np.unravel_index(np.argmin(np.where(inside, gray, np.inf)), gray.shape)
  # Centroid of the dark blob (connected pixels near the minimum) holding it.
  blobs, _ = ndimage.label(opening & (gray <= gray[darkest] + 20))
  # Centre of the largest disc inside the blob: robust to a lid clipping its rim.
  depth = ndimage.distance_transform_edt(blobs == blobs[darkest])
  ys, xs = np.nonzero(depth >= depth.max() - 0.5)
  return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize('modality', ['vis', 'nir'])
def test_rendered_pupil_sits_at_the_eye_landmark_centroid(modality):
  errors = []
  for seed in range(12):
    person = render.sample_identity(np.random.default_rng([seed, 0]))
    image, lm = render.render(person, np.random.default_rng([seed, 1]), modality, 256)
    for eye in (lm[36:42], lm[42:48]):
      if np.linalg.norm(eye[[1, 2]] - eye[[5, 4]], axis=1).mean() < 6:   # closed or squinting
        continue
      errors.append(_pupil_centre(image, eye) - eye.mean(0))
  errors = np.array(errors)
  assert len(errors) >= 12
  # Lids and lashes clip the visible pupil, so single estimates wander by about a
  # pixel; a misplaced pupil would show as a bias or as errors of its radius (~2.5 px).
  assert np.linalg.norm(errors, axis=1).max() < 1.5
  assert np.linalg.norm(errors.mean(0)) < 0.4


def test_nir_and_vis_of_one_identity_are_not_aligned():
  person = render.sample_identity(np.random.default_rng([0, 1]))
  _, nir = render.render(person, np.random.default_rng([0, 1, 1, 0]), 'nir', 144)
  _, vis = render.render(person, np.random.default_rng([0, 1, 2, 0]), 'vis', 144)
  iod = np.linalg.norm(vis[45] - vis[36])
  assert np.linalg.norm(nir - vis, axis=1).mean() > 0.05 * iod


def _assert_scenes_equal(a, b):
  """Field by field, the pose's too; arrays exactly."""
  for field in dataclasses.fields(a):
    x, y = getattr(a, field.name), getattr(b, field.name)
    if dataclasses.is_dataclass(x):
      _assert_scenes_equal(x, y)
    elif isinstance(x, dict):
      assert x == y, field.name
    else:
      np.testing.assert_array_equal(x, y, err_msg=field.name)


@pytest.mark.parametrize('modality', ['nir', 'vis'])
def test_render_is_its_scene_then_its_camera_on_one_generator(modality):
  person = render.sample_identity(np.random.default_rng([2, 5]))
  image, lm = render.render(person, np.random.default_rng([2, 5, 1, 0]), modality, 48)
  rng = np.random.default_rng([2, 5, 1, 0])
  scene = render.sample_scene(person, rng, modality, 48)
  want, want_lm = render.render_scene(person, scene, modality, rng)
  np.testing.assert_array_equal(image, want)
  np.testing.assert_array_equal(lm, want_lm)
  np.testing.assert_array_equal(lm, scene.landmarks.astype(np.float32))


def _inside_jaw(lm, size):
  mask = Image.new('L', (size, size), 0)
  ImageDraw.Draw(mask).polygon([tuple(p) for p in lm[:17]], fill=1)
  return np.asarray(mask, bool)


def _edges(image, lm):
  """Gradient magnitude of the luminance inside the jaw line, smoothed past sensor noise."""
  gray = ndimage.gaussian_filter(image.astype(float).mean(-1), 1.0)
  edges = np.hypot(ndimage.sobel(gray, 0), ndimage.sobel(gray, 1))
  return edges[_inside_jaw(lm, image.shape[0])]


def _shading(image, lm):
  """Blurred luminance well inside the jaw line: the light's shading more than the marks."""
  inside = ndimage.binary_erosion(_inside_jaw(lm, image.shape[0]), iterations=3)
  return ndimage.gaussian_filter(image.astype(float).mean(-1), 2.0)[inside]


def test_vis_twin_is_the_nir_scene_in_vis_spectrum_and_camera():
  corr = lambda a, b: np.corrcoef(a, b)[0, 1]
  twin_edges, other_edges = [], []
  for person_seed in range(4):
    person = render.sample_identity(np.random.default_rng([0, person_seed]))
    seed = [0, person_seed, 1, 2]
    scene = render.sample_scene(person, np.random.default_rng(seed), render.NIR, 64)
    kept = copy.deepcopy(scene)
    nir, nir_lm = render.render(person, np.random.default_rng(seed), render.NIR, 64)
    twin, twin_lm = render.render_scene(person, scene, render.VIS, np.random.default_rng(9))
    # A seed replays its scene, and photographing it (either spectrum) leaves it unchanged.
    _assert_scenes_equal(scene, kept)
    _assert_scenes_equal(
        render.sample_scene(person, np.random.default_rng(seed), render.NIR, 64), kept)
    np.testing.assert_array_equal(twin_lm, nir_lm)
    # The spectrum differs: gray NIR, colour twin.
    assert np.all(nir[..., 0] == nir[..., 2])
    assert np.abs(twin[..., 0].astype(int) - twin[..., 2]).mean() > 1
    # The scene does not. Edges on the face: the twin's follow the NIR image's, the person's
    # next VIS photo's do not (on average over the four: a dark-skinned face in the NIR
    # booth has faint edges at 64 px). Light: the twin's shading follows the NIR image's
    # more closely than the same twin's with the light swung to the other side.
    edges = lambda image: _edges(image, nir_lm)
    other, _ = render.render(person, np.random.default_rng([0, person_seed, 2, 0]),
                             render.VIS, 64)
    twin_edges.append(corr(edges(twin), edges(nir)))
    other_edges.append(corr(edges(other), edges(nir)))
    swung = dataclasses.replace(scene, light_azimuth=-np.copysign(1.0, scene.light_azimuth),
                                light_elevation=0.3)
    relit, relit_lm = render.render_scene(person, swung, render.VIS, np.random.default_rng(9))
    np.testing.assert_array_equal(relit_lm, nir_lm)
    shading = lambda image: _shading(image, nir_lm)
    assert corr(shading(twin), shading(nir)) > corr(shading(relit), shading(nir)) + 0.1
  assert np.mean(twin_edges) > np.mean(other_edges) + 0.25, (twin_edges, other_edges)


def test_bad_config_values_are_rejected():
  with pytest.raises(ValueError, match='num_identities'):
    snv.make_config(num_identities=1)
  with pytest.raises(ValueError, match='VIS'):
    snv.make_config(vis_per_identity=1)


def test_builder_writes_array_record_by_default(tiny_builder):
  assert tiny_builder.info.file_format == tfds.core.file_adapters.FileFormat.ARRAY_RECORD


# --- Presets (tfds_builders/synthetic_nir_vis/presets.py) ---

# sha256 (first 16 hex digits) of image + VIS twin + landmarks bytes, rendered by the
# renderer at 028ac68, before presets existed (the TFDS 1.1.0 set): `hard` must keep them.
HARD_BYTES_AT_028AC68 = {
    (0, 0, 'nir', 0, 64): 'd394df2572eafb76',
    (0, 1, 'vis', 2, 64): '763cfd0c460f3767',
    (3, 7, 'nir', 1, 96): 'e5cc15c7b509f397',
    (11, 4, 'vis', 0, 144): 'f26c6ca2adc1cec6',
    (5, 9, 'nir', 5, 144): 'b4cadb969bf3dcc6',
}


def _photo_and_twin(params, seed, identity, modality, index, size):
  """The builder's draws for one photo and its VIS twin (uint8 arrays, landmarks)."""
  person = render.sample_identity(np.random.default_rng([seed, identity]), params)
  rng = np.random.default_rng([seed, identity, sb.MODALITIES.index(modality) + 1, index])
  scene = render.sample_scene(person, rng, modality, size)
  image, lm = render.render_scene(person, scene, modality, rng)
  camera = np.random.default_rng([seed, identity, sb._TWIN_CAMERA, index])
  twin, _ = render.render_scene(person, scene, render.VIS, camera)
  return image, twin, lm


@pytest.mark.parametrize('args', sorted(HARD_BYTES_AT_028AC68))
def test_hard_preset_renders_the_first_sets_bytes(args):
  image, twin, lm = _photo_and_twin(presets.HARD, *args)
  digest = hashlib.sha256(image.tobytes() + twin.tobytes() + lm.tobytes()).hexdigest()[:16]
  assert digest == HARD_BYTES_AT_028AC68[args]


def test_casia_is_the_default_everywhere_the_synthetic_set_is():
  assert presets.DEFAULT_PRESET == 'casia'
  assert snv.make_config().name.startswith(f'casia_{presets.CASIA.digest()}_')
  person = render.sample_identity(np.random.default_rng([0, 0]))
  assert person.params == presets.CASIA


@pytest.mark.parametrize('field, value', [
    ('yaw', 30.0), ('texture_contrast', 0.2), ('skin_nir_slope', 0.0), ('nir_gain', (0.5, 0.6)),
    ('max_props', 2), ('specular_nir', 0.0), ('vis_backdrop_chroma', 1.0)])
def test_a_preset_field_reaches_the_renderer_and_the_builders_name(field, value):
  changed = presets.resolve('casia', {field: value})
  assert getattr(changed, field) == value and changed != presets.CASIA
  name = lambda **kw: snv.make_config(num_identities=4, resolution=48, **kw).name
  assert name(render_params={field: value}) != name()
  # Setting a field to the preset's own value names the same set.
  assert name(render_params={field: getattr(presets.CASIA, field)}) == name()
  differs = [not np.array_equal(a, b) for params in ((presets.CASIA, changed),)
             for k in range(3) for modality in sb.MODALITIES
             for a, b in [[_photo_and_twin(p, 1, k, modality, 0, 64)[0] for p in params]]]
  assert any(differs)


def test_unknown_preset_or_field_is_named_in_the_error():
  with pytest.raises(ValueError, match='config.data.preset'):
    presets.resolve('nope')
  with pytest.raises(ValueError, match=r"config.data.render.*\['yaww'\]"):
    presets.resolve('casia', {'yaww': 3})


def test_identity_texture_belongs_to_the_person():
  person = lambda seed, i: render.sample_identity(np.random.default_rng([seed, i]))
  a, again, b = person(0, 1), person(0, 1), person(0, 2)
  np.testing.assert_array_equal(a.texture, again.texture)
  assert np.corrcoef(a.texture[..., 0].ravel(), b.texture[..., 0].ravel())[0, 1] < 0.2
  # In the photos: the skin of two photos of one person (aligned by their landmarks)
  # correlates more than a photo of them with one of someone else, in either spectrum.
  def skin(identity, modality, index):
    image, _, lm = _photo_and_twin(presets.CASIA, 0, identity, modality, index, 144)
    gray = image.astype(float).mean(-1)
    detail = gray - ndimage.gaussian_filter(gray, 3.0)     # texture, not tone or shading
    eye_mid, iod = (lm[36] + lm[45]) / 2, np.linalg.norm(lm[45] - lm[36])
    u, v = np.meshgrid(np.linspace(-0.6, 0.6, 40), np.linspace(-1.0, -0.5, 16))  # forehead
    return ndimage.map_coordinates(detail, [eye_mid[1] + v * iod, eye_mid[0] + u * iod], order=1)
  corr = lambda x, y: np.corrcoef(x.ravel(), y.ravel())[0, 1]
  for modality in sb.MODALITIES:
    same = [corr(skin(i, modality, 0), skin(i, modality, 1)) for i in range(4)]
    other = [corr(skin(i, modality, 0), skin(i + 1, modality, 1)) for i in range(4)]
    assert np.mean(same) > np.mean(other) + 0.2, (modality, same, other)


def test_new_fields_draw_from_their_own_streams():
  """Turning texture, relief and extra moles on or off moves no other draw."""
  plain = presets.CASIA.replace(texture_contrast=0.0, relief=0.0, extra_moles=0.0)
  a = render.sample_identity(np.random.default_rng([4, 2]), presets.CASIA)
  b = render.sample_identity(np.random.default_rng([4, 2]), plain)
  assert b.texture is None and a.texture is not None
  np.testing.assert_array_equal(a.shape, b.shape)
  np.testing.assert_array_equal(a.moles[:len(b.moles)], b.moles)
  assert (a.skin_nir, a.hairline, a.beard) == (b.skin_nir, b.hairline, b.beard)
  sa = render.sample_scene(a, np.random.default_rng([4, 2, 1, 0]), render.NIR, 64)
  sb_ = render.sample_scene(b, np.random.default_rng([4, 2, 1, 0]), render.NIR, 64)
  _assert_scenes_equal(sa, sb_)


@pytest.mark.parametrize('preset', sorted(presets.PRESETS))
def test_twins_are_exact_under_every_preset(preset):
  """Same landmarks and geometry; only spectrum and camera differ."""
  params = presets.PRESETS[preset]
  for identity in range(3):
    person = render.sample_identity(np.random.default_rng([6, identity]), params)
    rng = np.random.default_rng([6, identity, 1, 0])
    scene = render.sample_scene(person, rng, render.NIR, 64)
    kept = copy.deepcopy(scene)
    nir, nir_lm = render.render_scene(person, scene, render.NIR, rng)
    twin, twin_lm = render.render_scene(person, scene, render.VIS, np.random.default_rng(1))
    _assert_scenes_equal(scene, kept)
    np.testing.assert_array_equal(nir_lm, twin_lm)
    assert np.all(nir[..., 0] == nir[..., 2]) and np.abs(
        twin[..., 0].astype(int) - twin[..., 2]).mean() > 1
