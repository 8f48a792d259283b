"""The embedded synthetic NIR-VIS dataset (registers `synthetic_nir_vis` with TFDS)."""

from tfds_builders.synthetic_nir_vis.synthetic_nir_vis_dataset_builder import Builder
from tfds_builders.synthetic_nir_vis.synthetic_nir_vis_dataset_builder import make_config
from tfds_builders.synthetic_nir_vis.synthetic_nir_vis_dataset_builder import SyntheticNirVisConfig
