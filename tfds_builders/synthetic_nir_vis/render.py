"""Procedural NIR/VIS face renderer (numpy + scipy + Pillow).

Coordinates: pixels, x = column, y = row, pixel centres at integers. Every
feature is drawn from the final 68 landmarks, so the stored landmarks are exact
(the pupil is the centroid of its six eye points, the skin outline passes
through the jaw points, the lip and eye regions are the landmark polygons).

Randomness is split in three, each part taking a `np.random.Generator`:
`sample_identity(rng)` draws what stays with a person (shape, tones, hair,
marks); `sample_scene(identity, rng, setting, size)` what one photo shows
(expression, pose, framing, backdrop, texture noise, light); and
`render_scene(identity, scene, modality, rng)` photographs the scene in either
spectrum, its `rng` drawing only what the camera adds (exposure, lamp
fall-off, noise, gamma). `render` runs the last two on one generator, so a
build can give every example its own seed and render in any order or process.
The VIS twin of an NIR image is its scene rendered in VIS with a camera
generator of its own: same person, pose, expression, framing and light.

How hard the set is comes from `presets.RenderParams`, given to
`sample_identity` and kept by the identity, so its scenes and cameras follow
it. Under `presets.HARD` every draw is the first renderer's, in its order;
what later presets add (identity texture, relief, extra moles) draws from
generators keyed by name off the identity's seed (`_keyed`), so adding a
field never moves another draw.
"""

import dataclasses
import zlib

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from hfr_jax.ops import mean_shape as ms
from tfds_builders.synthetic_nir_vis import presets

NIR, VIS = 'nir', 'vis'

_CENTRE = ms.MEAN_SHAPE_68.mean(axis=0)
# Template units -> inter-ocular units (outer eye corners 36 and 45).
_IOD = np.linalg.norm(ms.MEAN_SHAPE_68[45] - ms.MEAN_SHAPE_68[36])
_CANON = (ms.MEAN_SHAPE_68 - _CENTRE) / _IOD


@dataclasses.dataclass(frozen=True)
class Identity:
  """What stays the same across a person's photos, in both spectra."""
  shape: np.ndarray            # (68, 2) neutral frontal shape, IOD units
  depth: np.ndarray            # (68,) depth of each point (yaw foreshortening)
  skin_vis: np.ndarray         # (3,) albedo
  skin_nir: float
  lips_vis: np.ndarray
  hair_vis: np.ndarray
  hair_nir: float
  iris_vis: np.ndarray
  iris_nir: float
  iris_radius: float           # fraction of eye width
  brow_thickness: float        # IOD units
  brow_darkness: float
  hairline: float              # IOD units above the eye line
  hair_curve: float
  hair_volume: float
  hair_length: float           # how far the sides fall below eye level
  forehead: float              # head top above the eye line
  nose_height: float
  beard: float                 # 0 = none
  moles: np.ndarray            # (M, 4): anchor (u, v) IOD units, radius, darkness
  freckles: np.ndarray         # (F, 3): u, v, radius
  params: presets.RenderParams = presets.HARD
  # Relief heights (IOD units): cheekbones, eye sockets, lips, brow ridge, chin.
  relief: tuple = (0.06, 0.12, 0.04, 0.0, 0.0)
  # (H, W, 2) albedo texture on the face grid (_TEX_U, _TEX_V): [..., 0] relief-like
  # (pores, creases: kept in NIR), [..., 1] pigment (blotches: fade in NIR). None: no texture.
  texture: np.ndarray | None = None


# The identity texture's grid in face coordinates (IOD units; u along the eyes, v down,
# the eye midpoint at 0): from brow-top hairline to below the chin.
_TEX_CELL = 0.025
_LUMA = np.array([0.299, 0.587, 0.114])   # Rec. 601, as hfr_jax.ops.color
_TEX_U = np.arange(-1.3, 1.3 + 1e-9, _TEX_CELL)
_TEX_V = np.arange(-2.0, 1.7 + 1e-9, _TEX_CELL)


def _keyed(rng: np.random.Generator, name: str) -> np.random.Generator:
  """A generator keyed by `name` off `rng`'s seed; draws from neither move the other."""
  seq = rng.bit_generator.seed_seq
  return np.random.default_rng(np.random.SeedSequence(
      seq.entropy, spawn_key=tuple(seq.spawn_key) + (zlib.crc32(name.encode()),)))


