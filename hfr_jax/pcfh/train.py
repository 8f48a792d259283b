"""PCFH training: GA/GB/A vs DA, with the MI estimator NE, one jit'd step.

python -m hfr_jax.main --config=configs/pcfh.py --workdir=DIR

Three players, one optimiser each: the generators (GA, GB and the attention
module A), the discriminator DA and the statistics networks of the MI
estimator. One step computes GA(IN) once and updates all three from it
(simultaneous updates); DA and NE see GA(IN) through a stop-gradient.
The frozen recognizer F (a `load_pretrained` LightCNN) gives LID's features.
Data parallel: the batch is sharded over the mesh axis 'data', everything
else is replicated (`hfr_jax.training`).
"""

import functools
import json
import os
import shutil

from absl import logging
from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp

from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import input_pipeline
from hfr_jax import training
from hfr_jax.models import discriminators
from hfr_jax.models import lightcnn
from hfr_jax.models import pcfh as pcfh_models
from hfr_jax.ops import warp
from hfr_jax.pcfh import losses
from hfr_jax.pcfh import mutual_information as mi_lib
from hfr_jax.recognizer import features as recognizer_features

GA_META = 'pcfh_ga.json'


# ----------------------------------------------------------------------------
# Players.


class MIEstimator(nnx.Module):
  """NE: one statistics network per mutual information of Eq. (9)."""

  def __init__(self, *, width: int, rngs: nnx.Rngs):
    self.fake_vis = mi_lib.ConvStatistics(3, 3, width=width, rngs=rngs)
    self.fake_nir = mi_lib.ConvStatistics(3, 1, width=width, rngs=rngs)


def generator_kwargs(config: ml_collections.ConfigDict) -> dict:
  """GA/GB/A constructor arguments; also written next to the exported GA."""
  m = config.model
  return dict(resolution=config.data.resolution, width=m.width, num_res=m.num_res,
              local_num_res=m.local_num_res, aux_width=m.aux_width, aux_num_res=m.aux_num_res,
              attention_width=m.attention_width)


class Trainer(nnx.Module):
  """Every player, its optimiser and the frozen recognizer, as one NNX graph."""

  def __init__(self, config: ml_collections.ConfigDict, recognizer, *, rngs: nnx.Rngs):
    m, t = config.model, config.train
    self.generators = pcfh_models.Generators(**generator_kwargs(config), rngs=rngs)
    self.discriminator = discriminators.PatchDiscriminator(
        3, width=m.disc_width, num_down=m.disc_num_down, spectral_norm=m.spectral_norm,
        rngs=rngs)
    self.mi = MIEstimator(width=m.mi_width, rngs=rngs)
    adam = lambda lr: optax.adam(lr, b1=t.beta1, b2=t.beta2, eps=t.adam_eps)
    self.opt_g = nnx.Optimizer(self.generators, adam(t.learning_rate_g), wrt=nnx.Param)
    self.opt_d = nnx.Optimizer(self.discriminator, adam(t.learning_rate_d), wrt=nnx.Param)
    self.opt_mi = nnx.Optimizer(self.mi, adam(t.learning_rate_mi), wrt=nnx.Param)
    recognizer.eval()   # frozen F: no dropout, and no optimiser ever sees it
    self.recognizer = recognizer


# ----------------------------------------------------------------------------
# The step.


def to_signed(images):
  """uint8 [0, 255] -> float [-1, 1]."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def nir_channel(images):
  """NIR is stored as three equal channels; GA sees one."""
  return images[..., :1]


def identity_features(recognizer, images, landmarks, size):
  """F(.): the recognizer's 256-d features of [-1, 1] faces, aligned by landmarks."""
  _, feats = recognizer(recognizer_features.prepare((images + 1.0) / 2.0, landmarks, size))
  return feats


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
    img, lm = jax.vmap(functools.partial(input_pipeline.augment, max_shift=max_shift))(
        keys, batch[f'{name}_image'].astype(jnp.float32), batch[f'{name}_landmarks'])
    out[f'{name}_image'], out[f'{name}_landmarks'] = img / 127.5 - 1.0, lm
  out['nir_image'] = nir_channel(out['nir_image'])
  return out


