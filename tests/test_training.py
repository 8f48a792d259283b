"""The shared loop: independent schedules, keep-best, kill + resume == uninterrupted, RNG streams.

A fake trainer whose step is a closed form of the data and the step key, so
every number the loop produces can be predicted from outside it.
"""

import os

from flax import nnx
import grain
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hfr_jax import training


class Model(nnx.Module):
  def __init__(self):
    self.w = nnx.Param(jnp.zeros((), jnp.float32))
    self.steps = nnx.Variable(jnp.zeros((), jnp.int32))   # not a Param: no optimiser sees it


class FakeTrainer(nnx.Module):
  def __init__(self):
    self.model = Model()
    self.opt = nnx.Optimizer(self.model, optax.sgd(1.0), wrt=nnx.Param)


def increment(x, rng):
  """What one step adds to w: the batch's sum plus a draw of the step key."""
  return jnp.sum(x) + jax.random.uniform(rng)


def make_step(graphdef):
  @jax.jit
  def step(state, batch, rng):
    trainer = nnx.merge(graphdef, state)
    # SGD at lr 1 on -w * increment: w <- w + increment.
    grads = nnx.grad(lambda m: -m.w[...] * increment(batch['x'], rng))(trainer.model)
    trainer.opt.update(trainer.model, grads)
    trainer.model.steps[...] += 1
    return nnx.state(trainer), {'w': trainer.model.w[...]}
  return step


def batches():
  """Batch k holds 2k, 2k+1: the position in the stream shows in w."""
  ds = grain.MapDataset.range(1000).map(lambda i: {'x': np.float32(i)}).batch(2)
  return iter(ds.to_iter_dataset())


STEP_KEY = jax.random.key(5)


def expected_w(num_steps):
  """w after `num_steps` steps from 0, computed without the loop."""
  return sum(float(increment(np.float32([2 * k, 2 * k + 1]), jax.random.fold_in(STEP_KEY, k)))
             for k in range(num_steps))


class Recorder:
  """validate(): records (step, w) and returns the score given for that step."""

  def __init__(self, scores):
    self.scores, self.calls = scores, []

  def __call__(self, trainer):
    step = int(trainer.model.steps[...])
    self.calls.append((step, float(trainer.model.w[...])))
    return {'score': self.scores[step]}


@pytest.fixture
def saves(monkeypatch):
  """Every Checkpoints.save call as (manager directory name, step)."""
  calls = []
  original = training.Checkpoints.save

  def save(self, step, *args, **kwargs):
    calls.append((os.path.basename(str(self.manager.directory)), step))
    return original(self, step, *args, **kwargs)
  monkeypatch.setattr(training.Checkpoints, 'save', save)
  return calls


def run(workdir, schedule, validate, *, stop_at=None, preview=None):
  trainer = FakeTrainer()
  step = make_step(nnx.split(trainer)[0])
  last = training.train_loop(
      trainer, step, batches(), workdir=str(workdir), schedule=schedule, step_key=STEP_KEY,
      checkpointed=('model', 'opt'), name='fake', validate=validate, best_metric='score',
      best=('model',), preview=preview, stop_at=stop_at)
  return trainer, last


