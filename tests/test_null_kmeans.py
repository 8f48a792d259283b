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


def test_both_readings_cluster_what_they_say_with_k_their_identities(tiny_builder, tmp_path):
  """Sec. 4.3 read two ways: the training images with k = training identities, and the test
  images (probes and gallery) with k = test identities; each report row is its own basis."""
  from configs import null as null_config
  from conftest import TINY
  from hfr_jax import input_pipeline
  config = null_config.get_config('kmeans,demo')
  config.data.update(TINY)
  config.data.data_dir = str(tiny_builder.data_dir_root)
  config.kmeans.update(size=16, num_iters=5, num_init=1, batch_size=8)
  results = kmeans.train_and_evaluate(config, str(tmp_path))
  index = {s: input_pipeline.open_split(tiny_builder, s)[1] for s in ('train', 'probe', 'gallery')}
  train_ids = index['train'].identity
  test_ids = np.concatenate([index['probe'].identity, index['gallery'].identity])
  readings = results['readings']
  assert (readings['kmeans']['k'], readings['kmeans']['num_images']) == (
      len(np.unique(train_ids)), len(train_ids))
  assert (readings['kmeans_test']['k'], readings['kmeans_test']['num_images']) == (
      len(np.unique(test_ids)), len(test_ids))
  assert not set(np.unique(train_ids)) & set(np.unique(test_ids))
