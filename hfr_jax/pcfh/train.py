"""PCFH training: GA/GB/A vs DA, with the MI estimator NE, one jit'd step.

python -m hfr_jax.main --config=configs/pcfh.py --workdir=DIR

Three players, one optimiser each: the generators (GA, GB and the attention
module A), the discriminator DA and the statistics networks of the MI
estimator. One step computes GA(IN) once and updates all three from it
(simultaneous updates); DA and NE see GA(IN) through a stop-gradient.
The frozen recognizer F (`hfr_jax.recognizer.frozen`) gives LID's features;
`train_and_evaluate` trains it first when it is missing and the config allows.
The judges are loaded (or trained) only after training to score the final GA beside F,
all from one pass of GA over the probes: a second LightCNN trained on other synthetic
identities and, where dlib is installed, the photo judge trained on real photographs
(`hfr_jax.recognizer.photo_judge`). Neither is part of the Trainer, a step or a checkpoint.
Data parallel: the batch is sharded over the mesh axis 'data', everything
else is replicated (`hfr_jax.sharding`).
"""

import functools
import os

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from hfr_jax import datasets
from hfr_jax import driver
from hfr_jax import evaluate
from hfr_jax import export
from hfr_jax import gan_losses
from hfr_jax import input_pipeline
from hfr_jax import metrics as metrics_lib
from hfr_jax import sharding
from hfr_jax import training
from hfr_jax.models import discriminators
from hfr_jax.models import pcfh as pcfh_models
from hfr_jax.ops import augment
from hfr_jax.ops import warp
from hfr_jax.pcfh import losses
from hfr_jax.pcfh import mutual_information as mi_lib
from hfr_jax.recognizer import features as recognizer_features
from hfr_jax.recognizer import frozen
from hfr_jax.recognizer import judges as judges_lib
from hfr_jax.recognizer import train as recognizer_train

# ----------------------------------------------------------------------------
# Players.


class MIEstimator(nnx.Module):
  """NE: one statistics network per mutual information of Eq. (9)."""

  def __init__(self, *, width: int, rngs: nnx.Rngs):
    self.fake_vis = mi_lib.ConvStatistics(3, 3, width=width, rngs=rngs)
    self.fake_nir = mi_lib.ConvStatistics(3, 1, width=width, rngs=rngs)


def ga_kwargs(config: ml_collections.ConfigDict) -> dict:
  """GA's constructor arguments (NIR in, VIS out): the export rebuilds GA from them."""
  m = config.model
  return dict(cin=1, cout=3, resolution=config.data.resolution, width=m.width,
              num_res=m.num_res, local_num_res=m.local_num_res, skips=m.skips,
              input_residual=m.input_residual)


def generator_kwargs(config: ml_collections.ConfigDict) -> dict:
  """GA/GB/A constructor arguments: GA's, and GB's and A's sizes."""
  m = config.model
  ga = {k: v for k, v in ga_kwargs(config).items() if k not in ('cin', 'cout')}
  return dict(ga, aux_width=m.aux_width, aux_num_res=m.aux_num_res,
              attention_width=m.attention_width)


class Trainer(nnx.Module):
  """Every player, its optimiser and the frozen recognizer, as one NNX graph."""

  @driver.unpartitioned_draws
  def __init__(self, config: ml_collections.ConfigDict, recognizer, *, rngs: nnx.Rngs):
    m, t = config.model, config.train
    dtype = jnp.dtype(m.dtype)
    self.generators = pcfh_models.Generators(**generator_kwargs(config), dtype=dtype, rngs=rngs)
    self.discriminator = discriminators.PatchDiscriminator(
        3, width=m.disc_width, num_down=m.disc_num_down, spectral_norm=m.spectral_norm,
        dtype=dtype, rngs=rngs)
    self.mi = MIEstimator(width=m.mi_width, rngs=rngs)
    self.opt_g = driver.optimizer(self.generators, t, t.learning_rate_g)
    self.opt_d = driver.optimizer(self.discriminator, t, t.learning_rate_d)
    self.opt_mi = driver.optimizer(self.mi, t, t.learning_rate_mi)
    # A moving average of GA's parameters (config.train.ema_decay; 0: none, the paper),
    # updated after each step, read by validation, the samples and the export.
    self.ga_ema = nnx.clone(self.generators.ga) if t.get('ema_decay') else None
    if self.ga_ema is not None:   # buffers of its own: the step donates the whole state
      nnx.update(self.ga_ema, jax.tree.map(jnp.copy, nnx.state(self.ga_ema)))
    recognizer.eval()   # frozen F: no dropout, and no optimiser ever sees it
    self.recognizer = recognizer

  def evaluated_ga(self):
    """The GA that is validated, shown and exported: the moving average when kept."""
    return self.generators.ga if self.ga_ema is None else self.ga_ema

  def players(self) -> tuple[str, ...]:
    """The attributes a checkpoint holds (never F)."""
    return PLAYERS + (() if self.ga_ema is None else ('ga_ema',))

  def kept_best(self) -> tuple[str, ...]:
    """What the best checkpoint holds: the generators and, when kept, GA's average."""
    return ('generators',) + (() if self.ga_ema is None else ('ga_ema',))


