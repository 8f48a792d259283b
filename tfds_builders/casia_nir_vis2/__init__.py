"""CASIA NIR-VIS 2.0 from the manually downloaded release (registers `casia_nir_vis2`)."""

from tfds_builders.casia_nir_vis2.casia_nir_vis2_dataset_builder import Builder
