"""The evaluator: results.json arithmetic (fused, gap_closed), generation scores of an identity
generator, fidelity to the VIS twins (PSNR, SSIM against numpy), the masked loop at any batch
size, and the validation protocol."""

import json
import math

from flax import nnx
import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from hfr_jax import evaluate
from hfr_jax import input_pipeline
from hfr_jax import metrics
from hfr_jax.models import lightcnn
from tfds_builders.synthetic_nir_vis import render

NUM_IDS = 10


def rank1(scores, probe_ids, gallery_ids):
  """One gallery image per identity: rank-1 is the share of probes whose top score is theirs."""
  return float(np.mean(np.asarray(gallery_ids)[np.argmax(scores, axis=1)] == probe_ids))


def noisy_scores(rng, probe_ids, gallery_ids, signal):
  """Cosine-like scores: noise plus `signal` on the genuine pairs."""
  genuine = probe_ids[:, None] == gallery_ids[None, :]
  return rng.normal(size=genuine.shape) + signal * genuine


def synthetic_curves(seed, signal_raw, signal_gen, signal_vis):
  rng = np.random.default_rng(seed)
  gallery_ids = rng.permutation(NUM_IDS)
  probe_ids = rng.integers(0, NUM_IDS, 60)
  vis_ids = rng.integers(0, NUM_IDS, 40)
  raw = noisy_scores(rng, probe_ids, gallery_ids, signal_raw)
  gen = noisy_scores(rng, probe_ids, gallery_ids, signal_gen)
  vis = noisy_scores(rng, vis_ids, gallery_ids, signal_vis)
  return {'raw_nir': (raw, probe_ids, gallery_ids), 'gen': (gen, probe_ids, gallery_ids),
          'fused': ((raw + gen) / 2, probe_ids, gallery_ids),
          'vis_to_vis': (vis, vis_ids, gallery_ids)}


def report(tmp_path, curves, fidelity=None):
  evaluate.write_report(str(tmp_path), curves, title='synthetic', config={'seed': 0},
                        dataset={'name': 'synthetic', 'config': 'none'},
                        gap=('raw_nir', 'fused'), fidelity=fidelity)
  return (json.loads((tmp_path / 'results.json').read_text()),
          (tmp_path / 'report.md').read_text())


def test_results_json_stores_the_fused_metrics_and_the_gap_closed(tmp_path):
  curves = synthetic_curves(0, signal_raw=0.8, signal_gen=1.5, signal_vis=4.0)
  results, text = report(tmp_path, curves)
  raw, gen, _, vis = (curves[k] for k in ('raw_nir', 'gen', 'fused', 'vis_to_vis'))
  probe_ids, gallery_ids = raw[1], raw[2]
  fused_scores = (raw[0] + gen[0]) / 2
  # Fused: the metrics of the mean of the stored raw and generated scores.
  want = metrics.summary(fused_scores, probe_ids, gallery_ids)
  assert results['fused'] == pytest.approx(want, rel=1e-12)
  assert results['metrics']['fused'] == results['fused']
  # ...and against references outside hfr_jax.metrics: rank-1 by argmax, VR@FAR=1% by sklearn.
  r1 = {k: rank1(*curves[k]) for k in ('raw_nir', 'gen', 'vis_to_vis')}
  r1['fused'] = rank1(fused_scores, probe_ids, gallery_ids)
  for k, v in r1.items():
    assert results[k]['rank1'] == pytest.approx(v, abs=1e-12), k
  fpr, tpr, _ = sk_metrics.roc_curve((probe_ids[:, None] == gallery_ids).ravel(),
                                     fused_scores.ravel(), drop_intermediate=False)
  assert results['fused']['vr_at_far_1e-2'] == pytest.approx(tpr[fpr <= 1e-2].max())
  # The scores were chosen so that the gap exists and fusion closes part of it.
  assert r1['raw_nir'] < r1['fused'] < r1['vis_to_vis']
  gap = (r1['fused'] - r1['raw_nir']) / (r1['vis_to_vis'] - r1['raw_nir'])
  assert results['gap_closed'] == pytest.approx(gap, abs=1e-12)
  assert results['num_probe'] == 60 and results['num_gallery'] == NUM_IDS
  assert results['counts']['vis_to_vis'] == {'num_probe': 40, 'num_gallery': NUM_IDS}
  # report.md: the table row of each method and the gap line, in percent.
  assert f"| fused | 60 x {NUM_IDS} | {100 * r1['fused']:.2f} |" in text
  assert f'**Gap closed** by fused: {100 * gap:.1f} % of the rank-1 gap' in text
  assert f"between raw_nir ({100 * r1['raw_nir']:.2f} %)" in text
  assert f"vis_to_vis ({100 * r1['vis_to_vis']:.2f} %" in text


