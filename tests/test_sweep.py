"""Sweep engine: ragged n by masking, width by masking, resume, sharding, validation."""

import dataclasses
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import convergence as conv_lib
from relu_dae import data, diffusion, model, sweep, train

TRAIN = train.TrainConfig(steps=60, learning_rate=1e-2, chunk_size=20)


def _pool(N=16, d=32):
  return np.asarray(data.locally_sparse(jax.random.PRNGKey(3), n=N, d=d))


def _keys(seed):
  return jax.random.split(jax.random.PRNGKey(seed))


@pytest.mark.slow
def test_ragged_n_and_masked_width_equal_training_the_small_problem(tmp_path):
  X = _pool()
  grid = sweep.Grid(n=(3, 8), sigma=(0.2,), lam=(1e-3,), p=(4, 6), seed=(5,))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(TRAIN, p_max=6), str(tmp_path), pool=X, progress=False))
  for c in range(len(res.configs["n"])):
    n, p = int(res.configs["n"][c]), int(res.configs["p"][c])
    k_init, k_train = _keys(5)
    W0 = model.init(k_init, X.shape[1], 6)["W"][:, :p]  # the active units' initial columns
    want, _ = train.train({"W": W0}, X[:n], k_train, TRAIN, sigma=0.2, lam=1e-3)
    np.testing.assert_allclose(res.params[c][:, :p], want["W"], rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(res.params[c][:, p:], 0.0)  # masked units never move


@pytest.mark.slow
def test_buckets_do_not_change_results(tmp_path):
  X = _pool()
  grid = sweep.Grid(n=(2, 5, 16), sigma=(0.1, 0.4), seed=(0,))
  pow2 = sweep.load(sweep.run(grid, sweep.SweepConfig(TRAIN, p_max=8), str(tmp_path / "a"), pool=X,
                              progress=False))
  single = sweep.load(sweep.run(grid, sweep.SweepConfig(TRAIN, p_max=8, buckets="single"),
                                str(tmp_path / "b"), pool=X, progress=False))
  assert set(pow2.meta["buckets"]) == {"2", "8", "16"} and set(single.meta["buckets"]) == {"16"}
  np.testing.assert_allclose(pow2.params, single.params, rtol=2e-5, atol=2e-6)


@pytest.mark.slow
def test_minibatch_buckets_match_training_on_the_prefix(tmp_path):
  X = _pool(N=32)
  cfg = train.TrainConfig(steps=40, learning_rate=1e-2, batch_size=4, chunk_size=20)
  grid = sweep.Grid(n=(3, 20), seed=(2,))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(cfg, p_max=5), str(tmp_path), pool=X, progress=False))
  k_init, k_train = _keys(2)
  W0 = model.init(k_init, X.shape[1], 5)
  full, _ = train.train(W0, X[:3], k_train, train.TrainConfig(steps=40, learning_rate=1e-2, chunk_size=20))
  mini, _ = train.train(W0, X[:20], k_train, cfg)
  np.testing.assert_allclose(res.params[0], full["W"], rtol=2e-5, atol=2e-6)  # bucket 4 <= batch: full
  np.testing.assert_allclose(res.params[1], mini["W"], rtol=2e-5, atol=2e-6)  # bucket 32 > batch: minibatch


