"""XLA flags set before JAX creates its backends.

jaxlib 0.10 hands CPU convolutions to YNNPACK by default. On the 2-core
machines this project is developed on, XLA's own (Eigen) convolutions are
faster for every conv net here, most of all for weight gradients:
bench/lightcnn.py measured the LightCNN train step 0.7x -> 1.35x of torch,
bench/pcfh_step.py the PCFH step 18.9 s -> 9.6 s. Only the CPU backend reads
the flag. XLA aborts on flags it does not know, so it is only added for the
jaxlib versions it was measured on, and never over a user's own choice.
`import hfr_jax` sets it, so a notebook that imports any of our modules gets
it too. XLA reads XLA_FLAGS once, when JAX starts its backend: imported after
that, the flag only reaches processes started later, and it warns. To keep YNNPACK's
convolutions, set XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=+individual_convolution
before Python starts (`=default` is not a value XLA accepts).
"""

import importlib.metadata
import os
import sys
import warnings

EIGEN_CONVOLUTIONS = '--xla_cpu_experimental_ynn_fusion_type=-individual_convolution'
_MEASURED_ON = ('0.10.',)
# Set (to anything) to keep XLA's default CPU convolutions, e.g. to benchmark them.
OPT_OUT = 'HFR_JAX_DEFAULT_CONVS'


def prefer_eigen_convolutions() -> bool:
  """Adds EIGEN_CONVOLUTIONS to XLA_FLAGS; call before the first JAX computation."""
  try:
    version = importlib.metadata.version('jaxlib')
  except importlib.metadata.PackageNotFoundError:
    return False
  flags = os.environ.get('XLA_FLAGS', '')
  if (not version.startswith(_MEASURED_ON) or 'ynn_fusion_type' in flags
      or os.environ.get(OPT_OUT)):
    return False
  os.environ['XLA_FLAGS'] = f'{flags} {EIGEN_CONVOLUTIONS}'.strip()
  if jax_backend_started():
    # A warning, not a log record: a notebook shows it, and nothing else would tell that
    # every convolution in this kernel takes the slow path.
    warnings.warn(
        'hfr_jax was imported after JAX started its backend, which has read XLA_FLAGS: '
        'convolutions in this process keep YNNPACK, slower on CPU. Import hfr_jax before '
        f'running anything in JAX, or start Python with XLA_FLAGS={EIGEN_CONVOLUTIONS}',
        RuntimeWarning, stacklevel=2)
  return True


def jax_backend_started() -> bool:
  """True once JAX has created its backends (and so has read XLA_FLAGS)."""
  # Not imported here: while nobody has imported JAX, its backend cannot have started.
  xla_bridge = sys.modules.get('jax._src.xla_bridge')
  started = getattr(xla_bridge, 'backends_are_initialized', None)
  return bool(started and started())
