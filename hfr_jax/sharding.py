"""The batch split over a 1-D 'data' mesh axis, parameters replicated, outputs gathered.

Data parallel everywhere: one code path runs on a CPU, 8 fake CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=8), a GPU or a TPU slice.
With several processes (`hfr_jax.multihost`) the mesh spans every process's
devices; each process hands `shard_batch` its own rows of the global batch and
`gather` brings outputs back to every process. The trainer (`hfr_jax.training`)
and the evaluator (`hfr_jax.evaluate`) both use these.
"""

import jax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np


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
  """`tree` replicated over `mesh`; with several processes each passes its own equal copy."""
  if jax.process_count() == 1:
    return jax.device_put(tree, replicated(mesh))

  def put(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return jax.device_put(x, replicated(mesh))
    # A process can only place data on its own devices (and device_put refuses PRNG keys).
    return multihost_utils.host_local_array_to_global_array(x, mesh, P())
  return jax.tree.map(put, tree)


def gather(tree):
  """Arrays -> numpy, whole, on every process (a global array's other rows are fetched)."""
  def whole(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      return multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(x)
  return jax.tree.map(whole, tree)


def is_main_process() -> bool:
  """Whether this process writes what one process writes: logs, reports, exports, images."""
  return jax.process_index() == 0