# ----------------------------------------------------------------------------
# The step.


def ema_decay(decay, step):
  """The average's decay at optimiser step `step` (1 after the first update): min(decay,
  (1 + step) / (10 + step)), so early averages are not dominated by the initialisation."""
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def ema_update(average, params, decay):
  """average <- decay * average + (1 - decay) * params, leaf by leaf."""
  return jax.tree.map(lambda a, p: a + (1.0 - decay) * (p - a), average, params)


def to_signed(images):
  """uint8 [0, 255] -> float [-1, 1]."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def nir_channel(images):
  """NIR is stored as three equal channels; GA sees one."""
  return images[..., :1]


def identity_features(recognizer, images, landmarks, rng=None, jitter=None):
  """F(.): the recognizer's 256-d features of [-1, 1] faces, aligned by landmarks.

  With `jitter` (an `augment.FaceJitter`), F sees each face under a
  random alignment, flip and photometry drawn from `rng`.
  """
  images = (images + 1.0) / 2.0
  if jitter is None:
    return recognizer_features.embed(recognizer, images, landmarks)
  _, feats = recognizer(recognizer_features.jittered(rng, images, landmarks,
                                                     recognizer.input_size, jitter))
  return feats


def identity_jitter(config: ml_collections.ConfigDict):
  """config.loss.id_jitter as a FaceJitter, or None when every range is 0 (the paper)."""
  ranges = dict(config.loss.get('id_jitter') or {})
  if not any(ranges.values()):
    return None
  return augment.FaceJitter(**ranges)


def downsample(x, size):
  """The MI estimator looks at size x size images (cheap, and domain is global)."""
  if x.shape[1] == size:
    return x
  return jax.image.resize(x, (x.shape[0], size, size, x.shape[3]), 'linear')


def augment_batch(rng, batch, max_shift):
  """Flip + jitter NIR and VIS independently (they are unaligned anyway)."""
  out = {}
  for k, name in zip(jax.random.split(rng, 2), ('nir', 'vis')):
    keys = jax.random.split(k, batch[f'{name}_image'].shape[0])
    img, lm = jax.vmap(functools.partial(augment.augment, max_shift=max_shift))(
        keys, batch[f'{name}_image'].astype(jnp.float32), batch[f'{name}_landmarks'])
    out[f'{name}_image'], out[f'{name}_landmarks'] = img / 127.5 - 1.0, lm
  out['nir_image'] = nir_channel(out['nir_image'])
  return out


def mi_bounds(ne, fake, vis, nir, keys, config):
  """Eq. (10)'s estimates of I(GA(IN), IV) and I(GA(IN), IN) (config.loss.mi_estimator),
  by NE's two statistics networks on faces resized to config.model.mi_resolution."""
  small = lambda a: downsample(a, config.model.mi_resolution)
  est, fake_s = config.loss.get('mi_estimator', 'dv'), small(fake)
  return (mi_lib.mi_lower_bound(ne.fake_vis, fake_s, small(vis), keys[0], est)[0],
          mi_lib.mi_lower_bound(ne.fake_nir, fake_s, small(nir), keys[1], est)[0])