def test_duplicated_weights_match_brute_force():
  labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
  first = np.arange(10) < 3
  for n, dup in [(10, 0.0), (10, 1 / 3), (7, 2 / 3), (2, 1.0)]:
    want = (np.arange(10) < n).astype(float)
    for k in range(round(dup * 3)):
      members = np.flatnonzero((labels == k) & (np.arange(10) < n))
      want[members] = 0.0
      want[np.flatnonzero(labels == k)[0]] = len(members)
    got = sweep.sample_weights(labels, first, n, dup, 3)
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_resume_after_kill_is_bit_identical(tmp_path, monkeypatch):
  X = _pool()
  grid = sweep.Grid(n=(2, 4, 8, 16), sigma=(0.1, 0.3), seed=(0, 1))
  config = sweep.SweepConfig(TRAIN, p_max=6, max_chunk=4)
  whole = sweep.load(sweep.run(grid, config, str(tmp_path / "whole"), pool=X, progress=False))
  assert sum(b["chunks"] for b in whole.meta["buckets"].values()) > 2

  calls = {"n": 0}
  real = sweep._train_chunk
  def dies_on_third_chunk(*args, **kwargs):
    calls["n"] += 1
    if calls["n"] == 3:
      raise KeyboardInterrupt("simulated kill")
    return real(*args, **kwargs)
  monkeypatch.setattr(sweep, "_train_chunk", dies_on_third_chunk)
  workdir = str(tmp_path / "killed")
  with pytest.raises(KeyboardInterrupt):
    sweep.run(grid, config, workdir, pool=X, progress=False)
  assert len([f for f in os.listdir(os.path.join(workdir, "chunks")) if f.endswith(".npz")]) == 2
  monkeypatch.setattr(sweep, "_train_chunk", real)
  resumed = sweep.load(sweep.run(grid, config, workdir, pool=X, progress=False))
  for name in ("params", "loss_curve", "final_loss", "nonfinite_step"):
    np.testing.assert_array_equal(getattr(resumed, name), getattr(whole, name))


@pytest.mark.slow
def test_nonfinite_runs_are_flagged_not_stored(tmp_path):
  X = 100.0 * _pool()
  cfg = train.TrainConfig(steps=30, optimizer="sgd", learning_rate=10.0, chunk_size=10)
  res = sweep.load(sweep.run(sweep.Grid(n=(4,), sigma=(0.1,)), sweep.SweepConfig(cfg, p_max=4),
                             str(tmp_path), pool=X, progress=False))
  assert not res.ok[0] and res.nonfinite_step[0] >= 0
  assert np.all(np.isnan(res.params[0])) and np.isnan(res.final_loss[0])
  assert res.meta["num_nonfinite"] == 1


@pytest.mark.slow
def test_data_axis_selects_the_pool(tmp_path):
  pools = np.stack([_pool(), -_pool()])
  res = sweep.load(sweep.run(sweep.Grid(n=(4,), data=(0, 1)), sweep.SweepConfig(TRAIN, p_max=4),
                             str(tmp_path), pool=pools, progress=False))
  k_init, k_train = _keys(0)
  want, _ = train.train(model.init(k_init, 32, 4), pools[1, :4], k_train, TRAIN)
  np.testing.assert_allclose(res.params[1], want["W"], rtol=2e-5, atol=2e-6)


def test_interleave_balances_every_prefix():
  labels = np.repeat(np.arange(3), [4, 4, 4])
  _, out = sweep.interleave(np.zeros((12, 1)), labels)
  for n in range(1, 13):
    counts = np.bincount(out[:n], minlength=3)
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(n=()), "'n'"),
    (dict(n=(4,), sigma=(-0.1,)), "'sigma'"),
    (dict(n=(2.5,)), "'n'"),
    (dict(n=(4,), duplicated=(1.5,)), "'duplicated'"),
])
def test_bad_grids_raise(kwargs, match):
  with pytest.raises(ValueError, match=match):
    sweep.Grid(**kwargs)


@pytest.mark.parametrize("grid, kwargs, match", [
    (sweep.Grid(n=(17,)), {}, "pool size"),
    (sweep.Grid(n=(4,), p=(9,)), {}, "p_max"),
    (sweep.Grid(n=(4,), data=(1,)), {}, "pool"),
    (sweep.Grid(n=(4,), duplicated=(0.5,)), {}, "labels"),
    (sweep.Grid(n=(4,)), {"labels": np.zeros(5)}, "labels"),
])
def test_bad_runs_raise(tmp_path, grid, kwargs, match):
  with pytest.raises(ValueError, match=match):
    sweep.run(grid, sweep.SweepConfig(TRAIN, p_max=8), str(tmp_path), pool=_pool(), progress=False, **kwargs)


