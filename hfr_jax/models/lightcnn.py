"""LightCNN-9 / 29 / 29v2 (Wu et al., "A Light CNN for Deep Face Representation
with Noisy Labels", TIFS 2018) in Flax NNX, NHWC.

Input (N, S, S, 1) gray in [0, 1] (S = 128 for the released models). `model(x)`
returns `(logits, features)` with `features` the 256-d `fc` output, as the
original `forward` returns it: 29v2 hands back `fc` before dropout, 9 and 29
after it (the same thing in eval mode). Dropout (p = 0.5) acts only in train
mode (`model.train()` / `model.eval()`).

Layers keep the original attribute names (`conv1.filter`, `group1.conv_a`,
`block1[0].conv1`, `fc`, `fc2`) so the converter in `hfr_jax.tools` maps the
released PyTorch checkpoints one to one. The only layout difference: we
flatten (H, W, C) before `fc` where torch flattens (C, H, W); the converter
permutes `fc`'s rows so no transpose runs at inference.
"""

import functools

from flax import nnx
import jax
import jax.numpy as jnp


def _ch(channels: int, width: float) -> int:
  return max(1, int(round(channels * width)))


class MaxFeatureMap(nnx.Module):
  """Conv (or linear) to 2C outputs, then the element-wise max of the two halves."""

  def __init__(self, cin: int, cout: int, kernel: int = 3, padding: int = 1, *,
               linear: bool = False, dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    self.cout = cout
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    if linear:
      self.filter = nnx.Linear(cin, 2 * cout, **kw)
    else:
      self.filter = nnx.Conv(cin, 2 * cout, (kernel, kernel), padding=((padding, padding),) * 2,
                             **kw)

  def __call__(self, x):
    if isinstance(self.filter, nnx.Conv) and x.shape[-1] == 1:
      x = single_channel_conv(x, self.filter)
    else:
      x = self.filter(x)
    return jnp.maximum(x[..., :self.cout], x[..., self.cout:])


def single_channel_conv(x, conv: nnx.Conv):
  """`conv(x)` for a 1-channel input (stride 1, explicit padding): same numbers, faster forward.

  The forward is a sum of k*k shifted, broadcast products, which XLA fuses with the MFM and
  pool that follow; as a convolution, conv1 (5x5, 1 -> 96 channels at 128x128) ran at ~25
  GFLOP/s on CPU, ~17 % of LightCNN-29v2's forward. Gradients come from the convolution,
  whose backward is the faster one.
  """
  y = _shifted_products(x, conv.kernel[...], tuple(map(tuple, conv.padding)))
  return y if conv.bias is None else y + conv.bias[...]


def _conv(x, kernel, padding):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding,
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _shifted_products(x, kernel, padding):
  (top, bottom), (left, right) = padding
  kh, kw = kernel.shape[:2]
  xp = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  h, w = xp.shape[1] - kh + 1, xp.shape[2] - kw + 1
  return sum(xp[:, i:i + h, j:j + w, :] * kernel[i, j, 0] for i in range(kh) for j in range(kw))


def _shifted_products_fwd(x, kernel, padding):
  return _shifted_products(x, kernel, padding), (x, kernel)


def _shifted_products_bwd(padding, residuals, g):
  x, kernel = residuals
  # The forward promotes (float64 faces, float32 kernel under jax_enable_x64); the convolution
  # wants one dtype, and each cotangent the dtype of its primal.
  dtype = jnp.result_type(x, kernel)
  dx, dk = jax.vjp(lambda a, b: _conv(a, b, padding), x.astype(dtype), kernel.astype(dtype))[1](
      g.astype(dtype))
  return dx.astype(x.dtype), dk.astype(kernel.dtype)


_shifted_products.defvjp(_shifted_products_fwd, _shifted_products_bwd)


class Group(nnx.Module):
  """1x1 MFM (`conv_a`) then a k x k MFM (`conv`)."""

  def __init__(self, cin: int, cout: int, kernel: int = 3, padding: int = 1, **kw):
    self.conv_a = MaxFeatureMap(cin, cin, 1, 0, **kw)
    self.conv = MaxFeatureMap(cin, cout, kernel, padding, **kw)

  def __call__(self, x):
    return self.conv(self.conv_a(x))


class ResBlock(nnx.Module):

  def __init__(self, channels: int, **kw):
    self.conv1 = MaxFeatureMap(channels, channels, **kw)
    self.conv2 = MaxFeatureMap(channels, channels, **kw)

  def __call__(self, x):
    return self.conv2(self.conv1(x)) + x


def max_pool_ceil(x):
  """2x2/2 max pool with torch's ceil_mode=True (odd sizes keep their last row)."""
  pad = ((0, x.shape[1] % 2), (0, x.shape[2] % 2))
  return nnx.max_pool(x, (2, 2), strides=(2, 2), padding=pad)


def max_plus_avg_pool(x):
  """29v2's pooling: max_pool2d(x, 2) + avg_pool2d(x, 2)."""
  return (nnx.max_pool(x, (2, 2), strides=(2, 2), padding='VALID')
          + nnx.avg_pool(x, (2, 2), strides=(2, 2), padding='VALID'))


def _pooled(size: int, times: int, ceil: bool) -> int:
  for _ in range(times):
    size = -(-size // 2) if ceil else size // 2
  return size


class _LightCNN(nnx.Module):
  """Shared head: dropout (p = 0.5) and the classifier `fc2`."""
  returns_pre_dropout = False

  def _head(self, x):
    x = x.reshape(x.shape[0], -1)
    fc = self.fc(x)
    dropped = self.dropout(fc)
    return self.fc2(dropped), (fc if self.returns_pre_dropout else dropped)


class LightCNN9(_LightCNN):

  def __init__(self, num_classes: int, *, width: float = 1.0, input_size: int = 128,
               dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    c = lambda n: _ch(n, width)
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    self.conv1 = MaxFeatureMap(1, c(48), 5, 2, **kw)
    self.group1 = Group(c(48), c(96), **kw)
    self.group2 = Group(c(96), c(192), **kw)
    self.group3 = Group(c(192), c(128), **kw)
    self.group4 = Group(c(128), c(128), **kw)
    side = _pooled(input_size, 4, ceil=True)
    self.fc = MaxFeatureMap(side * side * c(128), 256, linear=True, **kw)
    self.dropout = nnx.Dropout(0.5, rngs=rngs)
    self.fc2 = nnx.Linear(256, num_classes, **kw)

  def __call__(self, x):
    x = max_pool_ceil(self.conv1(x))
    x = max_pool_ceil(self.group1(x))
    x = max_pool_ceil(self.group2(x))
    x = max_pool_ceil(self.group4(self.group3(x)))
    return self._head(x)


class _LightCNN29Body(_LightCNN):
  """conv1, blocks 1-4 ([1, 2, 3, 4] residual blocks) and groups 1-4."""

  def _body(self, width, kw):
    c = lambda n: _ch(n, width)
    self.conv1 = MaxFeatureMap(1, c(48), 5, 2, **kw)
    self.block1 = nnx.List([ResBlock(c(48), **kw) for _ in range(1)])
    self.group1 = Group(c(48), c(96), **kw)
    self.block2 = nnx.List([ResBlock(c(96), **kw) for _ in range(2)])
    self.group2 = Group(c(96), c(192), **kw)
    self.block3 = nnx.List([ResBlock(c(192), **kw) for _ in range(3)])
    self.group3 = Group(c(192), c(128), **kw)
    self.block4 = nnx.List([ResBlock(c(128), **kw) for _ in range(4)])
    self.group4 = Group(c(128), c(128), **kw)
    return c(128)

  def _features(self, x, pool):
    x = pool(self.conv1(x))
    for blocks, group, pooled in ((self.block1, self.group1, True),
                                  (self.block2, self.group2, True),
                                  (self.block3, self.group3, False),
                                  (self.block4, self.group4, True)):
      for block in blocks:
        x = block(x)
      x = group(x)
      if pooled:
        x = pool(x)
    return x


class LightCNN29(_LightCNN29Body):

  def __init__(self, num_classes: int, *, width: float = 1.0, input_size: int = 128,
               dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    channels = self._body(width, kw)
    side = _pooled(input_size, 4, ceil=True)
    self.fc = MaxFeatureMap(side * side * channels, 256, linear=True, **kw)
    self.dropout = nnx.Dropout(0.5, rngs=rngs)
    self.fc2 = nnx.Linear(256, num_classes, **kw)

  def __call__(self, x):
    return self._head(self._features(x, max_pool_ceil))


class LightCNN29v2(_LightCNN29Body):
  returns_pre_dropout = True

  def __init__(self, num_classes: int, *, width: float = 1.0, input_size: int = 128,
               dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
    kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
    channels = self._body(width, kw)
    side = _pooled(input_size, 4, ceil=False)
    self.fc = nnx.Linear(side * side * channels, 256, **kw)
    self.dropout = nnx.Dropout(0.5, rngs=rngs)
    self.fc2 = nnx.Linear(256, num_classes, use_bias=False, **kw)

  def __call__(self, x):
    return self._head(self._features(x, max_plus_avg_pool))


ARCHITECTURES = {'9': LightCNN9, '29': LightCNN29, '29v2': LightCNN29v2}
FACTORY = 'hfr_jax.models.lightcnn:create'


def create(arch: str, *, num_classes: int, width: float = 1.0, input_size: int = 128,
           dtype=None, param_dtype=jnp.float32, rngs: nnx.Rngs):
  """A LightCNN whose `input_size` (the side of the gray crop it takes) travels with it."""
  if arch not in ARCHITECTURES:
    raise ValueError(f'unknown LightCNN arch {arch!r}; one of {sorted(ARCHITECTURES)}')
  model = ARCHITECTURES[arch](num_classes, width=width, input_size=input_size, dtype=dtype,
                              param_dtype=param_dtype, rngs=rngs)
  model.arch, model.input_size = arch, input_size
  return model


def zero_init_residual(model):
  """Zeroes the last convolution of every residual block: each block starts as the identity.

  Goyal et al. 2017 (Sec. 5.1) zero the last BN scale of each block; LightCNN has no BN. Under
  Flax's LeCun-normal init the ten blocks of LightCNN-29 each add their input to a branch of
  similar size, so at init its logits are ~100x LightCNN-9's (std ~60-100 vs ~1 at width 0.5)
  and softmax training from scratch stalls at chance. Returns `model`, changed in place.
  """
  for _, module in nnx.iter_graph(model):
    if isinstance(module, ResBlock):
      kernel = module.conv2.filter.kernel
      kernel[...] = jnp.zeros_like(kernel[...])
  return model
