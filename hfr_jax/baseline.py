"""Baseline: landmark-aligned gray faces matched by raw-pixel cosine similarity.

No learning at all: it shows how far pixels alone get, across the spectral gap
(NIR probe vs VIS gallery) and within one spectrum (VIS vs VIS).
"""

import functools

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections

from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax.ops import align
from hfr_jax.ops import color


@functools.partial(jax.jit, static_argnames='size')
def pixel_features(images, landmarks, *, size: int):
  """Aligned, gray, zero-mean pixels of a uint8 batch: [N, size*size]."""
  template = jnp.asarray(align.mean_face(size))
  faces, _ = jax.vmap(lambda i, l: align.align(i, l, template, size))(images, landmarks)
  gray = color.rgb_to_gray(faces / 255.0).reshape(len(images), -1)
  return gray - gray.mean(axis=1, keepdims=True)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  builder = datasets.prepare(config.data)
  logging.info('Dataset %s at %s', builder.info.full_name, builder.data_dir)
  size = config.align_size
  curves = evaluate.feature_curves(
      lambda batch: pixel_features(batch['image'], batch['landmarks'], size=size), builder,
      batch_size=config.eval_batch_size)
  return evaluate.write_report(
      workdir, curves, title='Raw-pixel baseline (aligned gray, cosine)',
      dataset=evaluate.dataset_info(builder),
      config=config,
      notes=f'Faces aligned by a similarity transform onto the mean shape at {size}x{size}.')
