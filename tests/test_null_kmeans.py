"""The k-means baseline of NULL's paper against scikit-learn."""

import jax
import numpy as np
import pytest

from hfr_jax.null import kmeans


def test_kmeans_reaches_scikit_learn_inertia_on_blobs():
  from sklearn.cluster import KMeans
  from sklearn.datasets import make_blobs
  x, _ = make_blobs(n_samples=600, centers=12, n_features=16, cluster_std=2.0, random_state=0)
  x = x.astype(np.float32)
  centres, inertia = kmeans.kmeans(jax.random.key(0), x, k=12, num_iters=50)
  reference = KMeans(12, n_init=1, random_state=0).fit(x)
  assert float(inertia) == pytest.approx(reference.inertia_, rel=0.01)
  # The reported inertia is that of the returned centres.
  d = ((x[:, None] - np.asarray(centres)[None]) ** 2).sum(-1)
  assert float(inertia) == pytest.approx(d.min(1).sum(), rel=1e-4)


def test_centre_profiles_score_same_cluster_faces_highest():
  centres = np.eye(4, dtype=np.float32) * 10
  near = centres[[0, 0, 2]] + 0.1
  p = np.asarray(kmeans.centre_profile(near, centres))
  np.testing.assert_allclose(p.mean(1), 0, atol=1e-5)
  cos = (p / np.linalg.norm(p, axis=1, keepdims=True)) @ (p / np.linalg.norm(p, axis=1)[:, None]).T
  assert cos[0, 1] > 0.99 > cos[0, 2]
