"""synthetic_nir_vis: procedurally rendered NIR/VIS face pairs, built locally.

Writes `array_record` files and PNG bytes made with Pillow, so building and
reading need no TensorFlow.
"""

import concurrent.futures
import functools
import io
import multiprocessing
import os

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

from hfr_jax.ops import mean_shape
from tfds_builders.synthetic_nir_vis import presets
from tfds_builders.synthetic_nir_vis import render

MODALITIES = ('nir', 'vis')


class SyntheticNirVisConfig(tfds.core.BuilderConfig):
  """A set of identities drawn from `seed` under a renderer preset; the name encodes both.

  The name starts with the preset and 8 hex digits of every render parameter
  (`presets.RenderParams.digest`), so a set rendered under other parameters is never
  mistaken for this one.
  """

  def __init__(self, *, seed: int, num_identities: int, resolution: int,
               vis_per_identity: int, nir_per_identity: int,
               test_fraction: float = 0.5, num_workers: int | None = None,
               preset: str = presets.DEFAULT_PRESET, render_params: dict | None = None):
    if num_identities < 2:
      raise ValueError(f'num_identities must be >= 2, got {num_identities}')
    if resolution < 32:
      raise ValueError(f'resolution must be >= 32, got {resolution}')
    if vis_per_identity < 2 or nir_per_identity < 1:
      raise ValueError('need >= 2 VIS (gallery + test_vis) and >= 1 NIR image '
                       f'per identity, got vis={vis_per_identity}, nir={nir_per_identity}')
    if not 0 < test_fraction < 1:
      raise ValueError(f'test_fraction must be in (0, 1), got {test_fraction}')
    params = presets.resolve(preset, render_params)
    name = (f'{preset}_{params.digest()}_seed{seed}_ids{num_identities}_res{resolution}'
            f'_vis{vis_per_identity}_nir{nir_per_identity}_test{round(test_fraction * 100)}')
    super().__init__(name=name, description=(
        f'{num_identities} identities from seed {seed}, {resolution}x{resolution}, '
        f'{vis_per_identity} VIS + {nir_per_identity} NIR images each, rendered under '
        f'the {preset!r} preset (parameters {params.digest()}).'))
    self.preset = preset
    self.params = params
    self.seed = seed
    self.num_identities = num_identities
    self.resolution = resolution
    self.vis_per_identity = vis_per_identity
    self.nir_per_identity = nir_per_identity
    self.test_fraction = test_fraction
    self.num_workers = num_workers

  @property
  def num_train_identities(self) -> int:
    return self.num_identities - max(1, round(self.num_identities * self.test_fraction))


def make_config(seed: int = 0, num_identities: int = 360, resolution: int = 144,
                vis_per_identity: int = 4, nir_per_identity: int = 6,
                test_fraction: float = 0.5, num_workers: int | None = None,
                preset: str = presets.DEFAULT_PRESET, render_params: dict | None = None):
  """Config for `tfds.builder('synthetic_nir_vis', config=make_config(...))`.

  Returns the registered instance when one has the same name: TFDS refuses an
  equal-named custom config object.
  """
  config = SyntheticNirVisConfig(
      seed=seed, num_identities=num_identities, resolution=resolution,
      vis_per_identity=vis_per_identity, nir_per_identity=nir_per_identity,
      test_fraction=test_fraction, num_workers=num_workers, preset=preset,
      render_params=render_params)
  registered = _REGISTERED.get(config.name)
  if registered is None:
    return config
  registered.num_workers = num_workers
  return registered


_REGISTERED: dict[str, SyntheticNirVisConfig] = {}


# Seed slot of the VIS twin's camera, after NIR (1) and VIS (2).
_TWIN_CAMERA = 3


def _png(image: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format='PNG')
  return buf.getvalue()


@functools.lru_cache(maxsize=64)
def _person(seed: int, identity: int, params) -> render.Identity:
  """Identity `identity` of `seed`, drawn once per process: jobs come identity by identity."""
  return render.sample_identity(np.random.default_rng([seed, identity]), params)


def _render_example(args):
  """Renders one image from its own seed; top level so workers can pickle it.

  With `twin`, also its VIS twin: the same scene photographed in VIS by a
  camera drawing from its own seed, so the image itself is what it would be
  without a twin.
  """
  seed, identity, modality, index, resolution, twin, params = args
  person = _person(seed, identity, params)
  rng = np.random.default_rng([seed, identity, MODALITIES.index(modality) + 1, index])
  scene = render.sample_scene(person, rng, modality, resolution)
  image, landmarks = render.render_scene(person, scene, modality, rng)
  vis_twin = None
  if twin:
    camera = np.random.default_rng([seed, identity, _TWIN_CAMERA, index])
    vis_twin = _png(render.render_scene(person, scene, render.VIS, camera)[0])
  return f'{identity:05d}_{modality}_{index:02d}', {
      'image': _png(image),
      'landmarks': landmarks,
      'identity': identity,
      'modality': modality,
      'image_id': f'{identity:05d}_{modality}_{index:02d}',
      'vis_twin': vis_twin,
  }


