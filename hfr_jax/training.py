"""What every trainer shares: RNG streams, checkpoints, logs, the loop.

A method supplies an NNX `trainer` module (its players and their optimisers),
a jit'd `step(state, batch, rng) -> (state, metrics)` over that module's
state, an iterator of host batches and, optionally, `validate` and `preview`
callbacks; `train_loop` does the rest: steps, finite checks, TensorBoard
scalars and images, checkpoints with the input position, validation with
keep-best, and resuming after a kill. Checkpoint, validation, image and log
schedules are independent of each other.

Data parallel everywhere (`hfr_jax.sharding`): the batch is split over a 1-D
mesh axis 'data' and parameters are replicated. With several processes
(`hfr_jax.multihost`) all of them step, save and restore checkpoints (orbax
coordinates the writes), and process 0 alone writes TensorBoard files and
prints progress (`sharding.is_main_process`).
"""

import contextlib
import dataclasses
import math
import os
import sys
import time
from typing import Any, Callable, Iterator, Sequence

from absl import logging
from flax import nnx
import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
import tensorboardX

from hfr_jax import sharding


def check_finite(losses: dict, step: int):
  """Stops training on NaN/Inf, naming the step and the losses that went bad."""
  bad = {k: float(v) for k, v in losses.items() if not np.isfinite(np.asarray(v)).all()}
  if bad:
    raise FloatingPointError(f'non-finite loss at step {step}: {bad}; '
                             'the last good checkpoint is kept')


class Checkpoints:
  """orbax CheckpointManager over NNX objects plus the grain iterator state.

  Keeps the newest `max_to_keep` and, when `best_metric` is given, the best by
  that metric (mode 'max'); `restore` resumes model, optimisers, step and
  input position.
  """

  def __init__(self, directory: str, *, max_to_keep: int = 2, best_metric: str | None = None,
               save_interval_steps: int = 1):
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, save_interval_steps=save_interval_steps,
        best_fn=(lambda m: m[best_metric]) if best_metric else None, best_mode='max',
        keep_checkpoints_without_metrics=best_metric is None, create=True)
    self.manager = ocp.CheckpointManager(os.path.abspath(directory), options=options)

  @property
  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  @property
  def best_step(self) -> int | None:
    return self.manager.best_step()

  def save(self, step: int, objects: dict, iterator=None, metrics: dict | None = None,
           force: bool = False) -> bool:
    items = {'state': ocp.args.StandardSave(
        {k: nnx.to_pure_dict(nnx.state(v)) for k, v in objects.items()})}
    if iterator is not None:
      items['data'] = grain.checkpoint.CheckpointSave(iterator)
    return self.manager.save(step, args=ocp.args.Composite(**items), metrics=metrics,
                             force=force)

  def restore(self, objects: dict, iterator=None, step: int | None = None) -> int | None:
    """Loads `step` (default: latest) into `objects` in place; returns the step or None."""
    step = self.manager.latest_step() if step is None else step
    if step is None:
      return None
    target = {k: nnx.to_pure_dict(nnx.state(v)) for k, v in objects.items()}
    items = {'state': ocp.args.StandardRestore(target)}
    if iterator is not None:
      items['data'] = grain.checkpoint.CheckpointRestore(iterator)
    restored = self.manager.restore(step, args=ocp.args.Composite(**items))
    for k, v in objects.items():
      state = nnx.state(v)
      nnx.replace_by_pure_dict(state, restored['state'][k])
      nnx.update(v, state)
    return step

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()


def in_notebook() -> bool:
  """True in a Jupyter kernel (Colab's too), where a progress bar replaces the console line."""
  ipython = sys.modules.get('IPython')
  shell = ipython.get_ipython() if ipython is not None else None
  return shell is not None and 'IPKernelApp' in shell.config


def progress_bar(total: int, desc: str):
  """tqdm's notebook widget where ipywidgets is installed (Colab), else its text bar."""
  try:
    import ipywidgets  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from tqdm.notebook import tqdm  # pylint: disable=import-outside-toplevel
  except ImportError:
    from tqdm import tqdm  # pylint: disable=import-outside-toplevel
  return tqdm(total=total, desc=desc, unit='step', file=sys.stderr)