def _identity_texture(rng: np.random.Generator) -> np.ndarray:
  """(H, W, 2) zero-mean texture: pores, fine relief and creases; then pigment blotches."""
  shape = (len(_TEX_V), len(_TEX_U))
  field = lambda sigma: (lambda f: f / f.std())(
      ndimage.gaussian_filter(rng.normal(size=shape), sigma))
  relief = 0.6 * field(0.7) + 0.4 * field(2.0)
  # Creases where faces fold (u, v, angle): forehead, crow's feet, under the eyes,
  # nasolabial folds, between the brows; a person has some of them.
  vv, uu = np.meshgrid(_TEX_V, _TEX_U, indexing='ij')
  folds = [(0.0, -1.05, 0.0), (0.0, -0.85, 0.0), (-0.75, 0.02, 0.5), (0.75, 0.02, -0.5),
           (-0.45, 0.2, 0.1), (0.45, 0.2, -0.1), (-0.38, 0.75, 1.15), (0.38, 0.75, -1.15),
           (-0.08, -0.45, 1.5), (0.08, -0.45, 1.5)]
  for u0, v0, angle in folds:
    if rng.uniform() < 0.5:
      continue
    u0, v0 = u0 + rng.normal(0, 0.04), v0 + rng.normal(0, 0.04)
    angle, half = angle + rng.normal(0, 0.15), rng.uniform(0.08, 0.25)
    du, dv = np.cos(angle), np.sin(angle)
    t = np.clip((uu - u0) * du + (vv - v0) * dv, -half, half)
    d = np.hypot(uu - u0 - t * du, vv - v0 - t * dv)
    relief -= rng.uniform(1.0, 2.5) * np.exp(-(d / 0.02) ** 2)
  tex = np.stack([relief - relief.mean(), field(4.0)], -1)
  return tex.astype(np.float32)


def _smooth_noise(rng, n, scale):
  return ndimage.gaussian_filter1d(rng.normal(size=n), 1.5, mode='wrap') * scale