def test_checkpoint_validation_and_image_schedules_are_independent(tmp_path, saves, capsys):
  schedule = training.Schedule(num_steps=7, log_every=100, checkpoint_every=3, eval_every=2,
                               image_every=5)
  validate = Recorder({2: 0.1, 4: 0.9, 6: 0.3, 7: 0.5})
  previews = []

  def preview(state, batch):
    previews.append(int(state['model']['steps'][...]))
    return {'x': np.zeros((2, 2, 3))}

  trainer, last = run(tmp_path, schedule, validate, preview=preview)
  assert last == 7
  # Validation every 2 steps and at the last, whatever the checkpoint schedule.
  assert [s for s, _ in validate.calls] == [2, 4, 6, 7]
  # Each validation is one line a person reads, with the figure it returned.
  shown = [l for l in capsys.readouterr().err.splitlines() if 'validation at' in l]
  assert shown == [f'fake: validation at step {s}: score={v:.4g}'
                   for s, v in ((2, 0.1), (4, 0.9), (6, 0.3), (7, 0.5))]
  assert previews == [5, 7]
  assert [s for d, s in saves if d == 'checkpoints'] == [3, 6, 7]
  assert [s for d, s in saves if d == 'best'] == [2, 4, 6, 7]
  # Each validation saw the parameters of its own step.
  for s, w in validate.calls:
    np.testing.assert_allclose(w, expected_w(s), rtol=1e-6)
  np.testing.assert_allclose(float(trainer.model.w[...]), expected_w(7), rtol=1e-6)

  ckpt = training.Checkpoints(str(tmp_path / 'checkpoints'))
  assert ckpt.latest_step == 7 and list(ckpt.manager.all_steps()) == [6, 7]   # max_to_keep=2
  ckpt.close()
  # Keep-best: step 4 scored highest, and its parameters are the ones restored.
  assert training.best_step(str(tmp_path)) == 4
  fresh = FakeTrainer()
  assert training.restore_best(fresh, str(tmp_path), ('model',), 'score') == 4
  np.testing.assert_allclose(float(fresh.model.w[...]), expected_w(4), rtol=1e-6)
  assert int(fresh.model.steps[...]) == 4


class Killed(Exception):
  """A kill after step 4's validation, before the next checkpoint (6) is written."""


@pytest.mark.parametrize('interruption', ['stop_at', 'killed_before_checkpoint'])
def test_resume_after_an_interruption_equals_the_uninterrupted_run(tmp_path, saves,
                                                                   monkeypatch, interruption):
  schedule = training.Schedule(num_steps=7, log_every=100, checkpoint_every=3, eval_every=4)
  scores = {4: 0.9, 7: 0.2}
  whole, _ = run(tmp_path / 'whole', schedule, Recorder(scores))

  first = Recorder(scores)
  if interruption == 'stop_at':
    _, last = run(tmp_path / 'cut', schedule, first, stop_at=4)
    assert last == 4
  else:
    save = training.Checkpoints.save

    def dying_save(self, step, *args, **kwargs):
      if step == 6 and str(self.manager.directory).endswith('checkpoints'):
        raise Killed
      return save(self, step, *args, **kwargs)
    monkeypatch.setattr(training.Checkpoints, 'save', dying_save)
    with pytest.raises(Killed):
      run(tmp_path / 'cut', schedule, first)
    monkeypatch.setattr(training.Checkpoints, 'save', save)
  assert [s for s, _ in first.calls] == [4]
  ckpt = training.Checkpoints(str(tmp_path / 'cut' / 'checkpoints'))
  resumed_from = ckpt.latest_step
  ckpt.close()
  assert resumed_from == (4 if interruption == 'stop_at' else 3)

  second = Recorder(scores)
  resumed, last = run(tmp_path / 'cut', schedule, second)
  assert last == 7
  # Killed after validating 4: the resumed run repeats step 4 and its validation...
  assert [s for s, _ in second.calls] == ([7] if resumed_from == 4 else [4, 7])
  # ...and the keeper already holds 4: it is saved once, not again (no StepAlreadyExists).
  cut_best = [s for d, s in saves if d == 'best'][2:]   # after the uninterrupted run's 4, 7
  assert cut_best.count(4) == 1
  assert training.best_step(str(tmp_path / 'cut')) == 4
  # Data position and step keys resumed: the same parameters as without the interruption.
  np.testing.assert_allclose(float(resumed.model.w[...]), float(whole.model.w[...]),
                             rtol=1e-6)
  np.testing.assert_allclose(float(resumed.model.w[...]), expected_w(7), rtol=1e-6)
  if resumed_from == 3:   # the repeated validation saw the same parameters as the first
    assert dict(second.calls)[4] == dict(first.calls)[4]


