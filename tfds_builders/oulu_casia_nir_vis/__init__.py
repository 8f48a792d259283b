"""Oulu-CASIA NIR&VIS from the manually downloaded release (registers `oulu_casia_nir_vis`)."""

from tfds_builders.oulu_casia_nir_vis.oulu_casia_nir_vis_dataset_builder import Builder
from tfds_builders.oulu_casia_nir_vis.oulu_casia_nir_vis_dataset_builder import OuluConfig
