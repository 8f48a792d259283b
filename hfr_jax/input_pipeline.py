"""NIR/VIS input pipelines: `tfds` array_record sources read with `grain`.

Every dataset that follows the synthetic_nir_vis features (image, landmarks,
identity, modality, image_id) and splits (train, gallery, probe, test_vis)
works here. Three modes:

* paired (PCFH): a NIR image with a VIS image of the same identity drawn at
  random for every element;
* unpaired (NULL): independent NIR and VIS streams, no identity labels;
* eval: one split in order, every example once, last batch padded + masked;
  on request with each probe's `vis_twin` (synthetic test probes only).

Training iterators read image, landmarks and identity only: a VIS twin is
ground truth for scoring translations and never reaches a trainer.

`batch_size` is always the global batch. With several JAX processes each
reads and yields its own part of every global batch: process i of n rows
[i * b, (i + 1) * b), b = batch_size / n, so that n processes together feed
the mesh the very batches, in the same order, that one process would.

Host side yields uint8 images; augmentation (`hfr_jax.ops.augment`) is a
jit-able JAX function applied on device, so accelerators, not the host CPU, pay for it.
Iterators are grain `DatasetIterator`s: `get_state()` / `set_state()` go into
checkpoints. Landmarks are (x, y) = (column, row) pixels, iBUG-68 order.
"""

import dataclasses
import io
from typing import Any

import grain
import jax
import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

NIR, VIS = 0, 1   # ClassLabel indices of `modality`.


@dataclasses.dataclass(frozen=True)
class SplitIndex:
  """Per-record metadata of one split, read once without decoding images."""
  identity: np.ndarray
  modality: np.ndarray
  image_id: list[str]
  has_twin: np.ndarray    # bool: the record holds a `vis_twin` (synthetic probes)

  def records(self, modality: int, exclude_identities=None) -> np.ndarray:
    """Positions of `modality`'s records, leaving out those of `exclude_identities`."""
    keep = self.modality == modality
    if exclude_identities is not None and len(exclude_identities):
      keep &= ~np.isin(self.identity, exclude_identities)
    return np.flatnonzero(keep)


def validation_identities(index: SplitIndex, count: int) -> np.ndarray:
  """The `count` training identities held out for validation: the last ones in order.

  Every trainer of a run (the recognizer F and the method) leaves them out, so
  validation scores faces no network of the run was fitted to.
  """
  ids = np.unique(index.identity)
  if count >= len(ids):
    raise ValueError(f'config.eval.val_identities={count} leaves no training identities '
                     f'(the split has {len(ids)})')
  return ids[len(ids) - count:] if count > 0 else ids[:0]


def open_split(builder: tfds.core.DatasetBuilder, split: str):
  """Returns (random-access source with PNG bytes, SplitIndex)."""
  if split not in builder.info.splits:
    raise ValueError(f'dataset {builder.name!r} has no split {split!r}; '
                     f'it has {sorted(builder.info.splits)}')
  source = builder.as_data_source(split, decoders={'image': tfds.decode.SkipDecoding()})
  meta = [source[i] for i in range(len(source))]
  index = SplitIndex(
      identity=np.array([m['identity'] for m in meta], np.int64),
      modality=np.array([m['modality'] for m in meta], np.int64),
      image_id=[m['image_id'].decode() if isinstance(m['image_id'], bytes)
                else str(m['image_id']) for m in meta],
      has_twin=np.array([bool(m.get('vis_twin')) for m in meta], bool))
  return source, index


def decode_png(data: bytes) -> np.ndarray:
  return np.asarray(Image.open(io.BytesIO(data)).convert('RGB'))


def _read(source, record: int, twin: bool = False) -> dict[str, Any]:
  ex = source[int(record)]
  out = {'image': decode_png(ex['image']),
         'landmarks': np.asarray(ex['landmarks'], np.float32),
         'identity': np.int64(ex['identity'])}
  if twin:
    out['vis_twin'] = decode_png(ex['vis_twin'])
  return out


def _batches(ds: grain.MapDataset, batch_size: int, shard: bool) -> grain.MapDataset:
  """Global batches of `batch_size` elements of `ds`, or, sharded, this process's part of each.

  Batch k of process i of n is chunk k * n + i of the elements cut into chunks
  of batch_size / n: the i-th part of global batch k. Random maps upstream
  draw by element position, so they draw the same whatever n.
  """
  n = jax.process_count() if shard else 1
  if batch_size % n:
    raise ValueError(f'batch size {batch_size} is not divisible by the {n} JAX processes; '
                     'pick a batch size that is')
  ds = ds.batch(batch_size // n, drop_remainder=True)
  return ds[jax.process_index()::n] if n > 1 else ds


def _to_iter(ds: grain.MapDataset, num_threads: int) -> grain.IterDataset:
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=4))


