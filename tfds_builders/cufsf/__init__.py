"""CUFSF sketches and their FERET photos, from the manual download (registers `cufsf`)."""

from tfds_builders.cufsf.cufsf_dataset_builder import Builder
from tfds_builders.cufsf.cufsf_dataset_builder import CufsfConfig
