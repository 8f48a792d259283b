"""Several processes, one run: the flags that start JAX's multi-controller runtime.

Every process runs the same `python -m hfr_jax.main ...` on its own devices;
`jax.distributed.initialize` connects them, and from then on `jax.devices()`
lists every process's devices, so the mesh of `hfr_jax.training` spans them
all. The rest is in the trainers: each process reads its part of every global
batch (`hfr_jax.input_pipeline`), orbax writes the checkpoints together,
features are gathered before scoring, and process 0 alone writes logs,
reports and exports.

Two ways to start it:

* --distributed alone: JAX reads the processes from the environment a Cloud
  TPU pod slice, SLURM (srun), Open MPI or Kubernetes (with the `kubernetes`
  package) sets;
* --coordinator_address=HOST:PORT --num_processes=N --process_id=I, given to
  every process (I = 0 .. N-1; HOST is process 0's machine): anywhere else,
  e.g. several GPU machines by hand, or two CPU processes on one machine.

Without either, nothing starts: one process, as before.
"""

from absl import flags

_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False,
    'Start jax.distributed (several processes, one run). Alone, JAX detects the processes '
    'of a Cloud TPU pod slice, SLURM, Open MPI or Kubernetes; elsewhere give '
    '--coordinator_address, --num_processes and --process_id (which imply it).')
_COORDINATOR_ADDRESS = flags.DEFINE_string(
    'coordinator_address', None, 'HOST:PORT of process 0, the same for every process.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'How many processes the run has.',
                                      lower_bound=1)
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process: 0 .. num_processes - 1.',
                                   lower_bound=0)

_EXPLICIT = ('coordinator_address', 'num_processes', 'process_id')


def initialize_arguments(distributed: bool = False, coordinator_address: str | None = None,
                         num_processes: int | None = None,
                         process_id: int | None = None) -> dict | None:
  """jax.distributed.initialize's arguments for these flags; None: a single process.

  Raises ValueError, naming the flag, on a combination JAX would reject or,
  worse, wait on until its timeout (a process id no other process has).
  """
  given = {'coordinator_address': coordinator_address, 'num_processes': num_processes,
           'process_id': process_id}
  named = [k for k in _EXPLICIT if given[k] is not None]
  if not named:
    return {} if distributed else None
  missing = [k for k in _EXPLICIT if given[k] is None]
  if missing:
    raise ValueError(f'--{named[0]} needs {" and ".join("--" + k for k in missing)}: give all '
                     'three to every process, or --distributed alone where JAX can read them '
                     'from the environment (TPU pod slice, SLURM, Open MPI, Kubernetes)')
  host, _, port = coordinator_address.rpartition(':')
  if not host or not port.isdigit():
    raise ValueError(f'--coordinator_address={coordinator_address}: expected HOST:PORT, '
                     'e.g. 10.0.0.1:1234 (process 0 listens on PORT)')
  if process_id >= num_processes:
    raise ValueError(f'--process_id={process_id} is not below --num_processes={num_processes} '
                     f'(ids are 0 .. {num_processes - 1})')
  return given


def initialize():
  """Starts jax.distributed as the flags ask (before any JAX computation); logs nothing.

  Raises ValueError naming the flag when the flags, or the environment
  --distributed reads, do not describe a run.
  """
  kwargs = initialize_arguments(_DISTRIBUTED.value, _COORDINATOR_ADDRESS.value,
                                _NUM_PROCESSES.value, _PROCESS_ID.value)
  if kwargs is None:
    return
  # Not at the top: hfr_jax.main imports this module, and a bad flag should fail before JAX.
  import jax  # pylint: disable=import-outside-toplevel
  try:
    jax.distributed.initialize(**kwargs)
  except ValueError as e:
    if kwargs:
      raise ValueError(f'jax.distributed.initialize: {e}') from e
    # --distributed alone and JAX found no cluster: it asks for an address it could not read.
    raise ValueError('--distributed: no Cloud TPU pod, SLURM, Open MPI or Kubernetes '
                     f'environment found ({e}); give --coordinator_address, '
                     '--num_processes and --process_id') from e
