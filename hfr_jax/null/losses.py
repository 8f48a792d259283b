"""NULL's objective (Sec. 3.3), term by term, as pure functions of arrays.

The paper writes MUNIT's bidirectional reconstruction losses (Huang et al.
2018, Eqs. 1-3) and adds a KL term for its VAE settings; it prints no
weights. L1 terms are per-element means (`gan_losses.l1_mean`), as MUNIT's
code computes them; the KL is the textbook one, nats per sample summed over
the code's dimensions. Weights live in configs/null.py (`config.loss`).
"""

import jax.numpy as jnp

from hfr_jax import gan_losses


def image_reconstruction(reconstructed, image):
  """L^x_recon = E |D(Ec(x), Es(x)) - x|_1 (Sec. 3.3, image -> latent -> image)."""
  return gan_losses.l1_mean(reconstructed - image)


def latent_reconstruction(reconstructed, code):
  """L^c_recon / L^s_recon = E |E(D(c, s)) - code|_1 (Sec. 3.3, latent -> image -> latent)."""
  return gan_losses.l1_mean(reconstructed - code)


def kl_standard_normal(mean, logvar):
  """KL(N(mean, exp(logvar)) || N(0, I)), summed over the code, mean over the batch.

  Closed form per dimension: (mean^2 + exp(logvar) - 1 - logvar) / 2.
  """
  per_dim = 0.5 * (jnp.square(mean) + jnp.exp(logvar) - 1.0 - logvar)
  return per_dim.reshape(per_dim.shape[0], -1).sum(axis=1).mean()


def adversarial_generator(fake_scores):
  """L_GAN, the translator's side: LSGAN E (DG(x_{2->1}) - 1)^2, averaged over scales."""
  return gan_losses.multiscale(gan_losses.lsgan_generator, fake_scores)


def adversarial_critic(real_scores, fake_scores):
  """L_GAN, the discriminator's side: E (DG(x1) - 1)^2 + E DG(x_{2->1})^2, averaged over scales."""
  return gan_losses.multiscale(gan_losses.lsgan_critic, real_scores, fake_scores)


def weighted_total(terms: dict, weights: dict):
  """The total loss: sum of weights[k] * terms[k] (Sec. 3.3, 'Total loss')."""
  return sum(weights[k] * v for k, v in terms.items())
