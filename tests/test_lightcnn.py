"""LightCNN in Flax NNX against the release's architecture in PyTorch, via the converter."""

import os
import subprocess
import sys

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hfr_jax.models import lightcnn
from hfr_jax.recognizer import pretrained

torch = pytest.importorskip('torch')
from hfr_jax.tools import convert_lightcnn  # noqa: E402
from hfr_jax.tools import lightcnn_torch  # noqa: E402

NUM_CLASSES = 10


def _release(arch, tmp_path, seed=0, legacy_format=False):
  """A torch model saved the way the released checkpoints are."""
  torch.manual_seed(seed)
  net = lightcnn_torch.create(arch, NUM_CLASSES).eval()
  with torch.no_grad():   # non-trivial biases, so a dropped bias would show
    for p in net.parameters():
      p.add_(0.01 * torch.randn_like(p))
  path = tmp_path / f'LightCNN_{arch}_checkpoint.pth.tar'
  torch.save({'epoch': 1, 'arch': arch,
              'state_dict': {'module.' + k: v for k, v in net.state_dict().items()}}, path,
             _use_new_zipfile_serialization=not legacy_format)
  return net, path


def _inputs(seed=1, n=2):
  return np.random.default_rng(seed).uniform(size=(n, 128, 128, 1)).astype(np.float32)


def _assert_same_outputs(net, model, x):
  with torch.no_grad():
    t_logits, t_feats = net(torch.from_numpy(x.transpose(0, 3, 1, 2)))
  logits, feats = model(x)
  np.testing.assert_allclose(feats, t_feats.numpy(), rtol=1e-4, atol=1e-4 * np.abs(
      t_feats.numpy()).max())
  np.testing.assert_allclose(logits, t_logits.numpy(), rtol=1e-4, atol=1e-4 * np.abs(
      t_logits.numpy()).max())


@pytest.mark.heavy(30)
@pytest.mark.parametrize('arch', ['29v2', '9', '29'])
def test_converted_release_matches_torch_features_and_logits(arch, tmp_path):
  net, path = _release(arch, tmp_path)
  model, meta = convert_lightcnn.convert_state_dict(convert_lightcnn.load_state_dict(path), arch)
  assert meta == dict(arch=arch, num_classes=NUM_CLASSES, width=1.0, input_size=128)
  _assert_same_outputs(net, model, _inputs())


