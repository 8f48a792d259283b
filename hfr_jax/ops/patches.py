"""Landmark-centred facial patches (PCFH Sec. 4.2) and their paste-back.

PCFH's local paths see the two eyes, the nose and the mouth, cropped around
their landmarks with fixed sizes (height x width): at 144x144, 32x32 per eye,
40x32 nose, 28x52 mouth; at 256x256, 52x52, 60x52 and 36x72. Other
resolutions scale the 144 sizes. Positions depend on the landmarks, so crops
are jit-able one-hot products, clamped to stay inside the image.
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


def _selector(start, size: int, length: int, dtype) -> jax.Array:
  """(size, length) one-hot matrix whose row i picks index start + i."""
  return (jnp.arange(length)[None, :] == start + jnp.arange(size)[:, None]).astype(dtype)


def _crop(image, offset, hw):
  rows = _selector(offset[0], hw[0], image.shape[0], image.dtype)
  cols = _selector(offset[1], hw[1], image.shape[1], image.dtype)
  return jnp.einsum('hH,HWc,wW->hwc', rows, image, cols, precision=jax.lax.Precision.HIGHEST)


def _place(patch, offset, hw_canvas):
  """The patch on a zero canvas at `offset`, and the (H, W, 1) mask of where it is."""
  rows = _selector(offset[0], patch.shape[0], hw_canvas[0], patch.dtype)
  cols = _selector(offset[1], patch.shape[1], hw_canvas[1], patch.dtype)
  placed = jnp.einsum('hH,hwc,wW->HWc', rows, patch, cols,
                      precision=jax.lax.Precision.HIGHEST)
  mask = (rows.sum(0)[:, None] * cols.sum(0)[None, :])[..., None] > 0
  return placed, mask


# Crops and pastes are one-hot matrix products rather than dynamic_slice /
# dynamic_update_slice: exact (HIGHEST precision, products with 0 and 1),
# MXU-friendly, and with a batch sharded over devices XLA's gather/scatter
# partitioning gave the local paths different gradients than on one device,
# while matmuls partition cleanly.


def crop_patches(image: jax.Array, landmarks: jax.Array, sizes: dict[str, tuple[int, int]]):
  """(H, W, C) image -> ({name: (h, w, C) patch}, {name: (row, col) offset})."""
  offsets = patch_offsets(landmarks, image.shape[:2], sizes)
  patches = {name: _crop(image, offsets[name], sizes[name]) for name in PATCHES}
  return patches, offsets


def paste(canvas: jax.Array, patch: jax.Array, offset: jax.Array) -> jax.Array:
  """Writes `patch` into `canvas` (H, W, C) at (row, col) `offset`."""
  placed, mask = _place(patch.astype(canvas.dtype), offset, canvas.shape[:2])
  return jnp.where(mask, placed, canvas)


def max_out_fuse(global_map: jax.Array, patches: dict, offsets: dict) -> jax.Array:
  """Element-wise max of the global map and each local output pasted at its place.

  Outside a patch the global path alone decides.
  """
  fused = global_map
  for name, patch in patches.items():
    placed, mask = _place(patch.astype(global_map.dtype), offsets[name], global_map.shape[:2])
    fused = jnp.where(mask, jnp.maximum(fused, placed), fused)
  return fused
