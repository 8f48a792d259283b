"""Features -> scores -> metrics -> results.json, report.md, roc.png, cmc.png, curves.npz.

One evaluator for every method: `split_outputs` is the one masked loop over
a split; `feature_curves` scores any feature function (pixels, a recognizer)
NIR->VIS and VIS->VIS; `generation_curves` scores "recognition via
generation" (raw NIR, generated VIS, and the fused distance) under several
recognizers from one generator pass, each with its VIS->VIS as the upper
bound, and, where the probes have VIS twins (synthetic test probes), how close
the generated images come to them (`image_fidelity`: PSNR, SSIM; under each
recognizer, `metrics.twin_fidelity`; raw NIR is the floor); `write_report`
writes the files and `gap_closed`, the share of the NIR->VIS rank-1 gap a
method closes, under F and under the judges (recognizers that took no part in
training: report.JUDGES) side by side; report.md's text is hfr_jax.report's.
"""

import dataclasses
import datetime
import functools
import json
import os
import subprocess

import dm_pix as pix
from flax import nnx
import jax
import jax.numpy as jnp
import matplotlib
matplotlib.use('Agg')
from matplotlib import pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from hfr_jax import fileio  # noqa: E402
from hfr_jax import input_pipeline  # noqa: E402
from hfr_jax import metrics  # noqa: E402
from hfr_jax import report  # noqa: E402
from hfr_jax import sharding  # noqa: E402
from hfr_jax.recognizer import features as recognizer_features  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Protocol:
  """Which records of which splits are NIR probes, the VIS gallery and the VIS probes.

  `records` None means the whole split (probes: its NIR images; VIS probes:
  its VIS images). The default is the test protocol; `validation` builds one
  on held-out training identities.
  """
  probe_split: str = 'probe'
  gallery_split: str = 'gallery'
  vis_split: str = 'test_vis'
  probe_records: tuple | None = None
  gallery_records: tuple | None = None
  vis_records: tuple | None = None

  @classmethod
  def validation(cls, builder, identities) -> 'Protocol':
    """On `identities` of the train split: first VIS of each is the gallery, its
    other VIS images the VIS probes, its NIR images the probes."""
    _, index = input_pipeline.open_split(builder, 'train')
    vis, nir = index.records(input_pipeline.VIS), index.records(input_pipeline.NIR)
    gallery = [int(vis[index.identity[vis] == i][0]) for i in identities]
    others = [int(r) for r in vis[np.isin(index.identity[vis], identities)] if r not in gallery]
    probes = [int(r) for r in nir[np.isin(index.identity[nir], identities)]]
    return cls('train', 'train', 'train', tuple(probes), tuple(gallery), tuple(others))

  def probes(self) -> dict:
    """`split_outputs` keywords that read the NIR probes: the records, or the split's NIR."""
    return dict(records=self.probe_records,
                modality=input_pipeline.NIR if self.probe_records is None else None)

  def vis_probes(self) -> dict:
    """`split_outputs` keywords that read the VIS probes: the records, or the split's VIS."""
    return dict(records=self.vis_records,
                modality=input_pipeline.VIS if self.vis_records is None else None)


