"""NULL (unsupervised NIR-VIS HFR from unpaired images) and its k-means baseline.

python -m hfr_jax.main --config=configs/null.py --workdir=/tmp/null            # vae_gan, paper scale
python -m hfr_jax.main --config=configs/null.py:demo --workdir=/tmp/null_demo  # CPU, <= 15 min
python -m hfr_jax.main --config=configs/null.py:cpu --workdir=/tmp/null_cpu    # CPU, <= 60 min
python -m hfr_jax.main --config=configs/null.py:gan,demo --workdir=/tmp/gan    # a setting at demo scale

The argument is a setting and/or a scale, comma-separated:
  settings (the paper's Table 1 rows): base (deterministic codes, no GAN), vae (adds the KL
    term and sampled codes), gan (adds the adversarial terms), vae_gan (both; the default),
    kmeans (the clustering baseline, hfr_jax.null.kmeans);
  scales: default (synthetic 360 identities at 144x144, 128x128 aligned crops), cpu (the
    360 identities at 64x64, small widths; 2 CPU cores, <= 60 minutes), demo (synthetic 200
    identities at 64x64, small widths; 2 CPU cores, <= 15 minutes), casia
    (CASIA NIR-VIS 2.0 View 2 fold 1), oulu (Oulu-CASIA NIR-VIS), cufsf (CUFSF sketches).
`config.setting` can also be overridden: --config.setting=base.

The paper states no resolution, widths or weights. Faces are aligned onto the
mean shape (`hfr_jax.ops.align`) at 128x128 for paper scale; widths follow
MUNIT (64, MLP 256); weights start from MUNIT's (gan 1, x 10, s 1, c 1) and
UNIT's KL weight (0.01); see `loss` below.
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
from configs import lightcnn as lightcnn_config  # noqa: E402

SETTINGS = ('base', 'vae', 'gan', 'vae_gan', 'kmeans')
SCALES = ('default', 'cpu', 'demo', 'casia', 'oulu', 'cufsf')
# Real-data builders (tfds_builders/<name>, manual downloads; each README says what goes
# where). CUFSF has no test_vis split (one photo per subject): its vis_to_vis cannot be scored.
REAL_DATA = {
    'casia': dict(name='casia_nir_vis2', config='fold1'),
    'oulu': dict(name='oulu_casia_nir_vis', config='default'),
    'cufsf': dict(name='cufsf', config='default'),
}


def parse(arg: str) -> tuple[str, str]:
  """'gan,demo' -> ('gan', 'demo'); either part may be left out (the last named wins)."""
  found = common.parse_variant(arg, 'configs/null.py', {'settings': SETTINGS, 'scales': SCALES})
  return (found['settings'] or ['vae_gan'])[-1], (found['scales'] or ['default'])[-1]


def get_config(arg: str = 'vae_gan') -> ml_collections.ConfigDict:
  setting, scale = parse(arg)
  config = ml_collections.ConfigDict()
  config.method = 'kmeans' if setting == 'kmeans' else 'null'
  config.setting = setting
  config.seed = 0
  config.data = common.synthetic_config('demo' if scale == 'demo' else 'default')
  config.eval_data = None   # a config.data-like dict: cross-dataset evaluation

  config.model = ml_collections.ConfigDict()
  config.model.resolution = 128     # aligned crop side R (the paper gives none)
  config.model.width = 64           # Ec stages w, 2w, 4w; the decoder mirrors them
  config.model.style_width = 64     # Es: w, 2w, 4w
  config.model.code_dim = 256       # c (Sec. 4.2)
  config.model.style_dim = 32       # s (Sec. 4.2)
  config.model.mlp_width = 256      # style -> AdaIN parameters (MUNIT)
  config.model.pool_grid = 4        # multi-scale aggregation: each stage pooled to 4x4
  # Stages the two domains share (UNIT's weight sharing): Ec's last ones with its FC, D's
  # first ones with its input layer. 0 = two separate autoencoders, whose content spaces
  # nothing aligns: vae_gan's NIR->VIS rank-1 at demo scale on casia, seed 1, is 1.00 % (chance)
  # with 0 and 11.00 % with 2 (tuned on seed 0: 12.25 %; docs/results/2026-12-03-null-casia.md).
  config.model.shared_stages = 2
  config.model.disc_width = 64      # multi-scale PatchGAN (MUNIT: 3 scales)
  config.model.disc_num_down = 3
  config.model.disc_num_scales = 3
  config.model.spectral_norm = False   # MUNIT's LSGAN discriminators have none
  config.model.dtype = 'float32'        # of the computation (parameters stay float32)

  # Weights of the total loss (Sec. 3.3), MUNIT's / UNIT's names: gan_w for L_GAN,
  # recon_x_w = lambda_x, recon_c_w = lambda_c, recon_s_w = lambda_s, recon_kl_w for the KL
  # of c and s to N(0, I) (VAE settings; UNIT's 0.01).
  config.loss = ml_collections.ConfigDict()
  config.loss.gan_w = 1.0
  config.loss.recon_x_w = 10.0
  config.loss.recon_c_w = 1.0
  config.loss.recon_s_w = 1.0
  config.loss.recon_kl_w = 0.01

  config.train = ml_collections.ConfigDict()
  config.train.batch_size = 8
  config.train.num_steps = 100_000
  config.train.learning_rate_g = 1e-4   # MUNIT's Adam (beta1 0.5); the paper names none
  config.train.learning_rate_d = 1e-4
  config.train.beta1 = 0.5
  config.train.beta2 = 0.999
  config.train.adam_eps = 1e-8
  # MUNIT's optimiser also has L2 weight decay 1e-4 and halves the rate every 100k of its 1M
  # steps (lr_decay_every = num_steps / 10); the paper names neither. Off by default: with both
  # on, vae_gan at demo scale on tuning seed 0 fell from 7.50 to 0.50 % NIR->VIS rank-1
  # (docs/results/2026-12-08-null-munit-optimiser.md).
  config.train.weight_decay = 0.0
  config.train.lr_decay_every = 0       # steps; 0 = constant rate
  config.train.lr_decay_rate = 0.5
  config.train.flip = True              # random mirror of the aligned crops
  config.train.log_every = 100
  config.train.image_every = 1000
  config.train.checkpoint_every = 2000
  config.train.eval_every = 5000        # content-code rank-1 on held-out identities

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 32
  # The last training identities, held out of training; NIR->VIS rank-1 of their content
  # codes (every train.eval_every steps) picks the checkpoint that is evaluated.
  config.eval.val_identities = 50
  # Per-domain mean-centring of the codes before the cosine (unsupervised: each side's own
  # mean). False: the paper's plain cosine is the figure of record (both are reported).
  config.eval.centre = False

  # Recognizers that score NULL's NIR->VIS translations after training (none takes part in
  # it): F (trained on the training identities' VIS images, labels and all), the judge
  # (other identities) and the photo judge (real photographs); configs/lightcnn.py.
  lightcnn_config.frozen_recognizers(config)

  # The k-means baseline (hfr_jax.null.kmeans): aligned gray pixels at size x size.
  config.kmeans = ml_collections.ConfigDict()
  config.kmeans.size = 64
  config.kmeans.num_iters = 100
  config.kmeans.num_init = 4            # restarts; the lowest inertia is kept
  config.kmeans.batch_size = 64

  if scale in REAL_DATA:
    config.data = common.real_config(REAL_DATA[scale]['name'], REAL_DATA[scale]['config'])
    # No synthetic identities to train F or a judge on: the photo judge scores translations.
    config.recognizer.enabled = config.judge.enabled = False
  elif scale in ('cpu', 'demo'):
    # 32x32 crops (the set's 64x64 faces hold the inner face in ~30 pixels); a discriminator
    # whose 2 scales see 16 and 8 pixel patches of them. ~0.1 s a step on 2 cores.
    config.model.update(resolution=32, width=16, style_width=8, mlp_width=64, disc_width=32,
                        disc_num_down=2, disc_num_scales=2)
    config.train.update(num_steps=4000, learning_rate_g=3e-4, learning_rate_d=3e-4,
                        log_every=100, image_every=500, checkpoint_every=500, eval_every=500)
    config.eval.val_identities = 10
    config.kmeans.size = 32
    # Translations are scored by the photo judge alone (training F and a judge would take
    # most of the demo's minutes).
    config.recognizer.enabled = config.judge.enabled = False
  if scale == 'cpu':
    # NULL's figure of record on 2 CPU cores (<= 60 min): the default identities (180 test,
    # 130 training, 50 held out to pick the checkpoint) rendered at 64x64, the demo's model,
    # 3x its steps (held-out rank-1 still rose at the demo's 4000).
    config.data.resolution = 64
    config.train.update(num_steps=12_000, image_every=1000, checkpoint_every=1000,
                        eval_every=1000)
    config.eval.val_identities = 50
  return config
