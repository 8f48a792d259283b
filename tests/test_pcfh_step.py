"""One PCFH step: each player descends its own loss and F never moves; LA reaches GA only
without the stop-gradient; the generator's losses fall on a fixed batch; the judge is in no
player, state or step."""

import functools

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax import evaluate
from hfr_jax import gan_losses
from hfr_jax import input_pipeline
from hfr_jax.models import lightcnn
from hfr_jax.ops import augment
from hfr_jax.ops import warp
from hfr_jax.pcfh import mutual_information as mi_lib
from hfr_jax.pcfh import train
from hfr_jax.recognizer import features as recognizer_features
from hfr_jax.recognizer import pretrained

from test_pcfh_train import judge_dir, save_tiny_judge, save_tiny_recognizer, tiny_config

# Every test here shares one session fixture, which costs a minute or more.
pytestmark = pytest.mark.heavy(60)

STEPS = 30
KEY = jax.random.key(7)   # every step draws the same augmentation and MI shuffles: a fixed batch


def fixed_batch(builder):
  """Every training NIR image of the tiny set, each with a VIS image of its identity."""
  images, landmarks, _ = evaluate.read_images(builder, 'train')
  _, index = input_pipeline.open_split(builder, 'train')
  nir, vis = index.records(input_pipeline.NIR), index.records(input_pipeline.VIS)
  partner = [int(vis[index.identity[vis] == index.identity[r]][0]) for r in nir]
  return {'nir_image': images[nir], 'nir_landmarks': landmarks[nir],
          'vis_image': images[partner], 'vis_landmarks': landmarks[partner]}


def step_inputs(trainer, batch, rng, config):
  """The step's x and MI keys, built from (batch, rng) as make_train_step builds them."""
  k_aug, k_mi = jax.random.split(rng)
  x = train.augment_batch(k_aug, batch, config.train.max_shift)
  x['warped_vis'] = jax.vmap(warp.idw_warp)(x['vis_image'], x['vis_landmarks'],
                                            x['nir_landmarks'])
  x['vis_features'] = jax.lax.stop_gradient(
      train.identity_features(trainer.recognizer, x['vis_image'], x['vis_landmarks']))
  return x, jax.random.split(k_mi, 4)


def pure(state):
  """nnx state (or a dict of them) -> nested dict of numpy arrays (key data for PRNG keys)."""
  def leaf(a):
    if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
      a = jax.random.key_data(a)
    return np.array(a)
  if isinstance(state, nnx.State):
    state = nnx.to_pure_dict(state)
  else:
    state = {k: nnx.to_pure_dict(v) for k, v in state.items()}
  return jax.tree.map(leaf, state)


def trainer_for(config, recognizer_dir):
  return train.Trainer(config, pretrained.load_pretrained(str(recognizer_dir)), rngs=nnx.Rngs(0))


# Session scope: an xdist worker computes it once, even when tests of other modules come between.
@pytest.fixture(scope='session')
def run(tiny_builder, tmp_path_factory):
  """STEPS calls of the real jit'd step on one batch, from one initial trainer."""
  rec_dir = tmp_path_factory.mktemp('pcfh_step') / 'recognizer'
  save_tiny_recognizer(rec_dir)
  save_tiny_judge(rec_dir)   # where config.judge.dir points: on disk, in reach of the code
  config = tiny_config(tiny_builder.data_dir_root, rec_dir)
  graphdef, state = nnx.split(trainer_for(config, rec_dir))
  initial = jax.tree.map(jnp.copy, state)   # the step donates its input
  step = train.make_train_step(config, graphdef)
  batch = fixed_batch(tiny_builder)
  losses, after_one = [], None
  for i in range(STEPS):
    state, metrics = step(state, batch, KEY)
    losses.append({k: float(v) for k, v in metrics.items()})
    if i == 0:
      after_one = jax.tree.map(jnp.copy, state)
  return dict(config=config, rec_dir=rec_dir, graphdef=graphdef, batch=batch,
              initial=initial, after_one=after_one, final=state, losses=losses)


def critics_gradients(config, trainer, batch, rng):
  """DA's and NE's gradients of their own losses on the step's inputs.

  DA: the hinge loss on IV vs GA(IN) (Eq. 1); NE: minus the DV bounds of
  Eq. (10) on (GA(IN), IV) and (GA(IN), IN). GA(IN) is a constant to both.
  """
  x, keys = step_inputs(trainer, batch, rng, config)
  fake = trainer.generators.ga(x['nir_image'], x['nir_landmarks'])
  d = nnx.grad(lambda d: gan_losses.hinge_critic(d(x['vis_image']), d(fake)))(
      trainer.discriminator)
  small = lambda a: train.downsample(a, config.model.mi_resolution)

  def ne_loss(ne):
    a, _ = mi_lib.mi_lower_bound(ne.fake_vis, small(fake), small(x['vis_image']), keys[2])
    b, _ = mi_lib.mi_lower_bound(ne.fake_nir, small(fake), small(x['nir_image']), keys[3])
    return -(a + b)
  return {'discriminator': d, 'mi': nnx.grad(ne_loss)(trainer.mi)}


