"""PCFH's generators and attention module (Yu et al., IJCAI 2019, Sec. 3.2-3.3).

* `MultiPathGenerator` (GA, NIR -> VIS): a global encoder-decoder on the whole
  face and four local encoder-decoders, one each for the left eye, right eye,
  nose and mouth patches, cropped around the landmarks with the paper's patch
  sizes (`hfr_jax.ops.patches`). PCFH (Sec. 3.2) follows TP-GAN (Huang et
  al. 2017), which gives each of these four patches its own pathway, so the
  two eyes do not share weights. Local feature maps are pasted back and fused
  with the global path's by element-wise max (max-out, as in TP-GAN); one
  convolution turns the fused map into RGB.
* `Generator` (GB, VIS -> NIR): the global path alone, for the cycle term.
* `AttentionModule` (A): Att in [0, 1] per pixel from the NIR input and the
  warped VIS image, so it can tell where the warp is trustworthy; A(x) = Att * x.

The paper gives no layer counts; the paths follow CycleGAN's ResNet generator
(c7s1-w, stride-2 downsampling, residual blocks, upsampling) with instance
norm. Images are NHWC in [-1, 1]; NIR has one channel, VIS three.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from hfr_jax.models.layers import ConvNorm
from hfr_jax.models.layers import ResidualBlock
from hfr_jax.models.layers import upsample
from hfr_jax.ops import patches as patches_lib


class EncoderDecoder(nnx.Module):
  """c7s1-w, `num_down` stride-2 convs doubling width, residual blocks, back up.

  `skips`: each upsampling layer also takes the encoder's feature map of its scale
  (concatenated, as TP-GAN's decoder takes its encoder's, Huang et al. 2017), so detail
  need not pass through the bottleneck.

  Returns a (N, H, W, width) feature map at the input's resolution; H and W
  must be divisible by 2**num_down.
  """

  def __init__(self, cin: int, width: int, *, num_down: int, num_res: int,
               skips: bool = False, dtype=None, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, rngs=rngs)
    self.num_down = num_down
    self.skips = skips
    self.stem = ConvNorm(cin, width, 7, **kw)
    self.down = nnx.List([ConvNorm(width * 2**i, width * 2**(i + 1), 3, 2, **kw)
                          for i in range(num_down)])
    bottom = width * 2**num_down
    self.res = nnx.List([ResidualBlock(bottom, **kw) for _ in range(num_res)])
    # With skips, each up layer also sees the encoder's map of its scale (concatenated).
    self.up = nnx.List([ConvNorm(width * 2**(i + 1) + (width * 2**i if skips else 0),
                                 width * 2**i, 3, **kw)
                        for i in reversed(range(num_down))])

  def __call__(self, x):
    factor = 2**self.num_down
    if x.shape[1] % factor or x.shape[2] % factor:
      raise ValueError(f'input {x.shape[1]}x{x.shape[2]} is not divisible by {factor} '
                       f'({self.num_down} downsamplings)')
    x = self.stem(x)
    encoded = []   # the encoder's map at each scale above the bottom
    for layer in self.down:
      encoded.append(x)
      x = layer(x)
    for block in self.res:
      x = block(x)
    for layer in self.up:
      x = upsample(x)
      if self.skips:
        x = jnp.concatenate([x, encoded.pop()], axis=-1)
      x = layer(x)
    return x


class Generator(nnx.Module):
  """Single-path image-to-image generator with a tanh head (GB)."""

  def __init__(self, cin: int, cout: int, *, width: int = 64, num_down: int = 2,
               num_res: int = 6, dtype=None, rngs: nnx.Rngs):
    self.body = EncoderDecoder(cin, width, num_down=num_down, num_res=num_res, dtype=dtype,
                               rngs=rngs)
    self.head = nnx.Conv(width, cout, (7, 7), padding='SAME', dtype=dtype, rngs=rngs)

  def __call__(self, x):
    return jnp.tanh(self.head(self.body(x)))


class MultiPathGenerator(nnx.Module):
  """GA: global path + one path per patch (`patches.PATCHES`), max-out fused, tanh head.

  `input_residual`: the head's output is added to the input before the tanh (in the tanh's
  own units, atanh(0.99 x)), and the head starts at zero, so GA starts as the identity (VIS
  in the probe's gray) and learns what the spectrum changes (residual learning, as in
  super-resolution networks). False: the paper's GA draws the face from its features.
  """

  def __init__(self, cin: int = 1, cout: int = 3, *, resolution: int, width: int = 64,
               num_down: int = 2, num_res: int = 9, local_width: int | None = None,
               local_num_down: int = 1, local_num_res: int = 3, skips: bool = False,
               input_residual: bool = False, dtype=None, rngs: nnx.Rngs):
    self.resolution = resolution
    self.input_residual = input_residual
    # A tuple, not a dict: static attributes must hash (graphdefs are jit keys).
    self.patch_sizes = tuple(sorted(patches_lib.patch_sizes(resolution).items()))
    kw = dict(dtype=dtype, rngs=rngs)
    self.global_path = EncoderDecoder(cin, width, num_down=num_down, num_res=num_res,
                                      skips=skips, **kw)
    # Local features are max-ed with global ones, so they share the channel count.
    local_width = local_width or width
    self.local_paths = nnx.Dict({
        name: EncoderDecoder(cin, local_width, num_down=local_num_down,
                             num_res=local_num_res, skips=skips, **kw)
        for name in patches_lib.PATCHES})
    self.local_proj = (nnx.Conv(local_width, width, (1, 1), **kw)
                       if local_width != width else None)
    self.head = nnx.Conv(width, cout, (7, 7), padding='SAME', **kw)
    if input_residual:
      self.head.kernel.value = jnp.zeros_like(self.head.kernel.value)

  def __call__(self, x, landmarks):
    """x (N, R, R, cin) in [-1, 1], landmarks (N, 68, 2) pixels -> (N, R, R, cout)."""
    if x.shape[1:3] != (self.resolution, self.resolution):
      raise ValueError(f'GA was built for {self.resolution}x{self.resolution} faces, '
                       f'got {x.shape[1]}x{x.shape[2]}')
    features = self.global_path(x)
    crops, offsets = jax.vmap(patches_lib.crop_patches, in_axes=(0, 0, None))(
        x, landmarks, dict(self.patch_sizes))
    local = {}
    for name in patches_lib.PATCHES:
      y = self.local_paths[name](crops[name])
      local[name] = self.local_proj(y) if self.local_proj is not None else y
    fused = jax.vmap(patches_lib.max_out_fuse)(features, local, offsets)
    drawn = self.head(fused)
    if self.input_residual:
      drawn = drawn + jnp.arctanh(0.99 * x).astype(drawn.dtype)   # broadcast over colours
    return jnp.tanh(drawn)


class AttentionModule(nnx.Module):
  """Att = sigmoid(net([NIR, warped VIS])) in [0, 1], one channel per pixel."""

  def __init__(self, cin: int = 4, *, width: int = 32, num_down: int = 2, num_res: int = 2,
               dtype=None, rngs: nnx.Rngs):
    self.body = EncoderDecoder(cin, width, num_down=num_down, num_res=num_res, dtype=dtype,
                               rngs=rngs)
    self.head = nnx.Conv(width, 1, (7, 7), padding='SAME', dtype=dtype, rngs=rngs)

  def __call__(self, nir, warped_vis):
    return jax.nn.sigmoid(self.head(self.body(jnp.concatenate([nir, warped_vis], -1))))


class Generators(nnx.Module):
  """The generator player: GA, GB and A, trained by one optimiser."""

  def __init__(self, *, resolution: int, width: int = 64, num_res: int = 9,
               local_num_res: int = 3, skips: bool = False, input_residual: bool = False,
               aux_width: int | None = None, aux_num_res: int = 6, attention_width: int = 32,
               dtype=None, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, rngs=rngs)
    self.ga = MultiPathGenerator(1, 3, resolution=resolution, width=width, num_res=num_res,
                                 local_num_res=local_num_res, skips=skips,
                                 input_residual=input_residual, **kw)
    self.gb = Generator(3, 1, width=aux_width or width, num_res=aux_num_res, **kw)
    self.attention = AttentionModule(1 + 3, width=attention_width, **kw)


class NIRToVIS(nnx.Module):
  """GA on faces as stored (NIR in three equal channels, [0, 1]) -> VIS in [0, 1].

  The form evaluators (`hfr_jax.evaluate.generation_curves`) and the
  hallucinate CLI call; GA itself works on one-channel [-1, 1] NIR.
  """

  def __init__(self, ga: MultiPathGenerator):
    self.ga = ga

  def __call__(self, images, landmarks):
    return (self.ga(images[..., :1] * 2.0 - 1.0, landmarks) + 1.0) / 2.0
