"""Train a LightCNN recognizer with softmax on a dataset's VIS training images.

The released LightCNN never saw NIR; training on VIS only keeps that, so the
NIR->VIS drop it shows is the gap hallucination must win back.
"""

import functools
import os

from absl import logging
from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import input_pipeline
from hfr_jax import training
from hfr_jax.models import lightcnn
from hfr_jax.ops import align
from hfr_jax.recognizer import features
from hfr_jax.recognizer import losses


def create_optimizer(model, config: ml_collections.ConfigDict) -> nnx.Optimizer:
  t = config.train
  schedule = optax.warmup_cosine_decay_schedule(
      0.0, t.learning_rate, min(t.warmup_steps, t.num_steps - 1), t.num_steps)
  if t.optimizer == 'sgd':
    tx = optax.chain(optax.add_decayed_weights(t.weight_decay),
                     optax.sgd(schedule, momentum=t.momentum, nesterov=True))
  elif t.optimizer == 'adamw':
    tx = optax.adamw(schedule, weight_decay=t.weight_decay)
  else:
    raise ValueError(f'config.train.optimizer: {t.optimizer!r} is not sgd or adamw')
  return nnx.Optimizer(model, tx, wrt=nnx.Param)


def augmented_inputs(rng, images, landmarks, size: int, jitter: input_pipeline.FaceJitter):
  """uint8 faces -> aligned gray (N, size, size, 1) under random alignment, flip and photometry."""
  n = len(images)
  k_geometry, k_flip, k_photo = jax.random.split(rng, 3)
  template = jnp.asarray(align.mean_face(size))
  templates = jax.vmap(lambda k: input_pipeline.jitter_template(k, template, jitter))(
      jax.random.split(k_geometry, n))
  x = features.prepare(images.astype(jnp.float32) / 255.0, landmarks, size, templates)
  # The template is symmetric about the crop's centre column, so a mirrored crop is aligned too.
  flip = jax.random.bernoulli(k_flip, float(jitter.flip_prob), (n,))
  x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
  return jax.vmap(lambda k, i: input_pipeline.photometric(k, i, jitter))(
      jax.random.split(k_photo, n), x)


def classification_loss(model, x, labels, loss: str, margin: dict):
  """(loss, logits used for accuracy) of one batch under config.train.loss."""
  logits, feats = model(x)
  if loss == 'softmax':
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), logits
  if loss == 'cosface':
    kernel = model.fc2.kernel[...]
    value = losses.cosface(feats, kernel, labels, **margin)
    return value, losses.cosface_logits(feats, kernel, labels, scale=1.0, margin=0.0)
  raise ValueError(f'config.train.loss: {loss!r} is not softmax or cosface')


@functools.partial(nnx.jit, static_argnames=('size', 'jitter', 'loss', 'margin'))
def train_step(model, optimizer, batch, rng, *, size: int, jitter: input_pipeline.FaceJitter,
               loss: str = 'softmax', margin: tuple = ()):
  x = augmented_inputs(rng, batch['image'], batch['landmarks'], size, jitter)

  def loss_fn(model):
    return classification_loss(model, x, batch['label'], loss, dict(margin))

  (value, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model)
  optimizer.update(model, grads)
  accuracy = (logits.argmax(-1) == batch['label']).mean()
  return {'loss': value, 'accuracy': accuracy}


def train(config: ml_collections.ConfigDict, workdir: str, builder=None, *,
          stop_at: int | None = None):
  """Trains (or resumes) and saves a `load_pretrained` directory; returns (model, dir).

  `stop_at` leaves after that step with a checkpoint, as a preemption would
  (the next call resumes); nothing is exported then and the dir is None.
  """
  builder = builder or datasets.prepare(config.data)
  source, index = input_pipeline.open_split(builder, 'train')
  classes = np.unique(index.identity[index.records(input_pipeline.VIS)])
  m, t = config.model, config.train
  model = lightcnn.create(m.arch, num_classes=len(classes), width=m.width,
                          input_size=m.input_size, rngs=nnx.Rngs(config.seed))
  optimizer = create_optimizer(model, config)
  mesh = training.make_mesh()
  nnx.update(model, training.replicate(nnx.state(model), mesh))
  nnx.update(optimizer, training.replicate(nnx.state(optimizer), mesh))

  batches = input_pipeline.labelled(source, index, batch_size=t.batch_size // jax.process_count(),
                                    seed=config.seed)
  it = iter(batches)
  ckpt = training.Checkpoints(os.path.join(workdir, 'checkpoints'), max_to_keep=2)
  step = ckpt.restore({'model': model, 'optimizer': optimizer}, it) or 0
  if step:
    logging.info('Resumed recognizer training at step %d', step)
  logger = training.Logger(workdir, t.num_steps, every=t.log_every)
  base_rng = jax.random.key(config.seed)
  jitter = input_pipeline.FaceJitter(**t.aug)
  margin = tuple(sorted(t.margin.items())) if t.loss == 'cosface' else ()
  metrics = {}
  last = t.num_steps if stop_at is None else min(stop_at, t.num_steps)
  while step < last:
    batch = next(it)
    batch = {'image': batch['image'], 'landmarks': batch['landmarks'],
             'label': np.searchsorted(classes, batch['identity']).astype(np.int32)}
    metrics = train_step(model, optimizer, training.shard_batch(batch, mesh),
                         jax.random.fold_in(base_rng, step), size=m.input_size,
                         jitter=jitter, loss=t.loss, margin=margin)
    step += 1
    if step % t.log_every == 0 or step % t.checkpoint_every == 0 or step == t.num_steps:
      training.check_finite(metrics, step)
      logger.scalars(step, {f'train/{k}': v for k, v in metrics.items()})
      logger.progress(step, metrics)
    if step % t.checkpoint_every == 0 or step in (t.num_steps, last):
      ckpt.save(step, {'model': model, 'optimizer': optimizer}, it)
  ckpt.close()
  logger.close()
  if step < t.num_steps:
    return model, None
  model.eval()
  output_dir = config.output_dir or os.path.join(workdir, 'pretrained')
  lightcnn.save_pretrained(model, output_dir, arch=m.arch, num_classes=len(classes),
                           width=m.width, input_size=m.input_size)
  logging.info('Recognizer saved to %s', output_dir)
  return model, output_dir


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  builder = datasets.prepare(config.data)
  model, output_dir = train(config, workdir, builder)
  curves = features.hfr_curves(model, builder, config.model.input_size)
  payload = evaluate.write_report(
      workdir, curves, title=f'LightCNN-{config.model.arch} recognizer (trained on VIS only)',
      dataset={'name': config.data.name, 'config': builder.builder_config.name,
               'data_dir': str(builder.data_dir)},
      config=config, extra={'recognizer_dir': output_dir},
      notes='Features: the 256-d `fc` output; cosine similarity.')
  for name, r in payload['metrics'].items():
    logging.info('%s: rank-1 %.4f  VR@1e-2 %.4f  VR@1e-3 %.4f', name, r['rank1'],
                 r['vr_at_far_1e-2'], r['vr_at_far_1e-3'])
  return payload
