"""Convert a released LightCNN PyTorch checkpoint into a `load_pretrained` directory.

python -m hfr_jax.tools.convert_lightcnn --checkpoint=LightCNN_29Layers_V2_checkpoint.pth.tar \
    --arch=29v2 --output_dir=DIR

Loads with `torch.load(weights_only=True)`: a checkpoint from the internet
must not run code, so a pickle that needs more than tensors is refused.
"""

import pickle
import re

from absl import app
from absl import flags
from flax import nnx
import numpy as np

from hfr_jax.models import lightcnn
from hfr_jax.recognizer import pretrained

# LightCNN-9 keeps its trunk in an nn.Sequential: index -> our attribute.
_NINE_LAYER_NAMES = {'features.0.': 'conv1.', 'features.2.': 'group1.', 'features.4.': 'group2.',
                     'features.6.': 'group3.', 'features.7.': 'group4.', 'fc1.': 'fc.'}


def _torch():
  try:
    import torch
  except ImportError as e:
    raise SystemExit("convert_lightcnn needs torch: pip install -e '.[convert]' "
                     '(torch==2.13.0, the CPU build)') from e
  return torch


def load_state_dict(path: str) -> dict:
  """Tensors of a released checkpoint as numpy, without `module.` prefixes."""
  torch = _torch()
  try:
    checkpoint = torch.load(path, map_location='cpu', weights_only=True)
  except FileNotFoundError as e:
    raise SystemExit(f'--checkpoint: {path}: no such file') from e
  except pickle.UnpicklingError as e:
    raise SystemExit(f'--checkpoint: {path} needs arbitrary pickled code to load; refused '
                     '(only plain tensor checkpoints are accepted)') from e
  state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
  if not isinstance(state, dict):
    raise SystemExit(f'--checkpoint: {path} holds no state_dict')
  return {re.sub(r'^module\.', '', k): v.detach().cpu().numpy() for k, v in state.items()
          if hasattr(v, 'detach')}


def _our_path(key: str, arch: str):
  if arch == '9':
    for old, new in _NINE_LAYER_NAMES.items():
      if key.startswith(old):
        key = new + key[len(old):]
  *path, leaf = key.split('.')
  path = [int(p) if p.isdigit() else p for p in path]
  return tuple(path) + ({'weight': 'kernel', 'bias': 'bias'}[leaf],)


def convert_state_dict(state_dict: dict, arch: str):
  """numpy state_dict (official names) -> (model, metadata) with converted weights."""
  if arch not in lightcnn.ARCHITECTURES:
    raise SystemExit(f'--arch: {arch!r} is not one of {sorted(lightcnn.ARCHITECTURES)}')
  try:
    conv1 = state_dict['conv1.filter.weight' if arch != '9' else 'features.0.filter.weight']
    num_classes = state_dict['fc2.weight'].shape[0]
  except KeyError as e:
    raise SystemExit(f'checkpoint lacks {e.args[0]!r}: not a LightCNN-{arch} state_dict '
                     f'(keys: {sorted(state_dict)[:5]} ...)') from e
  width = conv1.shape[0] / 2 / 48
  fc_key = {'9': 'fc1.filter.weight', '29': 'fc.filter.weight', '29v2': 'fc.weight'}[arch]
  last_channels = max(1, int(round(128 * width)))
  side = int(round(np.sqrt(state_dict[fc_key].shape[1] / last_channels)))
  meta = dict(arch=arch, num_classes=int(num_classes), width=width, input_size=16 * side)
  model = lightcnn.create(arch, num_classes=meta['num_classes'], width=width,
                          input_size=meta['input_size'], rngs=nnx.Rngs(0))
  params = nnx.state(model, nnx.Param)
  flat = dict(nnx.to_flat_state(params))
  unused = []
  converted = {}
  for key, value in state_dict.items():
    path = _our_path(key, arch) if key.split('.')[-1] in ('weight', 'bias') else None
    if path not in flat:
      unused.append(key)
      continue
    if value.ndim == 4:                                     # OIHW -> HWIO
      value = value.transpose(2, 3, 1, 0)
    elif value.ndim == 2:
      if key == fc_key:                                     # rows (C, H, W) -> (H, W, C)
        out = value.shape[0]
        value = value.reshape(out, last_channels, side, side).transpose(0, 2, 3, 1)
        value = value.reshape(out, -1)
      value = value.T
    expected = flat[path][...].shape
    if value.shape != expected:
      raise SystemExit(f'{key}: shape {value.shape} does not fit {"/".join(map(str, path))} '
                       f'{expected}')
    converted[path] = value
  missing = [('/'.join(map(str, p))) for p in flat if p not in converted]
  if unused or missing:
    raise SystemExit(f'checkpoint does not match LightCNN-{arch}: unexpected {unused[:4]}, '
                     f'missing {missing[:4]}')
  for path, value in converted.items():
    flat[path][...] = value.astype(np.float32)
  nnx.update(model, nnx.from_flat_state(flat))
  model.eval()
  return model, meta


_CHECKPOINT = flags.DEFINE_string('checkpoint', None, 'Released .pth / .pth.tar checkpoint.')
_ARCH = flags.DEFINE_enum('arch', '29v2', sorted(lightcnn.ARCHITECTURES), 'LightCNN variant.')
_OUTPUT = flags.DEFINE_string('output_dir', None, 'Where the converted model goes.')


def main(argv):
  del argv
  model, meta = convert_state_dict(load_state_dict(_CHECKPOINT.value), _ARCH.value)
  pretrained.save_pretrained(model, _OUTPUT.value, **meta)
  print(f'LightCNN-{meta["arch"]} ({meta["num_classes"]} classes) written to {_OUTPUT.value}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['checkpoint', 'output_dir'])
  app.run(main)
