"""Inverse-distance-weighted (IDW) image warping (Ruprecht & Müller 1995).

PCFH's attention warping module, Eq. (6), warps a VIS face onto the pose of
its NIR partner with the 68 landmarks as control points.

Conventions: images are (H, W, C); points are (x, y) = (column, row) pixels
with pixel centres at integer coordinates. `idw_warp(image, src, dst)` moves
the content at src[k] to dst[k]: every output pixel p samples the input at
p + d(p), where d is the IDW interpolation of the control displacements
src[k] - dst[k], weighted by |p - dst[k]|^-power; d(dst[k]) = src[k] - dst[k]
exactly. Sampling is bilinear with edges replicated.
"""

import jax
import jax.numpy as jnp


def displacement_field(dst_points: jax.Array, displacement: jax.Array, height: int,
                       width: int, *, power: float = 2.0) -> jax.Array:
  """IDW interpolation of per-point displacements on the pixel grid: (H, W, 2).

  The sum over the K points is unrolled into elementwise steps on (H, W)
  planes, which XLA fuses into one pass over the pixels: the (H, W, K) weight
  tensor never exists (a reduction over a K axis runs ~30x slower on CPU).
  """
  dst_points = dst_points.astype(jnp.float32)
  displacement = displacement.astype(jnp.float32)
  ys = jnp.arange(height, dtype=jnp.float32)[:, None]
  xs = jnp.arange(width, dtype=jnp.float32)[None, :]
  # On a control point the weight is infinite; clamping the squared distance
  # gives it weight ~1e30, so d(dst_k) rounds to src_k - dst_k in float32.
  min_d2 = 1e30 ** (-2.0 / power)
  d2 = lambda k: jnp.maximum((xs - dst_points[k, 0]) ** 2 + (ys - dst_points[k, 1]) ** 2, min_d2)
  num_x = num_y = den = jnp.zeros((height, width), jnp.float32)
  k = 0
  if power == 2.0:
    # Two points per division: 1/a + 1/b = (a + b) / (ab). Divisions dominate.
    for k in range(0, dst_points.shape[0] - 1, 2):
      a, b = d2(k), d2(k + 1)
      r = 1.0 / (a * b)
      den += (a + b) * r
      num_x += (displacement[k, 0] * b + displacement[k + 1, 0] * a) * r
      num_y += (displacement[k, 1] * b + displacement[k + 1, 1] * a) * r
    k = dst_points.shape[0] - dst_points.shape[0] % 2
  for k in range(k, dst_points.shape[0]):
    w = d2(k) ** (-0.5 * power)
    num_x += w * displacement[k, 0]
    num_y += w * displacement[k, 1]
    den += w
  return jnp.stack([num_x / den, num_y / den], axis=-1)


def idw_warp(image: jax.Array, src_points: jax.Array, dst_points: jax.Array, *,
             power: float = 2.0) -> jax.Array:
  """Warps `image` so that its content at src_points[k] lands on dst_points[k]."""
  h, w = image.shape[:2]
  field = displacement_field(dst_points, src_points - dst_points, h, w, power=power)
  ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                        indexing='ij')
  coords = jnp.stack([ys + field[..., 1], xs + field[..., 0]])
  # Keep XLA from fusing the K-point sum into the gathers, which would recompute
  # it for every corner of every channel.
  coords = jax.lax.optimization_barrier(coords)
  sample = lambda channel: jax.scipy.ndimage.map_coordinates(
      channel, (coords[0], coords[1]), order=1, mode='nearest')
  return jax.vmap(sample, in_axes=-1, out_axes=-1)(image)