def forward_losses(generators, trainer, x, rngs, config, step=None):
  """Every generator loss term of Eq. (1)-(9); returns (total, (terms, fake, att)).

  `step` (GA's optimiser step) ramps LID in over config.loss.id_warmup_steps.
  """
  w = config.loss
  nir, vis, warped = x['nir_image'], x['vis_image'], x['warped_vis']
  fake = generators.ga(nir, x['nir_landmarks'])
  # Eq. (1), the generator's side of DA's hinge loss, weighted by lambda_ad (the paper: 1).
  terms = {'ad': w.get('lambda_ad', 1.0) * gan_losses.linear_generator(
      trainer.discriminator(fake, update_stats=False))}
  if w.lambda1:
    terms['rec'] = losses.cycle(generators.gb(fake), nir, w.lambda1)
  if w.lambda2:
    jitter = identity_jitter(config)
    f_fake = identity_features(trainer.recognizer, fake, x['nir_landmarks'],
                               rngs[2] if jitter else None, jitter)
    lambda2 = w.lambda2 * losses.warmup(step, w.get('id_warmup_steps', 0))
    f_vis = x['vis_features']
    if w.get('id_normalize', False):
      f_vis, f_fake = losses.unit_rms(f_vis), losses.unit_rms(f_fake)
    terms['id'] = losses.identity(f_vis, f_fake, lambda2)
  if w.lambda3:
    terms['y'] = losses.luminance(fake, nir, w.lambda3, w.get('luminance_pool', 1))
  att = None
  if config.use_awm:
    att = generators.attention(nir, warped)
    # config.loss.att_stop_gradient: whether Eq. (7)'s first term reaches GA
    # (see configs/pcfh.py; the paper's literal reading lets it).
    fake_for_att = jax.lax.stop_gradient(fake) if w.att_stop_gradient else fake
    terms['att'] = losses.attention(att, fake_for_att, warped, w.alpha1, w.alpha2, w.alpha3)
    # config.loss.awm_stop_gradient: whether Eq. (8) trains GA only, or A too (which it can
    # lower at no cost by shrinking Att).
    att_for_awm = jax.lax.stop_gradient(att) if w.awm_stop_gradient else att
    terms['awm'] = losses.attention_warping(att_for_awm, fake, warped, w.lambda4)
  if config.use_mic:
    mi_vis, mi_nir = mi_bounds(trainer.mi, fake, vis, nir, rngs[:2], config)
    terms['mic'] = losses.mutual_information_constraint(mi_vis, mi_nir, w.lambda5)
  return sum(terms.values()), (terms, fake, att)


def make_train_step(config: ml_collections.ConfigDict, graphdef):
  """jit'd (state, batch, rng) -> (state, metrics); the state is donated."""

  def step(state, batch, rng):
    trainer = nnx.merge(graphdef, state)
    k_aug, k_mi = jax.random.split(rng)
    x = augment_batch(k_aug, batch, config.train.max_shift)
    x['warped_vis'] = jax.vmap(warp.idw_warp)(x['vis_image'], x['vis_landmarks'],
                                              x['nir_landmarks'])
    x['vis_features'] = jax.lax.stop_gradient(
        identity_features(trainer.recognizer, x['vis_image'], x['vis_landmarks']))
    mi_keys = jax.random.split(k_mi, 4)
    k_id = jax.random.fold_in(k_mi, 1)   # F's view jitter (config.loss.id_jitter)

    g_loss = lambda g: forward_losses(g, trainer, x, (mi_keys[0], mi_keys[1], k_id), config,
                                      step=trainer.opt_g.step[...])
    (g_total, (terms, fake, _)), g_grads = nnx.value_and_grad(g_loss, has_aux=True)(
        trainer.generators)
    fake = jax.lax.stop_gradient(fake)

    def d_loss(d):
      return gan_losses.hinge_critic(d(x['vis_image']), d(fake))
    d_total, d_grads = nnx.value_and_grad(d_loss)(trainer.discriminator)

    metrics = {'g_total': g_total, 'd_hinge': d_total, **{f'g_{k}': v for k, v in terms.items()}}
    if config.use_mic:
      def mi_loss(ne):
        a, b = mi_bounds(ne, fake, x['vis_image'], x['nir_image'], mi_keys[2:], config)
        return -(a + b), (a, b)
      (_, (mi_vis, mi_nir)), mi_grads = nnx.value_and_grad(mi_loss, has_aux=True)(trainer.mi)
      trainer.opt_mi.update(trainer.mi, mi_grads)
      metrics.update(mi_fake_vis=mi_vis, mi_fake_nir=mi_nir)
    trainer.opt_g.update(trainer.generators, g_grads)
    trainer.opt_d.update(trainer.discriminator, d_grads)
    if trainer.ga_ema is not None:
      decay = ema_decay(config.train.ema_decay, trainer.opt_g.step[...])
      nnx.update(trainer.ga_ema, ema_update(nnx.state(trainer.ga_ema, nnx.Param),
                                            nnx.state(trainer.generators.ga, nnx.Param), decay))
    return nnx.state(trainer), metrics

  return jax.jit(step, donate_argnums=0)


