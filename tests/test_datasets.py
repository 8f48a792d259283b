"""datasets.prepare: two runs that build the same set side by side."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

from hfr_jax import datasets
from tests.conftest import tiny_data_config

ORIGINAL = tfds.core.GeneratorBasedBuilder._download_and_prepare


def _records(b):
  source = b.as_data_source('train')
  return [source[i] for i in range(len(source))]


def test_the_run_that_loses_the_race_reads_the_winners_set(tmp_path, monkeypatch):
  data = tiny_data_config(tmp_path, num_identities=4, vis_per_identity=2, nir_per_identity=1)
  other = {}

  def racing(self, *args, **kwargs):
    if not other:   # while this run renders, another one finishes the same set and moves it in
      other['builder'] = datasets.builder(data)
      other['builder'].download_and_prepare()
    return ORIGINAL(self, *args, **kwargs)

  monkeypatch.setattr(tfds.core.GeneratorBasedBuilder, '_download_and_prepare', racing)
  b = datasets.prepare(data)
  assert b.is_prepared()
  ours, theirs = _records(b), _records(other['builder'])
  assert len(ours) == len(theirs) > 0
  for a, c in zip(ours, theirs):
    assert a.keys() == c.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], c[key])
  set_dir = os.path.dirname(b.data_dir)
  assert os.listdir(set_dir) == [os.path.basename(b.data_dir)]   # no half-written copy left


def test_a_file_clash_with_no_finished_set_is_not_swallowed(tmp_path, monkeypatch):
  def clash(self, *args, **kwargs):
    raise FileExistsError('somewhere')

  monkeypatch.setattr(tfds.core.DatasetBuilder, 'download_and_prepare', clash)
  with pytest.raises(FileExistsError, match='somewhere'):
    datasets.prepare(tiny_data_config(tmp_path))
