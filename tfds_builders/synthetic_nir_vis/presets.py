"""What sets the synthetic set's difficulty: the renderer's ranges, named, in two presets.

Pure Python (no numpy, no JAX), so configs can list the fields without importing either.

- `hard`: the set as first built (TFDS 1.1.0), byte for byte for a given seed: wide pose and
  expression, side light and cluttered coloured backdrops in VIS, and a NIR spectrum that keeps
  little of a person's VIS cues (tone squeezed below the lamp's gain spread, no skin texture of
  one's own, freckles gone, moles at a third).
- `casia`: a capture like CASIA NIR-VIS 2.0 (Li et al. 2013): near-frontal, neutral-ish, indoor;
  NIR in a booth lit by an on-axis lamp, VIS under room light against a plain wall. Identity is
  carried by what survives 800-900 nm: geometry and relief (so shading carries identity), a
  skin texture drawn once per person in face coordinates (pores, creases; pigment blotches fade
  in NIR), moles, brows, hair and beard; skin tone compressed but monotone in NIR. What makes it
  cross-spectral stays: no colour in NIR, tone compression, lamp fall-off and specular
  highlights, NIR-specific iris and lips, blur and noise.

Ranges are (low, high) of a uniform draw; angles in degrees; lengths in inter-ocular units.
"""

import dataclasses
import hashlib
import json


@dataclasses.dataclass(frozen=True)
class RenderParams:
  """Every range of `render.py` that sets how hard the set is."""
  # Identity: geometry and relief.
  shape_scale: float = 1.0          # identity shape deviation from the mean face, x
  relief: float = 0.0               # per-person spread of cheek/socket/brow/chin relief
  # Identity: tone, marks and texture in each spectrum.
  skin_nir_base: float = 0.74       # NIR skin albedo = base + slope * lightness + N(0, noise)
  skin_nir_slope: float = 0.1
  skin_nir_noise: float = 0.03
  iris_nir_link: float = 0.0        # 0: NIR iris independent of VIS; 1: set by its luminance
  extra_moles: float = 0.0          # mean number of moles added to the first Poisson(1.5)
  lips_nir: float = 0.93            # NIR lips = this x NIR skin
  mole_nir_contrast: float = 0.35   # share of a mole's VIS darkening kept in NIR
  freckle_nir_contrast: float = 0.0
  texture_contrast: float = 0.0     # identity texture's albedo modulation in VIS (0: none)
  texture_nir_keep: float = 0.0     # share of its relief part (pores, creases) kept in NIR
  pigment_nir_keep: float = 0.0     # share of its pigment part (blotches) kept in NIR
  skin_noise_vis: float = 0.045     # per-photo skin noise (not a person's), contrast
  skin_noise_nir: float = 0.02
  specular_nir: float = 0.0         # the on-axis lamp's highlight on forehead, nose, cheeks
  # Scene: pose and expression.
  yaw: float = 18.0                 # +- degrees
  roll: float = 10.0
  scale_jitter: float = 0.1         # face size, +- fraction
  centre_jitter: float = 0.05       # face centre, +- fraction of the image
  smile_prob: float = 0.5
  open_prob: float = 0.3
  closed_prob: float = 0.1
  brow_raise: float = 0.05
  # Scene: backdrop.
  nir_backdrop: tuple = (0.05, 0.4)
  vis_backdrop: tuple = (0.1, 0.95)
  vis_backdrop_chroma: float = 1.0  # 0: gray wall, 1: any colour
  clutter_gain: tuple = (1.0, 4.0)
  max_props: int = 3                # objects on the backdrop, 0..max_props
  # Scene: light (NIR booth lamp; VIS room or daylight).
  nir_azimuth: float = 15.0
  nir_elevation: tuple = (0.0, 20.0)
  nir_ambient: tuple = (0.35, 0.5)
  vis_azimuth: float = 60.0
  vis_elevation: tuple = (10.0, 55.0)
  vis_ambient: tuple = (0.25, 0.55)
  # Camera.
  nir_gain: tuple = (1.0, 1.35)     # lamp power / exposure
  nir_falloff: tuple = (2.0, 5.0)   # brightness / (1 + falloff * r^2), r in image sizes
  nir_blur: float = 0.7             # pixels
  nir_noise: tuple = (0.015, 0.035)
  vis_exposure: tuple = (0.8, 1.2)
  vis_auto_exposure: float = 0.0   # 0: fixed exposure; 1: the face metered to mid-gray
  vis_white_balance: float = 0.07   # per-channel gain std
  vis_noise: float = 0.008
  gamma: tuple = (1.0, 1.2)

  def replace(self, **changes) -> 'RenderParams':
    unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
    if unknown:
      raise ValueError(f'config.data.render: unknown field(s) {sorted(unknown)} '
                       f'(fields: {", ".join(field_names())})')
    cast = {k: (tuple(v) if isinstance(getattr(self, k), tuple) else type(getattr(self, k))(v))
            for k, v in changes.items()}
    return dataclasses.replace(self, **cast)

  def digest(self) -> str:
    """8 hex digits of the fields' values: a set's name changes with any of them."""
    text = json.dumps(dataclasses.asdict(self), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


HARD = RenderParams()

CASIA = RenderParams(
    shape_scale=1.35, relief=0.35,
    skin_nir_base=0.5, skin_nir_slope=0.35, skin_nir_noise=0.01,
    iris_nir_link=0.8, lips_nir=0.75, extra_moles=1.0, mole_nir_contrast=0.8,
    freckle_nir_contrast=0.5, texture_contrast=0.05, texture_nir_keep=0.9, pigment_nir_keep=0.5,
    skin_noise_vis=0.02, skin_noise_nir=0.015, specular_nir=0.06,
    yaw=6.0, roll=4.0, scale_jitter=0.05, centre_jitter=0.03,
    smile_prob=0.15, open_prob=0.08, closed_prob=0.03, brow_raise=0.02,
    nir_backdrop=(0.3, 0.6), vis_backdrop=(0.05, 0.95), vis_backdrop_chroma=0.3,
    clutter_gain=(0.1, 0.5), max_props=0,
    nir_azimuth=8.0, nir_elevation=(0.0, 12.0), nir_ambient=(0.35, 0.5),
    vis_azimuth=30.0, vis_elevation=(10.0, 40.0), vis_ambient=(0.35, 0.6),
    nir_gain=(1.0, 1.15), nir_falloff=(1.5, 3.0), nir_blur=0.6, nir_noise=(0.01, 0.025),
    vis_exposure=(0.9, 1.1), vis_auto_exposure=0.5, vis_white_balance=0.04, vis_noise=0.006,
)

PRESETS = {'hard': HARD, 'casia': CASIA}
DEFAULT_PRESET = 'casia'


def field_names() -> tuple[str, ...]:
  return tuple(f.name for f in dataclasses.fields(RenderParams))


def resolve(preset: str, overrides: dict | None = None) -> RenderParams:
  """The preset's params with `overrides` (None values ignored) applied."""
  if preset not in PRESETS:
    raise ValueError(f'config.data.preset: unknown preset {preset!r} ({", ".join(PRESETS)})')
  changes = {k: v for k, v in (overrides or {}).items() if v is not None}
  return PRESETS[preset].replace(**changes)
