"""The GAN terms every method shares, against numpy."""

import numpy as np

from hfr_jax import gan_losses

RNG = np.random.default_rng(0)
N = 3


def test_gan_terms_hinge_linear_and_lsgan():
  d_real, d_fake = RNG.normal(size=(N, 4, 4, 1)), RNG.normal(size=(N, 4, 4, 1))
  np.testing.assert_allclose(gan_losses.linear_generator(d_fake), -d_fake.mean(), rtol=1e-6)
  want = np.maximum(0, 1 - d_real).mean() + np.maximum(0, 1 + d_fake).mean()
  np.testing.assert_allclose(gan_losses.hinge_critic(d_real, d_fake), want, rtol=1e-6)
  np.testing.assert_allclose(gan_losses.lsgan_critic(d_real, d_fake),
                             np.mean((d_real - 1) ** 2) + np.mean(d_fake ** 2), rtol=1e-6)
  np.testing.assert_allclose(gan_losses.lsgan_generator(d_fake), np.mean((d_fake - 1) ** 2),
                             rtol=1e-6)
  # Two scales of different sizes: the mean of the per-scale losses.
  small_r, small_f = d_real[:, :2, :2], d_fake[:, :2, :2]
  np.testing.assert_allclose(
      gan_losses.multiscale(gan_losses.lsgan_critic, [d_real, small_r], [d_fake, small_f]),
      (gan_losses.lsgan_critic(d_real, d_fake) + gan_losses.lsgan_critic(small_r, small_f)) / 2,
      rtol=1e-6)
