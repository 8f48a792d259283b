"""PCFH's loss terms, Eq. (1)-(9), each against a direct float64 numpy evaluation."""

import numpy as np
import pytest

from hfr_jax.pcfh import losses

RNG = np.random.default_rng(0)
N, H, W = 3, 12, 10


def images(c):
  return RNG.uniform(-1, 1, (N, H, W, c)).astype(np.float32)


def norm1(x):
  """E |x|_1 written out: sum over each sample, mean over the batch."""
  return np.mean([np.sum(np.abs(np.float64(s))) for s in x])


def test_cycle_eq2():
  rec, nir = images(1), images(1)
  np.testing.assert_allclose(losses.cycle(rec, nir, 2.5e-5), 2.5e-5 * norm1(rec - nir),
                             rtol=1e-5)


def test_identity_eq3():
  a, b = RNG.normal(size=(N, 256)), RNG.normal(size=(N, 256))
  np.testing.assert_allclose(losses.identity(a, b, 0.002), 0.002 * norm1(a - b), rtol=1e-5)


def test_unit_rms_features_make_lid_blind_to_the_recognizer_scale():
  a, b = RNG.normal(size=(N, 256)) * 7.0, RNG.normal(size=(N, 256)) * 7.0
  u = np.asarray(losses.unit_rms(a))
  np.testing.assert_allclose(np.sqrt(np.mean(np.float64(u) ** 2, axis=1)), 1.0, rtol=1e-5)
  np.testing.assert_allclose(u, a / np.linalg.norm(a, axis=1, keepdims=True) * 16.0, rtol=1e-5)
  # A recognizer 40x larger (same directions) leaves LID unchanged; raw LID grows 40x.
  lid = lambda x, y: float(losses.identity(losses.unit_rms(x), losses.unit_rms(y), 0.002))
  np.testing.assert_allclose(lid(40 * a, 40 * b), lid(a, b), rtol=1e-5)
  np.testing.assert_allclose(losses.identity(40 * a, 40 * b, 0.002),
                             40 * losses.identity(a, b, 0.002), rtol=1e-5)


def test_luminance_eq4_uses_bt601_y():
  fake, nir = images(3), images(1)
  to01 = lambda x: (np.float64(x) + 1) / 2
  y_fake = to01(fake) @ np.array([0.299, 0.587, 0.114])
  want = 0.1 * np.mean(np.abs(y_fake - to01(nir)[..., 0]))   # per-pixel mean (see losses)
  np.testing.assert_allclose(losses.luminance(fake, nir, 0.1), want, rtol=1e-5)
  # Three-channel gray NIR gives the same as its one channel.
  np.testing.assert_allclose(losses.luminance(fake, np.repeat(nir, 3, -1), 0.1), want,
                             rtol=1e-5)


def test_pooled_luminance_compares_block_means_and_ignores_zero_mean_noise():
  fake, nir = images(3), images(1)
  to01 = lambda x: (np.float64(x) + 1) / 2
  y_fake, y_nir = to01(fake) @ np.array([0.299, 0.587, 0.114]), to01(nir)[..., 0]
  # k x k block means written out as loops.
  blocks = lambda y, k: np.array([[[y[n, i:i + k, j:j + k].mean() for j in range(0, W, k)]
                                   for i in range(0, H, k)] for n in range(N)])
  want = 0.1 * np.mean(np.abs(blocks(y_fake, 2) - blocks(y_nir, 2)))
  np.testing.assert_allclose(losses.luminance(fake, nir, 0.1, pool=2), want, rtol=1e-5)
  # A 2 x 2 checkerboard (sensor-like noise with zero block mean) moves the per-pixel LY
  # but not the pooled one.
  checker = 0.05 * (-1.0) ** np.add.outer(np.arange(H), np.arange(W))[None, :, :, None]
  noisy = np.float32(nir + checker)
  np.testing.assert_allclose(losses.luminance(fake, noisy, 0.1, pool=2),
                             losses.luminance(fake, nir, 0.1, pool=2), rtol=1e-5)
  assert abs(float(losses.luminance(fake, noisy, 0.1)) -
             float(losses.luminance(fake, nir, 0.1))) > 1e-4
  with pytest.raises(ValueError, match='luminance_pool=4'):
    losses.luminance(fake, nir, 0.1, pool=4)


def test_nuclear_norm_is_sum_of_singular_values_and_bounds_rank():
  att = RNG.uniform(0, 1, (N, H, W, 1)).astype(np.float32)
  want = np.mean([np.linalg.svd(np.float64(a[..., 0]), compute_uv=False).sum() for a in att])
  np.testing.assert_allclose(losses.nuclear_norm(att), want, rtol=1e-5)
  # A rank-1 map's nuclear norm is its Frobenius norm.
  u, v = RNG.uniform(0, 1, (H, 1)), RNG.uniform(0, 1, (1, W))
  rank1 = (u @ v)[None, ..., None].astype(np.float32)
  np.testing.assert_allclose(losses.nuclear_norm(rank1), np.linalg.norm(u @ v), rtol=1e-5)


