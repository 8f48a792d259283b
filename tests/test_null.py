"""NULL: each loss against numpy, the KL against its closed form and Monte Carlo, gradients
through the reparameterisation, unpaired batches without identities, 8 devices == 1 device,
SIGKILL + resume == uninterrupted, paper-scale shapes, k-means against scikit-learn, and the
translate CLI round trip."""

import json
import os
import subprocess
import sys
import textwrap

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image
import pytest

from configs import null as null_config
from hfr_jax import export
from hfr_jax import input_pipeline
from hfr_jax import training
from hfr_jax.models import null as null_models
from hfr_jax.null import kmeans
from hfr_jax.null import losses
from hfr_jax.null import train

from conftest import TINY
from trainer_runs import EIGHT_DEVICES, ROOT, check_agreement, kill_and_resume_match_uninterrupted
from trainer_runs import random_faces, run_to_end
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
  # Adam's first step moves a parameter by ~lr whatever the size of its gradient; eps = 1e-6
  # keeps float-noise gradients (summed in another order on 8 devices) from doing so.
  config.train.adam_eps = 1e-6
  return config


# ----------------------------------------------------------------------------
# Losses.


def test_reconstruction_losses_are_mean_absolute_errors():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 4, 8, 8, 3)).astype(np.float32)
  np.testing.assert_allclose(losses.image_reconstruction(a, b), np.mean(np.abs(a - b)), rtol=1e-6)
  c, d = rng.normal(size=(2, 5, 16)).astype(np.float32)
  np.testing.assert_allclose(losses.latent_reconstruction(c, d), np.mean(np.abs(c - d)),
                             rtol=1e-6)


def test_lsgan_terms_average_the_scales():
  rng = np.random.default_rng(1)
  real = [rng.normal(size=(3, s, s, 1)).astype(np.float32) for s in (6, 2)]
  fake = [rng.normal(size=(3, s, s, 1)).astype(np.float32) for s in (6, 2)]
  want_g = np.mean([np.mean((f - 1) ** 2) for f in fake])
  want_d = np.mean([np.mean((r - 1) ** 2) + np.mean(f ** 2) for r, f in zip(real, fake)])
  np.testing.assert_allclose(losses.adversarial_generator(fake), want_g, rtol=1e-6)
  np.testing.assert_allclose(losses.adversarial_critic(real, fake), want_d, rtol=1e-6)


def test_total_weighs_each_term():
  terms = {'recon_x': 2.0, 'recon_c': 3.0, 'kl': 5.0}
  weights = {'recon_x': 10.0, 'recon_c': 1.0, 'kl': 0.01, 'gan': 7.0}
  assert losses.weighted_total(terms, weights) == pytest.approx(20.0 + 3.0 + 0.05)


def test_kl_matches_the_closed_form_and_a_monte_carlo_estimate():
  rng = np.random.default_rng(2)
  mean = rng.normal(size=(3, 6))
  logvar = rng.normal(scale=0.5, size=(3, 6))
  got = float(losses.kl_standard_normal(jnp.asarray(mean, jnp.float32),
                                        jnp.asarray(logvar, jnp.float32)))
  # Closed form of two multivariate normals, KL(N(m, S) || N(0, I)) = (tr S + m'm - d - ln|S|) / 2,
  # with full covariance matrices.
  closed = []
  for m, v in zip(mean, logvar):
    cov = np.diag(np.exp(v))
    closed.append(0.5 * (np.trace(cov) + m @ m - len(m) - np.linalg.slogdet(cov)[1]))
  np.testing.assert_allclose(got, np.mean(closed), rtol=1e-5)
  # Monte Carlo: E_q[log q(z) - log p(z)], 200k samples per row.
  eps = rng.normal(size=(200_000, 1, 6))
  z = mean + np.exp(0.5 * logvar) * eps
  log_q = -0.5 * (eps ** 2 + logvar + np.log(2 * np.pi)).sum(-1)
  log_p = -0.5 * (z ** 2 + np.log(2 * np.pi)).sum(-1)
  np.testing.assert_allclose(got, np.mean(log_q - log_p), rtol=0.02)


