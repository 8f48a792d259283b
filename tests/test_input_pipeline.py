"""grain pipelines over the tiny synthetic set; device-side augmentation."""

import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

from hfr_jax import evaluate
from hfr_jax import input_pipeline as ip
from tfds_builders.synthetic_nir_vis import render


@pytest.fixture(scope='module')
def train(tiny_builder):
  return ip.open_split(tiny_builder, 'train')


def _take(iterator, n):
  return list(itertools.islice(iterator, n))


def test_paired_elements_share_identity_and_differ_in_modality(train):
  source, index = train
  for batch in _take(iter(ip.paired(source, index, batch_size=4, seed=0, num_threads=1)), 5):
    for b in range(4):
      # Find each image's record by its pixels and check its metadata.
      nir_r = _record_of(source, batch['nir_image'][b])
      vis_r = _record_of(source, batch['vis_image'][b])
      assert index.identity[nir_r] == index.identity[vis_r] == batch['identity'][b]
      assert index.modality[nir_r] == ip.NIR and index.modality[vis_r] == ip.VIS
      np.testing.assert_array_equal(batch['nir_landmarks'][b], source[nir_r]['landmarks'])


_CACHE = {}


def _record_of(source, image):
  if id(source) not in _CACHE:
    _CACHE[id(source)] = {ip.decode_png(source[i]['image']).tobytes(): i
                          for i in range(len(source))}
  return _CACHE[id(source)][np.asarray(image).tobytes()]


def test_paired_is_deterministic_and_seed_dependent(train):
  source, index = train
  first = lambda seed: _take(iter(ip.paired(source, index, batch_size=4, seed=seed,
                                            num_threads=2)), 3)
  a, b, c = first(1), first(1), first(2)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x['nir_image'], y['nir_image'])
    np.testing.assert_array_equal(x['vis_image'], y['vis_image'])
  assert any(not np.array_equal(x['nir_image'], z['nir_image']) for x, z in zip(a, c))


def test_iterator_state_restores_the_stream(train):
  source, index = train
  it = iter(ip.paired(source, index, batch_size=3, seed=5, num_threads=1))
  _take(it, 4)
  state = it.get_state()
  expected = _take(it, 3)
  fresh = iter(ip.paired(source, index, batch_size=3, seed=5, num_threads=1))
  fresh.set_state(state)
  for x, y in zip(expected, _take(fresh, 3)):
    np.testing.assert_array_equal(x['nir_image'], y['nir_image'])
    np.testing.assert_array_equal(x['vis_landmarks'], y['vis_landmarks'])


def test_unpaired_streams_are_independent_and_carry_no_identity(train):
  source, index = train
  batches = _take(iter(ip.unpaired(source, index, batch_size=4, seed=0, num_threads=1)), 6)
  assert 'identity' not in batches[0]
  same = total = 0
  for batch in batches:
    for b in range(4):
      n, v = _record_of(source, batch['nir_image'][b]), _record_of(source, batch['vis_image'][b])
      assert index.modality[n] == ip.NIR and index.modality[v] == ip.VIS
      same += index.identity[n] == index.identity[v]
      total += 1
  assert same < total   # not paired by identity


@pytest.mark.parametrize('batch_size', [3, 4, 64])
def test_eval_yields_every_example_once_in_order_with_mask(tiny_builder, batch_size):
  source, index = ip.open_split(tiny_builder, 'probe')
  batches = list(ip.evaluation(source, index, batch_size=batch_size, num_threads=1))
  assert all(b['image'].shape[0] == batch_size for b in batches)
  mask = np.concatenate([b['mask'] for b in batches])
  ids = np.concatenate([b['identity'] for b in batches])[mask]
  assert mask.sum() == len(index.identity) and mask[:len(index.identity)].all()
  np.testing.assert_array_equal(ids, index.identity)
  images, _, _ = evaluate.read_images(tiny_builder, 'probe', batch_size=batch_size)
  for i in (0, len(images) - 1):
    np.testing.assert_array_equal(images[i], ip.decode_png(source[i]['image']))


def test_eval_yields_the_vis_twins_only_when_asked(tiny_builder):
  source, index = ip.open_split(tiny_builder, 'probe')
  assert index.has_twin.all()
  plain = next(iter(ip.evaluation(source, index, batch_size=8, num_threads=1)))
  assert 'vis_twin' not in plain
  batch = next(iter(ip.evaluation(source, index, batch_size=8, twins=True, num_threads=1)))
  for i in range(8):
    np.testing.assert_array_equal(batch['vis_twin'][i], ip.decode_png(source[i]['vis_twin']))
  np.testing.assert_array_equal(batch['image'], plain['image'])
  train_source, train_index = ip.open_split(tiny_builder, 'train')
  assert not train_index.has_twin.any()
  with pytest.raises(ValueError, match='vis_twin'):
    ip.evaluation(train_source, train_index, batch_size=8, twins=True)


