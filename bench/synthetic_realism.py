"""How real do the synthetic faces look to a detector trained on photographs?

python bench/synthetic_realism.py [--preset casia --num_identities 200 --resolution 144 --seed 0]

dlib's HOG frontal face detector and its 68-point predictor (the `landmarks`
extra) run on one VIS and one NIR rendering per identity. Reports the
detection rate and the mean point error of the predictor against our stored
landmarks, in units of our outer-eye-corner distance (points 36, 45).
Targets: detection >= 0.97, mean error <= 0.08.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from hfr_jax import landmarks  # noqa: E402
from tfds_builders.synthetic_nir_vis import presets  # noqa: E402
from tfds_builders.synthetic_nir_vis import render  # noqa: E402
from tfds_builders.synthetic_nir_vis import synthetic_nir_vis_dataset_builder as sb  # noqa: E402

GROUPS = {'jaw': slice(0, 17), 'brows': slice(17, 27), 'nose': slice(27, 36),
          'eyes': slice(36, 48), 'mouth': slice(48, 68)}
TARGET_DETECTION, TARGET_ERROR = 0.97, 0.08


def detector_figures(params: presets.RenderParams, seed: int, num_identities: int,
                     resolution: int, upsample: int = 0) -> dict:
  """{modality: (detection rate, (n, 68) point errors in IOD units)} for 'nir' and 'vis'.

  The images are the builder's first NIR and VIS photo of each identity (same seeds).
  Raises landmarks.LandmarksUnavailable without the `landmarks` extra.
  """
  detector, predictor = landmarks.dlib_models()
  out = {}
  for k, modality in enumerate(sb.MODALITIES):
    found, errors = 0, []
    for i in range(num_identities):
      person = render.sample_identity(np.random.default_rng([seed, i]), params)
      image, ours = render.render(person, np.random.default_rng([seed, i, k + 1, 0]), modality,
                                  resolution)
      boxes = detector(image, upsample)
      if not boxes:
        continue
      found += 1
      shape = predictor(image, max(boxes, key=lambda b: b.area()))
      theirs = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
      errors.append(np.linalg.norm(theirs - ours, axis=1) / np.linalg.norm(ours[45] - ours[36]))
    out[modality] = (found / num_identities, np.array(errors).reshape(-1, 68))
  return out


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--preset', default=presets.DEFAULT_PRESET, choices=sorted(presets.PRESETS))
  parser.add_argument('--num_identities', type=int, default=200)
  parser.add_argument('--resolution', type=int, default=144)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--upsample', type=int, default=0)
  args = parser.parse_args()
  print('python bench/synthetic_realism.py ' + ' '.join(sys.argv[1:]))
  try:
    figures = detector_figures(presets.PRESETS[args.preset], args.seed, args.num_identities,
                               args.resolution, args.upsample)
  except landmarks.LandmarksUnavailable as e:
    sys.exit(str(e))
  for modality, (det, e) in figures.items():
    groups = '  '.join(f'{g} {e[:, s].mean():.3f}' for g, s in GROUPS.items())
    print(f'{modality:4s} detected {det:6.1%}  mean error {e.mean():.4f} IOD  ({groups})')
  det = min(d for d, _ in figures.values())
  err = np.concatenate([e for _, e in figures.values()]).mean()
  print(f'detection >= {TARGET_DETECTION} in each spectrum: '
        f'{"PASS" if det >= TARGET_DETECTION else "FAIL"} ({det:.3f}); '
        f'mean error <= {TARGET_ERROR}: {"PASS" if err <= TARGET_ERROR else "FAIL"} ({err:.4f})')


if __name__ == '__main__':
  main()
