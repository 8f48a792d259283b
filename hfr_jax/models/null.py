"""NULL's networks (Sec. 3.2 and 4.2): two autoencoders with content and style codes.

Per domain (NIR = X1, one channel; VIS = X2, three channels):

* `ContentEncoder` Ec: 9 convolutions in 3 stages of 3, a max-pooling after
  each stage, and 1 fully connected layer aggregating all three stages (the
  paper's multiple-scale feature aggregation, Fig. 4) into the 256-d content
  code c. Each stage's map is average-pooled to a `pool_grid` x `pool_grid`
  grid before the FC: faces are aligned, so where a feature sits carries
  identity, and a global average (grid 1) would leave the decoder no layout
  to rebuild. Instance norm, as in MUNIT's content encoder, removes per-image
  contrast and brightness, much of what tells NIR from VIS.
* `StyleEncoder` Es: 3 convolutions and 1 max-pooling, then a global average
  and a linear layer into the 32-d style code s. No normalisation: style is
  exactly the statistics instance norm would remove (MUNIT).
* `Decoder` D: c -> a linear layer -> a (R/8, R/8, 4w) map -> 3 stages of
  (nearest x2 up-sampling, 3 convolutions): 9 convolutions. The paper does
  not say how s enters D; we follow MUNIT: an MLP maps s to the scale and bias
  of adaptive instance norm (AdaIN, Huang & Belongie 2017) after each of the 8
  hidden convolutions, so the style sets every layer's feature statistics
  while c alone sets their layout. Scales are 1 + MLP output, so a fresh MLP
  starts near plain instance norm.
* Weight sharing (`shared_stages`, default 0: two separate autoencoders as the
  paper draws them): the last k stages of Ec with its FC and the first k stages
  of D with its input layer serve both domains, UNIT's (Liu et al. 2017) way of
  making the content spaces one; the outer stages stay per domain (they see 1
  or 3 channels), as do Es and the AdaIN MLPs.
* VAE settings (`variational=True`): both encoders output a mean and a
  log-variance (their last layer is twice as wide); `sample` draws codes by
  reparameterisation. Otherwise codes are the deterministic outputs and the
  log-variance is None.

`MultiScaleDiscriminator`: one per domain, MUNIT's design: the same
PatchGAN (`hfr_jax.models.discriminators`) on the image and on 3x3 average
pools of stride 2 of it (`num_scales` scales), one score map per scale, for
LSGAN. Images are NHWC in [-1, 1], aligned onto the mean face by `model_input`.
"""

import jax
import jax.numpy as jnp
from flax import nnx

from hfr_jax.models.discriminators import PatchDiscriminator
from hfr_jax.models.layers import ConvNorm
from hfr_jax.models.layers import upsample
from hfr_jax.ops import align

DOMAINS = {'nir': 1, 'vis': 3}   # domain -> image channels


def model_input(images, landmarks, *, resolution: int, channels: int):
  """Stored faces (N, H, W, 3) in [0, 255] + (N, 68, 2) landmarks -> (N, R, R, channels) in [-1, 1].

  Aligned by a similarity transform onto the mean face at R x R (as the
  recognizer's inputs are); NIR, stored as three equal channels, keeps one.
  """
  template = jnp.asarray(align.mean_face(resolution))
  faces, _ = jax.vmap(lambda i, l: align.align(i, l, template, resolution))(images, landmarks)
  return faces[..., :channels] / 127.5 - 1.0


def split_gaussian(h, variational: bool):
  """Last-layer output -> (mean, log-variance or None)."""
  if not variational:
    return h, None
  mean, logvar = jnp.split(h, 2, axis=-1)
  return mean, logvar


def sample(rng, mean, logvar):
  """Reparameterisation z = mean + exp(logvar / 2) * eps, eps ~ N(0, I); the mean when logvar is None."""
  if logvar is None:
    return mean
  return mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape, mean.dtype)


