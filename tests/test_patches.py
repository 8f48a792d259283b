"""Facial patches: paper sizes, landmark centring, border clamping, paste round trip."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.ops import patches as P
from tfds_builders.synthetic_nir_vis import render


def _face(size, seed=0):
  person = render.sample_identity(np.random.default_rng([seed, 0]))
  image, lm = render.render(person, np.random.default_rng([seed, 1]), 'vis', size)
  return image.astype(np.float32) / 255, lm


def test_paper_patch_sizes():
  assert P.patch_sizes(144) == {'left_eye': (32, 32), 'right_eye': (32, 32),
                                'nose': (40, 32), 'mouth': (28, 52)}
  assert P.patch_sizes(256)['mouth'] == (36, 72) and P.patch_sizes(256)['nose'] == (60, 52)
  assert P.patch_sizes(72)['mouth'] == (14, 26)


@pytest.mark.parametrize('size', [144, 256])
def test_patches_are_centred_on_their_landmark_groups(size):
  image, lm = _face(size)
  sizes = P.patch_sizes(size)
  crops, offsets = P.crop_patches(image, lm, sizes)
  for name in P.PATCHES:
    h, w = sizes[name]
    top, left = np.asarray(offsets[name])
    centre = lm[P.GROUPS[name]].mean(0)
    assert abs(left + w / 2 - centre[0]) <= 0.5 and abs(top + h / 2 - centre[1]) <= 0.5
    np.testing.assert_array_equal(crops[name], image[top:top + h, left:left + w])


def test_crop_is_jittable_with_landmark_dependent_positions():
  image, lm = _face(144)
  sizes = P.patch_sizes(144)
  crop = jax.jit(lambda im, l: P.crop_patches(im, l, sizes))
  a, _ = crop(image, lm)
  b, off = crop(image, lm + np.array([5.0, -3.0], np.float32))
  top, left = np.asarray(off['mouth'])
  np.testing.assert_array_equal(b['mouth'], image[top:top + 28, left:left + 52])
  assert not np.array_equal(a['mouth'], b['mouth'])


def test_crops_are_clamped_inside_the_image():
  image = np.random.default_rng(0).uniform(size=(64, 64, 1)).astype(np.float32)
  lm = np.full((68, 2), 1.0, np.float32)                # every group in the corner
  crops, offsets = P.crop_patches(image, lm, P.patch_sizes(144))
  for name in P.PATCHES:
    np.testing.assert_array_equal(offsets[name], [0, 0])
  lm[:] = 63.0
  crops, offsets = P.crop_patches(image, lm, P.patch_sizes(144))
  assert tuple(np.asarray(offsets['mouth'])) == (64 - 28, 64 - 52)
  np.testing.assert_array_equal(crops['mouth'], image[-28:, -52:])


def test_paste_round_trip_restores_the_image():
  image, lm = _face(144, seed=2)
  crops, offsets = P.crop_patches(image, lm, P.patch_sizes(144))
  canvas = jnp.zeros_like(image)
  for name in P.PATCHES:
    canvas = P.paste(canvas, crops[name], offsets[name])
  covered = np.zeros(image.shape[:2], bool)
  for name, (h, w) in P.patch_sizes(144).items():
    top, left = np.asarray(offsets[name])
    covered[top:top + h, left:left + w] = True
  np.testing.assert_array_equal(np.asarray(canvas)[covered], image[covered])
  assert np.all(np.asarray(canvas)[~covered] == 0)


def test_max_out_fusion_is_elementwise_max_inside_patches_and_global_outside():
  rng = np.random.default_rng(3)
  global_map = rng.normal(size=(144, 144, 3)).astype(np.float32)
  _, lm = _face(144, seed=3)
  sizes = P.patch_sizes(144)
  _, offsets = P.crop_patches(global_map, lm, sizes)
  local = {n: rng.normal(size=sizes[n] + (3,)).astype(np.float32) for n in P.PATCHES}
  fused = np.asarray(P.max_out_fuse(global_map, local, offsets))
  expected = global_map.copy()
  for n in P.PATCHES:
    top, left = np.asarray(offsets[n])
    h, w = sizes[n]
    expected[top:top + h, left:left + w] = np.maximum(expected[top:top + h, left:left + w],
                                                      local[n])
  np.testing.assert_array_equal(fused, expected)