def paired(source, index: SplitIndex, *, batch_size: int, seed: int,
           exclude_identities=None, num_threads: int = 4,
           shard: bool = True) -> grain.IterDataset:
  """Endless batches of NIR images each paired with a random same-identity VIS image.

  Keys: nir_image, nir_landmarks, vis_image, vis_landmarks (images uint8 HxWx3),
  identity. `exclude_identities` (held-out validation identities) never appear.
  """
  nir = index.records(NIR, exclude_identities)
  vis = index.records(VIS, exclude_identities)
  vis_of = {i: vis[index.identity[vis] == i] for i in np.unique(index.identity)}
  nir = np.array([r for r in nir if len(vis_of[index.identity[r]])], np.int64)
  if len(nir) == 0:
    raise ValueError('paired mode needs identities with both NIR and VIS images; found none')

  def pair(record, rng: np.random.Generator):
    a = _read(source, record)
    b = _read(source, rng.choice(vis_of[int(a['identity'])]))
    return {'nir_image': a['image'], 'nir_landmarks': a['landmarks'],
            'vis_image': b['image'], 'vis_landmarks': b['landmarks'],
            'identity': a['identity']}

  ds = grain.MapDataset.source(nir).seed(seed).shuffle().repeat().random_map(pair)
  return _to_iter(_batches(ds, batch_size, shard), num_threads)


def unpaired(source, index: SplitIndex, *, batch_size: int, seed: int,
             exclude_identities=None, num_threads: int = 4,
             shard: bool = True) -> grain.IterDataset:
  """Endless batches of independent NIR and VIS images; no identity reaches the model."""
  streams = []
  for k, modality in enumerate((NIR, VIS)):
    records = index.records(modality, exclude_identities)
    if len(records) == 0:
      raise ValueError(f'unpaired mode needs {("NIR", "VIS")[modality]} images; found none')
    ds = grain.MapDataset.source(records).seed(seed + 7919 * k).shuffle()
    streams.append(ds.repeat().map(lambda r: _read(source, r)))

  def merge(pair):
    a, b = pair
    return {'nir_image': a['image'], 'nir_landmarks': a['landmarks'],
            'vis_image': b['image'], 'vis_landmarks': b['landmarks']}

  ds = grain.experimental.ZipMapDataset(streams).map(merge)
  return _to_iter(_batches(ds, batch_size, shard), num_threads)


def labelled(source, index: SplitIndex, *, batch_size: int, seed: int, modality: int = VIS,
             exclude_identities=None, num_threads: int = 4,
             shard: bool = True) -> grain.IterDataset:
  """Endless shuffled batches of one modality with identity labels (recognizer training).

  Keys: image, landmarks, identity.
  """
  records = index.records(modality, exclude_identities)
  if len(records) == 0:
    raise ValueError(f'no {("NIR", "VIS")[modality]} images in this split')
  ds = grain.MapDataset.source(records).seed(seed).shuffle().repeat()
  return _to_iter(_batches(ds.map(lambda r: _read(source, r)), batch_size, shard), num_threads)


def evaluation(source, index: SplitIndex, *, batch_size: int, records=None, twins: bool = False,
               num_threads: int = 4, shard: bool = True) -> grain.IterDataset:
  """One pass in order; the last global batch is zero-padded and `mask` marks real rows.

  `twins`: also `vis_twin`, each record's VIS twin (uint8 like `image`); every
  record must have one. Sharded, every process yields the same number of
  batches (its parts of the global ones), padding included.
  """
  records = np.arange(len(index.identity)) if records is None else np.asarray(records)
  if twins and not index.has_twin[records].all():
    raise ValueError('twins=True, but some records have no vis_twin')
  if len(records) == 0:
    raise ValueError('no records to evaluate')
  padded = np.full(-(-len(records) // batch_size) * batch_size, -1, np.int64)
  padded[:len(records)] = records

  def read(r):
    example = _read(source, records[0] if r < 0 else r, twins)
    if r < 0:   # padding: zeros, masked out
      example = {k: np.zeros_like(v) for k, v in example.items()}
    return {**example, 'mask': np.bool_(r >= 0)}

  ds = grain.MapDataset.source(padded).map(read)
  return _to_iter(_batches(ds, batch_size, shard), num_threads)
