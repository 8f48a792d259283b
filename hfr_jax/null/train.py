"""NULL training: two autoencoders with content/style codes vs two discriminators, one step.

python -m hfr_jax.main --config=configs/null.py:demo --workdir=DIR

Two players, one Adam optimiser each: the generator (both domains' Ec, Es
and D, `hfr_jax.models.null.NULLModel`) and, in the GAN settings, the two
multi-scale discriminators. One jit'd step computes the translations once
and updates both players from them (simultaneous updates); the
discriminators see the translations through a stop-gradient.

Unpaired: NIR and VIS batches are drawn independently
(`input_pipeline.unpaired`), the held-out validation identities excluded, and
only images and landmarks reach the step (`BATCH_KEYS`): landmarks align each
face onto the mean shape (the synthetic faces vary in scale, position and
roll) and are not seen by any network. Matching: content-code means of NIR
probes against the VIS gallery by cosine (Sec. 3.1), through the shared
evaluator; VIS->VIS of the same codes is the upper bound.
"""

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
from hfr_jax import input_pipeline
from hfr_jax import metrics as metrics_lib
from hfr_jax import report
from hfr_jax import sharding
from hfr_jax import training
from hfr_jax.models import null as null_models
from hfr_jax.null import diagnostics
from hfr_jax.null import losses
from hfr_jax.recognizer import frozen
from hfr_jax.recognizer import judges
from hfr_jax.recognizer import train as recognizer_train

# (variational codes, adversarial terms) of the paper's Table 1 rows.
SETTINGS = {'base': (False, False), 'vae': (True, False), 'gan': (False, True),
            'vae_gan': (True, True)}
BATCH_KEYS = ('nir_image', 'nir_landmarks', 'vis_image', 'vis_landmarks')
FACTORY = 'hfr_jax.models.null:NULLModel'


def setting(config: ml_collections.ConfigDict) -> tuple[bool, bool]:
  """(use_vae, use_gan) of config.setting."""
  if config.setting not in SETTINGS:
    raise ValueError(f'config.setting: {config.setting!r} is not one of {sorted(SETTINGS)}')
  return SETTINGS[config.setting]


def model_kwargs(config: ml_collections.ConfigDict) -> dict:
  """NULLModel's constructor arguments (also written to the export)."""
  m = config.model
  return dict(resolution=m.resolution, width=m.width, style_width=m.style_width,
              code_dim=m.code_dim, style_dim=m.style_dim, mlp_width=m.mlp_width,
              pool_grid=m.pool_grid, variational=setting(config)[0],
              shared_stages=m.shared_stages)


