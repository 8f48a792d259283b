"""What every command line here shares: quiet logs, and flag errors in one line.

`run(main)` replaces `app.run(main)`. Unless --verbosity is given, logs stop at
WARNING and TFDS draws no progress bars: orbax, xla_bridge and matplotlib report
their own machinery at INFO (213 of the 280 lines `make demo` printed), which
drowns the progress line and the results. A bad flag, or a --config.a.b override
naming no field, ends in one line naming the closest flag or fields instead of a
parse traceback; --verbosity=1 keeps the traceback.
"""

import contextlib
import difflib
import logging as py_logging
import os
import re
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections.config_flags import config_flags

# Libraries whose INFO records a run would otherwise print; absl's verbosity sets the root
# level, these are set too in case a library gave its logger a level of its own.
QUIET_LOGGERS = ('absl', 'jax', 'orbax', 'matplotlib', 'etils', 'tensorflow_datasets',
                 'grain', 'PIL')
# TFDS warns about every builder config that is not listed in BUILDER_CONFIGS, which is every
# synthetic set a config's data fields pick.
_EXPECTED_WARNINGS = ('Using custom data configuration',)


def run(main):
  """app.run(main), with quiet logs and one-line flag errors (see the module docstring)."""

  def quiet_main(argv):
    if not flags.FLAGS['verbosity'].present:
      quiet_logs()
    return main(argv)

  app.run(quiet_main, flags_parser=parse_flags)


@contextlib.contextmanager
def one_line_errors():
  """Ends the program with the one line of a ValueError, FileNotFoundError or FloatingPointError.

  Bad configs, files and datasets (and a non-finite loss) raise these with a message that
  names the key, file or step; --verbosity=1 keeps the traceback.
  """
  try:
    yield
  except (ValueError, FileNotFoundError, FloatingPointError) as e:
    if logging.get_verbosity() >= logging.DEBUG:
      raise
    raise SystemExit(f'{program()}: {e}') from None


def quiet_logs():
  logging.set_verbosity(logging.WARNING)
  for name in QUIET_LOGGERS:
    logger = py_logging.getLogger(name)
    if logger.level < py_logging.WARNING:
      logger.setLevel(py_logging.WARNING)
  logging.get_absl_logger().addFilter(
      lambda record: not record.getMessage().startswith(_EXPECTED_WARNINGS))
  # TFDS draws a bar per split and per shard while it builds a dataset; its two lines
  # ("Downloading and preparing ...", "... prepared to DIR") say enough.
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  tfds.disable_progress_bar()


def parse_flags(argv: list[str]) -> list[str]:
  """flags.FLAGS(argv), ending the program with one line on a bad flag or override."""
  try:
    rest = flags.FLAGS(argv)
    for flag in _config_flags():
      flag.value.get   # a config file that failed to load raises on first access
    return rest
  except (flags.Error, AttributeError, KeyError, IndexError, OSError) as e:
    if _verbosity(argv) >= logging.DEBUG:
      raise
    message = _override_error(argv) or _one_line(e)
    if message is None:
      raise
    sys.exit(f'{program()}: {message}')


def program() -> str:
  """'hfr_jax.main' for `python -m hfr_jax.main`, else the script's name."""
  spec = getattr(sys.modules.get('__main__'), '__spec__', None)
  return spec.name if spec is not None else os.path.basename(sys.argv[0])


def closest(name: str, names) -> list[str]:
  """Up to three of `names` nearest to `name`, however far (there is always a nearest)."""
  names = sorted(names)
  return (difflib.get_close_matches(name, names, n=3)
          or difflib.get_close_matches(name, names, n=3, cutoff=0.0))


def apply_overrides(config, overrides: dict):
  """Sets each {'a.b': value} of `overrides` in `config`, as --config.a.b=value would.

  For notebooks, whose parameters name config fields by path. ml_collections'
  update_from_flattened_dict adds a mistyped leaf as a new field, which the
  run then ignores; here a path naming no field raises ValueError naming the
  closest ones, like the command line.
  """
  for path, value in overrides.items():
    node, where = config, 'config'
    *parents, leaf = path.split('.')
    for key in (*parents, leaf):
      fields = list(node.keys()) if hasattr(node, 'keys') else []
      if key not in fields:
        nearest = f'; closest: {", ".join(closest(key, fields))}' if fields else ''
        raise ValueError(f'{path}: {where} has no field {key!r}{nearest}')
      if key is not leaf:
        node, where = node[key], f'{where}.{key}'
    node[leaf] = value


def _config_flags():
  """The DEFINE_config_file flags (each --name=FILE[:ARG] with --name.a.b overrides)."""
  return [flags.FLAGS[name] for name in flags.FLAGS
          if isinstance(flags.FLAGS[name].parser, config_flags.ConfigFileFlagParser)]


def _flag_values(argv, name):
  """Values of --name=V / --name V in argv, in order."""
  values = []
  for i, arg in enumerate(argv[1:], 1):
    m = re.fullmatch(rf'--?{re.escape(name)}(?:=(.*))?', arg, re.S)
    if m and m.group(1) is not None:
      values.append(m.group(1))
    elif m and i + 1 < len(argv):
      values.append(argv[i + 1])
  return values


def _verbosity(argv) -> int:
  """--verbosity / -v from argv: parsing failed, so FLAGS may not have read it."""
  parser = flags.FLAGS['verbosity'].parser
  level = logging.INFO
  for value in _flag_values(argv, 'verbosity') + _flag_values(argv, 'v'):
    try:
      level = parser.parse(value)
    except ValueError:
      pass
  return level


def _override_error(argv) -> str | None:
  """Names the first --config.a.b override whose path is not in the config."""
  for flag in _config_flags():
    paths = [m.group(1) for arg in argv[1:]
             for m in [re.match(rf'--?(?:no)?{re.escape(flag.name)}\.([^=]+)', arg)] if m]
    files = _flag_values(argv, flag.name)
    if not paths or not files:
      continue
    try:
      config = flag.parser.parse(files[-1])
      config.get   # an unloadable file raises here
    except Exception:  # pylint: disable=broad-except
      return None    # the file itself is the error; _one_line says which
    for path in paths:
      node, where = config, flag.name
      for key in path.split('.'):
        key = key.split('[')[0]
        if not hasattr(node, 'keys'):
          break
        if key not in node:
          return (f'--{flag.name}.{path}: {where} has no field {key!r}; closest: '
                  f'{", ".join(closest(key, node.keys()))}')
        node, where = node[key], f'{where}.{key}'
  return None


def _one_line(error: Exception) -> str | None:
  """absl's and ml_collections' messages, which can hold a config file's traceback."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  if isinstance(error, flags.UnrecognizedFlagError):
    ours = [f.name for f in flags.FLAGS.get_key_flags_for_module(sys.argv[0])]
    return (f'unknown flag --{error.flagname}; closest: '
            f'{", ".join("--" + n for n in closest(error.flagname, ours or list(flags.FLAGS)))}')
  if isinstance(error, flags.Error):
    if len(lines) > 1:   # 'flag --config=F: Error whilst parsing config file:', traceback
      return f'{lines[0].split(" Error whilst parsing")[0]} {lines[-1]}'
    return lines[0] if lines else type(error).__name__
  if isinstance(error, OSError) and lines:   # a --config file that does not load
    return f'--config: {lines[-1]}'
  return None