def draws(rngs, count=10):
  return [jax.random.key_data(rngs()) for _ in range(count)]


def collisions(rngs, step_key, count=100):
  """Keys of the step stream (step_key, fold_in(step_key, k) for k < count) that
  initialisation's first 10 draws also hand out, as k (-1: step_key itself)."""
  init = {tuple(np.asarray(k).ravel()) for k in draws(rngs)}
  step = {-1: step_key, **{k: jax.random.fold_in(step_key, k) for k in range(count)}}
  return [k for k, key in step.items()
          if tuple(np.asarray(jax.random.key_data(key)).ravel()) in init]


def test_rng_streams_keep_step_keys_apart_from_initialisation():
  init_rngs, step_key = training.rng_streams(0)
  assert collisions(init_rngs, step_key) == []
  # The construction the streams replace, one key for both, collides at every step
  # the Rngs has drawn for (nnx.Rngs hands out fold_in(key, n) for its n-th draw).
  seed = 0
  assert collisions(nnx.Rngs(seed), jax.random.key(seed)) == list(range(10))
  # One seed, one pair of streams; another seed, others.
  a, b = training.rng_streams(0), training.rng_streams(1)
  again = training.rng_streams(0)
  np.testing.assert_array_equal(draws(a[0], 3), draws(again[0], 3))
  np.testing.assert_array_equal(jax.random.key_data(a[1]), jax.random.key_data(again[1]))
  assert not np.array_equal(jax.random.key_data(a[1]), jax.random.key_data(b[1]))


def test_in_a_notebook_the_progress_line_becomes_a_bar_that_ends_at_the_last_step(tmp_path,
                                                                                   capsys):
  assert not training.in_notebook()   # pytest is no Jupyter kernel: the console line
  logged = [1, 2, 4, 6, 7]            # the steps train_loop logs with every=2, num_steps=7
  for bar in (False, True):
    logger = training.Logger(str(tmp_path / str(bar)), 7, every=2, name='fake', bar=bar)
    for step in logged:
      logger.progress(step, {'loss': 0.5 / step})
    logger.validation(7, {'score': 0.5})
    if bar:
      assert logger.bar.n == 7 and 'loss=0.07143' in logger.bar.postfix
    logger.close()
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if 'steps/s  ETA' in l]
    # The line: one per logged step after the first (which starts the clock); the bar: none.
    assert [l.split()[2] for l in lines] == ([] if bar else ['2/7', '4/7', '6/7', '7/7'])
    assert ('fake: 100%' in err and '7/7' in err) == bar
    assert 'fake: validation at step 7: score=0.5\n' in err   # a line of its own either way


def test_validation_time_is_left_out_of_steps_per_second_and_spread_over_the_eta(tmp_path,
                                                                                 capsys):
  now = [0.0]
  logger = training.Logger(str(tmp_path), 10, every=2, name='fake', bar=False,
                           clock=lambda: now[0])
  logger.progress(1, {})             # starts the clock at step 1, t = 0
  now[0] = 2.0                       # steps 2, 3: 1 s each ...
  with logger.aside():
    now[0] += 30.0                   # ... then 30 s of validation at step 3
  now[0] += 1.0                      # step 4: 1 s
  rate = logger.progress(4, {})
  assert rate == pytest.approx(1.0)  # 3 steps in 3 s of training, not 3 in 33
  eta = float(capsys.readouterr().err.split('ETA ')[1].split('s')[0])
  # 6 steps left at 1 s each plus the time aside so far per step (30 s / 3 steps).
  assert eta == pytest.approx(6 * (1.0 + 30.0 / 3), abs=0.5)
  now[0] += 2.0                      # a window without validation: the rate is its own
  assert logger.progress(6, {}) == pytest.approx(1.0)
  logger.close()
