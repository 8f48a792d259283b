"""BUAA-VisNir from the manually downloaded release (registers `buaa_visnir`)."""

from tfds_builders.buaa_visnir.buaa_visnir_dataset_builder import BuaaConfig
from tfds_builders.buaa_visnir.buaa_visnir_dataset_builder import Builder
