"""The frozen recognizers of a generation method: where they are, what trains them, loading.

`load` is the one place a method gets F, the recognizer of its identity loss;
`load_judge` the one place it gets the judge, a second recognizer that only
scores the finished generator (issue 13: a generator trained against F can
fool F). Neither trains: a missing recognizer that the config lets be trained
(`train_if_missing`) is a `Training` job, from `to_train` / `judge_to_train`,
which the method runs explicitly first (`hfr_jax.recognizer.train.train_missing`).
The models they return carry their input size (`model.input_size`); their
parameters are never trained by the method (no optimiser sees them).
"""

import dataclasses
import os

import ml_collections

from hfr_jax import datasets
from hfr_jax import export
from hfr_jax.recognizer import pretrained

# Added to config.data.seed when config.judge.data_seed is None: a synthetic seed whose
# identities no one else in the run sees.
JUDGE_SEED_OFFSET = 1000


def directory(config: ml_collections.ConfigDict, workdir: str) -> str:
  """config.recognizer.dir, or WORKDIR/recognizer/pretrained when it is ''."""
  return config.recognizer.dir or os.path.join(workdir, 'recognizer', 'pretrained')


def judge_directory(config: ml_collections.ConfigDict, workdir: str) -> str:
  """config.judge.dir, or WORKDIR/judge/pretrained when it is ''."""
  return config.judge.dir or os.path.join(workdir, 'judge', 'pretrained')


@dataclasses.dataclass(frozen=True)
class Training:
  """A missing frozen recognizer to train: `recipe` saves it where it is loaded from
  (`recipe.output_dir`); its checkpoints go to `workdir`, so a killed run resumes;
  `name` prefixes its progress lines."""
  recipe: ml_collections.ConfigDict
  workdir: str
  name: str


def _on_disk(path: str) -> bool:
  return os.path.isfile(os.path.join(path, export.META))


def _missing(field: str, path: str) -> FileNotFoundError:
  return FileNotFoundError(f'{field}.dir: no LightCNN at {path} (no {export.META}); '
                           'convert or train one first')


def _training(spec: ml_collections.ConfigDict, field: str, path: str, train_dir: str,
              data: ml_collections.ConfigDict, val_identities: int, name: str):
  """None when the model at `path` is on disk; else the job that trains it with
  `spec.recipe` on `data` (`spec` is config.recognizer or config.judge, `field` names it in
  errors), or FileNotFoundError when `spec.train_if_missing` is off."""
  if _on_disk(path):
    return None
  if not spec.train_if_missing:
    raise _missing(field, path)
  recipe = ml_collections.ConfigDict(spec.recipe.to_dict())
  recipe.data = data
  recipe.eval.val_identities = val_identities
  recipe.output_dir = path
  return Training(recipe, train_dir, name)


def _load(field: str, path: str):
  """The model at `path`, in eval mode; never trained here."""
  if not _on_disk(path):
    raise _missing(field, path)
  model = pretrained.load_pretrained(path)
  model.eval()
  return model


def enabled(config: ml_collections.ConfigDict) -> bool:
  """config.recognizer.enabled (default True): whether the run has F."""
  return config.recognizer.get('enabled', True)


def to_train(config: ml_collections.ConfigDict, workdir: str) -> Training | None:
  """The job that makes F for `config` (a method's config with `recognizer`, `data`,
  `eval.val_identities`), None when F is on disk or disabled.

  When config.recognizer.dir holds no model and `train_if_missing` is set,
  F is trained with `config.recognizer.recipe` on the method's identities
  (`datasets.recognizer_data`), holding out the same validation identities
  as the method, and saved there (resumable under WORKDIR/recognizer).
  """
  if not enabled(config):
    return None
  recipe = config.recognizer.recipe
  return _training(config.recognizer, 'config.recognizer', directory(config, workdir),
                   os.path.join(workdir, 'recognizer'),
                   datasets.recognizer_data(recipe.data, config.data),
                   config.eval.val_identities, name='recognizer')


def load(config: ml_collections.ConfigDict, workdir: str):
  """F for `config`, from config.recognizer.dir (a missing one: run `to_train`'s job first)."""
  if not enabled(config):
    raise ValueError('config.recognizer.enabled is False: this run has no F to load')
  return _load('config.recognizer', directory(config, workdir))