def sample_identity(rng: np.random.Generator,
                    params: presets.RenderParams = presets.CASIA) -> Identity:
  """Draws one person under `params`: face geometry deviating from the mean, tones, marks."""
  s = _CANON.copy()
  # Shape modes, each a few percent, in IOD units about the face centre.
  jaw = ms.JAW
  s[jaw, 0] *= rng.uniform(0.88, 1.12)                         # face width
  lower = np.arange(4, 13)
  s[lower, 0] *= rng.uniform(0.85, 1.08)                       # jaw taper
  s[np.arange(5, 12), 1] += rng.uniform(-0.12, 0.06) * np.sin(
      np.linspace(0.3, np.pi - 0.3, 7))                         # chin length
  eye_scale = rng.uniform(0.9, 1.25, size=2)                     # eye w, h
  spacing = rng.uniform(-0.06, 0.06)
  tilt = rng.uniform(-0.06, 0.06)
  for idx, side in ((ms.LEFT_EYE, -1), (ms.RIGHT_EYE, 1)):
    c = s[idx].mean(axis=0)
    s[idx] = c + (s[idx] - c) * eye_scale
    s[idx, 0] += side * spacing
    s[idx, 1] += side * tilt * (s[idx, 0] - c[0])
  brows = np.r_[ms.LEFT_BROW, ms.RIGHT_BROW]
  s[brows, 1] += rng.uniform(-0.07, 0.07)                       # brow height
  arch = rng.uniform(-0.05, 0.05)
  for idx in (ms.LEFT_BROW, ms.RIGHT_BROW):
    s[idx, 1] -= arch * np.sin(np.linspace(0, np.pi, 5))
  nose = np.r_[ms.NOSE_BRIDGE, ms.NOSE_BASE]
  nose_len = rng.uniform(0.85, 1.15)
  top = s[27].copy()
  s[nose, 1] = top[1] + (s[nose, 1] - top[1]) * nose_len
  s[ms.NOSE_BASE, 0] = s[33, 0] + (s[ms.NOSE_BASE, 0] - s[33, 0]) * rng.uniform(0.8, 1.25)
  lips = np.r_[ms.OUTER_LIPS, ms.INNER_LIPS]
  mc = s[lips].mean(axis=0)
  s[lips, 0] = mc[0] + (s[lips, 0] - mc[0]) * rng.uniform(0.82, 1.18)
  s[lips, 1] += rng.uniform(-0.06, 0.06)
  upper, lower_lip = [49, 50, 51, 52, 53], [55, 56, 57, 58, 59]
  s[upper, 1] -= rng.uniform(-0.02, 0.04)
  s[lower_lip, 1] += rng.uniform(-0.03, 0.02)
  s += rng.normal(scale=0.008, size=s.shape)
  if params.shape_scale != 1:
    s = _CANON + params.shape_scale * (s - _CANON)
  s[:, 0] -= s[:, 0].mean() - 0.0

  # Depth for yaw: head ellipsoid plus the nose protruding.
  half_w = np.abs(s[jaw, 0]).max()
  depth = np.sqrt(np.clip(1 - (s[:, 0] / (1.05 * half_w)) ** 2, 0, 1)) * 0.9
  nose_height = rng.uniform(0.25, 0.45)
  depth[ms.NOSE_BRIDGE] += nose_height * np.linspace(0.3, 1.0, 4)
  depth[ms.NOSE_BASE] += nose_height * np.array([0.35, 0.5, 0.6, 0.5, 0.35])

  t = rng.uniform()                                            # skin lightness
  dark, light = np.array([0.36, 0.22, 0.15]), np.array([0.95, 0.78, 0.66])
  skin_vis = (dark + (light - dark) * t) * rng.uniform(0.94, 1.06, size=3)
  skin_nir = (params.skin_nir_base + params.skin_nir_slope * t
              + rng.normal(scale=params.skin_nir_noise))
  lips_vis = skin_vis * np.array([0.95, 0.62, 0.64]) * rng.uniform(0.8, 1.0)
  hair_kind = rng.choice(4, p=[0.45, 0.3, 0.15, 0.1])
  hair_vis, hair_nir = [
      (np.array([0.07, 0.06, 0.05]), 0.12), (np.array([0.28, 0.17, 0.09]), 0.25),
      (np.array([0.75, 0.6, 0.35]), 0.55), (np.array([0.62, 0.6, 0.58]), 0.62),
  ][hair_kind]
  hair_vis = hair_vis * rng.uniform(0.8, 1.2)
  hair_nir = hair_nir * rng.uniform(0.8, 1.2)
  iris_vis = [np.array([0.3, 0.18, 0.08]), np.array([0.3, 0.45, 0.65]),
              np.array([0.35, 0.45, 0.28]), np.array([0.45, 0.35, 0.18])][
                  rng.choice(4, p=[0.55, 0.2, 0.1, 0.15])] * rng.uniform(0.8, 1.2)

  n_moles = rng.poisson(1.5)
  moles = np.c_[rng.uniform(-0.9, 0.9, n_moles), rng.uniform(-0.6, 1.3, n_moles),
                rng.uniform(0.025, 0.06, n_moles), rng.uniform(0.35, 0.7, n_moles)]
  n_freckles = rng.choice([0, 0, 0, 40]) if t > 0.5 else 0
  freckles = np.c_[rng.normal(0, 0.45, n_freckles), rng.normal(0.45, 0.15, n_freckles),
                   rng.uniform(0.012, 0.025, n_freckles)]
  iris_nir = rng.uniform(0.3, 0.6)
  if params.iris_nir_link:   # melanin is clear at 850 nm: darker VIS irises, brighter NIR
    linked = 0.6 - 0.5 * float(iris_vis @ _LUMA)
    iris_nir = (1 - params.iris_nir_link) * iris_nir + params.iris_nir_link * linked
  extra = dict(params=params)
  if params.extra_moles:
    marks = _keyed(rng, 'moles')
    n = marks.poisson(params.extra_moles)
    moles = np.r_[moles, np.c_[marks.uniform(-0.9, 0.9, n), marks.uniform(-0.6, 1.3, n),
                               marks.uniform(0.02, 0.05, n), marks.uniform(0.35, 0.7, n)]]
  if params.relief:
    spread = 1 + params.relief * _keyed(rng, 'relief').normal(size=5)
    extra['relief'] = tuple(np.maximum(np.array([0.06, 0.12, 0.04, 0.04, 0.04]) * spread, 0))
  if params.texture_contrast:
    extra['texture'] = _identity_texture(_keyed(rng, 'texture'))
  return Identity(
      shape=s, depth=depth, skin_vis=skin_vis, skin_nir=float(skin_nir),
      lips_vis=lips_vis, hair_vis=hair_vis, hair_nir=float(hair_nir),
      iris_vis=iris_vis, iris_nir=float(iris_nir),
      iris_radius=float(rng.uniform(0.2, 0.26)),
      brow_thickness=float(rng.uniform(0.05, 0.12)),
      brow_darkness=float(rng.uniform(0.5, 0.95)),
      hairline=float(rng.uniform(0.75, 1.2) if rng.uniform() > 0.06 else 3.0),
      hair_curve=float(rng.uniform(0.1, 0.6)),
      hair_volume=float(rng.uniform(0.05, 0.3)),
      hair_length=float(rng.choice([0.0, 0.0, 0.8, 1.8]) * rng.uniform(0.7, 1.2)),
      forehead=float(rng.uniform(1.55, 1.85)),
      nose_height=float(nose_height),
      beard=float(rng.uniform(0.3, 0.7) if rng.uniform() < 0.2 else 0.0),
      moles=moles, freckles=freckles, **extra)


def _expression(shape, rng, p: presets.RenderParams):
  """Smile, open mouth, closed eyes, raised brows; returns a new shape."""
  s = shape.copy()
  smile = rng.uniform(0, 1) if rng.uniform() < p.smile_prob else 0.0
  opened = rng.uniform(0.2, 1.0) if rng.uniform() < p.open_prob else 0.0
  closed = rng.uniform() < p.closed_prob
  brow = rng.uniform(-1, 1) * p.brow_raise
  # Closed mouth: inner lower lip on the inner upper lip.
  s[[67, 66, 65], :] = s[[61, 62, 63], :]
  for corner, inner, side in ((48, 60, -1), (54, 64, 1)):
    s[[corner, inner], 0] += side * 0.04 * smile
    s[[corner, inner], 1] -= 0.07 * smile
  s[[49, 53], 1] -= 0.03 * smile
  s[[59, 55], 1] -= 0.02 * smile
  drop = 0.14 * opened
  s[[55, 56, 57, 58, 59], 1] += drop * np.array([0.6, 0.9, 1.0, 0.9, 0.6])
  s[[65, 66, 67], 1] += drop * np.array([0.85, 1.0, 0.85])
  s[np.arange(4, 13), 1] += 0.5 * drop * np.sin(np.linspace(0.2, np.pi - 0.2, 9))
  if closed:
    s[[37, 38, 43, 44]] = s[[41, 40, 47, 46]] - np.array([0, 0.005])
  elif smile > 0.5:     # squint
    for up, down in (([37, 38], [41, 40]), ([43, 44], [47, 46])):
      s[up] += (s[down] - s[up]) * 0.25 * smile
  s[np.r_[ms.LEFT_BROW, ms.RIGHT_BROW], 1] -= brow
  return s, dict(smile=smile, open=opened, closed=closed)