def param_dict(graphdef, state):
  return pure(nnx.state(nnx.merge(graphdef, state), nnx.Param))


def largest(tree):
  return max(float(np.abs(a).max()) for a in jax.tree.leaves(tree))


def test_the_generator_loss_reaches_only_the_generators_and_f_never_moves(run):
  """After one step, each optimiser's first moment is (1 - beta1) times the gradient it
  was given: DA's and NE's are exactly those of their own losses (no share of the
  generator loss, which does depend on them through LAD and MIC); A's is non-zero
  (Eq. 7, 8); F has no optimiser and keeps every variable."""
  config, graphdef, t = run['config'], run['graphdef'], run['config'].train
  own = pure(jax.jit(lambda s: critics_gradients(config, nnx.merge(graphdef, s), run['batch'],
                                                 KEY))(run['initial']))
  before, after = param_dict(graphdef, run['initial']), param_dict(graphdef, run['after_one'])
  state = pure(run['after_one'])
  moment = lambda opt: state[opt]['opt_state'][0]['mu']
  for name, opt, lr in (('discriminator', 'opt_d', t.learning_rate_d),
                        ('mi', 'opt_mi', t.learning_rate_mi)):
    g = own[name]
    close = functools.partial(np.testing.assert_allclose, rtol=1e-3,
                              atol=1e-4 * largest(g), err_msg=name)
    jax.tree.map(lambda m, g: close(m, (1 - t.beta1) * g), moment(opt), g)
    # Adam's first step from zero moments: p - lr g / (|g| + eps) (bias-corrected mu = g,
    # nu = g^2), applied to the player's own parameters.
    want = jax.tree.map(lambda p, g: p - lr * g / (np.abs(g) + t.adam_eps), before[name], g)
    jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-3 * lr,
                                   err_msg=name), after[name], want)
  # The generator optimiser's moments cover GA, GB and A only, and A's layers all got some.
  assert set(moment('opt_g')) == {'ga', 'gb', 'attention'}
  for leaf in jax.tree.leaves(moment('opt_g')['attention']):
    assert np.abs(leaf).max() > 0
  # F: every variable (weights, dropout RNG counters) exactly as before, after all steps.
  initial = pure(run['initial'])
  for when in ('after_one', 'final'):
    jax.tree.map(np.testing.assert_array_equal, pure(run[when])['recognizer'],
                 initial['recognizer'])


def term_gradients(run, term: str, **loss):
  """Gradients of one generator loss term w.r.t. GA, GB and A, under config.loss + `loss`."""
  config = run['config'].copy_and_resolve_references()
  config.loss.update(lambda1=0.0, lambda2=0.0, lambda3=0.0, **loss)
  config.use_mic = False   # LA and LAWM need neither F nor NE: a smaller program to compile

  @jax.jit
  def gradients(state):
    trainer = nnx.merge(run['graphdef'], state)
    x, keys = step_inputs(trainer, run['batch'], KEY, config)
    one = lambda g: train.forward_losses(g, trainer, x, keys[:2], config)[1][0][term]
    return nnx.grad(one)(trainer.generators)

  return pure(gradients(run['initial']))


@pytest.mark.parametrize('stop', [True, False])
def test_attention_loss_reaches_ga_only_without_the_stop_gradient(run, stop):
  """Eq. (7)'s LA trains A; its first term |A(GA(IN)) - IWarp| trains GA only when
  config.loss.att_stop_gradient is off (the paper's literal reading)."""
  grads = term_gradients(run, 'att', att_stop_gradient=stop)
  assert largest(grads['attention']) > 0
  assert (largest(grads['ga']) == 0.0) == stop
  assert largest(grads['gb']) == 0.0   # GB is not in LA either way


@pytest.mark.parametrize('stop', [True, False])
def test_warping_loss_reaches_attention_only_without_the_stop_gradient(run, stop):
  """Eq. (8)'s LAWM trains GA; it trains A too unless config.loss.awm_stop_gradient."""
  grads = term_gradients(run, 'awm', awm_stop_gradient=stop)
  assert largest(grads['ga']) > 0
  assert (largest(grads['attention']) == 0.0) == stop
  assert largest(grads['gb']) == 0.0


