"""Dataset lookup from a config: `config.data` -> a prepared TFDS builder.

`config.data` itself is made by the configs (`configs/common.py`).
"""

import importlib

import jax
from jax.experimental import multihost_utils
import ml_collections
import tensorflow_datasets as tfds

from tfds_builders.synthetic_nir_vis import presets


def builder(data: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
  """TFDS builder named by `data.name` (our builders live in `tfds_builders/`).

  For `synthetic_nir_vis`, `data.seed`, `data.num_identities`, `data.resolution`,
  `data.vis_per_identity` and `data.nir_per_identity` pick the set, so any seed
  gives fresh identities; other datasets use `data.config` (a config name).
  """
  try:
    module = importlib.import_module(f'tfds_builders.{data.name}')   # registers the builder
  except ModuleNotFoundError as e:
    raise ValueError(f'config.data.name: unknown dataset {data.name!r} '
                     f'(no tfds_builders/{data.name}/)') from e
  data_dir = data.get('data_dir') or None
  if data.name == 'synthetic_nir_vis':
    config = module.make_config(
        seed=data.seed, num_identities=data.num_identities, resolution=data.resolution,
        vis_per_identity=data.vis_per_identity, nir_per_identity=data.nir_per_identity,
        preset=data.get('preset', presets.DEFAULT_PRESET),
        render_params=dict(data.get('render') or {}))
    return tfds.builder(data.name, config=config, data_dir=data_dir)
  return tfds.builder(data.name, config=data.get('config') or None, data_dir=data_dir)


def prepare(data: ml_collections.ConfigDict) -> tfds.core.DatasetBuilder:
  """Builds the dataset if it is not on disk yet (synthetic: renders it).

  Real datasets read the release from `data.manual_dir` (default: TFDS's
  <data_dir>/downloads/manual); each builder's README says what goes there.
  With several JAX processes, process 0 builds first and the others then find
  it (a data_dir they share) or build their own copy (one of their own). Two runs
  started side by side on one machine may both build it: TFDS moves its finished
  copy into place last, and the one that finds the other's there uses it.
  """
  later = jax.process_count() > 1 and jax.process_index() > 0
  if later:
    multihost_utils.sync_global_devices('datasets.prepare')
  b = builder(data)   # made after the build: it reads the splits from disk
  manual_dir = data.get('manual_dir') or None
  try:
    b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  except FileExistsError:
    b = builder(data)   # another run moved the same set into place first: read theirs
    if not b.is_prepared():
      raise
  if jax.process_count() > 1 and not later:
    multihost_utils.sync_global_devices('datasets.prepare')
  return b


def prepare_eval(config: ml_collections.ConfigDict, builder: tfds.core.DatasetBuilder
                 ) -> tfds.core.DatasetBuilder:
  """The set a method's test protocol runs on: `config.eval_data` prepared (cross-dataset
  evaluation), else `builder`, the one it trained on."""
  return prepare(config.eval_data) if config.get('eval_data') else builder


def recognizer_data(recipe: ml_collections.ConfigDict,
                    data: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The data a recognizer recipe trains on when a method trains it as its F.

  The method's identities (dataset, seed, size, resolution), the recipe's
  number of VIS photos per identity (F trains on VIS only). The synthetic
  renderer draws identity i and its k-th photo from their own seeds, so more
  photos per identity keep every identity and every test image unchanged.
  """
  out = ml_collections.ConfigDict(data.to_dict())
  if data.name == recipe.name == 'synthetic_nir_vis':
    out.vis_per_identity = recipe.vis_per_identity
  return out