def test_reparameterisation_passes_gradients_to_mean_and_log_variance():
  """E (mean + sigma eps)^2 = mean^2 + exp(logvar): d/dmean = 2 mean, d/dlogvar = exp(logvar)."""
  mean = jnp.array([0.5, -1.0, 2.0])
  logvar = jnp.array([0.0, -1.0, 0.7])
  samples = 100_000

  def expected_square(mean, logvar):
    m = jnp.broadcast_to(mean, (samples, 3))
    v = jnp.broadcast_to(logvar, (samples, 3))
    return jnp.mean(null_models.sample(jax.random.key(0), m, v) ** 2, axis=0).sum()

  g_mean, g_logvar = jax.grad(expected_square, argnums=(0, 1))(mean, logvar)
  assert np.all(np.abs(g_mean) > 0) and np.all(np.abs(g_logvar) > 0)
  np.testing.assert_allclose(g_mean, 2 * mean, atol=0.05)
  np.testing.assert_allclose(g_logvar, jnp.exp(logvar), rtol=0.05)
  # Without a log-variance (base settings) the code is the mean itself.
  assert null_models.sample(jax.random.key(0), mean, None) is mean


# ----------------------------------------------------------------------------
# Data and the step.


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


_DEVICES_SCRIPT = textwrap.dedent('''
    import sys
    import jax
    from flax import nnx
    sys.path.insert(0, 'tests')
    from test_null import tiny_config
    from trainer_runs import agreement, leaves, random_faces
    from hfr_jax import training
    from hfr_jax.null import train

    assert jax.device_count() == 8, jax.devices()
    config = tiny_config('/nonexistent')
    config.model.dtype = 'float64'
    batch = random_faces(8, 48)
    results = {}
    for n in (1, 8):
      trainer = train.Trainer(config, rngs=nnx.Rngs(0))
      mesh = training.make_mesh(jax.devices()[:n])
      graphdef, state = nnx.split(trainer)
      initial = leaves(nnx.to_pure_dict(state))
      state = training.replicate(state, mesh)
      step = train.make_train_step(config, graphdef)
      state, _ = step(state, training.shard_batch(batch, mesh), jax.random.key(0))
      results[n] = leaves(nnx.to_pure_dict(state))
    print(agreement(results[1], results[8], initial))
''')


def test_sharded_step_equals_single_device_step():
  """One step, the batch split over 8 devices vs on one: every parameter and Adam moment
  agrees to rtol 1e-5, atol 1e-6.

  Computed in float64: at the tiny widths instance norm over 2x2 to 4x4 maps amplifies
  float32 summation-order noise ~200x (a 1e-6 change of the input moves gradients by
  ~2e-4), which would hide the comparison; a mis-sharded gradient is off by O(1) either way.
  """
  check_agreement(run_to_end(['-c', _DEVICES_SCRIPT], {**EIGHT_DEVICES, 'JAX_ENABLE_X64': '1'}))