def forward_losses(generators, trainer, x, rngs, config):
  """Every generator loss term of Eq. (1)-(9); returns (total, (terms, fake, att))."""
  w, m = config.loss, config.model
  nir, vis, warped = x['nir_image'], x['vis_image'], x['warped_vis']
  fake = generators.ga(nir, x['nir_landmarks'])
  terms = {'ad': losses.generator_adversarial(trainer.discriminator(fake, update_stats=False))}
  if w.lambda1:
    terms['rec'] = losses.cycle(generators.gb(fake), nir, w.lambda1)
  if w.lambda2:
    f_fake = identity_features(trainer.recognizer, fake, x['nir_landmarks'],
                               config.recognizer_input_size)
    terms['id'] = losses.identity(x['vis_features'], f_fake, w.lambda2)
  if w.lambda3:
    terms['y'] = losses.luminance(fake, nir, w.lambda3)
  att = None
  if config.use_awm:
    att = generators.attention(nir, warped)
    # LA trains A only: with alpha1 = 3 on a per-image L1 norm it would
    # otherwise pull GA onto the warped image (its artifacts included) far
    # harder than LAWM (lambda4 = 2.5e-5) does, which is the term meant for GA.
    terms['att'] = losses.attention(att, jax.lax.stop_gradient(fake), warped,
                                    w.alpha1, w.alpha2, w.alpha3)
    terms['awm'] = losses.attention_warping(att, fake, warped, w.lambda4)
  if config.use_mic:
    small = lambda a: downsample(a, m.mi_resolution)
    fake_s = small(fake)
    mi_vis, _ = mi_lib.mi_lower_bound(trainer.mi.fake_vis, fake_s, small(vis), rngs[0])
    mi_nir, _ = mi_lib.mi_lower_bound(trainer.mi.fake_nir, fake_s, small(nir), rngs[1])
    terms['mic'] = losses.mutual_information_constraint(mi_vis, mi_nir, w.lambda5)
  return sum(terms.values()), (terms, fake, att)


def make_train_step(config: ml_collections.ConfigDict, graphdef):
  """jit'd (state, batch, rng) -> (state, metrics); the state is donated."""
  size = config.recognizer_input_size

  def step(state, batch, rng):
    trainer = nnx.merge(graphdef, state)
    k_aug, k_mi = jax.random.split(rng)
    x = augment_batch(k_aug, batch, config.train.max_shift)
    x['warped_vis'] = jax.vmap(warp.idw_warp)(x['vis_image'], x['vis_landmarks'],
                                              x['nir_landmarks'])
    x['vis_features'] = jax.lax.stop_gradient(
        identity_features(trainer.recognizer, x['vis_image'], x['vis_landmarks'], size))
    mi_keys = jax.random.split(k_mi, 4)

    g_loss = lambda g: forward_losses(g, trainer, x, mi_keys[:2], config)
    (g_total, (terms, fake, _)), g_grads = nnx.value_and_grad(g_loss, has_aux=True)(
        trainer.generators)
    fake = jax.lax.stop_gradient(fake)

    def d_loss(d):
      return losses.discriminator_hinge(d(x['vis_image']), d(fake))
    d_total, d_grads = nnx.value_and_grad(d_loss)(trainer.discriminator)

    metrics = {'g_total': g_total, 'd_hinge': d_total, **{f'g_{k}': v for k, v in terms.items()}}
    if config.use_mic:
      small = lambda a: downsample(a, config.model.mi_resolution)
      def mi_loss(ne):
        a, _ = mi_lib.mi_lower_bound(ne.fake_vis, small(fake), small(x['vis_image']), mi_keys[2])
        b, _ = mi_lib.mi_lower_bound(ne.fake_nir, small(fake), small(x['nir_image']), mi_keys[3])
        return -(a + b), (a, b)
      (_, (mi_vis, mi_nir)), mi_grads = nnx.value_and_grad(mi_loss, has_aux=True)(trainer.mi)
      trainer.opt_mi.update(trainer.mi, mi_grads)
      metrics.update(mi_fake_vis=mi_vis, mi_fake_nir=mi_nir)
    trainer.opt_g.update(trainer.generators, g_grads)
    trainer.opt_d.update(trainer.discriminator, d_grads)
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
    fake = trainer.generators.ga(nir, batch['nir_landmarks'])
    att = trainer.generators.attention(nir, warped) * 2.0 - 1.0
    rgb = lambda a: jnp.broadcast_to(a, a.shape[:3] + (3,))
    row = jnp.concatenate([rgb(nir), warped, rgb(att), fake, vis], axis=2)
    return (jnp.concatenate(list(row), axis=0) + 1.0) / 2.0

  return jax.jit(preview)


