"""Colour conversions on float images in [0, 1], channels last.

ITU-R BT.601 full range (the JPEG / JFIF convention, as Pillow uses): Y in
[0, 1], Cb and Cr centred on 0.5.
"""

import jax.numpy as jnp
import numpy as np

# numpy, made JAX arrays at each call: a JAX array made at import would start JAX's backends,
# and jax.distributed.initialize (hfr_jax.multihost) must come before them.
_RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114],
                          [-0.168736, -0.331264, 0.5],
                          [0.5, -0.418688, -0.081312]])
_YCBCR_TO_RGB = np.array([[1.0, 0.0, 1.402],
                          [1.0, -0.344136, -0.714136],
                          [1.0, 1.772, 0.0]])
_OFFSET = np.array([0.0, 0.5, 0.5])


def rgb_to_ycbcr(rgb):
  return rgb @ jnp.asarray(_RGB_TO_YCBCR).T + jnp.asarray(_OFFSET)


def ycbcr_to_rgb(ycbcr):
  return (ycbcr - jnp.asarray(_OFFSET)) @ jnp.asarray(_YCBCR_TO_RGB).T


def rgb_to_gray(rgb):
  """Luma Y of BT.601 (Pillow's 'L' conversion), shape (..., H, W)."""
  return rgb @ jnp.asarray(_RGB_TO_YCBCR[0])
