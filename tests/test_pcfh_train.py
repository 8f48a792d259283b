"""PCFH training: 8 devices == 1 device, one compile, SIGKILL + resume == uninterrupted,
export -> hallucinate round trip; the judge comes in only after training, to score the final GA."""

import json
import os
import textwrap

from flax import nnx
import jax
import numpy as np
from PIL import Image
import pytest

from configs import pcfh as pcfh_config
from hfr_jax import datasets
from hfr_jax import evaluate
from hfr_jax import export
from hfr_jax import metrics
from hfr_jax.models import lightcnn
from hfr_jax.models import pcfh as pcfh_models
from hfr_jax.pcfh import train
from hfr_jax.recognizer import frozen
from hfr_jax.recognizer import photo_judge
from hfr_jax.recognizer import pretrained
from tfds_builders.synthetic_nir_vis import presets

from conftest import TINY
from trainer_runs import EIGHT_DEVICES, ROOT, check_agreement, kill_and_resume_match_uninterrupted
from trainer_runs import final_state, run_to_end


def tiny_config(data_dir, recognizer_dir, steps=4, checkpoint_every=2):
  """The demo config at test size; the judge is read from `judge_dir(recognizer_dir)`."""
  config = pcfh_config.get_config('demo')
  config.data.update(TINY)
  config.data.data_dir = str(data_dir)
  config.recognizer.dir = str(recognizer_dir)
  config.judge.update(enabled=True, dir=judge_dir(recognizer_dir), train_if_missing=False)
  config.photo_judge = 'off'   # dlib, where a test asks for it
  config.model.update(width=4, num_res=1, local_num_res=1, aux_width=4, aux_num_res=1,
                      attention_width=4, disc_width=4, disc_num_down=2, mi_width=4,
                      mi_resolution=16)
  # The paper's GA. With `input_residual` GA's head starts at zero, so no gradient reaches GA's
  # paths in the first step, and the step tests ask every player's parameters to move
  # (the residual GA: tests/test_pcfh_models.py, and the notebook test runs the demo with it).
  config.model.input_residual = False
  config.train.update(num_steps=steps, batch_size=8, checkpoint_every=checkpoint_every,
                      log_every=1, image_every=2, eval_every=checkpoint_every)
  config.eval.update(batch_size=8, val_identities=2)
  # Adam's first step moves each parameter by lr * g / (|g| + eps): with eps = 1e-8
  # a gradient at float-noise level (~1e-9, summed in another order on 8 devices)
  # moves it by a sizeable fraction of lr either way. eps = 1e-6 leaves updates of
  # real gradients as they are and makes the step continuous in float noise.
  config.train.adam_eps = 1e-6
  return config


def save_tiny_recognizer(directory, arch='9', seed=0):
  model = lightcnn.create(arch, num_classes=4, width=0.125, input_size=32, rngs=nnx.Rngs(seed))
  model.eval()
  pretrained.save_pretrained(model, str(directory), arch=arch, num_classes=4, width=0.125,
                             input_size=32)


def judge_dir(recognizer_dir) -> str:
  return os.path.join(os.path.dirname(str(recognizer_dir)), 'judge')


def save_tiny_judge(recognizer_dir, seed=1):
  """A tiny LightCNN-29 (F is a LightCNN-9) where tiny_config looks for the judge."""
  save_tiny_recognizer(judge_dir(recognizer_dir), arch='29', seed=seed)


_DEVICES_SCRIPT = textwrap.dedent('''
    import sys, json
    import jax, numpy as np
    from flax import nnx
    sys.path.insert(0, 'tests')
    from test_pcfh_train import tiny_config, save_tiny_recognizer
    from trainer_runs import agreement, leaves, random_faces
    from hfr_jax import sharding
    from hfr_jax.pcfh import train
    from hfr_jax.recognizer import pretrained

    assert jax.device_count() == 8, jax.devices()
    save_tiny_recognizer(sys.argv[1])
    config = tiny_config('/nonexistent', sys.argv[1])
    batch = random_faces(8, 48)
    results = {}
    for n in (1, 8):
      trainer = train.Trainer(config, pretrained.load_pretrained(sys.argv[1]), rngs=nnx.Rngs(0))
      mesh = sharding.make_mesh(jax.devices()[:n])
      graphdef, state = nnx.split(trainer)
      state = sharding.replicate(state, mesh)
      step = train.make_train_step(config, graphdef)
      state, metrics = step(state, sharding.shard_batch(batch, mesh), jax.random.key(0))
      if n == 1:
        initial = leaves(nnx.to_pure_dict(nnx.split(
            train.Trainer(config, pretrained.load_pretrained(sys.argv[1]),
                          rngs=nnx.Rngs(0)))[1]))
      results[n] = leaves(nnx.to_pure_dict(state))
      step(state, sharding.shard_batch(batch, mesh), jax.random.key(1))   # same shapes again
      compiles = step._cache_size()
      assert compiles == 1, f'{n} devices: compiled {compiles} times'
    print(agreement(results[1], results[8], initial))
''')