@functools.partial(jax.jit, static_argnames=('ga_graphdef', 'rec_graphdef', 'size'))
def _probe_features(ga_graphdef, ga_state, rec_graphdef, rec_state, images, landmarks, size):
  """Recognizer features of raw NIR probes and of GA(NIR)."""
  ga, recognizer = nnx.merge(ga_graphdef, ga_state), nnx.merge(rec_graphdef, rec_state)
  nir = to_signed(images)
  fake = ga(nir_channel(nir), landmarks)
  return (identity_features(recognizer, nir, landmarks, size),
          identity_features(recognizer, fake, landmarks, size))


def hfr_curves(ga, recognizer, builder, size: int, *, batch_size: int = 32,
               probe_split: str = 'probe', gallery_split: str = 'gallery',
               max_probes: int | None = None) -> dict:
  """{'raw_nir', 'pcfh', 'fused'}: (scores, probe_ids, gallery_ids) vs the VIS gallery.

  fused is the paper's distance (Sec. 4.2, after Yin et al. 2017): the mean of
  the original-pair and generated-pair cosine distances, i.e. of the scores.
  """
  gallery, gallery_ids = recognizer_features.split_features(
      recognizer, builder, gallery_split, size, batch_size)
  source, index = input_pipeline.open_split(builder, probe_split)
  records = index.records(input_pipeline.NIR)[:max_probes]
  ga_g, ga_s = nnx.split(ga)
  rec_g, rec_s = nnx.split(recognizer)
  raw, fake, ids = [], [], []
  for batch in input_pipeline.evaluation(source, index, batch_size=batch_size, records=records,
                                         shard=False):
    a, b = _probe_features(ga_g, ga_s, rec_g, rec_s, batch['image'], batch['landmarks'], size)
    m = batch['mask']
    raw.append(np.asarray(a)[m])
    fake.append(np.asarray(b)[m])
    ids.append(batch['identity'][m])
  ids = np.concatenate(ids)
  s_raw = recognizer_features.metrics.cosine_similarity(np.concatenate(raw), gallery)
  s_fake = recognizer_features.metrics.cosine_similarity(np.concatenate(fake), gallery)
  return {'raw_nir': (s_raw, ids, gallery_ids), 'pcfh': (s_fake, ids, gallery_ids),
          'fused': ((s_raw + s_fake) / 2.0, ids, gallery_ids)}


def export(ga, directory: str, kwargs: dict):
  """WORKDIR/export: GA's parameters (orbax) and the arguments that rebuild it."""
  directory = os.path.abspath(directory)
  tmp = directory + '.tmp'
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  with ocp.StandardCheckpointer() as ckpt:
    ckpt.save(os.path.join(tmp, 'params'), nnx.to_pure_dict(nnx.state(ga, nnx.Param)))
  with open(os.path.join(tmp, GA_META), 'w') as f:
    json.dump(kwargs, f, indent=2)
  shutil.rmtree(directory, ignore_errors=True)
  os.replace(tmp, directory)


def load_exported(directory: str):
  """The GA saved by `export`, ready to call as ga(nir, landmarks)."""
  meta_path = os.path.join(directory, GA_META)
  if not os.path.isfile(meta_path):
    raise FileNotFoundError(f'{directory}: not a PCFH export (no {GA_META})')
  with open(meta_path) as f:
    kwargs = json.load(f)
  ga = nnx.eval_shape(lambda: pcfh_models.MultiPathGenerator(1, 3, rngs=nnx.Rngs(0), **kwargs))
  target = nnx.to_pure_dict(nnx.state(ga, nnx.Param))
  with ocp.StandardCheckpointer() as ckpt:
    params = ckpt.restore(os.path.join(os.path.abspath(directory), 'params'), target)
  state = nnx.state(ga, nnx.Param)
  nnx.replace_by_pure_dict(state, params)
  nnx.update(ga, state)
  return ga


# ----------------------------------------------------------------------------
# Driver.


