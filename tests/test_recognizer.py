"""Recognizer training: learns, resumes exactly, saves a loadable model; NaN stops it."""

import os

from flax import nnx
import jax
import numpy as np
import optax
import pytest

from configs import lightcnn as lightcnn_config
from hfr_jax import evaluate
from hfr_jax import input_pipeline
from hfr_jax import training
from hfr_jax.models import lightcnn
from hfr_jax.ops import augment
from hfr_jax.recognizer import features
from hfr_jax.recognizer import pretrained
from hfr_jax.recognizer import train

from conftest import TINY


def _config(tiny_builder, steps, checkpoint_every):
  config = lightcnn_config.get_config('small')
  config.data.update(TINY)
  config.data.data_dir = str(tiny_builder.data_dir_root)
  config.model.update(arch='9', width=0.125, input_size=32)
  config.train.update(num_steps=steps, batch_size=8, checkpoint_every=checkpoint_every,
                      log_every=2, warmup_steps=1)
  return config


def _params(model):
  return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))


@pytest.mark.heavy(50)
def test_resumed_training_reaches_the_same_parameters(tiny_builder, tmp_path):
  whole, _ = train.train(_config(tiny_builder, 6, 3), str(tmp_path / 'a'), tiny_builder)
  _, nothing = train.train(_config(tiny_builder, 6, 3), str(tmp_path / 'b'), tiny_builder,
                           stop_at=3)
  assert nothing is None
  resumed, out = train.train(_config(tiny_builder, 6, 3), str(tmp_path / 'b'), tiny_builder)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               _params(whole), _params(resumed))
  # The saved directory rebuilds the same recognizer.
  loaded = pretrained.load_pretrained(out)
  images = np.zeros((2, 48, 48, 3), np.uint8)
  landmarks = np.tile(np.asarray(features.align.mean_face(48))[None], (2, 1, 1))
  np.testing.assert_allclose(features.embed(loaded, images / 255.0, landmarks),
                             features.embed(resumed, images / 255.0, landmarks), atol=1e-5)


@pytest.mark.heavy(40)
def test_training_lowers_the_softmax_loss(tiny_builder, tmp_path):
  config = _config(tiny_builder, 40, 40)
  config.train.learning_rate = 3e-3
  model, _ = train.train(config, str(tmp_path), tiny_builder)
  assert os.listdir(tmp_path / 'tensorboard')[0].startswith('events.out.tfevents')
  source, index = input_pipeline.open_split(tiny_builder, 'train')
  images, landmarks, ids = evaluate.read_images(tiny_builder, 'train',
                                                index.records(input_pipeline.VIS))
  labels = np.searchsorted(np.unique(ids), ids)
  x = features.prepare(images / 255.0, landmarks, 32)
  untrained = lightcnn.create('9', num_classes=len(np.unique(ids)), width=0.125,
                              input_size=32, rngs=nnx.Rngs(config.seed))
  untrained.eval()
  loss = lambda m: float(optax.softmax_cross_entropy_with_integer_labels(m(x)[0], labels).mean())
  assert loss(model) < 0.8 * loss(untrained)


def test_non_finite_loss_names_the_step():
  with pytest.raises(FloatingPointError, match='step 17'):
    training.check_finite({'loss': np.float32(np.nan), 'accuracy': 0.5}, 17)
  training.check_finite({'loss': np.float32(1.0)}, 18)


def test_unjittered_training_inputs_are_the_evaluation_inputs(tiny_builder):
  images, landmarks, _ = evaluate.read_images(tiny_builder, 'train', np.arange(4))
  aligned = np.asarray(features.prepare(images / 255.0, landmarks, 32))
  key = jax.random.key(0)
  same = train.augmented_inputs(key, images, landmarks, 32, augment.FaceJitter(flip_prob=0))
  np.testing.assert_allclose(same, aligned, atol=1e-5)
  mirrored = train.augmented_inputs(key, images, landmarks, 32,
                                    augment.FaceJitter(flip_prob=1))
  np.testing.assert_allclose(mirrored, aligned[:, :, ::-1], atol=1e-5)
