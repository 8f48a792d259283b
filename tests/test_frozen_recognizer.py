"""The frozen recognizers. F: trained on the recipe's VIS count over the method's identities, and
more VIS photos per identity leave every test image as it was. The judge: trained on another
seed's identities, never on the run's, and never F."""

import os

from flax import nnx
import jax
import numpy as np
import pytest

from configs import common
from configs import lightcnn as lightcnn_config
from configs import pcfh as pcfh_config
from hfr_jax import datasets
from hfr_jax import input_pipeline
from hfr_jax.models import lightcnn
from hfr_jax.recognizer import frozen
from hfr_jax.recognizer import pretrained
from hfr_jax.recognizer import train as recognizer_train

from conftest import tiny_data_config

IDENTITY_FIELDS = ('name', 'config', 'data_dir', 'seed', 'num_identities', 'resolution',
                   'nir_per_identity')


def test_recognizer_data_keeps_the_methods_identities_and_the_recipes_vis_count():
  recipe = lightcnn_config.get_config('cpu').data
  assert recipe.vis_per_identity == 8          # what measured VIS->VIS 96 %
  data = common.synthetic_config('demo')
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


def load_or_train(config, workdir):
  """What a method does for F: the explicit training step when F is missing, then the load."""
  recognizer_train.train_missing(frozen.to_train(config, workdir))
  return frozen.load(config, workdir)


def load_or_train_judge(config, workdir):
  """What a method does for the judge after training: train it when missing, then load it."""
  recognizer_train.train_missing(frozen.judge_to_train(config, workdir))
  return frozen.load_judge(config, workdir)


def test_missing_recognizer_without_training_names_the_config_field(tmp_path):
  config = pcfh_config.get_config('demo')
  config.judge.enabled = True   # demo's is the photo judge
  config.recognizer.update(dir=str(tmp_path / 'empty'), train_if_missing=False)
  os.makedirs(tmp_path / 'empty')
  for step in (frozen.to_train, frozen.load):
    with pytest.raises(FileNotFoundError, match='config.recognizer.dir') as e:
      step(config, str(tmp_path / 'work'))
    assert str(tmp_path / 'empty') in str(e.value)


def record_training(monkeypatch) -> list:
  """Replaces recognizer training: records (recipe, workdir, name) of each call and saves a
  tiny LightCNN of the recipe's arch where asked."""
  calls = []

  def fake_train(recipe, workdir, builder=None, *, stop_at=None, name='recognizer'):
    calls.append((recipe.copy_and_resolve_references(), workdir, name))
    arch = recipe.model.arch
    model = lightcnn.create(arch, num_classes=4, width=0.125, input_size=32, rngs=nnx.Rngs(0))
    pretrained.save_pretrained(model, recipe.output_dir, arch=arch, num_classes=4, width=0.125,
                               input_size=32)
    return model, recipe.output_dir
  monkeypatch.setattr(recognizer_train, 'train', fake_train)
  return calls


def test_f_trains_once_with_the_recipe_on_the_methods_identities(tmp_path, monkeypatch):
  config = pcfh_config.get_config('demo')
  config.judge.enabled = True   # demo's is the photo judge
  config.data.update(seed=7, data_dir=str(tmp_path / 'tfds'))
  calls = record_training(monkeypatch)

  workdir = str(tmp_path / 'work')
  model = load_or_train(config, workdir)
  (recipe, train_dir, _), = calls
  for field in IDENTITY_FIELDS:
    assert recipe.data[field] == config.data[field], field
  assert recipe.data.vis_per_identity == 8 != config.data.vis_per_identity
  assert recipe.eval.val_identities == config.eval.val_identities
  assert recipe.train.num_steps == config.recognizer.recipe.train.num_steps
  assert recipe.output_dir == os.path.join(workdir, 'recognizer', 'pretrained')
  assert train_dir == os.path.join(workdir, 'recognizer')
  assert model.input_size == 32
  # Saved where the next run looks: loaded, not trained again.
  again = load_or_train(config, workdir)
  assert len(calls) == 1 and again.input_size == 32
  jax.tree.map(np.testing.assert_array_equal, nnx.to_pure_dict(nnx.state(again, nnx.Param)),
               nnx.to_pure_dict(nnx.state(model, nnx.Param)))


def test_the_loaders_never_train_a_missing_recognizer(tmp_path, monkeypatch):
  """Loading F or the judge reads a directory; training one is the method's explicit step."""
  config = pcfh_config.get_config('demo')
  config.judge.enabled = True   # demo's is the photo judge
  config.data.update(seed=7, data_dir=str(tmp_path / 'tfds'))
  calls = record_training(monkeypatch)
  workdir = str(tmp_path / 'work')
  assert config.recognizer.train_if_missing and config.judge.train_if_missing
  with pytest.raises(FileNotFoundError, match='config.recognizer.dir'):
    frozen.load(config, workdir)
  with pytest.raises(FileNotFoundError, match='config.judge.dir'):
    frozen.load_judge(config, workdir)
  assert not calls
  job = frozen.to_train(config, workdir)
  assert (job.workdir, job.name) == (os.path.join(workdir, 'recognizer'), 'recognizer')
  assert job.recipe.output_dir == frozen.directory(config, workdir)
  assert not calls   # a job is a description; train_missing runs it
  recognizer_train.train_missing(job)
  assert len(calls) == 1 and frozen.to_train(config, workdir) is None
  recognizer_train.train_missing(None)
  assert len(calls) == 1


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