# ----------------------------------------------------------------------------
# Previews, evaluation, export.


def make_preview(config: ml_collections.ConfigDict, graphdef):
  """jit'd (state, batch) -> (rows, 5 * W, 3) grid: NIR | warped VIS | Att | GA(NIR) | VIS."""

  def preview(state, batch):
    trainer = nnx.merge(graphdef, state)
    nir = nir_channel(to_signed(batch['nir_image']))
    vis = to_signed(batch['vis_image'])
    warped = jax.vmap(warp.idw_warp)(vis, batch['vis_landmarks'], batch['nir_landmarks'])
    fake = trainer.evaluated_ga()(nir, batch['nir_landmarks'])
    att = trainer.generators.attention(nir, warped) * 2.0 - 1.0
    rgb = lambda a: jnp.broadcast_to(a, a.shape[:3] + (3,))
    row = jnp.concatenate([rgb(nir), warped, rgb(att), fake, vis], axis=2)
    return (jnp.concatenate(list(row), axis=0) + 1.0) / 2.0

  return jax.jit(preview)


# ----------------------------------------------------------------------------
# Driver.

PLAYERS = ('generators', 'discriminator', 'mi', 'opt_g', 'opt_d', 'opt_mi')
BEST_METRIC = 'rank1_pcfh'


def curves(ga, recognizers: dict, builder, protocol, batch_size: int, *,
           with_fidelity: bool = False) -> evaluate.Generation:
  """raw_nir / pcfh / fused / vis_to_vis curves of GA (a MultiPathGenerator) under `protocol`,
  scored by each of `recognizers` from one pass of GA (`evaluate.generation_curves`)."""
  return evaluate.generation_curves(pcfh_models.NIRToVIS(ga), recognizers, builder,
                                    protocol, name='pcfh', batch_size=batch_size,
                                    with_fidelity=with_fidelity)


def train(config: ml_collections.ConfigDict, workdir: str, builder=None, *,
          stop_at: int | None = None):
  """Trains (or resumes) PCFH; returns (trainer, best_step).

  The last `config.eval.val_identities` training identities are held out of
  GA's (and F's) training; every `eval_every` steps GA(NIR) rank-1 on them
  picks the best generators. F is loaded, never trained, here:
  `train_and_evaluate` trains a missing one first.
  """
  mi_lib.estimator_fn(config.loss.get('mi_estimator', 'dv'))   # a bad name fails before any work
  builder = builder or datasets.prepare(config.data)
  recognizer = frozen.load(config, workdir)
  t = config.train
  init_rngs, step_key = training.rng_streams(config.seed)
  trainer = Trainer(config, recognizer, rngs=init_rngs)
  split = driver.TrainSplit.open(builder, config.eval.val_identities)
  batches = iter(input_pipeline.paired(split.source, split.index, batch_size=t.batch_size,
                                       seed=config.seed, exclude_identities=split.held_out))
  validate = split.validator(lambda trainer, protocol: curves(
      trainer.evaluated_ga(), {'f': trainer.recognizer}, builder, protocol,
      config.eval.batch_size).curves['f'])
  graphdef, _ = nnx.split(trainer)
  training.train_loop(
      trainer, make_train_step(config, graphdef), batches, workdir=workdir,
      schedule=training.Schedule.from_config(t), step_key=step_key,
      checkpointed=trainer.players(),
      name='PCFH', batch_keys=('nir_image', 'nir_landmarks', 'vis_image', 'vis_landmarks'),
      validate=validate, best_metric=BEST_METRIC,
      best=trainer.kept_best(), preview=_preview_fn(config, graphdef), stop_at=stop_at)
  return trainer, training.best_step(workdir)


