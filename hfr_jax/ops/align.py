"""Landmark-based face alignment: a similarity transform onto the mean shape.

Coordinates are (x, y) = (column, row) pixels, pixel centres at integers.
"""

import jax
import jax.numpy as jnp
import numpy as np

from hfr_jax.ops import mean_shape


def mean_face(size: int, *, eye_distance: float = 0.42, centre=(0.5, 0.56)) -> np.ndarray:
  """(68, 2) mean shape in a size x size crop: outer-eye distance = eye_distance * size."""
  shape = mean_shape.MEAN_SHAPE_68
  iod = np.linalg.norm(shape[45] - shape[36])
  canon = (shape - shape.mean(axis=0)) / iod
  return (canon * eye_distance * size + np.asarray(centre) * (size - 1)).astype(np.float32)


def similarity_transform(src: jax.Array, dst: jax.Array) -> jax.Array:
  """Least-squares similarity (Umeyama 1991) mapping src -> dst, as a 2x3 matrix."""
  mu_s, mu_d = src.mean(0), dst.mean(0)
  s, d = src - mu_s, dst - mu_d
  # For 2-D, the optimal rotation+scale is a complex ratio: sum(d * conj(s)) / sum(|s|^2).
  a = jnp.sum(s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]) / jnp.sum(s ** 2)
  b = jnp.sum(s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]) / jnp.sum(s ** 2)
  rot = jnp.array([[a, -b], [b, a]])
  return jnp.concatenate([rot, (mu_d - rot @ mu_s)[:, None]], axis=1)


def warp_affine(image: jax.Array, matrix: jax.Array, size: int) -> jax.Array:
  """Output pixel q samples the input at matrix^-1 q (bilinear, edges replicated)."""
  rot, t = matrix[:, :2], matrix[:, 2]
  inv = jnp.linalg.inv(rot)
  ys, xs = jnp.meshgrid(jnp.arange(size, dtype=jnp.float32),
                        jnp.arange(size, dtype=jnp.float32), indexing='ij')
  q = jnp.stack([xs - t[0], ys - t[1]], -1) @ inv.T
  sample = lambda c: jax.scipy.ndimage.map_coordinates(
      c, (q[..., 1], q[..., 0]), order=1, mode='nearest')
  return jax.vmap(sample, in_axes=-1, out_axes=-1)(image.astype(jnp.float32))


def align(image: jax.Array, landmarks: jax.Array, template: jax.Array, size: int):
  """Aligns one face; returns (aligned image, landmarks in the aligned frame)."""
  m = similarity_transform(landmarks.astype(jnp.float32), template)
  moved = landmarks @ m[:, :2].T + m[:, 2]
  return warp_affine(image, m, size), moved
