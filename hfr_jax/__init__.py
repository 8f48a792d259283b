"""hfr_jax: heterogeneous face recognition (NIR probe vs VIS gallery) via generation."""

__version__ = '0.1.0'
