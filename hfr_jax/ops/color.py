"""Colour conversions on float images in [0, 1], channels last.

ITU-R BT.601 full range (the JPEG / JFIF convention, as Pillow uses): Y in
[0, 1], Cb and Cr centred on 0.5.
"""

import jax.numpy as jnp

_RGB_TO_YCBCR = jnp.array([[0.299, 0.587, 0.114],
                           [-0.168736, -0.331264, 0.5],
                           [0.5, -0.418688, -0.081312]])
_YCBCR_TO_RGB = jnp.array([[1.0, 0.0, 1.402],
                           [1.0, -0.344136, -0.714136],
                           [1.0, 1.772, 0.0]])
_OFFSET = jnp.array([0.0, 0.5, 0.5])


def rgb_to_ycbcr(rgb):
  return rgb @ _RGB_TO_YCBCR.T + _OFFSET


def ycbcr_to_rgb(ycbcr):
  return (ycbcr - _OFFSET) @ _YCBCR_TO_RGB.T


def rgb_to_gray(rgb):
  """Luma Y of BT.601 (Pillow's 'L' conversion), shape (..., H, W)."""
  return rgb @ _RGB_TO_YCBCR[0]