def recognizer_dir(config, workdir: str) -> str:
  return config.recognizer.dir or os.path.join(workdir, 'recognizer', 'pretrained')


def ensure_recognizer(config, workdir: str, builder):
  """The frozen F; trains one with the configs/lightcnn.py recipe when it is missing."""
  directory = recognizer_dir(config, workdir)
  meta = os.path.join(directory, lightcnn._META)
  if not os.path.isfile(meta):
    if not config.recognizer.train_if_missing:
      raise FileNotFoundError(f'config.recognizer.dir: no LightCNN at {directory} '
                              f'(no {lightcnn._META}); convert or train one first')
    from hfr_jax.recognizer import train as recognizer_train
    recipe = ml_collections.ConfigDict(config.recognizer.recipe.to_dict())
    recipe.data = config.data
    recipe.output_dir = directory
    logging.info('No recognizer at %s: training one with the configs/lightcnn.py recipe on '
                 'the VIS training images of %s', directory, builder.info.full_name)
    recognizer_train.train(recipe, os.path.join(workdir, 'recognizer'), builder)
  with open(meta) as f:
    size = int(json.load(f).get('input_size', 128))
  return lightcnn.load_pretrained(directory), size


def _restore(ckpt, trainer, it, step=None):
  return ckpt.restore(_players(trainer), it, step=step)


def _players(trainer):
  return {k: getattr(trainer, k) for k in ('generators', 'discriminator', 'mi', 'opt_g',
                                           'opt_d', 'opt_mi')}


def train(config: ml_collections.ConfigDict, workdir: str, builder=None, *,
          stop_at: int | None = None):
  """Trains (or resumes) PCFH; returns (trainer, best_step)."""
  builder = builder or datasets.prepare(config.data)
  recognizer, size = ensure_recognizer(config, workdir, builder)
  config = ml_collections.ConfigDict(config.to_dict())
  config.recognizer_input_size = size
  t = config.train
  trainer = Trainer(config, recognizer, rngs=nnx.Rngs(config.seed))
  mesh = training.make_mesh()
  source, index = input_pipeline.open_split(builder, 'train')
  it = iter(input_pipeline.paired(source, index, batch_size=t.batch_size // jax.process_count(),
                                  seed=config.seed))
  ckpt = training.Checkpoints(os.path.join(workdir, 'checkpoints'), max_to_keep=2)
  best = training.Checkpoints(os.path.join(workdir, 'best'), max_to_keep=1,
                              best_metric='val_rank1')
  step = _restore(ckpt, trainer, it) or 0
  if step:
    logging.info('Resumed PCFH training at step %d', step)
  graphdef, state = nnx.split(trainer)
  state = training.replicate(state, mesh)
  train_step = make_train_step(config, graphdef)
  preview = make_preview(config, graphdef)
  logger = training.Logger(workdir, t.num_steps, every=t.log_every)
  base_rng = jax.random.key(config.seed)
  last = t.num_steps if stop_at is None else min(stop_at, t.num_steps)
  while step < last:
    batch = next(it)
    batch = {k: batch[k] for k in ('nir_image', 'nir_landmarks', 'vis_image', 'vis_landmarks')}
    state, metrics = train_step(state, training.shard_batch(batch, mesh),
                                jax.random.fold_in(base_rng, step))
    step += 1
    save = step % t.checkpoint_every == 0 or step in (t.num_steps, last)
    if step % t.log_every == 0 or save:
      training.check_finite(metrics, step)
      logger.scalars(step, {f'train/{k}': v for k, v in metrics.items()})
      logger.progress(step, metrics)
    if step % t.image_every == 0 or step == t.num_steps:
      few = jax.tree.map(lambda a: a[:4], batch)
      logger.images(step, {'nir|warped_vis|attention|ga_nir|vis': preview(state, few)})
    if save:
      nnx.update(trainer, state)
      ckpt.save(step, _players(trainer), it)
      if t.eval_every and (step % t.eval_every == 0 or step == t.num_steps):
        val = validation_rank1(trainer, builder, size, config)
        logger.scalars(step, {'val/rank1_pcfh': val})
        best.save(step, {'generators': trainer.generators}, metrics={'val_rank1': val},
                  force=True)
  ckpt.close()
  best.close()
  logger.close()
  nnx.update(trainer, state)
  return trainer, best.best_step


