"""What the trainers' end-to-end tests share: subprocess runs from the repository root, a
SIGKILL once a checkpoint is on disk, the checkpoint a run ends with, random face batches,
and how far two trainer states (1 device vs 8) are apart."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EIGHT_DEVICES = {'XLA_FLAGS': '--xla_force_host_platform_device_count=8'}


def run(args, env_extra=None, **kw) -> subprocess.Popen:
  """`python *args` from the repository root, stdout and stderr merged."""
  env = {**os.environ, 'PYTHONPATH': ROOT, **(env_extra or {})}
  return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, **kw)


def run_to_end(args, env_extra=None, timeout: int = 900) -> str:
  """Runs to completion, asserting success; returns the output."""
  proc = run(args, env_extra)
  out, _ = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, out[-3000:]
  return out


def main_args(config_flags, workdir) -> list:
  return ['-m', 'hfr_jax.main', *config_flags, f'--workdir={workdir}']


def kill_after_checkpoint(args, workdir, step: int, env_extra=None, timeout: int = 600):
  """Starts `args` and SIGKILLs it as soon as WORKDIR/checkpoints/<step> exists."""
  proc = run(args, env_extra)
  ckpt_dir = os.path.join(workdir, 'checkpoints', str(step))
  deadline = time.time() + timeout
  while time.time() < deadline and not os.path.isdir(ckpt_dir):
    time.sleep(0.2)
  assert os.path.isdir(ckpt_dir), f'no checkpoint at step {step} before the deadline'
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  assert proc.returncode == -signal.SIGKILL


def kill_and_resume_match_uninterrupted(config_flags, tmp_path, *, name: str, steps: int,
                                        kill_at: int = 2, whole=None):
  """hfr_jax.main with `config_flags` in TMP/whole to the end (or `whole`, a workdir where
  the same config already ran to the end); in TMP/killed SIGKILLed once checkpoint `kill_at`
  exists, then resumed to the end. Asserts the resumed run said so and that both end at
  step `steps` with the same checkpoint (rtol 1e-5, atol 1e-6)."""
  if whole is None:
    whole = tmp_path / 'whole'
    run_to_end(main_args(config_flags, whole))
  kill_after_checkpoint(main_args(config_flags, tmp_path / 'killed'), tmp_path / 'killed',
                        kill_at)
  out = run_to_end(main_args(config_flags, tmp_path / 'killed'))
  assert f'{name}: resuming from the checkpoint at step {kill_at}' in out
  step_a, a = final_state(whole)
  step_b, b = final_state(tmp_path / 'killed')
  assert step_a == step_b == steps
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6), a, b)


def final_state(workdir):
  """(step, state) of the newest checkpoint in WORKDIR/checkpoints."""
  with ocp.CheckpointManager(os.path.join(workdir, 'checkpoints')) as manager:
    step = manager.latest_step()
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  return step, restored['state']


def random_faces(n: int, size: int, seed: int = 0) -> dict:
  """A host batch of random uint8 NIR and VIS faces with landmarks near the mean face."""
  from hfr_jax.ops import align
  rng = np.random.default_rng(seed)
  mean_face = np.asarray(align.mean_face(size))
  batch = {f'{d}_image': rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
           for d in ('nir', 'vis')}
  batch.update({f'{d}_landmarks': (mean_face + rng.normal(0, 1, (n, 68, 2))).astype(np.float32)
                for d in ('nir', 'vis')})
  return batch


def leaves(state) -> list:
  """Leaves of a pure-dict state as numpy arrays (key data for PRNG keys)."""
  def to_np(x):
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    return np.asarray(x)
  return jax.tree.leaves(jax.tree.map(to_np, state))


def agreement(one, eight, initial) -> str:
  """JSON line for a device script: leaf count, the worst float difference between `one` and
  `eight` as a ratio to assert_allclose(rtol=1e-5, atol=1e-6) (<= 1 passes), and how many
  leaves the step changed from `initial`."""
  worst = max(float(np.max(np.abs(x - y) / (1e-6 + 1e-5 * np.abs(x)))) if x.size else 0.0
              for x, y in zip(one, eight) if x.dtype.kind == 'f')
  changed = sum(int(np.any(x != y)) for x, y in zip(one, initial))
  return json.dumps({'leaves': len(one), 'worst': worst, 'changed': changed})


def check_agreement(out: str, tolerance: float = 1.0):
  """Asserts a device script's last line: most leaves changed, all within `tolerance` times
  (rtol=1e-5, atol=1e-6)."""
  result = json.loads(out.strip().splitlines()[-1])
  assert result['changed'] > result['leaves'] // 2, 'the step left most parameters unchanged'
  assert result['worst'] <= tolerance, result
