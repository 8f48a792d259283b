"""Alignment and colour kernels against independent references (numpy, Pillow)."""

import jax
import numpy as np
from PIL import Image
import pytest

from hfr_jax.ops import align
from hfr_jax.ops import color


def test_similarity_transform_recovers_a_known_transform():
  rng = np.random.default_rng(0)
  src = rng.uniform(0, 100, size=(68, 2))
  angle, scale, t = 0.3, 1.7, np.array([5.0, -12.0])
  rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  dst = src @ rot.T + t
  m = np.asarray(align.similarity_transform(src, dst))
  np.testing.assert_allclose(m[:, :2], rot, atol=1e-4)
  np.testing.assert_allclose(m[:, 2], t, atol=1e-3)


def test_similarity_transform_is_least_squares():
  rng = np.random.default_rng(1)
  src, dst = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
  m = np.asarray(align.similarity_transform(src, dst), np.float64)
  # numpy reference: linear least squares in (a, b, tx, ty) for [[a, -b], [b, a]].
  rows = np.concatenate([np.c_[src[:, 0], -src[:, 1], np.ones(20), np.zeros(20)],
                         np.c_[src[:, 1], src[:, 0], np.zeros(20), np.ones(20)]])
  a, b, tx, ty = np.linalg.lstsq(rows, np.r_[dst[:, 0], dst[:, 1]], rcond=None)[0]
  np.testing.assert_allclose(m, [[a, -b, tx], [b, a, ty]], atol=1e-4)


def test_align_puts_landmarks_on_the_template_and_moves_pixels_with_them():
  size = 48
  template = align.mean_face(size)
  rng = np.random.default_rng(2)
  angle, scale = 0.2, 1.3
  rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  lm = (template - 24) @ rot.T + 30          # the face, rotated/scaled in a 64x64 image
  image = rng.uniform(size=(64, 64, 1)).astype(np.float32)
  out, moved = jax.jit(align.align, static_argnums=3)(image, lm, template, size)
  np.testing.assert_allclose(moved, template, atol=1e-3)
  # Pixel check against scipy on the exact inverse map.
  from scipy import ndimage
  m = np.asarray(align.similarity_transform(lm, template), np.float64)
  inv = np.linalg.inv(m[:, :2])
  ys, xs = np.mgrid[0:size, 0:size]
  q = (np.stack([xs - m[0, 2], ys - m[1, 2]], -1) @ inv.T)
  ref = ndimage.map_coordinates(image[..., 0], [q[..., 1], q[..., 0]], order=1, mode='nearest')
  np.testing.assert_allclose(out[..., 0], ref, atol=1e-4)


def _pillow_ycbcr(rgb_uint8):
  return np.asarray(Image.fromarray(rgb_uint8).convert('YCbCr'), np.float64) / 255.0


def test_rgb_to_ycbcr_matches_pillow():
  rgb = np.random.default_rng(3).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
  ours = np.asarray(color.rgb_to_ycbcr(rgb / 255.0))
  # Pillow rounds to uint8: within half a level (+ its fixed-point error).
  np.testing.assert_allclose(ours, _pillow_ycbcr(rgb), atol=1.01 / 255)


def test_rgb_to_gray_matches_pillow_luma():
  rgb = np.random.default_rng(4).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
  ref = np.asarray(Image.fromarray(rgb).convert('L'), np.float64) / 255.0
  np.testing.assert_allclose(np.asarray(color.rgb_to_gray(rgb / 255.0)), ref, atol=1.01 / 255)


@pytest.mark.parametrize('seed', [5, 6])
def test_ycbcr_round_trip(seed):
  rgb = np.random.default_rng(seed).uniform(size=(8, 8, 3)).astype(np.float32)
  np.testing.assert_allclose(color.ycbcr_to_rgb(color.rgb_to_ycbcr(rgb)), rgb, atol=1e-5)