@pytest.mark.heavy(45)
def test_cli_writes_a_directory_load_pretrained_reads(tmp_path):
  # The 2017/18 releases predate torch's zip format; weights_only must read the old one too.
  net, path = _release('29v2', tmp_path, seed=3, legacy_format=True)
  out = tmp_path / 'converted'
  proc = subprocess.run([sys.executable, '-m', 'hfr_jax.tools.convert_lightcnn',
                         f'--checkpoint={path}', '--arch=29v2', f'--output_dir={out}'],
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert sorted(os.listdir(out)) == ['export.json', 'params']
  _assert_same_outputs(net, pretrained.load_pretrained(str(out)), _inputs(seed=4))


class _Payload:
  def __reduce__(self):
    return (print, ('this would have run',))


def test_a_checkpoint_that_needs_code_is_refused(tmp_path):
  path = tmp_path / 'evil.pth'
  torch.save({'state_dict': {}, 'payload': _Payload()}, path)
  with pytest.raises(SystemExit, match='arbitrary pickled code'):
    convert_lightcnn.load_state_dict(str(path))


def test_wrong_architecture_is_a_clear_error(tmp_path):
  _, path = _release('9', tmp_path)
  with pytest.raises(SystemExit, match='not a LightCNN-29v2'):
    convert_lightcnn.convert_state_dict(convert_lightcnn.load_state_dict(path), '29v2')


def test_dropout_acts_only_in_train_mode():
  model = lightcnn.create('29v2', num_classes=4, width=0.25, input_size=32, rngs=nnx.Rngs(0))
  forward = nnx.jit(lambda m, x: m(x))   # one compile per mode instead of op-by-op dispatch
  x = _inputs()[:, :32, :32]
  model.eval()
  a, b = forward(model, x), forward(model, x)
  np.testing.assert_array_equal(a[0], b[0])
  model.train()
  c, d = forward(model, x), forward(model, x)
  assert not np.allclose(c[0], d[0])
  np.testing.assert_allclose(c[1], a[1], rtol=1e-6)   # 29v2 returns fc before dropout


def test_ceil_mode_max_pool_matches_torch_on_odd_sizes():
  # All-negative input: padding with zeros instead of -inf would change the last row/column.
  x = -np.random.default_rng(5).uniform(1, 2, size=(2, 7, 9, 3)).astype(np.float32)
  expected = torch.nn.functional.max_pool2d(torch.from_numpy(x.transpose(0, 3, 1, 2)), 2, 2,
                                            ceil_mode=True).numpy().transpose(0, 2, 3, 1)
  got = lightcnn.max_pool_ceil(x)
  assert got.shape == expected.shape == (2, 4, 5, 3)
  np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize('arch, num_classes', [('29v2', 80013), ('29', 79077), ('9', 79077)])
def test_paper_scale_shapes(arch, num_classes):
  def forward():
    model = lightcnn.create(arch, num_classes=num_classes, rngs=nnx.Rngs(0))
    return model(np.zeros((2, 128, 128, 1), np.float32))
  logits, feats = jax.eval_shape(forward)
  assert logits.shape == (2, num_classes) and feats.shape == (2, 256)


def test_param_dtype_sets_the_stored_parameters_dtype():
  model = nnx.eval_shape(lambda: lightcnn.create('29v2', num_classes=10, param_dtype=jnp.bfloat16,
                                                 rngs=nnx.Rngs(0)))
  dtypes = {p.dtype for p in jax.tree.leaves(nnx.state(model, nnx.Param))}
  assert dtypes == {jnp.dtype(jnp.bfloat16)}


def test_single_channel_conv_matches_the_convolution_and_its_gradients():
  """conv1's fused forward (shifted products) and conv backward equal lax.conv's, at odd sizes."""
  from hfr_jax.models.lightcnn import single_channel_conv
  conv = nnx.Conv(1, 6, (5, 5), padding=((2, 2), (2, 2)), rngs=nnx.Rngs(0))
  x = jnp.asarray(np.random.default_rng(0).random((2, 13, 10, 1), np.float32))
  weights = jnp.asarray(np.random.default_rng(1).normal(size=(2, 13, 10, 6)), jnp.float32)

  def grads(fn):
    loss = lambda conv, x: jnp.sum(jnp.tanh(fn(conv, x)) * weights)
    value, (g_conv, g_x) = nnx.value_and_grad(loss, argnums=(0, 1))(conv, x)
    return value, (g_conv.kernel[...], g_conv.bias[...], g_x)

  want = grads(lambda conv, x: conv(x))
  got = grads(lambda conv, x: single_channel_conv(x, conv))
  np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
  for g, w in zip(got[1], want[1]):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('arch', ['29', '29v2'])
def test_zero_init_residual_makes_every_block_the_identity_and_nothing_else(arch):
  model = lightcnn.create(arch, num_classes=4, width=0.25, input_size=32, rngs=nnx.Rngs(0))
  before = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))
  lightcnn.zero_init_residual(model)
  after = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param)))
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 1)))
  blocks = [b for name in ('block1', 'block2', 'block3', 'block4')
            for b in getattr(model, name)]
  assert len(blocks) == 1 + 2 + 3 + 4
  for block in blocks:
    channels = block.conv1.cout
    x_c = jnp.broadcast_to(x, (2, 8, 8, channels))
    np.testing.assert_array_equal(block(x_c), x_c)
  # Only the blocks' second convolutions changed (their kernels, to zero).
  flat_before = dict(jax.tree_util.tree_leaves_with_path(before))
  changed = {jax.tree_util.keystr(k) for k, v in jax.tree_util.tree_leaves_with_path(after)
             if not np.array_equal(v, flat_before[k])}
  assert len(changed) == len(blocks)
  assert all(k.endswith("['conv2']['filter']['kernel']") for k in changed), changed
