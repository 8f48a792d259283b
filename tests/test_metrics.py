"""HFR metrics against scikit-learn and brute-force definitions."""

import numpy as np
import pytest
from sklearn import metrics as skm

from hfr_jax import metrics


def _problem(seed, num_probe=60, num_ids=12, gallery_per_id=1, tied=False):
  rng = np.random.default_rng(seed)
  gallery_ids = np.repeat(np.arange(num_ids), gallery_per_id)
  probe_ids = rng.integers(0, num_ids, num_probe)
  scores = rng.normal(size=(num_probe, len(gallery_ids)))
  scores += 1.5 * (probe_ids[:, None] == gallery_ids[None, :])
  if tied:
    scores = np.round(scores, 0)   # a handful of distinct values: many ties
  return scores, probe_ids, gallery_ids


def _sklearn_roc(scores, probe_ids, gallery_ids):
  y = (probe_ids[:, None] == gallery_ids[None, :]).ravel()
  return skm.roc_curve(y, scores.ravel(), drop_intermediate=False)


@pytest.mark.parametrize('tied', [False, True])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_roc_matches_sklearn(seed, tied):
  scores, p, g = _problem(seed, tied=tied)
  far, tar, thr = metrics.roc_curve(scores, p, g)
  fpr, tpr, sk_thr = _sklearn_roc(scores, p, g)
  np.testing.assert_allclose(far, fpr)
  np.testing.assert_allclose(tar, tpr)
  np.testing.assert_allclose(thr[1:], sk_thr[1:])


@pytest.mark.parametrize('tied', [False, True])
@pytest.mark.parametrize('far', [1e-3, 1e-2, 0.1, 0.5])
def test_verification_rate_is_best_tpr_with_fpr_at_most_far(far, tied):
  scores, p, g = _problem(4, num_probe=200, num_ids=30, tied=tied)
  fpr, tpr, _ = _sklearn_roc(scores, p, g)
  assert metrics.verification_rate(scores, p, g, far) == pytest.approx(tpr[fpr <= far].max())


def test_equal_error_rate_matches_interpolated_sklearn_roc():
  from scipy.interpolate import interp1d
  from scipy.optimize import brentq
  scores, p, g = _problem(5, num_probe=300, num_ids=20)
  fpr, tpr, _ = _sklearn_roc(scores, p, g)
  expected = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
  assert metrics.equal_error_rate(scores, p, g) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize('k', [1, 3, 5])
def test_rank_k_matches_sklearn_top_k_with_one_image_per_identity(k):
  scores, p, g = _problem(6, num_probe=150, num_ids=25)
  expected = skm.top_k_accuracy_score(p, scores, k=k, labels=g)
  assert metrics.rank_k_accuracy(scores, p, g, k) == pytest.approx(expected)


def test_rank_uses_best_image_per_identity_and_pessimistic_ties():
  # Gallery: identities 0, 0, 1, 2. Probe 0 ties with identity 2 -> rank 2.
  scores = np.array([[0.1, 0.9, 0.2, 0.9],
                     [0.5, 0.4, 0.8, 0.1]])
  ranks = metrics.identification_ranks(scores, np.array([0, 1]), np.array([0, 0, 1, 2]))
  np.testing.assert_array_equal(ranks, [2, 1])


def test_cmc_is_cumulative_rank_histogram():
  scores, p, g = _problem(7, num_probe=100, num_ids=10, gallery_per_id=2)
  ranks = metrics.identification_ranks(scores, p, g)
  # Brute force: rank = 1 + other identities whose best score >= the genuine best.
  for i in range(len(p)):
    best = {c: scores[i, g == c].max() for c in np.unique(g)}
    assert ranks[i] == 1 + sum(v >= best[p[i]] for c, v in best.items() if c != p[i])
  cmc = metrics.cmc_curve(scores, p, g)
  assert cmc[-1] == 1.0 and np.all(np.diff(cmc) >= 0)
  assert cmc[0] == metrics.rank_k_accuracy(scores, p, g, 1)


def test_cosine_similarity_matches_sklearn():
  rng = np.random.default_rng(8)
  a, b = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
  np.testing.assert_allclose(metrics.cosine_similarity(a, b), skm.pairwise.cosine_similarity(a, b))


