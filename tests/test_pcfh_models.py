"""GA / GB / A / DA: paper-scale shapes without allocating, and what max-out fusion implies."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.models import discriminators
from hfr_jax.models import pcfh
from hfr_jax.ops import align
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


def _patch_neighbourhood(r, name):
  """A patch's box on the face, grown by the 7x7 RGB head's reach (3 px)."""
  sizes = patches_lib.patch_sizes(r)
  top, left = np.asarray(patches_lib.patch_offsets(jnp.asarray(face_landmarks(r)), (r, r),
                                                   sizes)[name])
  h, w = sizes[name]
  box = np.zeros((r, r), bool)
  box[max(top - 3, 0):top + h + 3, max(left - 3, 0):left + w + 3] = True
  return box


def test_each_eye_has_its_own_path():
  ga = pcfh.MultiPathGenerator(1, 3, resolution=48, width=8, num_res=1, local_num_res=1,
                               rngs=nnx.Rngs(0))
  assert set(ga.local_paths) == set(patches_lib.PATCHES)
  left, right = (ga.local_paths[n].stem.conv.kernel for n in ('left_eye', 'right_eye'))
  assert left is not right
  assert not np.allclose(left[...], right[...])


@pytest.mark.parametrize('name', patches_lib.PATCHES)
def test_a_local_path_changes_ga_only_around_its_own_patch(name):
  # TP-GAN's max-out: outside its patch a local path has no say, so perturbing
  # one path (a left eye shared with the right eye would fail this) moves GA's
  # output near that patch and nowhere else.
  r = 48
  ga = pcfh.MultiPathGenerator(1, 3, resolution=r, width=8, num_res=1, local_num_res=1,
                               rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(1), (2, r, r, 1), minval=-1, maxval=1)
  lm = jnp.broadcast_to(face_landmarks(r), (2, 68, 2))
  before = ga(x, lm)
  path = ga.local_paths[name]
  nnx.update(path, jax.tree.map(lambda p: p + 0.5, nnx.state(path, nnx.Param)))
  changed = np.abs(np.asarray(ga(x, lm) - before)).max(axis=(0, 3)) > 1e-6
  own = _patch_neighbourhood(r, name)
  others = np.any([_patch_neighbourhood(r, n) for n in patches_lib.PATCHES if n != name], 0)
  assert (others & ~own).any(), 'the other patches must lie partly outside this one'
  assert changed[own].any(), f'the {name} path had no effect in its own patch'
  assert not changed[~own].any(), f'the {name} path changed pixels outside its patch'


def test_attention_responds_to_the_warped_vis_image_and_learns():
  # Att must read the warp (to tell where it is trustworthy), not the NIR alone,
  # and every parameter must receive gradient from a loss on the map.
  a = pcfh.AttentionModule(4, width=4, num_res=1, rngs=nnx.Rngs(0))
  keys = jax.random.split(jax.random.key(0), 4)
  nir = jax.random.uniform(keys[0], (2, 16, 16, 1), minval=-1, maxval=1)
  vis_a, vis_b = (jax.random.uniform(k, (2, 16, 16, 3), minval=-1, maxval=1) for k in keys[1:3])
  diff = np.abs(np.asarray(a(nir, vis_a) - a(nir, vis_b)))
  assert (diff.reshape(2, -1).max(axis=1) > 1e-3).all(), 'Att ignores the warped VIS image'
  cot = jax.random.normal(keys[3], (2, 16, 16, 1))
  grads = nnx.grad(lambda m: jnp.sum(m(nir, vis_a) * cot))(a)
  for path, g in jax.tree_util.tree_leaves_with_path(nnx.state(grads, nnx.Param)):
    assert np.abs(np.asarray(g)).max() > 0, f'no gradient reaches {jax.tree_util.keystr(path)}'


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


@pytest.mark.parametrize('skips', [False, True])
def test_skips_carry_the_input_past_a_silenced_bottleneck(skips):
  """With the decoder's weights on the bottleneck's channels zeroed, only the skips can carry
  the input to the output: with them a pixel's change reaches the output, without them
  nothing does (TP-GAN's decoder takes each encoder scale; CycleGAN's does not)."""
  width, num_down = 4, 2
  path = pcfh.EncoderDecoder(1, width, num_down=num_down, num_res=1, skips=skips,
                             rngs=nnx.Rngs(0))
  assert [layer.conv.in_features for layer in path.up] == [
      width * 2**(i + 1) + (width * 2**i if skips else 0) for i in reversed(range(num_down))]
  first = path.up[0].conv
  first.kernel.value = first.kernel.value.at[:, :, :width * 2**num_down].set(0.0)
  x = jax.random.normal(jax.random.key(1), (1, 16, 16, 1))
  moved = path(x.at[0, 8, 8, 0].add(5.0)) - path(x)
  assert (float(jnp.abs(moved).max()) > 1e-3) == skips


def test_input_residual_ga_starts_as_the_identity_and_learns_a_change_of_it():
  """With `input_residual`, GA(x) = tanh(head(fused) + atanh(0.99 x)) with the head at zero:
  at initialisation every colour channel is 0.99 x, whatever the paths compute; a head
  moved by delta adds delta to the pre-activation, so GA(x) = tanh(delta + atanh(0.99 x))."""
  x = jax.random.uniform(jax.random.key(0), (2, 32, 32, 1), minval=-1.0, maxval=1.0)
  landmarks = jnp.broadcast_to(align.mean_face(32), (2, 68, 2))
  ga = pcfh.MultiPathGenerator(1, 3, resolution=32, width=4, num_res=1, local_num_res=1,
                               input_residual=True, rngs=nnx.Rngs(0))
  np.testing.assert_allclose(np.asarray(ga(x, landmarks)),
                             np.repeat(0.99 * np.asarray(x), 3, axis=-1), atol=1e-5)
  ga.head.bias.value = jnp.asarray([0.5, -0.25, 0.0])
  expected = np.tanh(np.array([0.5, -0.25, 0.0]) + np.arctanh(0.99 * np.asarray(x)))
  np.testing.assert_allclose(np.asarray(ga(x, landmarks)), expected, atol=1e-5)
  # The paper's GA (no residual) draws from its features alone: not the input at init.
  plain = pcfh.MultiPathGenerator(1, 3, resolution=32, width=4, num_res=1, local_num_res=1,
                                  rngs=nnx.Rngs(0))
  assert float(jnp.abs(plain(x, landmarks) - 0.99 * x).mean()) > 0.1
