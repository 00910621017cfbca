"""Nothing lost, nothing silently wrong: a sweep's workdir under kills, corruption, swaps, a
missing spec, another device count and a concurrent run (issue 13, item 1)."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jax

from relu_dae import data, results, sweep, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = train.TrainConfig(steps=30, learning_rate=1e-2, chunk_size=10)


def _pool():
  return np.asarray(data.locally_sparse(jax.random.PRNGKey(3), n=16, d=16))


def _config(**kw):
  return sweep.SweepConfig(TRAIN, p_max=4, max_chunk=2, **kw)


GRID = sweep.Grid(n=(2, 4), sigma=(0.1, 0.3))  # two buckets (n = 2, 4), one chunk of two configurations each


def _arrays(stem):
  return results.load(stem)[0]


def _assert_same(a, b):
  assert a.keys() == b.keys()
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _chunks(workdir):
  folder = os.path.join(workdir, "chunks")
  return sorted(os.path.join(folder, f[:-4]) for f in os.listdir(folder) if f.endswith(".npz"))


@pytest.mark.slow
def test_corrupt_truncated_and_swapped_chunks_are_moved_aside_and_retrained(tmp_path):
  X = _pool()
  ref = _arrays(sweep.run(GRID, _config(), str(tmp_path / "ref"), pool=X, progress=False))
  work = str(tmp_path / "work")
  sweep.run(GRID, _config(), work, pool=X, progress=False)
  a, b = _chunks(work)  # one chunk per bucket (n = 2, n = 4), two configurations each
  with open(a + ".npz", "r+b") as f:  # flip one byte in the middle of the arrays
    f.seek(os.path.getsize(a + ".npz") // 2)
    byte = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([byte[0] ^ 0xFF]))
  shutil.copy(a + ".npz", b + ".npz")  # and another chunk's arrays over the second one
  stem = sweep.run(GRID, _config(), work, pool=X, progress=False)
  _assert_same(_arrays(stem), ref)
  assert os.path.exists(a + ".npz.bad") and os.path.exists(b + ".npz.bad")
  open(a + ".npz", "wb").close()  # a zero-length chunk
  _assert_same(_arrays(sweep.run(GRID, _config(), work, pool=X, progress=False)), ref)


def test_a_chunk_of_another_sweep_is_not_used(tmp_path):
  X = _pool()
  other, work = str(tmp_path / "other"), str(tmp_path / "work")
  sweep.run(GRID, _config(), other, pool=2 * X, progress=False)  # same plan, other data
  ref = _arrays(sweep.run(GRID, _config(), work, pool=X, progress=False))
  for src, dst in zip(_chunks(other), _chunks(work)):
    for ext in (".npz", ".json"):
      shutil.copy(src + ext, dst + ext)  # a whole chunk, meta and all, from the other sweep
  _assert_same(_arrays(sweep.run(GRID, _config(), work, pool=X, progress=False)), ref)


def test_chunks_without_a_spec_are_refused(tmp_path):
  work = str(tmp_path)
  sweep.run(GRID, _config(), work, pool=_pool(), progress=False)
  os.remove(os.path.join(work, "spec.json"))
  with pytest.raises(ValueError, match=r"no spec\.json"):
    sweep.run(GRID, _config(), work, pool=_pool(), progress=False)


def test_a_concurrent_run_is_refused_and_a_dead_runs_lock_is_not(tmp_path):
  work = str(tmp_path)
  os.makedirs(work, exist_ok=True)
  lock = os.path.join(work, ".lock")
  holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
      import fcntl, os, sys, time
      f = open({lock!r}, "a+"); fcntl.flock(f, fcntl.LOCK_EX); f.write(str(os.getpid())); f.flush()
      print("locked", flush=True); time.sleep(60)""")], stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(RuntimeError, match=f"in use by process {holder.pid}"):
      sweep.run(GRID, _config(), work, pool=_pool(), progress=False)
  finally:
    holder.kill()
    holder.wait()
  for leftover in ("12345", "", "0"):  # what a killed run (or a kill mid-write) leaves: not a lock
    with open(lock, "w") as f:
      f.write(leftover)
    sweep.run(GRID, _config(), work, pool=_pool(), progress=False)


def test_repeated_axis_values_are_refused():
  for kwargs in (dict(n=(2, 2)), dict(n=(2,), seed=(0, 0)), dict(n=(2,), sigma=(0.1, 0.1))):
    with pytest.raises(ValueError, match="repeated"):
      sweep.Grid(**kwargs)