def test_summarize_folds_mean_and_sample_std():
  folds = [{'rank1': 0.9, 'eer': 0.1}, {'rank1': 0.8, 'eer': 0.2}, {'rank1': 0.7, 'eer': 0.3}]
  out = metrics.summarize_folds(folds)
  assert out['rank1']['mean'] == pytest.approx(0.8)
  assert out['rank1']['std'] == pytest.approx(np.std([0.9, 0.8, 0.7], ddof=1))
  assert out['eer']['n'] == 3


@pytest.mark.parametrize('bad, message', [
    (lambda s, p, g: (s[:, :0], p, g[:0]), 'empty gallery'),
    (lambda s, p, g: (s, p + 100, g), 'no genuine pairs'),
    (lambda s, p, g: (s, p[:-1], g), 'mismatched lengths'),
    (lambda s, p, g: (np.where(s > 1, np.nan, s), p, g), 'NaN'),
])
def test_bad_input_raises_clear_error(bad, message):
  s, p, g = bad(*_problem(9))
  with pytest.raises(ValueError, match=message):
    metrics.verification_rate(s, p, g, 1e-2)


def test_open_set_probe_is_rejected_for_rank_k():
  scores, p, g = _problem(10)
  p[0] = 999
  with pytest.raises(ValueError, match='no gallery image'):
    metrics.rank_k_accuracy(scores, p, g)


def test_summarize_folds_rejects_mismatched_keys():
  with pytest.raises(ValueError, match='fold 1'):
    metrics.summarize_folds([{'rank1': 1.0}, {'eer': 0.1}])


@pytest.mark.parametrize('rounded', [False, True])
def test_twin_fidelity_matches_sklearn_on_own_twin_vs_other_identities_pairs(rounded):
  rng = np.random.default_rng(3)
  ids = np.repeat(np.arange(12), 5)
  twins = rng.normal(size=(60, 16))
  probes = twins + 1.5 * rng.normal(size=(60, 16))
  if rounded:   # ties between genuine and impostor scores
    probes, twins = np.round(probes), np.round(twins)
  found = metrics.twin_fidelity(probes, twins, ids)

  scores = skm.pairwise.cosine_similarity(probes, twins)
  own = np.eye(60, dtype=bool)
  other = ids[:, None] != ids[None, :]   # same identity, other scene: neither kind of pair
  labels = np.r_[np.ones(own.sum()), np.zeros(other.sum())]
  fpr, tpr, _ = skm.roc_curve(labels, np.r_[scores[own], scores[other]],
                              drop_intermediate=False)
  assert found['tar_at_far_1e-2'] == pytest.approx(tpr[fpr <= 1e-2].max())
  assert found['cosine'] == pytest.approx(np.mean(scores[own]))


def test_twin_fidelity_rejects_unpaired_features():
  with pytest.raises(ValueError, match='must be equal in number'):
    metrics.twin_fidelity(np.ones((4, 3)), np.ones((5, 3)), np.arange(4))


@pytest.mark.parametrize('spread', [0.1, 3.0])
def test_identity_share_is_the_variance_weighted_r2_of_predicting_features_from_identity(
    spread):
  # Regressing the features on one-hot identities predicts each face by its identity's mean,
  # so the variance-weighted R^2 is the between-identity share of the total scatter.
  from sklearn.linear_model import LinearRegression  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  ids = rng.integers(0, 7, 60)
  x = spread * rng.normal(size=(7, 5))[ids] + rng.normal(size=(60, 5)) * [1, 2, 3, 4, 5]
  onehot = np.eye(7)[ids]
  fitted = LinearRegression().fit(onehot, x).predict(onehot)
  want = skm.r2_score(x, fitted, multioutput='variance_weighted')
  assert metrics.identity_share(x, ids) == pytest.approx(want, rel=1e-9)


def test_identity_share_is_one_when_faces_are_their_identitys_mean_and_zero_for_one_mean():
  ids = np.repeat(np.arange(4), 3)
  means = np.random.default_rng(1).normal(size=(4, 6))
  assert metrics.identity_share(means[ids], ids) == pytest.approx(1.0)
  balanced = np.tile(np.random.default_rng(2).normal(size=(3, 6)), (4, 1))   # same 3 per id
  assert metrics.identity_share(balanced, ids) == pytest.approx(0.0, abs=1e-12)
