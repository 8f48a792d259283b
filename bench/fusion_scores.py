"""Why the paper's equal-weight fused score can fall below GA(NIR) alone.

python bench/fusion_scores.py --scale cpu --seed 4 --export W/export \
    --recognizer F_DIR [--recognizer JUDGE_DIR ...]

PCFH scores a probe by the mean of two cosine scores against each gallery face: the
raw NIR probe's and GA(NIR)'s (Sec. 4.2, `evaluate.fused`). Per recognizer, over
the probes of `configs/pcfh.py:SCALE`'s synthetic test identities, this prints:

  d'          the genuine score's distance above the impostor scores' mean, in their
              standard deviations, per probe, averaged: how separable each score is
  rho         the correlation of raw's and GA's impostor scores, per probe, averaged
  Gaussian    for two such scores, the fused one's d' at weight w on GA is
              ((1 - w) d_raw + w d_ga) / sqrt((1 - w)^2 + w^2 + 2 w (1 - w) rho), best
              at w proportional to (d_ga - rho d_raw) against (d_raw - rho d_ga); equal
              weight beats GA alone only when d_raw > d_ga (sqrt(2 + 2 rho) - 1)
  rank-1      of the fused score at weights 0 (raw), 0.1, ..., 1 (GA alone)
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import pcfh as pcfh_config  # noqa: E402
from hfr_jax import datasets  # noqa: E402
from hfr_jax import evaluate  # noqa: E402
from hfr_jax import hallucinate  # noqa: E402
from hfr_jax.models import pcfh as pcfh_models  # noqa: E402
from hfr_jax.recognizer import pretrained  # noqa: E402


def separation(scores, probe_ids, gallery_ids):
  """Per probe: (d', the z-scored impostor scores [P, G - 1])."""
  genuine = np.asarray(gallery_ids)[None, :] == np.asarray(probe_ids)[:, None]
  if not np.all(genuine.sum(1) == 1):
    raise ValueError('each probe needs exactly one gallery face of its identity')
  impostor = scores[~genuine].reshape(len(scores), -1)
  mean, std = impostor.mean(1), impostor.std(1)
  return (scores[genuine] - mean) / std, (impostor - mean[:, None]) / std[:, None]


def gaussian_fusion(d_raw, d_ga, rho, w):
  """The fused score's d' at weight w on GA, for two unit-variance scores correlated rho."""
  return ((1 - w) * d_raw + w * d_ga) / np.sqrt((1 - w) ** 2 + w ** 2 + 2 * w * (1 - w) * rho)


def best_weight(d_raw, d_ga, rho):
  """argmax_w gaussian_fusion: Fisher's weights Sigma^-1 d, normalised, clipped to [0, 1]."""
  a, b = d_raw - rho * d_ga, d_ga - rho * d_raw
  return float(np.clip(b / (a + b), 0.0, 1.0))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--scale', default='cpu', help='of configs/pcfh.py: cpu, demo, ...')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--export', required=True, help='a PCFH export directory')
  parser.add_argument('--recognizer', action='append', required=True,
                      help='a LightCNN load_pretrained directory (F, the judge, ...)')
  args = parser.parse_args()
  print('python bench/fusion_scores.py ' + ' '.join(sys.argv[1:]))
  config = pcfh_config.get_config(args.scale)
  config.data.seed = args.seed
  builder = datasets.prepare(config.data)
  ga = pcfh_models.NIRToVIS(hallucinate.load_generator(args.export))
  weights = np.round(np.linspace(0.0, 1.0, 11), 2)
  for directory in args.recognizer:
    curves = evaluate.generation_curves(ga, {'r': pretrained.load_pretrained(directory)},
                                        builder, name='pcfh', vis_to_vis=False).curves['r']
    (s_raw, ids, gids), s_ga = curves['raw_nir'], curves['pcfh'][0]
    d_raw, z_raw = separation(np.asarray(s_raw), ids, gids)
    d_ga, z_ga = separation(np.asarray(s_ga), ids, gids)
    rho = float(np.mean((z_raw * z_ga).mean(1)))
    d_raw, d_ga = float(d_raw.mean()), float(d_ga.mean())
    print(f'\n{directory}: {len(ids)} probes')
    print(f"  d' raw {d_raw:.2f}, GA {d_ga:.2f}; rho {rho:.3f}")
    print(f"  Gaussian: equal weight d' {gaussian_fusion(d_raw, d_ga, rho, 0.5):.2f} "
          f"(GA alone {d_ga:.2f}; equal weight helps when d' raw > "
          f"{d_ga * (np.sqrt(2 + 2 * rho) - 1):.2f}); best weight on GA "
          f"{best_weight(d_raw, d_ga, rho):.2f}")
    _, ranks = evaluate.fusion_weight(curves, 'pcfh', weights)   # {weight: rank-1}
    print('  weight on GA ' + ' '.join(f'{w:6.1f}' for w in ranks))
    print('  rank-1 (%)   ' + ' '.join(f'{100 * r:6.2f}' for r in ranks.values()))


if __name__ == '__main__':
  main()