def test_a_trainer_that_cannot_be_fingerprinted_is_refused():
  import dataclasses as dc

  @dc.dataclass(frozen=True)
  class WithLambda(sweep.DAETrainer):
    hook: object = lambda x: x

  with pytest.raises(TypeError, match="fingerprinted"):
    sweep.SweepConfig(p_max=32, trainer=WithLambda())


@pytest.mark.slow
def test_measure_of_a_sweep_with_no_ok_run_is_nan_and_checks_its_pool(tmp_path):
  X = _pool()
  wild = train.TrainConfig(steps=20, learning_rate=1e6, chunk_size=10)
  res = sweep.load(sweep.run(sweep.Grid(n=(4, 8)), sweep.SweepConfig(wild, p_max=4), str(tmp_path), pool=X,
                             progress=False))
  assert not res.ok.any()
  out = sweep.measure(res, _norms, pool=X)
  assert out["norm"].shape == (2,) and np.all(np.isnan(out["norm"]))
  with pytest.raises(ValueError, match="sha256"):
    sweep.measure(res, _norms, pool=X[::-1].copy())


def _norms(member, values, shared):
  return {"norm": jax.numpy.linalg.norm(values["params"])}


def test_seeds_that_would_alias_in_int32_are_refused():
  with pytest.raises(ValueError, match="'seed'"):
    sweep.Grid(n=(2,), seed=(0, 2**32))


_DEVICES = textwrap.dedent("""
    import os, sys, jax, numpy as np
    from relu_dae import data, results, sweep, train
    assert len(jax.devices()) == 2, jax.devices()
    X = np.asarray(data.locally_sparse(jax.random.PRNGKey(3), n=16, d=16))
    config = sweep.SweepConfig(train.TrainConfig(steps=30, learning_rate=1e-2, chunk_size=10), p_max=4, max_chunk=3)
    grid = sweep.Grid(n=(2, 4), sigma=(0.1, 0.2, 0.3))
    work = sys.argv[1]
    one = results.load(sweep.run(grid, config, work, pool=X, progress=False, devices=jax.devices()[:1]))[0]
    os.remove(os.path.join(work, "sweep.npz"))
    def no_training(*args, **kwargs):
      raise AssertionError("a finished chunk was retrained after the device count changed")
    sweep._train_chunk = no_training
    two = results.load(sweep.run(grid, config, work, pool=X, progress=False))[0]
    assert one.keys() == two.keys()
    assert all(np.array_equal(one[k], two[k], equal_nan=one[k].dtype.kind == "f") for k in one), "results differ"
    print("reused")
""")


@pytest.mark.slow
def test_resuming_with_another_device_count_reuses_every_chunk(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _DEVICES, str(tmp_path)], env=env, capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
  assert out.returncode == 0 and "reused" in out.stdout, out.stderr[-3000:]


_KILLED = textwrap.dedent("""
    import os, signal, sys
    at, when, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    real, count = os.replace, [0]
    def replace(src, dst):  # every commit of a results file is one os.replace
      count[0] += 1
      if count[0] == at and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
      real(src, dst)
      if count[0] == at and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    import jax, numpy as np
    from relu_dae import data, sweep, train
    X = np.asarray(data.locally_sparse(jax.random.PRNGKey(3), n=16, d=16))
    config = sweep.SweepConfig(train.TrainConfig(steps=30, learning_rate=1e-2, chunk_size=10), p_max=4, max_chunk=2)
    sweep.run(sweep.Grid(n=(2, 4), sigma=(0.1, 0.3)), config, work, pool=X, progress=False)
    print("renames", count[0])
""")


@pytest.mark.slow
def test_a_sigkill_at_every_save_point_resumes_bit_identical(tmp_path):
  """SIGKILL just before and just after each atomic rename (spec, each chunk's .npz and .json,
  the results); the rerun finishes with the uninterrupted run's bytes."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  run = lambda *args: subprocess.run([sys.executable, "-c", _KILLED, *map(str, args)], env=env, capture_output=True,
                                     text=True, timeout=600, cwd=ROOT)
  full = run(0, "never", tmp_path / "full")
  assert full.returncode == 0, full.stderr[-3000:]
  renames = int(full.stdout.split("renames")[-1])
  assert renames == 1 + 2 * 2 + 2  # spec, two chunks × (npz, json), sweep.npz + sweep.json
  ref = _arrays(str(tmp_path / "full" / "sweep"))
  X = _pool()
  for at in range(1, renames + 1):
    for when in ("before", "after"):
      work = tmp_path / f"{when}{at}"
      killed = run(at, when, work)
      assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
      # Resume in this process (one compile for every kill point), with the same arguments.
      stem = sweep.run(GRID, _config(), str(work), pool=X, progress=False)
      _assert_same(_arrays(stem), ref)
