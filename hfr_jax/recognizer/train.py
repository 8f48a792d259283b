"""Train a LightCNN recognizer with softmax on a dataset's VIS training images.

The released LightCNN never saw NIR; training on VIS only keeps that, so the
NIR->VIS drop it shows is the gap hallucination must win back.
"""

import os

from absl import logging
from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from hfr_jax import datasets
from hfr_jax import driver
from hfr_jax import evaluate
from hfr_jax import input_pipeline
from hfr_jax import training
from hfr_jax.models import lightcnn
from hfr_jax.ops import augment
from hfr_jax.recognizer import features
from hfr_jax.recognizer import frozen
from hfr_jax.recognizer import losses
from hfr_jax.recognizer import pretrained


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


def augmented_inputs(rng, images, landmarks, size: int, jitter: augment.FaceJitter):
  """uint8 faces -> aligned gray (N, size, size, 1) under random alignment, flip and photometry."""
  return features.jittered(rng, images.astype(jnp.float32) / 255.0, landmarks, size, jitter)


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


class Trainer(nnx.Module):
  """The recognizer and its optimiser: the state the shared loop steps and checkpoints."""

  @driver.unpartitioned_draws
  def __init__(self, config: ml_collections.ConfigDict, num_classes: int, *, rngs: nnx.Rngs):
    m = config.model
    self.model = lightcnn.create(m.arch, num_classes=num_classes, width=m.width,
                                 input_size=m.input_size, rngs=rngs)
    if m.get('zero_init_residual'):
      lightcnn.zero_init_residual(self.model)
    self.optimizer = create_optimizer(self.model, config)


def make_train_step(config: ml_collections.ConfigDict, graphdef, classes: np.ndarray):
  """jit'd (state, batch, rng) -> (state, metrics); identities -> class labels on device."""
  t = config.train
  jitter = augment.FaceJitter(**t.aug)
  margin = dict(t.margin.items()) if t.loss == 'cosface' else {}
  classes = np.asarray(classes)

  def step(state, batch, rng):
    trainer = nnx.merge(graphdef, state)
    labels = jnp.searchsorted(classes, batch['identity']).astype(jnp.int32)
    x = augmented_inputs(rng, batch['image'], batch['landmarks'], config.model.input_size,
                         jitter)

    def loss_fn(model):
      return classification_loss(model, x, labels, t.loss, margin)

    (value, logits), grads = nnx.value_and_grad(loss_fn, has_aux=True)(trainer.model)
    trainer.optimizer.update(trainer.model, grads)
    accuracy = (logits.argmax(-1) == labels).mean()
    return nnx.state(trainer), {'loss': value, 'accuracy': accuracy}

  return jax.jit(step, donate_argnums=0)


def train(config: ml_collections.ConfigDict, workdir: str, builder=None, *,
          stop_at: int | None = None, name: str = 'recognizer'):
  """Trains (or resumes) and saves a `load_pretrained` directory; returns (model, dir).

  `name` prefixes the progress lines (a run that trains F and a judge shows which).

  The last `config.eval.val_identities` training identities are held out
  (`input_pipeline.validation_identities`) and scored every `eval_every`
  steps. `stop_at` leaves after that step with a checkpoint, as a preemption
  would (the next call resumes); nothing is exported then and the dir is None.
  """
  builder = builder or datasets.prepare(config.data)
  split = driver.TrainSplit.open(builder, config.eval.val_identities)
  classes = np.unique(split.index.identity[split.index.records(input_pipeline.VIS,
                                                              split.held_out)])
  init_rngs, step_key = training.rng_streams(config.seed)
  trainer = Trainer(config, len(classes), rngs=init_rngs)
  batches = iter(input_pipeline.labelled(split.source, split.index,
                                         batch_size=config.train.batch_size, seed=config.seed,
                                         exclude_identities=split.held_out))
  graphdef, _ = nnx.split(trainer)

  def curves(trainer, protocol):
    trainer.model.eval()
    found = evaluate.feature_curves(evaluate.recognizer_fn(trainer.model), builder, protocol,
                                    batch_size=config.eval.batch_size)
    trainer.model.train()
    return found
  validate = split.validator(curves)

  step = training.train_loop(
      trainer, make_train_step(config, graphdef, classes), batches, workdir=workdir,
      schedule=training.Schedule.from_config(config.train), step_key=step_key,
      checkpointed=('model', 'optimizer'), name=name,
      batch_keys=('image', 'landmarks', 'identity'), validate=validate, stop_at=stop_at)
  if step < config.train.num_steps:
    return trainer.model, None
  model = trainer.model
  model.eval()
  m = config.model
  output_dir = config.output_dir or os.path.join(workdir, 'pretrained')
  pretrained.save_pretrained(model, output_dir, arch=m.arch, num_classes=len(classes),
                             width=m.width, input_size=m.input_size)
  logging.info('Recognizer saved to %s', output_dir)
  return model, output_dir


def train_missing(job: frozen.Training | None):
  """Runs a method's explicit step before it loads a frozen recognizer: trains the one
  `frozen.to_train` / `frozen.judge_to_train` found missing (None: it is on disk)."""
  if job is not None:
    train(job.recipe, job.workdir, name=job.name)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains a recognizer, or loads config.pretrained_dir (nothing trained), and scores it."""
  pretrained_dir = config.get('pretrained_dir')
  # A missing or foreign directory fails before any data is built.
  model = pretrained.load_pretrained(pretrained_dir) if pretrained_dir else None
  builder = datasets.prepare(config.data)
  if model is None:
    model, output_dir = train(config, workdir, builder)
    title = f'LightCNN-{config.model.arch} recognizer (trained on VIS only)'
  else:
    output_dir = pretrained_dir
    title = f'LightCNN-{model.arch} recognizer ({pretrained_dir}, not trained here)'
  curves = evaluate.feature_curves(evaluate.recognizer_fn(model), builder,
                                   batch_size=config.eval.batch_size)
  return evaluate.write_report(
      workdir, curves, title=title,
      dataset=evaluate.dataset_info(builder),
      config=config, extra={'recognizer_dir': output_dir},
      notes='Features: the 256-d `fc` output; cosine similarity. vis_to_vis is the upper '
            'bound hallucination works towards.')
