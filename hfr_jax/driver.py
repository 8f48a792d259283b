"""What every trainer's `train()` does around its own step: the training split with its
held-out identities, the optimiser, the rank-1 validator, the first test faces to draw.

A method's folder keeps its equations, players and step; the run around them is here.
"""

import dataclasses
import functools
from typing import Callable

from flax import nnx
import jax
import ml_collections
import numpy as np
import optax

from hfr_jax import evaluate
from hfr_jax import input_pipeline
from hfr_jax import metrics


def unpartitioned_draws(init: Callable) -> Callable:
  """A players' `__init__` whose random initialisers run with threefry unpartitioned.

  JAX's default, partitionable threefry, makes XLA:CPU (jaxlib 0.10) spend 1-5 s compiling
  each initialiser's random bits on 2 cores against 0.3 s unpartitioned: a tiny NULL trainer
  built in 36-47 s, now 11-13 s. The players are built on one device and replicated after, so
  partitioning the draws buys nothing here. Both draw the same distribution, not the same
  numbers. The steps' draws (VAE noise, jitter) keep JAX's default.
  """
  @functools.wraps(init)
  def wrapped(*args, **kwargs):
    with jax.threefry_partitionable(False):
      return init(*args, **kwargs)
  return wrapped


@dataclasses.dataclass(frozen=True)
class TrainSplit:
  """The train split (`source`, `index`), the identities held out of training
  (`input_pipeline.validation_identities`) and the protocol that scores them."""
  builder: object
  source: object
  index: input_pipeline.SplitIndex
  held_out: np.ndarray

  @classmethod
  def open(cls, builder, val_identities: int) -> 'TrainSplit':
    source, index = input_pipeline.open_split(builder, 'train')
    return cls(builder, source, index,
               input_pipeline.validation_identities(index, val_identities))

  @property
  def protocol(self) -> evaluate.Protocol:
    return evaluate.Protocol.validation(self.builder, self.held_out)

  def validator(self, curves_fn: Callable) -> Callable | None:
    """validate(trainer) -> {'rank1_<curve>': rank-1} of curves_fn(trainer, protocol) on the
    held-out identities; None when none are held out (nothing to validate)."""
    if not len(self.held_out):
      return None
    protocol = self.protocol
    return lambda trainer: {f'rank1_{k}': metrics.rank_k_accuracy(*c)
                            for k, c in curves_fn(trainer, protocol).items()}


def learning_rate_schedule(train: ml_collections.ConfigDict,
                           learning_rate: float) -> optax.ScalarOrSchedule:
  """MUNIT's 'step' policy: the rate times `lr_decay_rate` every `lr_decay_every` steps
  (MUNIT: 0.5 every 100k of 1M). `lr_decay_every` 0 or absent: the constant rate itself, so
  the optimiser's state (and older checkpoints) keep their structure."""
  every = train.get('lr_decay_every', 0)
  if every < 0:
    raise ValueError(f'config.train.lr_decay_every: {every} < 0 (0 keeps the rate constant)')
  if not every:
    return learning_rate
  return optax.exponential_decay(learning_rate, transition_steps=every,
                                 decay_rate=train.get('lr_decay_rate', 0.5), staircase=True)


def adam(train: ml_collections.ConfigDict, learning_rate: float) -> optax.GradientTransformation:
  """Adam with config.train's beta1, beta2 and adam_eps (the GAN players' optimiser), its
  learning-rate schedule, and `weight_decay` as MUNIT applies it: torch's Adam adds
  weight_decay * w to the gradient before the moments (L2, not AdamW's decoupled decay)."""
  tx = optax.adam(learning_rate_schedule(train, learning_rate), b1=train.beta1, b2=train.beta2,
                  eps=train.adam_eps)
  decay = train.get('weight_decay', 0.0)
  if decay < 0:
    raise ValueError(f'config.train.weight_decay: {decay} < 0')
  return optax.chain(optax.add_decayed_weights(decay), tx) if decay else tx


def optimizer(module: nnx.Module, train: ml_collections.ConfigDict,
              learning_rate: float) -> nnx.Optimizer:
  """`adam` over `module`'s parameters."""
  return nnx.Optimizer(module, adam(train, learning_rate), wrt=nnx.Param)


def first_faces(builder, count: int):
  """The first `count` test identities' first NIR probe and gallery face, for a sample grid:
  ((probe images, landmarks), (gallery images, landmarks), probe records)."""
  _, probe_index = input_pipeline.open_split(builder, 'probe')
  _, gallery_index = input_pipeline.open_split(builder, 'gallery')
  ids = np.unique(probe_index.identity)[:count]
  probes = [int(np.flatnonzero(probe_index.identity == i)[0]) for i in ids]
  gallery = [int(np.flatnonzero(gallery_index.identity == i)[0]) for i in ids]
  p_img, p_lm, _ = evaluate.read_images(builder, 'probe', probes)
  g_img, g_lm, _ = evaluate.read_images(builder, 'gallery', gallery)
  return (p_img, p_lm), (g_img, g_lm), probes
