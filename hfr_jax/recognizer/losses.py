"""Classification losses for recognizer training.

* softmax: cross-entropy on `fc2`'s logits (the LightCNN recipe).
* cosface: large-margin cosine loss (Wang et al., "CosFace", CVPR 2018, Eq. 4)
  on L2-normalised `fc` features and L2-normalised `fc2` weight columns; the
  bias is unused. Training then optimises the cosine similarity that
  evaluation scores with.
"""

import jax
import jax.numpy as jnp
import optax


def l2_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), eps * eps))


def cosface_logits(features: jax.Array, weights: jax.Array, labels: jax.Array, *,
                   scale: float, margin: float) -> jax.Array:
  """s * (cos(theta_j) - m [j == y]) for features (N, D) and class weights (D, C)."""
  cos = l2_normalize(features) @ l2_normalize(weights, axis=0)
  return scale * (cos - margin * jax.nn.one_hot(labels, cos.shape[-1], dtype=cos.dtype))


def cosface(features, weights, labels, *, scale: float = 30.0, margin: float = 0.35):
  """Mean CosFace loss, Eq. (4): -log e^{s(cos y - m)} / (e^{s(cos y - m)} + sum_j!=y e^{s cos j})."""
  logits = cosface_logits(features, weights, labels, scale=scale, margin=margin)
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