def validation_rank1(trainer, builder, size, config) -> float:
  """GA(NIR) rank-1 on training identities (seen, but no test identity is looked at)."""
  from hfr_jax import metrics as metrics_lib
  source, index = input_pipeline.open_split(builder, 'train')
  nir, vis = index.records(input_pipeline.NIR), index.records(input_pipeline.VIS)
  ids = np.unique(index.identity)[:config.eval.val_identities]
  gallery = np.array([vis[index.identity[vis] == i][0] for i in ids])
  probes = nir[np.isin(index.identity[nir], ids)]
  ga_g, ga_s = nnx.split(trainer.generators.ga)
  rec_g, rec_s = nnx.split(trainer.recognizer)
  g_img, g_lm, g_ids = input_pipeline.eval_arrays(source, index, gallery)
  p_img, p_lm, p_ids = input_pipeline.eval_arrays(source, index, probes)
  g_feat = recognizer_features.extract(trainer.recognizer, g_img, g_lm, size)
  _, p_feat = _probe_features(ga_g, ga_s, rec_g, rec_s, p_img, p_lm, size)
  scores = metrics_lib.cosine_similarity(np.asarray(p_feat), g_feat)
  return metrics_lib.rank_k_accuracy(scores, p_ids, g_ids)


def ga_kwargs(config: ml_collections.ConfigDict) -> dict:
  m = config.model
  return dict(resolution=config.data.resolution, width=m.width, num_res=m.num_res,
              local_num_res=m.local_num_res)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  builder = datasets.prepare(config.data)
  trainer, best_step = train(config, workdir, builder)
  if best_step is not None:
    training.Checkpoints(os.path.join(workdir, 'best'), max_to_keep=1,
                         best_metric='val_rank1').restore(
                             {'generators': trainer.generators}, step=best_step)
    logging.info('Evaluating the best checkpoint by validation rank-1 (step %d)', best_step)
  ga = trainer.generators.ga
  export(ga, os.path.join(workdir, 'export'), ga_kwargs(config))
  eval_builder = datasets.prepare(config.eval_data) if config.get('eval_data') else builder
  _, size = ensure_recognizer(config, workdir, builder)
  curves = hfr_curves(ga, trainer.recognizer, eval_builder, size,
                      batch_size=config.eval.batch_size)
  grid = sample_grid(trainer, eval_builder, config)
  payload = evaluate.write_report(
      workdir, curves, title='PCFH: NIR probes vs VIS gallery',
      dataset={'name': eval_builder.name, 'config': eval_builder.builder_config.name,
               'data_dir': str(eval_builder.data_dir)},
      config=config, images={'samples.png': grid},
      extra={'best_step': best_step, 'recognizer_dir': recognizer_dir(config, workdir),
             'export_dir': os.path.join(workdir, 'export')},
      notes='raw_nir: probes as captured; pcfh: GA(NIR); fused: mean of both scores '
            '(Sec. 4.2). Samples: NIR | warped VIS | attention | GA(NIR) | VIS.')
  for name, r in payload['metrics'].items():
    logging.info('%s: rank-1 %.4f  VR@1e-2 %.4f  VR@1e-3 %.4f', name, r['rank1'],
                 r['vr_at_far_1e-2'], r['vr_at_far_1e-3'])
  return payload


def sample_grid(trainer, builder, config, count: int = 4) -> np.ndarray:
  """Preview grid on the first test identities' probes, each with its gallery face."""
  probe_source, probe_index = input_pipeline.open_split(builder, 'probe')
  gallery_source, gallery_index = input_pipeline.open_split(builder, 'gallery')
  ids = np.unique(probe_index.identity)[:count]
  p = [int(np.flatnonzero(probe_index.identity == i)[0]) for i in ids]
  g = [int(np.flatnonzero(gallery_index.identity == i)[0]) for i in ids]
  p_img, p_lm, _ = input_pipeline.eval_arrays(probe_source, probe_index, p)
  g_img, g_lm, _ = input_pipeline.eval_arrays(gallery_source, gallery_index, g)
  graphdef, state = nnx.split(trainer)
  batch = {'nir_image': p_img, 'nir_landmarks': p_lm, 'vis_image': g_img, 'vis_landmarks': g_lm}
  return np.asarray(make_preview(config, graphdef)(state, batch))
