"""Several processes, one run: two CPU processes of 2 devices each train NULL to the
parameters of one process on one device, and `hfr_jax.main` run as two processes builds
the data once, scores over features gathered from both and writes one report, the one a
single process writes; the start-up flags fail in one line.

The processes talk over 127.0.0.1 only: jax.distributed's coordinator on a free port bound
to the loopback address, and gloo for the CPU collectives. Each test starts the one-process
run beside the two-process one (compiling is single-threaded: the three share two cores
better than two runs in a row would) and kills whatever is left when it ends.
"""

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time

from flax import nnx
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from hfr_jax import export
from hfr_jax import multihost

from trainer_runs import ROOT, run

# ----------------------------------------------------------------------------
# The flags.


@pytest.mark.parametrize('flags, message', [
    (dict(process_id=1), '--process_id needs --coordinator_address and --num_processes'),
    (dict(num_processes=2), '--num_processes needs --coordinator_address and --process_id'),
    (dict(coordinator_address='10.0.0.1:1234', num_processes=2),
     '--coordinator_address needs --process_id'),
    (dict(coordinator_address='10.0.0.1', num_processes=2, process_id=0), 'expected HOST:PORT'),
    (dict(coordinator_address='10.0.0.1:1234', num_processes=2, process_id=2),
     '--process_id=2 is not below --num_processes=2'),
])
def test_an_incomplete_or_impossible_process_set_is_refused_naming_the_flag(flags, message):
  with pytest.raises(ValueError, match=re.escape(message)):
    multihost.initialize_arguments(**flags)


def test_no_flag_is_one_process_and_distributed_alone_leaves_the_rest_to_jax():
  assert multihost.initialize_arguments() is None
  assert multihost.initialize_arguments(distributed=True) == {}
  given = dict(coordinator_address='10.0.0.1:1234', num_processes=4, process_id=3)
  assert multihost.initialize_arguments(**given) == given
  assert multihost.initialize_arguments(distributed=True, **given) == given


def _one_line(*flags) -> str:
  proc = subprocess.run([sys.executable, '-m', 'hfr_jax.main', '--config=configs/baseline.py',
                         '--workdir=/nonexistent', *flags], cwd=ROOT, capture_output=True,
                        text=True, timeout=120, env={**os.environ, 'PYTHONPATH': ROOT})
  assert proc.returncode != 0 and proc.stdout == '', proc
  lines = proc.stderr.splitlines()
  assert len(lines) == 1, proc.stderr[-3000:]
  return lines[0]


def test_the_command_line_names_the_missing_flag_in_one_line():
  assert _one_line('--process_id=1').startswith(
      'hfr_jax.main: --process_id needs --coordinator_address and --num_processes: give all '
      'three to every process, or --distributed alone')


@pytest.mark.skipif(any(v in os.environ for v in ('SLURM_JOB_ID', 'OMPI_MCA_orte_hnp_uri',
                                                   'KUBERNETES_SERVICE_HOST')),
                    reason='a cluster JAX would detect')
def test_distributed_alone_outside_a_cluster_says_what_to_give_instead():
  assert _one_line('--distributed').startswith(
      'hfr_jax.main: --distributed: no Cloud TPU pod, SLURM, Open MPI or Kubernetes '
      'environment found')


# ----------------------------------------------------------------------------
# Two processes == one.

TIMEOUT = 600   # seconds for all runs of a test: a hung collective fails it, not the suite
# Computed in float64 (parameters stay float32): at the tiny widths instance norm over 2x2 to
# 4x4 maps amplifies float32 summation-order noise ~200x (a 1e-6 change of the input moves
# gradients by ~2e-4), and the four devices' gradients are added in another order than one
# device's; a mis-sharded or mis-gathered gradient is off by O(1) either way.
X64 = {'JAX_ENABLE_X64': '1'}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _devices(n: int) -> dict:
  flags = os.environ.get('XLA_FLAGS', '')
  return {**X64, 'XLA_FLAGS': f'{flags} --xla_force_host_platform_device_count={n}'.strip()}


def one_and_two_processes(one_args, two_args, one_devices=4) -> tuple[str, list[str]]:
  """`python *one_args` as one process with `one_devices` CPU devices and, at the same time,
  `python *two_args(port, i)` as processes i = 0, 1 with 2 devices each. Returns their
  outputs."""
  port = _free_port()
  distributed = {**_devices(2), 'JAX_COORDINATOR_BIND_ADDRESS': f'127.0.0.1:{port}',
                 'JAX_CPU_COLLECTIVES_IMPLEMENTATION': 'gloo'}
  procs = []
  try:
    procs.append(run(one_args, _devices(one_devices)))
    procs += [run(two_args(port, i), distributed) for i in range(2)]
    deadline = time.time() + TIMEOUT
    outs = [proc.communicate(timeout=max(1.0, deadline - time.time()))[0] for proc in procs]
    for proc, out in zip(procs, outs):
      assert proc.returncode == 0, out[-3000:]
    return outs[0], outs[1:]
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.communicate()


