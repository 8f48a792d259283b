"""Input pipeline throughput: paired (PCFH) and eval batches per second.

python bench/input_pipeline.py [--data_dir DIR --batch 32 --batches 50 --num_threads 4]

Builds (or reuses) the paper-scale synthetic set (144x144) first.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from configs import common  # noqa: E402
from hfr_jax import datasets  # noqa: E402
from hfr_jax import input_pipeline  # noqa: E402


def rate(iterator, batches: int, warmup: int = 3) -> float:
  for _ in range(warmup):
    next(iterator)
  t = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches / (time.perf_counter() - t)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--num_identities', type=int, default=360)
  parser.add_argument('--resolution', type=int, default=144)
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--batches', type=int, default=50)
  parser.add_argument('--num_threads', type=int, default=4)
  args = parser.parse_args()
  print('python bench/input_pipeline.py ' + ' '.join(sys.argv[1:]))
  data = common.synthetic_config('default')
  data.data_dir = args.data_dir
  data.num_identities, data.resolution = args.num_identities, args.resolution
  builder = datasets.prepare(data)
  source, index = input_pipeline.open_split(builder, 'train')
  paired = iter(input_pipeline.paired(source, index, batch_size=args.batch, seed=0,
                                      num_threads=args.num_threads))
  r = rate(paired, args.batches)
  print(f'paired   batch {args.batch} at {args.resolution}^2: {r:7.1f} batches/s '
        f'({2 * args.batch * r:.0f} images/s, {args.num_threads} threads)')
  source, index = input_pipeline.open_split(builder, 'probe')
  n = len(index.identity) // args.batch
  evaluation = iter(input_pipeline.evaluation(source, index, batch_size=args.batch,
                                              num_threads=args.num_threads))
  r = rate(evaluation, min(args.batches, n - 3))
  print(f'eval     batch {args.batch} at {args.resolution}^2: {r:7.1f} batches/s '
        f'({args.batch * r:.0f} images/s)')


if __name__ == '__main__':
  main()
