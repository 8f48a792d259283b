"""Recognizer inputs and features: align by landmarks, gray, LightCNN `fc` output.

LightCNN takes (N, S, S, 1) gray faces in [0, 1], aligned as its training
crops were (S = `model.input_size`). We align every face (NIR, VIS or
hallucinated) by its landmarks with a similarity transform onto the mean
shape at S x S.
"""

import jax
import jax.numpy as jnp

from hfr_jax.ops import align
from hfr_jax.ops import augment
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


def jittered(rng: jax.Array, images: jax.Array, landmarks: jax.Array, size: int,
             jitter: augment.FaceJitter) -> jax.Array:
  """`prepare` under a random alignment, flip and photometry (one draw per face).

  images (N, H, W, 3) float in [0, 1]. The recognizer trains on these; a
  generator's identity loss can look through them too, so that no single
  pixel pattern, valid for one exact crop only, pays.
  """
  n = len(images)
  k_geometry, k_flip, k_photo = jax.random.split(rng, 3)
  template = jnp.asarray(align.mean_face(size))
  templates = jax.vmap(lambda k: augment.jitter_template(k, template, jitter))(
      jax.random.split(k_geometry, n))
  x = prepare(images, landmarks, size, templates)
  # The template is symmetric about the crop's centre column, so a mirrored crop is aligned too.
  flip = jax.random.bernoulli(k_flip, float(jitter.flip_prob), (n,))
  x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
  return jax.vmap(lambda k, i: augment.photometric(k, i, jitter))(
      jax.random.split(k_photo, n), x)


def embed(model, images: jax.Array, landmarks: jax.Array) -> jax.Array:
  """F(.): 256-d features of (N, H, W, 3) faces in [0, 1], aligned for `model`."""
  _, feats = model(prepare(images, landmarks, model.input_size))
  return feats
