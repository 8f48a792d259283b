"""NULL's autoencoders: gradients through the reparameterisation of the codes."""

import jax
import jax.numpy as jnp
import numpy as np

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