def judge_data_seed(config: ml_collections.ConfigDict) -> int | None:
  """config.judge.data_seed, or config.data.seed + JUDGE_SEED_OFFSET when it is None.

  None for a dataset without seeds (CASIA).
  """
  seed = config.judge.get('data_seed')
  if seed is not None or 'seed' not in config.data:
    return seed
  return config.data.seed + JUDGE_SEED_OFFSET


def judge_data(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The data the judge trains on: the method's synthetic set drawn from the judge's seed.

  Same size, resolution and renderer as config.data, the judge recipe's VIS
  count; fresh identities. Refuses a seed whose identities the run trains or
  tests on (config.data, config.eval_data) and datasets without seeds.
  """
  data = config.data
  if data.name != 'synthetic_nir_vis':
    raise ValueError(f'config.judge: training a judge needs a synthetic set (config.data.name='
                     f'{data.name!r} has no fresh identities to draw); give config.judge.dir a '
                     'converted LightCNN and set config.judge.train_if_missing=False')
  seed = judge_data_seed(config)
  taken = {'config.data.seed': data.seed}
  eval_data = config.get('eval_data')
  if eval_data and eval_data.name == 'synthetic_nir_vis':
    taken['config.eval_data.seed'] = eval_data.seed
  for field, value in taken.items():
    if seed == value:
      raise ValueError(f'config.judge.data_seed={seed} is {field}: the judge would train on '
                       'identities the run trains or tests on')
  out = ml_collections.ConfigDict(data.to_dict())
  out.seed = seed
  return datasets.recognizer_data(config.judge.recipe.data, out)


def judge_enabled(config: ml_collections.ConfigDict) -> bool:
  """config.judge.enabled (default True): whether the run has a synthetic-trained judge."""
  return config.judge.get('enabled', True)


def judge_to_train(config: ml_collections.ConfigDict, workdir: str) -> Training | None:
  """The job that makes the judge for `config` (a method's config with `judge`, `data`,
  `recognizer`), None when it is on disk or disabled; raises what `check_judge` raises.

  When config.judge.dir holds no model and `train_if_missing` is set, the
  judge is trained with `config.judge.recipe` on every training identity of
  `judge_data` (VIS only; the recipe's `eval.val_identities` are held out for
  its own validation) and saved there (resumable under WORKDIR/judge).
  """
  data = check_judge(config, workdir)
  if not judge_enabled(config):
    return None
  return _training(config.judge, 'config.judge', judge_directory(config, workdir),
                   os.path.join(workdir, 'judge'), data,
                   config.judge.recipe.eval.val_identities, name='judge')


def load_judge(config: ml_collections.ConfigDict, workdir: str):
  """The judge for `config`, from config.judge.dir (a missing one: run `judge_to_train`'s
  job first). A judge at F's own directory is refused: it would be F."""
  check_judge(config, workdir)
  return _load('config.judge', judge_directory(config, workdir))


def check_judge(config: ml_collections.ConfigDict, workdir: str):
  """Raises what `judge_to_train` and `load_judge` would, without loading or training: a
  method calls it before training, so a judge it cannot have fails the run in seconds, not
  after it.

  Returns the judge's training data (`judge_data`) when it may be trained, else None.
  """
  if not judge_enabled(config):
    return None
  path = judge_directory(config, workdir)
  if os.path.abspath(path) == os.path.abspath(directory(config, workdir)):
    raise ValueError(f'config.judge.dir: {path} is F (config.recognizer.dir); the judge must '
                     'be a recognizer that took no part in training')
  if config.judge.train_if_missing:
    return judge_data(config)
  if not _on_disk(path):
    raise _missing('config.judge', path)
  return None


def describe(model, config: ml_collections.ConfigDict, workdir: str) -> dict:
  """What results.json says about the judge: {arch, seed, data_seed, dir}.

  seed and data_seed are None for a judge this run did not train by the recipe
  (a converted model, config.judge.train_if_missing False).
  """
  trained = config.judge.train_if_missing
  return {'arch': model.arch, 'seed': config.judge.recipe.seed if trained else None,
          'data_seed': judge_data_seed(config) if trained else None,
          'dir': judge_directory(config, workdir)}
