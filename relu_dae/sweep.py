"""Sweeps: a grid of configurations trained in one ``jit(vmap(train))`` per chunk.

A configuration is one value of each axis of a :class:`Grid`:

* ``n`` — training-set size: the first ``n`` rows of a shared data pool (so a larger
  ``n`` contains the smaller ones' samples: the nested-subset protocol of the
  data-size studies). ``n`` is traced: a 0/1 sample weight masks the pool.
* ``sigma``, ``lam`` — noise level and weight decay of Eq. (6), traced.
* ``p`` — active hidden units: the model has ``p_max`` units and the last
  ``p_max − p`` are masked (zero in the forward pass and in the penalty, so they get
  no gradient and the trained model *is* a width-``p`` model). Traced.
* ``seed`` — initialization and noise (the data pool is the same for every seed).
* ``duplicated`` — imbalance: the fraction of clusters whose training samples are all
  copies of one sample (clusters ``0 … round(duplicated·K)−1``; the copy is the
  cluster's first pool row, weighted by the cluster's count). These are the rank-one
  clusters of Cor. 3.4, which the hybrid minimum memorizes. Traced.
* ``data`` — index into a stack of pools (e.g. one pool per within-cluster spread α),
  so even a data-family axis compiles once.

Cost control. Full-batch training on a pool padded to its largest ``n`` makes a small
``n`` as expensive as the largest. Configurations are therefore *bucketed*: each is
trained on the pool truncated to the next power of two ≥ its ``n`` (one compile per
bucket), and buckets larger than ``train.batch_size`` (when set) use minibatches of
that size. Noise and minibatches are prefix-stable (:func:`relu_dae.losses.sample_noise`),
so a configuration's result does not depend on its bucket beyond float rounding.

Chunks, resume, devices. Each bucket is cut into chunks sized to a memory budget; a
finished chunk is written atomically to ``workdir/chunks``. A killed sweep rerun with
the same arguments skips finished chunks and gives bit-identical results (keys depend
on the seed only; chunks are deterministic). With several devices the configuration
axis of a chunk is sharded over a 1-D mesh (``NamedSharding``).

Example:
  >>> import jax, tempfile, relu_dae as rd
  >>> X = rd.data.locally_sparse(jax.random.PRNGKey(0), n=8, d=16)
  >>> grid = rd.sweep.Grid(n=(2, 8), sigma=(0.1, 0.3))
  >>> config = rd.sweep.SweepConfig(rd.train.TrainConfig(steps=50, learning_rate=1e-2), p_max=8)
  >>> res = rd.sweep.load(rd.sweep.run(grid, config, tempfile.mkdtemp(), pool=X, progress=False))
  >>> res.params.shape, res.grid_shape, bool(res.ok.all())
  ((4, 16, 8), (2, 2, 1, 1, 1, 1, 1), True)
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from typing import Any, NamedTuple, Sequence

import numpy as np

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from relu_dae import _checks
from relu_dae import convergence
from relu_dae import model
from relu_dae import results
from relu_dae import train as train_lib

AXES = ("n", "sigma", "lam", "p", "seed", "duplicated", "data")
_INT_AXES = ("n", "p", "seed", "data")


def _axis(name: str, values) -> tuple:
  values = np.atleast_1d(np.asarray(values))
  if values.ndim != 1 or values.size == 0:
    raise ValueError(f"grid axis {name!r} must be a non-empty 1-D sequence, got {values!r}")
  if name in _INT_AXES:
    if not np.all(np.isfinite(values.astype(float))) or np.any(values != np.round(values)):
      raise ValueError(f"grid axis {name!r} must hold integers, got {values.tolist()}")
    values = values.astype(int)
    low = 0 if name in ("seed", "data") else 1
    if np.any(values < low):
      raise ValueError(f"grid axis {name!r} must be >= {low}, got {values.tolist()}")
    return tuple(int(v) for v in values)
  values = values.astype(float)
  if not np.all(np.isfinite(values)) or np.any(values < 0):
    raise ValueError(f"grid axis {name!r} must be finite and >= 0, got {values.tolist()}")
  if name == "duplicated" and np.any(values > 1):
    raise ValueError(f"grid axis 'duplicated' is a fraction of clusters in [0, 1], got {values.tolist()}")
  return tuple(float(v) for v in values)


@dataclasses.dataclass(frozen=True)
class Grid:
  """The product of sweep values; every axis is a tuple (see the module docstring).

  ``p=None`` means the model's full width ``SweepConfig.p_max``.
  """
  n: Sequence[int]
  sigma: Sequence[float] = (0.2,)
  lam: Sequence[float] = (0.0,)
  p: Sequence[int] | None = None
  seed: Sequence[int] = (0,)
  duplicated: Sequence[float] = (0.0,)
  data: Sequence[int] = (0,)

  def __post_init__(self):
    for name in AXES:
      value = getattr(self, name)
      if value is not None:
        object.__setattr__(self, name, _axis(name, value))

  def resolved(self, p_max: int) -> "Grid":
    """This grid with ``p=None`` replaced by ``(p_max,)``."""
    return self if self.p is not None else dataclasses.replace(self, p=(p_max,))

  @property
  def shape(self) -> tuple[int, ...]:
    """Lengths of the axes, in :data:`AXES` order."""
    return tuple(len(getattr(self, a)) for a in AXES)

  def configurations(self) -> dict[str, np.ndarray]:
    """All configurations, C-ordered over :data:`AXES`: ``{axis: (C,)}``."""
    if self.p is None:
      raise ValueError("resolve p first: grid.resolved(p_max)")
    mesh = np.meshgrid(*[np.asarray(getattr(self, a)) for a in AXES], indexing="ij")
    return {a: m.ravel() for a, m in zip(AXES, mesh)}


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """Static settings of a sweep (hashable).

  Attributes:
    train: the :class:`relu_dae.train.TrainConfig` every configuration uses (its
      ``sigma``/``lam`` are overridden by the grid). ``batch_size`` applies only to
      buckets larger than it; smaller buckets train full batch.
    p_max: hidden units of the (masked) model.
    tied: tied ``W`` (the paper's model) or untied ``W1, W2``.
    init_scale: initial weight scale (default ``1/sqrt(d)``, :func:`relu_dae.model.init`).
    buckets: ``"pow2"`` (pool truncated to the next power of two ≥ n) or ``"single"``
      (every configuration padded to the whole pool).
    memory_budget_mb: approximate device memory one chunk may use; sets the chunk size.
    max_chunk: largest number of configurations per chunk.
    curve_points: points kept of each loss curve (window means).
  """
  train: train_lib.TrainConfig = train_lib.TrainConfig()
  p_max: int = 32
  tied: bool = True
  init_scale: float | None = None
  buckets: str = "pow2"
  memory_budget_mb: float = 1024.0
  max_chunk: int = 256
  curve_points: int = 50

  def __post_init__(self):
    _checks.positive_int("p_max", self.p_max)
    if self.buckets not in ("pow2", "single"):
      raise ValueError(f"buckets must be 'pow2' or 'single', got {self.buckets!r}")
    _checks.positive("memory_budget_mb", self.memory_budget_mb)
    _checks.positive_int("max_chunk", self.max_chunk)
    _checks.positive_int("curve_points", self.curve_points)
    if self.init_scale is not None:
      _checks.positive("init_scale", self.init_scale)


class SweepResult(NamedTuple):
  """A finished sweep, one row per configuration (C-ordered over :data:`AXES`).

  Attributes:
    configs: ``{axis: (C,)}`` the configuration values.
    grid_shape: axis lengths, so ``x.reshape(grid_shape)`` gives a grid-shaped array.
    params: final weights ``(C, d, p_max)`` (tied) or ``(C, 2, d, p_max)`` (W1, W2);
      NaN for configurations whose training became non-finite.
    loss_curve: ``(C, curve_points)`` window means of the training loss.
    final_loss: ``(C,)`` mean Monte-Carlo loss over the last 5 % of steps; NaN if not ok.
    nonfinite_step: ``(C,)`` first non-finite step, ``-1`` if none.
    ok: ``(C,)`` True where training stayed finite and was not unstable (a run the
      convergence rule marked ``LOSS_ROSE`` / ``NORM_RAN_AWAY`` is a failure, not a result).
    meta: the JSON metadata (grid, config, devices, wall time, buckets, status counts,
      converged fraction, configuration-steps run / executed / budgeted).
    steps_run: ``(C,)`` steps each configuration took.
    status: ``(C,)`` :mod:`relu_dae.convergence` codes (``MAX_STEPS`` without a rule).
    converged: ``(C,)`` True where the convergence rule stopped the run as converged.
    monitor: ``(C,)`` the rule's final monitor loss (NaN without a rule).
    monitor_slope: ``(C,)`` its relative change per step over the last chunk.
  """
  configs: dict
  grid_shape: tuple
  params: np.ndarray
  loss_curve: np.ndarray
  final_loss: np.ndarray
  nonfinite_step: np.ndarray
  ok: np.ndarray
  meta: dict
  steps_run: np.ndarray
  status: np.ndarray
  converged: np.ndarray
  monitor: np.ndarray
  monitor_slope: np.ndarray

  def grid(self, values: np.ndarray) -> np.ndarray:
    """Reshapes a per-configuration array ``(C, ...)`` to ``grid_shape + (...)``."""
    values = np.asarray(values)
    return values.reshape(tuple(self.grid_shape) + values.shape[1:])


def sample_weights(labels: jax.Array, first: jax.Array, n, duplicated, num_clusters: int) -> jax.Array:
  """Per-sample weights ``(N,)`` of one configuration; traced in ``n`` and ``duplicated``.

  The training set is the first ``n`` pool rows. Clusters ``k < round(duplicated·K)``
  are replaced by ``count_k`` copies of their first pool row (weight ``count_k`` on it,
  0 on the others); the rest keep weight 1 on each present row.

  Args:
    labels: ``(N,)`` cluster ids in ``[0, K)``.
    first: ``(N,)`` True at each cluster's first pool row.
    n: training-set size; duplicated: fraction of clusters duplicated.
    num_clusters: K (static).

  Example:
    >>> import jax.numpy as jnp
    >>> labels = jnp.array([0, 1, 0, 1, 0]); first = jnp.array([1, 1, 0, 0, 0], bool)
    >>> sample_weights(labels, first, 4, 0.5, 2).tolist()
    [2.0, 1.0, 0.0, 1.0, 0.0]
  """
  present = (jnp.arange(labels.shape[0]) < n).astype(jnp.float32)
  counts = jax.ops.segment_sum(present, labels, num_segments=num_clusters)
  dup = jnp.arange(num_clusters) < jnp.round(duplicated * num_clusters)
  return jnp.where(dup[labels], jnp.where(first, counts[labels], 0.0), present)


def bucket_size(n: int, pool_size: int, mode: str = "pow2") -> int:
  """Rows of the pool a configuration with ``n`` samples trains on (static)."""
  if mode == "single":
    return pool_size
  return min(pool_size, 1 << max(0, math.ceil(math.log2(n))))


def _chunk_size(config: SweepConfig, rows: int, d: int, num_devices: int) -> int:
  """Configurations per chunk from the memory budget (a deterministic estimate)."""
  batch = rows if config.train.batch_size is None else min(rows, config.train.batch_size)
  width = config.p_max
  activations = 3 * batch * config.train.num_noise * (2 * d + 2 * width)
  state = 8 * d * width + rows * d + config.train.steps
  per_config = 4 * (activations + state)
  size = int(config.memory_budget_mb * 2**20 // per_config)
  size = max(1, min(config.max_chunk, size))
  return max(num_devices, size // num_devices * num_devices)


def first_rows(labels: np.ndarray) -> np.ndarray:
  """``(A, N)`` booleans marking each cluster's first row in each pool (host, numpy).

  The row :func:`sample_weights` keeps, with the cluster's count as weight, when the
  cluster is duplicated.
  """
  first = np.zeros(labels.shape, bool)
  for a in range(labels.shape[0]):
    _, idx = np.unique(labels[a], return_index=True)
    first[a, idx] = True
  return first


def _bucket_train_config(config: SweepConfig, rows: int) -> train_lib.TrainConfig:
  batch = config.train.batch_size
  return dataclasses.replace(config.train, batch_size=batch if batch is not None and rows > batch else None)


@functools.partial(jax.jit, static_argnames=("config", "train_config", "num_clusters", "callback"))
def _train_chunk(pools, labels, first, cfg, *, config, train_config, num_clusters, callback):
  """Trains a chunk of configurations ``cfg = {axis: (c,)}`` with one ``vmap``."""
  d = pools.shape[-1]
  single_pool = pools.shape[0] == 1

  def one(c):
    X, lab, fst = ((pools[0], labels[0], first[0]) if single_pool else
                   (pools[c["data"]], labels[c["data"]], first[c["data"]]))
    w = sample_weights(lab, fst, c["n"], c["duplicated"], num_clusters)
    k_init, k_train = jax.random.split(jax.random.PRNGKey(c["seed"]))
    params = model.init(k_init, d, config.p_max, tied=config.tied, scale=config.init_scale)
    mask = (jnp.arange(config.p_max) < c["p"]).astype(X.dtype)
    params, hist = train_lib.train(params, X, k_train, train_config, sigma=c["sigma"], lam=c["lam"],
                                   weights=w, unit_mask=mask, callback=callback)
    W = params["W"] if config.tied else jnp.stack([params["W1"], params["W2"]])
    return W, hist

  W, hist = jax.vmap(one)(cfg)
  steps = train_config.steps
  points = min(config.curve_points, steps)
  window = steps // points
  # Window means over the steps each run took (NaN windows after an early stop).
  curve = jnp.nanmean(hist.loss[:, :points * window].reshape(-1, points, window), axis=-1)
  # Final loss: the last 5 % of the budget, ending where the run stopped.
  tail = max(1, steps // 20)
  t = jnp.arange(steps)
  last = (t >= hist.steps_run[:, None] - tail) & (t < hist.steps_run[:, None])
  final = jnp.sum(jnp.where(last, hist.loss, 0.0), axis=-1) / jnp.sum(last, axis=-1)
  return W, curve, final, hist.nonfinite_step, hist.steps_run, hist.status, hist.monitor, hist.monitor_slope


def _fingerprint(grid: Grid, config: SweepConfig, pools: np.ndarray, labels: np.ndarray) -> dict:
  digest = hashlib.sha256(pools.tobytes() + labels.tobytes()).hexdigest()
  return {"grid": dataclasses.asdict(grid), "config": _config_dict(config),
          "pool_shape": list(pools.shape), "pool_sha256": digest}


def _config_dict(config: SweepConfig) -> dict:
  out = dataclasses.asdict(config)
  out["train"] = dataclasses.asdict(config.train)
  return out


def _check_workdir(workdir: str, spec: dict) -> None:
  path = os.path.join(workdir, "spec.json")
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    if old != json.loads(json.dumps(results._jsonable(spec))):
      raise ValueError(f"workdir {workdir!r} holds a different sweep (its spec.json differs); "
                       "use a fresh workdir to start a new sweep")
  else:
    results.save_json(path, spec)


def _prepare_data(pool, labels) -> tuple[np.ndarray, np.ndarray, int]:
  pools = np.asarray(pool, np.float32)
  if pools.ndim == 2:
    pools = pools[None]
  if pools.ndim != 3 or pools.shape[1] == 0:
    raise ValueError(f"pool must be (N, d) or (A, N, d) with N >= 1, got shape {np.shape(pool)}")
  if not np.all(np.isfinite(pools)):
    raise ValueError("pool contains non-finite values")
  N = pools.shape[1]
  if labels is None:
    labels = np.zeros((pools.shape[0], N), np.int32)
  labels = np.asarray(labels)
  if labels.shape == (N,):
    labels = np.broadcast_to(labels, (pools.shape[0], N))
  if labels.shape != pools.shape[:2] or np.any(labels != np.round(labels)) or np.any(labels < 0):
    raise ValueError(f"labels must be nonnegative integers of shape (N,) or (A, N) = {pools.shape[:2]}, "
                     f"got shape {labels.shape}")
  labels = labels.astype(np.int32)
  return pools, labels, int(labels.max()) + 1


def _validate(grid: Grid, config: SweepConfig, pools: np.ndarray, labels_given: bool) -> None:
  N = pools.shape[1]
  if max(grid.n) > N:
    raise ValueError(f"grid.n has {max(grid.n)} > pool size N={N}")
  if max(grid.p) > config.p_max:
    raise ValueError(f"grid.p has {max(grid.p)} > p_max={config.p_max}")
  if max(grid.data) >= pools.shape[0]:
    raise ValueError(f"grid.data has index {max(grid.data)} but only {pools.shape[0]} pool(s) were given")
  if max(grid.duplicated) > 0 and not labels_given:
    raise ValueError("grid.duplicated > 0 needs cluster labels: pass labels=")


def plan(grid: Grid, config: SweepConfig, pool_size: int, d: int, num_devices: int = 1):
  """The chunks a sweep runs: a list of ``(rows, config_indices)``, deterministic.

  Configurations are grouped by bucket (:func:`bucket_size`), kept in grid order within a
  bucket and cut into the fewest equal chunks that fit the memory budget; a short last
  chunk is run padded (by repeating its last configuration) so each bucket compiles once.
  """
  configs = grid.resolved(config.p_max).configurations()
  rows = np.array([bucket_size(int(n), pool_size, config.buckets) for n in configs["n"]])
  chunks = []
  for r in np.unique(rows):
    idx = np.flatnonzero(rows == r)
    largest = _chunk_size(config, int(r), d, num_devices)
    # As few chunks as the budget allows, evened out so padding stays below one per device.
    size = -(-len(idx) // -(-len(idx) // largest))
    size = -(-size // num_devices) * num_devices
    chunks += [(int(r), idx[i:i + size], size) for i in range(0, len(idx), size)]
  return chunks


def _progress_callback(bar, steps: int, chunk: int):
  def report(step, loss):
    del loss
    step = int(step)
    bar.update(step % chunk if step == steps and step % chunk else chunk)
  return report


def _device_put(tree, mesh, spec):
  if mesh is None:
    return jax.tree.map(jnp.asarray, tree)
  return jax.device_put(tree, NamedSharding(mesh, spec))


def run(grid: Grid, config: SweepConfig, workdir: str, *, pool, labels=None,
        progress: bool = True, devices: Sequence[Any] | None = None) -> str:
  """Trains every configuration of ``grid`` and writes ``workdir/sweep.{npz,json}``.

  Args:
    grid: the sweep values (:class:`Grid`).
    config: static settings (:class:`SweepConfig`).
    workdir: directory for chunk files and results; rerunning with the same
      arguments resumes (finished chunks are skipped), different arguments raise.
    pool: data ``(N, d)``, or ``(A, N, d)`` for a ``data`` axis. Rows are taken in order:
      configuration ``n`` trains on rows ``[0, n)``. For balanced clusters at every ``n``,
      interleave clusters (e.g. :func:`interleave`).
    labels: cluster ids ``(N,)`` or ``(A, N)``; needed for ``duplicated > 0``.
    progress: show a tqdm bar over configuration-steps (updated once per scan chunk).
    devices: devices to shard the configuration axis over (default: all local devices).

  Returns:
    The results stem ``workdir/sweep``; read it with :func:`load`.
  """
  labels_given = labels is not None
  pools, labels, num_clusters = _prepare_data(pool, labels)
  grid = grid.resolved(config.p_max)
  _validate(grid, config, pools, labels_given)
  first = first_rows(labels)
  devices = list(jax.devices() if devices is None else devices)
  mesh = jax.sharding.Mesh(np.array(devices), ("config",)) if len(devices) > 1 else None
  _check_workdir(workdir, _fingerprint(grid, config, pools, labels))
  configs = grid.configurations()
  chunks = plan(grid, config, pools.shape[1], pools.shape[2], len(devices))
  steps = config.train.steps
  paths = [os.path.join(workdir, "chunks", f"rows{r:06d}_{i[0]:07d}") for r, i, _ in chunks]
  done = [os.path.exists(p + ".npz") for p in paths]
  start = time.perf_counter()
  # Padded slots of a short last chunk train too, so they count as configuration-steps.
  with tqdm(total=sum(s for _, _, s in chunks) * steps, unit="cfg-step", unit_scale=True,
            disable=not progress, desc="sweep",
            initial=sum(s for (_, _, s), ok in zip(chunks, done) if ok) * steps) as bar:
    callback = _progress_callback(bar, steps, min(config.train.chunk_size, steps)) if progress else None
    for (rows, idx, size), path, finished in zip(chunks, paths, done):
      if finished:
        continue
      padded = np.concatenate([idx, np.full(size - len(idx), idx[-1])])
      cfg = {a: configs[a][padded].astype(np.int32 if a in _INT_AXES else np.float32) for a in AXES}
      data = _device_put((pools[:, :rows], labels[:, :rows], first[:, :rows]), mesh, PartitionSpec())
      out = _train_chunk(*data, _device_put(cfg, mesh, PartitionSpec("config")), config=config,
                         train_config=_bucket_train_config(config, rows), num_clusters=num_clusters,
                         callback=callback)
      W, curve, final, bad, steps_run, status, monitor, slope = (np.asarray(x) for x in out)
      # Under vmap the chunk ran until its slowest configuration stopped: that is its cost.
      cost = int(steps_run.max()) * int(size)
      results.save(path, {"index": idx, "params": W[:len(idx)], "loss_curve": curve[:len(idx)],
                          "final_loss": final[:len(idx)], "nonfinite_step": bad[:len(idx)],
                          "steps_run": steps_run[:len(idx)], "status": status[:len(idx)],
                          "monitor": monitor[:len(idx)], "monitor_slope": slope[:len(idx)]},
                   {"rows": rows, "chunk": int(size), "config_steps": cost})
  return _assemble(grid, config, workdir, paths, chunks, devices, time.perf_counter() - start)


def _assemble(grid, config, workdir, paths, chunks, devices, wall_s) -> str:
  loaded = [results.load(p) for p in paths]
  parts = [a for a, _ in loaded]
  order = np.argsort(np.concatenate([p["index"] for p in parts]))
  cat = {k: np.concatenate([p[k] for p in parts])[order] for k in parts[0] if k != "index"}
  ok = (cat["nonfinite_step"] < 0) & ~np.isin(cat["status"], convergence.UNSTABLE)
  cat["params"][~ok] = np.nan
  cat["final_loss"][~ok] = np.nan
  converged = cat["status"] == convergence.CONVERGED
  arrays = {**{f"config_{a}": v for a, v in grid.configurations().items()}, **cat, "ok": ok,
            "converged": converged}
  buckets = {}
  for rows, idx, size in chunks:
    entry = buckets.setdefault(str(rows), {"configs": 0, "chunks": 0, "chunk_size": size})
    entry["configs"] += len(idx)
    entry["chunks"] += 1
  meta = {"grid": dataclasses.asdict(grid), "grid_shape": list(grid.shape), "config": _config_dict(config),
          "devices": [str(d) for d in devices], "wall_s": wall_s, "buckets": buckets,
          "num_nonfinite": int((cat["nonfinite_step"] >= 0).sum()), "num_failed": int((~ok).sum()),
          "status_counts": {name: int((cat["status"] == code).sum())
                            for code, name in enumerate(convergence.STATUS_NAMES)},
          "converged_fraction": float(converged.mean()),
          "config_steps": {"run": int(cat["steps_run"].sum()),
                           "executed": int(sum(m["config_steps"] for _, m in loaded)),
                           "budget": int(sum(size for _, _, size in chunks) * config.train.steps)}}
  return results.save(os.path.join(workdir, "sweep"), arrays, meta)


def load(stem: str) -> SweepResult:
  """Reads a sweep written by :func:`run` (no pickle)."""
  arrays, meta = results.load(stem)
  configs = {a: arrays[f"config_{a}"] for a in AXES}
  return SweepResult(configs, tuple(meta["grid_shape"]), arrays["params"], arrays["loss_curve"],
                     arrays["final_loss"], arrays["nonfinite_step"], arrays["ok"], meta,
                     arrays["steps_run"], arrays["status"], arrays["converged"], arrays["monitor"],
                     arrays["monitor_slope"])


def interleave(X, labels) -> tuple[np.ndarray, np.ndarray]:
  """Reorders rows round-robin over clusters, so every prefix is as balanced as possible.

  Returns ``(X, labels)`` reordered (cluster order: sorted ids; within a cluster, original order).

  Example:
    >>> import numpy as np
    >>> interleave(np.arange(5)[:, None], np.array([0, 0, 0, 1, 1]))[1].tolist()
    [0, 1, 0, 1, 0]
  """
  X, labels = np.asarray(X), np.asarray(labels)
  rank = np.zeros(len(labels), int)
  for k in np.unique(labels):
    rank[labels == k] = np.arange(np.sum(labels == k))
  order = np.lexsort((labels, rank))
  return X[order], labels[order]
