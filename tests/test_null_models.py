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
