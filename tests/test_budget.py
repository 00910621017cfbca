"""relu_dae.budget: chunk budgets from device memory or the CPU cache, and how a sweep keeps them."""

import json
import os

import jax
import numpy as np
import pytest

from relu_dae import budget, results, sweep, train
from _bad_inputs import case, check, check_coverage, ids


def _sysfs(root, entries):
  """A fake ``/sys/devices/system/cpu``: ``entries`` = [(cpu, index, level, type, size, shared)]."""
  for cpu, index, level, kind, size, shared in entries:
    d = os.path.join(root, f"cpu{cpu}", "cache", f"index{index}")
    os.makedirs(d)
    for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
      with open(os.path.join(d, name), "w") as f:
        f.write(f"{value}\n")
  return str(root)


def test_cache_bytes_counts_each_instance_of_the_last_level_once(tmp_path):
  # Two cores: private L1d/L1i/L2 each, one shared L3: the L3 counts once.
  entries = []
  for cpu in (0, 1):
    entries += [(cpu, 0, 1, "Data", "32K", str(cpu)), (cpu, 1, 1, "Instruction", "32K", str(cpu)),
                (cpu, 2, 2, "Unified", "1024K", str(cpu)), (cpu, 3, 3, "Unified", "32768K", "0-1")]
  assert budget.cache_bytes(_sysfs(tmp_path / "a", entries)) == 32 * 2**20
  # No L3, private L2s: their sum.
  l2 = [(cpu, 0, 2, "Unified", "2M", str(cpu)) for cpu in range(4)]
  assert budget.cache_bytes(_sysfs(tmp_path / "b", l2)) == 4 * 2 * 2**20
  # Instruction caches never count, even at the highest level reported.
  assert budget.cache_bytes(_sysfs(tmp_path / "c", [(0, 0, 1, "Instruction", "64K", "0"),
                                                    (0, 1, 1, "Data", "48K", "0")])) == 48 * 2**10
  assert budget.cache_bytes(str(tmp_path / "missing")) == budget.DEFAULT_CACHE_BYTES


def test_cpu_budget_is_half_the_cache_and_the_multiple_the_device_count():
  cpu = jax.devices("cpu")
  assert budget.auto_memory_budget_mb(cpu) == pytest.approx(0.5 * budget.cache_bytes() / 2**20)
  assert budget.resolve(None, None, cpu[:1]) == {"memory_budget_mb": budget.auto_memory_budget_mb(cpu[:1]),
                                                 "chunk_multiple": 1}
  assert budget.resolve(8.0, None, cpu[:1])["memory_budget_mb"] == 8.0


def test_accelerator_budget_is_half_the_smallest_free_memory_per_device(monkeypatch):
  free = {0: 16 * 2**30, 1: 12 * 2**30}
  devices = jax.devices("cpu")[:1] * 2
  it = iter(free.values())
  monkeypatch.setattr(budget, "device_memory_bytes", lambda d: next(it))
  assert budget.auto_memory_budget_mb(devices) == pytest.approx(0.5 * 12 * 1024 * 2)


