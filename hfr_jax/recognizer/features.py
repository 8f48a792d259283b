"""Recognizer inputs and features: align by landmarks, gray, LightCNN `fc` output.

LightCNN takes (N, S, S, 1) gray faces in [0, 1], aligned as its training
crops were (S = `model.input_size`). We align every face (NIR, VIS or
hallucinated) by its landmarks with a similarity transform onto the mean
shape at S x S.
"""

import jax
import jax.numpy as jnp

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


def embed(model, images: jax.Array, landmarks: jax.Array) -> jax.Array:
  """F(.): 256-d features of (N, H, W, 3) faces in [0, 1], aligned for `model`."""
  _, feats = model(prepare(images, landmarks, model.input_size))
  return feats
