"""PCFH's losses, Eq. (1)-(9), as pure functions of arrays.

The paper writes every pixel term as E |.|_1 and gives no reduction. We read
it so that the paper's weights make every term O(0.01-1), like the
adversarial one:
* a per-sample L1 norm (sum over pixels or feature dimensions), batch mean,
  for Lrec, LID, LAWM and Att's sparsity: lambda1 = lambda4 = 2.5e-5 times a
  sum over 144 x 144 x 3 pixels is O(1), and lambda2 = 0.002 times a sum over
  256 features too;
* a per-pixel mean for LY (lambda3 = 0.1) and the first term of LA
  (alpha1 = 3), whose weights would make them 10^3-10^5 times everything else
  as sums.
Images are NHWC in [-1, 1]; attention maps (N, H, W, 1) in [0, 1] act on the
[0, 1] images (`attend`). GAN terms (Eq. 1 with DA's hinge loss) and the L1
norms are shared with every method: `hfr_jax.gan_losses`.
"""

from flax import nnx
import jax.numpy as jnp

from hfr_jax import gan_losses
from hfr_jax.ops import color
from hfr_jax.recognizer import losses as recognizer_losses


def cycle(reconstructed_nir, nir, lambda1):
  """Eq. (2): Lrec = lambda1 E |GB(GA(IN)) - IN|_1."""
  return lambda1 * gan_losses.l1_norm(reconstructed_nir - nir)


def identity(features_vis, features_fake, lambda2):
  """Eq. (3): LID = lambda2 E |F(IV) - F(GA(IN))|_1 on the recognizer's 256-d features."""
  return lambda2 * gan_losses.l1_norm(features_vis - features_fake)


def unit_rms(features):
  """f / |f|_2 * sqrt(d): each feature vector on the sphere of radius sqrt(d), so its
  elements have unit RMS whatever F's scale.

  LID's weight lambda2 = 0.002 times a sum over 256 features is O(1) only for features of
  O(1) elements; a recognizer trained with a margin softmax on the hypersphere (CosFace)
  leaves the norm free (the demo's F: |f|_2 ~ 120, elements ~ 6), which multiplies LID
  against every other term. Cosine scoring ignores the norm too.
  """
  return recognizer_losses.l2_normalize(features) * jnp.sqrt(features.shape[-1])


def warmup(step, steps: int):
  """min(1, step / steps): a weight ramped in linearly over `steps` (0 or no step: 1)."""
  if not steps or step is None:
    return 1.0
  return jnp.minimum(1.0, step.astype(jnp.float32) / steps)


def box_pool(maps, k: int):
  """Mean over non-overlapping k x k blocks of (N, H, W) maps: (N, H / k, W / k)."""
  _, h, w = maps.shape
  if h % k or w % k:   # 'VALID' pooling would drop the remainder silently
    raise ValueError(f'loss.luminance_pool={k} must divide the image size {h}x{w}')
  return nnx.avg_pool(maps[..., None], (k, k), strides=(k, k), padding='VALID')[..., 0]


def luminance(fake_vis, nir, lambda3, pool: int = 1):
  """Eq. (4): LY = lambda3 E |Y(GA(IN)) - Y(IN)|_1, Y of BT.601 YCbCr.

  Works on [-1, 1] images: Y is linear with unit row sum, so Y of the [0, 1]
  image is (Y + 1) / 2 and the difference only halves. NIR is gray: Y(IN) = IN.
  `pool` > 1 compares k x k block means of Y (a low-pass): the paper asks LY to keep
  "a global structure"; at full resolution it also asks GA to keep the probe's sensor
  noise. 1: the paper's per-pixel term.
  """
  to_unit = lambda x: (x + 1.0) / 2.0
  y_fake = color.rgb_to_ycbcr(to_unit(fake_vis))[..., 0]
  y_nir = to_unit(nir[..., 0]) if nir.shape[-1] == 1 else color.rgb_to_gray(to_unit(nir))
  if pool > 1:
    y_fake, y_nir = box_pool(y_fake, pool), box_pool(y_nir, pool)
  return lambda3 * gan_losses.l1_mean(y_fake - y_nir)


def nuclear_norm(maps):
  """Sum of singular values of each (H, W) map, averaged over the batch.

  The convex envelope of rank on the spectral-norm ball (Fazel 2002): the
  differentiable stand-in for rank(Att) in Eq. (7).
  """
  return jnp.linalg.svd(maps[..., 0], compute_uv=False).sum(axis=-1).mean()


def attend(att, image):
  """A(x) = Att * x on the [0, 1] image.

  On [-1, 1] images a product with Att in [0, 1] pulls dark pixels up and
  bright ones down: the best map would then follow the sign of the pixel,
  not where the warp can be trusted. On [0, 1], Att = 0 means "ignore".
  """
  return att * (image + 1.0) / 2.0


def attention(att, fake_vis, warped_vis, alpha1, alpha2, alpha3):
  """Eq. (7): LA = a1 E |A(GA(IN)) - IWarp|_1 + a2 rank(Att) + a3 |Att|_1.

  IWarp on [0, 1] like A(GA(IN)); the first term (per-pixel mean) keeps Att
  from collapsing to 0, the sparsity term from settling at 1.
  """
  to_unit = (warped_vis + 1.0) / 2.0
  return (alpha1 * gan_losses.l1_mean(attend(att, fake_vis) - to_unit) + alpha2 * nuclear_norm(att)
          + alpha3 * gan_losses.l1_norm(att))


def attention_warping(att, fake_vis, warped_vis, lambda4):
  """Eq. (8): LAWM = lambda4 E |A(GA(IN)) - A(IWarp)|_1."""
  return lambda4 * gan_losses.l1_norm(attend(att, fake_vis) - attend(att, warped_vis))


def mutual_information_constraint(mi_fake_vis, mi_fake_nir, lambda5):
  """Eq. (9) as a loss to minimise: -lambda5 (I(GA(IN), IV) - I(GA(IN), IN)).

  Sec. 3.4 asks to maximise the first mutual information and minimise the
  second; Eq. (9) writes the quantity to be maximised, so the generator
  minimises its negative.
  """
  return -lambda5 * (mi_fake_vis - mi_fake_nir)
