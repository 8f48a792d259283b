"""Atomic writes: the target is the old content or the new, never a part, and no temporary stays."""

import os

import pytest

from hfr_jax import fileio


def test_a_file_is_replaced_whole_and_its_temporary_keeps_the_extension(tmp_path):
  path = tmp_path / 'report.md'
  fileio.write_text(path, 'old')
  seen = []

  def write(tmp):
    seen.append(os.path.basename(tmp))
    with open(tmp, 'w') as f:
      f.write('new')
  fileio.write_atomic(path, write)
  assert path.read_text() == 'new'
  assert seen == ['tmp.report.md'] and os.listdir(tmp_path) == ['report.md']


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
  path = tmp_path / 'results.json'
  fileio.write_text(path, '{}')

  def half_then_fail(tmp):
    with open(tmp, 'w') as f:
      f.write('{"trunc')
    raise OSError('disk full')
  with pytest.raises(OSError, match='disk full'):
    fileio.write_atomic(path, half_then_fail)
  assert path.read_text() == '{}' and os.listdir(tmp_path) == ['results.json']


def test_a_directory_is_replaced_as_a_whole(tmp_path):
  path = tmp_path / 'export'
  path.mkdir()
  (path / 'stale').write_text('x')

  def fill(tmp):
    assert os.listdir(tmp) == []
    with open(os.path.join(tmp, 'export.json'), 'w') as f:
      f.write('{}')
  fileio.write_atomic(path, fill, directory=True)
  assert sorted(os.listdir(path)) == ['export.json'] and os.listdir(tmp_path) == ['export']

  def fail(tmp):
    raise ValueError('no')
  with pytest.raises(ValueError):
    fileio.write_atomic(path, fail, directory=True)
  assert sorted(os.listdir(path)) == ['export.json'] and os.listdir(tmp_path) == ['export']
