"""GAN objectives and L1 norms every method shares, as pure functions of arrays.

Critic terms take the discriminator's raw scores on real and generated
samples (any shape: PatchGAN maps are averaged over patches); generator
terms take its scores on generated samples. Lists of scores (multi-scale
discriminators, as in MUNIT) are averaged over scales by `multiscale`.
"""

import jax
import jax.numpy as jnp


def l1_norm(x):
  """E |x|_1: per-sample L1 norm (sum over all but the leading axis), batch mean."""
  return jnp.abs(x).reshape(x.shape[0], -1).sum(axis=1).mean()


def l1_mean(x):
  """Mean absolute value over every element (the per-pixel reading of E |x|_1)."""
  return jnp.abs(x).mean()


def hinge_critic(d_real, d_fake):
  """E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))) (Lim & Ye 2017)."""
  return jax.nn.relu(1.0 - d_real).mean() + jax.nn.relu(1.0 + d_fake).mean()


def linear_generator(d_fake):
  """-E D(G(z)): the generator term that belongs to the hinge critic (SAGAN, BigGAN)."""
  return -d_fake.mean()


def lsgan_critic(d_real, d_fake):
  """E (D(x) - 1)^2 + E D(G(z))^2 (Mao et al. 2017, the a=0, b=c=1 coding; MUNIT's choice)."""
  return jnp.mean((d_real - 1.0) ** 2) + jnp.mean(d_fake ** 2)


def lsgan_generator(d_fake):
  """E (D(G(z)) - 1)^2."""
  return jnp.mean((d_fake - 1.0) ** 2)


CRITIC = {'hinge': hinge_critic, 'lsgan': lsgan_critic}
GENERATOR = {'hinge': linear_generator, 'lsgan': lsgan_generator}


def multiscale(loss, *scores):
  """Mean of `loss` over the scales of a multi-scale discriminator's score lists."""
  return sum(loss(*s) for s in zip(*scores)) / len(scores[0])
