"""NULL training: unpaired batches without identities, SIGKILL + resume == uninterrupted,
paper-scale shapes. (Its batch split over devices and processes: tests/test_multihost.py.)"""

import json
import os
import textwrap

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import null as null_config
from hfr_jax import evaluate
from hfr_jax import export
from hfr_jax import metrics
from hfr_jax import input_pipeline
from hfr_jax import training
from hfr_jax.null import diagnostics
from hfr_jax.null import train

from conftest import TINY
from trainer_runs import ROOT, kill_and_resume_match_uninterrupted
# shared_stages=1: the shared-weights path runs through the step, the checkpoints and the export.
TINY_MODEL = dict(resolution=16, width=4, style_width=4, code_dim=16, style_dim=4, mlp_width=8,
                  pool_grid=2, shared_stages=1, disc_width=4, disc_num_down=1, disc_num_scales=2)


def tiny_config(data_dir, setting='vae_gan', steps=4, checkpoint_every=2):
  config = null_config.get_config(f'{setting},demo')
  config.data.update(TINY)
  config.data.data_dir = str(data_dir)
  config.model.update(TINY_MODEL)
  config.train.update(num_steps=steps, batch_size=8, checkpoint_every=checkpoint_every,
                      log_every=1, image_every=2, eval_every=checkpoint_every)
  config.eval.update(batch_size=8, val_identities=2)
  config.photo_judge = 'off'   # dlib, where a test asks for it
  # Adam's first step moves a parameter by ~lr whatever the size of its gradient; eps = 1e-6
  # keeps float-noise gradients (summed in another order over devices) from doing so.
  config.train.adam_eps = 1e-6
  return config


def test_unpaired_batches_reaching_the_step_carry_no_identity(tiny_builder, tmp_path,
                                                              monkeypatch):
  config = tiny_config(tiny_builder.data_dir_root)
  seen = {}

  def fake_loop(trainer, step_fn, batches, *, batch_keys, **kw):
    # What train_loop hands the step: these keys of each batch.
    seen['keys'] = batch_keys
    seen['batches'] = [next(batches) for _ in range(4)]
    return 0

  monkeypatch.setattr(training, 'train_loop', fake_loop)
  # No players needed to see the batches (building them compiles every initialiser).
  monkeypatch.setattr(train, 'Trainer', lambda config, rngs: nnx.Module())
  train.train(config, str(tmp_path), tiny_builder)
  assert set(seen['keys']) == {'nir_image', 'nir_landmarks', 'vis_image', 'vis_landmarks'}
  assert all(set(b) == set(seen['keys']) for b in seen['batches'])

  # Whose faces they are, by looking each image up among the training images.
  source, index = input_pipeline.open_split(tiny_builder, 'train')
  held_out = input_pipeline.validation_identities(index, config.eval.val_identities)
  owner = {input_pipeline.decode_png(source[i]['image']).tobytes(): index.identity[i]
           for i in range(len(index.identity))}
  nir = np.concatenate([[owner[x.tobytes()] for x in b['nir_image']] for b in seen['batches']])
  vis = np.concatenate([[owner[x.tobytes()] for x in b['vis_image']] for b in seen['batches']])
  assert not np.isin(np.concatenate([nir, vis]), held_out).any()
  assert np.any(nir != vis), 'NIR and VIS streams look paired'


@pytest.mark.heavy(250)
def test_sigkill_and_resume_reach_the_uninterrupted_parameters(tiny_builder, tmp_path):
  (tmp_path / 'tiny_null.py').write_text(textwrap.dedent(f'''
      import sys
      sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
      from test_null_train import tiny_config

      def get_config():
        return tiny_config({str(tiny_builder.data_dir_root)!r}, steps=6, checkpoint_every=2)
  '''))
  kill_and_resume_match_uninterrupted([f'--config={tmp_path / "tiny_null.py"}'], tmp_path,
                                      name='NULL', steps=6)

  results = json.loads((tmp_path / 'whole' / 'results.json').read_text())
  assert results['setting'] == 'vae_gan'
  for key in ('null', 'vis_to_vis'):
    assert set(results[key]) >= {'rank1', 'vr_at_far_1e-2', 'vr_at_far_1e-3'}
  assert results['num_probe'] == TINY['num_identities'] // 2 * TINY['nir_per_identity']
  assert (tmp_path / 'whole' / 'samples.png').is_file()
  # Every diagnostic recomputed from the export on the test split equals the report's.
  model, _ = export.load(tmp_path / 'whole' / 'export')
  codes = diagnostics.read_codes(model, tiny_builder, evaluate.Protocol(), batch_size=8)
  for key, c in diagnostics.curves(codes).items():
    assert results[key]['rank1'] == pytest.approx(metrics.rank_k_accuracy(*c), abs=1e-9), key
  assert results['identity_share'] == pytest.approx(diagnostics.identity_shares(codes),
                                                    rel=1e-4)
  assert results['matching'] == 'null'
  # The translations' fidelity: raw NIR's PSNR to its twin is the evaluator's, recomputed.
  fidelity = results['translation']['fidelity']
  images, _, _ = evaluate.read_images(tiny_builder, 'probe')
  twins = evaluate.read_twins(tiny_builder, 'probe', None)
  psnr, _ = evaluate.image_fidelity(jnp.asarray(images, jnp.float32) / 255.0,
                                    jnp.asarray(twins, jnp.float32) / 255.0)
  assert fidelity['raw_nir']['psnr'] == pytest.approx(float(np.mean(psnr)), rel=1e-5)
  assert fidelity['translation']['psnr'] != fidelity['raw_nir']['psnr']


@pytest.mark.parametrize('setting', ['base', 'vae', 'gan', 'vae_gan'])
def test_paper_scale_step_shapes_with_eval_shape(setting):
  """The whole step at the paper-scale config's shapes, traced without allocating."""
  config = null_config.get_config(setting)
  r, n, m = config.data.resolution, config.train.batch_size, config.model
  trainer = nnx.eval_shape(lambda: train.Trainer(config, rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(trainer)
  batch = {f'{d}_image': jax.ShapeDtypeStruct((n, r, r, 3), np.uint8) for d in ('nir', 'vis')}
  batch.update({f'{d}_landmarks': jax.ShapeDtypeStruct((n, 68, 2), np.float32)
                for d in ('nir', 'vis')})
  new_state, metrics = jax.eval_shape(train.make_train_step(config, graphdef), state, batch,
                                      jax.random.key(0))
  shapes = lambda tree: jax.tree.map(lambda s: (s.shape, s.dtype), tree)
  assert shapes(new_state) == shapes(state)
  use_vae, use_gan = train.SETTINGS[setting]
  assert set(metrics) == ({'g_total', 'g_recon_x', 'g_recon_c', 'g_recon_s'}
                          | ({'g_kl'} if use_vae else set())
                          | ({'g_gan', 'd_lsgan'} if use_gan else set()))
  through = lambda fn, *args: jax.eval_shape(
      lambda s, *a: fn(nnx.merge(graphdef, s).model, *a), state, *args)
  x1 = jax.ShapeDtypeStruct((n, m.resolution, m.resolution, 1), jnp.float32)
  mean, logvar = through(lambda model, x: model.nir.content(x), x1)
  assert mean.shape == (n, 256) and (logvar is not None) == use_vae
  assert through(lambda model, x: model.nir.style(x)[0], x1).shape == (n, 32)
  image = through(lambda model, c, s: model.vis.decoder(c, s), mean,
                  jax.ShapeDtypeStruct((n, 32), jnp.float32))
  assert image.shape == (n, 128, 128, 3)
