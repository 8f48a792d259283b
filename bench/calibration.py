"""Does the synthetic set behave like real NIR-VIS captures? Ours beside published figures.

python bench/calibration.py --preset casia --seed 0 --workdir runs/calibration/casia_s0

For one preset and seed, prints beside the real-data references (README, Datasets):
- raw pixels (`configs/baseline.py`) NIR->VIS and VIS->VIS rank-1;
- the VIS-only `configs/lightcnn.py:cpu` recognizer's NIR->VIS, VIS->VIS and their ratio;
- landmark scatter within an identity (pose, expression) against between identities;
- with the `landmarks` extra, dlib's detection rate and 68-point error (bench/synthetic_realism.py).
Runs reuse WORKDIR/{recognizer,baseline}/results.json when present (delete to rerun). The
recognizer takes ~15 min on 2 cores, rendering ~4 min; the detector ~1 min per 100 faces.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hfr_jax import landmarks  # noqa: E402
from tfds_builders.synthetic_nir_vis import presets  # noqa: E402
from tfds_builders.synthetic_nir_vis import render  # noqa: E402
import synthetic_realism  # noqa: E402

# Rank-1 of recognizers trained on VIS photographs only, on CASIA NIR-VIS 2.0 NIR probes
# (no cross-spectral training), where VIS->VIS is near 100 %: the share of accuracy they keep.
REFERENCES = (
    ('LightCNN, generic crop', 65.2, 'bob.bio.htface transfer-learning study'),
    ('VGG16-Face, generic crop', 64.9, 'bob.bio.htface transfer-learning study'),
    ('Inception-ResNet, generic crop', '73.8-81.8', 'bob.bio.htface transfer-learning study'),
    ('LightCNN-29v2, its own alignment', 96.7, 'Wu et al. 2018, as released'),
    ('LightCNN (PCFH Table 1, fold 1)', 96.84, 'Yu et al. 2019'),
)
TARGET_RATIO = (0.60, 0.85)


def landmark_scatter(params: presets.RenderParams, seed: int, num_identities: int = 100,
                     scenes: int = 6, setting: str = render.VIS) -> tuple[float, float]:
  """(within, between): RMS landmark distance, in inter-ocular units, after a similarity fit.

  Each photo's 68 points are fitted onto the mean face (rotation, scale, shift: what
  alignment removes). within: RMS distance of a photo's points from its identity's mean
  photo; between: RMS distance of the identities' means from their grand mean.
  """
  canon = render._CANON
  shapes = np.zeros((num_identities, scenes, 68, 2))
  for i in range(num_identities):
    person = render.sample_identity(np.random.default_rng([seed, i]), params)
    for k in range(scenes):
      rng = np.random.default_rng([seed, i, 2, k])
      shapes[i, k] = _similarity_fit(render.sample_scene(person, rng, setting, 144).landmarks,
                                     canon)
  means = shapes.mean(axis=1, keepdims=True)
  within = np.sqrt(np.mean(np.sum((shapes - means) ** 2, -1)))
  between = np.sqrt(np.mean(np.sum((means - means.mean(axis=0)) ** 2, -1)))
  return float(within), float(between)


def _similarity_fit(points: np.ndarray, target: np.ndarray) -> np.ndarray:
  """`points` moved by the least-squares similarity onto `target` (the aligner's own)."""
  from hfr_jax.ops import align
  matrix = np.asarray(align.similarity_transform(points, target), np.float64)
  return points @ matrix[:, :2].T + matrix[:, 2]


def _run(config, workdir: str) -> dict:
  path = os.path.join(workdir, 'results.json')
  if not os.path.isfile(path):
    from hfr_jax import main   # imports JAX; the rest of this file needs none
    main.run(config, workdir)
  with open(path) as f:
    return json.load(f)


def recognition(preset: str, seed: int, workdir: str, steps: int | None) -> dict:
  """Rank-1 (%) of raw pixels and of the VIS-only cpu recognizer, on one rendered set."""
  import configs.baseline
  import configs.lightcnn
  rec = configs.lightcnn.get_config('cpu')
  rec.data.seed, rec.data.preset = seed, preset
  if steps:
    rec.train.num_steps = steps
  base = configs.baseline.get_config('default')
  base.data = rec.data   # the same set: gallery and probes as with 4 VIS, test_vis a superset
  r = _run(rec, os.path.join(workdir, 'recognizer'))
  b = _run(base, os.path.join(workdir, 'baseline'))
  rank1 = lambda res, key: 100 * res['metrics'][key]['rank1']
  return {'pixels_nir': rank1(b, 'nir_to_vis'), 'pixels_vis': rank1(b, 'vis_to_vis'),
          'cnn_nir': rank1(r, 'nir_to_vis'), 'cnn_vis': rank1(r, 'vis_to_vis'),
          'gallery': r['counts']['nir_to_vis']['num_gallery'] if 'counts' in r else None}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--preset', default=presets.DEFAULT_PRESET, choices=sorted(presets.PRESETS))
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--steps', type=int, default=None, help="recognizer steps (cpu's: 2000)")
  parser.add_argument('--detector_identities', type=int, default=200)
  parser.add_argument('--skip_recognition', action='store_true')
  args = parser.parse_args()
  print('python bench/calibration.py ' + ' '.join(sys.argv[1:]))
  params = presets.PRESETS[args.preset]
  rows = []
  if not args.skip_recognition:
    r = recognition(args.preset, args.seed, args.workdir, args.steps)
    ratio = r['cnn_nir'] / r['cnn_vis']
    ok = TARGET_RATIO[0] <= ratio <= TARGET_RATIO[1] and r['cnn_vis'] >= 90
    rows += [
        ('raw pixels NIR->VIS / VIS->VIS rank-1', f"{r['pixels_nir']:.2f} / {r['pixels_vis']:.2f} %",
         f"chance {100 / r['gallery']:.2f} %" if r['gallery'] else ''),
        ('cpu recognizer NIR->VIS / VIS->VIS rank-1', f"{r['cnn_nir']:.2f} / {r['cnn_vis']:.2f} %",
         'CASIA NIR-VIS 2.0: VIS->VIS ~100 %'),
        ('  its NIR share (NIR->VIS / VIS->VIS)', f'{100 * ratio:.1f} %',
         f'65-82 % generic crop, ~97 % LightCNN alignment; target 60-85 %: '
         f'{"PASS" if ok else "FAIL"}'),
        ('  over raw pixels NIR->VIS', f"{r['cnn_nir'] / max(r['pixels_nir'], 1e-9):.1f} x",
         'target >= 3 x'),
    ]
  within, between = landmark_scatter(params, args.seed)
  rows.append(('landmark scatter within / between identities', f'{within:.3f} / {between:.3f} IOD',
               'within: pose and expression; between: identity'))
  try:
    figures = synthetic_realism.detector_figures(params, args.seed, args.detector_identities, 144)
    for modality, (det, err) in figures.items():
      rows.append((f'dlib detection, 68-point error ({modality.upper()})',
                   f'{100 * det:.1f} %, {err.mean():.4f} IOD', 'target >= 97 %, <= 0.08'))
  except landmarks.LandmarksUnavailable as e:
    rows.append(('dlib detection', 'skipped', str(e).split(':')[0]))
  width = max(len(r[0]) for r in rows)
  print(f'\n{args.preset} preset, seed {args.seed}\n')
  for name, value, ref in rows:
    print(f'{name:<{width}}  {value:>24}   {ref}')
  print('\nPublished NIR->VIS rank-1 of VIS-only recognizers on CASIA NIR-VIS 2.0:')
  for name, value, source in REFERENCES:
    print(f'  {name:<36} {value:>9} %   {source}')


if __name__ == '__main__':
  main()
