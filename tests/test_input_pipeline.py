"""grain pipelines over the tiny synthetic set."""

import dataclasses
import functools
import itertools

import jax
import numpy as np
import pytest

from hfr_jax import evaluate
from hfr_jax import input_pipeline as ip


@pytest.fixture(scope='module')
def train(tiny_builder):
  return ip.open_split(tiny_builder, 'train')


def _take(iterator, n):
  return list(itertools.islice(iterator, n))


def test_paired_elements_share_identity_and_differ_in_modality(train):
  source, index = train
  for batch in _take(iter(ip.paired(source, index, batch_size=4, seed=0, num_threads=1)), 5):
    for b in range(4):
      # Find each image's record by its pixels and check its metadata.
      nir_r = _record_of(source, batch['nir_image'][b])
      vis_r = _record_of(source, batch['vis_image'][b])
      assert index.identity[nir_r] == index.identity[vis_r] == batch['identity'][b]
      assert index.modality[nir_r] == ip.NIR and index.modality[vis_r] == ip.VIS
      np.testing.assert_array_equal(batch['nir_landmarks'][b], source[nir_r]['landmarks'])


_CACHE = {}


def _record_of(source, image):
  if id(source) not in _CACHE:
    _CACHE[id(source)] = {ip.decode_png(source[i]['image']).tobytes(): i
                          for i in range(len(source))}
  return _CACHE[id(source)][np.asarray(image).tobytes()]


def test_paired_is_deterministic_and_seed_dependent(train):
  source, index = train
  first = lambda seed: _take(iter(ip.paired(source, index, batch_size=4, seed=seed,
                                            num_threads=2)), 3)
  a, b, c = first(1), first(1), first(2)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x['nir_image'], y['nir_image'])
    np.testing.assert_array_equal(x['vis_image'], y['vis_image'])
  assert any(not np.array_equal(x['nir_image'], z['nir_image']) for x, z in zip(a, c))


def test_iterator_state_restores_the_stream(train):
  source, index = train
  it = iter(ip.paired(source, index, batch_size=3, seed=5, num_threads=1))
  _take(it, 4)
  state = it.get_state()
  expected = _take(it, 3)
  fresh = iter(ip.paired(source, index, batch_size=3, seed=5, num_threads=1))
  fresh.set_state(state)
  for x, y in zip(expected, _take(fresh, 3)):
    np.testing.assert_array_equal(x['nir_image'], y['nir_image'])
    np.testing.assert_array_equal(x['vis_landmarks'], y['vis_landmarks'])


def test_unpaired_streams_are_independent_and_carry_no_identity(train):
  source, index = train
  batches = _take(iter(ip.unpaired(source, index, batch_size=4, seed=0, num_threads=1)), 6)
  assert 'identity' not in batches[0]
  same = total = 0
  for batch in batches:
    for b in range(4):
      n, v = _record_of(source, batch['nir_image'][b]), _record_of(source, batch['vis_image'][b])
      assert index.modality[n] == ip.NIR and index.modality[v] == ip.VIS
      same += index.identity[n] == index.identity[v]
      total += 1
  assert same < total   # not paired by identity


@pytest.mark.parametrize('batch_size', [3, 4, 64])
def test_eval_yields_every_example_once_in_order_with_mask(tiny_builder, batch_size):
  source, index = ip.open_split(tiny_builder, 'probe')
  batches = list(ip.evaluation(source, index, batch_size=batch_size, num_threads=1))
  assert all(b['image'].shape[0] == batch_size for b in batches)
  mask = np.concatenate([b['mask'] for b in batches])
  ids = np.concatenate([b['identity'] for b in batches])[mask]
  assert mask.sum() == len(index.identity) and mask[:len(index.identity)].all()
  np.testing.assert_array_equal(ids, index.identity)
  images, _, _ = evaluate.read_images(tiny_builder, 'probe', batch_size=batch_size)
  for i in (0, len(images) - 1):
    np.testing.assert_array_equal(images[i], ip.decode_png(source[i]['image']))