def checkpoint(workdir):
  """(step, {path: numpy array}) of WORKDIR's newest checkpoint, whatever devices wrote it."""
  with ocp.CheckpointManager(os.path.join(workdir, 'checkpoints')) as manager:
    step = manager.latest_step()
  path = os.path.join(workdir, 'checkpoints', str(step), 'state')
  with ocp.PyTreeCheckpointer() as checkpointer:
    as_numpy = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray),
                            checkpointer.metadata(path).item_metadata)
    state = checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=as_numpy))
  return step, _by_path(state)


def _by_path(tree) -> dict:
  return {jax.tree_util.keystr(k): np.asarray(v)
          for k, v in jax.tree_util.tree_leaves_with_path(tree)}


def assert_close(a: dict, b: dict):
  assert a.keys() == b.keys()
  for key in a:
    np.testing.assert_allclose(b[key], a[key], rtol=1e-5, atol=1e-5, err_msg=key)


_TRAIN_SCRIPT = textwrap.dedent('''
    import os, sys
    import jax
    workdir, data_dir, port, process = sys.argv[1:]
    if process != 'alone':
      jax.config.update('jax_cpu_collectives_implementation', 'gloo')
      jax.distributed.initialize(coordinator_address=f'127.0.0.1:{port}', num_processes=2,
                                 process_id=int(process))
    sys.path.insert(0, 'tests')
    import test_null_train
    from hfr_jax import export
    from hfr_jax.null import train

    # NULL validates (keep-best) and draws previews: both gather from every process.
    config = test_null_train.tiny_config(data_dir, steps=3, checkpoint_every=3)
    config.model.dtype = 'float64'
    trainer, _ = train.train(config, os.path.join(workdir, 'null'))
    export.save(trainer.model, os.path.join(workdir, 'null', 'export'),
                factory=train.FACTORY, kwargs=train.model_kwargs(config))
''')


@pytest.mark.heavy(230)
def test_two_processes_of_two_devices_train_null_to_the_parameters_of_one_device(tiny_builder,
                                                                                 tmp_path):
  """Batch 8 on one device, and split over 2 processes x 2 devices (gradients reduced over
  gloo): every parameter and Adam moment agrees after 3 steps, and so do the validation
  that kept a checkpoint and the export. PCFH's batch split is tested on 8 devices in
  tests/test_pcfh_train.py; its step has no cross-process code of its own."""
  script = lambda workdir, port, process: ['-c', _TRAIN_SCRIPT, str(workdir),
                                           str(tiny_builder.data_dir_root), str(port),
                                           str(process)]
  one, two = tmp_path / 'one', tmp_path / 'two'
  _, (out_0, out_1) = one_and_two_processes(
      script(one, 0, 'alone'), lambda port, i: script(two, port, i), one_devices=1)
  assert 'NULL: step 3/3' in out_0 and 'NULL: step' not in out_1   # process 0 alone prints
  (step_a, a), (step_b, b) = checkpoint(one / 'null'), checkpoint(two / 'null')
  assert step_a == step_b == 3
  assert_close(a, b)
  assert len(os.listdir(two / 'null' / 'tensorboard')) == 1   # process 0's event file
  # Validation ran at step 3 on every process and kept it; process 0 wrote the export.
  assert os.listdir(two / 'null' / 'best') == os.listdir(one / 'null' / 'best') == ['3']
  exported = [export.load(w / 'null' / 'export')[0] for w in (one, two)]
  assert_close(*[_by_path(nnx.to_pure_dict(nnx.state(m, nnx.Param))) for m in exported])


def test_main_as_two_processes_builds_scores_and_reports_as_one(tmp_path):
  """The raw-pixel baseline through `hfr_jax.main`: process 0 renders the set while the other
  waits, each embeds its rows of every batch of 4 (the last one padded), and the gathered
  features give one process's figures; process 0 alone prints and writes the report."""
  args = lambda data_dir, workdir: [
      '-m', 'hfr_jax.main', '--config=configs/baseline.py:small', f'--workdir={workdir}',
      f'--config.data.data_dir={data_dir}', '--config.data.seed=11',
      '--config.data.num_identities=10', '--config.data.resolution=48',
      '--config.eval_batch_size=4']
  one, two = tmp_path / 'one', tmp_path / 'two'
  out_one, (out_0, out_1) = one_and_two_processes(
      args(tmp_path / 'data_one', one),
      lambda port, i: [*args(tmp_path / 'data_two', two), f'--coordinator_address=127.0.0.1:{port}',
                       '--num_processes=2', f'--process_id={i}'])
  assert 'Report:' in out_one and 'Report:' in out_0 and 'Report:' not in out_1
  results = [json.loads((w / 'results.json').read_text()) for w in (one, two)]
  assert results[0]['metrics'] == results[1]['metrics']
  assert results[0]['counts'] == results[1]['counts']
  assert results[1]['num_probe'] == 5 * 3   # 5 test identities x 3 NIR: batches of 4 padded
