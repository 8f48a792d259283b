"""DA: a PatchGAN discriminator on VIS images (Isola et al. 2017; CycleGAN's D).

The paper does not describe DA. A PatchGAN scores overlapping patches (70x70
receptive field with 3 stride-2 layers) rather than the whole face, which
judges texture and colour, the part hallucination changes; the identity and
structure are held by LID, LY and LAWM. Spectral norm (Miyato et al. 2018)
on every conv keeps the critic Lipschitz-bounded, which the linear generator
loss of Eq. (1) needs.
"""

import jax
import jax.numpy as jnp
from flax import nnx


def _l2_normalize(x, eps=1e-12):
  return x / jnp.sqrt(jnp.sum(x * x) + eps)


def spectral_normalize(kernel, u, n_steps: int = 1):
  """W / sigma(W) by power iteration (Miyato et al. 2018, Alg. 1).

  kernel (..., out) is read as a (K, out) matrix; u (1, out) is the running
  right singular vector estimate. Returns (normalised kernel, new u, sigma);
  u and v are constants for the gradient, as in the paper.
  """
  w = kernel.reshape(-1, kernel.shape[-1])
  for _ in range(n_steps):
    v = _l2_normalize(u @ w.T)
    u = _l2_normalize(v @ w)
  u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
  sigma = (v @ w @ u.T)[0, 0]
  return kernel / sigma, u, sigma


class SpectralConv(nnx.Module):
  """4x4 conv whose kernel is divided by its spectral norm at every call.

  The raw kernel is the parameter; `u` and `sigma` are running statistics
  (power iteration state), updated when `update_stats` is true.
  """

  def __init__(self, cin: int, cout: int, stride: int, *, spectral_norm: bool = True,
               dtype=None, rngs: nnx.Rngs):
    self.conv = nnx.Conv(cin, cout, (4, 4), strides=stride, padding=((1, 1), (1, 1)),
                         dtype=dtype, rngs=rngs)
    self.stride = stride
    self.spectral_norm = spectral_norm
    if spectral_norm:
      self.u = nnx.BatchStat(_l2_normalize(jax.random.normal(rngs.params(), (1, cout))))
      self.sigma = nnx.BatchStat(jnp.ones(()))

  def __call__(self, x, *, update_stats: bool = True):
    if not self.spectral_norm:
      return self.conv(x)
    kernel, u, sigma = spectral_normalize(self.conv.kernel[...], self.u[...])
    if update_stats:
      self.u[...] = u
      self.sigma[...] = sigma
    y = jax.lax.conv_general_dilated(
        x.astype(kernel.dtype), kernel, (self.stride, self.stride), ((1, 1), (1, 1)),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return y + self.conv.bias[...]


class PatchDiscriminator(nnx.Module):
  """(N, H, W, cin) in [-1, 1] -> (N, H / 2**num_down - 2, ..., 1) patch scores."""

  def __init__(self, cin: int = 3, *, width: int = 64, num_down: int = 3,
               spectral_norm: bool = True, dtype=None, rngs: nnx.Rngs):
    conv = lambda a, b, stride: SpectralConv(a, b, stride, spectral_norm=spectral_norm,
                                             dtype=dtype, rngs=rngs)
    widths = [width * min(2**i, 8) for i in range(num_down + 1)]
    layers = [conv(cin, widths[0], 2)]
    layers += [conv(widths[i - 1], widths[i], 2) for i in range(1, num_down)]
    layers += [conv(widths[num_down - 1], widths[num_down], 1)]
    self.layers = nnx.List(layers)
    self.out = conv(widths[num_down], 1, 1)

  def __call__(self, x, *, update_stats: bool = True):
    for layer in self.layers:
      x = jax.nn.leaky_relu(layer(x, update_stats=update_stats), 0.2)
    return self.out(x, update_stats=update_stats)
