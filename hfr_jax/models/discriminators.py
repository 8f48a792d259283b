"""DA: a PatchGAN discriminator on VIS images (Isola et al. 2017; CycleGAN's D).

The paper does not describe DA. A PatchGAN scores overlapping patches (70x70
receptive field with 3 stride-2 layers) rather than the whole face, which
judges texture and colour, the part hallucination changes; the identity and
structure are held by LID, LY and LAWM. Spectral norm (Miyato et al. 2018)
on every conv keeps the critic Lipschitz-bounded, which the linear generator
loss of Eq. (1) needs.
"""

import jax
from flax import nnx


class PatchDiscriminator(nnx.Module):
  """(N, H, W, cin) in [-1, 1] -> (N, H / 2**num_down - 2, ..., 1) patch scores."""

  def __init__(self, cin: int = 3, *, width: int = 64, num_down: int = 3,
               spectral_norm: bool = True, dtype=None, rngs: nnx.Rngs):
    def conv(a, b, stride):
      layer = nnx.Conv(a, b, (4, 4), strides=stride, padding=((1, 1), (1, 1)), dtype=dtype,
                       rngs=rngs)
      return nnx.SpectralNorm(layer, rngs=rngs) if spectral_norm else layer

    widths = [width * min(2**i, 8) for i in range(num_down + 1)]
    layers = [conv(cin, widths[0], 2)]
    layers += [conv(widths[i - 1], widths[i], 2) for i in range(1, num_down)]
    layers += [conv(widths[num_down - 1], widths[num_down], 1)]
    self.layers = nnx.List(layers)
    self.out = conv(widths[num_down], 1, 1)

  def __call__(self, x, *, update_stats: bool = True):
    for layer in self.layers:
      x = jax.nn.leaky_relu(self._apply(layer, x, update_stats), 0.2)
    return self._apply(self.out, x, update_stats)

  @staticmethod
  def _apply(layer, x, update_stats):
    if isinstance(layer, nnx.SpectralNorm):
      return layer(x, update_stats=update_stats)
    return layer(x)
