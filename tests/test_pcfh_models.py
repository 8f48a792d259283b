"""GA / GB / A / DA: paper-scale shapes without allocating, and what max-out fusion implies."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.models import discriminators
from hfr_jax.models import pcfh
from hfr_jax.ops import mean_shape
from hfr_jax.ops import patches as patches_lib


def face_landmarks(resolution):
  shape = mean_shape.MEAN_SHAPE_68
  shape = (shape - shape.mean(0)) / np.ptp(shape, axis=0).max()
  return (shape * 0.7 * resolution + resolution / 2).astype(np.float32)


@pytest.mark.parametrize('resolution', [144, 256])
def test_paper_scale_shapes_with_eval_shape(resolution):
  def build_and_run():
    g = pcfh.Generators(resolution=resolution, rngs=nnx.Rngs(0))
    d = discriminators.PatchDiscriminator(rngs=nnx.Rngs(1))
    nir = jnp.zeros((8, resolution, resolution, 1))
    lm = jnp.broadcast_to(face_landmarks(resolution), (8, 68, 2))
    fake = g.ga(nir, lm)
    return fake, g.gb(fake), g.attention(nir, fake), d(fake)

  fake, rec, att, score = jax.eval_shape(build_and_run)
  r = resolution
  assert fake.shape == (8, r, r, 3) and rec.shape == (8, r, r, 1) and att.shape == (8, r, r, 1)
  # PatchGAN: three stride-2 4x4 convs then two stride-1 4x4 convs with padding 1.
  side = r // 8 - 2
  assert score.shape == (8, side, side, 1)


def test_outside_the_patches_ga_is_its_global_path():
  r = 48
  ga = pcfh.MultiPathGenerator(1, 3, resolution=r, width=8, num_res=1, local_num_res=1,
                               rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(1), (2, r, r, 1), minval=-1, maxval=1)
  lm = jnp.broadcast_to(face_landmarks(r), (2, 68, 2))
  before = ga(x, lm)
  # Change only the local paths' weights.
  for path in ga.local_paths.values():
    state = nnx.state(path, nnx.Param)
    nnx.update(path, jax.tree.map(lambda p: p + 0.5, state))
  after = ga(x, lm)
  changed = np.abs(np.asarray(after - before)).max(axis=(0, 3)) > 1e-6
  # The union of patch boxes, grown by the 7x7 head's reach (3 px).
  boxes = np.zeros((r, r), bool)
  sizes = patches_lib.patch_sizes(r)
  offsets = patches_lib.patch_offsets(jnp.asarray(face_landmarks(r)), (r, r), sizes)
  for name, (h, w) in sizes.items():
    top, left = np.asarray(offsets[name])
    boxes[max(top - 3, 0):top + h + 3, max(left - 3, 0):left + w + 3] = True
  assert changed.any(), 'local paths had no effect at all'
  assert not changed[~boxes].any(), 'local paths changed pixels outside their patches'


def test_attention_is_a_map_in_unit_interval():
  a = pcfh.AttentionModule(4, width=4, num_res=1, rngs=nnx.Rngs(0))
  x = 10 * jax.random.normal(jax.random.key(0), (2, 16, 16, 1))
  y = 10 * jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
  att = np.asarray(a(x, y))
  assert att.shape == (2, 16, 16, 1) and att.min() >= 0 and att.max() <= 1


def test_spectral_norm_power_iteration_finds_the_largest_singular_value():
  d = discriminators.PatchDiscriminator(3, width=4, num_down=2, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (1, 32, 32, 3))
  for _ in range(50):   # one power iteration per training call
    d(x)
  for layer in (d.layers[0], d.layers[1]):
    kernel = np.asarray(layer.conv.kernel[...], np.float64)
    sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
    np.testing.assert_allclose(float(layer.sigma[...]), sigma, rtol=1e-3)
  # The layer's output is the plain conv's divided by sigma.
  layer = d.layers[0]
  raw = np.asarray(layer.conv(x))
  normed = np.asarray(layer(x, update_stats=False))
  bias = np.asarray(layer.conv.bias[...])
  np.testing.assert_allclose((normed - bias) * float(layer.sigma[...]), raw - bias, rtol=2e-3,
                             atol=1e-4)