@dataclasses.dataclass(frozen=True)
class Pose:
  roll: float
  yaw: float
  scale: float       # IOD in pixels
  centre: np.ndarray  # face centre in pixels


def _sample_pose(rng, size, p: presets.RenderParams):
  return Pose(roll=rng.uniform(-p.roll, p.roll) * np.pi / 180,
              yaw=rng.uniform(-p.yaw, p.yaw) * np.pi / 180,
              scale=size * 0.36 * rng.uniform(1 - p.scale_jitter, 1 + p.scale_jitter),
              centre=np.array([0.5, 0.52]) * (size - 1)
              + rng.uniform(-p.centre_jitter, p.centre_jitter, 2) * size)


def _project(shape, depth, pose):
  """Yaw by foreshortening about the vertical axis, then roll/scale/shift."""
  x = shape[:, 0] * np.cos(pose.yaw) + depth * np.sin(pose.yaw)
  p = np.c_[x, shape[:, 1]]
  c, s = np.cos(pose.roll), np.sin(pose.roll)
  return p @ np.array([[c, s], [-s, c]]) * pose.scale + pose.centre


class _Canvas:
  """Float image plus helpers drawing anti-aliased masks from landmarks."""

  def __init__(self, size, ss=4):
    self.size, self.ss = size, ss
    self.yy, self.xx = np.mgrid[0:size, 0:size].astype(np.float64)

  def polygon(self, pts):
    n = self.size * self.ss
    img = Image.new('L', (n, n), 0)
    pts_ss = (np.asarray(pts) + 0.5) * self.ss - 0.5
    ImageDraw.Draw(img).polygon([tuple(p) for p in pts_ss], fill=255)
    a = np.asarray(img, np.float64).reshape(self.size, self.ss, self.size, self.ss)
    return a.mean(axis=(1, 3)) / 255.0

  def disc(self, centre, radius):
    d = np.hypot(self.xx - centre[0], self.yy - centre[1])
    return np.clip(radius - d + 0.5, 0, 1)

  def ellipse(self, centre, radii, angle):
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = self.xx - centre[0], self.yy - centre[1]
    u, v = (c * dx + s * dy) / radii[0], (-s * dx + c * dy) / radii[1]
    r = np.sqrt(u * u + v * v)
    return np.clip((1 - r) * min(radii) + 0.5, 0, 1)

  def polyline_distance(self, pts):
    pts = np.asarray(pts)
    best = np.full(self.xx.shape, np.inf)
    for a, b in zip(pts[:-1], pts[1:]):
      ab = b - a
      t = ((self.xx - a[0]) * ab[0] + (self.yy - a[1]) * ab[1]) / max(ab @ ab, 1e-9)
      t = np.clip(t, 0, 1)
      best = np.minimum(best, np.hypot(self.xx - a[0] - t * ab[0], self.yy - a[1] - t * ab[1]))
    return best

  def line(self, pts, width):
    return np.clip(width / 2 - self.polyline_distance(pts) + 0.5, 0, 1)


def _paint(img, mask, colour):
  mask = mask[..., None]
  img *= 1 - mask
  img += mask * colour


def _gauss(cv, centre, sigma):
  return np.exp(-((cv.xx - centre[0]) ** 2 + (cv.yy - centre[1]) ** 2) / (2 * sigma ** 2))


def _seg_gauss(cv, a, b, sigma):
  return np.exp(-cv.polyline_distance([a, b]) ** 2 / (2 * sigma ** 2))


@dataclasses.dataclass(frozen=True)
class Scene:
  """What one photo shows, before any spectrum: all a VIS twin shares with its NIR image.

  `setting` is the capture the scene was drawn for. NIR: a booth, the lamp
  near-frontal, a plain backdrop graded top to bottom. VIS: anywhere, side
  light, a backdrop graded either way. It sets the light's ranges and which
  backdrop tone the scene holds; the scene renders in either spectrum.
  """
  setting: str
  size: int
  expression: dict             # smile, open, closed
  pose: Pose
  landmarks: np.ndarray        # (68, 2) pixels
  backdrop_axis: int           # 0: graded top to bottom, 1: left to right
  backdrop_nir: np.ndarray | None   # (2,) gray at either end; None: the camera draws it
  backdrop_vis: np.ndarray | None   # (2, 3) colour at either end; None: the camera draws it
  clutter: np.ndarray          # (size, size) smooth field over the backdrop
  clutter_gain: float
  props: np.ndarray            # (K, 9) backdrop ellipses: centre, radii, angle, VIS rgb, NIR
  collar: float                # clothing starts this far below the chin, IOD units
  cloth_vis: np.ndarray        # (3,)
  cloth_nir: float
  skin_noise: np.ndarray       # (size, size) white; each spectrum blurs it its own way
  light_azimuth: float         # radians
  light_elevation: float
  ambient: float