class Builder(tfds.core.GeneratorBasedBuilder):
  """Synthetic heterogeneous (NIR probe / VIS gallery) face dataset."""

  VERSION = tfds.core.Version('1.2.0')
  RELEASE_NOTES = {
      '1.0.0': 'Initial release.',
      '1.1.0': '`vis_twin`: each probe (NIR) image rendered again in VIS, same scene. '
               'Every other byte as in 1.0.0.',
      '1.2.0': 'Renderer presets: `casia` (the default, a CASIA NIR-VIS 2.0-like capture) '
               'and `hard` (1.1.0 byte for byte); config names start with the preset and a '
               'digest of its parameters.',
  }
  BUILDER_CONFIGS = [
      make_config(),                                                     # paper scale
      make_config(num_identities=40, resolution=64, vis_per_identity=3,  # tests, CPU demos
                  nir_per_identity=3),
  ]
  DEFAULT_CONFIG_NAME = BUILDER_CONFIGS[0].name
  _REGISTERED.update((c.name, c) for c in BUILDER_CONFIGS)
  _pool = None   # the render workers while download_and_prepare runs

  def __init__(self, *, file_format=None, **kwargs):
    # TFRecord (TFDS's default) needs TensorFlow to finalise a split.
    super().__init__(file_format=file_format or 'array_record', **kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    r = self.builder_config.resolution
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(r, r, 3), encoding_format='png'),
            'landmarks': tfds.features.Tensor(shape=(68, 2), dtype=np.float32),
            'identity': tfds.features.Scalar(dtype=np.int64),
            'modality': tfds.features.ClassLabel(names=list(MODALITIES)),
            'image_id': tfds.features.Text(),
            # PNG bytes, or None: TFDS images cannot be missing, and only probes have twins.
            'vis_twin': tfds.features.Tensor(
                shape=(), dtype=np.object_, optional=True,
                doc='VIS twin of a probe image (same scene, VIS spectrum and camera), PNG'),
        }),
        supervised_keys=None,
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Rendered, nothing to download.
    cfg = self.builder_config
    train_ids = range(cfg.num_train_identities)
    test_ids = range(cfg.num_train_identities, cfg.num_identities)
    vis, nir = cfg.vis_per_identity, cfg.nir_per_identity
    # (identity, modality, index, with its VIS twin): only the test NIR images have twins.
    jobs = lambda ids, modality, images, twin=False: [
        (i, modality, k, twin) for i in ids for k in images]
    return {
        'train': self._generate_examples(
            jobs(train_ids, 'nir', range(nir)) + jobs(train_ids, 'vis', range(vis))),
        'gallery': self._generate_examples(jobs(test_ids, 'vis', range(1))),
        'probe': self._generate_examples(jobs(test_ids, 'nir', range(nir), twin=True)),
        'test_vis': self._generate_examples(jobs(test_ids, 'vis', range(1, vis))),
    }

  def _render_workers(self) -> int:
    cfg = self.builder_config
    if cfg.num_workers:
      return cfg.num_workers
    # A spawned worker takes ~1.5 s to start; rendering costs ~2.5 us a pixel. Sets that
    # render in a few seconds (the tests' and `small`) stay in this process.
    test_nir = (cfg.num_identities - cfg.num_train_identities) * cfg.nir_per_identity
    images = cfg.num_identities * (cfg.vis_per_identity + cfg.nir_per_identity) + test_nir
    return 1 if images * cfg.resolution**2 < 2_000_000 else os.cpu_count() or 1

  def _download_and_prepare(self, dl_manager, download_config=None):
    workers = self._render_workers()
    if workers == 1:
      return super()._download_and_prepare(dl_manager, download_config)
    # Spawned, not forked: the caller has usually started JAX, and a fork copies its threads
    # mid-flight (a deadlock risk). One pool for all splits, as each worker is slow to start.
    # Each image comes from its own seed, so no byte depends on which process drew it.
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context('spawn')) as self._pool:
      try:
        return super()._download_and_prepare(dl_manager, download_config)
      finally:
        self._pool = None

  def _generate_examples(self, jobs):
    cfg = self.builder_config
    args = [(cfg.seed, i, m, k, cfg.resolution, twin, cfg.params) for i, m, k, twin in jobs]
    if self._pool is None:
      yield from map(_render_example, args)
    else:
      yield from self._pool.map(_render_example, args, chunksize=16)


# Re-exported for the input pipeline (flip augmentation).
FLIP_PERMUTATION = mean_shape.FLIP_PERMUTATION
