"""Inverse-distance-weighted (IDW) image warping (Ruprecht & Müller 1995).

PCFH's attention warping module, Eq. (6), warps a VIS face onto the pose of
its NIR partner with the 68 landmarks as control points.

Conventions: images are (H, W, C); points are (x, y) = (column, row) pixels
with pixel centres at integer coordinates. `idw_warp(image, src, dst)` moves
the content at src[k] to dst[k]: every output pixel p samples the input at
p + d(p), where d is the IDW interpolation of the control displacements
src[k] - dst[k], weighted by |p - dst[k]|^-power; d(dst[k]) = src[k] - dst[k]
exactly. Sampling is bilinear with edges replicated.

Coincident control points (two detector landmarks rounded onto the same pixel)
get equal weights everywhere, so they act as one point carrying the mean of
their displacements, and d at that point is that mean: the limit of the IDW
formula as p approaches it, and the only rule that keeps d continuous there.
"""

import jax
import jax.numpy as jnp

# Weight of a control point that sits on a pixel centre. Small enough that
# K * weight * |displacement| stays far below float32's 3e38, and that the
# power-2 pair product (1/weight)^2 = 1e-36 stays a normal float32.
_MAX_WEIGHT = 1e18


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
  # caps it at _MAX_WEIGHT, so d(dst_k) = src_k - dst_k to float32 precision
  # unless another point lies within 10^(-11/power) px of dst_k (3e-6 px for
  # power 2), and coincident points tie with equal weights (the mean rule).
  min_d2 = _MAX_WEIGHT ** (-2.0 / power)
  d2 = lambda k: jnp.maximum((xs - dst_points[k, 0]) ** 2 + (ys - dst_points[k, 1]) ** 2, min_d2)
  num_x = num_y = den = jnp.zeros((height, width), jnp.float32)
  k = 0
  if power == 2.0:
    # Two points per division: 1/a + 1/b = (a + b) / (ab). Divisions dominate.
    # a, b >= 1e-18 keeps ab a normal float32 (>= 1e-36): with both points on
    # a pixel centre, a smaller cap would underflow ab to 0 and give inf * 0.
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
