"""CosFace (Wang et al. 2018, Eq. 4) against a direct numpy evaluation of the formula."""

import jax
import numpy as np

from hfr_jax.recognizer import losses


def _cosface_numpy(features, weights, labels, s, m):
  f = features / np.linalg.norm(features, axis=1, keepdims=True)
  w = weights / np.linalg.norm(weights, axis=0, keepdims=True)
  total = 0.0
  for i, y in enumerate(labels):
    cos = [float(f[i] @ w[:, j]) for j in range(w.shape[1])]
    target = np.exp(s * (cos[y] - m))
    others = sum(np.exp(s * c) for j, c in enumerate(cos) if j != y)
    total += -np.log(target / (target + others))
  return total / len(labels)


def test_cosface_matches_the_formula():
  rng = np.random.default_rng(0)
  features = rng.normal(size=(6, 16))
  weights = rng.normal(size=(16, 5))
  labels = np.array([0, 4, 2, 2, 1, 3])
  for s, m in ((30.0, 0.35), (16.0, 0.0), (64.0, 0.2)):
    got = jax.jit(losses.cosface, static_argnames=('scale', 'margin'))(
        features.astype(np.float32), weights.astype(np.float32), labels, scale=s, margin=m)
    np.testing.assert_allclose(got, _cosface_numpy(features, weights, labels, s, m), rtol=1e-4)


def test_cosface_ignores_feature_and_weight_norms():
  rng = np.random.default_rng(1)
  features = rng.normal(size=(4, 8)).astype(np.float32)
  weights = rng.normal(size=(8, 3)).astype(np.float32)
  labels = np.array([0, 1, 2, 1])
  a = losses.cosface(features, weights, labels)
  b = losses.cosface(features * np.float32([[3.0], [0.1], [7.0], [1.0]]),
                     weights * np.float32([[2.0, 0.5, 9.0]]), labels)
  np.testing.assert_allclose(a, b, rtol=1e-5)


def test_margin_penalises_only_the_true_class():
  rng = np.random.default_rng(2)
  features = rng.normal(size=(3, 8)).astype(np.float32)
  weights = rng.normal(size=(8, 4)).astype(np.float32)
  labels = np.array([3, 0, 1])
  plain = np.asarray(losses.cosface_logits(features, weights, labels, scale=10.0, margin=0.0))
  margin = np.asarray(losses.cosface_logits(features, weights, labels, scale=10.0, margin=0.4))
  expected = plain.copy()
  expected[np.arange(3), labels] -= 10.0 * 0.4
  np.testing.assert_allclose(margin, expected, atol=1e-5)