@pytest.mark.heavy(190)
def test_eight_devices_equal_one_device_and_compile_once(tmp_path):
  """One step, batch split over 8 devices vs on one: every parameter, optimiser moment and
  statistic agrees to rtol 1e-4, atol 1e-5. A mis-sharded gradient moves Adam's update by
  ~lr = 2e-4; float32 summation-order noise through the tiny widths' instance norms reached
  2.8e-6 for some initial draws (in float64, as tests/test_multihost.py, the test took
  240 s instead of 140 s)."""
  check_agreement(run_to_end(['-c', _DEVICES_SCRIPT, str(tmp_path / 'rec')], EIGHT_DEVICES),
                  tolerance=10.0)


def run_config(data_dir, recognizer_dir):
  """The config of the finished run and of the killed one: 6 steps, a checkpoint every 2,
  GA's average kept, tested across datasets (trained on seed 3, tested on seed 4's
  identities), the photo judge where dlib is installed."""
  config = tiny_config(data_dir, recognizer_dir, steps=6, checkpoint_every=2)
  config.eval_data = config.data.copy_and_resolve_references()
  config.eval_data.seed = 4
  config.train.ema_decay = 0.5   # GA's average is part of what resumes
  config.photo_judge = 'auto' if photo_judge.available() else 'off'
  return config


# Session scope: the SIGKILL test compares its resumed run with this one, and the judges'
# test reads when they came in; one run serves both.
@pytest.fixture(scope='session')
def finished_run(tiny_builder, tmp_path_factory):
  """`run_config` trained and evaluated to the end in this process, as hfr_jax.main runs it,
  recording when F, the judge and the photo judge are loaded or called: at each, the
  checkpoints on disk, whether the export is, and the pretrained directories loaded so far."""
  tmp = tmp_path_factory.mktemp('pcfh_run')
  rec, workdir = tmp / 'rec', tmp / 'whole'
  save_tiny_recognizer(rec)
  save_tiny_judge(rec)
  config = run_config(tiny_builder.data_dir_root, rec)
  loaded, at_judge, at_photo = [], [], []
  load, load_judge = pretrained.load_pretrained, frozen.load_judge
  describe = photo_judge.descriptors

  def when(*_):
    return (sorted(os.listdir(workdir / 'checkpoints')), os.path.isdir(workdir / 'export'),
            list(loaded))
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(pretrained, 'load_pretrained', lambda d: loaded.append(str(d)) or load(d))
    mp.setattr(frozen, 'load_judge', lambda *a: at_judge.append(when()) or load_judge(*a))
    mp.setattr(photo_judge, 'descriptors', lambda *a: at_photo.append(when()[:2]) or describe(*a))
    payload = train.train_and_evaluate(config, str(workdir))
  return dict(config=config, rec=rec, workdir=workdir, payload=payload, loaded=loaded,
              at_judge=at_judge, at_photo=at_photo)


