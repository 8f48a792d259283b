"""LightCNN recognizer trained on a dataset's VIS training images.

`default` follows the LightCNN recipe (29v2, softmax, SGD); `cpu` is a narrow
LightCNN-9 on 64x64 crops trained with CosFace and photo jitter; `small` is for tests;
`evaluate` trains nothing: it scores a converted official checkpoint
(`hfr_jax.tools.convert_lightcnn`) on a dataset, CASIA NIR-VIS 2.0 fold 1 by default.

python -m hfr_jax.main --config=configs/lightcnn.py --workdir=/tmp/lightcnn          # 29v2, 128
python -m hfr_jax.main --config=configs/lightcnn.py:cpu --workdir=/tmp/lightcnn_cpu  # narrow, CPU
python -m hfr_jax.main --config=configs/lightcnn.py:evaluate --workdir=/tmp/lcnn_casia \
    --config.pretrained_dir=lightcnn29v2 --config.data.manual_dir=~/casia   # no training

The run saves a `hfr_jax.recognizer.pretrained.load_pretrained` directory at
`config.output_dir` (default WORKDIR/pretrained) and reports NIR->VIS and
VIS->VIS on the gallery / probe / test_vis splits.
"""

import os
import sys

import ml_collections

# config_flags loads this file by path, as a module of no package: the `configs` beside it
# is then made importable, wherever the command runs.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if __package__ != 'configs' and _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
from configs import common  # noqa: E402

VARIANTS = ('default', 'cpu', 'small', 'evaluate')


def get_config(arg: str = 'default') -> ml_collections.ConfigDict:
  common.parse_variant(arg, 'configs/lightcnn.py', {'variants': VARIANTS}, single=True)
  config = ml_collections.ConfigDict()
  config.method = 'lightcnn'
  config.seed = 0
  config.data = common.synthetic_config('small' if arg == 'small' else 'default')
  config.output_dir = ''          # '' -> WORKDIR/pretrained
  # A load_pretrained directory to score instead of training one ('' -> train).
  config.pretrained_dir = ''

  config.model = ml_collections.ConfigDict()
  config.model.arch = '29v2'      # 9, 29, 29v2 (Wu et al. 2018)
  config.model.width = 1.0        # channel multiplier
  config.model.input_size = 128   # aligned gray crop fed to the network
  # 29 / 29v2: each residual block starts as the identity (lightcnn.zero_init_residual).
  config.model.zero_init_residual = False

  config.train = ml_collections.ConfigDict()
  config.train.optimizer = 'sgd'  # the LightCNN recipe: SGD, momentum 0.9, wd 1e-4
  config.train.learning_rate = 1e-2
  config.train.momentum = 0.9
  config.train.weight_decay = 1e-4
  config.train.warmup_steps = 200
  config.train.num_steps = 20_000
  config.train.batch_size = 128
  config.train.loss = 'softmax'   # or 'cosface' (margin softmax on normalised features)
  config.train.margin = dict(scale=30.0, margin=0.35)   # CosFace s, m (Wang et al. 2018)
  # hfr_jax.ops.augment.FaceJitter ranges; the recipe: crop jitter and flip only.
  config.train.aug = dict(rotation=0.0, scale=0.0, shift=6.0, flip_prob=0.5, brightness=0.0,
                          contrast=0.0, gamma=0.0, shading=0.0, blur=0.0, noise=0.0)
  config.train.log_every = 50
  config.train.checkpoint_every = 1000
  config.train.eval_every = 1000    # validation rank-1 on the held-out identities (logged)

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 128
  # The last training identities, left out of training and scored every eval_every
  # steps; a method that trains this recognizer as its F holds out the same ones.
  config.eval.val_identities = 50

  if arg in ('cpu', 'small'):
    # Minutes on 2 CPU cores: LightCNN-9 at half width on 64x64 crops.
    config.model.arch = '9'
    config.model.width = 0.5
    config.model.input_size = 64
    config.train.optimizer = 'adamw'
    config.train.learning_rate = 2e-3
    config.train.weight_decay = 5e-4
    config.train.warmup_steps = 100
    config.train.num_steps = 2000 if arg == 'cpu' else 40
    config.train.batch_size = 64 if arg == 'cpu' else 16
    config.train.aug.shift = 3.0
    config.train.log_every = 50 if arg == 'cpu' else 10
    config.train.checkpoint_every = 500 if arg == 'cpu' else 20
    config.train.eval_every = 500 if arg == 'cpu' else 0
    config.eval.val_identities = 50 if arg == 'cpu' else 0
  if arg == 'cpu':
    # Softmax on 4 VIS per identity memorises them (VIS->VIS 76.5 %); 8 jittered VIS and CosFace
    # give 96.2 % (docs/results/2026-11-27-recognizer-alone.md).
    config.data.vis_per_identity = 8
    config.train.aug.update(rotation=10.0, scale=0.1, brightness=0.2, contrast=0.3, gamma=0.3,
                            shading=0.8, blur=1.0, noise=0.03)
    config.train.loss = 'cosface'
  if arg == 'evaluate':
    # LightCNN-29v2's published NIR-VIS 2.0 rank-1 is about 96.8 % (Wu et al. 2018); our
    # alignment onto the mean face at 128x128 stands in for the release's eye-based crop.
    config.data = common.real_config('casia_nir_vis2', 'fold1')
    config.pretrained_dir = 'lightcnn29v2'
  return config


