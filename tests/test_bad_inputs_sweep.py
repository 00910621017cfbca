"""Bad inputs to relu_dae.sweep raise ValueError/TypeError naming the parameter."""

import functools
import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import results, sweep
from relu_dae import train as tr
from _bad_inputs import case, check, check_coverage, ids

G, SC, DT = sweep.Grid, sweep.SweepConfig, sweep.DAETrainer
TC = tr.TrainConfig(steps=2, chunk_size=1)
POOL = np.arange(12, dtype=np.float32).reshape(4, 3) / 12
GRID = G(n=(2, 4), p=(2,))
CONFIG = SC(TC, p_max=2)
HIST = tr.History(jnp.zeros(4), jnp.array(-1), jnp.array(4), jnp.array(2), jnp.nan, jnp.nan)
LABELS, FIRST = jnp.array([0, 1, 0, 1]), jnp.array([1, 1, 0, 0], bool)
CONFIGS = {"n": [4], "sigma": [0.2], "lam": [0.0], "p": [2], "seed": [0], "duplicated": [0.0], "data": [0]}
count = lambda member, values, shared: {"n": jnp.sum(member.weights)}


@functools.cache
def _res() -> sweep.SweepResult:
  """One tiny finished sweep (trained once, on first use)."""
  return sweep.load(sweep.run(G(n=(2,)), CONFIG, tempfile.mkdtemp(), pool=POOL, progress=False))


def _not_a_sweep() -> str:
  stem = os.path.join(tempfile.mkdtemp(), "other")
  return results.save(stem, {"x": np.zeros(2)}, {"what": "not a sweep"})


run = lambda **kw: sweep.run(**{**dict(grid=G(n=(2,)), config=CONFIG, workdir=tempfile.mkdtemp(), pool=POOL,
                                       progress=False), **kw})
weights = lambda **kw: sweep.sample_weights(**{**dict(labels=LABELS, first=FIRST, n=3, duplicated=0.5,
                                                      num_clusters=2), **kw})
measure = lambda **kw: sweep.measure(**{**dict(res=_res(), fn=count, pool=POOL), **kw})
plan = lambda **kw: sweep.plan(**{**dict(grid=GRID, config=CONFIG, pool_size=4, d=3), **kw})

