"""Configs are plain data: importing one starts no JAX, from any directory, as a package or a
file, and one parser reads every config's variants."""

import os
import subprocess
import sys

import pytest

from configs import common

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ('pcfh', 'null', 'lightcnn', 'baseline')


def _run(code: str, cwd) -> str:
  proc = subprocess.run([sys.executable, '-c', code], cwd=cwd, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr
  return proc.stdout


@pytest.mark.parametrize('name', CONFIGS)
def test_importing_a_config_from_outside_the_repository_imports_no_jax(name, tmp_path):
  out = _run(f'import sys; sys.path.insert(0, {ROOT!r})\n'
             f'import configs.{name} as c\n'
             'c.get_config()\n'
             "print('jax' in sys.modules)", cwd=tmp_path)
  assert out.split() == ['False']


def test_config_flags_loads_a_config_file_by_path_from_any_directory(tmp_path):
  """ml_collections loads --config=<file> as a module of no package; pcfh.py still finds the
  lightcnn recipe beside it."""
  path = os.path.join(ROOT, 'configs', 'pcfh.py')
  out = _run('import sys\n'
             'from absl import flags\n'
             'from ml_collections import config_flags\n'
             "config = config_flags.DEFINE_config_file('config')\n"
             f"flags.FLAGS(['x', '--config={path}:demo,no_awm'])\n"
             'c = config.value\n'
             'print(c.method, c.use_awm, c.recognizer.recipe.model.arch, "jax" in sys.modules)',
             cwd=tmp_path)
  assert out.split() == ['pcfh', 'False', '9', 'False']


def test_variant_parts_go_to_their_groups_in_order():
  groups = {'scales': ('default', 'demo'), 'ablations': ('no_a', 'no_b')}
  assert common.parse_variant(' demo, no_b,,default ', 'configs/x.py', groups) == {
      'scales': ['demo', 'default'], 'ablations': ['no_b']}
  assert common.parse_variant('', 'configs/x.py', groups) == {'scales': [], 'ablations': []}
  with pytest.raises(ValueError, match=r"configs/x.py: unknown variant 'demo2' "
                                       r'\(scales: default, demo; ablations: no_a, no_b\)'):
    common.parse_variant('demo,demo2', 'configs/x.py', groups)


def test_a_single_variant_is_one_name_exactly():
  groups = {'variants': ('default', 'small')}
  assert common.parse_variant('small', 'configs/y.py', groups, single=True) == {
      'variants': ['small']}
  for arg in ('', ' small', 'small,default'):
    with pytest.raises(ValueError, match=f"configs/y.py: unknown variant '{arg}' "
                                         r'\(default, small\)'):
      common.parse_variant(arg, 'configs/y.py', groups, single=True)
