"""Which part of GA(NIR) does the photo judge (dlib, real photographs) lose identity in?

python bench/photo_judge_diagnosis.py --scale cpu --seed 0 --export WORKDIR/export

GA(NIR) is scored by a recognizer trained on real photographs
(hfr_jax/recognizer/photo_judge.py) as results.json scores it: rank-1 of the
synthetic test probes against the VIS gallery. Then parts of it are swapped for
the probe's or the twin's, in BT.601 YCbCr, to see which part carries or loses the
person:

  raw NIR                         the probe as captured
  GA(NIR)                         as results.json's photo judge row
  GA luminance, gray              GA's Y alone: what F and Eq. (4)'s LY see
  probe luminance + GA chroma     the probe's Y, GA's colour
  GA luminance + twin chroma      GA's Y with the twin's colour (oracle colour)
  GA(NIR) blurred, sigma 1 / 2    high-frequency texture removed
  probe blurred, sigma 1          the same blur on the probe: what blur alone costs
  twin luminance, gray            the twin's Y (oracle): how far luminance alone can go
  VIS twin                        the ceiling

and each row's mean cosine to the probe's own VIS twin under the photo judge.
"""

import argparse
import os
import sys

import jax.numpy as jnp
import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from configs import pcfh as pcfh_config  # noqa: E402
from hfr_jax import datasets  # noqa: E402
from hfr_jax import evaluate  # noqa: E402
from hfr_jax import hallucinate  # noqa: E402
from hfr_jax import input_pipeline  # noqa: E402
from hfr_jax import metrics  # noqa: E402
from hfr_jax.models import pcfh as pcfh_models  # noqa: E402
from hfr_jax.ops import color  # noqa: E402
from hfr_jax.recognizer import photo_judge  # noqa: E402


def to_uint8(x):
  return np.round(np.clip(np.asarray(x), 0.0, 1.0) * 255.0).astype(np.uint8)


def ycbcr(images):
  return np.asarray(color.rgb_to_ycbcr(jnp.asarray(images, jnp.float32) / 255.0))


def gray(y):
  return to_uint8(np.repeat(y[..., :1], 3, axis=-1))


def combine(y, cbcr):
  """uint8 RGB of the Y of `y` and the CbCr of `cbcr` (both YCbCr in [0, 1])."""
  return to_uint8(color.ycbcr_to_rgb(jnp.asarray(np.concatenate([y[..., :1], cbcr[..., 1:]], -1))))


def blur(images, sigma):
  return to_uint8(ndimage.gaussian_filter(images / 255.0, (0, sigma, sigma, 0)))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--scale', default='cpu', help='of configs/pcfh.py: cpu, demo, ...')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--export', required=True, help='a PCFH export directory')
  parser.add_argument('--batch_size', type=int, default=64)
  args = parser.parse_args()
  print('python bench/photo_judge_diagnosis.py ' + ' '.join(sys.argv[1:]))
  config = pcfh_config.get_config(args.scale)
  config.data.seed = args.seed
  builder = datasets.prepare(config.data)
  (probes, landmarks, twins), ids = evaluate.split_outputs(
      lambda b: (b['image'], b['landmarks'], b['vis_twin']), builder, 'probe',
      modality=input_pipeline.NIR, twins=True)
  gallery, gallery_landmarks, gallery_ids = evaluate.read_images(builder, 'gallery')
  ga = pcfh_models.NIRToVIS(hallucinate.load_generator(args.export))
  fake = np.concatenate([
      to_uint8(ga(jnp.asarray(probes[i:i + args.batch_size], jnp.float32) / 255.0,
                  jnp.asarray(landmarks[i:i + args.batch_size])))
      for i in range(0, len(probes), args.batch_size)])

  y_ga, y_probe, y_twin = ycbcr(fake), ycbcr(probes), ycbcr(twins)
  rows = {
      'raw NIR': probes,
      'GA(NIR)': fake,
      'GA luminance, gray': gray(y_ga),
      'probe luminance + GA chroma': combine(y_probe, y_ga),
      'GA luminance + twin chroma': combine(y_ga, y_twin),
      'GA(NIR) blurred, sigma 1': blur(fake, 1.0),
      'GA(NIR) blurred, sigma 2': blur(fake, 2.0),
      'probe blurred, sigma 1': blur(probes, 1.0),
      'twin luminance, gray': gray(y_twin),
      'VIS twin': twins,
  }
  g = photo_judge.descriptors(gallery, gallery_landmarks)
  t = photo_judge.descriptors(twins, landmarks)
  print(f'\n{len(ids)} probes of {len(np.unique(ids))} identities vs {len(gallery_ids)} gallery '
        f'faces; photo judge ({photo_judge.DESCRIBE["arch"]})\n')
  print(f'{"images":32s} {"rank-1 %":>9s} {"cosine to own twin":>19s}')
  for name, images in rows.items():
    p = photo_judge.descriptors(images, landmarks)
    rank1 = metrics.rank_k_accuracy(metrics.cosine_similarity(p, g), ids, gallery_ids)
    own = metrics.twin_fidelity(p, t, ids)['cosine']
    print(f'{name:32s} {100 * rank1:9.2f} {own:19.3f}', flush=True)


if __name__ == '__main__':
  main()
