"""How real do the synthetic faces look to a detector trained on photographs?

python bench/synthetic_realism.py [--num_identities 200 --resolution 144 --seed 0 --upsample 0]

dlib's HOG frontal face detector and its 68-point predictor (the `landmarks`
extra) run on one VIS and one NIR rendering per identity. Reports the
detection rate and the mean point error of the predictor against our stored
landmarks, in units of our outer-eye-corner distance (points 36, 45).
Targets: detection >= 0.90, mean error <= 0.08.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from hfr_jax import landmarks  # noqa: E402
from tfds_builders.synthetic_nir_vis import render  # noqa: E402
from tfds_builders.synthetic_nir_vis import synthetic_nir_vis_dataset_builder as sb  # noqa: E402

GROUPS = {'jaw': slice(0, 17), 'brows': slice(17, 27), 'nose': slice(27, 36),
          'eyes': slice(36, 48), 'mouth': slice(48, 68)}


def load_dlib():
  try:
    return landmarks.dlib_models()
  except landmarks.LandmarksUnavailable as e:
    sys.exit(str(e))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--num_identities', type=int, default=200)
  parser.add_argument('--resolution', type=int, default=144)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--upsample', type=int, default=0)
  args = parser.parse_args()
  print('python bench/synthetic_realism.py ' + ' '.join(sys.argv[1:]))
  detector, predictor = load_dlib()
  found = {m: 0 for m in sb.MODALITIES}
  errors = {m: [] for m in sb.MODALITIES}
  for i in range(args.num_identities):
    person = render.sample_identity(np.random.default_rng([args.seed, i]))
    for k, modality in enumerate(sb.MODALITIES):   # same per-image seeds as the builder
      rng = np.random.default_rng([args.seed, i, k + 1, 0])
      image, ours = render.render(person, rng, modality, args.resolution)
      boxes = detector(image, args.upsample)
      if not boxes:
        continue
      found[modality] += 1
      shape = predictor(image, max(boxes, key=lambda b: b.area()))
      theirs = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
      iod = np.linalg.norm(ours[45] - ours[36])
      errors[modality].append(np.linalg.norm(theirs - ours, axis=1) / iod)
  n = args.num_identities
  for modality in sb.MODALITIES + ('all',):
    errs = sum(errors.values(), []) if modality == 'all' else errors[modality]
    det = (sum(found.values()) / (2 * n)) if modality == 'all' else found[modality] / n
    e = np.array(errs)
    groups = '  '.join(f'{g} {e[:, s].mean():.3f}' for g, s in GROUPS.items())
    print(f'{modality:4s} detected {det:6.1%}  mean error {e.mean():.4f} IOD  ({groups})')
  det_all = sum(found.values()) / (2 * n)
  err_all = np.array(sum(errors.values(), [])).mean()
  print(f'detection >= 0.90: {"PASS" if det_all >= 0.9 else "FAIL"} ({det_all:.3f}); '
        f'mean error <= 0.08: {"PASS" if err_all <= 0.08 else "FAIL"} ({err_all:.4f})')


if __name__ == '__main__':
  main()
