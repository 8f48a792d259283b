"""The frozen recognizer F of a generation method: load it, or train it once.

`load_or_train` is the one place a method gets F. The model it returns
carries its input size (`model.input_size`); its parameters are never
trained by the method (no optimiser sees them).
"""

import os

import ml_collections

from hfr_jax import datasets
from hfr_jax import export
from hfr_jax.models import lightcnn


def directory(config: ml_collections.ConfigDict, workdir: str) -> str:
  """config.recognizer.dir, or WORKDIR/recognizer/pretrained when it is ''."""
  return config.recognizer.dir or os.path.join(workdir, 'recognizer', 'pretrained')


def load_or_train(config: ml_collections.ConfigDict, workdir: str):
  """F for `config` (a method's config with `recognizer`, `data`, `eval.val_identities`).

  When config.recognizer.dir holds no model and `train_if_missing` is set,
  trains one with `config.recognizer.recipe` on the method's identities
  (`datasets.recognizer_data`), holding out the same validation identities
  as the method, and saves it there (resumable under WORKDIR/recognizer).
  """
  path = directory(config, workdir)
  if not os.path.isfile(os.path.join(path, export.META)):
    if not config.recognizer.train_if_missing:
      raise FileNotFoundError(f'config.recognizer.dir: no LightCNN at {path} (no '
                              f'{export.META}); convert or train one first')
    from hfr_jax.recognizer import train   # training code only when training
    recipe = ml_collections.ConfigDict(config.recognizer.recipe.to_dict())
    recipe.data = datasets.recognizer_data(recipe.data, config.data)
    recipe.eval.val_identities = config.eval.val_identities
    recipe.output_dir = path
    train.train(recipe, os.path.join(workdir, 'recognizer'))
  model = lightcnn.load_pretrained(path)
  model.eval()
  return model