class Logger:
  """TensorBoard event files (tensorboardX) and a console progress line, from process 0.

  In a notebook the line is a progress bar (`in_notebook`): a cell's stderr
  would otherwise collect one line per `every` steps. Other processes' loggers
  write and print nothing (their figures are the same).
  """

  def __init__(self, workdir: str, total_steps: int, *, every: int = 10, name: str = '',
               bar: bool | None = None, clock: Callable[[], float] = time.perf_counter):
    self.active = sharding.is_main_process()
    self.writer = (tensorboardX.SummaryWriter(os.path.join(workdir, 'tensorboard'))
                   if self.active else None)
    self.total, self.every, self.name = total_steps, every, name
    self._clock = clock
    self._t, self._step = clock(), None
    self._first = None          # the step the clock started at
    self._aside = 0.0           # seconds spent in `aside()` (validation, checkpoints) since then
    self._window_aside = 0.0    # ... of which in the current window
    self.bar = (progress_bar(total_steps, name or 'training')
                if self.active and (in_notebook() if bar is None else bar) else None)

  def scalars(self, step: int, values: dict):
    if not self.active:
      return
    for k, v in values.items():
      self.writer.add_scalar(k, float(v), step)

  def images(self, step: int, images: dict):
    """{name: (H, W, C) float in [0, 1]}."""
    if not self.active:
      return
    for k, v in images.items():
      self.writer.add_image(k, np.clip(np.asarray(v, np.float32), 0, 1), step,
                            dataformats='HWC')

  @contextlib.contextmanager
  def aside(self):
    """Time spent inside (validation, checkpoints) is left out of steps/s.

    The ETA adds it back as the mean time aside per step so far, so a run that
    validates every N steps is neither reported as crawling after each
    validation nor promised to end before its remaining validations.
    """
    start = self._clock()
    try:
      yield
    finally:
      spent = self._clock() - start
      if self._first is not None:
        self._aside += spent
        self._window_aside += spent

  def progress(self, step: int, losses: dict):
    """Prints steps/s and ETA every `every` steps; returns steps/s (or None)."""
    if not self.active:
      return None
    if self._step is None:
      self._step, self._first, self._t = step, step, self._clock()
      if self.bar is not None:
        self.bar.update(step - self.bar.n)
      return None
    if step % self.every and step != self.total:
      return None
    now = self._clock()
    rate = (step - self._step) / max(now - self._t - self._window_aside, 1e-9)
    per_step = 1 / rate + self._aside / max(step - self._first, 1) if rate > 0 else math.inf
    eta = (self.total - step) * per_step
    shown = ' '.join(f'{k}={float(v):.4g}' for k, v in sorted(losses.items()))
    prefix = f'{self.name}: ' if self.name else ''
    if self.bar is not None:   # the bar shows steps/s and ETA itself
      self.bar.set_postfix_str(shown, refresh=False)
      self.bar.update(step - self.bar.n)
    else:
      print(f'{prefix}step {step}/{self.total}  {rate:.2f} steps/s  ETA {eta:.0f}s  {shown}',
            file=sys.stderr, flush=True)
    self.writer.add_scalar('steps_per_second', rate, step)
    self._step, self._t, self._window_aside = step, now, 0.0
    return rate

  def validation(self, step: int, values: dict):
    """Prints one line of validation figures (a person watches these to pick a run)."""
    if not self.active:
      return
    shown = ' '.join(f'{k}={float(v):.4g}' for k, v in sorted(values.items()))
    prefix = f'{self.name}: ' if self.name else ''
    line = f'{prefix}validation at step {step}: {shown}'
    if self.bar is not None:
      self.bar.write(line, file=sys.stderr)   # above the bar, which is drawn again below it
    else:
      print(line, file=sys.stderr, flush=True)

  def close(self):
    if self.bar is not None:
      self.bar.close()
    if self.active:
      self.writer.close()


def log_devices():
  logging.info('JAX process %d/%d, %d devices: %s', jax.process_index(), jax.process_count(),
               jax.device_count(), jax.devices())


def rng_streams(seed: int) -> tuple[nnx.Rngs, jax.Array]:
  """(rngs for initialisation, key for the training steps): two streams of one seed.

  Step k draws `fold_in(step_key, k)`; initialisation never sees those keys.
  """
  root = jax.random.key(seed)
  return nnx.Rngs(jax.random.fold_in(root, 0)), jax.random.fold_in(root, 1)


@dataclasses.dataclass(frozen=True)
class Schedule:
  """When things happen, in steps; 0 turns validation / images off.

  The last step always checkpoints, validates (if validating) and logs.
  """
  num_steps: int
  log_every: int = 100
  checkpoint_every: int = 1000
  eval_every: int = 0
  image_every: int = 0

  @classmethod
  def from_config(cls, train) -> 'Schedule':
    return cls(num_steps=train.num_steps, log_every=train.log_every,
               checkpoint_every=train.checkpoint_every, eval_every=train.get('eval_every', 0),
               image_every=train.get('image_every', 0))

  def due(self, every: int, step: int) -> bool:
    return bool(every) and (step % every == 0 or step == self.num_steps)