def test_fusion_weight_is_the_best_rank1_on_the_given_curves_ties_nearest_half():
  rng = np.random.default_rng(0)
  gallery_ids = np.arange(20)
  probe_ids = np.repeat(gallery_ids, 3)
  truth = (probe_ids[:, None] == gallery_ids[None]).astype(float)
  raw = 0.3 * truth + rng.normal(size=truth.shape) * 0.2        # weak but informative
  gen = 0.3 * truth + rng.normal(size=truth.shape) * 0.1        # stronger
  curves = {'raw_nir': (raw, probe_ids, gallery_ids), 'gen': (gen, probe_ids, gallery_ids)}
  weight, table = evaluate.fusion_weight(curves, 'gen')
  # Rank-1 of each weight from numpy: the probe's best gallery column is its own identity.
  by_numpy = {round(float(w), 6):
              float(np.mean(gallery_ids[((1 - w) * raw + w * gen).argmax(1)] == probe_ids))
              for w in evaluate.FUSION_WEIGHTS}
  assert table == pytest.approx(by_numpy)
  best = [w for w, r in by_numpy.items() if r == max(by_numpy.values())]
  assert weight == min(best, key=lambda w: abs(w - 0.5)) and weight > 0.5
  # The paper's fused distance is weight 0.5; identical scores tie everywhere -> 0.5.
  np.testing.assert_allclose(evaluate.fused(curves, 'gen', 0.5)[0], (raw + gen) / 2)
  assert evaluate.fusion_weight({'raw_nir': curves['raw_nir'], 'gen': curves['raw_nir']},
                                'gen')[0] == 0.5


def test_gap_closed_is_nan_without_a_gap(tmp_path):
  # VIS->VIS no better than raw NIR->VIS: nothing to close.
  curves = synthetic_curves(1, signal_raw=3.0, signal_gen=1.0, signal_vis=0.0)
  assert rank1(*curves['vis_to_vis']) <= rank1(*curves['raw_nir'])
  results, text = report(tmp_path, curves)
  assert results['gap_closed'] is None   # JSON null: NaN is not JSON
  assert '**Gap closed** by fused: no gap to close' in text
  # Equal rank-1 is no gap either (no division by zero).
  same = dict(curves, vis_to_vis=curves['raw_nir'])
  assert math.isnan(evaluate.gap_closed({k: metrics.summary(*c) for k, c in same.items()}))


def test_fidelity_goes_into_results_json_and_a_report_table_only_when_given(tmp_path):
  curves = synthetic_curves(0, signal_raw=0.8, signal_gen=1.5, signal_vis=4.0)
  results, text = report(tmp_path, curves)
  assert 'fidelity' not in results and 'Fidelity' not in text and 'SSIM' not in text
  fidelity = {'raw_nir': {'psnr': 9.876, 'ssim': 0.12345}, 'gen': {'psnr': 21.5, 'ssim': 0.75}}
  results, text = report(tmp_path, curves, fidelity)
  assert results['fidelity'] == fidelity
  assert '| images | PSNR dB | SSIM |' in text
  assert '| raw_nir | 9.88 | 0.1235 |' in text and '| gen | 21.50 | 0.7500 |' in text