def test_identity_loss_under_jitter_is_eq3_on_jittered_views_of_ga(run):
  """config.loss.id_jitter: LID = lambda2 |F(IV) - F(J(GA(IN)))|_1 with J a random view drawn
  from the step's key; all-zero ranges give back Eq. (3) on the one aligned crop."""
  jitter = dict(rotation=10.0, scale=0.1, shift=3.0, flip_prob=0.5, brightness=0.2,
                contrast=0.3, gamma=0.3, shading=0.3, blur=1.0, noise=0.03)
  trainer = nnx.merge(run['graphdef'], run['initial'])
  x, keys = step_inputs(trainer, run['batch'], KEY, run['config'])
  fake = trainer.generators.ga(x['nir_image'], x['nir_landmarks'])
  k_id = jax.random.key(3)

  def lid(ranges, rng=k_id):
    config = run['config'].copy_and_resolve_references()
    config.loss.id_jitter = ranges
    return float(train.forward_losses(trainer.generators, trainer, x, (keys[0], keys[1], rng),
                                      config)[1][0]['id'])

  views = recognizer_features.jittered(k_id, (fake + 1) / 2, x['nir_landmarks'],
                                       trainer.recognizer.input_size,
                                       augment.FaceJitter(**jitter))
  want = run['config'].loss.lambda2 * np.abs(
      np.asarray(x['vis_features']) - np.asarray(trainer.recognizer(views)[1])).sum(-1).mean()
  np.testing.assert_allclose(lid(jitter), want, rtol=1e-5)
  plain = train.identity_features(trainer.recognizer, fake, x['nir_landmarks'])
  want_plain = run['config'].loss.lambda2 * np.abs(
      np.asarray(x['vis_features']) - np.asarray(plain)).sum(-1).mean()
  np.testing.assert_allclose(lid({k: 0.0 for k in jitter}), want_plain, rtol=1e-5)
  assert abs(lid(jitter) - want_plain) > 1e-3 * want_plain
  assert lid(jitter) != lid(jitter, jax.random.key(4))   # a new view every step


def test_identity_loss_ramps_in_over_id_warmup_steps(run):
  """config.loss.id_warmup_steps = W: LID's weight is lambda2 * min(1, step / W); W = 0 is
  Eq. (3) from the first step. Every other term does not depend on the step."""
  trainer = nnx.merge(run['graphdef'], run['initial'])
  x, keys = step_inputs(trainer, run['batch'], KEY, run['config'])
  config = run['config'].copy_and_resolve_references()

  def terms(warmup, step):
    config.loss.id_warmup_steps = warmup
    step = None if step is None else jnp.asarray(step, jnp.uint32)
    return train.forward_losses(trainer.generators, trainer, x, tuple(keys[:3]), config,
                                step=step)[1][0]

  full = terms(0, None)
  for step, share in ((0, 0.0), (25, 0.25), (100, 1.0), (400, 1.0)):
    got = terms(100, step)
    np.testing.assert_allclose(float(got['id']), share * float(full['id']), rtol=1e-5,
                               atol=1e-7)
    for k in full:
      if k != 'id':
        np.testing.assert_allclose(float(got[k]), float(full[k]), rtol=1e-5)
  np.testing.assert_allclose(float(terms(0, 7)['id']), float(full['id']), rtol=1e-6)


def test_generator_losses_fall_on_a_fixed_batch(run):
  """LID + LY + Lrec: mean of the last 3 of STEPS steps well below the first 3.

  The adversarial term is left out: DA learns too, so LAD need not fall.
  """
  total = [sum(m[f'g_{k}'] for k in ('id', 'y', 'rec')) for m in run['losses']]
  first, last = np.mean(total[:3]), np.mean(total[-3:])
  assert last < 0.8 * first, total


def test_the_judge_is_in_no_player_state_or_step(run):
  """With config.judge.dir holding a judge, a Trainer holds one LightCNN, F, and no array of
  the judge; a judge with other parameters at the same place leaves a fresh Trainer's first
  step bit for bit as it was."""
  config, rec_dir = run['config'], run['rec_dir']
  assert config.judge.dir == judge_dir(rec_dir)
  judge = pretrained.load_pretrained(judge_dir(rec_dir))
  trainer = trainer_for(config, rec_dir)
  kinds = tuple(lightcnn.ARCHITECTURES.values())
  networks = [m for _, m in nnx.iter_graph(trainer) if isinstance(m, kinds)]
  assert networks == [trainer.recognizer] and trainer.recognizer.arch != judge.arch
  ours = jax.tree.leaves(pure(nnx.state(trainer)))
  drawn = [p for p in jax.tree.leaves(pure(nnx.state(judge, nnx.Param))) if np.ptp(p) > 0]
  assert len(drawn) > 30   # kernels: biases start at zero in every network, so say nothing
  for leaf in drawn:
    assert not any(a.shape == leaf.shape and np.array_equal(a, leaf) for a in ours)
  # Another judge where the config points: the step from the same start is unchanged.
  save_tiny_judge(rec_dir, seed=2)
  other = pretrained.load_pretrained(judge_dir(rec_dir))
  assert not np.array_equal(other.fc2.kernel[...], judge.fc2.kernel[...])
  graphdef, state = nnx.split(trainer_for(config, rec_dir))
  state, _ = train.make_train_step(config, graphdef)(state, run['batch'], KEY)
  jax.tree.map(np.testing.assert_array_equal, pure(state), pure(run['after_one']))


