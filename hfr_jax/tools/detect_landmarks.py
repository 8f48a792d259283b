"""68 landmarks for every image of a manually downloaded release, in one table.

python -m hfr_jax.tools.detect_landmarks --manual_dir=~/tensorflow_datasets/downloads/manual

Runs dlib's frontal face detector and 68-point predictor (the `landmarks`
extra: pip install -e '.[landmarks]') over every image under --manual_dir,
one process per core, and writes `<manual_dir>/landmarks.json`: points keyed
by the image's path relative to the manual dir (what the real-data builders
in tfds_builders/ read), the images where no face was found, and those that
could not be decoded. A face not found at the image's size is searched again
upsampled once, then twice (NIR faces, dark and flat, often need it); the
builders then place the mean shape on the release's eye coordinates, or
drop the image.

--include and --exclude (each repeatable) are fnmatch globs on the path
relative to the manual dir (`*` matches `/` too): an image is detected when
it matches some --include (or none is given) and no --exclude, so folders no
builder reads are skipped, e.g. `--exclude='*_128x128*'`. Each builder's README
(tfds_builders/<name>/README.md) gives the globs for its release.

The table is rewritten (whole, by rename) every --save_every images, and a
second run skips the images it already holds, so an interrupted run goes on
where it stopped; --redo starts over.
"""

import fnmatch
import multiprocessing
import os

from absl import flags
import tqdm

from hfr_jax import cli
from hfr_jax import landmarks
from tfds_builders import real_data

_MANUAL_DIR = flags.DEFINE_string('manual_dir', None, 'Folder holding the release folders.')
_TABLE = flags.DEFINE_string('table', None, 'Landmarks table to write; default <manual_dir>/'
                              + landmarks.TABLE_NAME)
_WORKERS = flags.DEFINE_integer('workers', os.cpu_count() or 1, 'Processes (one per core).')
_UPSAMPLES = flags.DEFINE_list('upsamples', [str(u) for u in landmarks.UPSAMPLES],
                               "Upsamplings tried in turn by dlib's detector.")
_INCLUDE = flags.DEFINE_multi_string(
    'include', [], "Glob on the path relative to --manual_dir, e.g. 'OriginalImg/*/Strong/*'; "
    'repeatable: only images matching one of them (default: all).')
_EXCLUDE = flags.DEFINE_multi_string(
    'exclude', [], "Glob on the relative path, e.g. '*_128x128*'; repeatable: images matching "
    'one of them are skipped, even if included.')
_REDO = flags.DEFINE_bool('redo', False, 'Detect every image again, ignoring the table.')
_SAVE_EVERY = flags.DEFINE_integer('save_every', 500, 'Rewrite the table every N images.')


def selected(rel: str, include=(), exclude=()) -> bool:
  """Whether `rel` matches an `include` glob (or there is none) and no `exclude` glob."""
  matches = lambda globs: any(fnmatch.fnmatchcase(rel, g) for g in globs)
  return (not include or matches(include)) and not matches(exclude)


def detect_file(args):
  """(relative path, points or None, upsample or None, error or None); runs in a worker."""
  manual_dir, rel, upsamples = args
  try:
    image = real_data.read_image(os.path.join(manual_dir, rel))
  except ValueError as e:
    return rel, None, None, str(e)
  points, upsample = landmarks.detect_with_retries(image, upsamples)
  return rel, points, upsample, None


def run(manual_dir: str, output: str | None = None, *, workers: int = 1,
        upsamples=landmarks.UPSAMPLES, include=(), exclude=(), redo: bool = False,
        save_every: int = 500, progress: bool = True) -> dict:
  """Detects what the table lacks and writes it; returns counts and the table's path.

  `include`, `exclude`: globs on the relative path (`selected`), to leave out a
  release's folders no protocol reads (Oulu-CASIA's Weak and Dark light,
  CASIA NIR-VIS 2.0's 128x128 copies).
  """
  manual_dir = os.path.expanduser(manual_dir)
  output = output or os.path.join(manual_dir, landmarks.TABLE_NAME)
  if not os.path.isdir(manual_dir):
    raise SystemExit(f'--manual_dir: {manual_dir} is not a folder')
  try:
    landmarks.dlib_models()
  except landmarks.LandmarksUnavailable as e:
    raise SystemExit(str(e)) from e
  images = [rel for rel in real_data.find_images(manual_dir)
            if selected(rel, include, exclude)]
  points, no_face, unreadable = {}, set(), set()
  if os.path.isfile(output) and not redo:
    points, no_face = landmarks.read_table(output)
  todo = [rel for rel in images if rel not in points and rel not in no_face]
  upsamples = tuple(int(u) for u in upsamples)
  save = lambda: landmarks.write_table(output, points, no_face, unreadable, upsamples)
  upsampled = 0
  jobs = [(manual_dir, rel, upsamples) for rel in todo]
  pool = None
  if workers > 1 and len(todo) > 1:
    # Spawned, not forked: a forked child inherits whatever threads the parent runs.
    pool = multiprocessing.get_context('spawn').Pool(
        min(workers, len(todo)), initializer=landmarks.dlib_models)
    results = pool.imap_unordered(detect_file, jobs, chunksize=4)
  else:
    results = map(detect_file, jobs)
  try:
    bar = tqdm.tqdm(results, total=len(todo), unit='image', desc='landmarks',
                    disable=not progress)
    for done, (rel, found, upsample, error) in enumerate(bar, 1):
      if error is not None:
        unreadable.add(rel)
      elif found is None:
        no_face.add(rel)
      else:
        points[rel] = found
        upsampled += upsample > 0
      if done % save_every == 0:
        save()
  finally:
    if pool is not None:
      pool.terminate()
  save()
  return dict(table=output, images=len(images), detected=len(todo) - len(unreadable),
              kept=len(images) - len(todo), upsampled=upsampled,
              no_face=sorted(no_face), unreadable=sorted(unreadable),
              faces=len(points))


def main(argv):
  del argv
  s = run(_MANUAL_DIR.value, _TABLE.value, workers=_WORKERS.value, upsamples=_UPSAMPLES.value,
          include=_INCLUDE.value, exclude=_EXCLUDE.value, redo=_REDO.value,
          save_every=_SAVE_EVERY.value)
  print(f'{s["images"]} images ({s["kept"]} already in the table): {s["faces"]} with '
        f'landmarks ({s["upsampled"]} of the new ones needed upsampling), '
        f'{len(s["no_face"])} without a face found, {len(s["unreadable"])} unreadable '
        f'-> {s["table"]}')
  for title, names in (('no face found', s['no_face']), ('unreadable', s['unreadable'])):
    if names:
      shown = ', '.join(names[:10]) + (' ...' if len(names) > 10 else '')
      print(f'{title}: {shown}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['manual_dir'])
  cli.run(main)
