"""IDW warp (Ruprecht & Müller 1995) against a float64 numpy evaluation of its formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.ops import warp
from hfr_jax.ops.mean_shape import MEAN_SHAPE_68


def idw_field_numpy(dst, disp, h, w, power=2.0):
  """Direct float64 evaluation: d(p) = sum_k w_k disp_k / sum_k w_k, (H, W, 2).

  On a control point the weights are infinite; there d is the mean displacement
  of the points sitting on it (one point: its own; coincident points: the tie rule).
  """
  dst, disp = np.asarray(dst, np.float64), np.asarray(disp, np.float64)
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
  p = np.stack([xs, ys], -1).reshape(-1, 1, 2)
  dist = np.linalg.norm(p - dst[None], axis=-1)                     # (HW, K)
  with np.errstate(divide='ignore', invalid='ignore'):
    wk = dist ** -power
    d = (wk[..., None] * disp[None]).sum(1) / wk.sum(1, keepdims=True)
  hit = dist == 0
  rows = hit.any(1)
  d[rows] = hit[rows] @ disp / hit[rows].sum(1, keepdims=True)
  return d.reshape(h, w, 2)


def idw_warp_numpy(image, src, dst, power=2.0):
  """Samples image at p + d(p), bilinear with edges replicated, in float64."""
  image, src, dst = (np.asarray(a, np.float64) for a in (image, src, dst))
  h, w = image.shape[:2]
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
  q = np.stack([xs, ys], -1).reshape(-1, 2) + idw_field_numpy(dst, src - dst, h, w, power).reshape(-1, 2)
  x = np.clip(q[:, 0], 0, w - 1)
  y = np.clip(q[:, 1], 0, h - 1)
  x0 = np.minimum(np.floor(x).astype(int), w - 2)
  y0 = np.minimum(np.floor(y).astype(int), h - 2)
  fx, fy = (x - x0)[:, None], (y - y0)[:, None]
  out = ((image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx) * (1 - fy)
         + (image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx) * fy)
  return out.reshape(image.shape)


def _problem(seed, h=24, w=20, c=3, k=12, integer_dst=False):
  rng = np.random.default_rng(seed)
  image = rng.uniform(size=(h, w, c)).astype(np.float32)
  dst = rng.uniform([1, 1], [w - 2, h - 2], size=(k, 2))
  if integer_dst:
    dst = np.round(dst)
    dst = np.unique(dst, axis=0)
  src = dst + rng.normal(scale=2.0, size=dst.shape)
  return image, src.astype(np.float32), dst.astype(np.float32)


@pytest.mark.parametrize('seed, k', [(0, 12), (1, 11), (2, 68)])
@pytest.mark.parametrize('power', [2.0, 3.0])
def test_warp_matches_numpy_reference(seed, k, power):
  image, src, dst = _problem(seed, k=k)
  out = jax.jit(lambda *a: warp.idw_warp(*a, power=power))(image, src, dst)
  np.testing.assert_allclose(out, idw_warp_numpy(image, src, dst, power), atol=2e-5)


def test_warp_moves_each_landmark_onto_its_target():
  # Landmarks on pixel centres: output at dst_k equals the input sampled at src_k.
  image, src, dst = _problem(3, integer_dst=True)
  out = np.asarray(warp.idw_warp(image, src, dst))
  assert np.all(np.isfinite(out))
  np.testing.assert_allclose(out, idw_warp_numpy(image, src, dst), atol=2e-5)
  for s, d in zip(src, dst):
    x, y = int(d[0]), int(d[1])
    expected = idw_warp_numpy(image, s[None], np.array([[0.0, 0.0]]))  # pure shift by s
    np.testing.assert_allclose(out[y, x], expected[0, 0], atol=1e-5)


def test_identity_when_src_equals_dst():
  image, _, dst = _problem(4)
  np.testing.assert_allclose(warp.idw_warp(image, dst, dst), image, atol=1e-6)


def test_warp_vmaps_over_a_batch_and_any_channel_count():
  batch = [_problem(s, c=5) for s in range(3)]
  images, srcs, dsts = (np.stack(x) for x in zip(*batch))
  out = jax.jit(jax.vmap(warp.idw_warp))(images, srcs, dsts)
  for i in range(3):
    np.testing.assert_allclose(out[i], idw_warp_numpy(images[i], srcs[i], dsts[i]), atol=2e-5)


def test_warp_gradient_wrt_image_is_the_transposed_sampling():
  image, src, dst = _problem(5, h=10, w=9, c=1, k=5)
  cot = np.random.default_rng(6).normal(size=image.shape).astype(np.float32)
  grad = jax.grad(lambda im: jnp.sum(warp.idw_warp(im, src, dst) * cot))(jnp.asarray(image))
  # The warp is linear in the image: <warp(e_i), cot> for each basis image e_i.
  basis = np.eye(image.size, dtype=np.float64).reshape((-1,) + image.shape)
  expected = np.array([np.sum(idw_warp_numpy(e, src, dst) * cot) for e in basis])
  np.testing.assert_allclose(np.asarray(grad).ravel(), expected, atol=1e-4)


def _sample_at(image, point):
  """The input at one (x, y) point: a pure shift of the whole image by it."""
  return idw_warp_numpy(image, np.asarray(point)[None], np.zeros((1, 2)))[0, 0]


# Coincident pairs both inside one power-2 division pair (indices 0, 1), across
# two pairs (2 and 5), and one left over for the unpaired tail (odd K).
@pytest.mark.parametrize('k', [12, 11])
@pytest.mark.parametrize('power', [2.0, 3.0])
def test_coincident_landmarks_on_pixel_centres_take_the_mean_displacement(k, power):
  image, src, dst = _problem(7, k=k, integer_dst=True)
  k = len(dst)                                      # np.unique may drop a repeat
  dst[1] = dst[0]
  dst[5] = dst[2]
  dst[k - 1] = dst[3]
  dst[4] = dst[3]                                   # three on one pixel
  field = np.asarray(jax.jit(lambda d, v: warp.displacement_field(d, v, 24, 20, power=power))(
      dst, src - dst))
  assert np.all(np.isfinite(field))
  expected = idw_field_numpy(dst, src - dst, 24, 20, power)
  np.testing.assert_allclose(field, expected, atol=1e-5)
  out = np.asarray(jax.jit(lambda *a: warp.idw_warp(*a, power=power))(image, src, dst))
  np.testing.assert_allclose(out, idw_warp_numpy(image, src, dst, power), atol=2e-5)
  for group in ([0, 1], [2, 5], [3, 4, k - 1]):
    x, y = dst[group[0]].astype(int)
    mean = (src[group] - dst[group]).mean(0)
    np.testing.assert_allclose(field[y, x], mean, atol=1e-5)
    np.testing.assert_allclose(out[y, x], _sample_at(image, dst[group[0]] + mean), atol=1e-5)


def test_rounded_detector_landmarks_with_many_collisions_stay_finite():
  # The iBUG-68 mean face at 10 px, rounded as an integer detector reports it:
  # neighbouring landmarks (consecutive indices) share pixels, some of them
  # with zero displacement (the inf * 0 case of an unguarded pair product).
  rng = np.random.default_rng(8)
  image = rng.uniform(size=(16, 16, 3)).astype(np.float32)
  dst = np.round(2 + 10 * MEAN_SHAPE_68).astype(np.float32)
  src = dst + rng.normal(scale=1.5, size=dst.shape).astype(np.float32)
  src[::3] = dst[::3]
  assert np.sum(np.all(dst[0::2] == dst[1::2], axis=1)) >= 3
  out = np.asarray(jax.jit(warp.idw_warp)(image, src, dst))
  assert np.all(np.isfinite(out))
  np.testing.assert_allclose(out, idw_warp_numpy(image, src, dst), atol=2e-5)


def test_a_second_landmark_a_hair_off_the_pixel_centre_stays_finite():
  # One point on a pixel centre and one 1e-5 px from it: their squared
  # distances multiply to below float32's range in an unguarded 1 / (a * b).
  image, src, dst = _problem(9, k=6, integer_dst=True)
  dst[1] = dst[0] + np.float32([2 ** -16, 0])   # exactly representable offset
  field = np.asarray(warp.displacement_field(dst, src - dst, 24, 20))
  assert np.all(np.isfinite(field))
  x, y = dst[0].astype(int)
  np.testing.assert_allclose(field[y, x], src[0] - dst[0], atol=1e-5)
  far = np.ones((24, 20), bool)
  far[y, x] = False
  np.testing.assert_allclose(field[far], idw_field_numpy(dst, src - dst, 24, 20)[far], atol=1e-5)
