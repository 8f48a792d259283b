"""Device-side augmentation: flip, shift and crop jitter; the recognizer's alignment and
photo jitter."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from hfr_jax.ops import augment
from hfr_jax.ops import mean_shape
from tfds_builders.synthetic_nir_vis import render


def test_flip_keeps_landmarks_on_the_mirrored_features():
  person = render.sample_identity(np.random.default_rng([4, 2]))
  image, lm = render.render(person, np.random.default_rng([4, 2, 2, 0]), 'vis', 96)
  flipped, flm = jax.jit(augment.flip)(jnp.asarray(image, jnp.float32), jnp.asarray(lm))
  flipped, flm = np.asarray(flipped), np.asarray(flm)
  np.testing.assert_array_equal(flipped, image[:, ::-1].astype(np.float32))
  # iBUG semantics survive: image-left points stay on the image left.
  assert flm[36, 0] < flm[39, 0] < flm[42, 0] < flm[45, 0]
  assert flm[0, 0] < flm[8, 0] < flm[16, 0] and flm[48, 0] < flm[54, 0]
  # Each flipped landmark samples the pixel its mirrored source point did.
  for k in range(68):
    src = lm[mean_shape.FLIP_PERMUTATION[k]]
    a = ndimage.map_coordinates(image[..., 0].astype(float), [[src[1]], [src[0]]], order=1)
    b = ndimage.map_coordinates(flipped[..., 0], [[flm[k, 1]], [flm[k, 0]]], order=1)
    np.testing.assert_allclose(a, b, atol=1e-3)
  # Flipping twice is the identity.
  twice = augment.flip_landmarks(jnp.asarray(flm), 96)
  np.testing.assert_allclose(twice, lm, atol=1e-5)


def test_flip_permutation_is_an_involution_pairing_left_and_right():
  perm = mean_shape.FLIP_PERMUTATION
  np.testing.assert_array_equal(perm[perm], np.arange(68))
  assert sorted(perm) == list(range(68))
  assert perm[36] == 45 and perm[48] == 54 and perm[30] == 30 and perm[8] == 8


def test_shift_moves_content_with_its_landmarks():
  rng = np.random.default_rng(0)
  image = rng.uniform(size=(40, 40, 3)).astype(np.float32)
  lm = rng.uniform(10, 30, size=(68, 2)).astype(np.float32)
  offset = np.array([2.5, -1.25], np.float32)
  out, moved = jax.jit(augment.shift)(image, lm, offset)
  np.testing.assert_allclose(moved, lm + offset)
  # scipy reference: bilinear shift with nearest-edge extension.
  ref = ndimage.shift(image, (offset[1], offset[0], 0), order=1, mode='nearest')
  np.testing.assert_allclose(out, ref, atol=1e-5)


def test_augment_is_deterministic_per_key_and_keeps_shapes():
  image = jnp.asarray(np.random.default_rng(1).uniform(size=(32, 32, 3)), jnp.float32)
  lm = jnp.asarray(np.random.default_rng(2).uniform(5, 25, size=(68, 2)), jnp.float32)
  keys = jax.random.split(jax.random.key(0), 8)
  aug = jax.jit(jax.vmap(augment.augment, in_axes=(0, None, None)))
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
      f = np.asarray(augment.flip_landmarks(lm, 32))
      off = np.asarray(l1[i] - f)[0]
      ref = ndimage.shift(np.asarray(image)[:, ::-1], (off[1], off[0], 0), order=1,
                          mode='nearest')
    np.testing.assert_allclose(a1[i], ref, atol=1e-4)


def test_move_points_is_a_similarity_about_the_centroid():
  pts = np.random.default_rng(3).uniform(0, 50, size=(68, 2)).astype(np.float32)
  angle, scale, offset = 0.3, 1.1, np.array([2.0, -1.5], np.float32)
  got = np.asarray(jax.jit(augment.move_points)(pts, angle, scale, offset))
  c = pts.mean(0)
  rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  np.testing.assert_allclose(got, (scale * (pts - c) @ rot.T) + c + offset, atol=1e-4)


def test_face_jitter_stays_within_its_ranges():
  template = np.random.default_rng(4).uniform(0, 64, size=(68, 2)).astype(np.float32)
  jitter = augment.FaceJitter(rotation=10.0, scale=0.1, shift=3.0)
  moved = jax.vmap(lambda k: augment.jitter_template(k, template, jitter))(
      jax.random.split(jax.random.key(0), 64))
  for m in np.asarray(moved):
    # Recover the similarity from two centred points as a complex ratio.
    a = complex(*(template[0] - template.mean(0)))
    b = complex(*(m[0] - m.mean(0)))
    assert abs(np.degrees(np.angle(b / a))) <= 10.0 + 1e-3
    assert 1 / 1.1 - 1e-4 <= abs(b / a) <= 1.1 + 1e-4
    assert np.all(np.abs(m.mean(0) - template.mean(0)) <= 3.0 + 1e-3)
  zero = augment.jitter_template(jax.random.key(1), template, augment.FaceJitter())
  np.testing.assert_allclose(zero, template, atol=1e-4)


def test_photometric_parts_do_what_they_say():
  image = np.random.default_rng(5).uniform(0.2, 0.8, size=(24, 24, 1)).astype(np.float32)
  key = jax.random.key(2)
  np.testing.assert_allclose(augment.photometric(key, image, augment.FaceJitter()), image, atol=1e-6)
  # Gamma alone: one exponent in exp(+-0.3) maps every pixel.
  out = np.asarray(augment.photometric(key, image, augment.FaceJitter(gamma=0.3)))
  g = np.log(out) / np.log(image)
  np.testing.assert_allclose(g, g.mean(), rtol=1e-4)
  assert np.exp(-0.3) <= g.mean() <= np.exp(0.3)
  # Shading alone: out / image is a plane over the crop, 1 at its centre, slope <= 0.5.
  ratio = np.asarray(augment.photometric(key, image, augment.FaceJitter(shading=0.5)))[..., 0] / image[..., 0]
  ys, xs = np.meshgrid(np.linspace(-0.5, 0.5, 24), np.linspace(-0.5, 0.5, 24), indexing='ij')
  design = np.stack([np.ones(24 * 24), xs.ravel(), ys.ravel()], 1)
  coef, *_ = np.linalg.lstsq(design, ratio.ravel(), rcond=None)
  np.testing.assert_allclose(design @ coef, ratio.ravel(), atol=1e-5)
  assert abs(coef[0] - 1) < 1e-5 and np.hypot(*coef[1:]) <= 0.5 + 1e-5
  # Blur alone equals scipy's Gaussian filter at some sigma in [0, 1.5] (found by search).
  out = np.asarray(augment.photometric(key, image, augment.FaceJitter(blur=1.5)))
  errors = [np.abs(ndimage.gaussian_filter(image[..., 0], s, mode='constant', truncate=4)[6:-6, 6:-6]
                   - out[6:-6, 6:-6, 0]).max() for s in np.linspace(0.01, 1.5, 150)]
  assert min(errors) < 2e-3