CASES = [
    case(G, TypeError, "'n'", lambda: G(n=None)),
    case(G, TypeError, "'n'", lambda: G(n="8")),
    case(G, ValueError, "'n'", lambda: G(n=(0, 4))),
    case(G, ValueError, "'n'", lambda: G(n=[[2, 4], [8]])),
    case(G, TypeError, "'sigma'", lambda: G(n=(4,), sigma=None)),
    case(G, ValueError, "'sigma'", lambda: G(n=(4,), sigma=(0.1, float("nan")))),
    case(G, ValueError, "'sigma'", lambda: G(n=(4,), sigma=(1e20,))),
    case(G, ValueError, "'lam'", lambda: G(n=(4,), lam=(-1e-3,))),
    case(G, TypeError, "'lam'", lambda: G(n=(4,), lam={"a": 1.0})),
    case(G, ValueError, "'p'", lambda: G(n=(4,), p=(4, 4))),
    case(G, ValueError, "'seed'", lambda: G(n=(4,), seed=(-1,))),
    case(G, ValueError, "'seed'", lambda: G(n=(4,), seed=())),
    case(G, ValueError, "'duplicated'", lambda: G(n=(4,), duplicated=(-0.5,))),
    case(G, TypeError, "'data'", lambda: G(n=(4,), data=(1j,))),
    case(G, ValueError, "p_max", lambda: G(n=(4,)).resolved(0)),
    case(SC, TypeError, "train", lambda: SC(train=None)),
    case(SC, ValueError, r"train\.sigma.*grid", lambda: SC(train=tr.TrainConfig(sigma=0.5))),
    case(SC, ValueError, r"train\.lam.*grid", lambda: SC(train=tr.TrainConfig(lam=1e-3))),
    case(DT, ValueError, r"train\.sigma", lambda: DT(train=tr.TrainConfig(sigma=0.1))),
    case(SC, TypeError, "train", lambda: SC(train={"steps": 10})),
    case(SC, ValueError, "p_max", lambda: SC(p_max=-1)),
    case(SC, TypeError, "tied", lambda: SC(tied="yes")),
    case(SC, ValueError, "init_scale", lambda: SC(init_scale=0.0)),
    case(SC, TypeError, "buckets", lambda: SC(buckets=None)),
    case(SC, ValueError, "buckets", lambda: SC(buckets="pow3")),
    case(SC, TypeError, "memory_budget_mb", lambda: SC(memory_budget_mb="1024")),
    case(SC, ValueError, "max_chunk", lambda: SC(max_chunk=0)),
    case(SC, ValueError, "memory_budget_mb", lambda: SC(memory_budget_mb=-1.0)),
    case(SC, ValueError, "chunk_multiple", lambda: SC(chunk_multiple=0)),
    case(SC, TypeError, "chunk_multiple", lambda: SC(chunk_multiple="2")),
    case(sweep.resolved_config, TypeError, "config", lambda: sweep.resolved_config({"p_max": 2})),
    case(sweep.resolved_config, ValueError, "devices", lambda: sweep.resolved_config(CONFIG, [])),
    case(sweep.resolved_config, TypeError, "devices", lambda: sweep.resolved_config(CONFIG, ["cpu:0"])),
    case(sweep.resolved_config, TypeError, "devices", lambda: sweep.resolved_config(CONFIG, "cpu")),
    case(SC, ValueError, "curve_points", lambda: SC(curve_points=2.5)),
    case(SC, TypeError, "trainer", lambda: SC(trainer="dae")),
    case(DT, TypeError, "train", lambda: DT(train="adam")),
    case(DT, ValueError, "p_max", lambda: DT(p_max=0)),
    case(DT, TypeError, "tied", lambda: DT(tied=None)),
    case(DT, ValueError, "init_scale", lambda: DT(init_scale=float("inf"))),
    case(DT, TypeError, "init_scale", lambda: DT(init_scale=jnp.float32(0.1))),  # an array: not hashable
    case(DT, ValueError, "curve_points", lambda: DT(curve_points=0)),
    case(sweep.history_outputs, TypeError, "hist", lambda: sweep.history_outputs(None, 2)),
    case(sweep.history_outputs, TypeError, "hist", lambda: sweep.history_outputs({"loss": jnp.zeros(4)}, 2)),
    case(sweep.history_outputs, ValueError, "hist",
         lambda: sweep.history_outputs(jax.tree.map(lambda a: jnp.stack([a, a]), HIST), 2)),
    case(sweep.history_outputs, ValueError, "curve_points", lambda: sweep.history_outputs(HIST, 0)),
    case(sweep.history_outputs, TypeError, "curve_points", lambda: sweep.history_outputs(HIST, None)),
    case(sweep.bucket_train_config, TypeError, "train", lambda: sweep.bucket_train_config(None, 8)),
    case(sweep.bucket_train_config, TypeError, "train", lambda: sweep.bucket_train_config(CONFIG, 8)),
    case(sweep.bucket_train_config, ValueError, "rows", lambda: sweep.bucket_train_config(TC, 0)),
    case(sweep.bucket_train_config, ValueError, "rows", lambda: sweep.bucket_train_config(TC, 8.5)),
    case(sweep.sample_weights, TypeError, "labels", lambda: weights(labels=LABELS.astype(jnp.float32))),
    case(sweep.sample_weights, ValueError, "labels", lambda: weights(labels=jnp.array([0, 1, 0, 2]))),
    case(sweep.sample_weights, ValueError, "first", lambda: weights(first=FIRST[:3])),
    case(sweep.sample_weights, ValueError, r"\bn\b", lambda: weights(n=0)),
    case(sweep.sample_weights, ValueError, r"\bn\b", lambda: weights(n=2.5)),
    case(sweep.sample_weights, ValueError, "duplicated", lambda: weights(duplicated=1.5)),
    case(sweep.sample_weights, ValueError, "num_clusters", lambda: weights(num_clusters=0)),
    case(sweep.sample_weights, TypeError, "labels", lambda: weights(labels=None)),
    case(sweep.bucket_size, ValueError, r"\bn\b", lambda: sweep.bucket_size(0, 16)),
    case(sweep.bucket_size, ValueError, r"\bn\b", lambda: sweep.bucket_size(2.5, 16)),
    case(sweep.bucket_size, ValueError, "pool_size", lambda: sweep.bucket_size(20, 16)),
    case(sweep.bucket_size, TypeError, "pool_size", lambda: sweep.bucket_size(4, None)),
    case(sweep.bucket_size, ValueError, "mode", lambda: sweep.bucket_size(4, 16, "pow3")),
    case(sweep.first_rows, ValueError, "labels", lambda: sweep.first_rows(np.array([0, 1, 0]))),
    case(sweep.first_rows, TypeError, "labels", lambda: sweep.first_rows(None)),
    case(sweep.first_rows, TypeError, "labels", lambda: sweep.first_rows(np.array([["a", "b"]]))),
    case(sweep.first_rows, ValueError, "labels", lambda: sweep.first_rows(np.array([[0.5, 1.0]]))),
    case(sweep.first_rows, ValueError, "labels", lambda: sweep.first_rows(np.array([[0, -1]]))),
    case(sweep.flatten, TypeError, "tree", lambda: sweep.flatten(None)),
    case(sweep.flatten, ValueError, "'.'", lambda: sweep.flatten({"a.b": 1})),
    case(sweep.flatten, TypeError, "tree", lambda: sweep.flatten({3: 1})),
    case(sweep.flatten, TypeError, "prefix", lambda: sweep.flatten({"a": 1}, prefix=None)),
    case(sweep.unflatten, TypeError, "flat", lambda: sweep.unflatten(None, "params")),
    case(sweep.unflatten, TypeError, "name", lambda: sweep.unflatten({"p.W": 1}, 3)),
    case(sweep.unflatten, ValueError, "name", lambda: sweep.unflatten({"p.W": 1}, "")),
    case(sweep.unflatten, TypeError, "flat", lambda: sweep.unflatten(["p.W"], "p")),
    case(sweep.plan, TypeError, "grid", lambda: plan(grid={"n": (2,)})),
    case(sweep.plan, TypeError, "config", lambda: plan(config=TC)),
    case(sweep.plan, ValueError, "pool_size", lambda: plan(pool_size=3)),
    case(sweep.plan, ValueError, r"\bd\b", lambda: plan(d=0)),
    case(sweep.plan, TypeError, "devices", lambda: plan(devices=[0])),
    case(sweep.run, TypeError, "grid", lambda: run(grid=(2, 4))),
    case(sweep.run, TypeError, "config", lambda: run(config=TC)),
    case(sweep.run, TypeError, "workdir", lambda: run(workdir=None)),
    case(sweep.run, TypeError, "pool", lambda: run(pool=POOL.astype(np.complex64))),
    case(sweep.run, ValueError, "no gap", lambda: run(labels=2 * (np.arange(len(POOL)) % 2))),  # ids 0, 2
    case(sweep.run, ValueError, "pool", lambda: run(pool=POOL * 1e20)),
    case(sweep.run, TypeError, "pool", lambda: run(pool="data.npy")),
    case(sweep.run, ValueError, "labels", lambda: run(labels=np.array([0, 1, 0]))),
    case(sweep.run, TypeError, "labels", lambda: run(labels="abcd")),
    case(sweep.run, TypeError, "pool_per_seed", lambda: run(pool_per_seed="no")),
    case(sweep.run, ValueError, "devices", lambda: run(devices=[])),
    case(sweep.run, TypeError, "devices", lambda: run(devices="cpu")),
    case(sweep.load, TypeError, "stem", lambda: sweep.load(None)),
    case(sweep.load, ValueError, "stem", lambda: sweep.load("workdir/sweep.npz")),
    case(sweep.load, ValueError, "stem", lambda: sweep.load(_not_a_sweep())),
    case(sweep.positions, TypeError, "grid", lambda: sweep.positions(None, CONFIGS)),
    case(sweep.positions, ValueError, "grid", lambda: sweep.positions(G(n=(4,)), CONFIGS)),
    case(sweep.positions, TypeError, "configs", lambda: sweep.positions(GRID, [4, 0.2])),
    case(sweep.positions, ValueError, "configs", lambda: sweep.positions(GRID, {"n": [4]})),
    case(sweep.positions, ValueError, "configs", lambda: sweep.positions(GRID, {**CONFIGS, "n": [2, 4]})),
    case(sweep.positions, ValueError, r"n=2\.5", lambda: sweep.positions(GRID, {**CONFIGS, "n": [2.5]})),
    case(sweep.merge, TypeError, "parts", lambda: sweep.merge(None)),
    case(sweep.merge, ValueError, "parts", lambda: sweep.merge([])),
    case(sweep.merge, TypeError, "parts", lambda: sweep.merge([_res(), {"n": 2}])),
    case(sweep.merge, TypeError, "parts", lambda: sweep.merge(_res())),
    case(sweep.merge, ValueError, "parts", lambda: sweep.merge([_res(), _res()])),
    case(sweep.measure, TypeError, "res", lambda: measure(res={"ok": np.ones(1, bool)})),
    case(sweep.measure, TypeError, r"\bfn\b", lambda: measure(fn=None)),
    case(sweep.measure, ValueError, "select", lambda: measure(select=np.ones(3, bool))),
    case(sweep.measure, TypeError, "select", lambda: measure(select=np.ones(1))),
    case(sweep.measure, TypeError, "extras", lambda: measure(extras=[1.0])),
    case(sweep.measure, ValueError, "batch_size", lambda: measure(batch_size=0)),
    case(sweep.measure, ValueError, "pool", lambda: measure(pool=POOL[:1])),
    case(sweep.interleave, ValueError, "labels", lambda: sweep.interleave(np.zeros((5, 2)), np.array([0, 1, 0]))),
    case(sweep.interleave, TypeError, r"\bX\b", lambda: sweep.interleave(None, np.array([0, 1]))),
    case(sweep.interleave, TypeError, "labels", lambda: sweep.interleave(np.zeros((2, 2)), "ab")),
    case(sweep.interleave, ValueError, "labels", lambda: sweep.interleave(np.zeros((2, 2)), np.array([0.0, 0.5]))),
    case(sweep.interleave, ValueError, r"\bX\b", lambda: sweep.interleave(np.full((2, 2), np.nan), np.array([0, 1]))),
    case(sweep.sample_weights, ValueError, r"\bn=", lambda: weights(n=100)),
    case(sweep.plan, ValueError, r"grid\.p", lambda: plan(grid=G(n=(2,), p=(8,)))),
    case(sweep.run, ValueError, "workdir", lambda: run(workdir="")),
    case(sweep.run, ValueError, "workdir", lambda: run(workdir=tempfile.mkstemp()[1])),
    case(sweep.measure, TypeError, "shared", lambda: measure(shared="abc")),
    case(sweep.measure, TypeError, r"fn must return a dict", lambda: measure(fn=lambda m, v, s: jnp.sum(m.weights))),
]


@pytest.mark.slow
@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(sweep, CASES, exempt={
      "SweepResult": "a NamedTuple of a finished sweep's arrays, built by load/merge",
      "Member": "a NamedTuple of one configuration's arrays, built by the engine (traced)",
      "Trainer": "a Protocol (the per-configuration function's contract)",
  })


@pytest.mark.slow
def test_a_changed_spec_is_accepted_when_no_chunk_was_committed(tmp_path):
  """Nothing of the first sweep would be reused, so the workdir takes the new one (spec.json replaced)."""
  config = SC(TC, p_max=2)
  sweep.run(G(n=(2,)), config, str(tmp_path), pool=POOL, progress=False)
  chunks = tmp_path / "chunks"
  for f in chunks.iterdir():
    if f.suffix == ".json":
      f.unlink()  # as if killed before the first commit (its .npz may stay)
  res = sweep.load(sweep.run(G(n=(3,)), config, str(tmp_path), pool=POOL, progress=False))
  assert res.configs["n"].tolist() == [3] and bool(res.ok.all())
  with pytest.raises(ValueError, match="different sweep"):  # now a chunk of the n=3 sweep is committed
    sweep.run(G(n=(2,)), config, str(tmp_path), pool=POOL, progress=False)
