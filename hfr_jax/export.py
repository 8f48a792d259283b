"""One export format for every model: `export.json` + `params/` (orbax), all or nothing.

`export.json` names the factory that builds the module (`module:function`,
always inside `hfr_jax.models`) and its keyword arguments, so `load` rebuilds
the model from the directory alone: inference code (`hfr_jax.hallucinate`,
a notebook) imports no training module. The directory is written under a
temporary name and renamed (`fileio.write_atomic`), so it is either a whole
export or absent.
Parameters and other non-RNG state (running statistics, spectral-norm
vectors) are stored; RNG streams are made afresh on load.

With several JAX processes (`hfr_jax.multihost`) every process calls `save`
with the same, replicated, module; process 0 writes and the others wait for
it, so that none reads the directory before it is whole.
"""

import functools
import importlib
import json
import os

from flax import nnx
import jax
from jax.experimental import multihost_utils
import numpy as np
import orbax.checkpoint as ocp

from hfr_jax import fileio

META = 'export.json'
_STORED = nnx.Not(nnx.RngState)


def _factory(name: str):
  module, _, attr = name.partition(':')
  if not module.startswith('hfr_jax.models.') or not attr:
    raise ValueError(f'factory {name!r} is not a hfr_jax.models.<module>:<callable>')
  return getattr(importlib.import_module(module), attr)


def save(module: nnx.Module, directory: str, *, factory: str, kwargs: dict,
         info: dict | None = None):
  """Writes `module` so that `load(directory)` == `factory(**kwargs, rngs=...)` with its state.

  `info` is free-form metadata kept beside (e.g. the recognizer's input size).
  """
  _factory(factory)   # fail before writing anything
  directory = os.path.abspath(os.fspath(directory))
  values = nnx.to_pure_dict(nnx.state(module, _STORED))
  if jax.process_count() > 1:
    # Process 0 writes its copy of the replicated values; orbax coordinates it alone.
    values = jax.tree.map(np.asarray, values)
    if jax.process_index() == 0:
      _write(values, directory, factory, kwargs, info, ocp.options.MultiprocessingOptions(
          primary_host=0, active_processes={0}))
    multihost_utils.sync_global_devices(f'export {directory}')
  else:
    _write(values, directory, factory, kwargs, info, ocp.options.MultiprocessingOptions())


def _write(values, directory: str, factory: str, kwargs: dict, info: dict | None,
           multiprocessing_options):
  def write(tmp):
    with ocp.StandardCheckpointer(multiprocessing_options=multiprocessing_options) as ckpt:
      ckpt.save(os.path.join(tmp, 'params'), values)
      ckpt.wait_until_finished()
    with open(os.path.join(tmp, META), 'w') as f:
      json.dump({'factory': factory, 'kwargs': kwargs, 'info': info or {}}, f, indent=2)
  fileio.write_atomic(directory, write, directory=True)


def read_meta(directory: str, *, what: str = 'an export') -> dict:
  """export.json of `directory`, with one-line errors naming the file."""
  path = os.path.join(os.path.abspath(os.fspath(directory)), META)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{os.path.dirname(path)}: not {what} (no {META})')
  try:
    with open(path) as f:
      meta = json.load(f)
    meta['factory'], meta['kwargs'] = str(meta['factory']), dict(meta['kwargs'])
  except (KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
    raise ValueError(f'{path}: malformed ({type(e).__name__}: {e})') from e
  meta.setdefault('info', {})
  return meta


def _shapes(tree) -> dict:
  """'a/b/kernel' -> shape, for trees of arrays or orbax metadata."""
  name = lambda k: str(getattr(k, 'key', getattr(k, 'idx', k)))
  return {'/'.join(map(name, path)): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def load(directory: str, *, factory: str | None = None, what: str = 'an export'):
  """Rebuilds the module saved by `save`, in eval mode; returns (module, meta).

  `factory`, when given, is the one the export must name (a LightCNN loader
  refuses a PCFH generator with a clear message, not a shape mismatch).
  """
  directory = os.path.abspath(os.fspath(directory))
  meta = read_meta(directory, what=what)
  meta_path = os.path.join(directory, META)
  if factory is not None and meta['factory'] != factory:
    raise ValueError(f'{meta_path}: holds {meta["factory"]}, not {factory} ({what} expected)')
  try:
    build = functools.partial(_factory(meta['factory']), **meta['kwargs'])
    # Shapes only: a random init of an 80k-class classifier alone takes seconds.
    module = nnx.eval_shape(lambda: build(rngs=nnx.Rngs(0)))
  except (TypeError, ValueError) as e:
    raise ValueError(f'{meta_path}: malformed ({e})') from e
  params_dir = os.path.join(directory, 'params')
  if not os.path.isdir(params_dir):
    raise FileNotFoundError(f'{directory}: no params/ checkpoint next to {META}')
  target = nnx.to_pure_dict(nnx.state(module, _STORED))
  with ocp.StandardCheckpointer() as ckpt:
    try:
      stored = ckpt.metadata(params_dir).item_metadata
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise ValueError(f'{params_dir}: unreadable orbax checkpoint ({type(e).__name__})') from e
    # Compared up front: a failed restore halfway through floods stderr from orbax's threads.
    want, have = _shapes(target), _shapes(stored or {})
    if not have:
      raise ValueError(f'{params_dir}: holds no parameters (an interrupted or foreign write?)')
    if want != have:
      odd = sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))
      raise ValueError(f'{params_dir}: does not match {META} ({len(odd)} arrays differ, '
                       f'e.g. {odd[0]}: expected {want.get(odd[0])}, stored {have.get(odd[0])})')
    # Whole arrays on this process's first device: with several processes, each reads its
    # own copy (the stored sharding names devices another process may own).
    local = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    values = ckpt.restore(params_dir, jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=local), target))
  state = nnx.state(module, _STORED)
  nnx.replace_by_pure_dict(state, values)
  # eval_shape left RNG keys abstract too; under jit XLA drops the unused
  # parameter initialisers and computes only the keys.
  rng_state = jax.jit(lambda: nnx.state(build(rngs=nnx.Rngs(0)), nnx.RngState))()
  nnx.update(module, state, rng_state)
  module.eval()
  return module, meta
