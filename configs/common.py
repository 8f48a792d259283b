"""What every config shares: `config.data` for the synthetic and real sets, and the variant parser.

Imports no JAX (nor hfr_jax): loading a config is cheap, and `hfr_jax.datasets`
turns its `data` into a TFDS builder only when a run starts.
"""

import dataclasses

import ml_collections

from tfds_builders.synthetic_nir_vis import presets


def parse_variant(arg: str, config_file: str, groups: dict[str, tuple[str, ...]], *,
                  single: bool = False) -> dict[str, list[str]]:
  """The parts of a config's argument by group: {group: [its parts, in order]}.

  `arg` is comma-separated parts (blanks ignored), each a name of one of
  `groups` ({'scales': ('default', 'demo'), ...}); with `single`, it is exactly
  one name of the one group. An unknown part is a ValueError naming
  `config_file` and every group's names.
  """
  parts = [arg] if single else [p for p in (p.strip() for p in arg.split(',')) if p]
  found = {group: [] for group in groups}
  for part in parts:
    group = next((g for g, names in groups.items() if part in names), None)
    if group is None:
      known = ('; '.join(f'{g}: {", ".join(names)}' for g, names in groups.items())
               if not single else ', '.join(*groups.values()))
      raise ValueError(f'{config_file}: unknown variant {part!r} ({known})')
    found[group].append(part)
  return found


def render_overrides() -> ml_collections.ConfigDict:
  """`config.data.render`: one field per `presets.RenderParams` field, None = the preset's."""
  types = {f.name: type(f.default) for f in dataclasses.fields(presets.RenderParams)}
  return ml_collections.ConfigDict(
      {name: ml_collections.config_dict.placeholder(t) for name, t in types.items()})


def synthetic_config(variant: str = 'default') -> ml_collections.ConfigDict:
  """`config.data` for synthetic_nir_vis: 'default' (paper scale), 'demo' or 'small' (CPU).

  `preset` picks the renderer's ranges (tfds_builders/synthetic_nir_vis/presets.py:
  'casia', the default, or 'hard'); any field of `render` set overrides the preset's,
  e.g. --config.data.preset=hard or --config.data.render.yaw=10.
  """
  data = ml_collections.ConfigDict()
  data.name = 'synthetic_nir_vis'
  data.config = ''             # builder config name, for datasets other than synthetic
  data.data_dir = ml_collections.config_dict.placeholder(str)   # None: TFDS default
  data.seed = 0
  data.preset = presets.DEFAULT_PRESET
  data.render = render_overrides()
  if variant == 'small':
    data.num_identities, data.resolution = 40, 64
    data.vis_per_identity, data.nir_per_identity = 3, 3
  elif variant == 'demo':      # make demo: 100 test identities at 64x64, renders in seconds
    data.num_identities, data.resolution = 200, 64
    data.vis_per_identity, data.nir_per_identity = 4, 4
  elif variant == 'default':
    data.num_identities, data.resolution = 360, 144
    data.vis_per_identity, data.nir_per_identity = 4, 6
  else:
    raise ValueError(f'unknown synthetic data variant {variant!r} (default, demo, small)')
  return data


def real_config(name: str, builder_config: str, resolution: int = 144
                ) -> ml_collections.ConfigDict:
  """`config.data` for a tfds_builders/<name> manual-download set (resolution^2 crops).

  `data_dir` (None: TFDS's default) and `manual_dir` (None: <data_dir>/downloads/manual)
  are left for the command line.
  """
  return ml_collections.ConfigDict({
      'name': name, 'config': builder_config, 'resolution': resolution,
      'data_dir': ml_collections.config_dict.placeholder(str),
      'manual_dir': ml_collections.config_dict.placeholder(str)})
