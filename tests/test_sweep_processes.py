"""sweep.run over several processes (jax.distributed, gloo collectives on CPU): each process trains its
share of the chunks into one workdir, the assembled arrays equal one process's bit for bit, and a sweep
resumes under a different number of processes."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.slow

_WORKER = textwrap.dedent("""
    import os, sys
    port, pid, nproc, workdir = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    import jax
    if nproc > 1:
      jax.config.update("jax_cpu_collectives_implementation", "gloo")
      jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc, process_id=pid)
    import numpy as np
    from relu_dae import data, sweep, train
    X = np.asarray(data.locally_sparse(jax.random.PRNGKey(3), n=16, d=16))
    grid = sweep.Grid(n=(2, 3, 5, 8, 12, 16), sigma=(0.1, 0.3), p=(8,), seed=(0, 1))
    config = sweep.SweepConfig(train.TrainConfig(steps=40, learning_rate=1e-2, chunk_size=20), p_max=8, max_chunk=4)
    stem = sweep.run(grid, config, workdir, pool=X, progress=False)
    print("PROCESS", jax.process_index(), "OF", jax.process_count(), "STEM", stem)
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _sweep(workdir, nproc: int) -> dict:
  """Runs the worker in ``nproc`` processes (one CPU device each) and returns the assembled arrays."""
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=1", "JAX_PLATFORMS": "cpu"}
  port = _free_port()
  procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(port), str(i), str(nproc), str(workdir)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
           for i in range(nproc)]
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert all("STEM" in out for out, _ in outs)
  with np.load(os.path.join(workdir, "sweep.npz"), allow_pickle=False) as f:
    return dict(f)


def _drop_chunks(workdir, keep_every: int = 2) -> int:
  chunks = os.path.join(workdir, "chunks")
  stems = sorted({f.rsplit(".", 1)[0] for f in os.listdir(chunks) if f.endswith(".npz")})
  dropped = stems[::keep_every]
  for stem in dropped:
    for ext in (".npz", ".json"):
      os.remove(os.path.join(chunks, stem + ext))
  os.remove(os.path.join(workdir, "sweep.npz"))
  return len(dropped)


def _assert_same(a: dict, b: dict) -> None:
  assert sorted(a) == sorted(b)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_two_processes_equal_one_bit_for_bit_and_resume_across_process_counts(tmp_path):
  one = _sweep(tmp_path / "one", 1)
  two = _sweep(tmp_path / "two", 2)
  _assert_same(one, two)
  chunks = tmp_path / "two" / "chunks"
  writers = [json.loads((chunks / f).read_text())["meta"]["process"] for f in os.listdir(chunks) if f.endswith(".json")]
  assert sorted(set(writers)) == [0, 1] and len(writers) >= 4  # both processes trained a share
  assert _drop_chunks(tmp_path / "two") >= 2  # killed under 2 processes ...
  _assert_same(one, _sweep(tmp_path / "two", 1))  # ... resumed under 1
  assert _drop_chunks(tmp_path / "one") >= 2  # and the other way round
  _assert_same(one, _sweep(tmp_path / "one", 2))