def test_eval_yields_the_vis_twins_only_when_asked(tiny_builder):
  source, index = ip.open_split(tiny_builder, 'probe')
  assert index.has_twin.all()
  plain = next(iter(ip.evaluation(source, index, batch_size=8, num_threads=1)))
  assert 'vis_twin' not in plain
  batch = next(iter(ip.evaluation(source, index, batch_size=8, twins=True, num_threads=1)))
  for i in range(8):
    np.testing.assert_array_equal(batch['vis_twin'][i], ip.decode_png(source[i]['vis_twin']))
  np.testing.assert_array_equal(batch['image'], plain['image'])
  train_source, train_index = ip.open_split(tiny_builder, 'train')
  assert not train_index.has_twin.any()
  with pytest.raises(ValueError, match='vis_twin'):
    ip.evaluation(train_source, train_index, batch_size=8, twins=True)


def test_no_training_iterator_yields_the_vis_twin(tiny_builder):
  # Every probe record has a twin; call each identity's first one VIS so that every mode
  # finds both modalities.
  source, index = ip.open_split(tiny_builder, 'probe')
  modality = np.full(len(index.identity), ip.NIR)
  modality[np.unique(index.identity, return_index=True)[1]] = ip.VIS
  index = dataclasses.replace(index, modality=modality)
  kw = dict(batch_size=2, seed=0, num_threads=1)
  iterators = {'paired': ip.paired(source, index, **kw),
               'unpaired': ip.unpaired(source, index, **kw),
               'labelled VIS': ip.labelled(source, index, **kw),
               'labelled NIR': ip.labelled(source, index, modality=ip.NIR, **kw)}
  for name, iterator in iterators.items():
    for batch in _take(iter(iterator), 3):
      assert 'image' in batch or 'nir_image' in batch, name
      assert not any('twin' in key for key in batch), (name, sorted(batch))


def _as_process(monkeypatch, index: int, count: int):
  monkeypatch.setattr(jax, 'process_index', lambda: index)
  monkeypatch.setattr(jax, 'process_count', lambda: count)


@pytest.mark.parametrize('mode', ['paired', 'unpaired', 'labelled', 'evaluation'])
def test_each_process_reads_its_part_of_the_batches_one_process_reads(train, monkeypatch, mode):
  """Process i of n yields rows [i * 8 / n, (i + 1) * 8 / n) of every global batch of 8: the
  same records in the same order (random VIS partners included) whatever n."""
  source, index = train
  make = {'paired': functools.partial(ip.paired, seed=4),
          'unpaired': functools.partial(ip.unpaired, seed=4),
          'labelled': functools.partial(ip.labelled, seed=4),
          'evaluation': ip.evaluation}[mode]
  # 20 records: the evaluation pass ends in a padded batch, the training streams in a new epoch.
  read = lambda: _take(iter(make(source, index, batch_size=8, num_threads=1)), 4)
  one = read()
  for count in (2, 4):
    parts = []
    for i in range(count):
      _as_process(monkeypatch, i, count)
      parts.append(read())
    assert all(len(p) == len(one) for p in parts)   # evaluation: every process, every batch
    for k, batch in enumerate(one):
      assert all(len(p[k][key]) == 8 // count for p in parts for key in batch)
      for key in batch:
        np.testing.assert_array_equal(np.concatenate([p[k][key] for p in parts]), batch[key],
                                      err_msg=f'{count} processes, batch {k}, {key}')


def test_a_global_batch_the_processes_cannot_split_evenly_is_a_clear_error(train, monkeypatch):
  source, index = train
  _as_process(monkeypatch, 0, 3)
  with pytest.raises(ValueError, match='batch size 8 is not divisible by the 3 JAX processes'):
    ip.labelled(source, index, batch_size=8, seed=0)


def test_missing_split_is_a_clear_error(tiny_builder):
  with pytest.raises(ValueError, match="no split 'validation'"):
    ip.open_split(tiny_builder, 'validation')
