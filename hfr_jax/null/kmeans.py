"""The paper's clustering baseline (Sec. 4.2-4.3): k-means on unpaired training images.

python -m hfr_jax.main --config=configs/null.py:kmeans --workdir=DIR

The paper says only that k-means (MacQueen 1967) is trained on the shuffled,
unpaired training images with k = the number of subjects. What we do:

* Features: every training image, NIR and VIS pooled, in a seeded random
  order, aligned by its landmarks onto the mean face at `size` x `size`
  (`hfr_jax.recognizer.features.prepare`, the alignment every method uses),
  gray, minus its own mean: raw pixels, with nothing learned.
* Clustering: k = the number of training identities (the identity labels are
  read for this count only), k-means++ seeding (greedy, 2 + ln k candidates per
  centre, as scikit-learn seeds) and `num_iters` Lloyd iterations, `num_init`
  restarts, the lowest inertia kept. A jit'd JAX k-means rather than
  scikit-learn: scikit-learn is a test-only dependency here, and the distances
  are one matmul that runs on whichever device JAX has (it is tested against
  sklearn.cluster.KMeans).
* Matching: a test image is represented by its profile over the k centres,
  the negated squared distances z-scored across centres; NIR probes and the
  VIS gallery are compared by the cosine of these profiles (the Pearson
  correlation of the distance profiles). Two faces of one cluster lie near
  the same centres and score high; unlike hard assignments, which tie every
  gallery face of a cluster, the profile ranks the gallery, so rank-k and ROC
  are defined. Test identities are not among the training ones: clusters act
  as a learned basis, not as the test subjects.
"""

import functools
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import metrics
from hfr_jax.recognizer import features


def squared_distances(x, centres):
  """(N, D), (K, D) -> (N, K) squared Euclidean distances (clipped at 0)."""
  d = (jnp.sum(x * x, axis=1)[:, None] - 2.0 * x @ centres.T
       + jnp.sum(centres * centres, axis=1)[None, :])
  return jnp.maximum(d, 0.0)


def kmeans_plus_plus(rng, x, k: int, num_candidates: int | None = None):
  """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007): (K, D) initial centres.

  Each new centre is the best, by the resulting potential, of `num_candidates`
  points drawn with probability proportional to D(x)^2.
  """
  n = x.shape[0]
  num_candidates = num_candidates or 2 + int(math.log(k))
  k_first, k_rest = jax.random.split(rng)
  first = x[jax.random.randint(k_first, (), 0, n)]
  closest = squared_distances(x, first[None])[:, 0]
  centres = jnp.zeros((k, x.shape[1]), x.dtype).at[0].set(first)

  def add(i, carry):
    centres, closest = carry
    total = closest.sum()
    p = jnp.where(total > 0, closest / jnp.maximum(total, 1e-30), 1.0 / n)
    picks = jax.random.choice(jax.random.fold_in(k_rest, i), n, (num_candidates,), p=p)
    trial = jnp.minimum(closest[None, :], squared_distances(x, x[picks]).T)
    best = jnp.argmin(trial.sum(axis=1))
    return centres.at[i].set(x[picks[best]]), trial[best]

  return jax.lax.fori_loop(1, k, add, (centres, closest))[0]


def lloyd(x, centres, num_iters: int):
  """`num_iters` Lloyd iterations; an empty cluster keeps its centre. Returns (centres, inertia)."""
  k = centres.shape[0]

  def update(_, centres):
    onehot = jax.nn.one_hot(jnp.argmin(squared_distances(x, centres), axis=1), k, dtype=x.dtype)
    counts = onehot.sum(axis=0)[:, None]
    return jnp.where(counts > 0, (onehot.T @ x) / jnp.maximum(counts, 1.0), centres)

  centres = jax.lax.fori_loop(0, num_iters, update, centres)
  return centres, jnp.min(squared_distances(x, centres), axis=1).sum()


@functools.partial(jax.jit, static_argnames=('k', 'num_iters', 'num_init'))
def kmeans(rng, x, *, k: int, num_iters: int = 100, num_init: int = 1):
  """k-means of (N, D) points: (centres (K, D), inertia) of the best of `num_init` runs."""
  def run(key):
    return lloyd(x, kmeans_plus_plus(key, x, k), num_iters)

  centres, inertia = jax.vmap(run)(jax.random.split(rng, num_init))
  best = jnp.argmin(inertia)
  return centres[best], inertia[best]


@functools.partial(jax.jit, static_argnames='size')
def pixel_vectors(images, landmarks, *, size: int):
  """uint8 faces -> (N, size * size) aligned gray pixels, each minus its own mean."""
  gray = features.prepare(images.astype(jnp.float32) / 255.0, landmarks, size)
  gray = gray.reshape(images.shape[0], -1)
  return gray - gray.mean(axis=1, keepdims=True)