def players(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The Trainer attributes a checkpoint holds."""
  return ('model', 'opt_g') + (('discriminators', 'opt_d') if setting(config)[1] else ())


class Trainer(nnx.Module):
  """Every player and its optimiser as one NNX graph."""

  @driver.unpartitioned_draws
  def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    m, t = config.model, config.train
    dtype = jnp.dtype(m.dtype)   # of the computation; parameters stay float32
    self.model = null_models.NULLModel(**model_kwargs(config), dtype=dtype, rngs=rngs)
    self.opt_g = driver.optimizer(self.model, t, t.learning_rate_g)
    if setting(config)[1]:
      self.discriminators = null_models.Discriminators(
          width=m.disc_width, num_down=m.disc_num_down, num_scales=m.disc_num_scales,
          spectral_norm=m.spectral_norm, dtype=dtype, rngs=rngs)
      self.opt_d = driver.optimizer(self.discriminators, t, t.learning_rate_d)


# ----------------------------------------------------------------------------
# The step.


def step_inputs(rng, batch, resolution: int, flip: bool):
  """Stored uint8 faces -> aligned (x1 NIR (N, R, R, 1), x2 VIS (N, R, R, 3)) in [-1, 1].

  With `flip` each face is mirrored with probability 1/2 (the mean face is
  left-right symmetric, so a mirrored crop is aligned too).
  """
  out = []
  keys = jax.random.split(rng) if flip else (None, None)
  for key, domain in zip(keys, ('nir', 'vis')):
    x = null_models.model_input(batch[f'{domain}_image'].astype(jnp.float32),
                                batch[f'{domain}_landmarks'], resolution=resolution,
                                channels=null_models.DOMAINS[domain])
    if flip:
      mirror = jax.random.bernoulli(key, 0.5, (x.shape[0],))
      x = jnp.where(mirror[:, None, None, None], x[:, :, ::-1], x)
    out.append(x)
  return tuple(out)


def loss_weights(config: ml_collections.ConfigDict) -> dict:
  w = config.loss
  return {'gan': w.gan_w, 'recon_x': w.recon_x_w, 'recon_c': w.recon_c_w,
          'recon_s': w.recon_s_w, 'kl': w.recon_kl_w}


def generator_losses(model, discriminators, x1, x2, rng, config):
  """Every term of the total loss (Sec. 3.3); returns (total, (terms, x21, x12)).

  x_{2->1} = D1(c2, s1) and x_{1->2} = D2(c1, s2) with s1, s2 ~ N(0, I) (MUNIT);
  their re-encodings must give back c2, s1 and c1, s2.
  """
  use_vae, use_gan = setting(config)
  keys = jax.random.split(rng, 6)
  (c1_mean, c1_logvar), (c2_mean, c2_logvar) = model.nir.content(x1), model.vis.content(x2)
  (s1_mean, s1_logvar), (s2_mean, s2_logvar) = model.nir.style(x1), model.vis.style(x2)
  c1 = null_models.sample(keys[0], c1_mean, c1_logvar)
  c2 = null_models.sample(keys[1], c2_mean, c2_logvar)
  s1_own = null_models.sample(keys[2], s1_mean, s1_logvar)
  s2_own = null_models.sample(keys[3], s2_mean, s2_logvar)
  s1 = jax.random.normal(keys[4], s1_mean.shape)
  s2 = jax.random.normal(keys[5], s2_mean.shape)
  x21, x12 = model.nir.decoder(c2, s1), model.vis.decoder(c1, s2)
  # Re-encoded codes are compared by their means, as MUNIT/UNIT compare them.
  (c2_back, _), (s1_back, _) = model.nir.content(x21), model.nir.style(x21)
  (c1_back, _), (s2_back, _) = model.vis.content(x12), model.vis.style(x12)
  terms = {
      'recon_x': (losses.image_reconstruction(model.nir.decoder(c1, s1_own), x1)
                  + losses.image_reconstruction(model.vis.decoder(c2, s2_own), x2)),
      'recon_c': (losses.latent_reconstruction(c1_back, c1)
                  + losses.latent_reconstruction(c2_back, c2)),
      'recon_s': (losses.latent_reconstruction(s1_back, s1)
                  + losses.latent_reconstruction(s2_back, s2)),
  }
  if use_vae:
    terms['kl'] = sum(losses.kl_standard_normal(m, v) for m, v in (
        (c1_mean, c1_logvar), (c2_mean, c2_logvar), (s1_mean, s1_logvar), (s2_mean, s2_logvar)))
  if use_gan:
    terms['gan'] = (
        losses.adversarial_generator(discriminators.nir(x21, update_stats=False))
        + losses.adversarial_generator(discriminators.vis(x12, update_stats=False)))
  return losses.weighted_total(terms, loss_weights(config)), (terms, x21, x12)


def make_train_step(config: ml_collections.ConfigDict, graphdef):
  """jit'd (state, batch, rng) -> (state, metrics); the state is donated."""
  use_gan = setting(config)[1]

  def step(state, batch, rng):
    trainer = nnx.merge(graphdef, state)
    k_aug, k_codes = jax.random.split(rng)
    x1, x2 = step_inputs(k_aug, batch, config.model.resolution, config.train.flip)
    discriminators = trainer.discriminators if use_gan else None
    g_loss = lambda model: generator_losses(model, discriminators, x1, x2, k_codes, config)
    (g_total, (terms, x21, x12)), g_grads = nnx.value_and_grad(g_loss, has_aux=True)(
        trainer.model)
    metrics = {'g_total': g_total, **{f'g_{k}': v for k, v in terms.items()}}
    if use_gan:
      x21, x12 = jax.lax.stop_gradient(x21), jax.lax.stop_gradient(x12)

      def d_loss(d):
        return (losses.adversarial_critic(d.nir(x1), d.nir(x21))
                + losses.adversarial_critic(d.vis(x2), d.vis(x12)))
      metrics['d_lsgan'], d_grads = nnx.value_and_grad(d_loss)(trainer.discriminators)
      trainer.opt_d.update(trainer.discriminators, d_grads)
    trainer.opt_g.update(trainer.model, g_grads)
    return nnx.state(trainer), metrics

  return jax.jit(step, donate_argnums=0)


# ----------------------------------------------------------------------------
# Matching, previews.


def matching(config: ml_collections.ConfigDict) -> str:
  """The curve NULL is judged by: 'null' (the paper's cosine of content means) or, with
  config.eval.centre, 'null_centred' (each side's codes minus their own mean)."""
  return 'null_centred' if config.eval.get('centre', False) else 'null'


def curves(model, builder, protocol, batch_size: int) -> dict:
  """`diagnostics.curves` of the model's codes under `protocol`."""
  return diagnostics.curves(diagnostics.read_codes(model, builder, protocol, batch_size))


PREVIEW_TAG = 'nir|rec|to_vis_a|to_vis_b || vis|rec|to_nir_a|to_nir_b'


def make_preview(config: ml_collections.ConfigDict, graphdef):
  """jit'd (state, batch) -> grid, one row per face pair (see PREVIEW_TAG).

  Translations use two random styles, the same ones at every call (key 0), so
  grids of successive steps compare.
  """

  def preview(state, batch):
    model = nnx.merge(graphdef, state).model
    x1, x2 = step_inputs(None, batch, config.model.resolution, flip=False)
    styles = jax.random.normal(jax.random.key(0), (2, x1.shape[0], model.style_dim))
    rgb = lambda a: jnp.broadcast_to(a, a.shape[:3] + (3,))
    columns = []
    for x, own, other in ((x1, model.nir, model.vis), (x2, model.vis, model.nir)):
      (c, _), (s, _) = own.content(x), own.style(x)
      columns += [x, own.decoder(c, s), other.decoder(c, styles[0]),
                  other.decoder(c, styles[1])]
    row = jnp.concatenate([rgb(a) for a in columns], axis=2)
    return (jnp.concatenate(list(row), axis=0) + 1.0) / 2.0

  return jax.jit(preview)


def sample_grid(trainer, builder, config, count: int = 4) -> np.ndarray:
  """The preview grid on the first test identities: each one's gallery face and first probe.

  Faces enlarged to >= 128 pixels (`evaluate.enlarge`).
  """
  (nir, nir_lm), (vis, vis_lm), _ = driver.first_faces(builder, count)
  graphdef, state = nnx.split(trainer)
  batch = {'nir_image': nir, 'nir_landmarks': nir_lm, 'vis_image': vis, 'vis_landmarks': vis_lm}
  return evaluate.enlarge(sharding.gather(make_preview(config, graphdef)(state, batch)),
                         config.model.resolution)


# ----------------------------------------------------------------------------
# Driver.


def train(config: ml_collections.ConfigDict, workdir: str, builder=None, *,
          stop_at: int | None = None):
  """Trains (or resumes) NULL; returns (trainer, best_step).

  The last `config.eval.val_identities` training identities are held out of
  training; every `eval_every` steps their content-code NIR->VIS rank-1 picks
  the best model.
  """
  builder = builder or datasets.prepare(config.data)
  t = config.train
  init_rngs, step_key = training.rng_streams(config.seed)
  trainer = Trainer(config, rngs=init_rngs)
  split = driver.TrainSplit.open(builder, config.eval.val_identities)
  batches = iter(input_pipeline.unpaired(split.source, split.index, batch_size=t.batch_size,
                                         seed=config.seed, exclude_identities=split.held_out))
  validate = split.validator(lambda trainer, protocol: curves(
      trainer.model, builder, protocol, config.eval.batch_size))

  graphdef, _ = nnx.split(trainer)
  preview = make_preview(config, graphdef)
  training.train_loop(
      trainer, make_train_step(config, graphdef), batches, workdir=workdir,
      schedule=training.Schedule.from_config(t), step_key=step_key, checkpointed=players(config),
      name='NULL', batch_keys=BATCH_KEYS, validate=validate,
      best_metric=f'rank1_{matching(config)}', best=('model',),
      preview=lambda state, batch: {PREVIEW_TAG: preview(state, batch)}, stop_at=stop_at)
  return trainer, training.best_step(workdir)


def scorers(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """{key: (recognizer, description)} that score NULL's translations: F (config.recognizer,
  trained first when missing; it never sees NULL), the judge and the photo judge, each
  where the config enables it."""
  found = {}
  if frozen.enabled(config):
    recognizer_train.train_missing(frozen.to_train(config, workdir))
    f = frozen.load(config, workdir)
    found['f'] = (f, {'arch': f.arch, 'dir': frozen.directory(config, workdir)})
  return {**found, **judges.load(config, workdir)}


def translation_scores(model, codes, scorers: dict, builder, batch_size: int):
  """NULL's NIR->VIS translations of the test probes, D2(Ec1(x1), s) with s the VIS
  gallery's mean style, scored as PCFH's GA(NIR) is (`evaluate.generation_curves`):
  (results.json's `translation`, report.md's section)."""
  style = diagnostics.mean_style(codes)
  found = evaluate.generation_curves(
      null_models.Translation(model, style), {k: r for k, (r, _) in scorers.items()}, builder,
      name='translation', batch_size=batch_size, with_fidelity=True)
  by = {k: {m: metrics_lib.summary(*c) for m, c in found.curves[k].items()} for k in scorers}
  out = {'style': 'mean style code of the VIS gallery', 'fidelity': found.fidelity,
         'twin_fidelity': found.twin}
  for k, (_, about) in scorers.items():
    out[k] = {**by[k], 'gap_closed': evaluate.gap_or_none(by[k], ('raw_nir', 'translation')),
              'recognizer': about}
  section = ''
  if scorers:
    table = report.scores_table(
        {report.recognizer_label(k): by[k] for k in scorers},
        {report.recognizer_label(k): out[k]['gap_closed'] for k in scorers})
    section = f"""
**Translations**: each NIR probe translated to VIS, D2(Ec1(x1), s) with s the VIS gallery's
mean style code, warped back onto the probe's frame, scored by recognizers that took no part
in NULL's training (F: trained on the training identities' VIS images; judge: other
identities; photo judge: real photographs). fused: the mean of the raw and translated
scores; vis_twin: each probe's VIS twin, what a perfect translation would draw; gap closed:
translation over raw_nir.

{table}
"""
  if found.fidelity:
    section += '\nPSNR / SSIM to the VIS twins (whole frame): ' + '; '.join(
        f'{k} {v["psnr"]:.2f} dB / {v["ssim"]:.3f}' for k, v in found.fidelity.items()) + '.\n'
  return out, section


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  judges.check(config, workdir)   # a judge the run cannot have fails it now
  builder = datasets.prepare(config.data)
  trainer, _ = train(config, workdir, builder)
  best_step = training.restore_best(trainer, workdir, ('model',), f'rank1_{matching(config)}')
  export_dir = os.path.join(workdir, 'export')
  export.save(trainer.model, export_dir, factory=FACTORY, kwargs=model_kwargs(config),
              info={'setting': config.setting, 'input_resolution': config.data.get('resolution')})
  eval_builder = datasets.prepare_eval(config, builder)
  codes = diagnostics.read_codes(trainer.model, eval_builder, evaluate.Protocol(),
                                 config.eval.batch_size)
  found = diagnostics.curves(codes)
  shares = diagnostics.identity_shares(codes)
  # Only now, with NULL final: the recognizers score its translations.
  translation, section = translation_scores(trainer.model, codes, scorers(config, workdir),
                                            eval_builder, config.eval.batch_size)
  section = ('\n**Identity share** of each code (between-identity share of its variance, test '
             'faces): ' + ', '.join(f'{k} {v:.3f}' for k, v in shares.items()) + '.\n'
             + section)
  return evaluate.write_report(
      workdir, found, title=f'NULL ({config.setting}): NIR probes vs VIS gallery by content code',
      dataset=evaluate.dataset_info(eval_builder),
      config=config, images={'samples.png': sample_grid(trainer, eval_builder, config)},
      extra={'setting': config.setting, 'best_step': best_step, 'export_dir': export_dir,
             'matching': matching(config), 'identity_share': shares,
             'translation': translation},
      sections=section,
      notes='null: content-code means of NIR probes (NIR Ec) vs the VIS gallery (VIS Ec), '
            'cosine (the paper); null_centred: each side\'s codes minus their own mean first; '
            'vis_to_vis: VIS probes of the test identities by the same VIS codes (the upper '
            'bound); vis_to_vis_style: the same by style code (identity leaking into s). '
            f'{matching(config)} is the figure of record. Samples, per row: NIR | its '
            'reconstruction | NIR->VIS with two random styles || VIS | reconstruction | '
            'VIS->NIR with the same styles.')
