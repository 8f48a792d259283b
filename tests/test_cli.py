"""Command lines: a mistyped flag or config field ends in one line naming the nearest names."""

import difflib
import os
import re
import subprocess
import sys

import pytest

from configs import pcfh as pcfh_config
from hfr_jax import cli
from hfr_jax import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module, *args):
  return subprocess.run([sys.executable, '-m', module, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=120)


def _one_line(proc):
  assert proc.returncode != 0 and proc.stdout == '', proc
  lines = proc.stderr.splitlines()
  assert len(lines) == 1, proc.stderr[-3000:]
  return lines[0]


def test_closest_is_difflib_then_the_nearest_three_however_far():
  names = pcfh_config.get_config('demo').train.keys()
  assert cli.closest('num_step', names) == ['num_steps']
  # No name within difflib's cutoff: the three highest ratios (ties: later name first).
  key = lambda n: (difflib.SequenceMatcher(None, n, 'nonsense').ratio(), n)
  assert cli.closest('nonsense', names) == sorted(names, key=key, reverse=True)[:3]


def test_a_mistyped_config_field_names_it_and_the_closest_fields(tmp_path):
  line = _one_line(_run('hfr_jax.main', '--config=configs/pcfh.py:demo', f'--workdir={tmp_path}',
                        '--config.train.nonsense=3'))
  nearest = cli.closest('nonsense', pcfh_config.get_config('demo').train.keys())
  assert line == ("hfr_jax.main: --config.train.nonsense: config.train has no field 'nonsense'; "
                  f"closest: {', '.join(nearest)}")
  line = _one_line(_run('hfr_jax.main', '--config=configs/pcfh.py:demo', f'--workdir={tmp_path}',
                        '--config.data.seed=2', '--config.trian.num_steps=3'))
  assert line == ("hfr_jax.main: --config.trian.num_steps: config has no field 'trian'; "
                  "closest: train")
  assert not os.listdir(tmp_path)


def test_the_entry_point_imports_no_jax_until_its_flags_have_parsed():
  """A mistyped flag or config field ends in its one line without JAX's seconds of imports:
  importing hfr_jax.main (its flags, cli, multihost, report) must not import jax."""
  code = ("import sys, hfr_jax.main; assert 'jax' not in sys.modules, "
          "sorted(m for m in sys.modules if m.startswith('hfr_jax'))")
  proc = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                        env={**os.environ, 'PYTHONPATH': REPO}, timeout=120)
  assert proc.returncode == 0, proc.stderr[-3000:]


def test_verbosity_1_keeps_the_traceback(tmp_path):
  proc = _run('hfr_jax.main', '--config=configs/pcfh.py:demo', f'--workdir={tmp_path}',
              '--config.train.nonsense=3', '--verbosity=1')
  assert proc.returncode != 0 and 'Traceback' in proc.stderr
  assert proc.stderr.splitlines()[-1] == "AttributeError: \"'nonsense'\""


def test_bad_flags_files_and_variants_end_in_one_line(tmp_path):
  line = _one_line(_run('hfr_jax.main', '--config=configs/pcfh.py:demo', '--workdirr=/tmp/x'))
  assert line == 'hfr_jax.main: unknown flag --workdirr; closest: --workdir'
  line = _one_line(_run('hfr_jax.main', '--config=configs/nope.py', f'--workdir={tmp_path}'))
  assert line == "hfr_jax.main: --config: [Errno 2] No such file or directory: 'configs/nope.py'"
  line = _one_line(_run('hfr_jax.main', '--config=configs/pcfh.py:demo', f'--workdir={tmp_path}',
                        '--config.train.num_steps=ten'))
  assert line.startswith('hfr_jax.main: flag --config.train.num_steps=ten: ')
  line = _one_line(_run('hfr_jax.main', '--config=configs/baseline.py:nope',
                        f'--workdir={tmp_path}'))
  assert line.endswith("ValueError: configs/baseline.py: unknown variant 'nope' (default, small)")
  line = _one_line(_run('hfr_jax.main', '--config=configs/baseline.py:small',
                        f'--workdir={tmp_path}', '--config.method=magic'))
  assert line == f"hfr_jax.main: config.method='magic' is not one of {sorted(main.TRAINERS)}"


def test_hallucinate_names_the_closest_flag():
  line = _one_line(_run('hfr_jax.hallucinate', '--model_dirr=x', '--input=a', '--output=b'))
  assert line == 'hfr_jax.hallucinate: unknown flag --model_dirr; closest: --model_dir'


def test_notebook_overrides_set_nested_fields_and_refuse_a_mistyped_one_by_name():
  config = pcfh_config.get_config('demo')
  cli.apply_overrides(config, {'train.num_steps': 3, 'judge.recipe.model.arch': '9'})
  assert config.train.num_steps == 3 and config.judge.recipe.model.arch == '9'
  for path, message in (('train.num_stepz', "config.train has no field 'num_stepz'; "
                                            'closest: num_steps'),
                        ('trian.num_steps', "config has no field 'trian'; closest: train"),
                        ('seed.value', "config.seed has no field 'value'")):
    with pytest.raises(ValueError, match=f'^{re.escape(f"{path}: {message}")}$'):
      cli.apply_overrides(config, {path: 1})
  assert 'num_stepz' not in config.train