def test_no_training_iterator_yields_the_vis_twin(tiny_builder):
  # Every probe record has a twin; call each identity's first one VIS so that every mode
  # finds both modalities.
  source, index = ip.open_split(tiny_builder, 'probe')
  modality = np.full(len(index.identity), ip.NIR)
  modality[np.unique(index.identity, return_index=True)[1]] = ip.VIS
  index = dataclasses.replace(index, modality=modality)
  kw = dict(batch_size=2, seed=0, num_threads=1)
  iterators = {'paired': ip.paired(source, index, **kw),
               'unpaired': ip.unpaired(source, index, **kw),
               'labelled VIS': ip.labelled(source, index, **kw),
               'labelled NIR': ip.labelled(source, index, modality=ip.NIR, **kw)}
  for name, iterator in iterators.items():
    for batch in _take(iter(iterator), 3):
      assert 'image' in batch or 'nir_image' in batch, name
      assert not any('twin' in key for key in batch), (name, sorted(batch))


def _as_process(monkeypatch, index: int, count: int):
  monkeypatch.setattr(jax, 'process_index', lambda: index)
  monkeypatch.setattr(jax, 'process_count', lambda: count)


@pytest.mark.parametrize('mode', ['paired', 'unpaired', 'labelled', 'evaluation'])
def test_each_process_reads_its_part_of_the_batches_one_process_reads(train, monkeypatch, mode):
  """Process i of n yields rows [i * 8 / n, (i + 1) * 8 / n) of every global batch of 8: the
  same records in the same order (random VIS partners included) whatever n."""
  source, index = train
  make = {'paired': functools.partial(ip.paired, seed=4),
          'unpaired': functools.partial(ip.unpaired, seed=4),
          'labelled': functools.partial(ip.labelled, seed=4),
          'evaluation': ip.evaluation}[mode]
  # 20 records: the evaluation pass ends in a padded batch, the training streams in a new epoch.
  read = lambda: _take(iter(make(source, index, batch_size=8, num_threads=1)), 4)
  one = read()
  for count in (2, 4):
    parts = []
    for i in range(count):
      _as_process(monkeypatch, i, count)
      parts.append(read())
    assert all(len(p) == len(one) for p in parts)   # evaluation: every process, every batch
    for k, batch in enumerate(one):
      assert all(len(p[k][key]) == 8 // count for p in parts for key in batch)
      for key in batch:
        np.testing.assert_array_equal(np.concatenate([p[k][key] for p in parts]), batch[key],
                                      err_msg=f'{count} processes, batch {k}, {key}')


def test_a_global_batch_the_processes_cannot_split_evenly_is_a_clear_error(train, monkeypatch):
  source, index = train
  _as_process(monkeypatch, 0, 3)
  with pytest.raises(ValueError, match='batch size 8 is not divisible by the 3 JAX processes'):
    ip.labelled(source, index, batch_size=8, seed=0)


def test_missing_split_is_a_clear_error(tiny_builder):
  with pytest.raises(ValueError, match="no split 'validation'"):
    ip.open_split(tiny_builder, 'validation')


def test_flip_keeps_landmarks_on_the_mirrored_features():
  person = render.sample_identity(np.random.default_rng([4, 2]))
  image, lm = render.render(person, np.random.default_rng([4, 2, 2, 0]), 'vis', 96)
  flipped, flm = jax.jit(ip.flip)(jnp.asarray(image, jnp.float32), jnp.asarray(lm))
  flipped, flm = np.asarray(flipped), np.asarray(flm)
  np.testing.assert_array_equal(flipped, image[:, ::-1].astype(np.float32))
  # iBUG semantics survive: image-left points stay on the image left.
  assert flm[36, 0] < flm[39, 0] < flm[42, 0] < flm[45, 0]
  assert flm[0, 0] < flm[8, 0] < flm[16, 0] and flm[48, 0] < flm[54, 0]
  # Each flipped landmark samples the pixel its mirrored source point did.
  for k in range(68):
    src = lm[ip.FLIP_PERMUTATION[k]]
    a = ndimage.map_coordinates(image[..., 0].astype(float), [[src[1]], [src[0]]], order=1)
    b = ndimage.map_coordinates(flipped[..., 0], [[flm[k, 1]], [flm[k, 0]]], order=1)
    np.testing.assert_allclose(a, b, atol=1e-3)
  # Flipping twice is the identity.
  twice = ip.flip_landmarks(jnp.asarray(flm), 96)
  np.testing.assert_allclose(twice, lm, atol=1e-5)


def test_flip_permutation_is_an_involution_pairing_left_and_right():
  perm = ip.FLIP_PERMUTATION
  np.testing.assert_array_equal(perm[perm], np.arange(68))
  assert sorted(perm) == list(range(68))
  assert perm[36] == 45 and perm[48] == 54 and perm[30] == 30 and perm[8] == 8


def test_shift_moves_content_with_its_landmarks():
  rng = np.random.default_rng(0)
  image = rng.uniform(size=(40, 40, 3)).astype(np.float32)
  lm = rng.uniform(10, 30, size=(68, 2)).astype(np.float32)
  offset = np.array([2.5, -1.25], np.float32)
  out, moved = jax.jit(ip.shift)(image, lm, offset)
  np.testing.assert_allclose(moved, lm + offset)
  # scipy reference: bilinear shift with nearest-edge extension.
  ref = ndimage.shift(image, (offset[1], offset[0], 0), order=1, mode='nearest')
  np.testing.assert_allclose(out, ref, atol=1e-5)


def test_augment_is_deterministic_per_key_and_keeps_shapes():
  image = jnp.asarray(np.random.default_rng(1).uniform(size=(32, 32, 3)), jnp.float32)
  lm = jnp.asarray(np.random.default_rng(2).uniform(5, 25, size=(68, 2)), jnp.float32)
  keys = jax.random.split(jax.random.key(0), 8)
  aug = jax.jit(jax.vmap(ip.augment, in_axes=(0, None, None)))
  a1, l1 = aug(keys, image, lm)
  a2, l2 = aug(keys, image, lm)
  np.testing.assert_array_equal(a1, a2)
  # Every output is either a pure shift or a flip followed by a shift of the input.
  for i in range(8):
    d = l1[i] - lm
    if np.allclose(d, d[0], atol=1e-4):          # no flip: landmarks moved rigidly
      off = np.asarray(d[0])
      ref = ndimage.shift(np.asarray(image), (off[1], off[0], 0), order=1, mode='nearest')
    else:
      f = np.asarray(ip.flip_landmarks(lm, 32))
      off = np.asarray(l1[i] - f)[0]
      ref = ndimage.shift(np.asarray(image)[:, ::-1], (off[1], off[0], 0), order=1,
                          mode='nearest')
    np.testing.assert_allclose(a1[i], ref, atol=1e-4)


def test_move_points_is_a_similarity_about_the_centroid():
  pts = np.random.default_rng(3).uniform(0, 50, size=(68, 2)).astype(np.float32)
  angle, scale, offset = 0.3, 1.1, np.array([2.0, -1.5], np.float32)
  got = np.asarray(jax.jit(ip.move_points)(pts, angle, scale, offset))
  c = pts.mean(0)
  rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  np.testing.assert_allclose(got, (scale * (pts - c) @ rot.T) + c + offset, atol=1e-4)


def test_face_jitter_stays_within_its_ranges():
  template = np.random.default_rng(4).uniform(0, 64, size=(68, 2)).astype(np.float32)
  jitter = ip.FaceJitter(rotation=10.0, scale=0.1, shift=3.0)
  moved = jax.vmap(lambda k: ip.jitter_template(k, template, jitter))(
      jax.random.split(jax.random.key(0), 64))
  for m in np.asarray(moved):
    # Recover the similarity from two centred points as a complex ratio.
    a = complex(*(template[0] - template.mean(0)))
    b = complex(*(m[0] - m.mean(0)))
    assert abs(np.degrees(np.angle(b / a))) <= 10.0 + 1e-3
    assert 1 / 1.1 - 1e-4 <= abs(b / a) <= 1.1 + 1e-4
    assert np.all(np.abs(m.mean(0) - template.mean(0)) <= 3.0 + 1e-3)
  zero = ip.jitter_template(jax.random.key(1), template, ip.FaceJitter())
  np.testing.assert_allclose(zero, template, atol=1e-4)


def test_photometric_parts_do_what_they_say():
  image = np.random.default_rng(5).uniform(0.2, 0.8, size=(24, 24, 1)).astype(np.float32)
  key = jax.random.key(2)
  np.testing.assert_allclose(ip.photometric(key, image, ip.FaceJitter()), image, atol=1e-6)
  # Gamma alone: one exponent in exp(+-0.3) maps every pixel.
  out = np.asarray(ip.photometric(key, image, ip.FaceJitter(gamma=0.3)))
  g = np.log(out) / np.log(image)
  np.testing.assert_allclose(g, g.mean(), rtol=1e-4)
  assert np.exp(-0.3) <= g.mean() <= np.exp(0.3)
  # Shading alone: out / image is a plane over the crop, 1 at its centre, slope <= 0.5.
  ratio = np.asarray(ip.photometric(key, image, ip.FaceJitter(shading=0.5)))[..., 0] / image[..., 0]
  ys, xs = np.meshgrid(np.linspace(-0.5, 0.5, 24), np.linspace(-0.5, 0.5, 24), indexing='ij')
  design = np.stack([np.ones(24 * 24), xs.ravel(), ys.ravel()], 1)
  coef, *_ = np.linalg.lstsq(design, ratio.ravel(), rcond=None)
  np.testing.assert_allclose(design @ coef, ratio.ravel(), atol=1e-5)
  assert abs(coef[0] - 1) < 1e-5 and np.hypot(*coef[1:]) <= 0.5 + 1e-5
  # Blur alone equals scipy's Gaussian filter at some sigma in [0, 1.5] (found by search).
  out = np.asarray(ip.photometric(key, image, ip.FaceJitter(blur=1.5)))
  errors = [np.abs(ndimage.gaussian_filter(image[..., 0], s, mode='constant', truncate=4)[6:-6, 6:-6]
                   - out[6:-6, 6:-6, 0]).max() for s in np.linspace(0.01, 1.5, 150)]
  assert min(errors) < 2e-3
