"""Landmark-centred facial patches (PCFH Sec. 4.2) and their paste-back.

PCFH's local paths see the two eyes, the nose and the mouth, cropped around
their landmarks with fixed sizes (height x width): at 144x144, 32x32 per eye,
40x32 nose, 28x52 mouth; at 256x256, 52x52, 60x52 and 36x72. Other
resolutions scale the 144 sizes. Positions depend on the landmarks, so crops
use `lax.dynamic_slice` (jit-able) and are clamped to stay inside the image.
Points are (x, y) = (column, row) pixels, iBUG-68 order.
"""

import jax
import jax.numpy as jnp
import numpy as np

PATCHES = ('left_eye', 'right_eye', 'nose', 'mouth')
GROUPS = {
    'left_eye': np.arange(36, 42),     # image-left eye
    'right_eye': np.arange(42, 48),
    'nose': np.arange(27, 36),
    'mouth': np.arange(48, 68),
}
_PAPER_SIZES = {
    144: {'left_eye': (32, 32), 'right_eye': (32, 32), 'nose': (40, 32), 'mouth': (28, 52)},
    256: {'left_eye': (52, 52), 'right_eye': (52, 52), 'nose': (60, 52), 'mouth': (36, 72)},
}


def patch_sizes(resolution: int) -> dict[str, tuple[int, int]]:
  """(height, width) of each patch; the paper's at 144 and 256, else scaled from 144."""
  if resolution in _PAPER_SIZES:
    return dict(_PAPER_SIZES[resolution])
  scale = resolution / 144
  return {name: tuple(max(4, 2 * round(s * scale / 2)) for s in hw)
          for name, hw in _PAPER_SIZES[144].items()}


def patch_offsets(landmarks: jax.Array, image_hw: tuple[int, int],
                  sizes: dict[str, tuple[int, int]]) -> dict[str, jax.Array]:
  """Top-left (row, col) of each patch, centred on its landmark group, inside the image."""
  offsets = {}
  for name in PATCHES:
    (ph, pw), centre = sizes[name], landmarks[GROUPS[name]].mean(axis=0)
    top = jnp.clip(jnp.round(centre[1] - ph / 2), 0, image_hw[0] - ph)
    left = jnp.clip(jnp.round(centre[0] - pw / 2), 0, image_hw[1] - pw)
    offsets[name] = jnp.stack([top, left]).astype(jnp.int32)
  return offsets


def crop_patches(image: jax.Array, landmarks: jax.Array, sizes: dict[str, tuple[int, int]]):
  """(H, W, C) image -> ({name: (h, w, C) patch}, {name: (row, col) offset})."""
  offsets = patch_offsets(landmarks, image.shape[:2], sizes)
  patches = {name: jax.lax.dynamic_slice(image, (offsets[name][0], offsets[name][1], 0),
                                         sizes[name] + image.shape[2:])
             for name in PATCHES}
  return patches, offsets


def paste(canvas: jax.Array, patch: jax.Array, offset: jax.Array) -> jax.Array:
  """Writes `patch` into `canvas` (H, W, C) at (row, col) `offset`."""
  return jax.lax.dynamic_update_slice(canvas, patch.astype(canvas.dtype),
                                      (offset[0], offset[1], 0))


def max_out_fuse(global_map: jax.Array, patches: dict, offsets: dict) -> jax.Array:
  """Element-wise max of the global map and each local output pasted at its place.

  Outside a patch the local canvas is -inf, so the global path decides there.
  """
  fused = global_map
  for name, patch in patches.items():
    canvas = jnp.full_like(global_map, -jnp.inf)
    fused = jnp.maximum(fused, paste(canvas, patch, offsets[name]))
  return fused