@pytest.mark.slow
def test_reusing_a_workdir_for_another_sweep_raises(tmp_path):
  config = sweep.SweepConfig(train.TrainConfig(steps=5), p_max=4)
  sweep.run(sweep.Grid(n=(2,)), config, str(tmp_path), pool=_pool(), progress=False)
  with pytest.raises(ValueError, match="different sweep"):
    sweep.run(sweep.Grid(n=(3,)), config, str(tmp_path), pool=_pool(), progress=False)


_SHARDED = textwrap.dedent("""
    import os, sys, tempfile, jax, numpy as np
    from relu_dae import data, sweep, train
    assert len(jax.devices()) == 4, jax.devices()
    X = np.asarray(data.locally_sparse(jax.random.PRNGKey(3), n=16, d=32))
    grid = sweep.Grid(n=(3, 16), sigma=(0.1, 0.2, 0.3), seed=(0, 1))
    config = sweep.SweepConfig(train.TrainConfig(steps=40, learning_rate=1e-2, chunk_size=20), p_max=6)
    many = sweep.load(sweep.run(grid, config, tempfile.mkdtemp(), pool=X, progress=False))
    one = sweep.load(sweep.run(grid, config, tempfile.mkdtemp(), pool=X, progress=False,
                               devices=jax.devices()[:1]))
    assert len(many.meta["devices"]) == 4 and len(one.meta["devices"]) == 1
    print("maxdiff", float(np.max(np.abs(many.params - one.params))))
""")


@pytest.mark.slow
def test_sharded_sweep_equals_single_device():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, "-c", _SHARDED], env=env, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert float(out.stdout.split("maxdiff")[-1]) <= 1e-6


@pytest.mark.slow
def test_convergence_rule_per_configuration_matches_training_alone(tmp_path):
  """With a stopping rule every configuration stops on its own (as train.train alone would),
  the record says why and when, unstable runs are failures, and the cost is accounted."""
  from relu_dae import convergence
  X = _pool()
  rule = convergence.Convergence(patience=2, min_scale=1 / 4)
  cfg = train.TrainConfig(steps=4000, learning_rate=1e-2, chunk_size=50, convergence=rule)
  grid = sweep.Grid(n=(4, 16), sigma=(0.05, 0.4), lam=(1e-3,), seed=(1,))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(cfg, p_max=6), str(tmp_path), pool=X, progress=False))
  for c in range(len(res.ok)):
    n, s = int(res.configs["n"][c]), float(res.configs["sigma"][c])
    k_init, k_train = _keys(1)
    _, hist = train.train(model.init(k_init, X.shape[1], 6), X[:n], k_train, cfg, sigma=s, lam=1e-3)
    assert int(res.steps_run[c]) == int(hist.steps_run) and int(res.status[c]) == int(hist.status)
    tail = cfg.steps // 20
    np.testing.assert_allclose(res.final_loss[c], np.mean(hist.loss[int(hist.steps_run) - tail:int(hist.steps_run)]),
                               rtol=1e-4)
  assert res.converged.any() and len(set(res.steps_run.tolist())) > 1
  np.testing.assert_array_equal(res.converged, res.status == convergence.CONVERGED)
  meta = res.meta
  assert meta["converged_fraction"] == res.converged.mean()
  assert meta["status_counts"]["converged"] == res.converged.sum()
  assert meta["config_steps"]["run"] == res.steps_run.sum() <= meta["config_steps"]["executed"] \
      <= meta["config_steps"]["budget"] == 4 * cfg.steps


@pytest.mark.slow
def test_unstable_runs_are_failures_not_results(tmp_path):
  from relu_dae import convergence
  cfg = train.TrainConfig(steps=400, learning_rate=1e3, chunk_size=50, convergence=convergence.Convergence())
  res = sweep.load(sweep.run(sweep.Grid(n=(8,), sigma=(0.2,)), sweep.SweepConfig(cfg, p_max=4),
                             str(tmp_path), pool=_pool(), progress=False))
  assert res.status[0] in convergence.UNSTABLE and not res.ok[0] and not res.converged[0]
  assert np.all(np.isnan(res.params[0])) and res.meta["num_failed"] == 1


