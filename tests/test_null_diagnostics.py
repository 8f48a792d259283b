"""NULL's code diagnostics against numpy: matching by content and style, centring, identity
share, the translations' style."""

import numpy as np
import pytest

from hfr_jax import metrics
from hfr_jax.null import diagnostics


def cosine(a, b):
  a = a / np.linalg.norm(a, axis=1, keepdims=True)
  b = b / np.linalg.norm(b, axis=1, keepdims=True)
  return a @ b.T


@pytest.fixture
def codes():
  rng = np.random.default_rng(0)
  people = rng.normal(size=(20, 8))
  gal_ids, nir_ids, vis_ids = (np.arange(20), np.repeat(np.arange(20), 3),
                               np.repeat(np.arange(20), 2))
  # NIR content sits far from VIS content (a domain offset); style is noise.
  offset = 6.0 * rng.normal(size=8)
  face = lambda ids, scale: people[ids] + scale * rng.normal(size=(ids.size, 8))
  return diagnostics.Codes(
      nir=(face(nir_ids, 0.2) + offset, rng.normal(size=(60, 3)), nir_ids),
      gallery=(face(gal_ids, 0.2), rng.normal(size=(20, 3)), gal_ids),
      vis=(face(vis_ids, 0.2), rng.normal(size=(40, 3)), vis_ids))


def test_curves_are_the_cosines_of_content_centred_content_and_style(codes):
  found = diagnostics.curves(codes)
  (nir_c, _, nir_ids), (gal_c, gal_s, gal_ids), (vis_c, vis_s, vis_ids) = (
      codes.nir, codes.gallery, codes.vis)
  want = {'null': (cosine(nir_c, gal_c), nir_ids),
          'null_centred': (cosine(nir_c - nir_c.mean(0), gal_c - gal_c.mean(0)), nir_ids),
          'vis_to_vis': (cosine(vis_c, gal_c), vis_ids),
          'vis_to_vis_style': (cosine(vis_s, gal_s), vis_ids)}
  assert set(found) == set(want)
  for name, (scores, ids) in want.items():
    np.testing.assert_allclose(found[name][0], scores, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(found[name][1], ids)
    np.testing.assert_array_equal(found[name][2], gal_ids)


def test_centring_removes_a_domain_offset_that_plain_cosine_cannot(codes):
  found = diagnostics.curves(codes)
  rank1 = {k: metrics.rank_k_accuracy(*found[k]) for k in ('null', 'null_centred')}
  assert rank1['null_centred'] == 1.0 and rank1['null'] < 0.8
  # Centred scores ignore any offset added to one side, plain ones do not.
  moved = diagnostics.Codes(nir=(codes.nir[0] + 3.0, *codes.nir[1:]), gallery=codes.gallery,
                            vis=codes.vis)
  again = diagnostics.curves(moved)
  np.testing.assert_allclose(again['null_centred'][0], found['null_centred'][0], atol=1e-9)
  assert not np.allclose(again['null'][0], found['null'][0])


def test_identity_shares_pool_the_vis_faces_and_read_each_code(codes):
  shares = diagnostics.identity_shares(codes)
  vis_c = np.concatenate([codes.gallery[0], codes.vis[0]])
  vis_s = np.concatenate([codes.gallery[1], codes.vis[1]])
  ids = np.concatenate([codes.gallery[2], codes.vis[2]])
  assert shares == pytest.approx({'content_vis': metrics.identity_share(vis_c, ids),
                                  'style_vis': metrics.identity_share(vis_s, ids),
                                  'content_nir': metrics.identity_share(*codes.nir[::2])})
  assert shares['content_vis'] > 0.8 > 0.3 > shares['style_vis']   # built so: c is identity


def test_translations_are_drawn_in_the_vis_gallerys_mean_style(codes):
  np.testing.assert_allclose(diagnostics.mean_style(codes), codes.gallery[1].mean(axis=0))


def test_without_vis_probes_the_vis_rows_are_left_out(codes):
  found = diagnostics.curves(diagnostics.Codes(nir=codes.nir, gallery=codes.gallery, vis=None))
  assert set(found) == {'null', 'null_centred'}