def _preview_fn(config, graphdef):
  preview = make_preview(config, graphdef)
  return lambda state, batch: {'nir|warped_vis|attention|ga_nir|vis': preview(state, batch)}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  judges_lib.check(config, workdir)   # a judge the run cannot have fails it now
  mi_lib.estimator_fn(config.loss.get('mi_estimator', 'dv'))   # and so does a bad estimator
  builder = datasets.prepare(config.data)
  recognizer_train.train_missing(frozen.to_train(config, workdir))   # F, when missing
  trainer, _ = train(config, workdir, builder)
  best_step = training.restore_best(trainer, workdir, trainer.kept_best(), BEST_METRIC)
  ga = trainer.evaluated_ga()
  export_dir = os.path.join(workdir, 'export')
  export.save(ga, export_dir, factory='hfr_jax.models.pcfh:MultiPathGenerator',
              kwargs=ga_kwargs(config))
  eval_builder = datasets.prepare_eval(config, builder)
  weight, on_validation = validated_fusion_weight(ga, trainer.recognizer, builder, config)
  # Only now, with GA final: the judges score the same GA and see nothing else of the run.
  judges = judges_lib.load(config, workdir)
  scored = curves(ga, {'f': trainer.recognizer, **{k: r for k, (r, _) in judges.items()}},
                  eval_builder, evaluate.Protocol(), config.eval.batch_size, with_fidelity=True)
  found = scored.curves['f']
  extra = {}
  if weight is not None:
    extra['fused_validated'] = {
        'weight': weight, 'validation_rank1': on_validation,
        **{k: fusion_summary(c, weight) for k, c in scored.curves.items()}}
  return evaluate.write_report(
      workdir, found, title='PCFH: NIR probes vs VIS gallery',
      dataset=evaluate.dataset_info(eval_builder),
      config=config, images={'samples.png': sample_grid(trainer, eval_builder, config)},
      gap=('raw_nir', 'fused'), fidelity=scored.fidelity, twin=scored.twin,
      judges={k: (scored.curves[k], about) for k, (_, about) in judges.items()},
      extra={'best_step': best_step, 'recognizer_dir': frozen.directory(config, workdir),
             'export_dir': export_dir, **extra},
      notes='raw_nir: probes as captured; pcfh: GA(NIR); fused: mean of both scores '
            '(Sec. 4.2; fused_validated: weighted by what did best on the held-out training '
            'identities under F); vis_to_vis: VIS probes of the test identities, the same '
            'recognizer '
            '(F: the frozen recognizer of the identity loss, which also picked the checkpoint). '
            'Samples: NIR | warped VIS | attention | GA(NIR) | gallery VIS | VIS twin (the '
            'probe\'s scene in VIS, synthetic sets only).')


def validated_fusion_weight(ga, recognizer, builder, config):
  """GA's weight in the fused score with F's best rank-1 on the held-out training
  identities (`evaluate.fusion_weight`): (weight, {weight: rank-1}); (None, None)
  without held-out identities. The paper's fused score weighs raw and GA equally."""
  split = driver.TrainSplit.open(builder, config.eval.val_identities)
  if not len(split.held_out):
    return None, None
  found = curves(ga, {'f': recognizer}, builder, split.protocol, config.eval.batch_size)
  return evaluate.fusion_weight(found.curves['f'], 'pcfh')


def fusion_summary(found: dict, weight: float) -> dict:
  """Rank-1, VR@FAR=1% and gap closed of the fused score at `weight` on test `found`."""
  summary = metrics_lib.summary(*evaluate.fused(found, 'pcfh', weight))
  summary = {k: summary[k] for k in ('rank1', 'vr_at_far_1e-2')}
  ranks = {k: {'rank1': metrics_lib.rank_k_accuracy(*found[k])}
           for k in ('raw_nir', 'vis_to_vis') if k in found}
  closed = evaluate.gap_or_none({**ranks, 'fused': summary}, ('raw_nir', 'fused'))
  return {**summary, 'gap_closed': closed}


def sample_grid(trainer, builder, config, count: int = 4) -> np.ndarray:
  """Preview grid on the first test identities' probes, each with its gallery face.

  Columns: NIR | warped VIS | Att | GA(NIR) | gallery VIS, and the probe's VIS
  twin last where the set has twins; faces enlarged to >= 128 pixels.
  """
  (p_img, p_lm), (g_img, g_lm), p = driver.first_faces(builder, count)
  graphdef, state = nnx.split(trainer)
  batch = {'nir_image': p_img, 'nir_landmarks': p_lm, 'vis_image': g_img, 'vis_landmarks': g_lm}
  grid = sharding.gather(make_preview(config, graphdef)(state, batch))
  twins = evaluate.read_twins(builder, 'probe', p)
  if twins is not None:
    grid = np.concatenate([grid, np.concatenate(list(twins), axis=0) / 255.0], axis=1)
  return evaluate.enlarge(grid, p_img.shape[1])