def grid_pool(x, grid: int):
  """(N, H, W, C) -> (N, grid * grid * C): the mean of each cell of a grid x grid partition."""
  n, h, w, c = x.shape
  if h % grid or w % grid:
    raise ValueError(f'a {h}x{w} feature map does not split into a {grid}x{grid} grid')
  return x.reshape(n, grid, h // grid, grid, w // grid, c).mean(axis=(2, 4)).reshape(n, -1)


def max_pool(x):
  return nnx.max_pool(x, (2, 2), strides=(2, 2))


class ContentEncoder(nnx.Module):
  """Ec: (N, R, R, cin) -> content mean (N, code_dim) and log-variance (or None)."""

  def __init__(self, cin: int, *, width: int = 64, code_dim: int = 256, pool_grid: int = 4,
               variational: bool = True, share: 'ContentEncoder | None' = None,
               shared_stages: int = 0, dtype=None, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, rngs=rngs)
    widths = (width, 2 * width, 4 * width)
    shared = lambda i: share is not None and i >= len(widths) - shared_stages
    stages, prev = [], cin
    for i, w in enumerate(widths):
      stages.append(share.stages[i] if shared(i) else nnx.List([
          ConvNorm(prev, w, 3, **kw), ConvNorm(w, w, 3, **kw), ConvNorm(w, w, 3, **kw)]))
      prev = w
    self.stages = nnx.List(stages)
    self.pool_grid, self.variational = pool_grid, variational
    self.fc = share.fc if shared(len(widths) - 1) else nnx.Linear(
        sum(widths) * pool_grid**2, code_dim * (2 if variational else 1), **kw)

  def __call__(self, x):
    scales = []
    for stage in self.stages:
      for conv in stage:
        x = conv(x)
      x = max_pool(x)
      scales.append(grid_pool(x, self.pool_grid))
    return split_gaussian(self.fc(jnp.concatenate(scales, axis=-1)), self.variational)


class StyleEncoder(nnx.Module):
  """Es: (N, R, R, cin) -> style mean (N, style_dim) and log-variance (or None)."""

  def __init__(self, cin: int, *, width: int = 64, style_dim: int = 32,
               variational: bool = True, dtype=None, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, rngs=rngs)
    self.conv1 = nnx.Conv(cin, width, (3, 3), padding='SAME', **kw)
    self.conv2 = nnx.Conv(width, 2 * width, (4, 4), strides=2, padding=((1, 1), (1, 1)), **kw)
    self.conv3 = nnx.Conv(2 * width, 4 * width, (4, 4), strides=2, padding=((1, 1), (1, 1)),
                          **kw)
    self.variational = variational
    self.fc = nnx.Linear(4 * width, style_dim * (2 if variational else 1), **kw)

  def __call__(self, x):
    x = max_pool(jax.nn.relu(self.conv1(x)))
    x = jax.nn.relu(self.conv3(jax.nn.relu(self.conv2(x))))
    return split_gaussian(self.fc(x.mean(axis=(1, 2))), self.variational)


def adain(x, scale, bias, eps: float = 1e-5):
  """Instance-normalised x (per sample and channel over H, W) times (1 + scale) plus bias."""
  mean = x.mean(axis=(1, 2), keepdims=True)
  var = x.var(axis=(1, 2), keepdims=True)
  y = (x - mean) * jax.lax.rsqrt(var + eps)
  return y * (1.0 + scale[:, None, None, :]) + bias[:, None, None, :]


class Decoder(nnx.Module):
  """D: (content (N, code_dim), style (N, style_dim)) -> (N, R, R, cout) in [-1, 1]."""

  def __init__(self, cout: int, *, resolution: int, width: int = 64, code_dim: int = 256,
               style_dim: int = 32, mlp_width: int = 256, share: 'Decoder | None' = None,
               shared_stages: int = 0, dtype=None, rngs: nnx.Rngs):
    if resolution % 8:
      raise ValueError(f'resolution {resolution} is not divisible by 8 (3 up-samplings)')
    kw = dict(dtype=dtype, rngs=rngs)
    shared = lambda i: share is not None and i < 3 * shared_stages
    self.base = resolution // 8
    self.seed_width = 4 * width
    self.seed = share.seed if shared(0) else nnx.Linear(
        code_dim, self.base**2 * self.seed_width, **kw)
    # (in, out) of the 9 convolutions; the last one makes the image.
    shapes = [(4 * width, 2 * width), (2 * width, 2 * width), (2 * width, 2 * width),
              (2 * width, width), (width, width), (width, width),
              (width, width), (width, width), (width, cout)]
    # AdaIN removes a bias, so only the image-making convolution has one.
    self.convs = nnx.List([share.convs[i] if shared(i) else
                           nnx.Conv(a, b, (3, 3), padding='SAME', use_bias=i == len(shapes) - 1,
                                    **kw)
                           for i, (a, b) in enumerate(shapes)])
    self.adain_widths = tuple(b for _, b in shapes[:-1])
    self.mlp = nnx.List([nnx.Linear(style_dim, mlp_width, **kw),
                         nnx.Linear(mlp_width, mlp_width, **kw),
                         nnx.Linear(mlp_width, 2 * sum(self.adain_widths), **kw)])

  def adain_params(self, style):
    """MLP(s) -> [(scale, bias)] of each hidden convolution."""
    h = style
    for i, layer in enumerate(self.mlp):
      h = layer(h)
      h = jax.nn.relu(h) if i < len(self.mlp) - 1 else h
    params, start = [], 0
    for w in self.adain_widths:
      params.append((h[:, start:start + w], h[:, start + w:start + 2 * w]))
      start += 2 * w
    return params

  def __call__(self, content, style):
    x = jax.nn.relu(self.seed(content)).reshape(-1, self.base, self.base, self.seed_width)
    params = self.adain_params(style)
    for i, conv in enumerate(self.convs):
      if i % 3 == 0:
        x = upsample(x)
      x = conv(x)
      if i < len(params):
        x = jax.nn.relu(adain(x, *params[i]))
    return jnp.tanh(x)


class DomainAutoencoder(nnx.Module):
  """Ec, Es and D of one domain."""

  def __init__(self, channels: int, *, resolution: int, width: int, style_width: int,
               code_dim: int, style_dim: int, mlp_width: int, pool_grid: int,
               variational: bool, share: 'DomainAutoencoder | None' = None,
               shared_stages: int = 0, dtype=None, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, rngs=rngs)
    sharing = dict(shared_stages=shared_stages)
    self.content = ContentEncoder(channels, width=width, code_dim=code_dim, pool_grid=pool_grid,
                                  variational=variational, share=share and share.content,
                                  **sharing, **kw)
    self.style = StyleEncoder(channels, width=style_width, style_dim=style_dim,
                              variational=variational, **kw)
    self.decoder = Decoder(channels, resolution=resolution, width=width, code_dim=code_dim,
                           style_dim=style_dim, mlp_width=mlp_width,
                           share=share and share.decoder, **sharing, **kw)


class NULLModel(nnx.Module):
  """Both domains' autoencoders: `nir` (X1) and `vis` (X2); the generator player.

  resolution is the aligned crop's side R (divisible by 8 * pool_grid).
  """

  def __init__(self, *, resolution: int = 128, width: int = 64, style_width: int = 64,
               code_dim: int = 256, style_dim: int = 32, mlp_width: int = 256,
               pool_grid: int = 4, variational: bool = True, shared_stages: int = 0,
               dtype=None, rngs: nnx.Rngs):
    if resolution % (8 * pool_grid):
      raise ValueError(f'resolution {resolution} is not divisible by 8 * pool_grid '
                       f'= {8 * pool_grid}')
    if not 0 <= shared_stages <= 2:
      raise ValueError(f'shared_stages={shared_stages}: 0, 1 or 2 (the outer stages see '
                       'images of different channel counts)')
    self.resolution, self.style_dim, self.variational = resolution, style_dim, variational
    kw = dict(resolution=resolution, width=width, style_width=style_width, code_dim=code_dim,
              style_dim=style_dim, mlp_width=mlp_width, pool_grid=pool_grid,
              variational=variational, dtype=dtype, rngs=rngs)
    self.nir = DomainAutoencoder(DOMAINS['nir'], **kw)
    self.vis = DomainAutoencoder(DOMAINS['vis'], share=self.nir, shared_stages=shared_stages,
                                 **kw)

  def codes(self, domain: str, images, landmarks):
    """(content means, style means) of stored faces in [0, 255] through `domain`'s encoders;
    content means are the matching features (Sec. 3.1)."""
    x = model_input(images, landmarks, resolution=self.resolution, channels=DOMAINS[domain])
    autoencoder = getattr(self, domain)
    return autoencoder.content(x)[0], autoencoder.style(x)[0]

  def nir_to_vis(self, images, landmarks, style):
    """Stored NIR faces -> VIS faces D2(Ec1(x1), style) in [-1, 1], aligned at R x R."""
    x = model_input(images, landmarks, resolution=self.resolution, channels=DOMAINS['nir'])
    content, _ = self.nir.content(x)
    return self.vis.decoder(content, style)


def unalign(aligned, landmarks, size: int):
  """Aligned R x R crops (N, R, R, C) back into the stored size x size frames of faces with
  `landmarks` (N, 68, 2): the inverse of `model_input`'s similarity transform, so the stored
  landmarks fit the result (bilinear, the crop's edges replicated outside it)."""
  resolution = aligned.shape[1]
  template = jnp.asarray(align.mean_face(resolution))

  def one(image, points):
    m = align.similarity_transform(points.astype(jnp.float32), template)   # stored -> aligned
    rot_inv = jnp.linalg.inv(m[:, :2])
    inverse = jnp.concatenate([rot_inv, (-rot_inv @ m[:, 2])[:, None]], axis=1)
    return align.warp_affine(image, inverse, size)
  return jax.vmap(one)(aligned, landmarks)


class Translation(nnx.Module):
  """NULL's NIR -> VIS translation of stored faces, in the stored frame: the form
  `hfr_jax.evaluate.generation_curves` scores (PCFH's `NIRToVIS` is its twin).

  (N, H, W, 3) faces in [0, 1] (NIR in three equal channels) and their landmarks ->
  D2(Ec1(x1), style) in [0, 1], warped back from the aligned crop onto the probe's frame
  (`unalign`), so the probe's landmarks fit it. `style`: one (style_dim,) VIS style code
  for every probe (e.g. the mean style of the VIS gallery, or 0, the prior's mean).
  """

  def __init__(self, model: NULLModel, style):
    self.model = model
    self.style = nnx.Variable(jnp.asarray(style, jnp.float32))

  def __call__(self, images, landmarks):
    style = jnp.broadcast_to(self.style.value, (images.shape[0], self.model.style_dim))
    vis = self.model.nir_to_vis(images * 255.0, landmarks, style)
    return unalign((vis + 1.0) / 2.0, landmarks, images.shape[1])


class MultiScaleDiscriminator(nnx.Module):
  """A PatchGAN per scale; scale k sees the image average-pooled k times (MUNIT)."""

  def __init__(self, cin: int, *, width: int = 64, num_down: int = 3, num_scales: int = 3,
               spectral_norm: bool = False, dtype=None, rngs: nnx.Rngs):
    self.num_down = num_down
    self.scales = nnx.List([
        PatchDiscriminator(cin, width=width, num_down=num_down, spectral_norm=spectral_norm,
                           dtype=dtype, rngs=rngs) for _ in range(num_scales)])

  def __call__(self, x, *, update_stats: bool = True):
    """[score map of each scale], finest first."""
    smallest = x.shape[1] // 2**(len(self.scales) - 1)
    if smallest // 2**self.num_down < 3:
      raise ValueError(f'a {x.shape[1]}x{x.shape[2]} image is too small for {len(self.scales)} '
                       f'scales of {self.num_down} down-samplings (the coarsest would be '
                       f'{smallest}x{smallest})')
    scores = []
    for i, disc in enumerate(self.scales):
      if i:
        x = nnx.avg_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
                         count_include_pad=False)
      scores.append(disc(x, update_stats=update_stats))
    return scores


class Discriminators(nnx.Module):
  """DG1 judges NIR images, DG2 VIS images: the discriminator player."""

  def __init__(self, *, width: int = 64, num_down: int = 3, num_scales: int = 3,
               spectral_norm: bool = False, dtype=None, rngs: nnx.Rngs):
    kw = dict(width=width, num_down=num_down, num_scales=num_scales,
              spectral_norm=spectral_norm, dtype=dtype, rngs=rngs)
    self.nir = MultiScaleDiscriminator(DOMAINS['nir'], **kw)
    self.vis = MultiScaleDiscriminator(DOMAINS['vis'], **kw)
