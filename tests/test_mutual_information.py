"""The MI estimator: DV bound against numpy, and against the Gaussian closed form."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.pcfh import mutual_information as mi


def gaussian_pairs(n, d, rho, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, d))
  return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(n, d))


def test_donsker_varadhan_against_numpy():
  rng = np.random.default_rng(0)
  tj, tm = rng.normal(size=50), rng.normal(size=70)
  want = tj.mean() - np.log(np.mean(np.exp(np.float64(tm))))
  np.testing.assert_allclose(mi.donsker_varadhan(tj, tm), want, rtol=1e-5)


def test_shuffle_pairs_every_row_with_another():
  x = jnp.arange(10.0)[:, None]
  for seed in range(20):
    y = np.asarray(mi.shuffled(jax.random.key(seed), x))[:, 0]
    assert sorted(y) == list(range(10)) and not np.any(y == np.arange(10))


def test_bound_with_the_true_log_density_ratio_is_the_closed_form():
  # T* = log p(a, b) / (p(a) p(b)) makes DV tight: no training involved.
  d, rho, n = 3, 0.6, 200_000
  a, b = gaussian_pairs(n, d, rho)
  def log_ratio(a, b):
    q = (a**2 - 2 * rho * a * b + b**2) / (1 - rho**2) - a**2 - b**2
    return np.sum(-0.5 * q - 0.5 * np.log(1 - rho**2), axis=-1)
  rng = np.random.default_rng(1)
  bound = mi.donsker_varadhan(log_ratio(a, b), log_ratio(a, b[rng.permutation(n)]))
  closed = -d / 2 * np.log(1 - rho**2)
  np.testing.assert_allclose(float(bound), closed, rtol=0.03)


@pytest.mark.parametrize('d,rho', [(2, 0.8), (5, 0.5)])
def test_estimate_matches_gaussian_closed_form(d, rho):
  x, y = gaussian_pairs(4096, d, rho)
  closed = -d / 2 * np.log(1 - rho**2)
  est = mi.estimate_mutual_information(x, y, steps=500, seed=0)
  assert abs(est - closed) < 0.15 * closed, (est, closed)


def test_independent_variables_give_near_zero():
  x, _ = gaussian_pairs(4096, 3, 0.0, seed=1)
  _, y = gaussian_pairs(4096, 3, 0.0, seed=2)
  assert abs(mi.estimate_mutual_information(x, y, steps=500)) < 0.1


def test_bad_shapes_are_named():
  with pytest.raises(ValueError, match='same number'):
    mi.estimate_mutual_information(np.zeros((5, 2)), np.zeros((6, 2)))
  with pytest.raises(ValueError, match=r'\[N, D\]'):
    mi.estimate_mutual_information(np.zeros(5), np.zeros((5, 2)))


def test_conv_statistics_find_more_information_in_dependent_images():
  """NE, trained briefly, bounds I on held-out pairs: high when b = -a, ~0 when independent."""
  rng = np.random.default_rng(0)
  images = lambda n: jnp.asarray(rng.uniform(-1, 1, (n, 8, 8, 1)), jnp.float32)
  a, a_test = images(64), images(256)
  pairs = {'dependent': (-a, -a_test), 'independent': (images(64), images(256))}
  bounds = {}
  for name, (b, b_test) in pairs.items():
    net = mi.ConvStatistics(1, 1, width=8, depth=2, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(net, __import__('optax').adam(3e-3), wrt=nnx.Param)

    @nnx.jit
    def step(net, opt, k):
      g = nnx.grad(lambda m: -mi.mi_lower_bound(m, a, b, k)[0])(net)
      opt.update(net, g)

    for i in range(150):
      step(net, opt, jax.random.key(i))
    bounds[name] = float(np.mean([mi.mi_lower_bound(net, a_test, b_test,
                                                    jax.random.key(1000 + i))[0]
                                  for i in range(8)]))
  assert bounds['dependent'] > 1.0 and bounds['independent'] < 0.2, bounds