def frozen_recognizers(config: ml_collections.ConfigDict, *, f_enabled: bool = True):
  """Adds a generation method's scorers to `config`: `recognizer` (F), `judge`, `photo_judge`.

  F is a hfr_jax.recognizer.pretrained.load_pretrained directory ('' ->
  WORKDIR/recognizer/pretrained), trained when missing on the method's VIS training
  images with `recipe` (PCFH's identity loss; NULL's translations are only scored by it).
  The judge only scores the finished method (never a loss, a step's input or the
  keep-best metric): a directory ('' -> WORKDIR/judge/pretrained), trained when missing
  with `recipe` on the VIS training images of all training identities of synthetic seed
  `data_seed` (None: config.data.seed + 1000), identities neither F nor the method nor
  the test set contain. The photo judge is dlib's ResNet recognizer trained on real
  photographs (the `landmarks` extra; hfr_jax/recognizer/photo_judge.py): 'auto' where
  dlib is installed, 'on' (required) or 'off'.
  """
  config.recognizer = ml_collections.ConfigDict()
  config.recognizer.enabled = f_enabled   # False: no F (a method that needs F refuses)
  config.recognizer.dir = ''
  config.recognizer.train_if_missing = True
  config.recognizer.recipe = get_config('cpu')
  config.judge = ml_collections.ConfigDict()
  config.judge.enabled = True      # False: no synthetic-trained judge (the photo judge may stay)
  config.judge.dir = ''
  config.judge.train_if_missing = True
  config.judge.recipe = get_config('cpu')
  config.judge.recipe.seed = config.recognizer.recipe.seed + 1
  # F: LightCNN-9. From scratch, LightCNN-29 needs its residual blocks to start as the
  # identity (its logits start ~100x too large and softmax stays at chance) and a lower
  # rate than F's 2e-3: with no normalisation layer, softmax diverged at 2e-3 and 1e-3.
  config.judge.recipe.model.update(arch='29', width=0.5, zero_init_residual=True)
  config.judge.recipe.train.learning_rate = 5e-4
  config.judge.recipe.eval.val_identities = 0   # its data is no method's: nothing to hold out
  config.judge.recipe.train.eval_every = 0
  config.judge.data_seed = ml_collections.config_dict.placeholder(int)
  config.photo_judge = 'auto'
  return config
