"""PCFH training: 8 devices == 1 device, one compile, SIGKILL + resume == uninterrupted,
export -> hallucinate round trip."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from flax import nnx
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import pcfh as pcfh_config
from hfr_jax.models import lightcnn
from hfr_jax.pcfh import train

from conftest import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_config(data_dir, recognizer_dir, steps=4, checkpoint_every=2):
  config = pcfh_config.get_config('demo')
  config.data.update(TINY)
  config.data.data_dir = str(data_dir)
  config.recognizer.dir = str(recognizer_dir)
  config.model.update(width=4, num_res=1, local_num_res=1, aux_width=4, aux_num_res=1,
                      attention_width=4, disc_width=4, disc_num_down=2, mi_width=4,
                      mi_resolution=16)
  config.train.update(num_steps=steps, batch_size=8, checkpoint_every=checkpoint_every,
                      log_every=1, image_every=2, eval_every=checkpoint_every)
  config.eval.update(batch_size=8, val_identities=2)
  # Adam's first step moves each parameter by lr * g / (|g| + eps): with eps = 1e-8
  # a gradient at float-noise level (~1e-9, summed in another order on 8 devices)
  # moves it by a sizeable fraction of lr either way. eps = 1e-6 leaves updates of
  # real gradients as they are and makes the step continuous in float noise.
  config.train.adam_eps = 1e-6
  return config


def save_tiny_recognizer(directory):
  model = lightcnn.create('9', num_classes=4, width=0.125, input_size=32, rngs=nnx.Rngs(0))
  model.eval()
  lightcnn.save_pretrained(model, str(directory), arch='9', num_classes=4, width=0.125,
                           input_size=32)


def run(args, env_extra=None, **kw):
  env = {**os.environ, 'PYTHONPATH': ROOT, **(env_extra or {})}
  return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


_DEVICES_SCRIPT = textwrap.dedent('''
    import sys, json
    import jax, numpy as np
    from flax import nnx
    sys.path.insert(0, 'tests')
    from test_pcfh_train import tiny_config, save_tiny_recognizer
    from hfr_jax import training
    from hfr_jax.models import lightcnn
    from hfr_jax.pcfh import train
    from hfr_jax.ops import align

    assert jax.device_count() == 8, jax.devices()
    def to_np(x):
      if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
      return np.asarray(x)
    save_tiny_recognizer(sys.argv[1])
    config = tiny_config('/nonexistent', sys.argv[1])
    rng = np.random.default_rng(0)
    lm = np.asarray(align.mean_face(48))
    batch = {'nir_image': rng.integers(0, 256, (8, 48, 48, 3), dtype=np.uint8),
             'vis_image': rng.integers(0, 256, (8, 48, 48, 3), dtype=np.uint8),
             'nir_landmarks': (lm + rng.normal(0, 1, (8, 68, 2))).astype(np.float32),
             'vis_landmarks': (lm + rng.normal(0, 1, (8, 68, 2))).astype(np.float32)}
    results = {}
    for n in (1, 8):
      trainer = train.Trainer(config, lightcnn.load_pretrained(sys.argv[1]), rngs=nnx.Rngs(0))
      mesh = training.make_mesh(jax.devices()[:n])
      graphdef, state = nnx.split(trainer)
      state = training.replicate(state, mesh)
      step = train.make_train_step(config, graphdef)
      state, metrics = step(state, training.shard_batch(batch, mesh), jax.random.key(0))
      if n == 1:
        initial = jax.tree.leaves(jax.tree.map(to_np, nnx.to_pure_dict(nnx.split(
            train.Trainer(config, lightcnn.load_pretrained(sys.argv[1]),
                          rngs=nnx.Rngs(0)))[1])))
      results[n] = jax.tree.map(to_np, nnx.to_pure_dict(state))
      step(state, training.shard_batch(batch, mesh), jax.random.key(1))   # same shapes again
      compiles = step._cache_size()
      assert compiles == 1, f'{n} devices: compiled {compiles} times'
    a = jax.tree.leaves(results[1]); b = jax.tree.leaves(results[8])
    # np.testing.assert_allclose(rtol=1e-5, atol=1e-6) as a ratio: <= 1 passes.
    worst = max(float(np.max(np.abs(x - y) / (1e-6 + 1e-5 * np.abs(x)))) if x.size else 0.0
                for x, y in zip(a, b) if x.dtype.kind == 'f')
    changed = sum(int(np.any(x != y)) for x, y in zip(a, initial))
    print(json.dumps({'leaves': len(a), 'worst': worst, 'changed': changed}))
''')


def test_eight_devices_equal_one_device_and_compile_once(tmp_path):
  proc = run(['-c', _DEVICES_SCRIPT, str(tmp_path / 'rec')],
             {'XLA_FLAGS': '--xla_force_host_platform_device_count=8'})
  out, _ = proc.communicate(timeout=900)
  assert proc.returncode == 0, out[-3000:]
  result = json.loads(out.strip().splitlines()[-1])
  assert result['changed'] > result['leaves'] // 2, 'the step left most parameters unchanged'
  # One step, batch split over 8 devices vs on one: every parameter, optimiser
  # moment and statistic agrees to rtol 1e-5, atol 1e-6 (a mis-sharded gradient
  # moves Adam's update by ~lr = 2e-4).
  assert result['worst'] <= 1.0, result


def _final_params(workdir):
  with ocp.CheckpointManager(os.path.join(workdir, 'checkpoints')) as manager:
    step = manager.latest_step()
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  return step, restored['state']


def _main_args(config_flags, workdir):
  return ['-m', 'hfr_jax.main', *config_flags, f'--workdir={workdir}']


def test_sigkill_and_resume_reach_the_uninterrupted_parameters(tiny_builder, tmp_path):
  save_tiny_recognizer(tmp_path / 'rec')
  # A config file of our own: config_flags loads any path.
  (tmp_path / 'tiny_pcfh.py').write_text(textwrap.dedent(f'''
      import sys
      sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
      from test_pcfh_train import tiny_config

      def get_config():
        config = tiny_config({str(tiny_builder.data_dir_root)!r}, {str(tmp_path / 'rec')!r},
                             steps=6, checkpoint_every=2)
        # Cross-dataset evaluation: trained on seed 3, tested on seed 4's identities.
        config.eval_data = config.data.copy_and_resolve_references()
        config.eval_data.seed = 4
        return config
  '''))
  overrides = [f'--config={tmp_path / "tiny_pcfh.py"}']
  cache = {'JAX_COMPILATION_CACHE_DIR': str(tmp_path / 'jax_cache'),
           'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0'}

  whole = run(_main_args(overrides, tmp_path / 'whole'), cache)
  out, _ = whole.communicate(timeout=900)
  assert whole.returncode == 0, out[-3000:]

  killed = run(_main_args(overrides, tmp_path / 'killed'), cache)
  ckpt_dir = tmp_path / 'killed' / 'checkpoints'
  deadline = time.time() + 600
  while time.time() < deadline and not (ckpt_dir / '2').is_dir():
    time.sleep(0.2)
  assert (ckpt_dir / '2').is_dir(), 'no checkpoint at step 2 before the deadline'
  killed.send_signal(signal.SIGKILL)
  killed.communicate()
  assert killed.returncode == -signal.SIGKILL

  resumed = run(_main_args(overrides, tmp_path / 'killed'), cache)
  out, _ = resumed.communicate(timeout=900)
  assert resumed.returncode == 0, out[-3000:]
  assert 'PCFH: resuming from the checkpoint at step 2' in out

  step_a, a = _final_params(tmp_path / 'whole')
  step_b, b = _final_params(tmp_path / 'killed')
  assert step_a == step_b == 6
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), a, b)

  # The finished run reported and exported.
  results = json.loads((tmp_path / 'whole' / 'results.json').read_text())
  for key in ('raw_nir', 'pcfh', 'fused'):
    assert set(results[key]) >= {'rank1', 'vr_at_far_1e-2', 'vr_at_far_1e-3'}
  assert (tmp_path / 'whole' / 'samples.png').is_file()
  assert results['dataset']['config'].startswith('seed4_')
  assert results['num_probe'] == TINY['num_identities'] // 2 * TINY['nir_per_identity']


@pytest.mark.parametrize('variant', ['default', 'hires', 'no_awm', 'no_mic'])
def test_paper_scale_step_shapes_with_eval_shape(variant):
  """The whole train step at the config's shapes, traced without allocating."""
  config = pcfh_config.get_config(variant)
  r, n = config.data.resolution, config.train.batch_size

  def build():
    recognizer = lightcnn.create('29v2', num_classes=80013, rngs=nnx.Rngs(0))
    return nnx.split(train.Trainer(config, recognizer, rngs=nnx.Rngs(0)))[1]

  trainer_shapes = nnx.eval_shape(lambda: train.Trainer(
      config, lightcnn.create('29v2', num_classes=80013, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0)))
  graphdef, _ = nnx.split(trainer_shapes)
  state = jax.eval_shape(build)
  batch = {'nir_image': jax.ShapeDtypeStruct((n, r, r, 3), np.uint8),
           'vis_image': jax.ShapeDtypeStruct((n, r, r, 3), np.uint8),
           'nir_landmarks': jax.ShapeDtypeStruct((n, 68, 2), np.float32),
           'vis_landmarks': jax.ShapeDtypeStruct((n, 68, 2), np.float32)}
  new_state, metrics = jax.eval_shape(train.make_train_step(config, graphdef), state, batch,
                                      jax.random.key(0))
  assert jax.tree.map(lambda s: (s.shape, s.dtype), new_state) == \
      jax.tree.map(lambda s: (s.shape, s.dtype), state)
  expected = {'g_total', 'd_hinge', 'g_ad', 'g_rec', 'g_id', 'g_y'}
  expected |= {'g_att', 'g_awm'} if variant != 'no_awm' else set()
  expected |= {'g_mic', 'mi_fake_vis', 'mi_fake_nir'} if variant != 'no_mic' else set()
  assert set(metrics) == expected
  ga = trainer_shapes.generators.ga
  assert ga.resolution == r and dict(ga.patch_sizes)['mouth'] == {144: (28, 52),
                                                                  256: (36, 72)}[r]