def test_sigkill_and_resume_reach_the_uninterrupted_parameters(tiny_builder, tmp_path):
  (tmp_path / 'tiny_null.py').write_text(textwrap.dedent(f'''
      import sys
      sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
      from test_null import tiny_config

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
  assert (tmp_path / 'whole' / 'export' / export.META).is_file()


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


# ----------------------------------------------------------------------------
# k-means and translate.


def test_kmeans_reaches_scikit_learn_inertia_on_blobs():
  from sklearn.cluster import KMeans
  from sklearn.datasets import make_blobs
  x, _ = make_blobs(n_samples=600, centers=12, n_features=16, cluster_std=2.0, random_state=0)
  x = x.astype(np.float32)
  centres, inertia = kmeans.kmeans(jax.random.key(0), x, k=12, num_iters=50)
  reference = KMeans(12, n_init=1, random_state=0).fit(x)
  assert float(inertia) == pytest.approx(reference.inertia_, rel=0.01)
  # The reported inertia is that of the returned centres.
  d = ((x[:, None] - np.asarray(centres)[None]) ** 2).sum(-1)
  assert float(inertia) == pytest.approx(d.min(1).sum(), rel=1e-4)


def test_centre_profiles_score_same_cluster_faces_highest():
  centres = np.eye(4, dtype=np.float32) * 10
  near = centres[[0, 0, 2]] + 0.1
  p = np.asarray(kmeans.centre_profile(near, centres))
  np.testing.assert_allclose(p.mean(1), 0, atol=1e-5)
  cos = (p / np.linalg.norm(p, axis=1, keepdims=True)) @ (p / np.linalg.norm(p, axis=1)[:, None]).T
  assert cos[0, 1] > 0.99 > cos[0, 2]


def test_translate_cli_reproduces_the_exported_model(tmp_path):
  # Not at the top: the tiny config files of the subprocess runs import this module, and the
  # CLIs' required flags would then bind hfr_jax.main.
  from hfr_jax import translate
  from test_hallucinate import write_pts
  kwargs = {k: v for k, v in TINY_MODEL.items() if not k.startswith('disc')}
  model = null_models.NULLModel(**kwargs, rngs=nnx.Rngs(0))
  export.save(model, str(tmp_path / 'export'), factory=translate.FACTORY, kwargs=kwargs,
              info={'input_resolution': 48})
  batch = random_faces(2, 48, seed=3)
  inputs = tmp_path / 'in'
  inputs.mkdir()
  for i in range(2):
    Image.fromarray(batch['nir_image'][i]).save(inputs / f'face{i}.png')
    write_pts(inputs / f'face{i}.pts', batch['nir_landmarks'][i])
  Image.fromarray(batch['vis_image'][0]).save(tmp_path / 'style.png')
  write_pts(tmp_path / 'style.pts', batch['vis_landmarks'][0])

  # Reference: D2(Ec1(aligned NIR), s) by hand, s the VIS face's style mean.
  x_vis = null_models.model_input(batch['vis_image'][:1].astype(np.float32),
                                  batch['vis_landmarks'][:1], resolution=16, channels=3)
  style = model.vis.style(x_vis)[0]
  x_nir = null_models.model_input(batch['nir_image'].astype(np.float32), batch['nir_landmarks'],
                                  resolution=16, channels=1)
  fake = model.vis.decoder(model.nir.content(x_nir)[0], jnp.repeat(style, 2, axis=0))
  want = np.clip(np.round((np.asarray(fake) + 1) * 127.5), 0, 255)

  env = {**os.environ, 'PYTHONPATH': ROOT}
  common = [sys.executable, '-m', 'hfr_jax.translate', f'--model_dir={tmp_path / "export"}',
            f'--input={inputs}']
  borrowed = subprocess.run(common + [f'--output={tmp_path / "out"}',
                                      f'--style_from={tmp_path / "style.png"}'],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert borrowed.returncode == 0, borrowed.stderr[-2000:]
  for i in range(2):
    got = np.asarray(Image.open(tmp_path / 'out' / f'face{i}.png'))
    assert got.shape == (16, 16, 3)
    np.testing.assert_allclose(got, want[i], atol=1)

  # Random styles: one per file, from --seed; a missing style face is one line.
  rand = subprocess.run(common + [f'--output={tmp_path / "rand"}', '--seed=5'],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert rand.returncode == 0, rand.stderr[-2000:]
  loaded, _ = translate.load_model(str(tmp_path / 'export'))
  styles = translate.random_styles(loaded, 2, 5)
  got = np.stack([np.asarray(Image.open(tmp_path / 'rand' / f'face{i}.png')) for i in range(2)])
  want = translate.translate(loaded, batch['nir_image'], batch['nir_landmarks'], styles)
  np.testing.assert_allclose(got.astype(int), want.astype(int), atol=1)   # rounding of x.5
  missing = subprocess.run(common + [f'--output={tmp_path / "x"}',
                                     f'--style_from={tmp_path / "nope.png"}'],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert missing.returncode != 0
  assert missing.stderr.strip().splitlines()[-1].startswith('error: ')