def sample_scene(identity: Identity, rng: np.random.Generator, setting: str, size: int) -> Scene:
  """Draws one photo's expression, pose, framing, backdrop, texture noise and light.

  Draws in the order the renderer has always drawn them, so `render` is
  `sample_scene` followed by `render_scene` on the same generator, and every
  image rendered so far keeps its bytes. Only the backdrop tone and the
  light's ranges depend on `setting`; nothing depends on the spectrum the
  scene is rendered in.
  """
  if setting not in (NIR, VIS):
    raise ValueError(f'setting must be {NIR!r} or {VIS!r}, got {setting!r}')
  booth, p = setting == NIR, identity.params
  shape, expression = _expression(identity.shape, rng, p)
  pose = _sample_pose(rng, size, p)
  backdrop_nir = backdrop_vis = None
  if booth:
    backdrop_nir, axis = rng.uniform(*p.nir_backdrop, 2), 0
  else:
    backdrop_vis = _vis_backdrop(rng, p)
    axis = 0 if rng.uniform() < 0.5 else 1
  clutter = ndimage.gaussian_filter(rng.normal(size=(size, size)), size / 12)
  clutter_gain = rng.uniform(*p.clutter_gain)
  props = []
  for _ in range(rng.integers(0, p.max_props + 1)):
    centre = rng.uniform(0, size, 2)
    radii = rng.uniform(size / 12, size / 3, 2)
    angle = rng.uniform(0, np.pi)
    props.append(np.r_[centre, radii, angle, rng.uniform(0, 1, 3), rng.uniform(0.05, 0.5)])
  collar = rng.uniform(0.35, 0.6)
  cloth_vis, cloth_nir = rng.uniform(0.05, 0.9, 3), rng.uniform(0.1, 0.8)
  skin_noise = rng.normal(size=(size, size))
  az_max, elevation, ambient = ((p.nir_azimuth, p.nir_elevation, p.nir_ambient) if booth
                                else (p.vis_azimuth, p.vis_elevation, p.vis_ambient))
  az = rng.uniform(-az_max, az_max) * np.pi / 180
  el = rng.uniform(*elevation) * np.pi / 180
  ambient = rng.uniform(*ambient)
  return Scene(
      setting=setting, size=size, expression=expression, pose=pose,
      landmarks=_project(shape, identity.depth, pose), backdrop_axis=axis,
      backdrop_nir=backdrop_nir, backdrop_vis=backdrop_vis, clutter=clutter,
      clutter_gain=clutter_gain, props=np.array(props).reshape(-1, 9), collar=collar,
      cloth_vis=cloth_vis, cloth_nir=cloth_nir, skin_noise=skin_noise, light_azimuth=az,
      light_elevation=el, ambient=ambient)


def _vis_backdrop(rng, p: presets.RenderParams) -> np.ndarray:
  """(2, 3) colours at either end of a VIS backdrop, drawn towards gray by its chroma."""
  c = rng.uniform(*p.vis_backdrop, (2, 3))
  if p.vis_backdrop_chroma != 1:
    gray = c.mean(axis=1, keepdims=True)
    c = gray + p.vis_backdrop_chroma * (c - gray)
  return c


def render(identity: Identity, rng: np.random.Generator, modality: str, size: int):
  """Renders one photo of `identity`; returns (uint8 (size, size, 3), (68, 2) float32).

  The scene is drawn for the modality's own setting (NIR booth, VIS anywhere).
  """
  return render_scene(identity, sample_scene(identity, rng, modality, size), modality, rng)


