"""Baseline: landmark-aligned gray faces matched by raw-pixel cosine similarity.

No learning at all: it shows how far pixels alone get, across the spectral gap
(NIR probe vs VIS gallery) and within one spectrum (VIS vs VIS).
"""

import functools

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import input_pipeline
from hfr_jax import metrics
from hfr_jax.ops import align
from hfr_jax.ops import color


@functools.partial(jax.jit, static_argnames='size')
def pixel_features(images, landmarks, *, size: int):
  """Aligned, gray, zero-mean pixels of a uint8 batch: [N, size*size]."""
  template = jnp.asarray(align.mean_face(size))
  faces, _ = jax.vmap(lambda i, l: align.align(i, l, template, size))(images, landmarks)
  gray = color.rgb_to_gray(faces / 255.0).reshape(len(images), -1)
  return gray - gray.mean(axis=1, keepdims=True)


def split_features(builder, split: str, size: int, batch_size: int):
  source, index = input_pipeline.open_split(builder, split)
  feats, ids = [], []
  for batch in input_pipeline.evaluation(source, index, batch_size=batch_size, shard=False):
    f = np.asarray(pixel_features(batch['image'], batch['landmarks'], size=size))
    feats.append(f[batch['mask']])
    ids.append(batch['identity'][batch['mask']])
  return np.concatenate(feats), np.concatenate(ids)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  builder = datasets.prepare(config.data)
  logging.info('Dataset %s at %s', builder.info.full_name, builder.data_dir)
  size, bs = config.align_size, config.eval_batch_size
  gallery, gallery_ids = split_features(builder, 'gallery', size, bs)
  curves = {}
  for name, split in (('nir_to_vis', 'probe'), ('vis_to_vis', 'test_vis')):
    probe, probe_ids = split_features(builder, split, size, bs)
    curves[name] = (metrics.cosine_similarity(probe, gallery), probe_ids, gallery_ids)
  payload = evaluate.write_report(
      workdir, curves, title='Raw-pixel baseline (aligned gray, cosine)',
      dataset={'name': config.data.name, 'config': builder.builder_config.name,
               'data_dir': str(builder.data_dir)},
      config=config,
      notes=f'Faces aligned by a similarity transform onto the mean shape at {size}x{size}.')
  for name, r in payload['metrics'].items():
    logging.info('%s: rank-1 %.4f  VR@1e-2 %.4f  VR@1e-3 %.4f', name, r['rank1'],
                 r['vr_at_far_1e-2'], r['vr_at_far_1e-3'])
  return payload
