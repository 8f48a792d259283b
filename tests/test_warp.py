"""IDW warp (Ruprecht & Müller 1995) against a float64 numpy evaluation of its formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.ops import warp


def idw_warp_numpy(image, src, dst, power=2.0):
  """Direct float64 evaluation: d(p) = sum_k w_k (src_k - dst_k) / sum_k w_k."""
  image, src, dst = (np.asarray(a, np.float64) for a in (image, src, dst))
  h, w = image.shape[:2]
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
  p = np.stack([xs, ys], -1).reshape(-1, 1, 2)
  dist = np.linalg.norm(p - dst[None], axis=-1)                     # (HW, K)
  with np.errstate(divide='ignore', invalid='ignore'):
    wk = dist ** -power
    d = (wk[..., None] * (src - dst)[None]).sum(1) / wk.sum(1, keepdims=True)
  hit = dist == 0
  rows = hit.any(1)
  d[rows] = (src - dst)[hit[rows].argmax(1)]
  q = p[:, 0] + d
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
