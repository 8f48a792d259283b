"""LightCNN-29v2: Flax NNX (jit) vs the same architecture in PyTorch CPU, one run.

python bench/lightcnn.py [--batch 32 --arch 29v2 --repeats 10 --num_classes 1000]
                         [--xla_default_convs] [--torch_channels_last]

Forward (inference) and one SGD training step (softmax cross-entropy, lr 1e-3,
momentum 0.9), images/s for both and the ratio ours / torch. Both use every
core: torch.set_num_threads(os.cpu_count()); XLA's CPU client does by default.
Both run float32. Targets: forward >= 1.25x, train >= 1.0x.

XLA (jax 0.10) hands convolutions to YNNPACK by default; on the 2-core Xeon this
was tuned on its own Eigen convolutions are faster for every LightCNN layer
(weight gradients ~4x, forward ~1.5x, float32 both), so the run turns the
YNNPACK convolutions off unless --xla_default_convs is given.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from timing import add_conv_flag, apply_conv_flag, median_time  # noqa: E402  (bench/timing.py)



def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--arch', default='29v2')
  parser.add_argument('--num_classes', type=int, default=1000)
  parser.add_argument('--repeats', type=int, default=10)
  add_conv_flag(parser)
  parser.add_argument('--torch_channels_last', action='store_true',
                      help='also time torch with channels_last tensors (oneDNN NHWC)')
  args = parser.parse_args()
  print('python bench/lightcnn.py ' + ' '.join(sys.argv[1:]))
  apply_conv_flag(args)
  # Imported here: XLA reads XLA_FLAGS once, when jax creates its CPU client.
  from flax import nnx
  import jax
  import optax
  import torch
  from hfr_jax.models import lightcnn
  from hfr_jax.tools import lightcnn_torch

  threads = os.cpu_count()
  torch.set_num_threads(threads)
  print(f'torch {torch.__version__} ({threads} threads), jax {jax.__version__} {jax.devices()}')
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(args.batch, 128, 128, 1)).astype(np.float32)
  y = rng.integers(0, args.num_classes, args.batch)

  # Flax.
  model = lightcnn.create(args.arch, num_classes=args.num_classes, rngs=nnx.Rngs(0))
  optimizer = nnx.Optimizer(model, optax.sgd(1e-3, momentum=0.9), wrt=nnx.Param)
  model.eval()
  forward = nnx.jit(lambda m, x: m(x))
  xj, yj = jax.device_put(x), jax.device_put(y)
  jax_fwd = median_time(lambda: jax.block_until_ready(forward(model, xj)), args.repeats)

  @nnx.jit
  def train_step(model, optimizer, x, y):
    def loss_fn(model):
      logits, _ = model(x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = nnx.value_and_grad(loss_fn)(model)
    optimizer.update(model, grads)
    return loss

  model.train()
  jax_train = median_time(lambda: jax.block_until_ready(train_step(model, optimizer, xj, yj)),
                          args.repeats)

  # PyTorch, same architecture and batch.
  def time_torch(channels_last):
    net = lightcnn_torch.create(args.arch, args.num_classes)
    xt, yt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
    if channels_last:
      net, xt = net.to(memory_format=torch.channels_last), xt.contiguous(
          memory_format=torch.channels_last)
    net.eval()
    def torch_forward():
      with torch.inference_mode():
        net(xt)
    fwd = median_time(torch_forward, args.repeats)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    def torch_step():
      opt.zero_grad(set_to_none=True)
      logits, _ = net(xt)
      torch.nn.functional.cross_entropy(logits, yt).backward()
      opt.step()
    return fwd, median_time(torch_step, args.repeats)

  b = args.batch
  for layout in ['NCHW'] + ['channels_last'] * args.torch_channels_last:
    torch_fwd, torch_train = time_torch(layout == 'channels_last')
    print(f'torch {layout}:')
    print(f'  forward  flax {b / jax_fwd:8.1f} img/s   torch {b / torch_fwd:8.1f} img/s   '
          f'ratio {torch_fwd / jax_fwd:.2f}x (target >= 1.25x)')
    print(f'  train    flax {b / jax_train:8.1f} img/s   torch {b / torch_train:8.1f} img/s   '
          f'ratio {torch_train / jax_train:.2f}x (target >= 1.0x)')


if __name__ == '__main__':
  main()
