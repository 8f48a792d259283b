"""IDW warp throughput: jit'd JAX vs a vectorised numpy reference, same run.

python bench/warp.py [--batch 32 --size 144 --points 68 --repeats 5]

Prints images/s for each and the ratio.
"""

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from hfr_jax.ops import warp  # noqa: E402
from timing import median_time  # noqa: E402


def numpy_idw_warp(image, src, dst, power=2.0):
  """Vectorised float32 numpy: (HW, K) weights, then bilinear sampling.

  On a control point d is the mean displacement of the points on it (ops/warp.py).
  """
  h, w = image.shape[:2]
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
  p = np.stack([xs.ravel(), ys.ravel()], -1)
  d2 = ((p[:, None, :] - dst[None]) ** 2).sum(-1)
  hit = d2 == 0
  wk = np.where(hit, 0, 1 / np.where(hit, 1, d2) ** (power / 2))
  d = wk @ (src - dst) / wk.sum(1, keepdims=True)
  rows = hit.any(1)
  d[rows] = hit[rows] @ (src - dst) / hit[rows].sum(1, keepdims=True)   # ties: mean
  x = np.clip(p[:, 0] + d[:, 0], 0, w - 1)
  y = np.clip(p[:, 1] + d[:, 1], 0, h - 1)
  x0 = np.minimum(x.astype(np.int32), w - 2)
  y0 = np.minimum(y.astype(np.int32), h - 2)
  fx, fy = (x - x0)[:, None], (y - y0)[:, None]
  out = ((image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx) * (1 - fy)
         + (image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx) * fy)
  return out.reshape(image.shape)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--size', type=int, default=144)
  parser.add_argument('--points', type=int, default=68)
  parser.add_argument("--repeats", type=int, default=10)
  args = parser.parse_args()
  print('python bench/warp.py ' + ' '.join(sys.argv[1:]))
  print(f'devices: {jax.devices()}')
  rng = np.random.default_rng(0)
  b, s, k = args.batch, args.size, args.points
  images = rng.uniform(size=(b, s, s, 3)).astype(np.float32)
  dst = rng.uniform(10, s - 10, size=(b, k, 2)).astype(np.float32)
  src = (dst + rng.normal(scale=4, size=dst.shape)).astype(np.float32)

  results = {}
  for name, fn in (('jax (ours)', warp.idw_warp),):
    f = jax.jit(jax.vmap(fn))
    args_dev = [jnp.asarray(a) for a in (images, src, dst)]
    out = f(*args_dev).block_until_ready()   # compile + warm-up
    results[name] = median_time(lambda: f(*args_dev).block_until_ready(), args.repeats, warmup=0)
  ref = lambda: [numpy_idw_warp(images[i], src[i], dst[i]) for i in range(b)]
  np.testing.assert_allclose(np.asarray(out)[0], ref()[0], atol=1e-3)
  results['numpy reference'] = median_time(ref, max(2, args.repeats // 2), warmup=0)

  base = results['numpy reference']
  for name, t in results.items():
    print(f'{name:22s} {b / t:10.1f} img/s   {base / t:8.1f}x numpy')
  print(f'RATIO ours/numpy = {base / results["jax (ours)"]:.1f}x (target >= 100x)')


if __name__ == '__main__':
  main()
