"""The trainers' shared driver: players' initial draws and their optimiser."""

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from hfr_jax import driver


class Players(nnx.Module):

  @driver.unpartitioned_draws
  def __init__(self, *, rngs: nnx.Rngs):
    self.w = nnx.Param(jax.random.normal(rngs.params(), (3, 5)))


def test_players_draw_unpartitioned_threefry_and_leave_the_default_as_it_was():
  before = jax.config.jax_threefry_partitionable
  players = Players(rngs=nnx.Rngs(7))
  assert jax.config.jax_threefry_partitionable == before
  # The key the module drew with: the first split of Rngs(7)'s params stream.
  key = nnx.Rngs(7).params()
  with jax.threefry_partitionable(False):
    want = jax.random.normal(key, (3, 5))
  with jax.threefry_partitionable(True):
    other = jax.random.normal(key, (3, 5))
  np.testing.assert_array_equal(players.w[...], want)
  assert not np.allclose(want, other)   # the flag changes the numbers: the test can fail


def test_adam_with_weight_decay_and_step_decay_is_munits_torch_optimiser():
  """MUNIT: torch.optim.Adam(lr, betas, weight_decay) + StepLR(step_size, gamma), stepped once
  per iteration. Same gradients (of a quadratic) through both, five-decimal parameters."""
  torch = pytest.importorskip('torch')
  train = ml_collections.ConfigDict(dict(beta1=0.5, beta2=0.999, adam_eps=1e-8,
                                         weight_decay=0.05, lr_decay_every=3, lr_decay_rate=0.5))
  rng = np.random.default_rng(0)
  w0, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
  grad = lambda w: 2 * (w - target) * np.arange(1, 13).reshape(4, 3)   # of sum(k (w - t)^2)

  def descend(tx):
    w = jnp.asarray(w0, jnp.float32)
    state = tx.init(w)
    for _ in range(10):
      updates, state = tx.update(jnp.asarray(grad(np.asarray(w))), state, w)
      w = optax.apply_updates(w, updates)
    return np.asarray(w)

  w = descend(driver.adam(train, 0.1))

  tw = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
  opt = torch.optim.Adam([tw], lr=0.1, betas=(0.5, 0.999), eps=1e-8, weight_decay=0.05)
  sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
  for _ in range(10):
    opt.zero_grad()
    tw.grad = torch.tensor(grad(tw.detach().numpy()))
    opt.step()
    sched.step()
  np.testing.assert_allclose(w, tw.detach().numpy(), atol=1e-5)
  # The knobs change the path: without them the parameters end elsewhere.
  plain = descend(driver.adam(ml_collections.ConfigDict(dict(beta1=0.5, beta2=0.999,
                                                             adam_eps=1e-8)), 0.1))
  assert np.abs(plain - w).max() > 1e-2


def test_negative_decay_settings_name_their_flag():
  base = dict(beta1=0.5, beta2=0.999, adam_eps=1e-8)
  with pytest.raises(ValueError, match='config.train.weight_decay'):
    driver.adam(ml_collections.ConfigDict(dict(base, weight_decay=-1.0)), 0.1)
  with pytest.raises(ValueError, match='config.train.lr_decay_every'):
    driver.adam(ml_collections.ConfigDict(dict(base, lr_decay_every=-5)), 0.1)
