"""The frozen recognizer F: trained on the recipe's VIS count over the method's identities, and
more VIS photos per identity leave every test image as it was."""

import os

from flax import nnx
import jax
import numpy as np
import pytest

from configs import lightcnn as lightcnn_config
from configs import pcfh as pcfh_config
from hfr_jax import datasets
from hfr_jax import input_pipeline
from hfr_jax.models import lightcnn
from hfr_jax.recognizer import frozen
from hfr_jax.recognizer import train as recognizer_train

from conftest import tiny_data_config

IDENTITY_FIELDS = ('name', 'config', 'data_dir', 'seed', 'num_identities', 'resolution',
                   'nir_per_identity')


def test_recognizer_data_keeps_the_methods_identities_and_the_recipes_vis_count():
  recipe = lightcnn_config.get_config('cpu').data
  assert recipe.vis_per_identity == 8          # what measured VIS->VIS 96 %
  data = datasets.synthetic_config('demo')
  data.update(seed=11, data_dir='/somewhere')
  before = data.to_dict()
  got = datasets.recognizer_data(recipe, data)
  for field in IDENTITY_FIELDS:
    assert got[field] == data[field], field
  assert got.vis_per_identity == 8 and data.vis_per_identity == 4
  assert data.to_dict() == before              # the method's data is not touched
  # A dataset the recipe does not describe (CASIA): the method's data as it is.
  casia = pcfh_config.get_config('casia').data
  assert datasets.recognizer_data(recipe, casia).to_dict() == casia.to_dict()


def test_missing_recognizer_without_training_names_the_config_field(tmp_path):
  config = pcfh_config.get_config('demo')
  config.recognizer.update(dir=str(tmp_path / 'empty'), train_if_missing=False)
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(FileNotFoundError, match='config.recognizer.dir') as e:
    frozen.load_or_train(config, str(tmp_path / 'work'))
  assert str(tmp_path / 'empty') in str(e.value)


def test_load_or_train_trains_once_with_the_recipe_on_the_methods_identities(tmp_path,
                                                                            monkeypatch):
  config = pcfh_config.get_config('demo')
  config.data.update(seed=7, data_dir=str(tmp_path / 'tfds'))
  calls = []

  def fake_train(recipe, workdir, builder=None, *, stop_at=None):
    """Records what F would be trained with and saves a tiny LightCNN where asked."""
    calls.append((recipe.copy_and_resolve_references(), workdir))
    model = lightcnn.create('9', num_classes=4, width=0.125, input_size=32, rngs=nnx.Rngs(0))
    lightcnn.save_pretrained(model, recipe.output_dir, arch='9', num_classes=4, width=0.125,
                             input_size=32)
    return model, recipe.output_dir
  monkeypatch.setattr(recognizer_train, 'train', fake_train)

  workdir = str(tmp_path / 'work')
  model = frozen.load_or_train(config, workdir)
  (recipe, train_dir), = calls
  for field in IDENTITY_FIELDS:
    assert recipe.data[field] == config.data[field], field
  assert recipe.data.vis_per_identity == 8 != config.data.vis_per_identity
  assert recipe.eval.val_identities == config.eval.val_identities
  assert recipe.train.num_steps == config.recognizer.recipe.train.num_steps
  assert recipe.output_dir == os.path.join(workdir, 'recognizer', 'pretrained')
  assert train_dir == os.path.join(workdir, 'recognizer')
  assert model.input_size == 32
  # Saved where the next run looks: loaded, not trained again.
  again = frozen.load_or_train(config, workdir)
  assert len(calls) == 1 and again.input_size == 32
  jax.tree.map(np.testing.assert_array_equal, nnx.to_pure_dict(nnx.state(again, nnx.Param)),
               nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def records(builder, split):
  """{image_id: (png bytes, landmarks, identity, modality)} of a split."""
  source, index = input_pipeline.open_split(builder, split)
  out = {}
  for i, image_id in enumerate(index.image_id):
    ex = source[i]
    out[image_id] = (ex['image'], np.asarray(ex['landmarks']), int(ex['identity']),
                     int(ex['modality']))
  return out


def assert_same(a, b):
  assert a.keys() == b.keys()
  for k in a:
    assert a[k][0] == b[k][0], k                      # the same PNG bytes
    np.testing.assert_array_equal(a[k][1], b[k][1])
    assert a[k][2:] == b[k][2:], k


def test_more_vis_photos_for_f_leave_the_test_set_unchanged(tmp_path):
  data = tiny_data_config(tmp_path / 'tfds', num_identities=4, resolution=32,
                          vis_per_identity=3, nir_per_identity=2)
  recipe = lightcnn_config.get_config('cpu').data
  recipe.vis_per_identity = 4
  method = datasets.prepare(data)
  for_f = datasets.prepare(datasets.recognizer_data(recipe, data))   # the same data_dir
  assert method.builder_config.name != for_f.builder_config.name
  # Gallery and NIR probes: the same images of the same identities.
  for split in ('gallery', 'probe'):
    got, want = records(for_f, split), records(method, split)
    assert len(want) == {'gallery': 2, 'probe': 4}[split]
    assert_same(got, want)
  # test_vis (VIS probes) and the training VIS: the method's images plus one more each.
  for split, extra in (('test_vis', 2), ('train', 2)):
    got, want = records(for_f, split), records(method, split)
    assert len(got) == len(want) + extra
    assert_same({k: got[k] for k in want}, want)
    new = set(got) - set(want)
    assert {got[k][3] for k in new} == {input_pipeline.VIS}
  # F and the method hold out the same validation identities.
  _, index_f = input_pipeline.open_split(for_f, 'train')
  _, index_m = input_pipeline.open_split(method, 'train')
  np.testing.assert_array_equal(input_pipeline.validation_identities(index_f, 1),
                                input_pipeline.validation_identities(index_m, 1))
