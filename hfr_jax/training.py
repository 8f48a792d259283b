"""What every trainer shares: device mesh, batch sharding, checkpoints, logs.

Data parallel everywhere: the batch is split over a 1-D mesh axis 'data' and
parameters are replicated, so one code path runs on a CPU, 8 fake CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=8), a GPU or a TPU slice.
"""

import math
import os
import sys
import time

from absl import logging
from flax import nnx
import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import tensorboardX


def make_mesh(devices=None) -> jax.sharding.Mesh:
  """1-D 'data' mesh over `devices` (default: all of them)."""
  # Auto axes: XLA propagates the batch sharding through the step (GSPMD), so
  # model code needs no sharding annotations.
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), ('data',), axis_types=(jax.sharding.AxisType.Auto,),
                       devices=devices)


def data_sharding(mesh) -> NamedSharding:
  return NamedSharding(mesh, P('data'))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def shard_batch(batch, mesh):
  """Host-local numpy batch -> global arrays split over 'data' along axis 0."""
  sharding = data_sharding(mesh)
  def put(x):
    x = np.asarray(x)
    if x.shape[0] * jax.process_count() % mesh.size:
      raise ValueError(f'global batch {x.shape[0] * jax.process_count()} is not divisible by '
                       f'the {mesh.size} devices; pick a batch size that is')
    return jax.make_array_from_process_local_data(sharding, x)
  return jax.tree.map(put, batch)


def replicate(tree, mesh):
  return jax.device_put(tree, replicated(mesh))


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


class Logger:
  """TensorBoard event files (tensorboardX) and a console progress line."""

  def __init__(self, workdir: str, total_steps: int, *, every: int = 10):
    self.writer = tensorboardX.SummaryWriter(os.path.join(workdir, 'tensorboard'))
    self.total, self.every = total_steps, every
    self._t, self._step = time.perf_counter(), None

  def scalars(self, step: int, values: dict):
    for k, v in values.items():
      self.writer.add_scalar(k, float(v), step)

  def images(self, step: int, images: dict):
    """{name: (H, W, C) float in [0, 1]}."""
    for k, v in images.items():
      self.writer.add_image(k, np.clip(np.asarray(v, np.float32), 0, 1), step,
                            dataformats='HWC')

  def progress(self, step: int, losses: dict):
    """Prints steps/s and ETA every `every` steps; returns steps/s (or None)."""
    if self._step is None:
      self._step, self._t = step, time.perf_counter()
      return None
    if step % self.every and step != self.total:
      return None
    now = time.perf_counter()
    rate = (step - self._step) / max(now - self._t, 1e-9)
    eta = (self.total - step) / rate if rate > 0 else math.inf
    shown = ' '.join(f'{k}={float(v):.4g}' for k, v in sorted(losses.items()))
    print(f'step {step}/{self.total}  {rate:.2f} steps/s  ETA {eta:.0f}s  {shown}',
          file=sys.stderr, flush=True)
    self.writer.add_scalar('steps_per_second', rate, step)
    self._step, self._t = step, now
    return rate

  def close(self):
    self.writer.close()


def log_devices():
  logging.info('JAX process %d/%d, %d devices: %s', jax.process_index(), jax.process_count(),
               jax.device_count(), jax.devices())
