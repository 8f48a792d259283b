"""The MI estimator: DV bound against numpy, and against the Gaussian closed form."""

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hfr_jax.pcfh import mutual_information as mi


def gaussian_pairs(n, d, rho, seed=0):
  """D independent coordinate pairs of correlation rho: I = -(D/2) log(1 - rho^2)."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, d))
  return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(n, d))


def test_donsker_varadhan_against_numpy():
  rng = np.random.default_rng(0)
  tj, tm = rng.normal(size=50), rng.normal(size=70)
  want = tj.mean() - np.log(np.mean(np.exp(np.float64(tm))))
  np.testing.assert_allclose(mi.donsker_varadhan(tj, tm), want, rtol=1e-5)


def test_corrected_dv_has_the_dv_value_and_mines_moving_average_gradient():
  rng = np.random.default_rng(0)
  tj, tm = jnp.asarray(rng.normal(size=50)), jnp.asarray(rng.normal(size=70))
  decay, m = 0.9, 1.7
  (bound, log_m), grad_tm = jax.value_and_grad(
      lambda t: mi.donsker_varadhan_corrected(tj, t, jnp.log(m), decay=decay),
      has_aux=True)(tm)
  m_new = decay * m + (1 - decay) * np.mean(np.exp(tm))
  np.testing.assert_allclose(bound, mi.donsker_varadhan(tj, tm), rtol=1e-5)
  np.testing.assert_allclose(np.exp(log_m), m_new, rtol=1e-5)
  # d/dT_k of -log mean(exp T) becomes -exp(T_k) / (N m) (Belghazi et al. 2018, Sec. 3.2).
  np.testing.assert_allclose(grad_tm, -np.exp(tm) / (len(tm) * m_new), rtol=1e-5)


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


@pytest.mark.parametrize('d,rho,ema_decay', [(2, 0.8, None), (5, 0.5, None), (2, 0.8, 0.99)])
def test_estimate_matches_gaussian_closed_form(d, rho, ema_decay):
  x, y = gaussian_pairs(4096, d, rho)
  closed = -d / 2 * np.log(1 - rho**2)
  est = mi.estimate_mutual_information(x, y, steps=500, seed=0, ema_decay=ema_decay)
  assert abs(est - closed) < 0.15 * closed, (est, closed)


def test_independent_variables_give_near_zero():
  x, _ = gaussian_pairs(4096, 3, 0.0, seed=1)
  _, y = gaussian_pairs(4096, 3, 0.0, seed=2)
  est = mi.estimate_mutual_information(x, y, steps=500)
  assert abs(est) < 0.05, est


def test_bad_shapes_are_named():
  with pytest.raises(ValueError, match='same number'):
    mi.estimate_mutual_information(np.zeros((5, 2)), np.zeros((6, 2)))
  with pytest.raises(ValueError, match=r'\[N, D\]'):
    mi.estimate_mutual_information(np.zeros(5), np.zeros((5, 2)))


def test_conv_statistics_score_each_pair_on_its_own_at_any_size():
  """T(a[p][:2], b[p][:2]) = T(a, b)[p][:2]: no batch statistics, so only the pairing matters."""
  # The same shapes as the training test below, so eager initialisation compiles once.
  net = mi.ConvStatistics(1, 1, width=8, depth=2, rngs=nnx.Rngs(0))
  rng = np.random.default_rng(0)
  for h, w in [(32, 32), (144, 112), (256, 256)]:
    a, b = rng.normal(size=(4, h, w, 1)), rng.normal(size=(4, h, w, 1))
    perm = rng.permutation(4)
    t = np.asarray(net(a, b))
    assert t.shape == (4,) and np.all(np.isfinite(t))
    np.testing.assert_allclose(net(a[perm][:2], b[perm][:2]), t[perm][:2],
                               rtol=1e-4, atol=1e-5)


def test_conv_statistics_find_more_information_in_dependent_images():
  """NE, trained briefly, bounds I on held-out pairs: high when b = -a, ~0 when independent."""
  rng = np.random.default_rng(0)
  images = lambda n: jnp.asarray(rng.uniform(-1, 1, (n, 8, 8, 1)), jnp.float32)
  a, a_test = images(64), images(256)
  pairs = {'dependent': (-a, -a_test), 'independent': (images(64), images(256))}
  bounds = {}
  for name, (b, b_test) in pairs.items():
    net = mi.ConvStatistics(1, 1, width=8, depth=2, rngs=nnx.Rngs(0))
    opt = nnx.Optimizer(net, optax.adam(3e-3), wrt=nnx.Param)

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


def test_jensen_shannon_with_the_optimal_classifier_is_2_js_minus_log_4():
  # A 2x2 joint p and its product of marginals q, as samples in exact proportions. The
  # optimal classifier's logit is T* = log p / q; the bound then is 2 JS(p || q) - log 4
  # (scipy: jensenshannon is the square root of JS, in nats by default).
  from scipy.spatial import distance
  p = np.array([0.4, 0.1, 0.1, 0.4])    # cells (0,0) (0,1) (1,0) (1,1)
  q = np.full(4, 0.25)                  # both marginals are (0.5, 0.5)
  joint = np.repeat(np.arange(4), (p * 10).astype(int))
  marginal = np.repeat(np.arange(4), (q * 4).astype(int))
  t = np.log(p / q)
  bound = mi.jensen_shannon(jnp.asarray(t[joint]), jnp.asarray(t[marginal]))
  want = 2 * distance.jensenshannon(p, q) ** 2 - np.log(4)
  np.testing.assert_allclose(float(bound), want, rtol=1e-5)
  # Independent variables (p = q) give the floor -log 4 at the optimum T* = 0.
  np.testing.assert_allclose(float(mi.jensen_shannon(jnp.zeros(5), jnp.zeros(7))), -np.log(4),
                             rtol=1e-6)


def test_jensen_shannon_gradient_is_bounded_where_dv_grows_with_exp_t():
  tj, tm = jnp.zeros(8), jnp.array([0.0] * 7 + [20.0])
  g_jsd = jax.grad(lambda t: mi.jensen_shannon(tj, t))(tm)
  g_dv = jax.grad(lambda t: mi.donsker_varadhan(tj, t))(tm)
  assert float(jnp.abs(g_jsd).max()) <= 1 / 8 + 1e-6    # sigmoid(T) / N
  np.testing.assert_allclose(float(g_dv[-1]), -1.0, atol=1e-6)   # one pair takes all of it


def test_unknown_estimator_is_named():
  with pytest.raises(ValueError, match=r"config.loss.mi_estimator='mine'"):
    mi.mi_lower_bound(lambda a, b: a[:, 0], jnp.ones((4, 2)), jnp.ones((4, 2)),
                      jax.random.key(0), 'mine')