def test_judged_curves_go_into_results_json_and_a_side_by_side_table(tmp_path):
  """The judge's metrics, recomputed from its scores by argmax and sklearn, beside F's."""
  by_f = synthetic_curves(0, signal_raw=0.8, signal_gen=1.5, signal_vis=4.0)
  # A judge that finds GA(NIR) worse than F does: the pattern issue 13 looks for.
  judged = synthetic_curves(1, signal_raw=0.8, signal_gen=0.3, signal_vis=3.0)
  about = {'arch': '29', 'seed': 1, 'data_seed': 1000, 'dir': '/judge'}
  evaluate.write_report(str(tmp_path), by_f, title='synthetic', config={'seed': 0},
                        dataset={'name': 'synthetic', 'config': 'none'},
                        gap=('raw_nir', 'fused'), judges={'judge': (judged, about)})
  results = json.loads((tmp_path / 'results.json').read_text())
  text = (tmp_path / 'report.md').read_text()
  judge = results['judge']
  assert set(judge) == {'raw_nir', 'gen', 'fused', 'vis_to_vis', 'gap_closed', 'recognizer'}
  assert judge['recognizer'] == about
  r1 = {k: rank1(*c) for k, c in judged.items()}
  for k, c in judged.items():
    assert judge[k]['rank1'] == pytest.approx(r1[k], abs=1e-12), k
    scores, probe_ids, gallery_ids = c
    fpr, tpr, _ = sk_metrics.roc_curve((probe_ids[:, None] == gallery_ids).ravel(),
                                       scores.ravel(), drop_intermediate=False)
    assert judge[k]['vr_at_far_1e-2'] == pytest.approx(tpr[fpr <= 1e-2].max()), k
  gap = (r1['fused'] - r1['raw_nir']) / (r1['vis_to_vis'] - r1['raw_nir'])
  assert judge['gap_closed'] == pytest.approx(gap, abs=1e-12)
  # F's figures stay where consumers read them, untouched by the judge.
  for k, c in by_f.items():
    assert results[k] == results['metrics'][k] == metrics.summary(*c)
  assert results['gap_closed'] != judge['gap_closed']
  # report.md: one row per method with F's and the judge's rank-1 and VR@FAR=1%.
  assert '| method | rank-1 % F | rank-1 % judge | VR@FAR=1% F | VR@FAR=1% judge |' in text
  f = results
  assert (f"| gen | {100 * f['gen']['rank1']:.2f} | {100 * judge['gen']['rank1']:.2f} | "
          f"{100 * f['gen']['vr_at_far_1e-2']:.2f} | {100 * judge['gen']['vr_at_far_1e-2']:.2f} |"
          in text)
  assert (f"| gap closed | {100 * f['gap_closed']:.1f} % | {100 * gap:.1f} % |" in text)
  assert 'arch 29, seed 1, data_seed 1000, dir /judge' in text
  # Without judged curves: no judge anywhere.
  results, text = report(tmp_path, by_f)
  assert 'judge' not in results and 'judge' not in text


def test_a_second_judge_gets_its_own_key_and_column_and_twin_fidelity_its_table(tmp_path):
  by_f = synthetic_curves(0, signal_raw=0.8, signal_gen=1.5, signal_vis=4.0)
  judged = synthetic_curves(1, signal_raw=0.8, signal_gen=0.3, signal_vis=3.0)
  photo = synthetic_curves(2, signal_raw=2.0, signal_gen=0.1, signal_vis=3.0)
  twin = {'f': {'raw_nir': {'cosine': 0.25, 'tar_at_far_1e-2': 0.5},
                'gen': {'cosine': 0.75, 'tar_at_far_1e-2': 0.875}},
          'photo_judge': {'raw_nir': {'cosine': 0.9, 'tar_at_far_1e-2': 0.625},
                          'gen': {'cosine': 0.5, 'tar_at_far_1e-2': 0.125}}}
  evaluate.write_report(str(tmp_path), by_f, title='synthetic', config={'seed': 0},
                        dataset={'name': 'synthetic', 'config': 'none'},
                        gap=('raw_nir', 'fused'), twin=twin,
                        judges={'judge': (judged, {'arch': '29'}),
                                'photo_judge': (photo, {'arch': 'dlib'})})
  results = json.loads((tmp_path / 'results.json').read_text())
  text = (tmp_path / 'report.md').read_text()
  for key, curves in (('judge', judged), ('photo_judge', photo)):
    for k, c in curves.items():
      assert results[key][k] == metrics.summary(*c), (key, k)
  assert results['photo_judge']['recognizer'] == {'arch': 'dlib'}
  assert results['twin_fidelity'] == twin
  assert ('| method | rank-1 % F | rank-1 % judge | rank-1 % photo judge | VR@FAR=1% F | '
          'VR@FAR=1% judge | VR@FAR=1% photo judge |') in text
  g = lambda key: 100 * (results[key] if key else results)['gen']['rank1']
  assert f"| gen | {g(None):.2f} | {g('judge'):.2f} | {g('photo_judge'):.2f} |" in text
  assert '| F | 0.250 | 0.750 | 50.00 | 87.50 |' in text
  assert '| photo judge | 0.900 | 0.500 | 62.50 | 12.50 |' in text
  with pytest.raises(ValueError, match="unknown judge 'jury'"):
    evaluate.write_report(str(tmp_path / 'x'), by_f, title='t', config={}, dataset={},
                          judges={'jury': (judged, {})})
  assert not (tmp_path / 'x').exists()


