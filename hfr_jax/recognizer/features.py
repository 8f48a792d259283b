"""Recognizer inputs and features: align by landmarks, gray, LightCNN `fc` output.

LightCNN takes (N, S, S, 1) gray faces in [0, 1], aligned as its training
crops were. We align every face (NIR, VIS or hallucinated) by its landmarks
with a similarity transform onto the mean shape at S x S.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from hfr_jax import input_pipeline
from hfr_jax import metrics
from hfr_jax.ops import align
from hfr_jax.ops import color


def prepare(images: jax.Array, landmarks: jax.Array, size: int,
            templates: jax.Array | None = None) -> jax.Array:
  """(N, H, W, 3) float [0, 1] faces + (N, 68, 2) landmarks -> (N, size, size, 1) gray.

  Aligned onto the mean face, or onto per-face `templates` (N, 68, 2) when given
  (training jitters them).
  """
  if templates is None:
    templates = jnp.broadcast_to(jnp.asarray(align.mean_face(size)), landmarks.shape)
  faces, _ = jax.vmap(lambda i, l, t: align.align(i, l, t, size))(images, landmarks, templates)
  return color.rgb_to_gray(faces)[..., None]


@functools.partial(jax.jit, static_argnames=('graphdef', 'size'))
def _features(graphdef, state, images, landmarks, size):
  from flax import nnx
  model = nnx.merge(graphdef, state)
  _, feats = model(prepare(images.astype(jnp.float32) / 255.0, landmarks, size))
  return feats


def extract(model, images: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
  """256-d features of uint8 images (one jit'd call per batch shape)."""
  from flax import nnx
  graphdef, state = nnx.split(model)
  return np.asarray(_features(graphdef, state, images, landmarks, size))


def split_features(model, builder, split: str, size: int, batch_size: int = 64):
  """Features and identities of a whole split, in order."""
  source, index = input_pipeline.open_split(builder, split)
  feats, ids = [], []
  for batch in input_pipeline.evaluation(source, index, batch_size=batch_size, shard=False):
    f = extract(model, batch['image'], batch['landmarks'], size)
    feats.append(f[batch['mask']])
    ids.append(batch['identity'][batch['mask']])
  return np.concatenate(feats), np.concatenate(ids)


def hfr_curves(model, builder, size: int, batch_size: int = 64) -> dict:
  """{'nir_to_vis': (scores, probe_ids, gallery_ids), 'vis_to_vis': ...}."""
  gallery, gallery_ids = split_features(model, builder, 'gallery', size, batch_size)
  curves = {}
  for name, split in (('nir_to_vis', 'probe'), ('vis_to_vis', 'test_vis')):
    probe, probe_ids = split_features(model, builder, split, size, batch_size)
    curves[name] = (metrics.cosine_similarity(probe, gallery), probe_ids, gallery_ids)
  return curves
