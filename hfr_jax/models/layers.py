"""Layers the methods' generators share: conv + instance norm, residual block, x2 upsampling.

CycleGAN's ResNet generator's pieces (Zhu et al. 2017) with instance norm, NHWC;
PCFH's paths (`hfr_jax.models.pcfh`) and NULL's encoders and decoders
(`hfr_jax.models.null`) are built from them.
"""

import jax
from flax import nnx


class ConvNorm(nnx.Module):
  """Conv -> instance norm -> activation (relu, leaky_relu or none)."""

  def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, *,
               activation: str = 'relu', norm: bool = True, dtype=None, rngs: nnx.Rngs):
    self.conv = nnx.Conv(cin, cout, (kernel, kernel), strides=stride, padding='SAME',
                         use_bias=not norm, dtype=dtype, rngs=rngs)
    self.norm = nnx.InstanceNorm(cout, dtype=dtype, rngs=rngs) if norm else None
    self.activation = activation

  def __call__(self, x):
    x = self.conv(x)
    if self.norm is not None:
      x = self.norm(x)
    if self.activation == 'relu':
      return jax.nn.relu(x)
    if self.activation == 'leaky_relu':
      return jax.nn.leaky_relu(x, 0.2)
    return x


class ResidualBlock(nnx.Module):

  def __init__(self, channels: int, *, dtype=None, rngs: nnx.Rngs):
    self.a = ConvNorm(channels, channels, 3, dtype=dtype, rngs=rngs)
    self.b = ConvNorm(channels, channels, 3, activation='none', dtype=dtype, rngs=rngs)

  def __call__(self, x):
    return x + self.b(self.a(x))


def upsample(x):
  """Nearest-neighbour x2 (then a conv): no transposed-conv checkerboards."""
  n, h, w, c = x.shape
  return jax.image.resize(x, (n, 2 * h, 2 * w, c), 'nearest')
