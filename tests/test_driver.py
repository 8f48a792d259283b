"""The trainers' shared driver: players' initial draws."""

from flax import nnx
import jax
import numpy as np

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
