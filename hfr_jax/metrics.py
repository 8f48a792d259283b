"""Heterogeneous face recognition metrics (pure numpy).

Scores are similarities (higher = more alike), shaped [num_probe, num_gallery].
Identification (rank-k, CMC) is closed-set: every probe identity must be in the
gallery; a probe's rank counts the other gallery identities scoring at least as
high as its own best genuine score (ties count against the probe). Verification
(ROC, VR@FAR, EER) runs over all probe x gallery pairs; a pair is accepted when
its score >= the threshold.
"""

from collections.abc import Mapping, Sequence

import numpy as np


def _check_scores(scores, probe_ids, gallery_ids):
  scores = np.asarray(scores, np.float64)
  probe_ids, gallery_ids = np.asarray(probe_ids), np.asarray(gallery_ids)
  if scores.ndim != 2:
    raise ValueError(f'scores must be [num_probe, num_gallery], got shape {scores.shape}')
  if scores.shape[1] == 0 or gallery_ids.size == 0:
    raise ValueError('empty gallery: scores need at least one gallery column')
  if scores.shape[0] == 0:
    raise ValueError('no probes: scores need at least one row')
  if scores.shape != (probe_ids.size, gallery_ids.size):
    raise ValueError(f'mismatched lengths: scores {scores.shape} vs {probe_ids.size} probe ids '
                     f'and {gallery_ids.size} gallery ids')
  if not np.all(np.isfinite(scores)):
    raise ValueError(f'scores contain {np.sum(~np.isfinite(scores))} NaN/Inf values')
  return scores, probe_ids.ravel(), gallery_ids.ravel()


def cosine_similarity(probe, gallery) -> np.ndarray:
  """[P, D] x [G, D] -> [P, G] cosine similarities."""
  probe, gallery = np.asarray(probe, np.float64), np.asarray(gallery, np.float64)
  if probe.ndim != 2 or gallery.ndim != 2 or probe.shape[1] != gallery.shape[1]:
    raise ValueError(f'features must be [P, D] and [G, D], got {probe.shape} and {gallery.shape}')
  if len(gallery) == 0:
    raise ValueError('empty gallery: no gallery features')
  if not (np.all(np.isfinite(probe)) and np.all(np.isfinite(gallery))):
    raise ValueError('features contain NaN/Inf values')
  unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  return unit(probe) @ unit(gallery).T


def identification_ranks(scores, probe_ids, gallery_ids) -> np.ndarray:
  """Rank (1 = best) of each probe's true identity among the gallery identities."""
  scores, probe_ids, gallery_ids = _check_scores(scores, probe_ids, gallery_ids)
  identities, column = np.unique(gallery_ids, return_inverse=True)
  missing = np.setdiff1d(probe_ids, identities)
  if missing.size:
    raise ValueError(f'{missing.size} probe identities have no gallery image '
                     f'(e.g. {missing[:3].tolist()}); rank-k needs a closed set')
  # Best score per gallery identity: [P, num_identities].
  best = np.full((len(scores), len(identities)), -np.inf)
  np.maximum.at(best.T, column, scores.T)
  true = np.searchsorted(identities, probe_ids)
  genuine = best[np.arange(len(scores)), true]
  impostors_ahead = (best >= genuine[:, None]).sum(axis=1) - 1
  return impostors_ahead + 1


def cmc_curve(scores, probe_ids, gallery_ids) -> np.ndarray:
  """cmc[k-1] = fraction of probes whose true identity ranks in the top k."""
  ranks = identification_ranks(scores, probe_ids, gallery_ids)
  num_identities = np.unique(np.asarray(gallery_ids)).size
  return np.array([(ranks <= k).mean() for k in range(1, num_identities + 1)])


def rank_k_accuracy(scores, probe_ids, gallery_ids, k: int = 1) -> float:
  if k < 1:
    raise ValueError(f'k must be >= 1, got {k}')
  return float((identification_ranks(scores, probe_ids, gallery_ids) <= k).mean())


def roc_curve(scores, probe_ids, gallery_ids):
  """(far, tar, thresholds) over all pairs, from threshold +inf downwards."""
  scores, probe_ids, gallery_ids = _check_scores(scores, probe_ids, gallery_ids)
  genuine = (probe_ids[:, None] == gallery_ids[None, :]).ravel()
  if not genuine.any():
    raise ValueError('no genuine pairs: no probe shares an identity with the gallery')
  if genuine.all():
    raise ValueError('no impostor pairs: every probe matches every gallery identity')
  s = scores.ravel()
  order = np.argsort(-s, kind='stable')
  s, genuine = s[order], genuine[order]
  last_of_value = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
  tp = np.cumsum(genuine)[last_of_value]
  fp = np.cumsum(~genuine)[last_of_value]
  tar = np.r_[0.0, tp / genuine.sum()]
  far = np.r_[0.0, fp / (~genuine).sum()]
  return far, tar, np.r_[np.inf, s[last_of_value]]