@jax.jit
def centre_profile(x, centres):
  """(N, D) -> (N, K): negated squared distances to the centres, z-scored across centres."""
  d = -squared_distances(x, centres)
  return (d - d.mean(axis=1, keepdims=True)) / (d.std(axis=1, keepdims=True) + 1e-12)


def read_vectors(builder, embed, batch_size: int) -> dict:
  """{split: (pixel vectors, identities)} of the training images, the NIR probes, the VIS
  gallery and the VIS probes (where the set has them), each split read once."""
  protocol = evaluate.Protocol()
  reads = {'train': {}, protocol.probe_split: protocol.probes(), protocol.gallery_split: {}}
  if evaluate.has_split(builder, protocol.vis_split):
    reads[protocol.vis_split] = protocol.vis_probes()
  return {split: evaluate.split_outputs(embed, builder, split, batch_size=batch_size, **kw)
          for split, kw in reads.items()}


def fit(config, parts, *, fold_in: int = 0):
  """k-means on the images of `parts` [(vectors, identities)] (NIR and VIS pooled, shuffled
  by config.seed), k = their number of identities: (centres, inertia, k, number of images)."""
  km = config.kmeans
  x = np.concatenate([p[0] for p in parts])
  identities = np.concatenate([p[1] for p in parts])
  order = np.random.default_rng(config.seed).permutation(len(x))   # shuffled, unpaired
  k = len(np.unique(identities))   # identities are read for this count only
  centres, inertia = kmeans(jax.random.fold_in(jax.random.key(config.seed), fold_in),
                            jnp.asarray(x[order]), k=k, num_iters=km.num_iters,
                            num_init=km.num_init)
  # Each process computed the same; jit places the copy.
  return centres, float(inertia), k, len(x)


def profile_curves(vectors: dict, centres) -> dict:
  """{'nir_to_vis', 'vis_to_vis'}: (scores, probe ids, gallery ids), the cosine of centre
  profiles (`centre_profile`); vis_to_vis where the set has VIS probes."""
  protocol = evaluate.Protocol()
  profile = {split: (np.asarray(centre_profile(jnp.asarray(x), centres)), ids)
             for split, (x, ids) in vectors.items() if split != 'train'}
  gallery, gallery_ids = profile[protocol.gallery_split]
  pairs = {'nir_to_vis': protocol.probe_split, 'vis_to_vis': protocol.vis_split}
  return {name: (metrics.cosine_similarity(profile[split][0], gallery), profile[split][1],
                 gallery_ids) for name, split in pairs.items() if split in profile}


# The two readings of Sec. 4.3: {curve name: (splits clustered, what it is)}.
READINGS = {'kmeans': (('train',), 'the training images, k = training identities'),
            'kmeans_test': (('probe', 'gallery'), 'the test images themselves (NIR probes '
                            'and VIS gallery, no labels), k = test identities (358 on CASIA)')}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  builder = datasets.prepare(config.data)
  km = config.kmeans
  embed = lambda batch: pixel_vectors(batch['image'], batch['landmarks'], size=km.size)
  vectors = read_vectors(builder, embed, km.batch_size)
  found, about = {}, {}
  for i, (name, (splits, what)) in enumerate(READINGS.items()):
    centres, inertia, k, count = fit(config, [vectors[s] for s in splits], fold_in=i)
    curves = profile_curves(vectors, centres)
    found[name] = curves.pop('nir_to_vis')
    if name == 'kmeans':
      found.update(curves)   # vis_to_vis under the training reading's basis
    about[name] = {'clustered': what, 'k': k, 'inertia': inertia, 'num_images': count}
  return evaluate.write_report(
      workdir, found, title='k-means baseline: NIR probes vs VIS gallery by centre profiles',
      dataset=evaluate.dataset_info(builder),
      config=config,
      extra={'setting': 'kmeans', 'k': about['kmeans']['k'], 'readings': about},
      notes=f'k-means (k-means++, {km.num_iters} Lloyd iterations, best of {km.num_init}) on '
            f'shuffled NIR and VIS images, aligned gray {km.size}x{km.size} pixels minus their '
            'mean; Sec. 4.3 reads two ways: kmeans clusters '
            f'{READINGS["kmeans"][1]} ({about["kmeans"]["num_images"]} images), kmeans_test '
            f'{READINGS["kmeans_test"][1]} (k = {about["kmeans_test"]["k"]}). A face is its '
            'z-scored profile of negated squared distances to the centres; cosine of '
            'profiles. vis_to_vis: VIS probes against the same gallery (training reading).')
