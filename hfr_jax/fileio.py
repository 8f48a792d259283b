"""Files and directories written whole or not at all.

`write_atomic` has the content written under a temporary name beside its
target, then renames it onto the target (`os.replace`, atomic within a file
system): a reader, or a run killed halfway, sees the old file or the new one,
never a part. Results, reports, curves, exports, generated images and landmark
tables are all written through it.
"""

import os
import shutil
import tempfile
from typing import Any, Callable


def write_atomic(path: str, write: Callable[[str], Any], *, directory: bool = False):
  """Calls `write(tmp)` to write `path`'s content at `tmp`, then renames `tmp` onto `path`.

  A file's `tmp` is 'tmp.<name>' beside it (keeping its extension, which some writers
  read the format from). With `directory`, `tmp` is a fresh empty directory beside
  `path` for `write` to fill; an existing `path` is replaced as a whole. On an error
  the temporary is removed and `path` is left as it was.
  """
  path = os.path.abspath(os.fspath(path))
  parent, name = os.path.split(path)
  if directory:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.tmp-{name}-', dir=parent)
    try:
      write(tmp)
      if os.path.exists(path):
        shutil.rmtree(path)
      os.replace(tmp, path)
    finally:
      shutil.rmtree(tmp, ignore_errors=True)
    return
  tmp = os.path.join(parent, 'tmp.' + name)
  try:
    write(tmp)
    os.replace(tmp, path)
  finally:
    if os.path.lexists(tmp):
      os.remove(tmp)


def write_text(path: str, text: str):
  """`text` as the file `path`, whole or not at all."""
  def write(tmp):
    with open(tmp, 'w') as f:
      f.write(text)
  write_atomic(path, write)
