"""Shared fixtures: a tiny synthetic NIR-VIS set built once per test session."""

import atexit
import os
import shutil
import tempfile

# One XLA compilation cache for the whole session, xdist workers and the runs tests start
# included (they inherit the variables; the controller sets them before it starts workers).
# Tests build and step the same tiny players again and again, and compiling dominates: with
# JAX's partitionable initialisers a tiny NULL trainer took 36 s to build, 4.6 s from the cache.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='hfr_jax_xla_cache_')
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.2')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)

# Tests compile far more than they run (tiny shapes, a few steps): XLA's and LLVM's optimisation
# passes cost about a third of the suite's CPU time and buy nothing at these sizes
# (tests/test_pcfh_step.py, two tests: 170 s of CPU -> 115 s). Subprocesses inherit it.
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')

import ml_collections
import pytest
import tensorflow_datasets as tfds

os.environ.setdefault('XLA_FLAGS', '')
from hfr_jax import xla_flags  # noqa: E402
xla_flags.prefer_eigen_convolutions()   # before any test starts JAX (subprocesses inherit it)
import tfds_builders.synthetic_nir_vis as snv  # noqa: E402  (registers the builder)

TINY = dict(seed=3, num_identities=8, resolution=48, vis_per_identity=3, nir_per_identity=2)


def tiny_data_config(data_dir, **overrides) -> ml_collections.ConfigDict:
  fields = dict(name='synthetic_nir_vis', config='', data_dir=str(data_dir), **TINY)
  return ml_collections.ConfigDict({**fields, **overrides})


@pytest.fixture(scope='session')
def tiny_builder(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp('tfds')
  config = snv.make_config(**TINY, num_workers=1)
  builder = tfds.builder('synthetic_nir_vis', config=config, data_dir=str(data_dir))
  builder.download_and_prepare()
  return builder


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'heavy(seconds): a test of half a minute or more (a training run, a '
      'subprocess), with about what it took on 2 cores; the heaviest run first')


def pytest_collection_modifyitems(config, items):
  """Heavy tests first, longest first, the rest after in collection order. `make test` runs
  `--dist worksteal`: each worker starts on half the list and an idle worker takes half of
  what the other still has queued, so the long tests start early and the short ones fill
  the end, rather than one worker finishing a long test alone while the other idles (the
  longest-first rule of scheduling). (`--dist loadgroup` cannot keep a module's tests on one
  worker under pytest 9.2: xdist 3.8 renames the node ids, which pytest 9.2 no longer reads.)"""
  del config
  def seconds(item):
    mark = item.get_closest_marker('heavy')
    return mark.args[0] if mark else 0
  items.sort(key=lambda item: -seconds(item))   # stable