def test_plan_chunks_are_multiples_and_follow_the_budget():
  cfg = train.TrainConfig(steps=10, chunk_size=5)
  grid = sweep.Grid(n=(4,), sigma=tuple(np.linspace(0.1, 1.0, 10)), seed=(0,))
  per = sweep.DAETrainer(cfg, p_max=4).memory_bytes(4, 8)
  for multiple in (1, 2, 3, 4):
    for fit in (1, 2, 5, 7, 100):
      config = sweep.SweepConfig(cfg, p_max=4, memory_budget_mb=fit * per / 2**20, chunk_multiple=multiple)
      chunks = sweep.plan(grid, config, 8, 8)
      sizes = {size for _, _, size in chunks}
      assert all(size % multiple == 0 for size in sizes), (multiple, fit, sizes)
      largest = max(multiple, min(fit, 256) // multiple * multiple)
      assert all(size <= largest for size in sizes), (multiple, fit, sizes)
      assert sorted(np.concatenate([i for _, i, _ in chunks]).tolist()) == list(range(10))
      assert all(len(i) <= size for _, i, size in chunks)


def test_a_sweep_records_its_resolved_settings_and_keeps_them(tmp_path):
  X = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (8, 6)))
  config = sweep.SweepConfig(train.TrainConfig(steps=4, chunk_size=2), p_max=2)
  grid = sweep.Grid(n=(2, 4))
  stem = sweep.run(grid, config, str(tmp_path), pool=X, progress=False)
  with open(tmp_path / "spec.json") as f:
    spec = json.load(f)
  assert spec["resolved"] == budget.resolve(None, None, jax.local_devices())
  assert spec["config"]["memory_budget_mb"] is None  # the fingerprint is of the config as given
  meta = results.load(stem)[1]
  assert meta["config"]["memory_budget_mb"] == spec["resolved"]["memory_budget_mb"]
  assert {b["chunk_size"] for b in meta["buckets"].values()} <= {spec["resolved"]["chunk_multiple"] * k
                                                                  for k in range(1, 257)}
  # A resumed run takes the recorded values, not its own devices': edit them and rerun.
  spec["resolved"] = {"memory_budget_mb": 1e-6, "chunk_multiple": 3}
  results.save_json(str(tmp_path / "spec.json"), spec)
  os.remove(tmp_path / "sweep.npz")
  meta = results.load(sweep.run(grid, config, str(tmp_path), pool=X, progress=False))[1]
  assert {b["chunk_size"] for b in meta["buckets"].values()} == {3}
  assert meta["config"]["chunk_multiple"] == 3


def test_a_workdir_without_recorded_settings_is_refused(tmp_path):
  X = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (8, 6)))
  config = sweep.SweepConfig(train.TrainConfig(steps=4, chunk_size=2), p_max=2)
  sweep.run(sweep.Grid(n=(2,)), config, str(tmp_path), pool=X, progress=False)
  with open(tmp_path / "spec.json") as f:
    spec = json.load(f)
  del spec["resolved"]
  results.save_json(str(tmp_path / "spec.json"), spec)
  with pytest.raises(ValueError, match="older relu_dae"):
    sweep.run(sweep.Grid(n=(2,)), config, str(tmp_path), pool=X, progress=False)


CASES = [
    case(budget.check_devices, ValueError, "devices", lambda: budget.check_devices([])),
    case(budget.check_devices, TypeError, "devices", lambda: budget.check_devices("cpu:0")),
    case(budget.check_devices, TypeError, "devices", lambda: budget.check_devices([None])),
    case(budget.device_memory_bytes, TypeError, "device", lambda: budget.device_memory_bytes("gpu:0")),
    case(budget.device_memory_bytes, TypeError, "device", lambda: budget.device_memory_bytes(0)),
    case(budget.device_memory_bytes, TypeError, "device", lambda: budget.device_memory_bytes(None)),
    case(budget.cache_bytes, TypeError, "root", lambda: budget.cache_bytes(3)),
    case(budget.cache_bytes, ValueError, "root", lambda: budget.cache_bytes("")),
    case(budget.cache_bytes, TypeError, "root", lambda: budget.cache_bytes(None)),
    case(budget.auto_memory_budget_mb, ValueError, "devices", lambda: budget.auto_memory_budget_mb([])),
    case(budget.auto_memory_budget_mb, TypeError, "devices", lambda: budget.auto_memory_budget_mb("cpu")),
    case(budget.auto_memory_budget_mb, TypeError, "devices", lambda: budget.auto_memory_budget_mb([1])),
    case(budget.resolve, ValueError, "memory_budget_mb", lambda: budget.resolve(0.0, None, jax.devices())),
    case(budget.resolve, TypeError, "memory_budget_mb", lambda: budget.resolve("1", None, jax.devices())),
    case(budget.resolve, ValueError, "chunk_multiple", lambda: budget.resolve(None, -2, jax.devices())),
    case(budget.resolve, TypeError, "devices", lambda: budget.resolve(None, None, None)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_inputs(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(budget, CASES, exempt={})
