"""What NULL's codes hold, read off the test (or validation) faces.

Matching is the paper's (Sec. 3.1): content-code means, cosine. Beside it:

* `null_centred`: each side's codes minus that side's own mean (the NIR probes'
  mean, the VIS gallery's) before the cosine. No term of the loss puts the two
  domains' content clouds at one origin (their first encoder stages are each
  domain's own); the means are taken without labels or pairs.
* `vis_to_vis` by content (the upper bound) and `vis_to_vis_style` by style
  code: does identity leak into s?
* `identity_share` (`metrics.identity_share`) of c and s over the test VIS
  faces (gallery and VIS probes) and of c over the NIR probes: the share of a
  code's variance that lies between identities.
"""

import dataclasses
import functools

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from hfr_jax import evaluate
from hfr_jax import metrics
from hfr_jax.models import null as null_models


@functools.partial(jax.jit, static_argnames=('graphdef', 'domain'))
def _codes(graphdef, state, images, landmarks, domain):
  return nnx.merge(graphdef, state).codes(domain, images.astype(jnp.float32), landmarks)


def codes_fn(model: null_models.NULLModel, domain: str):
  """batch -> (content means, style means) of its stored faces through `domain`'s encoders."""
  graphdef, state = evaluate.replicated_state(model)
  return lambda batch: _codes(graphdef, state, batch['image'], batch['landmarks'], domain)


@dataclasses.dataclass(frozen=True)
class Codes:
  """(content, style, identities) of the NIR probes, the VIS gallery and the VIS probes
  (None where the set has none)."""
  nir: tuple
  gallery: tuple
  vis: tuple | None


def read_codes(model, builder, protocol: evaluate.Protocol, batch_size: int) -> Codes:
  kw = dict(batch_size=batch_size)
  vis_fn, nir_fn = codes_fn(model, 'vis'), codes_fn(model, 'nir')
  read = lambda fn, split, **records: (lambda out: (*out[0], out[1]))(
      evaluate.split_outputs(fn, builder, split, **records, **kw))
  gallery = read(vis_fn, protocol.gallery_split, records=protocol.gallery_records)
  nir = read(nir_fn, protocol.probe_split, **protocol.probes())
  vis = None
  if evaluate.has_split(builder, protocol.vis_split):
    vis = read(vis_fn, protocol.vis_split, **protocol.vis_probes())
  return Codes(nir=nir, gallery=gallery, vis=vis)


def centred(x):
  """Codes minus their own mean (over the rows)."""
  x = np.asarray(x, np.float64)
  return x - x.mean(axis=0)


def curves(codes: Codes) -> dict:
  """{'null', 'null_centred', 'vis_to_vis', 'vis_to_vis_style'}: (scores, probe ids,
  gallery ids) by cosine; the VIS rows where the set has VIS probes."""
  (nir_c, _, nir_ids), (gal_c, gal_s, gal_ids) = codes.nir, codes.gallery
  out = {'null': (metrics.cosine_similarity(nir_c, gal_c), nir_ids, gal_ids),
         'null_centred': (metrics.cosine_similarity(centred(nir_c), centred(gal_c)), nir_ids,
                          gal_ids)}
  if codes.vis is not None:
    vis_c, vis_s, vis_ids = codes.vis
    out['vis_to_vis'] = (metrics.cosine_similarity(vis_c, gal_c), vis_ids, gal_ids)
    out['vis_to_vis_style'] = (metrics.cosine_similarity(vis_s, gal_s), vis_ids, gal_ids)
  return out


def identity_shares(codes: Codes) -> dict:
  """{'content_vis', 'style_vis', 'content_nir'}: `metrics.identity_share` of each code."""
  vis = [codes.gallery] + ([codes.vis] if codes.vis is not None else [])
  vis_c, vis_s, vis_ids = (np.concatenate(parts) for parts in zip(*vis))
  return {'content_vis': metrics.identity_share(vis_c, vis_ids),
          'style_vis': metrics.identity_share(vis_s, vis_ids),
          'content_nir': metrics.identity_share(codes.nir[0], codes.nir[2])}


def mean_style(codes: Codes) -> np.ndarray:
  """The VIS gallery's mean style code: the style NULL's translations are drawn in."""
  return np.asarray(codes.gallery[1]).mean(axis=0)
