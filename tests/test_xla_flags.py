"""The Eigen-convolution XLA flag: set by any `import hfr_jax...`, before JAX reads it."""

import importlib.metadata
import os
import subprocess
import sys

from hfr_jax import xla_flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEASURED = importlib.metadata.version('jaxlib').startswith(xla_flags._MEASURED_ON)


def _python(code, xla_flags_env=None):
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  if xla_flags_env is not None:
    env['XLA_FLAGS'] = xla_flags_env
  proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def test_importing_a_model_module_sets_the_flag_before_jax_starts():
  # A notebook's first line; main.py is never imported.
  proc = _python('import os, sys\n'
                 'import hfr_jax.models.lightcnn\n'
                 'from hfr_jax import xla_flags\n'
                 'assert "hfr_jax.main" not in sys.modules\n'
                 'print(xla_flags.jax_backend_started())\n'
                 'print(os.environ.get("XLA_FLAGS", ""))\n')
  started, flags = proc.stdout.splitlines()
  assert started == 'False'          # so the backend, when it starts, reads the flag
  assert (xla_flags.EIGEN_CONVOLUTIONS in flags) == MEASURED


def test_a_users_own_ynn_setting_stays():
  mine = '--xla_cpu_experimental_ynn_fusion_type=+individual_convolution'   # YNNPACK convs
  proc = _python('import os, hfr_jax; print(os.environ["XLA_FLAGS"])', xla_flags_env=mine)
  assert proc.stdout.strip() == mine


def test_imported_after_jax_started_warns_once_naming_the_fix():
  # -W always: a second warning would print, not be folded into the first.
  late = ('import warnings; warnings.simplefilter("always")\n'
          'import jax; jax.devices()\n'
          'import hfr_jax.models.lightcnn\n'
          'from hfr_jax import xla_flags; xla_flags.prefer_eigen_convolutions()\n')
  stderr = _python(late).stderr
  assert stderr.count('RuntimeWarning') == int(MEASURED), stderr
  if MEASURED:
    assert 'imported after JAX started its backend' in stderr
    assert f'XLA_FLAGS={xla_flags.EIGEN_CONVOLUTIONS}' in stderr
  early = ('import warnings; warnings.simplefilter("always")\n'
           'import hfr_jax.models.lightcnn\n'
           'import jax; jax.devices()\n')
  assert _python(early).stderr == ''


def test_eigen_convolution_flag_is_added_once_and_never_over_a_user_choice(monkeypatch):
  monkeypatch.setattr(xla_flags.importlib.metadata, 'version', lambda name: '0.10.2')
  monkeypatch.setattr(xla_flags, 'jax_backend_started', lambda: False)   # this process's JAX
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=2')
  assert xla_flags.prefer_eigen_convolutions()
  assert os.environ['XLA_FLAGS'] == ('--xla_force_host_platform_device_count=2 '
                                     + xla_flags.EIGEN_CONVOLUTIONS)
  assert not xla_flags.prefer_eigen_convolutions()       # already there
  mine = '--xla_cpu_experimental_ynn_fusion_type=+individual_convolution'
  monkeypatch.setenv('XLA_FLAGS', mine)
  assert not xla_flags.prefer_eigen_convolutions()       # the user's own choice stays
  assert os.environ['XLA_FLAGS'] == mine
  monkeypatch.setattr(xla_flags.importlib.metadata, 'version', lambda name: '0.11.0')
  monkeypatch.setenv('XLA_FLAGS', '')
  assert not xla_flags.prefer_eigen_convolutions()       # unmeasured jaxlib: XLA might abort
  assert os.environ['XLA_FLAGS'] == ''