def test_ga_average_follows_its_decay_and_is_the_evaluated_ga(run):
  """config.train.ema_decay: after step n the average is d * average + (1 - d) * GA, with
  d = min(decay, (1 + n) / (10 + n)), from GA's initial parameters; training is unchanged."""
  config = run['config'].copy_and_resolve_references()
  config.train.ema_decay = 0.2   # below the ramp from step 2 on: both branches of the min
  graphdef, state = nnx.split(trainer_for(config, run['rec_dir']))
  params = lambda s, name: pure(nnx.state(getattr(nnx.merge(graphdef, s), name), nnx.Param))
  ga = lambda s: pure(nnx.state(nnx.merge(graphdef, s).generators.ga, nnx.Param))
  expected = ga(state)
  step = train.make_train_step(config, graphdef)
  for n in (1, 2, 3):
    state, _ = step(state, run['batch'], KEY)
    d = min(0.2, (1 + n) / (10 + n))
    expected = jax.tree.map(lambda e, p: d * e + (1 - d) * p, expected, ga(state))
    jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-7),
                 params(state, 'ga_ema'), expected)
    if n == 1:   # the players took the same step as without the average
      after_one = pure(state)
      del after_one['ga_ema']
      jax.tree.map(np.testing.assert_array_equal, after_one, pure(run['after_one']))
  trainer = nnx.merge(graphdef, state)
  assert trainer.evaluated_ga() is trainer.ga_ema
  assert set(trainer.players()) == set(train.PLAYERS) | {'ga_ema'}
  without = nnx.merge(run['graphdef'], run['final'])
  assert without.ga_ema is None and without.evaluated_ga() is without.generators.ga


def test_adversarial_weight_scales_eq1_alone(run):
  """config.loss.lambda_ad multiplies Eq. (1)'s generator term and leaves every other term."""
  def terms(lambda_ad):
    config = run['config'].copy_and_resolve_references()
    config.loss.lambda_ad = lambda_ad
    config.use_mic = False

    @jax.jit
    def f(state):
      trainer = nnx.merge(run['graphdef'], state)
      x, keys = step_inputs(trainer, run['batch'], KEY, config)
      return train.forward_losses(trainer.generators, trainer, x, keys, config)[1][0]
    return {k: float(v) for k, v in f(run['initial']).items()}

  paper, scaled = terms(1.0), terms(0.25)
  assert paper['ad'] != 0.0
  np.testing.assert_allclose(scaled['ad'], 0.25 * paper['ad'], rtol=1e-6)
  for name in paper.keys() - {'ad'}:
    np.testing.assert_allclose(scaled[name], paper[name], rtol=1e-6, err_msg=name)


@pytest.mark.parametrize('estimator', ['dv', 'jsd'])
def test_mic_is_eq9_under_the_configured_estimator_of_eq10(run, estimator):
  """L_MIC = -lambda5 (I(GA(IN), IV) - I(GA(IN), IN)), each I read from NE's scores of the
  joint and shuffled pairs by config.loss.mi_estimator's formula (numpy here)."""
  config = run['config'].copy_and_resolve_references()
  config.loss.mi_estimator = estimator

  @jax.jit
  def f(state):
    trainer = nnx.merge(run['graphdef'], state)
    x, keys = step_inputs(trainer, run['batch'], KEY, config)
    terms, fake, _ = train.forward_losses(trainer.generators, trainer, x, keys, config)[1]
    small = lambda a: train.downsample(a, config.model.mi_resolution)
    scores = [mi_lib.mi_lower_bound(ne, small(fake), small(x[k]), key)[1]
              for ne, k, key in ((trainer.mi.fake_vis, 'vis_image', keys[0]),
                                 (trainer.mi.fake_nir, 'nir_image', keys[1]))]
    return terms['mic'], scores

  mic, scores = f(run['initial'])
  log_sigmoid = lambda t: -np.logaddexp(0.0, -t)
  formula = {'dv': lambda tj, tm: tj.mean() - np.log(np.mean(np.exp(tm))),
             'jsd': lambda tj, tm: log_sigmoid(tj).mean() + log_sigmoid(-tm).mean()}[estimator]
  (vj, vm), (nj, nm) = [(np.float64(a), np.float64(b)) for a, b in scores]
  want = -config.loss.lambda5 * (formula(vj, vm) - formula(nj, nm))
  np.testing.assert_allclose(float(mic), want, rtol=1e-4, atol=1e-7)
