"""The recognizers that score a finished method and took no part in its training.

`check` runs before training, so a judge the run cannot have fails it in
seconds; `load` runs after it, training a missing synthetic judge first. The
photo judge enters here and nowhere else a method reaches (a test asserts it).
"""

import ml_collections

from hfr_jax.recognizer import frozen
from hfr_jax.recognizer import photo_judge
from hfr_jax.recognizer import train as recognizer_train


def check(config: ml_collections.ConfigDict, workdir: str):
  """Raises now what `load` would raise after training (a judge that cannot be had,
  photo_judge='on' without dlib)."""
  frozen.check_judge(config, workdir)
  photo_judge.wanted(config.get('photo_judge', 'auto'))


def load(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """{'judge', 'photo_judge'}: (recognizer, what results.json says of it), each where the
  config enables it; a missing synthetic judge is trained first (`frozen.judge_to_train`)."""
  found = {}
  if frozen.judge_enabled(config):
    recognizer_train.train_missing(frozen.judge_to_train(config, workdir))
    judge = frozen.load_judge(config, workdir)
    found['judge'] = (judge, frozen.describe(judge, config, workdir))
  if photo_judge.wanted(config.get('photo_judge', 'auto')):
    found['photo_judge'] = (photo_judge.descriptors, photo_judge.DESCRIBE)
  return found