def test_the_judge_trains_once_on_another_seeds_identities_with_its_own_recipe(tmp_path,
                                                                              monkeypatch):
  config = pcfh_config.get_config('demo')
  config.judge.enabled = True   # demo's is the photo judge
  config.data.update(seed=7, data_dir=str(tmp_path / 'tfds'))
  calls = record_training(monkeypatch)
  workdir = str(tmp_path / 'work')
  judge = load_or_train_judge(config, workdir)
  (recipe, train_dir, name), = calls
  assert name == 'judge'
  # The method's set drawn from seed 7 + 1000: same size and resolution, other identities.
  assert recipe.data.seed == 1007 != config.data.seed
  for field in ('name', 'data_dir', 'num_identities', 'resolution', 'nir_per_identity'):
    assert recipe.data[field] == config.data[field], field
  assert recipe.data.vis_per_identity == config.judge.recipe.data.vis_per_identity
  f_data = datasets.recognizer_data(config.recognizer.recipe.data, config.data)
  assert (datasets.builder(recipe.data).builder_config.name
          != datasets.builder(f_data).builder_config.name)
  # Its own recipe, not F's: another architecture and seed; no validation hold-out.
  assert recipe.model.to_dict() == config.judge.recipe.model.to_dict()
  assert recipe.model.arch != config.recognizer.recipe.model.arch
  assert recipe.seed == config.judge.recipe.seed != config.recognizer.recipe.seed
  assert recipe.eval.val_identities == 0
  assert recipe.output_dir == os.path.join(workdir, 'judge', 'pretrained')
  assert train_dir == os.path.join(workdir, 'judge')
  assert judge.arch == recipe.model.arch
  assert frozen.describe(judge, config, workdir) == {
      'arch': recipe.model.arch, 'seed': recipe.seed, 'data_seed': 1007,
      'dir': os.path.join(workdir, 'judge', 'pretrained')}
  # Saved where the next run looks; an explicit data_seed is taken as given.
  load_or_train_judge(config, workdir)
  assert len(calls) == 1
  config.judge.data_seed = 3
  assert frozen.judge_data(config).seed == 3


def test_the_judges_training_images_are_none_of_the_runs(tmp_path):
  """Rendered for real at tiny size: no training image of the judge (by its PNG bytes) is an
  image of the method's set, training or test."""
  config = pcfh_config.get_config('demo')
  config.judge.enabled = True   # demo's is the photo judge
  config.data = tiny_data_config(tmp_path / 'tfds', num_identities=4, resolution=32,
                                 vis_per_identity=2, nir_per_identity=1)
  config.judge.recipe.data.vis_per_identity = 2
  method = datasets.prepare(config.data)
  judge = datasets.prepare(frozen.judge_data(config))
  assert judge.builder_config.seed == config.data.seed + frozen.JUDGE_SEED_OFFSET
  theirs = {png for split in ('train', 'gallery', 'probe', 'test_vis')
            for png, *_ in records(method, split).values()}
  ours = [png for png, _, _, modality in records(judge, 'train').values()
          if modality == input_pipeline.VIS]
  assert len(ours) == 2 * 2 and not theirs & set(ours)


@pytest.mark.parametrize('field, value', [('config.data.seed', 7),
                                          ('config.eval_data.seed', 9)])
def test_a_judge_seed_the_run_trains_or_tests_on_is_refused(tmp_path, field, value):
  config = pcfh_config.get_config('demo')
  config.judge.enabled = True   # demo's is the photo judge
  config.data.seed = 7
  config.eval_data = config.data.copy_and_resolve_references()
  config.eval_data.seed = 9
  config.judge.data_seed = value
  with pytest.raises(ValueError, match=f'config.judge.data_seed={value} is {field}'):
    frozen.judge_to_train(config, str(tmp_path))


def test_a_judge_at_fs_directory_or_missing_is_refused_naming_the_field(tmp_path):
  config = pcfh_config.get_config('cpu')
  config.recognizer.dir = config.judge.dir = str(tmp_path / 'f')
  with pytest.raises(ValueError, match='config.judge.dir: .* is F'):
    frozen.check_judge(config, str(tmp_path))
  config.judge.update(dir=str(tmp_path / 'nothing'), train_if_missing=False)
  with pytest.raises(FileNotFoundError, match='config.judge.dir') as e:
    frozen.check_judge(config, str(tmp_path))
  assert str(tmp_path / 'nothing') in str(e.value)
  # CASIA has no seeds to draw other identities from: the judge must be given.
  config = pcfh_config.get_config('casia')
  config.judge.train_if_missing = True
  with pytest.raises(ValueError, match='config.judge: training a judge needs a synthetic set'):
    frozen.check_judge(config, str(tmp_path))


def test_a_disabled_judge_is_neither_checked_nor_trained(tmp_path):
  """`demo`'s only judge is the photo judge: no synthetic judge to train, load or refuse."""
  config = pcfh_config.get_config('demo')
  assert not config.judge.enabled and pcfh_config.get_config('cpu').judge.enabled
  config.recognizer.dir = config.judge.dir = str(tmp_path / 'f')   # refused when enabled
  assert frozen.check_judge(config, str(tmp_path)) is None
  assert frozen.judge_to_train(config, str(tmp_path)) is None
  config.judge.enabled = True
  with pytest.raises(ValueError, match='config.judge.dir: .* is F'):
    frozen.judge_to_train(config, str(tmp_path))