def split_outputs(fn, builder, split: str, *, records=None, modality: int | None = None,
                  batch_size: int = 64, twins: bool = False):
  """fn(batch) over `records` of a split (default: all, or those of `modality`), in order.

  batch: {'image': uint8 (B, H, W, 3), 'landmarks', 'identity', 'mask'}, the
  last one padded, plus `vis_twin` (uint8 like `image`) with `twins`: global
  arrays split over every device (B is `batch_size` rounded up to a multiple
  of the device count), each process reading its own rows. Returns (fn's
  outputs, identities) as numpy on every process with padding dropped; fn may
  return an array or a tuple of arrays, one row per batch row.
  """
  source, index = input_pipeline.open_split(builder, split)
  if records is None:
    records = np.arange(len(index.identity)) if modality is None else index.records(modality)
  records = np.asarray(records)
  mesh = sharding.make_mesh()
  batch_size = -(-batch_size // mesh.size) * mesh.size
  outs = [sharding.gather(fn(sharding.shard_batch(batch, mesh)))
          for batch in input_pipeline.evaluation(source, index, batch_size=batch_size,
                                                 records=records, twins=twins)]
  # Padding comes last, in the last batch only.
  return (jax.tree.map(lambda *a: np.concatenate(a)[:len(records)], *outs),
          index.identity[records])


def read_images(builder, split: str, records=None, batch_size: int = 64):
  """(images uint8, landmarks, identities) of `records` of a split, in order."""
  (images, landmarks), ids = split_outputs(lambda b: (b['image'], b['landmarks']), builder,
                                           split, records=records, batch_size=batch_size)
  return images, landmarks, ids


def read_twins(builder, split: str, records) -> np.ndarray | None:
  """uint8 VIS twins of `records` of a split, in order; None unless every one has a twin."""
  if not have_twins(builder, split, records):
    return None
  twins, _ = split_outputs(lambda b: b['vis_twin'], builder, split, records=records, twins=True)
  return twins


def enlarge(grid: np.ndarray, face_size: int, min_face: int = 128) -> np.ndarray:
  """A grid of face_size faces, each pixel repeated so faces are >= min_face pixels wide.

  Whole-pixel repetition: the picture shows the pixels the networks made,
  without an interpolator's smoothing.
  """
  factor = max(1, -(-min_face // face_size))
  return np.repeat(np.repeat(np.asarray(grid), factor, axis=0), factor, axis=1)


@functools.partial(jax.jit, static_argnames='graphdef')
def _embed(graphdef, state, images, landmarks):
  model = nnx.merge(graphdef, state)
  return recognizer_features.embed(model, images.astype(jnp.float32) / 255.0, landmarks)


def replicated_state(module):
  """(graphdef, state) of `module`, the state replicated over every device for a jit over a
  sharded batch (a loaded model's arrays live on one device)."""
  graphdef, state = nnx.split(module)
  return graphdef, sharding.replicate(state, sharding.make_mesh())


def recognizer_fn(recognizer):
  """batch -> the recognizer's 256-d features of its uint8 images (one jit)."""
  graphdef, state = replicated_state(recognizer)
  return lambda batch: _embed(graphdef, state, batch['image'], batch['landmarks'])


def feature_curves(feature_fn, builder, protocol: Protocol = Protocol(), *,
                   nir_fn=None, batch_size: int = 64) -> dict:
  """{'nir_to_vis', 'vis_to_vis'}: (scores, probe_ids, gallery_ids) by cosine similarity.

  vis_to_vis only where the dataset has VIS probes (`protocol.vis_split`).

  feature_fn(batch) embeds VIS images; `nir_fn` (default: feature_fn) the NIR
  probes, for methods with one encoder per domain (NULL).
  """
  kw = dict(batch_size=batch_size)
  gallery, gallery_ids = split_outputs(feature_fn, builder, protocol.gallery_split,
                                       records=protocol.gallery_records, **kw)
  nir, nir_ids = split_outputs(nir_fn or feature_fn, builder, protocol.probe_split,
                               **protocol.probes(), **kw)
  curves = {'nir_to_vis': (metrics.cosine_similarity(nir, gallery), nir_ids, gallery_ids)}
  if has_split(builder, protocol.vis_split):
    vis, vis_ids = split_outputs(feature_fn, builder, protocol.vis_split,
                                 **protocol.vis_probes(), **kw)
    curves['vis_to_vis'] = (metrics.cosine_similarity(vis, gallery), vis_ids, gallery_ids)
  return curves


def dataset_info(builder) -> dict:
  """results.json's `dataset`: the builder's name, config name and data_dir."""
  return {'name': builder.name, 'config': builder.builder_config.name,
          'data_dir': str(builder.data_dir)}


def has_split(builder, split: str) -> bool:
  """Whether the dataset has `split` (CUFSF has no VIS probes: no vis_to_vis there)."""
  return split in builder.info.splits


def image_fidelity(images, targets):
  """Per-image (PSNR in dB, SSIM) of (N, H, W, C) `images` against `targets`, both in [0, 1].

  dm-pix: PSNR with peak 1; SSIM (Wang et al. 2004) with an 11x11 Gaussian
  window of sigma 1.5 over the valid region, averaged over channels.
  """
  return pix.psnr(images, targets), pix.ssim(images, targets)


def have_twins(builder, split: str, records=None) -> bool:
  """Whether every one of `records` (default: the split's NIR records) has a VIS twin."""
  _, index = input_pipeline.open_split(builder, split)
  records = index.records(input_pipeline.NIR) if records is None else np.asarray(records)
  return len(records) > 0 and bool(index.has_twin[records].all())


def probes_have_twins(builder, protocol: Protocol = Protocol()) -> bool:
  """Whether every probe of `protocol` has a VIS twin (synthetic test probes do)."""
  return have_twins(builder, protocol.probe_split, protocol.probe_records)


@functools.partial(jax.jit, static_argnames=('gen_def', 'rec_defs', 'fidelity', 'keep'))
def _generate_and_embed(gen_def, gen_state, rec_defs, rec_states, images, landmarks, twins=None,
                        fidelity=False, keep=False):
  """One generator pass over a batch of probes: each recognizer's features of the probes,
  their generated faces and (given) their VIS twins; with `fidelity`, each image's
  PSNR/SSIM to its twin for raw and generated; with `keep`, the generated faces as uint8
  (for recognizers that run on the host)."""
  generator = nnx.merge(gen_def, gen_state)
  x = images.astype(jnp.float32) / 255.0
  fake = generator(x, landmarks)
  # The generator maps the stored frame to itself, so each output lies on its twin; raw NIR
  # (gray in three channels) is the floor, the twin itself the ceiling.
  t = None if twins is None else twins.astype(jnp.float32) / 255.0
  features = []
  for rec_def, rec_state in zip(rec_defs, rec_states):
    recognizer = nnx.merge(rec_def, rec_state)
    embed = lambda a, recognizer=recognizer: recognizer_features.embed(recognizer, a, landmarks)
    features.append((embed(x), embed(fake), None if t is None else embed(t)))
  scored = None
  if fidelity and t is not None:
    scored = (image_fidelity(x, t), image_fidelity(jnp.clip(fake, 0.0, 1.0), t))
  kept = jnp.round(jnp.clip(fake, 0.0, 1.0) * 255.0).astype(jnp.uint8) if keep else None
  return tuple(features), scored, kept


def _recognizer_features(states: dict, hosts: dict, builder, split: str, batch_size: int,
                         **records):
  """({key: features}, identities) of a split's images under every recognizer, one read:
  `states` {key: replicated (graphdef, state)} embed in jit, `hosts` {key: fn(uint8 images,
  landmarks)} on the images that read brings back."""
  def fn(b):
    found = tuple(_embed(d, st, b['image'], b['landmarks']) for d, st in states.values())
    return found, ((b['image'], b['landmarks']) if hosts else None)
  (found, inputs), ids = split_outputs(fn, builder, split, batch_size=batch_size, **records)
  features = dict(zip(states, found))
  features.update({key: np.asarray(fn(*inputs)) for key, fn in hosts.items()})
  return features, ids


@dataclasses.dataclass
class Generation:
  """What `generation_curves` measured, from one generator pass over the probes.

  curves: {recognizer: {'raw_nir', name, 'fused', 'vis_twin', 'vis_to_vis'}:
  (scores, probe_ids, gallery_ids)}; fidelity: {'raw_nir', name}: {'psnr', 'ssim'}
  means against the probes' VIS twins (None without twins or `with_fidelity`);
  twin: {recognizer: {'raw_nir', name}: metrics.twin_fidelity} (None without twins).
  """
  curves: dict
  fidelity: dict | None = None
  twin: dict | None = None


def generation_curves(generator, recognizers: dict, builder, protocol: Protocol = Protocol(), *,
                      name: str = 'generated', batch_size: int = 64,
                      vis_to_vis: bool = True, with_fidelity: bool = False) -> Generation:
  """Recognition via generation, scored by each of `recognizers` against the VIS gallery.

  `generator(images, landmarks)` is an NNX module mapping (N, H, W, 3) faces
  in [0, 1] to generated VIS faces in [0, 1] in the same frame, landmarks
  kept. It runs once over the probes; every recognizer scores that pass.
  `recognizers`: {key: an NNX recognizer (LightCNN; it embeds inside the
  generator's jit, the generated faces in float) or a host function
  (uint8 images, landmarks) -> features (the photo judge; it sees the generated
  faces as uint8 images)}.

  Each recognizer's curves: {'raw_nir', name, 'fused', 'vis_twin', 'vis_to_vis'};
  fused is the mean of the raw and generated scores (the mean of the two cosine
  distances); vis_twin scores the probes' VIS twins, the faces a perfect
  generator would draw (synthetic sets only). Where the probes have twins,
  `twin` measures how close raw and generated probes come to their own twin
  under each recognizer (`metrics.twin_fidelity`), and `with_fidelity` their
  PSNR/SSIM to it (`image_fidelity`).
  """
  in_jit = {k: replicated_state(r) for k, r in recognizers.items() if isinstance(r, nnx.Module)}
  on_host = {k: r for k, r in recognizers.items() if k not in in_jit}
  gen_def, gen_state = replicated_state(generator)
  rec_defs = tuple(d for d, _ in in_jit.values())
  rec_states = tuple(st for _, st in in_jit.values())
  twins = probes_have_twins(builder, protocol)

  def one_pass(b):
    found = _generate_and_embed(gen_def, gen_state, rec_defs, rec_states, b['image'],
                                b['landmarks'], b.get('vis_twin'), fidelity=with_fidelity,
                                keep=bool(on_host))
    return found, ((b['image'], b['landmarks'], b.get('vis_twin')) if on_host else None)

  ((features, scored, kept), host_inputs), ids = split_outputs(
      one_pass, builder, protocol.probe_split, batch_size=batch_size, twins=twins,
      **protocol.probes())
  features = dict(zip(in_jit, features))
  if on_host:
    images, landmarks, twin_images = host_inputs
    for key, fn in on_host.items():
      features[key] = (fn(images, landmarks), fn(kept, landmarks),
                       None if twin_images is None else fn(twin_images, landmarks))
  # The gallery and the VIS probes: one read each, every recognizer on it.
  read = lambda split, **records: _recognizer_features(in_jit, on_host, builder, split,
                                                       batch_size, **records)
  gallery, gallery_ids = read(protocol.gallery_split, records=protocol.gallery_records)
  vis = None
  if vis_to_vis and has_split(builder, protocol.vis_split):
    vis, vis_ids = read(protocol.vis_split, **protocol.vis_probes())

  out = Generation(curves={}, twin={} if twins else None)
  for key in recognizers:
    raw, fake, twin = features[key]
    score = lambda probes, key=key: (metrics.cosine_similarity(probes, gallery[key]), ids,
                                     gallery_ids)
    curves = {'raw_nir': score(raw), name: score(fake)}
    curves['fused'] = fused(curves, name, 0.5)
    if twin is not None:
      curves['vis_twin'] = score(twin)
      out.twin[key] = {'raw_nir': metrics.twin_fidelity(raw, twin, ids),
                       name: metrics.twin_fidelity(fake, twin, ids)}
    if vis is not None:
      curves['vis_to_vis'] = (metrics.cosine_similarity(vis[key], gallery[key]), vis_ids,
                              gallery_ids)
    out.curves[key] = curves
  if scored is not None:
    out.fidelity = {key: {'psnr': float(np.mean(psnr)), 'ssim': float(np.mean(ssim))}
                    for key, (psnr, ssim) in zip(('raw_nir', name), scored)}
  return out


FUSION_WEIGHTS = np.linspace(0.0, 1.0, 21)


def fused(curves: dict, name: str, weight: float):
  """The scores (1 - weight) * raw_nir + weight * `name`, with their ids: weight 0.5 is
  the paper's fused distance (Sec. 4.2), `generation_curves`' 'fused'."""
  s_raw, ids, gallery_ids = curves['raw_nir']
  return ((1.0 - weight) * s_raw + weight * curves[name][0], ids, gallery_ids)


def fusion_weight(curves: dict, name: str, weights=FUSION_WEIGHTS) -> tuple[float, dict]:
  """The weight of `fused` with the best rank-1 on `curves` (validation identities; ties go
  to the weight nearest 0.5); returns (weight, {weight: rank-1})."""
  table = {round(float(w), 6): metrics.rank_k_accuracy(*fused(curves, name, w))
           for w in weights}
  best = max(table.values())
  return min((w for w, r in table.items() if r == best), key=lambda w: abs(w - 0.5)), table


def gap_closed(results: dict, method: str = 'fused', raw: str = 'raw_nir',
               upper: str = 'vis_to_vis') -> float:
  """(method - raw) / (upper - raw) rank-1: the share of the NIR->VIS gap closed.

  NaN when there is no gap (upper <= raw) to close.
  """
  lo, hi = results[raw]['rank1'], results[upper]['rank1']
  return (results[method]['rank1'] - lo) / (hi - lo) if hi > lo else float('nan')


def git_commit() -> str | None:
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True,
                          check=True, cwd=os.path.dirname(__file__)).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return None


# The ROC a run keeps for hfr_jax.report's combined plots: sampled at these false accept rates.
FAR_GRID = np.logspace(-6, 0, 121)


def curve_points(curves: dict) -> dict[str, np.ndarray]:
  """The ROC and CMC of each of `curves`, small enough to keep with the run (curves.npz).

  'far': FAR_GRID; 'roc.<name>': the verification rate at each of those FARs (the
  highest TAR with FAR <= it, as metrics.verification_rate); 'cmc.<name>': the
  identification rate at ranks 1 .. number of gallery identities.
  """
  points = {'far': FAR_GRID}
  for name, (scores, probe_ids, gallery_ids) in curves.items():
    far, tar, _ = metrics.roc_curve(scores, probe_ids, gallery_ids)   # far nondecreasing
    points[f'roc.{name}'] = tar[np.searchsorted(far, FAR_GRID, side='right') - 1]
    points[f'cmc.{name}'] = metrics.cmc_curve(scores, probe_ids, gallery_ids)
  return points


def plot_roc(curves: dict, path: str):
  draw_roc({name: metrics.roc_curve(*c)[:2] for name, c in curves.items()}, path)


def plot_cmc(curves: dict, path: str):
  draw_cmc({name: metrics.cmc_curve(*c) for name, c in curves.items()}, path)


def draw_roc(lines: dict, path: str, title: str = 'ROC'):
  """{label: (far, tar)} on a log FAR axis, as one PNG."""
  fig, ax = plt.subplots(figsize=(5, 4) if len(lines) <= 6 else (7, 5))
  for label, (far, tar) in lines.items():
    far, tar = np.asarray(far), np.asarray(tar)
    keep = far > 0
    ax.semilogx(far[keep], tar[keep], label=label)
  ax.set(xlabel='false accept rate', ylabel='verification rate', xlim=(1e-4, 1), ylim=(0, 1.01),
         title=title)
  ax.grid(True, which='both', alpha=0.3)
  ax.legend(loc='lower right', fontsize='small' if len(lines) > 6 else None)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def draw_cmc(lines: dict, path: str, max_rank: int = 20, title: str = 'CMC'):
  """{label: cmc} (identification rate at ranks 1, 2, ...) up to `max_rank`, as one PNG."""
  fig, ax = plt.subplots(figsize=(5, 4) if len(lines) <= 6 else (7, 5))
  for label, cmc in lines.items():
    cmc = np.asarray(cmc)[:max_rank]
    ax.plot(np.arange(1, len(cmc) + 1), cmc, marker='.', label=label)
  ax.set(xlabel='rank', ylabel='identification rate', ylim=(0, 1.01), title=title)
  ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
  ax.grid(True, alpha=0.3)
  ax.legend(loc='lower right', fontsize='small' if len(lines) > 6 else None)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def gap_or_none(results: dict, gap: tuple[str, str]) -> float | None:
  """gap_closed of gap = (raw, method); None, not NaN, when there is no gap (NaN is not JSON)
  or no vis_to_vis to measure it against."""
  if 'vis_to_vis' not in results:
    return None
  closed = gap_closed(results, gap[1], gap[0])
  return None if np.isnan(closed) else closed


def write_report(workdir: str, curves: dict, *, title: str, dataset: dict, config,
                 notes: str = '', extra: dict | None = None,
                 images: dict[str, np.ndarray] | None = None,
                 gap: tuple[str, str] | None = None, fidelity: dict | None = None,
                 judges: dict | None = None, twin: dict | None = None,
                 sections: str = '') -> dict:
  """Scores every entry of `curves` ({method: (scores, probe_ids, gallery_ids)}).

  Writes results.json (each method's metrics under `metrics` and at the top
  level), roc.png, cmc.png, curves.npz (`curve_points` of `curves`, and of
  `judges`' curves with keys '<judge>.roc.<name>', '<judge>.cmc.<name>'), any `images`
  ({'grid.png': (H, W, 3) float in [0, 1]}) and report.md to `workdir`, each
  file complete or not at all (`fileio.write_atomic`).
  `gap` = (raw, method) adds
  `gap_closed` of `method` over `raw` against curves['vis_to_vis'] (and
  `gap`: {'raw', 'method'}, which rows it compares).
  `fidelity` (from `generation_curves(..., with_fidelity=True)`) goes into
  results.json and a table of report.md when not None.

  `judges`: {key of report.JUDGES: (curves, description)}, curves like `curves` (the
  same methods) scored by a recognizer that took no part in training, the
  description what results.json says of it. results.json gets, under each key,
  each method's metrics, `gap_closed` (with `gap`) and `recognizer`; report.md a
  table of rank-1 and VR@FAR=1% under the recognizer of `curves` (F) and under
  each judge. `twin` ({'f' or a judge's key: {method: metrics.twin_fidelity}})
  goes into results.json's `twin_fidelity` and a table of report.md. `sections`: more
  markdown for report.md, after the tables.

  Every process returns the payload; process 0 alone writes the files.
  """
  results = {name: metrics.summary(*c) for name, c in curves.items()}
  counts = {name: {'num_probe': int(np.shape(c[0])[0]), 'num_gallery': int(np.shape(c[0])[1])}
            for name, c in curves.items()}
  payload = {
      'title': title,
      'metrics': results,
      'counts': counts,
      'dataset': dataset,
      'config': json.loads(config.to_json_best_effort()) if hasattr(config, 'to_json_best_effort')
                else config,
      'git_commit': git_commit(),
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(),
      **(extra or {}),
      **results,
  }
  if gap is not None and 'vis_to_vis' in results:
    payload['gap'] = {'raw': gap[0], 'method': gap[1]}
    payload['gap_closed'] = gap_or_none(results, gap)
  if fidelity is not None:
    payload['fidelity'] = fidelity
  for key, (judged, about) in (judges or {}).items():
    if key not in report.JUDGES:
      raise ValueError(f'write_report: unknown judge {key!r}, expected one of '
                       f'{list(report.JUDGES)}')
    by_judge = {name: metrics.summary(*c) for name, c in judged.items()}
    payload[key] = dict(by_judge)
    if gap is not None:
      payload[key]['gap_closed'] = gap_or_none(by_judge, gap)
    payload[key]['recognizer'] = about or {}
  if twin:
    payload['twin_fidelity'] = twin
  first = next(iter(counts.values()))
  payload['num_gallery'], payload['num_probe'] = first['num_gallery'], first['num_probe']
  if not sharding.is_main_process():
    return payload
  os.makedirs(workdir, exist_ok=True)
  fileio.write_atomic(os.path.join(workdir, 'roc.png'), lambda tmp: plot_roc(curves, tmp))
  fileio.write_atomic(os.path.join(workdir, 'cmc.png'), lambda tmp: plot_cmc(curves, tmp))
  points = curve_points(curves)
  for key, (judged, _) in (judges or {}).items():
    points.update({f'{key}.{k}': v for k, v in curve_points(judged).items() if k != 'far'})

  def write_npz(tmp):
    with open(tmp, 'wb') as f:
      np.savez(f, **points)
  fileio.write_atomic(os.path.join(workdir, 'curves.npz'), write_npz)
  for name, image in (images or {}).items():
    fileio.write_atomic(os.path.join(workdir, name), lambda tmp, image=image: Image.fromarray(
        np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)).save(tmp, 'PNG'))
  fileio.write_text(os.path.join(workdir, 'results.json'),
                   json.dumps(payload, indent=2, default=str, allow_nan=False))
  fileio.write_text(os.path.join(workdir, 'report.md'), report.run_markdown(
      payload, notes=notes, images=list(images or {}), sections=sections))
  return payload
