"""Training augmentation of faces with their landmarks: pure JAX, applied on device.

`augment`: a random flip and crop jitter of one image (PCFH's paired inputs);
`FaceJitter`, `jitter_template` and `photometric`: the recognizer's random
alignment and photo changes. One image in, one out; vmap over a batch at the
call site. Images are (H, W, C), landmarks (68, 2) as (x, y) = (column, row)
pixels in iBUG-68 order; flipping relabels left and right
(`mean_shape.FLIP_PERMUTATION`).
"""

import dataclasses

import dm_pix as pix
import jax
import jax.numpy as jnp
import numpy as np

from hfr_jax.ops import mean_shape


def flip_landmarks(landmarks: jax.Array, width: int) -> jax.Array:
  """Mirrors (68, 2) landmarks: x -> W-1-x and the iBUG left/right relabelling."""
  mirrored = landmarks.at[..., 0].set(width - 1 - landmarks[..., 0])
  return mirrored[..., mean_shape.FLIP_PERMUTATION, :]


def flip(image: jax.Array, landmarks: jax.Array):
  return pix.flip_left_right(image), flip_landmarks(landmarks, image.shape[-2])


def shift(image: jax.Array, landmarks: jax.Array, offset: jax.Array):
  """Moves content by `offset` = (dx, dy) pixels: bilinear, edges replicated."""
  h, w = image.shape[:2]
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - offset[1],
                            jnp.arange(w, dtype=jnp.float32) - offset[0], indexing='ij')
  sample = lambda channel: jax.scipy.ndimage.map_coordinates(
      channel, (rows, cols), order=1, mode='nearest')
  out = jax.vmap(sample, in_axes=-1, out_axes=-1)(image.astype(jnp.float32))
  return out, landmarks + offset


def augment(rng: jax.Array, image: jax.Array, landmarks: jax.Array, *,
            max_shift: float = 4.0, flip_prob: float = 0.5):
  """Random horizontal flip and crop jitter of one image, landmarks kept on it.

  image (H, W, C) float, landmarks (68, 2). vmap it over a batch.
  """
  k1, k2 = jax.random.split(rng)
  do_flip = jax.random.bernoulli(k1, flip_prob)
  image, landmarks = jax.lax.cond(
      do_flip, lambda a: flip(*a), lambda a: a, (image.astype(jnp.float32), landmarks))
  offset = jax.random.uniform(k2, (2,), minval=-max_shift, maxval=max_shift)
  return shift(image, landmarks, offset)


@dataclasses.dataclass(frozen=True)
class FaceJitter:
  """Ranges of the recognizer's training augmentation; 0 turns a part off.

  Geometry jitters the alignment template, so each face is resampled once;
  the photometric part mimics what changes between photos of one person
  (exposure, contrast, tone curve, side light, focus, sensor noise).
  """
  rotation: float = 0.0     # degrees, uniform in +-rotation
  scale: float = 0.0        # log-uniform in [1 / (1 + scale), 1 + scale]
  shift: float = 0.0        # pixels of the aligned crop, per axis
  flip_prob: float = 0.5
  brightness: float = 0.0   # added, uniform in +-brightness
  contrast: float = 0.0     # about the mean, factor in 1 +- contrast
  gamma: float = 0.0        # x ** exp(u), u in +-gamma
  shading: float = 0.0      # light ramp 1 + a * (direction . position), |a| <= shading per crop
  blur: float = 0.0         # Gaussian sigma in [0, blur] pixels
  noise: float = 0.0        # Gaussian noise std in [0, noise]


def move_points(points: jax.Array, angle, scale, offset) -> jax.Array:
  """Similarity of (K, 2) points about their centroid: rotate by `angle` (radians), scale, shift."""
  c = points.mean(0)
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  rot = scale * jnp.stack([jnp.stack([cos, -sin]), jnp.stack([sin, cos])])
  return (points - c) @ rot.T + c + offset


def jitter_template(rng: jax.Array, template: jax.Array, jitter: FaceJitter) -> jax.Array:
  """A randomly rotated, scaled and shifted copy of the alignment template."""
  k1, k2, k3 = jax.random.split(rng, 3)
  u = lambda k, shape=(): jax.random.uniform(k, shape, minval=-1.0, maxval=1.0)
  angle = u(k1) * jnp.deg2rad(jitter.rotation)
  scale = jnp.exp(u(k2) * jnp.log1p(jitter.scale))
  return move_points(template, angle, scale, u(k3, (2,)) * jitter.shift)


def photometric(rng: jax.Array, image: jax.Array, jitter: FaceJitter) -> jax.Array:
  """Random tone curve, contrast, brightness, side light, blur and noise of one (H, W, C) image.

  image in [0, 1]; the result is clipped to [0, 1].
  """
  ks = jax.random.split(rng, 8)
  u = lambda k: jax.random.uniform(k, minval=-1.0, maxval=1.0)
  x = jnp.clip(image.astype(jnp.float32), 0.0, 1.0)
  if jitter.gamma:
    x = pix.adjust_gamma(x, jnp.exp(u(ks[0]) * jitter.gamma))
  if jitter.contrast:
    mean = x.mean()
    x = (x - mean) * (1.0 + u(ks[1]) * jitter.contrast) + mean
  if jitter.brightness:
    x = x + u(ks[2]) * jitter.brightness
  if jitter.shading:
    h, w = x.shape[:2]
    ys, xs = jnp.meshgrid(jnp.linspace(-0.5, 0.5, h), jnp.linspace(-0.5, 0.5, w), indexing='ij')
    theta = jax.random.uniform(ks[3], maxval=2 * jnp.pi)
    ramp = jnp.cos(theta) * xs + jnp.sin(theta) * ys
    x = x * (1.0 + jitter.shading * jax.random.uniform(ks[4]) * ramp)[..., None]
  if jitter.blur:
    sigma = jnp.maximum(jax.random.uniform(ks[5]) * jitter.blur, 1e-2)
    x = pix.gaussian_blur(x, sigma, kernel_size=2 * int(np.ceil(2 * jitter.blur)) + 1)
  if jitter.noise:
    std = jax.random.uniform(ks[6]) * jitter.noise
    x = x + std * jax.random.normal(ks[7], x.shape)
  return jnp.clip(x, 0.0, 1.0)
