"""NULL's losses, each against numpy; the KL against its closed form and a Monte Carlo estimate."""

import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.null import losses


def test_reconstruction_losses_are_mean_absolute_errors():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 4, 8, 8, 3)).astype(np.float32)
  np.testing.assert_allclose(losses.image_reconstruction(a, b), np.mean(np.abs(a - b)), rtol=1e-6)
  c, d = rng.normal(size=(2, 5, 16)).astype(np.float32)
  np.testing.assert_allclose(losses.latent_reconstruction(c, d), np.mean(np.abs(c - d)),
                             rtol=1e-6)


def test_lsgan_terms_average_the_scales():
  rng = np.random.default_rng(1)
  real = [rng.normal(size=(3, s, s, 1)).astype(np.float32) for s in (6, 2)]
  fake = [rng.normal(size=(3, s, s, 1)).astype(np.float32) for s in (6, 2)]
  want_g = np.mean([np.mean((f - 1) ** 2) for f in fake])
  want_d = np.mean([np.mean((r - 1) ** 2) + np.mean(f ** 2) for r, f in zip(real, fake)])
  np.testing.assert_allclose(losses.adversarial_generator(fake), want_g, rtol=1e-6)
  np.testing.assert_allclose(losses.adversarial_critic(real, fake), want_d, rtol=1e-6)


def test_total_weighs_each_term():
  terms = {'recon_x': 2.0, 'recon_c': 3.0, 'kl': 5.0}
  weights = {'recon_x': 10.0, 'recon_c': 1.0, 'kl': 0.01, 'gan': 7.0}
  assert losses.weighted_total(terms, weights) == pytest.approx(20.0 + 3.0 + 0.05)


def test_kl_matches_the_closed_form_and_a_monte_carlo_estimate():
  rng = np.random.default_rng(2)
  mean = rng.normal(size=(3, 6))
  logvar = rng.normal(scale=0.5, size=(3, 6))
  got = float(losses.kl_standard_normal(jnp.asarray(mean, jnp.float32),
                                        jnp.asarray(logvar, jnp.float32)))
  # Closed form of two multivariate normals, KL(N(m, S) || N(0, I)) = (tr S + m'm - d - ln|S|) / 2,
  # with full covariance matrices.
  closed = []
  for m, v in zip(mean, logvar):
    cov = np.diag(np.exp(v))
    closed.append(0.5 * (np.trace(cov) + m @ m - len(m) - np.linalg.slogdet(cov)[1]))
  np.testing.assert_allclose(got, np.mean(closed), rtol=1e-5)
  # Monte Carlo: E_q[log q(z) - log p(z)], 200k samples per row.
  eps = rng.normal(size=(200_000, 1, 6))
  z = mean + np.exp(0.5 * logvar) * eps
  log_q = -0.5 * (eps ** 2 + logvar + np.log(2 * np.pi)).sum(-1)
  log_p = -0.5 * (z ** 2 + np.log(2 * np.pi)).sum(-1)
  np.testing.assert_allclose(got, np.mean(log_q - log_p), rtol=0.02)