def verification_rate(scores, probe_ids, gallery_ids, far: float) -> float:
  """Highest true-accept rate with false-accept rate <= far."""
  if not 0 <= far <= 1:
    raise ValueError(f'far must be in [0, 1], got {far}')
  fars, tars, _ = roc_curve(scores, probe_ids, gallery_ids)
  return float(tars[fars <= far].max())


def equal_error_rate(scores, probe_ids, gallery_ids) -> float:
  """Where FAR = 1 - TAR, linearly interpolated along the ROC."""
  far, tar, _ = roc_curve(scores, probe_ids, gallery_ids)
  frr = 1 - tar
  i = int(np.argmax(far >= frr))          # first ROC point past the crossing
  d0, d1 = frr[i - 1] - far[i - 1], frr[i] - far[i]
  t = d0 / (d0 - d1) if d0 != d1 else 0.0
  return float(far[i - 1] + t * (far[i] - far[i - 1]))


def twin_fidelity(probe_features, twin_features, identities, far: float = 1e-2) -> dict:
  """How close each probe (a generated face, or the raw probe) comes to its own VIS twin.

  probe_features[i] and twin_features[i] are one scene in two renderings; `identities`
  their identity. 'cosine': the mean cosine similarity of each probe to its own twin;
  'tar_at_far_1e-2' (for far = 1e-2): twin verification, the highest share of
  probe-vs-own-twin pairs accepted while at most `far` of the probe-vs-other-identities'-
  twins pairs are (a pair is accepted when its score >= the threshold; pairs of one
  identity's different scenes are neither).
  """
  scores = cosine_similarity(probe_features, twin_features)
  identities = np.asarray(identities).ravel()
  if scores.shape[0] != scores.shape[1] or scores.shape[0] != identities.size:
    raise ValueError(f'twin_fidelity: {scores.shape[0]} probes, {scores.shape[1]} twins and '
                     f'{identities.size} identities must be equal in number')
  genuine = np.diag(scores)
  impostor = np.sort(scores[identities[:, None] != identities[None, :]])[::-1]
  if impostor.size == 0:
    raise ValueError('twin_fidelity: one identity only, no impostor pairs')
  allowed = int(np.floor(far * impostor.size + 1e-9))   # false accepts within `far`
  # The lowest threshold accepting at most `allowed` impostors: just above impostor[allowed].
  tar = float((genuine > impostor[allowed]).mean()) if allowed < impostor.size else 1.0
  return {'cosine': float(genuine.mean()), f'tar_at_far_{far:.0e}'.replace('e-0', 'e-'): tar}


def identity_share(features, identities) -> float:
  """The share of the features' variance that lies between identities: trace of the
  between-identity scatter over the trace of the total scatter (one-way ANOVA's eta^2,
  summed over dimensions). 1: every face is its identity's mean; near 0: identity moves
  the features no more than a random grouping would.
  """
  x = np.asarray(features, np.float64)
  ids = np.asarray(identities).ravel()
  if x.ndim != 2 or x.shape[0] != ids.size:
    raise ValueError(f'identity_share: {x.shape} features for {ids.size} identities')
  _, inverse = np.unique(ids, return_inverse=True)
  counts = np.bincount(inverse)
  means = np.zeros((counts.size, x.shape[1]))
  np.add.at(means, inverse, x)
  means /= counts[:, None]
  centred = x - x.mean(axis=0)
  total = float(np.sum(centred**2))
  between = float(np.sum(counts[:, None] * (means - x.mean(axis=0))**2))
  return between / total if total > 0 else 0.0


def summary(scores, probe_ids, gallery_ids) -> dict[str, float]:
  """The numbers the papers report (and EER)."""
  return {
      'rank1': rank_k_accuracy(scores, probe_ids, gallery_ids, 1),
      'rank5': rank_k_accuracy(scores, probe_ids, gallery_ids, 5),
      'vr_at_far_1e-2': verification_rate(scores, probe_ids, gallery_ids, 1e-2),
      'vr_at_far_1e-3': verification_rate(scores, probe_ids, gallery_ids, 1e-3),
      'eer': equal_error_rate(scores, probe_ids, gallery_ids),
  }


def summarize_folds(results: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
  """k-fold protocols: {metric: {mean, std, n}}; std is the sample std (ddof=1)."""
  if not results:
    raise ValueError('summarize_folds needs at least one fold result')
  keys = set(results[0])
  for i, r in enumerate(results):
    if set(r) != keys:
      raise ValueError(f'fold {i} has metrics {sorted(r)}, fold 0 has {sorted(keys)}')
  out = {}
  for k in sorted(keys):
    v = np.array([r[k] for r in results], np.float64)
    out[k] = {'mean': float(v.mean()), 'std': float(v.std(ddof=1)) if len(v) > 1 else 0.0,
              'n': len(v)}
  return out
