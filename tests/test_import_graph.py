"""The layers keep their boundaries, read from each module's imports (ast, nothing imported):
the core never imports a method, a method never imports another, ops/ imports only ops/,
models/ no training or export code, and configs no hfr_jax."""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = {'pcfh': ('hfr_jax.pcfh', 'hfr_jax.models.pcfh'),
           'null': ('hfr_jax.null', 'hfr_jax.models.null')}


def _modules(package: str) -> dict[str, str]:
  """{dotted module name: path} of every .py file under `package` (a directory of ROOT)."""
  out = {}
  for folder, _, names in os.walk(os.path.join(ROOT, package)):
    for name in names:
      if name.endswith('.py'):
        rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].replace(os.sep, '.')
        out[rel.removesuffix('.__init__')] = os.path.join(folder, name)
  return out


def imports(path: str, module: str) -> set[str]:
  """Every module `path` imports, at any depth (function-level imports too), as dotted names;
  `from a import b` counts as a.b (b may be a module) and as a."""
  tree = ast.parse(open(path).read(), path)
  package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parts = package.split('.')
        parent = '.'.join(parts[:len(parts) - node.level + 1])
        base = f'{parent}.{base}' if base else parent
      found.add(base)
      found.update(f'{base}.{alias.name}' for alias in node.names)
  return found


MODULES = _modules('hfr_jax')


def _within(name: str, prefix: str) -> bool:
  return name == prefix or name.startswith(prefix + '.')


def _method_of(name: str) -> str | None:
  return next((m for m, prefixes in METHODS.items()
               if any(_within(name, p) for p in prefixes)), None)


def _is_core(name: str) -> bool:
  return (name.count('.') == 1 or _within(name, 'hfr_jax.ops')
          or name == 'hfr_jax.models.layers')


def _arrows(keep):
  return sorted(f'{module} -> {target}' for module, path in MODULES.items()
                for target in imports(path, module) if keep(module, target))


def test_the_module_table_holds_every_layer():
  for name in ('hfr_jax.training', 'hfr_jax.sharding', 'hfr_jax.ops.augment',
               'hfr_jax.models.layers', 'hfr_jax.pcfh.train', 'hfr_jax.null.train',
               'hfr_jax.models.pcfh', 'hfr_jax.models.null'):
    assert name in MODULES, name
  assert _is_core('hfr_jax.evaluate') and not _is_core('hfr_jax.pcfh.train')
  assert imports(MODULES['hfr_jax.models.null'], 'hfr_jax.models.null') >= {
      'hfr_jax.models.layers', 'hfr_jax.ops.align'}


def test_the_core_imports_no_method():
  assert _arrows(lambda m, t: _is_core(m) and _within(t, 'hfr_jax.pcfh')
                 or _is_core(m) and _within(t, 'hfr_jax.null')) == []


def test_no_method_imports_another():
  assert _arrows(lambda m, t: _method_of(m) and _method_of(t)
                 and _method_of(m) != _method_of(t)) == []


def test_ops_import_only_ops_and_third_party():
  assert _arrows(lambda m, t: _within(m, 'hfr_jax.ops') and _within(t, 'hfr_jax')
                 and not _within(t, 'hfr_jax.ops')) == []
  assert _arrows(lambda m, t: _within(m, 'hfr_jax.ops')
                 and (_within(t, 'configs') or _within(t, 'tfds_builders'))) == []


def test_models_import_no_training_or_export_code():
  """export rebuilds models from their factories: a model importing export is a cycle."""
  assert _arrows(lambda m, t: _within(m, 'hfr_jax.models') and _within(t, 'hfr_jax')
                 and not (_within(t, 'hfr_jax.models') or _within(t, 'hfr_jax.ops'))) == []


CONFIGS = _modules('configs')


@pytest.mark.parametrize('module', sorted(CONFIGS))
def test_configs_import_no_hfr_jax(module):
  """A config is data: it reaches the renderer's presets, never JAX code."""
  assert not [t for t in imports(CONFIGS[module], module) if _within(t, 'hfr_jax')]


def test_the_photo_judge_reaches_no_training_code():
  """dlib's recognizer only scores: the trainer, the losses, the models and the steps'
  modules never import it: hfr_jax.recognizer.judges hands it to the methods' reports after
  training, and only the methods' train modules import that."""
  allowed = {'hfr_jax.recognizer.judges', 'hfr_jax.recognizer.photo_judge'}
  found = sorted(name for name, path in MODULES.items()
                 if name not in allowed and 'hfr_jax.recognizer.photo_judge' in imports(path, name))
  assert found == []
  using = sorted(name for name, path in MODULES.items()
                 if 'hfr_jax.recognizer.judges' in imports(path, name))
  assert using == ['hfr_jax.null.train', 'hfr_jax.pcfh.train']