def _players(trainer, names):
  return {k: getattr(trainer, k) for k in names}


def best_step(workdir: str) -> int | None:
  """Step of the best checkpoint kept by `train_loop`'s validation, or None."""
  directory = os.path.join(workdir, 'best')
  if not os.path.isdir(directory):
    return None
  with ocp.CheckpointManager(os.path.abspath(directory)) as manager:
    return manager.best_step() if manager.all_steps() else None


def restore_best(trainer, workdir: str, names: Sequence[str], metric: str) -> int | None:
  """Loads the best checkpoint's `names` into `trainer`; returns its step (None: none kept)."""
  best = Checkpoints(os.path.join(workdir, 'best'), max_to_keep=1, best_metric=metric)
  step = best.best_step
  if step is not None:
    best.restore(_players(trainer, names), step=step)
  best.close()
  return step


def train_loop(trainer: nnx.Module, step_fn: Callable, batches: Iterator, *, workdir: str,
               schedule: Schedule, step_key: jax.Array, checkpointed: Sequence[str],
               name: str, mesh=None, batch_keys: Sequence[str] | None = None,
               validate: Callable[[Any], dict] | None = None, best_metric: str | None = None,
               best: Sequence[str] = (), preview: Callable | None = None,
               stop_at: int | None = None) -> int:
  """Trains `trainer` in place (resuming from WORKDIR/checkpoints); returns the last step.

  step_fn(state, batch, rng) -> (state, metrics) runs on `nnx.state(trainer)`
  replicated over `mesh`; `batches` yields host batches (its grain state is
  checkpointed), of which `batch_keys` reach the step. `validate(trainer)` ->
  {metric: value} runs every `eval_every` steps; the attributes in `best` are
  kept in WORKDIR/best by `best_metric` (higher is better). Validation runs
  before the step's checkpoint is written, so a kill between the two repeats
  it on resume. `preview(state, batch)` -> {tag: (H, W, 3) image in [0, 1]}.
  `stop_at` leaves after that step with a checkpoint, as a preemption would.
  """
  mesh = mesh or sharding.make_mesh()
  ckpt = Checkpoints(os.path.join(workdir, 'checkpoints'), max_to_keep=2)
  keeper = (Checkpoints(os.path.join(workdir, 'best'), max_to_keep=1, best_metric=best_metric)
            if validate is not None and best_metric else None)
  step = ckpt.restore(_players(trainer, checkpointed), batches) or 0
  if step and sharding.is_main_process():
    print(f'{name}: resuming from the checkpoint at step {step}', file=sys.stderr, flush=True)
  state = sharding.replicate(nnx.state(trainer), mesh)
  logger = Logger(workdir, schedule.num_steps, every=schedule.log_every, name=name)
  last = schedule.num_steps if stop_at is None else min(stop_at, schedule.num_steps)
  try:
    while step < last:
      batch = next(batches)
      if batch_keys is not None:
        batch = {k: batch[k] for k in batch_keys}
      batch = sharding.shard_batch(batch, mesh)
      state, metrics = step_fn(state, batch, jax.random.fold_in(step_key, step))
      step += 1
      save = schedule.due(schedule.checkpoint_every, step) or step == last
      evaluate = validate is not None and schedule.due(schedule.eval_every, step)
      if schedule.due(schedule.log_every, step) or save or evaluate:
        check_finite(metrics, step)
        logger.scalars(step, {f'train/{k}': v for k, v in metrics.items()})
        logger.progress(step, metrics)
      with logger.aside():
        if preview is not None and schedule.due(schedule.image_every, step):
          few = jax.tree.map(lambda a: a[:4], batch)   # the global batch's first rows
          logger.images(step, sharding.gather(preview(state, few)))
        if evaluate or save:
          nnx.update(trainer, state)
        if evaluate:
          values = validate(trainer)
          logger.scalars(step, {f'val/{k}': v for k, v in values.items()})
          logger.validation(step, values)
          # A resumed run repeats steps after its checkpoint; their validation
          # was kept already (resumed training is deterministic).
          if keeper is not None and step not in keeper.manager.all_steps():
            keeper.save(step, _players(trainer, best), metrics=values, force=True)
        if save:
          ckpt.save(step, _players(trainer, checkpointed), batches, force=True)
  finally:
    ckpt.close()
    if keeper is not None:
      keeper.close()
    logger.close()
  nnx.update(trainer, state)
  return step