def render_scene(identity: Identity, scene: Scene, modality: str, rng: np.random.Generator):
  """Photographs `scene` of `identity` in `modality`'s spectrum with its camera.

  `rng` draws only what the spectrum and camera add: a backdrop tone the
  scene lacks, then lamp fall-off or exposure and white balance, sensor
  noise, gamma. Returns (uint8 (size, size, 3), (68, 2) float32), the
  landmarks being the scene's whatever the modality.
  """
  if modality not in (NIR, VIS):
    raise ValueError(f'modality must be {NIR!r} or {VIS!r}, got {modality!r}')
  nir, p = modality == NIR, identity.params
  size, pose, lm = scene.size, scene.pose, scene.landmarks
  cv = _Canvas(size)
  iod = np.linalg.norm(lm[45] - lm[36])
  ex = (lm[45] - lm[36]) / iod                  # local x axis (along the eyes)
  ey = np.array([-ex[1], ex[0]])               # local y axis (downwards)
  eye_mid = (lm[36] + lm[45]) / 2
  to_img = lambda u, v: eye_mid + np.outer(u, ex) * iod + np.outer(v, ey) * iod
  lu = ((cv.xx - eye_mid[0]) * ex[0] + (cv.yy - eye_mid[1]) * ex[1]) / iod
  lv = ((cv.xx - eye_mid[0]) * ey[0] + (cv.yy - eye_mid[1]) * ey[1]) / iod
  col = (lambda vis, nir_v: np.full(3, nir_v) if nir else np.asarray(vis, np.float64))

  # Background and clothing. A scene drawn for the other setting has no tone for
  # its backdrop in this spectrum: the camera's stream draws one.
  axis = (cv.yy, cv.xx)[scene.backdrop_axis]
  if nir:
    c0, c1 = rng.uniform(*p.nir_backdrop, 2) if scene.backdrop_nir is None else scene.backdrop_nir
    bg = np.stack([c0 + (c1 - c0) * axis / size] * 3, -1)
  else:
    c0, c1 = _vis_backdrop(rng, p) if scene.backdrop_vis is None else scene.backdrop_vis
    bg = c0 + (c1 - c0) * (axis / size)[..., None]
  img = bg + scene.clutter[..., None] * scene.clutter_gain * (0.6 if nir else 1.0)
  for prop in scene.props:
    m = cv.ellipse(prop[0:2], prop[2:4], prop[4])
    _paint(img, ndimage.gaussian_filter(m, 1.0), col(prop[5:8], prop[8]))
  jaw_w = np.linalg.norm(lm[16] - lm[0])
  chin = lm[8]
  neck_half = 0.3 * jaw_w / iod
  neck = np.r_[to_img(np.array([-neck_half, neck_half, neck_half * 1.3, -neck_half * 1.3]),
                      np.array([0.8, 0.8, 3.5, 3.5]))]
  chin_v = (chin - eye_mid) @ ey / iod
  cloth_top = chin_v + scene.collar
  shoulders = to_img(np.array([-0.5, 0.5, 2.5, 2.5, -2.5, -2.5]),
                     np.array([cloth_top, cloth_top, cloth_top + 0.5, 4.0, 4.0, cloth_top + 0.5]))
  skin = col(identity.skin_vis, identity.skin_nir)
  neck_mask = cv.polygon(neck)
  _paint(img, neck_mask, skin * 0.75)
  # The chin casts a shadow on the neck.
  below_jaw = ndimage.gaussian_filter(cv.line(lm[3:14] + ey * 0.08 * iod, 0.2 * iod), 0.06 * iod)
  _paint(img, neck_mask * below_jaw * 0.6, skin * 0.35)
  _paint(img, cv.polygon(shoulders), col(scene.cloth_vis, scene.cloth_nir))

  # Head outline: jaw points, then an arc over the forehead.
  cu = (((lm[0] + lm[16]) / 2) - eye_mid) @ ex / iod
  ru = jaw_w / iod / 2
  top = np.linspace(0, np.pi, 24)
  arc = to_img(cu + ru * np.cos(top), -identity.forehead * np.sin(top) + 0.0 * top)
  head = np.r_[lm[:17], arc[1:-1]]
  hair = col(identity.hair_vis, identity.hair_nir)
  # Back hair (volume around the skull, long sides).
  hv = identity.hair_volume
  back = ((lu - cu) / (ru + hv)) ** 2 + (np.minimum(lv, 0) / (identity.forehead + hv)) ** 2 <= 1
  back &= lv < identity.hair_length
  back = ndimage.gaussian_filter(back.astype(np.float64), 0.7)
  if identity.hairline < 2:
    _paint(img, back, hair)
  # Ears just outside the jaw line at eye/nose level.
  for i, side in ((1, -1), (15, 1)):
    ear = cv.ellipse(lm[i] + side * ex * 0.06 * iod - ey * 0.05 * iod,
                     (0.12 * iod * (1 - 0.5 * side * np.sin(pose.yaw)), 0.3 * iod),
                     np.arctan2(ex[1], ex[0]))
    _paint(img, ear, skin * 0.85)
  face = cv.polygon(head)

  # Surface height for shading: head ellipsoid, nose, sockets, cheeks, lips.
  rv = np.where(lv < 0, identity.forehead, (chin - eye_mid) @ ey / iod)
  h = np.sqrt(np.clip(1 - ((lu - cu) / (ru * 1.05)) ** 2 - (lv / rv) ** 2, 0, 1)) * 0.8 * iod
  nose_h = identity.nose_height * iod
  h += nose_h * _seg_gauss(cv, lm[27], lm[30], 0.09 * iod) * np.clip(
      ((cv.xx - lm[27][0]) * (lm[30] - lm[27])[0] + (cv.yy - lm[27][1]) * (lm[30] - lm[27])[1])
      / max(np.sum((lm[30] - lm[27]) ** 2), 1e-6) * 0.7 + 0.3, 0.3, 1.0)
  for i in (31, 35):
    h += 0.35 * nose_h * _gauss(cv, lm[i] - ey * 0.05 * iod, 0.07 * iod)
  for eye in (ms.LEFT_EYE, ms.RIGHT_EYE):
    h -= identity.relief[1] * iod * _gauss(cv, lm[eye].mean(0) - ey * 0.03 * iod, 0.17 * iod)
  cheek, socket, lip, brow_ridge, chin_bump = identity.relief
  for i in (2, 14):
    h += cheek * iod * _gauss(cv, (lm[i] * 0.45 + lm[30] * 0.55), 0.22 * iod)
  h += lip * iod * _gauss(cv, lm[np.r_[ms.OUTER_LIPS]].mean(0), 0.25 * iod)
  if brow_ridge:
    for idx in (ms.LEFT_BROW, ms.RIGHT_BROW):
      h += brow_ridge * iod * _gauss(cv, lm[idx].mean(0) + ey * 0.05 * iod, 0.16 * iod)
  if chin_bump:
    h += chin_bump * iod * _gauss(cv, lm[8] - ey * 0.25 * iod, 0.22 * iod)
  gy, gx = np.gradient(ndimage.gaussian_filter(h, 0.8))
  normal = np.stack([-gx, -gy, np.ones_like(h)], -1)
  normal /= np.linalg.norm(normal, axis=-1, keepdims=True)

  # Skin albedo with texture and marks.
  tex = ndimage.gaussian_filter(scene.skin_noise, 0.6 if nir else 0.4)
  tex = 1 + tex * (p.skin_noise_nir if nir else p.skin_noise_vis)
  skin_img = skin * tex[..., None]
  if identity.texture is not None:
    skin_img *= _texture_albedo(identity.texture, lu, lv, p, nir)
  if identity.beard > 0:
    b = np.clip((lv - (lm[33] - eye_mid) @ ey / iod + 0.05) * 4, 0, 1) * face
    b = b * (1 - 0.7 * cv.polygon(lm[48:60]))
    beard = col(identity.hair_vis, identity.hair_nir)
    skin_img = skin_img * (1 - identity.beard * b[..., None]) + identity.beard * b[..., None] * beard
  for u, v, r, dark in identity.moles:
    m = cv.disc(to_img(np.array([u]), np.array([v]))[0], max(r * iod, 0.6))
    contrast = dark * (p.mole_nir_contrast if nir else 1.0)   # pigment fades in NIR
    skin_img *= (1 - contrast * m)[..., None]
  if len(identity.freckles) and (not nir or p.freckle_nir_contrast):
    pts = to_img(identity.freckles[:, 0], identity.freckles[:, 1])
    f = np.zeros((size, size))
    for pt, r in zip(pts, identity.freckles[:, 2]):
      f = np.maximum(f, cv.disc(pt, max(r * iod, 0.5)))
    if nir:
      skin_img *= (1 - 0.25 * p.freckle_nir_contrast * f)[..., None]
    else:
      skin_img *= (1 - 0.25 * f)[..., None] * np.array([1.0, 0.93, 0.9])
  _paint(img, face, 0)
  img += face[..., None] * skin_img

  # Front hair above the hairline.
  if identity.hairline < 2:
    line = -identity.hairline + identity.hair_curve * ((lu - cu) / ru) ** 2
    front = back * (lv < line) * (np.abs(lu - cu) < ru + hv)
    _paint(img, ndimage.gaussian_filter(front.astype(np.float64), 0.8), hair)

  # Brows: the points mark the upper edge (iBUG), thickness goes down.
  brow_col = skin * (1 - identity.brow_darkness) + hair * identity.brow_darkness * 0.8
  for idx in (ms.LEFT_BROW, ms.RIGHT_BROW):
    upper = lm[idx]
    taper = np.array([0.6, 0.9, 1.0, 0.9, 0.6]) if idx[0] == 17 else np.array([0.6, 0.9, 1.0, 0.9, 0.6])
    lower = upper + np.outer(identity.brow_thickness * iod * taper, ey)
    _paint(img, ndimage.gaussian_filter(cv.polygon(np.r_[upper, lower[::-1]]), 0.4), brow_col)

  # Eyes: sclera polygon, iris and pupil centred on the landmark centroid.
  sclera = col([0.9, 0.88, 0.86], 0.8)
  iris = col(identity.iris_vis, identity.iris_nir)
  for idx in (ms.LEFT_EYE, ms.RIGHT_EYE):
    pts = lm[idx]
    eye_mask = cv.polygon(pts)
    centre = pts.mean(axis=0)
    width = np.linalg.norm(pts[3] - pts[0])
    r_iris = identity.iris_radius * width
    _paint(img, eye_mask, sclera)
    _paint(img, eye_mask * cv.disc(centre, r_iris), iris)
    _paint(img, eye_mask * cv.disc(centre, r_iris * 0.45), col([0.02, 0.02, 0.02], 0.04))
    if not nir:   # catch-light
      _paint(img, eye_mask * cv.disc(centre + np.array([0.6, -0.5]) * r_iris, 0.5), col([1, 1, 1], 1))
    upper_lid = pts[[0, 1, 2, 3]]
    _paint(img, cv.line(upper_lid, max(0.03 * iod, 1.0)), col([0.14, 0.11, 0.1], 0.18))
    _paint(img, cv.line(pts[[3, 4, 5, 0]], max(0.012 * iod, 0.6)) * 0.5, skin * 0.55)

  # Nose: nostrils just above the base points, a crease along the alae.
  for a, b in ((31, 32), (35, 34)):
    c = lm[a] * 0.45 + lm[b] * 0.55 - ey * 0.035 * iod
    angle = np.arctan2(ex[1], ex[0])
    _paint(img, cv.ellipse(c, (0.065 * iod, 0.03 * iod), angle) * 0.8, skin * 0.25)
    _paint(img, cv.line([lm[a] - ey * 0.15 * iod + ex * 0.0, lm[a]], 0.02 * iod + 0.7) * 0.25,
           skin * 0.5)

  # Mouth: lips between outer and inner contours, dark opening, teeth.
  lips = col(identity.lips_vis, identity.skin_nir * p.lips_nir)
  _paint(img, cv.polygon(lm[48:60]), lips)
  inner = cv.polygon(lm[60:68])
  if inner.sum() > 0.5:
    _paint(img, inner, col([0.12, 0.04, 0.04], 0.08))
    teeth = inner * np.clip(1 - cv.polyline_distance(lm[60:65]) / (0.06 * iod), 0, 1)
    _paint(img, teeth, col([0.88, 0.86, 0.8], 0.78))
  mouth_line = np.r_[lm[48:49], lm[60:65], lm[54:55]]
  _paint(img, cv.line(mouth_line, max(0.015 * iod, 0.8)) * 0.75, lips * 0.4)
  # Shadow in the fold under the lower lip.
  under = lm[[56, 57, 58]] + ey * 0.05 * iod
  _paint(img, ndimage.gaussian_filter(cv.line(under, 0.04 * iod), 0.04 * iod) * 0.35, skin * 0.5)

  # Illumination: Lambert on the face under the scene's light.
  az, el, ambient = scene.light_azimuth, scene.light_elevation, scene.ambient
  light = np.array([np.sin(az) * np.cos(el), -np.sin(el), np.cos(az) * np.cos(el)])
  lambert = np.clip(normal @ light, 0, 1)
  shade = ambient + (1 - ambient) * lambert
  head_region = np.clip(face + neck_mask * 0.7, 0, 1)
  img *= (1 + head_region * (shade - 1))[..., None]
  if nir and p.specular_nir:
    # The lamp's highlight (Blinn-Phong, camera on the lamp's axis), on skin only.
    half = light + np.array([0.0, 0.0, 1.0])
    spec = np.clip(normal @ (half / np.linalg.norm(half)), 0, 1) ** 24
    img += (face * spec * p.specular_nir)[..., None]
  if nir:
    # Active illumination: brightness falls off away from the lamp's centre.
    r2 = ((cv.xx - pose.centre[0]) ** 2 + (cv.yy - pose.centre[1]) ** 2) / size ** 2
    img *= (rng.uniform(*p.nir_gain) / (1 + rng.uniform(*p.nir_falloff) * r2))[..., None]
    img = ndimage.gaussian_filter(img, (p.nir_blur, p.nir_blur, 0))
    img = img[..., :1] + rng.normal(scale=rng.uniform(*p.nir_noise), size=(size, size, 1))
    img = np.repeat(img, 3, axis=-1)
  else:
    exposure = rng.uniform(*p.vis_exposure)
    if p.vis_auto_exposure:   # the camera meters on the face, part of the way
      lum = (img @ _LUMA * face).sum() / max(face.sum(), 1.0)
      exposure *= (0.5 / max(lum, 0.05)) ** p.vis_auto_exposure
    img *= exposure * rng.normal(1, p.vis_white_balance, size=3)   # exposure, white balance
    img += rng.normal(scale=p.vis_noise, size=img.shape)
  img = np.clip(img, 0, 1) ** (1 / rng.uniform(*p.gamma))
  return (img * 255 + 0.5).astype(np.uint8), lm.astype(np.float32)


def _texture_albedo(texture, lu, lv, p: presets.RenderParams, nir: bool) -> np.ndarray:
  """(size, size, 1 or 3) albedo factor from a person's texture, sampled at face coords."""
  rows = (lv - _TEX_V[0]) / _TEX_CELL
  cols = (lu - _TEX_U[0]) / _TEX_CELL
  sample = lambda c: ndimage.map_coordinates(texture[..., c], [rows, cols], order=1,
                                             mode='nearest')
  relief, pigment = sample(0), sample(1)
  if nir:
    return (1 + p.texture_contrast * (p.texture_nir_keep * relief
                                      + p.pigment_nir_keep * pigment))[..., None]
  tint = np.array([0.6, 1.0, 1.1])   # melanin/haemoglobin blotches darken green/blue most
  return 1 + p.texture_contrast * (relief[..., None] + pigment[..., None] * tint)