def test_attention_eq7_and_awm_eq8_act_on_unit_range_images():
  att = RNG.uniform(0, 1, (N, H, W, 1)).astype(np.float32)
  fake, warped = images(3), images(3)
  unit = lambda x: (np.float64(x) + 1) / 2
  a1, a2, a3 = 3.0, 0.003, 1e-6
  rank = np.mean([np.linalg.svd(np.float64(a[..., 0]), compute_uv=False).sum() for a in att])
  want = (a1 * np.mean(np.abs(att * unit(fake) - unit(warped))) + a2 * rank
          + a3 * norm1(att))
  np.testing.assert_allclose(losses.attention(att, fake, warped, a1, a2, a3), want, rtol=1e-5)
  want8 = 2.5e-5 * norm1(att * unit(fake) - att * unit(warped))
  np.testing.assert_allclose(losses.attention_warping(att, fake, warped, 2.5e-5), want8,
                             rtol=1e-5)
  # Att = 0 masks everything: LAWM vanishes whatever the images.
  assert float(losses.attention_warping(np.zeros_like(att), fake, warped, 1.0)) == 0.0


def test_attention_first_term_is_minimised_by_att_one_where_the_images_agree():
  """With GA(IN) == IWarp, the first term of Eq. (7) is 0 at Att = 1 for every pixel.

  On [-1, 1] images Att * x could not match x at dark pixels (x < 0) with Att
  in [0, 1]: the minimiser would be Att = 0 there, following the pixel's sign.
  """
  x = images(3)
  first = lambda att: float(losses.attention(att, x, x, 1.0, 0.0, 0.0))
  ones = np.ones((N, H, W, 1), np.float32)
  assert first(ones) == pytest.approx(0.0, abs=1e-7)
  for level in (0.0, 0.5, 0.9):
    assert first(ones * level) > first(ones)


def test_mic_eq9_is_lower_when_the_fake_carries_vis_rather_than_nir_information():
  """Eq. (9) with NE's own statistics networks, trained on the pairs they score.

  VIS and NIR faces share an identity pattern and differ in each modality's own
  content. A fake that is the VIS face must score below 0 (the generator is
  rewarded), one that is the NIR face above 0 (penalised): Sec. 3.4 wants
  I(GA(IN), IV) up and I(GA(IN), IN) down.
  """
  import functools
  from flax import nnx
  import jax
  import jax.numpy as jnp
  import optax
  from hfr_jax.pcfh import mutual_information as mi_lib

  rng = np.random.default_rng(0)

  def faces(n):
    shared = rng.uniform(-1, 1, (n, 8, 8, 1))
    vis = 0.5 * shared + 0.5 * rng.uniform(-1, 1, (n, 8, 8, 3))
    nir = 0.5 * shared + 0.5 * rng.uniform(-1, 1, (n, 8, 8, 1))
    return jnp.asarray(vis, jnp.float32), jnp.asarray(nir, jnp.float32)

  (vis, nir), (vis_test, nir_test) = faces(64), faces(256)

  @functools.partial(jax.jit, static_argnums=0)
  def step(graphdef, state, a, b, k):
    net, opt = nnx.merge(graphdef, state)
    opt.update(net, nnx.grad(lambda m: -mi_lib.mi_lower_bound(m, a, b, k)[0])(net))
    return nnx.state((net, opt))

  @functools.partial(jax.jit, static_argnums=0)
  def held_out_bound(graphdef, state, a, b):
    net, _ = nnx.merge(graphdef, state)
    keys = jax.random.split(jax.random.key(1000), 4)
    return jnp.mean(jnp.stack([mi_lib.mi_lower_bound(net, a, b, k)[0] for k in keys]))

  # NE's two statistics networks (fake, VIS) and (fake, NIR): 3 + 3 and 3 + 1 channels.
  initial = {}
  for c in (3, 1):
    net = mi_lib.ConvStatistics(3, c, width=8, depth=2, rngs=nnx.Rngs(0))
    initial[c] = nnx.split((net, nnx.Optimizer(net, optax.adam(3e-3), wrt=nnx.Param)))

  def mutual_information(fake, other, fake_test, other_test):
    """DV bound on held-out pairs after 40 Adam steps of a fresh network."""
    graphdef, state = initial[other.shape[-1]]
    for i in range(40):
      state = step(graphdef, state, fake, other, jax.random.key(i))
    return float(held_out_bound(graphdef, state, fake_test, other_test))

  rgb = lambda x: jnp.repeat(x, 3, axis=-1)
  fakes = {'vis': (vis, vis_test), 'nir': (rgb(nir), rgb(nir_test))}
  mi = {name: (mutual_information(f, vis, f_test, vis_test),
               mutual_information(f, nir, f_test, nir_test))
        for name, (f, f_test) in fakes.items()}
  # The estimates see which modality the fake carries...
  assert mi['vis'][0] > mi['nir'][0] and mi['nir'][1] > mi['vis'][1], mi
  # ...and Eq. (9), the generator's loss, rewards VIS information and penalises NIR.
  mic = {name: float(losses.mutual_information_constraint(*mi[name], 0.1)) for name in mi}
  assert mic['vis'] < 0 < mic['nir'], (mic, mi)
  assert mic['vis'] == pytest.approx(0.1 * (mi['vis'][1] - mi['vis'][0]), rel=1e-5)   # lambda5
