"""NULL's autoencoders: gradients through the reparameterisation of the codes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.models import null as null_models


def test_reparameterisation_passes_gradients_to_mean_and_log_variance():
  """E (mean + sigma eps)^2 = mean^2 + exp(logvar): d/dmean = 2 mean, d/dlogvar = exp(logvar)."""
  mean = jnp.array([0.5, -1.0, 2.0])
  logvar = jnp.array([0.0, -1.0, 0.7])
  samples = 100_000

  def expected_square(mean, logvar):
    m = jnp.broadcast_to(mean, (samples, 3))
    v = jnp.broadcast_to(logvar, (samples, 3))
    return jnp.mean(null_models.sample(jax.random.key(0), m, v) ** 2, axis=0).sum()

  g_mean, g_logvar = jax.grad(expected_square, argnums=(0, 1))(mean, logvar)
  assert np.all(np.abs(g_mean) > 0) and np.all(np.abs(g_logvar) > 0)
  np.testing.assert_allclose(g_mean, 2 * mean, atol=0.05)
  np.testing.assert_allclose(g_logvar, jnp.exp(logvar), rtol=0.05)
  # Without a log-variance (base settings) the code is the mean itself.
  assert null_models.sample(jax.random.key(0), mean, None) is mean


def test_unalign_takes_an_aligned_crop_back_onto_the_stored_faces_frame():
  """Aligning a smooth image onto the mean face and back gives it again where the face is."""
  from hfr_jax.ops import align
  size, resolution = 64, 32
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
  image = np.stack([np.sin(xs / 9.0), np.cos(ys / 7.0), np.sin((xs + ys) / 11.0)], -1)
  # A face at another scale, place and roll than the template's.
  template = align.mean_face(resolution)
  angle, scale, shift = 0.2, 1.6, np.array([4.0, -3.0])
  rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
  landmarks = (template - 16.0) @ rot.T + 32.0 + shift
  aligned, moved = align.align(jnp.asarray(image), jnp.asarray(landmarks, jnp.float32),
                               jnp.asarray(template), resolution)
  np.testing.assert_allclose(moved, template, atol=1e-3)
  back = np.asarray(null_models.unalign(aligned[None], jnp.asarray(landmarks[None]), size))[0]
  lo, hi = np.floor(landmarks.min(0)).astype(int), np.ceil(landmarks.max(0)).astype(int)
  face = (slice(lo[1], hi[1]), slice(lo[0], hi[0]))
  # Bilinear twice, at 32 px for a 64-px face: the smooth image survives to a few percent.
  assert np.abs(back[face] - image[face]).mean() < 0.03
  assert np.abs(back[face] - image[face]).mean() < 0.2 * np.abs(image[face] - image[face].mean()).mean()


def _param_count(model):
  from flax import nnx
  return sum(int(np.size(p)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


@pytest.mark.heavy(40)
def test_shared_stages_are_one_set_of_weights_for_both_domains():
  """UNIT's sharing: with shared_stages=1, Ec's last stage and FC and D's first stage and
  seed are one set of weights; writing the NIR copy moves the VIS codes, and the model has
  exactly that many fewer parameters."""
  from flax import nnx
  kw = dict(resolution=32, width=4, style_width=4, code_dim=8, style_dim=4, mlp_width=8,
            pool_grid=2, variational=False)
  separate = null_models.NULLModel(shared_stages=0, rngs=nnx.Rngs(0), **kw)
  shared = null_models.NULLModel(shared_stages=1, rngs=nnx.Rngs(0), **kw)
  x = jax.random.uniform(jax.random.key(1), (2, 32, 32, 3), minval=-1, maxval=1)
  before = {name: m.vis.content(x)[0] for name, m in (('separate', separate),
                                                      ('shared', shared))}
  for m in (separate, shared):
    conv = m.nir.content.stages[2][0].conv
    conv.kernel[...] = conv.kernel[...] + 0.5
  moved = {name: float(jnp.abs(m.vis.content(x)[0] - before[name]).max())
           for name, m in (('separate', separate), ('shared', shared))}
  assert moved['separate'] == 0.0 and moved['shared'] > 1e-3
  # What sharing saves: the last content stage with the FC, and D's seed with its first stage.
  c, d = shared.vis.content, shared.vis.decoder
  saved = (_param_count(c.stages[2]) + _param_count(c.fc) + _param_count(d.seed)
           + sum(_param_count(d.convs[i]) for i in range(3)))
  assert _param_count(separate) - _param_count(shared) == saved
