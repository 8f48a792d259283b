"""hfr_jax: heterogeneous face recognition (NIR probe vs VIS gallery) via generation."""

from hfr_jax import xla_flags as _xla_flags

__version__ = '0.1.0'

# Before JAX starts its backend, whichever of our modules is imported first.
_xla_flags.prefer_eigen_convolutions()
