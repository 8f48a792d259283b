"""What SSIM / PSNR to the VIS twin do images that learned nothing reach?

python bench/twin_fidelity.py [--scale cpu --seed 0 --export WORKDIR/export ...]

GA(NIR)'s fidelity in results.json (evaluate.image_fidelity against each probe's
VIS twin) has raw NIR as its floor; this puts both on a wider scale. Rows, over
the probes of `configs/pcfh.py:SCALE`'s synthetic test identities:

  raw NIR               the probe in gray: results.json's floor
  flat gray             no face at all: what SSIM gives for structure-free images
  NIR Y + mean colour   the probe's own luminance, the mean colour of the twins
  NIR Y + twin colour   the same with each twin's own chroma (oracle): the most a GA
                        held to its probe's luminance (PCFH's LY, Eq. 4) can reach
  warped gallery VIS    the identity's gallery face warped onto the probe's
                        landmarks (warp.idw_warp, the AWM's target)
  twin Y in gray        the twin's luminance, no colour (oracle)
  GA(NIR) of EXPORT     each --export (a PCFH run's WORKDIR/export), as results.json scores it,
                        then its luminance alone in gray (what F and LY see), and the
                        probe's luminance with GA's chroma: which of the two GA loses SSIM in

Columns: SSIM and PSNR over the whole frame (results.json's), and SSIM over the
face alone (the SSIM map's windows centred in the box of the 68 landmarks): the
twins' backgrounds are drawn at random, unlike the probes' and the gallery's.
"""

import argparse
import os
import sys

import dm_pix as pix
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from configs import pcfh as pcfh_config  # noqa: E402
from hfr_jax import datasets  # noqa: E402
from hfr_jax import evaluate  # noqa: E402
from hfr_jax import hallucinate  # noqa: E402
from hfr_jax import input_pipeline  # noqa: E402
from hfr_jax.ops import color  # noqa: E402
from hfr_jax.ops import warp  # noqa: E402


def with_luminance(y, cbcr):
  """RGB in [0, 1] from (N, H, W, 1) Y and a CbCr broadcastable to (N, H, W, 2)."""
  cbcr = jnp.broadcast_to(cbcr, y.shape[:3] + (2,))
  return jnp.clip(color.ycbcr_to_rgb(jnp.concatenate([y, cbcr], -1)), 0.0, 1.0)


def face_ssim(images, targets, landmarks, filter_size: int = 11):
  """Mean of dm-pix's SSIM map over the windows centred inside the landmarks' box."""
  ssim_map = pix.ssim(images, targets, filter_size=filter_size, return_map=True).mean(-1)
  h = ssim_map.shape[1]
  centre = jnp.arange(h, dtype=jnp.float32) + (filter_size - 1) / 2   # valid-mode windows
  lo, hi = landmarks.min(1), landmarks.max(1)                          # (N, 2): x, y
  inside = lambda axis: ((centre[None] >= lo[:, axis, None]) & (centre[None] <= hi[:, axis, None]))
  mask = inside(1)[:, :, None] & inside(0)[:, None, :]
  return (ssim_map * mask).sum((1, 2)) / mask.sum((1, 2))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--scale', default='cpu', help='of configs/pcfh.py: cpu, demo, ...')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--export', action='append', default=[], help='a PCFH export directory')
  args = parser.parse_args()
  print('python bench/twin_fidelity.py ' + ' '.join(sys.argv[1:]))
  config = pcfh_config.get_config(args.scale)
  config.data.seed = args.seed
  builder = datasets.prepare(config.data)
  (images, landmarks, twins), probe_ids = evaluate.split_outputs(
      lambda b: (b['image'], b['landmarks'], b['vis_twin']), builder, 'probe',
      modality=input_pipeline.NIR, twins=True)
  gallery, gallery_landmarks, gallery_ids = evaluate.read_images(builder, 'gallery')
  first = {int(i): k for k, i in reversed(list(enumerate(gallery_ids)))}
  g = np.array([first[int(i)] for i in probe_ids])

  x = jnp.asarray(images, jnp.float32) / 255.0
  t = jnp.asarray(twins, jnp.float32) / 255.0
  y_nir = color.rgb_to_gray(x)[..., None]
  ycc = color.rgb_to_ycbcr(t)
  mean_cbcr = ycc[..., 1:].mean((0, 1, 2))
  warped = jax.vmap(warp.idw_warp)(jnp.asarray(gallery[g], jnp.float32) / 255.0,
                                   jnp.asarray(gallery_landmarks[g]), jnp.asarray(landmarks))
  rows = {
      'raw NIR': jnp.repeat(y_nir, 3, -1),
      'flat gray': jnp.full_like(t, float(t.mean())),
      'NIR Y + mean colour': with_luminance(y_nir, mean_cbcr),
      'NIR Y + twin colour': with_luminance(y_nir, ycc[..., 1:]),
      'warped gallery VIS': jnp.clip(warped, 0.0, 1.0),
      'twin Y in gray': jnp.repeat(ycc[..., :1], 3, -1),
  }
  for k, directory in enumerate(args.export, 1):
    ga = hallucinate.load_generator(directory)
    fake = jnp.concatenate([
        hallucinate.hallucinate(ga, images[i:i + 64], landmarks[i:i + 64])
        for i in range(0, len(images), 64)]).astype(jnp.float32) / 255.0
    fake_ycc = color.rgb_to_ycbcr(fake)
    rows[f'GA(NIR) [{k}] of {directory}'] = fake
    rows[f'  [{k}] its luminance in gray'] = jnp.repeat(fake_ycc[..., :1], 3, -1)
    rows[f'  [{k}] NIR Y + its colour'] = with_luminance(y_nir, fake_ycc[..., 1:])
  print(f'{len(t)} probes of configs/pcfh.py:{args.scale}, seed {args.seed}')
  width = max(map(len, rows))
  print(f'{"image":{width}s} {"SSIM":>7s} {"PSNR":>7s} {"face SSIM":>10s}')
  points = jnp.asarray(landmarks, jnp.float32)
  for name, image in rows.items():
    psnr, ssim = evaluate.image_fidelity(image, t)
    face = face_ssim(image, t, points)
    print(f'{name:{width}s} {float(ssim.mean()):7.4f} {float(psnr.mean()):7.2f} '
          f'{float(face.mean()):10.4f}')


if __name__ == '__main__':
  main()