@pytest.mark.heavy(140)
def test_sigkill_and_resume_reach_the_uninterrupted_parameters(finished_run, tiny_builder,
                                                               tmp_path):
  rec = finished_run['rec']
  # A config file of our own: config_flags loads any path.
  (tmp_path / 'tiny_pcfh.py').write_text(textwrap.dedent(f'''
      import sys
      sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
      from test_pcfh_train import run_config

      def get_config():
        return run_config({str(tiny_builder.data_dir_root)!r}, {str(rec)!r})
  '''))
  kill_and_resume_match_uninterrupted([f'--config={tmp_path / "tiny_pcfh.py"}'], tmp_path,
                                      name='PCFH', steps=6, whole=finished_run['workdir'])

  # The finished run reported and exported.
  whole = finished_run['workdir']
  results = json.loads((whole / 'results.json').read_text())
  for key in ('raw_nir', 'pcfh', 'fused'):
    assert set(results[key]) >= {'rank1', 'vr_at_far_1e-2', 'vr_at_far_1e-3'}
  # Four probes, each row NIR | warped VIS | Att | GA(NIR) | gallery | twin, faces >= 128 px.
  samples = np.asarray(Image.open(whole / 'samples.png'))
  face = TINY['resolution'] * -(-128 // TINY['resolution'])
  assert samples.shape[:2] == (4 * face, 6 * face)
  assert set(results['fidelity']) == {'raw_nir', 'pcfh'}
  assert results['dataset']['config'].startswith(f'casia_{presets.CASIA.digest()}_seed4_')
  assert results['num_probe'] == TINY['num_identities'] // 2 * TINY['nir_per_identity']
  # The judge scored the same methods; F's figures stay at the top level.
  judge = results['judge']
  assert set(judge) == {'raw_nir', 'pcfh', 'fused', 'vis_twin', 'vis_to_vis', 'gap_closed',
                        'recognizer'}
  assert judge['recognizer'] == {'arch': '29', 'seed': None, 'data_seed': None,
                                 'dir': judge_dir(rec)}
  assert judge['vis_to_vis'] != results['vis_to_vis']
  # Checkpoints hold the players (and GA's average) only: neither F nor the judge.
  _, state = final_state(whole)
  assert set(state) == set(train.PLAYERS) | {'ga_ema'}


@pytest.mark.heavy(140)
def test_the_judges_come_in_after_training_and_score_the_exported_ga(finished_run):
  config, rec, workdir = finished_run['config'], finished_run['rec'], finished_run['workdir']
  payload = finished_run['payload']
  # Training was over when the judge came in: the last checkpoint and the export were on
  # disk, and only F had been loaded.
  checkpoints = sorted(os.listdir(workdir / 'checkpoints'))
  assert '6' in checkpoints
  assert finished_run['at_judge'] == [(checkpoints, True, [str(rec)])]
  assert finished_run['loaded'] == [str(rec), judge_dir(rec)]
  # The judges' figures are those of the exported (final) GA, computed afresh on the test set.
  ga, _ = export.load(workdir / 'export')
  judges = {'judge': pretrained.load_pretrained(judge_dir(rec))}
  if config.photo_judge == 'auto':
    assert finished_run['at_photo'] and all(c == (checkpoints, True)
                                            for c in finished_run['at_photo'])
    judges['photo_judge'] = photo_judge.descriptors
  test_set = datasets.prepare(config.eval_data)
  direct = evaluate.generation_curves(pcfh_models.NIRToVIS(ga), judges, test_set, name='pcfh')
  for key, curves in direct.curves.items():
    for name, c in curves.items():
      assert payload[key][name] == pytest.approx(metrics.summary(*c), abs=1e-6), (key, name)
    for name, twin in direct.twin[key].items():
      assert payload['twin_fidelity'][key][name] == pytest.approx(twin), (key, name)
  # Fused at the weight F did best with on the held-out identities, beside the paper's mean.
  validated = payload['fused_validated']
  weight = validated['weight']
  assert validated['validation_rank1'][weight] == max(validated['validation_rank1'].values())
  for key, curves in direct.curves.items():
    assert validated[key]['rank1'] == pytest.approx(
        metrics.rank_k_accuracy(*evaluate.fused(curves, 'pcfh', weight)), abs=1e-6)
  assert payload['judge']['recognizer']['arch'] == '29'


def test_a_variant_is_one_scale_and_any_ablations():
  config = pcfh_config.get_config('cpu,no_awm')
  assert (config.use_awm, config.use_mic) == (False, True)
  cpu = pcfh_config.get_config('cpu')
  assert cpu.use_awm and config.data == cpu.data and config.model == cpu.model
  both = pcfh_config.get_config('no_mic,no_awm')
  assert (both.use_awm, both.use_mic) == (False, False)
  assert both.data == pcfh_config.get_config('default').data
  with pytest.raises(ValueError, match="unknown variant 'cpux'"):
    pcfh_config.get_config('cpu,cpux')


@pytest.mark.parametrize('variant', pcfh_config.SCALES + ('cpu,no_awm',))
def test_every_variant_judges_with_another_arch_seed_and_identities_than_f(variant):
  config = pcfh_config.get_config(variant)
  f, judge = config.recognizer.recipe, config.judge.recipe
  assert judge.model.arch != f.model.arch
  assert judge.seed != f.seed
  if config.judge.train_if_missing:
    assert frozen.judge_data(config).seed != config.data.seed
  else:   # given, not trained: a directory of its own
    assert config.judge.dir and config.judge.dir != config.recognizer.dir


@pytest.mark.heavy(30)
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