# ----------------------------------------------------------------------------- the trainer contract


TRAIN_ONE = train.TrainConfig(steps=1)


@dataclasses.dataclass(frozen=True)
class _Moments:
  """A trainer with a closed form: the weighted mean of the training set (no steps at all);
  configurations with n = 3 report themselves invalid."""
  train: "train.TrainConfig" = TRAIN_ONE

  def memory_bytes(self, rows, d):
    return rows * d

  def __call__(self, member, callback=None):
    w = member.weights
    mean = jnp.sum(w[:, None] * member.X, axis=0) / jnp.sum(w)
    return {"stats": {"mean": mean, "count": jnp.sum(w)}, "valid": member.config["n"] != 3,
            "nonfinite_step": jnp.int32(-1), "steps_run": jnp.int32(1), "status": jnp.int32(conv_lib.MAX_STEPS)}


def test_a_custom_trainer_runs_through_the_engine(tmp_path):
  X = _pool()
  labels = np.arange(16) % 2
  grid = sweep.Grid(n=(2, 3, 9, 16), duplicated=(0.0, 0.5))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(p_max=4, trainer=_Moments()), str(tmp_path), pool=X,
                             labels=labels, progress=False))
  assert res.tree("stats").keys() == {"mean", "count"} and res.meta["config"]["trainer"]["type"].endswith("_Moments")
  for c in range(len(res.ok)):
    n, dup = int(res.configs["n"][c]), float(res.configs["duplicated"][c])
    rows = X[:n].copy()
    if dup:  # cluster 0 becomes copies of its first row (row 0)
      rows[labels[:n] == 0] = X[0]
    if n == 3:
      assert not res.ok[c] and np.all(np.isnan(res.outputs["stats.mean"][c]))
    else:
      assert res.ok[c]
      np.testing.assert_allclose(res.outputs["stats.mean"][c], rows.mean(0), rtol=1e-5, atol=1e-6)
      assert res.outputs["stats.count"][c] == n


def test_bad_trainers_raise():
  with pytest.raises(TypeError, match="trainer"):
    sweep.SweepConfig(trainer=lambda member, callback: {})
  with pytest.raises(ValueError, match="p_max"):
    sweep.SweepConfig(p_max=4, trainer=sweep.DAETrainer(p_max=8))