def psnr_reference(a, b):
  return 10 * np.log10(1.0 / np.mean((a - b) ** 2))


def ssim_reference(a, b, size=11, sigma=1.5, k1=0.01, k2=0.03):
  """Wang et al. (2004) per channel: Gaussian-weighted local moments over every full 11x11
  window (a 2-D window, applied as one sum), the index map averaged over pixels and channels."""
  g = np.exp(-(np.arange(size) - size // 2) ** 2 / (2 * sigma ** 2))
  window = np.outer(g, g) / np.outer(g, g).sum()
  local = lambda z: np.einsum('ijkl,kl->ij', np.lib.stride_tricks.sliding_window_view(
      z, window.shape), window)
  c1, c2 = k1 ** 2, k2 ** 2
  maps = []
  for x, y in zip(np.moveaxis(a, -1, 0), np.moveaxis(b, -1, 0)):
    mx, my = local(x), local(y)
    vx, vy, cxy = local(x * x) - mx ** 2, local(y * y) - my ** 2, local(x * y) - mx * my
    maps.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
  return np.mean(maps)


def test_image_fidelity_is_psnr_and_ssim_against_numpy():
  # Rendered NIR faces against their VIS twins, and a twin against noisy and blurred copies.
  person = render.sample_identity(np.random.default_rng([0, 2]))
  rng = np.random.default_rng([0, 2, 1, 0])
  scene = render.sample_scene(person, rng, render.NIR, 32)
  nir, _ = render.render_scene(person, scene, render.NIR, rng)
  twin, _ = render.render_scene(person, scene, render.VIS, np.random.default_rng(1))
  nir, twin = nir / 255.0, twin / 255.0
  noise = np.random.default_rng(0).normal(scale=0.05, size=twin.shape)
  blurred = (twin + np.roll(twin, 1, 0) + np.roll(twin, 1, 1)) / 3
  images = np.stack([nir, np.clip(twin + noise, 0, 1), blurred, twin])
  targets = np.stack([twin, twin, twin, np.clip(twin + noise, 0, 1)])
  psnr, ssim = evaluate.image_fidelity(images.astype(np.float32), targets.astype(np.float32))
  want_psnr = [psnr_reference(a, b) for a, b in zip(images, targets)]
  want_ssim = [ssim_reference(a, b) for a, b in zip(images, targets)]
  np.testing.assert_allclose(psnr, want_psnr, atol=1e-3)
  np.testing.assert_allclose(ssim, want_ssim, atol=2e-5)
  # SSIM is symmetric; the raw NIR image is far from its twin, the noisy copy close to it.
  np.testing.assert_allclose(ssim[1], ssim[3], atol=1e-6)
  assert want_psnr[0] < want_psnr[1] and want_ssim[0] < 0.5 < want_ssim[1]


class Identity(nnx.Module):
  """A generator that returns its input: generated VIS = the NIR probe itself."""

  def __call__(self, images, landmarks):
    return images


@pytest.fixture(scope='module')
def recognizer():
  model = lightcnn.create('9', num_classes=4, width=0.125, input_size=32, rngs=nnx.Rngs(0))
  model.eval()
  return model


def test_identity_generator_scores_equal_the_raw_scores(tiny_builder, recognizer):
  curves = evaluate.generation_curves(Identity(), {'f': recognizer}, tiny_builder,
                                      batch_size=8).curves['f']
  assert set(curves) == {'raw_nir', 'generated', 'fused', 'vis_twin', 'vis_to_vis'}
  raw, gen, fused = curves['raw_nir'], curves['generated'], curves['fused']
  np.testing.assert_array_equal(gen[0], raw[0])
  np.testing.assert_array_equal(fused[0], raw[0])
  for c in (gen, fused):
    np.testing.assert_array_equal(c[1], raw[1])
    np.testing.assert_array_equal(c[2], raw[2])
  # The same recognizer through the plain feature evaluator: raw NIR->VIS and VIS->VIS.
  plain = evaluate.feature_curves(evaluate.recognizer_fn(recognizer), tiny_builder,
                                  batch_size=8)
  for got, want in ((raw, plain['nir_to_vis']), (curves['vis_to_vis'], plain['vis_to_vis'])):
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[2], want[2])
  # vis_twin: the probes' VIS twins through the plain evaluator, in the probes' order.
  source, index = input_pipeline.open_split(tiny_builder, 'probe')
  nir = index.records(input_pipeline.NIR)
  twins = np.stack([input_pipeline.decode_png(source[int(r)]['vis_twin']) for r in nir])
  batch = {'image': twins, 'landmarks': np.stack(
      [np.asarray(source[int(r)]['landmarks'], np.float32) for r in nir])}
  gallery = evaluate.split_outputs(evaluate.recognizer_fn(recognizer), tiny_builder,
                                   'gallery')[0]
  want = metrics.cosine_similarity(evaluate.recognizer_fn(recognizer)(batch), gallery)
  np.testing.assert_allclose(curves['vis_twin'][0], want, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(curves['vis_twin'][1], raw[1])
  assert not np.allclose(curves['vis_twin'][0], raw[0])
  # Shapes follow the protocol: TINY has 4 test identities, 2 NIR and 2 more VIS each.
  assert raw[0].shape == (8, 4) and curves['vis_to_vis'][0].shape == (8, 4)


class Darken(nnx.Module):
  """A generator that halves its input: an image that is neither the probe nor its twin."""

  def __call__(self, images, landmarks):
    return images * 0.5


def test_generation_fidelity_scores_probe_and_generated_images_against_their_twins(
    tiny_builder, recognizer):
  found = evaluate.generation_curves(Darken(), {'f': recognizer}, tiny_builder, batch_size=3,
                                     with_fidelity=True)
  curves, fidelity = found.curves['f'], found.fidelity
  assert set(fidelity) == {'raw_nir', 'generated'}
  # Against numpy on the probes and twins read straight from the source.
  source, index = input_pipeline.open_split(tiny_builder, 'probe')
  probes = np.stack([input_pipeline.decode_png(source[i]['image']) for i in range(8)]) / 255.0
  twins = np.stack([input_pipeline.decode_png(source[i]['vis_twin']) for i in range(8)]) / 255.0
  for key, images in (('raw_nir', probes), ('generated', probes * 0.5)):
    assert fidelity[key]['psnr'] == pytest.approx(
        np.mean([psnr_reference(a, b) for a, b in zip(images, twins)]), abs=1e-3)
    assert fidelity[key]['ssim'] == pytest.approx(
        np.mean([ssim_reference(a, b) for a, b in zip(images, twins)]), abs=2e-5)
  assert fidelity['raw_nir'] != fidelity['generated']
  # The same curves as without fidelity.
  plain = evaluate.generation_curves(Darken(), {'f': recognizer}, tiny_builder,
                                     batch_size=8).curves['f']
  assert set(plain) == set(curves)
  for key in plain:
    for got, want in zip(curves[key], plain[key]):
      np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  # Probes without twins (validation on the train split): no fidelity.
  _, train_index = input_pipeline.open_split(tiny_builder, 'train')
  protocol = evaluate.Protocol.validation(tiny_builder, np.unique(train_index.identity)[2:])
  assert not evaluate.probes_have_twins(tiny_builder, protocol)
  none = evaluate.generation_curves(Darken(), {'f': recognizer}, tiny_builder, protocol,
                                    batch_size=8, with_fidelity=True)
  assert none.fidelity is None and none.twin is None


def test_read_twins_returns_each_records_twin_in_order_or_none(tiny_builder):
  source, index = input_pipeline.open_split(tiny_builder, 'probe')
  records = [5, 0, 3]
  want = np.stack([input_pipeline.decode_png(source[r]['vis_twin']) for r in records])
  np.testing.assert_array_equal(evaluate.read_twins(tiny_builder, 'probe', records), want)
  assert evaluate.read_twins(tiny_builder, 'gallery', [0]) is None   # no twins there


def test_enlarge_repeats_whole_pixels_up_to_the_face_size():
  grid = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
  big = evaluate.enlarge(grid, face_size=50, min_face=128)    # ceil(128 / 50) = 3
  assert big.shape == (6, 9, 3)
  np.testing.assert_array_equal(big[::3, ::3], grid)
  np.testing.assert_array_equal(big[2::3, 2::3], grid)
  assert evaluate.enlarge(grid, face_size=128).shape == grid.shape


def read_directly(builder, split, records):
  """Images, landmarks, identities of `records`, one at a time from the TFDS source."""
  source, _ = input_pipeline.open_split(builder, split)
  rows = [source[int(r)] for r in records]
  return (np.stack([input_pipeline.decode_png(r['image']) for r in rows]),
          np.stack([np.asarray(r['landmarks'], np.float32) for r in rows]),
          np.array([r['identity'] for r in rows]))


@pytest.mark.parametrize('split,modality', [('train', None), ('train', input_pipeline.VIS),
                                            ('probe', None)])
def test_split_outputs_are_the_records_in_order_at_any_batch_size(tiny_builder, recognizer,
                                                                  split, modality):
  _, index = input_pipeline.open_split(tiny_builder, split)
  records = (np.arange(len(index.identity)) if modality is None
             else np.flatnonzero(index.modality == modality))
  want = read_directly(tiny_builder, split, records)
  embed = evaluate.recognizer_fn(recognizer)
  fn = lambda b: (b['image'], b['landmarks'], embed(b))
  outputs = {}
  for batch_size in (3, 1000):   # padded last batches of 3, and one mostly padded batch
    (images, landmarks, feats), ids = evaluate.split_outputs(
        fn, tiny_builder, split, modality=modality, batch_size=batch_size)
    np.testing.assert_array_equal(images, want[0])
    np.testing.assert_array_equal(landmarks, want[1])
    np.testing.assert_array_equal(ids, want[2])
    outputs[batch_size] = feats
  assert outputs[3].shape == (len(records), 256)
  # Unit-norm features: float32 convolutions over batches of 3 and of 1000 add in other
  # orders (1.4e-6 apart on some CPUs); a record out of place moves them by ~0.1.
  np.testing.assert_allclose(outputs[3], outputs[1000], rtol=1e-5, atol=1e-5)


def test_validation_protocol_uses_only_the_held_out_training_identities(tiny_builder):
  _, index = input_pipeline.open_split(tiny_builder, 'train')
  held_out = input_pipeline.validation_identities(index, 2)
  protocol = evaluate.Protocol.validation(tiny_builder, held_out)
  assert (protocol.probe_split, protocol.gallery_split, protocol.vis_split) == ('train',) * 3
  # The train split record by record, straight from the source.
  source, _ = input_pipeline.open_split(tiny_builder, 'train')
  meta = [(int(source[i]['identity']), int(source[i]['modality'])) for i in range(len(source))]
  of = lambda records: [meta[r] for r in records]
  held = set(int(i) for i in held_out)
  # The last two of the four training identities (TINY: 8 identities, half for training).
  assert held == {2, 3} and {i for i, _ in meta} == {0, 1, 2, 3}
  # Gallery: exactly one VIS image per held-out identity.
  gallery = of(protocol.gallery_records)
  assert sorted(i for i, _ in gallery) == sorted(held)
  assert all(m == input_pipeline.VIS for _, m in gallery)
  # Probes: every NIR image of those identities and nothing else.
  want_nir = {r for r, (i, m) in enumerate(meta) if i in held and m == input_pipeline.NIR}
  assert sorted(protocol.probe_records) == sorted(want_nir)
  assert len(want_nir) == 2 * 2
  # VIS probes: the other VIS images of those identities.
  want_vis = {r for r, (i, m) in enumerate(meta) if i in held and m == input_pipeline.VIS}
  assert set(protocol.vis_records) == want_vis - set(protocol.gallery_records)
  assert len(protocol.vis_records) == 2 * (3 - 1)
  # No record of a training identity outside the held-out ones.
  everything = protocol.gallery_records + protocol.probe_records + protocol.vis_records
  assert {meta[r][0] for r in everything} == held
  assert len(set(everything)) == len(everything)


def test_curves_npz_keeps_the_roc_at_each_far_and_the_cmc_for_the_report(tmp_path):
  """The ROC sampled on FAR_GRID is sklearn's highest TPR at FPR <= each FAR; the CMC at rank k
  is rank-k accuracy; the judge's curves sit beside F's; the file stays small."""
  by_f = synthetic_curves(0, signal_raw=0.8, signal_gen=1.5, signal_vis=4.0)
  judged = synthetic_curves(1, signal_raw=0.8, signal_gen=0.3, signal_vis=3.0)
  evaluate.write_report(str(tmp_path), by_f, title='synthetic', config={'seed': 0},
                        dataset={'name': 'synthetic', 'config': 'none'},
                        gap=('raw_nir', 'fused'), judges={'judge': (judged, {'arch': '29'})})
  with np.load(tmp_path / 'curves.npz') as data:
    points = {k: data[k] for k in data.files}
  assert set(points) == {'far', *(f'{p}{kind}.{name}' for p in ('', 'judge.')
                                  for kind in ('roc', 'cmc') for name in by_f)}
  np.testing.assert_array_equal(points['far'], evaluate.FAR_GRID)
  for prefix, curves in (('', by_f), ('judge.', judged)):
    for name, (scores, probe_ids, gallery_ids) in curves.items():
      fpr, tpr, _ = sk_metrics.roc_curve((probe_ids[:, None] == gallery_ids).ravel(),
                                         scores.ravel(), drop_intermediate=False)
      expected = [tpr[fpr <= far].max() for far in evaluate.FAR_GRID]
      np.testing.assert_allclose(points[f'{prefix}roc.{name}'], expected, err_msg=name)
      cmc = points[f'{prefix}cmc.{name}']
      assert len(cmc) == NUM_IDS and cmc[-1] == 1.0
      assert cmc[0] == pytest.approx(rank1(scores, probe_ids, gallery_ids), abs=1e-12)
      assert cmc[4] == pytest.approx(metrics.rank_k_accuracy(scores, probe_ids, gallery_ids, 5))
  results = json.loads((tmp_path / 'results.json').read_text())
  assert results['gap'] == {'raw': 'raw_nir', 'method': 'fused'}
  assert (tmp_path / 'curves.npz').stat().st_size < 20_000


class Dim(nnx.Module):
  """A generator scaling its input by 0.6: no uint8 value lands on a rounding tie."""

  def __call__(self, images, landmarks):
    return images * 0.6


def pixels(images, landmarks):
  """A host recognizer: every 7th pixel value of the uint8 image, as features."""
  assert images.dtype == np.uint8
  return images.reshape(len(images), -1)[:, ::7].astype(np.float32) + 1.0


def test_a_host_recognizer_scores_the_generated_faces_as_uint8_from_the_same_pass(
    tiny_builder, recognizer):
  found = evaluate.generation_curves(Dim(), {'f': recognizer, 'host': pixels}, tiny_builder,
                                     batch_size=3)
  assert set(found.curves) == {'f', 'host'}
  source, index = input_pipeline.open_split(tiny_builder, 'probe')
  nir = index.records(input_pipeline.NIR)
  probes = np.stack([input_pipeline.decode_png(source[int(r)]['image']) for r in nir])
  twins = np.stack([input_pipeline.decode_png(source[int(r)]['vis_twin']) for r in nir])
  _, gallery_index = input_pipeline.open_split(tiny_builder, 'gallery')
  gallery_source, _ = input_pipeline.open_split(tiny_builder, 'gallery')
  gallery = np.stack([input_pipeline.decode_png(gallery_source[i]['image'])
                      for i in range(len(gallery_index.identity))])
  dimmed = np.round(probes * 0.6).astype(np.uint8)
  host = found.curves['host']
  for key, images in (('raw_nir', probes), ('generated', dimmed), ('vis_twin', twins)):
    want = metrics.cosine_similarity(pixels(images, None), pixels(gallery, None))
    np.testing.assert_allclose(host[key][0], want, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(host['fused'][0], (host['raw_nir'][0] + host['generated'][0]) / 2)
  ids = index.identity[nir]
  assert found.twin['host'] == {
      'raw_nir': metrics.twin_fidelity(pixels(probes, None), pixels(twins, None), ids),
      'generated': metrics.twin_fidelity(pixels(dimmed, None), pixels(twins, None), ids)}
  # F's curves are those of F alone: the host recognizer changes nothing of the jit's.
  alone = evaluate.generation_curves(Dim(), {'f': recognizer}, tiny_builder, batch_size=3)
  for key, c in alone.curves['f'].items():
    np.testing.assert_allclose(found.curves['f'][key][0], c[0], rtol=1e-6, atol=1e-7)
  assert set(found.twin['f']) == {'raw_nir', 'generated'}