@pytest.mark.slow
def test_the_diffusion_trainer_equals_training_alone(tmp_path):
  X = _pool()
  tc = train.TrainConfig(steps=40, learning_rate=1e-2, chunk_size=20)
  trainer = diffusion.SweepTrainer(tc, p_max=6, hidden=4, min_noisy_batch=8)
  grid = sweep.Grid(n=(2, 5), p=(3, 6), seed=(4,))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(p_max=6, trainer=trainer), str(tmp_path), pool=X,
                             progress=False))
  params = res.params
  assert res.ok.all() and np.all(res.outputs["masked_max"] == 0)
  for c in range(len(res.ok)):
    n, p = int(res.configs["n"][c]), int(res.configs["p"][c])
    rows = 2 if n == 2 else 8  # the pow2 bucket: ⌈8 / rows⌉ noise draws per sample
    k_init, k_train, _ = jax.random.split(jax.random.PRNGKey(4), 3)
    p0 = diffusion.init(k_init, 32, 6, hidden=4)
    p0 = dict(p0, W=p0["W"] * (np.arange(6) < p))
    w = (np.arange(rows) < n).astype(np.float32)
    want, _ = diffusion.train(p0, X[:rows], k_train, dataclasses.replace(tc, num_noise=-(-8 // rows)), weights=w)
    np.testing.assert_allclose(params["W"][c], want["W"], rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(params["time"]["w2"][c], want["time"]["w2"], rtol=2e-5, atol=2e-6)


def _stored_count(member, values, shared):
  """Training-set size, its mean norm, and the weight norm plus a per-configuration and a shared offset."""
  w = member.weights
  return {"n_train": jnp.sum(w > 0), "norm": jnp.sum(w * jnp.linalg.norm(member.X, axis=1)) / jnp.sum(w),
          "w_norm": jnp.linalg.norm(values["params"]) + values["offset"] + shared}


@pytest.mark.slow
def test_measure_hands_each_configuration_its_training_set(tmp_path):
  X = _pool()
  grid = sweep.Grid(n=(2, 5, 16), sigma=(0.1, 0.3))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(TRAIN, p_max=4), str(tmp_path), pool=X, progress=False))
  extras = np.arange(len(res.ok), dtype=np.float32)
  select = res.configs["sigma"] > 0.2
  got = sweep.measure(res, _stored_count, pool=X, extras={"offset": extras}, shared=np.float32(0.5), select=select,
                      batch_size=2)
  for c in range(len(res.ok)):
    if not select[c]:
      assert all(np.isnan(v[c]) for v in got.values())
      continue
    n = int(res.configs["n"][c])
    assert got["n_train"][c] == n
    np.testing.assert_allclose(got["norm"][c], np.linalg.norm(X[:n], axis=1).mean(), rtol=1e-5)
    np.testing.assert_allclose(got["w_norm"][c], np.linalg.norm(res.params[c]) + c + 0.5, rtol=1e-5)
  with pytest.raises(ValueError, match="leading axis"):
    sweep.measure(res, _stored_count, pool=X, extras={"offset": extras[:3]}, shared=0.0)
  with pytest.raises(ValueError, match="trainer outputs"):
    sweep.measure(res, _stored_count, pool=X, extras={"params": extras}, shared=0.0)


@pytest.mark.slow
def test_the_engine_compiles_once_per_bucket_across_runs(tmp_path):
  X = _pool()
  config = sweep.SweepConfig(train.TrainConfig(steps=20, learning_rate=1e-2, chunk_size=10), p_max=4)
  grid = sweep.Grid(n=(3, 4), sigma=(0.1, 0.2))  # one bucket of 4 rows
  sweep._train_chunk.clear_cache()
  sweep._measure_batch.clear_cache()
  for i in range(2):
    res = sweep.load(sweep.run(grid, config, str(tmp_path / str(i)), pool=X, progress=i == 1))
    sweep.measure(res, _stored_count, pool=X, extras={"offset": np.zeros(4, np.float32)}, shared=np.float32(i))
  # progress=True adds the reporter callback: two traces in all, not one per run
  assert sweep._train_chunk._cache_size() == 2 and sweep._measure_batch._cache_size() == 1


@pytest.mark.slow
def test_pools_per_seed_train_each_seed_on_its_own_pool(tmp_path):
  pools = np.stack([np.stack([_pool(), 2.0 * _pool()[::-1]]), np.stack([-_pool(), 0.5 * _pool()])])  # (A=2, S=2, N, d)
  grid = sweep.Grid(n=(4,), seed=(7, 3), data=(0, 1))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(TRAIN, p_max=4), str(tmp_path), pool=pools, pool_per_seed=True,
                             progress=False))
  assert res.meta["pool_per_seed"]
  for c in range(len(res.ok)):
    a, seed = int(res.configs["data"][c]), int(res.configs["seed"][c])
    k_init, k_train = _keys(seed)
    want, _ = train.train(model.init(k_init, 32, 4), pools[a, (7, 3).index(seed), :4], k_train, TRAIN)
    np.testing.assert_allclose(res.params[c], want["W"], rtol=2e-5, atol=2e-6)
  got = sweep.measure(res, _stored_count, pool=pools, extras={"offset": np.zeros(4, np.float32)}, shared=0.0)
  for c in range(len(res.ok)):
    a, s = int(res.configs["data"][c]), (7, 3).index(int(res.configs["seed"][c]))
    np.testing.assert_allclose(got["norm"][c], np.linalg.norm(pools[a, s, :4], axis=1).mean(), rtol=1e-5)
  with pytest.raises(ValueError, match="pool_per_seed"):
    sweep.run(grid, sweep.SweepConfig(TRAIN, p_max=4), str(tmp_path / "x"), pool=pools[:, :1], pool_per_seed=True,
              progress=False)
