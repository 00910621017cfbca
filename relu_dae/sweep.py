"""Sweeps: a grid of configurations trained in one ``jit(vmap(trainer))`` per chunk, then measured.

The engine is two functions. :func:`run` hands every configuration, as a :class:`Member`
(its grid values, its pool, its training set as sample weights, its key), to a
per-configuration :class:`Trainer` — the DAE of Eq. (6) by default (:class:`DAETrainer`),
the multi-σ diffusion model with :class:`relu_dae.diffusion.SweepTrainer`, or any hashable
function with the same contract — and stores what it returns. :func:`measure` maps a
measurement over the finished configurations the same way. Buckets, chunks, sharding,
resume and the convergence accounting are the engine's, whatever the trainer.

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
  so even a data-family axis compiles once. With ``run(..., pool_per_seed=True)`` every
  seed also draws its own pool (``pool (A, S, N, d)``, one per family and seed), so a
  bootstrap over seeds resamples initializations and data pools together.

Cost control. Full-batch training on a pool padded to its largest ``n`` makes a small
``n`` as expensive as the largest. Configurations are therefore *bucketed*: each is
trained on the pool truncated to the next power of two ≥ its ``n`` (one compile per
bucket), and buckets larger than ``train.batch_size`` (when set) use minibatches of
that size. Noise and minibatches are prefix-stable (:func:`relu_dae.losses.sample_noise`),
so a configuration's result does not depend on its bucket beyond float rounding.

Chunks, resume, devices. Each bucket is cut into chunks sized to a memory budget (the
plan does not depend on the devices); a finished chunk is written atomically to
``workdir/chunks`` and carries its configuration indices and a fingerprint of what made
it (grid, config, trainer, pool hash, plan entry). A killed sweep rerun with the same
arguments reuses exactly the chunks that are complete, readable and its own — a
truncated, corrupt, swapped or foreign chunk is logged by name, moved aside (``*.bad``)
and retrained — and gives bit-identical results (keys depend on the seed only; chunks
are deterministic), on any number of devices. A workdir holding another sweep, or chunks
without a ``spec.json``, is refused, and ``workdir/.lock`` refuses a concurrent run.
With several devices the configuration axis of a chunk is sharded over a 1-D mesh
(``NamedSharding``).

Examples:
  >>> import jax, tempfile, relu_dae as rd
  >>> X = rd.data.locally_sparse(jax.random.PRNGKey(0), n=8, d=16)
  >>> grid = rd.sweep.Grid(n=(2, 8), sigma=(0.1, 0.3))
  >>> config = rd.sweep.SweepConfig(rd.train.TrainConfig(steps=50, learning_rate=1e-2), p_max=8)
  >>> res = rd.sweep.load(rd.sweep.run(grid, config, tempfile.mkdtemp(), pool=X, progress=False))
  >>> res.params.shape, res.grid_shape, bool(res.ok.all())
  ((4, 16, 8), (2, 2, 1, 1, 1, 1, 1), True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import math
import os
import re
import time
import zipfile
from typing import Any, NamedTuple, Protocol
from collections.abc import Callable, Sequence

import numpy as np

from absl import logging
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec
from tqdm.auto import tqdm

from relu_dae import _checks
from relu_dae import budget
from relu_dae import convergence
from relu_dae import model
from relu_dae import results
from relu_dae import train as train_lib

__all__ = [
    "AXES", "Grid", "SweepConfig", "BUCKETS", "SweepResult", "REQUIRED", "DIAGNOSTICS", "Member", "Trainer",
    "history_outputs", "bucket_train_config", "DAETrainer", "sample_weights", "bucket_size", "first_rows",
    "flatten", "unflatten", "resolved_config", "plan", "run", "load", "positions", "merge", "measure", "interleave",
]

AXES = ("n", "sigma", "lam", "p", "seed", "duplicated", "data")
_INT_AXES = ("n", "p", "seed", "data")


def _axis(name: str, values) -> tuple:
  """One grid axis as a tuple of Python numbers: non-empty, 1-D, real, finite, no repeats, the right sign."""
  if values is None or isinstance(values, (str, bytes, dict, set)):
    raise TypeError(f"grid axis {name!r} must be a sequence of numbers, got {type(values).__name__} {values!r}")
  try:
    values = np.atleast_1d(np.asarray(values))
  except ValueError as err:  # ragged nesting
    raise ValueError(f"grid axis {name!r} must be a flat sequence of numbers, got {values!r}") from err
  if values.dtype.kind not in "iuf":
    raise TypeError(f"grid axis {name!r} must hold real numbers, got {values.tolist()} (dtype {values.dtype})")
  if values.ndim != 1 or values.size == 0:
    raise ValueError(f"grid axis {name!r} must be a non-empty 1-D sequence, got {values.tolist()}")
  if len(np.unique(values)) != values.size:  # a repeated value would alias rows of the results
    raise ValueError(f"grid axis {name!r} has repeated values: {values.tolist()}")
  if name in _INT_AXES:
    if not np.all(np.isfinite(values.astype(float))) or np.any(values != np.round(values)):
      raise ValueError(f"grid axis {name!r} must hold integers, got {values.tolist()}")
    values = values.astype(int)
    low = 0 if name in ("seed", "data") else 1
    if np.any(values < low):
      raise ValueError(f"grid axis {name!r} must be >= {low}, got {values.tolist()}")
    if np.any(values >= 2**31):  # traced as int32: larger values would alias
      raise ValueError(f"grid axis {name!r} must be < 2**31, got {values.tolist()}")
    return tuple(int(v) for v in values)
  values = values.astype(float)
  if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values > _checks.MAX_ABS):
    raise ValueError(f"grid axis {name!r} must be finite, >= 0 and <= {_checks.MAX_ABS:g}, got {values.tolist()}")
  if name == "duplicated" and np.any(values > 1):
    raise ValueError(f"grid axis 'duplicated' is a fraction of clusters in [0, 1], got {values.tolist()}")
  return tuple(float(v) for v in values)


@dataclasses.dataclass(frozen=True)
class Grid:
  """The product of sweep values; every axis is a tuple (see the module docstring).

  ``p=None`` means the model's full width ``SweepConfig.p_max``. Every axis is checked here:
  a non-empty sequence of real numbers without repeats (``TypeError`` for None, strings,
  dicts), integers ``>= 1`` for ``n`` and ``p``, ``>= 0`` for ``seed`` and ``data``, finite
  ``>= 0`` for ``sigma`` and ``lam``, and ``duplicated`` in ``[0, 1]``.
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
      if value is not None or name != "p":
        object.__setattr__(self, name, _axis(name, value))

  def resolved(self, p_max: int) -> Grid:
    """This grid with ``p=None`` replaced by ``(p_max,)``."""
    p_max = _checks.positive_int("p_max", p_max)
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
    train: the :class:`relu_dae.train.TrainConfig` every configuration uses. σ and λ come
      from the grid, so its ``sigma``/``lam`` must stay at their defaults (other values are
      refused rather than silently ignored). ``batch_size`` applies only to
      buckets larger than it; smaller buckets train full batch.
    p_max: hidden units of the (masked) model.
    tied: tied ``W`` (the paper's model) or untied ``W1, W2``.
    init_scale: initial weight scale (default ``1/sqrt(d)``, :func:`relu_dae.model.init`).
    buckets: ``"pow2"`` (pool truncated to the next power of two ≥ n) or ``"single"``
      (every configuration padded to the whole pool).
    memory_budget_mb: approximate memory (MiB) one chunk may use; with the trainer's
      per-configuration estimate it sets the chunk size. ``None``: from the devices
      (:mod:`relu_dae.budget`: half the free memory of an accelerator, half the CPU's
      last-level cache), resolved at the sweep's first run and kept in its ``spec.json``.
    max_chunk: largest number of configurations per chunk (``chunk_multiple`` wins if larger).
    chunk_multiple: chunk sizes are multiples of it, so no device trains padding. ``None``:
      the number of devices of the first run (kept in ``spec.json`` like the budget).
    curve_points: points kept of each loss curve (window means).
    trainer: the per-configuration function (a :class:`Trainer`). ``None`` trains the
      DAE of Eq. (6): ``DAETrainer(train, p_max, tied, init_scale, curve_points)``. A
      custom trainer brings its own training settings (``train`` / ``tied`` /
      ``init_scale`` / ``curve_points`` are then unused); ``p_max`` still bounds the
      ``p`` axis and ``buckets`` / ``memory_budget_mb`` / ``max_chunk`` / ``chunk_multiple``
      still cut chunks.
  """
  train: train_lib.TrainConfig = train_lib.TrainConfig()
  p_max: int = 32
  tied: bool = True
  init_scale: float | None = None
  buckets: str = "pow2"
  memory_budget_mb: float | None = None
  max_chunk: int = 256
  chunk_multiple: int | None = None
  curve_points: int = 50
  trainer: Any = None

  @property
  def resolved_trainer(self) -> Trainer:
    """The :class:`Trainer` this sweep runs (``trainer``, or the default DAE trainer)."""
    if self.trainer is not None:
      return self.trainer
    return DAETrainer(self.train, self.p_max, self.tied, self.init_scale, self.curve_points)

  def __post_init__(self):
    _check_dae_settings(self)
    train_lib._choice("buckets", self.buckets, BUCKETS)
    if self.memory_budget_mb is not None:
      _checks.scalar_positive("memory_budget_mb", self.memory_budget_mb)
    _checks.positive_int("max_chunk", self.max_chunk)
    if self.chunk_multiple is not None:
      _checks.positive_int("chunk_multiple", self.chunk_multiple)
    if self.trainer is not None:
      _check_trainer(self.trainer, self.p_max)
    train_lib._hashable(self)


BUCKETS = ("pow2", "single")


def _check_dae_settings(c) -> None:
  """The fields :class:`SweepConfig` and :class:`DAETrainer` share.

  They are ``train, p_max, tied, init_scale, curve_points``.
  """
  if not isinstance(c.train, train_lib.TrainConfig):
    raise TypeError(f"train must be a TrainConfig, got {type(c.train).__name__}")
  _checks.positive_int("p_max", c.p_max)
  _checks.boolean("tied", c.tied)
  if c.init_scale is not None:
    _checks.scalar_positive("init_scale", c.init_scale)
  _checks.positive_int("curve_points", c.curve_points)
  default = train_lib.TrainConfig()
  if (c.train.sigma, c.train.lam) != (default.sigma, default.lam):
    raise ValueError(f"train.sigma={c.train.sigma} / train.lam={c.train.lam}: a sweep takes σ and λ from its "
                     f"grid (Grid(sigma=..., lam=...)), never from the TrainConfig; leave them at their "
                     f"defaults ({default.sigma}, {default.lam})")


class SweepResult(NamedTuple):
  """A finished sweep, one row per configuration (C-ordered over :data:`AXES`).

  Attributes:
    configs: ``{axis: (C,)}`` the configuration values.
    grid_shape: axis lengths, so ``x.reshape(grid_shape)`` gives a grid-shaped array.
    outputs: ``{name: (C, ...)}`` what the :class:`Trainer` returned per configuration,
      nested dicts flattened with ``"."`` (``"params.W"``; :meth:`tree` nests them again).
      Floating outputs are NaN where a run is not ok, except the :data:`DIAGNOSTICS`.
    ok: ``(C,)`` True where training stayed finite, was not unstable (a run the
      convergence rule marked ``LOSS_ROSE`` / ``NORM_RAN_AWAY`` is a failure, not a
      result) and the trainer's own ``valid`` output (if any) holds.
    meta: the JSON metadata (grid, config, trainer, devices, wall time, buckets, status
      counts, converged fraction, configuration-steps run / executed / budgeted).
    steps_run: ``(C,)`` steps each configuration took.
    status: ``(C,)`` :mod:`relu_dae.convergence` codes (``MAX_STEPS`` without a rule).
    converged: ``(C,)`` True where the convergence rule stopped the run as converged.
    nonfinite_step: ``(C,)`` first non-finite step, ``-1`` if none.

  The default DAE trainer's outputs are also attributes: ``params`` (``(C, d, p_max)``
  tied, ``(C, 2, d, p_max)`` untied), ``loss_curve`` ``(C, curve_points)``, ``final_loss``
  (mean loss over the last 5 % of steps before the stop), ``monitor``, ``monitor_slope``.
  """
  configs: dict
  grid_shape: tuple
  outputs: dict
  ok: np.ndarray
  meta: dict
  steps_run: np.ndarray
  status: np.ndarray
  converged: np.ndarray
  nonfinite_step: np.ndarray

  def grid(self, values: np.ndarray) -> np.ndarray:
    """Reshapes a per-configuration array ``(C, ...)`` to ``grid_shape + (...)``."""
    values = np.asarray(values)
    return values.reshape(tuple(self.grid_shape) + values.shape[1:])

  def tree(self, name: str):
    """The output ``name``: an array, or the nested dict of ``name.*`` outputs."""
    return unflatten(self.outputs, name)

  params = property(lambda self: self.tree("params"))
  loss_curve = property(lambda self: self.outputs["loss_curve"])
  final_loss = property(lambda self: self.outputs["final_loss"])
  monitor = property(lambda self: self.outputs["monitor"])
  monitor_slope = property(lambda self: self.outputs["monitor_slope"])


# Outputs the engine reads (every trainer returns them) and outputs kept for failed runs.
REQUIRED = ("nonfinite_step", "steps_run", "status")
DIAGNOSTICS = REQUIRED + ("loss_curve", "monitor", "monitor_slope", "valid")


class Member(NamedTuple):
  """One configuration as a per-configuration function sees it (traced, inside ``vmap``).

  Attributes:
    config: ``{axis: scalar}`` its grid values (:data:`AXES`).
    X: ``(rows, d)`` its data pool (``config["data"]``); in training, truncated to its
      bucket's rows, in :func:`measure` the whole pool.
    labels: ``(rows,)`` cluster ids of those rows.
    weights: ``(rows,)`` its training set as sample weights (:func:`sample_weights`):
      0/1 for the first ``n`` rows, counts on the kept row of a duplicated cluster.
    key: ``PRNGKey(seed)``; every random draw of the configuration derives from it.
  """
  config: dict
  X: jax.Array
  labels: jax.Array
  weights: jax.Array
  key: jax.Array


class Trainer(Protocol):
  """What :func:`run` vmaps over the configurations of a chunk.

  A trainer is a hashable value (a frozen dataclass: it is a static argument of the
  chunk's ``jit``, so equal trainers share one compile) with

  * ``train``: its :class:`relu_dae.train.TrainConfig` (the step budget ``steps`` and
    ``chunk_size`` set the progress bar and the configuration-step accounting);
  * ``memory_bytes(rows, d)``: an estimate of one configuration's device memory;
  * ``__call__(member, callback)``: trains one :class:`Member` and returns a dict (nested
    dicts allowed) of arrays that includes :data:`REQUIRED` (take them from the
    :class:`relu_dae.train.History` with :func:`history_outputs`), and optionally a
    boolean ``valid``. ``callback`` is the progress reporter to hand to ``train``.
  """
  train: train_lib.TrainConfig

  def memory_bytes(self, rows: int, d: int) -> int: ...

  def __call__(self, member: Member, callback: Callable | None) -> dict: ...


def _check_trainer(trainer, p_max: int) -> None:
  if not (callable(trainer) and hasattr(trainer, "memory_bytes") and dataclasses.is_dataclass(trainer)
          and isinstance(getattr(trainer, "train", None), train_lib.TrainConfig)):
    raise TypeError("trainer must be a Trainer: a frozen dataclass, callable, with .train (a TrainConfig) and "
                    f".memory_bytes(rows, d); got {type(trainer).__name__}")
  text = json.dumps(results._jsonable(dataclasses.asdict(trainer)))
  if re.search(r" at 0x|<lambda>|<locals>", text):  # would not identify the trainer across processes
    raise TypeError(f"trainer {type(trainer).__name__} has a field (a lambda, a local function, a partial) "
                    "that cannot be fingerprinted; use module-level functions and plain values")
  try:
    hash(trainer)
  except TypeError as err:
    raise TypeError(f"trainer must be hashable (a frozen dataclass), got {type(trainer).__name__}") from err
  width = getattr(trainer, "p_max", p_max)
  if width != p_max:
    raise ValueError(f"trainer.p_max={width} differs from SweepConfig.p_max={p_max}")


def history_outputs(hist: train_lib.History, curve_points: int) -> dict:
  """The outputs every trainer reports, from one configuration's :class:`relu_dae.train.History`.

  ``loss_curve (curve_points,)``: window means over the steps the run took (NaN windows
  after an early stop); ``final_loss``: the mean loss over the last 5 % of the budget
  before the stop; and :data:`REQUIRED` with the convergence rule's monitor and slope.
  ``hist`` is one configuration's (``loss (steps,)``: call it inside the trainer's ``vmap``).
  """
  if not isinstance(hist, train_lib.History):
    raise TypeError(f"hist must be a train.History, got {type(hist).__name__}")
  if jnp.ndim(hist.loss) != 1:
    raise ValueError(f"hist must be one configuration's History (loss of shape (steps,)), got loss of shape "
                     f"{jnp.shape(hist.loss)}")
  curve_points = _checks.positive_int("curve_points", curve_points)
  steps = hist.loss.shape[0]
  points = min(curve_points, steps)
  window = steps // points
  curve = jnp.nanmean(hist.loss[:points * window].reshape(points, window), axis=-1)
  t = jnp.arange(steps)
  last = (t >= hist.steps_run - max(1, steps // 20)) & (t < hist.steps_run)
  final = jnp.sum(jnp.where(last, hist.loss, 0.0)) / jnp.sum(last)
  return dict(loss_curve=curve, final_loss=final, nonfinite_step=hist.nonfinite_step, steps_run=hist.steps_run,
              status=hist.status, monitor=hist.monitor, monitor_slope=hist.monitor_slope)


def bucket_train_config(train: train_lib.TrainConfig, rows: int) -> train_lib.TrainConfig:
  """``train`` for a bucket of ``rows`` pool rows: full batch up to ``train.batch_size`` rows,
  minibatches of that size above (what every trainer of a sweep does)."""
  if not isinstance(train, train_lib.TrainConfig):
    raise TypeError(f"train must be a TrainConfig, got {type(train).__name__}")
  rows = _checks.positive_int("rows", rows)
  batch = train.batch_size
  return dataclasses.replace(train, batch_size=batch if batch is not None and rows > batch else None)


@dataclasses.dataclass(frozen=True)
class DAETrainer:
  """The default :class:`Trainer`: the DAE of Eq. (6) at the configuration's ``σ, λ, p``.

  A width-``p_max`` model (:func:`relu_dae.model.init` from ``split(key)[0]``) whose last
  ``p_max − p`` units are masked, trained by :func:`relu_dae.train.train` (key
  ``split(key)[1]``) on the member's weighted rows. Outputs ``params`` (``W``, or the
  stack ``[W1, W2]`` untied) and :func:`history_outputs`.
  """
  train: train_lib.TrainConfig = train_lib.TrainConfig()
  p_max: int = 32
  tied: bool = True
  init_scale: float | None = None
  curve_points: int = 50

  def __post_init__(self):
    _check_dae_settings(self)
    train_lib._hashable(self)

  def memory_bytes(self, rows: int, d: int) -> int:
    batch = rows if self.train.batch_size is None else min(rows, self.train.batch_size)
    activations = 3 * batch * self.train.num_noise * (2 * d + 2 * self.p_max)
    return 4 * (activations + 8 * d * self.p_max + rows * d + self.train.steps)

  def __call__(self, member: Member, callback: Callable | None = None) -> dict:
    c, X = member.config, member.X
    k_init, k_train = jax.random.split(member.key)
    params = model.init(k_init, X.shape[1], self.p_max, tied=self.tied, scale=self.init_scale)
    mask = (jnp.arange(self.p_max) < c["p"]).astype(X.dtype)
    params, hist = train_lib.train(params, X, k_train, bucket_train_config(self.train, X.shape[0]),
                                   sigma=c["sigma"], lam=c["lam"], weights=member.weights, unit_mask=mask,
                                   callback=callback)
    W = params["W"] if self.tied else jnp.stack([params["W1"], params["W2"]])
    return {"params": W, **history_outputs(hist, self.curve_points)}


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

  Examples:
    >>> import jax.numpy as jnp
    >>> labels = jnp.array([0, 1, 0, 1, 0]); first = jnp.array([1, 1, 0, 0, 0], bool)
    >>> sample_weights(labels, first, 4, 0.5, 2).tolist()
    [2.0, 1.0, 0.0, 1.0, 0.0]
  """
  _check_weight_args(labels, first, n, duplicated, num_clusters)
  present = (jnp.arange(labels.shape[0]) < n).astype(jnp.float32)
  counts = jax.ops.segment_sum(present, labels, num_segments=num_clusters)
  dup = jnp.arange(num_clusters) < jnp.round(duplicated * num_clusters)
  return jnp.where(dup[labels], jnp.where(first, counts[labels], 0.0), present)


def _check_weight_args(labels, first, n, duplicated, num_clusters) -> None:
  """:func:`sample_weights`' arguments: shapes and dtypes always, values when concrete (traced in the engine)."""
  num_clusters = _checks.positive_int("num_clusters", num_clusters)
  for name, x in (("labels", labels), ("first", first)):
    if x is None or isinstance(x, (str, bytes, dict, list, tuple, set)) or not hasattr(x, "dtype"):
      raise TypeError(f"{name} must be an array of shape (N,), got {type(x).__name__}")
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(f"labels must be integer cluster ids, got dtype {labels.dtype}")
  if jnp.ndim(labels) != 1 or jnp.shape(first) != jnp.shape(labels):
    raise ValueError(f"labels and first must have one shape (N,), got labels {jnp.shape(labels)}, "
                     f"first {jnp.shape(first)}")
  _checks.real_floating("first", first)
  ids = _checks.concrete(labels)
  if ids is not None and ids.size and (ids.min() < 0 or ids.max() >= num_clusters):
    raise ValueError(f"labels must lie in [0, num_clusters={num_clusters}), got ids {ids.min()} … {ids.max()}")
  _checks.number("n", n)
  v = _checks.concrete(n)
  if v is not None and not (np.isfinite(v) and v >= 1 and v == np.round(v)):
    raise ValueError(f"n must be an integer >= 1 (the training-set size), got {v}")
  _checks.in_range("duplicated", duplicated, 0.0, 1.0)
  if v is not None and v > jnp.shape(labels)[0]:
    raise ValueError(f"n={v} exceeds the pool's {jnp.shape(labels)[0]} rows")


def bucket_size(n: int, pool_size: int, mode: str = "pow2") -> int:
  """Rows of the pool a configuration with ``n <= pool_size`` samples trains on (static)."""
  n = _checks.positive_int("n", n)
  pool_size = _checks.positive_int("pool_size", pool_size)
  train_lib._choice("mode", mode, BUCKETS)
  if n > pool_size:
    raise ValueError(f"n={n} exceeds pool_size={pool_size}: the configuration would train on fewer rows than n")
  if mode == "single":
    return pool_size
  return min(pool_size, 1 << max(0, math.ceil(math.log2(n))))


def _chunk_size(config: SweepConfig, rows: int, d: int) -> int:
  """Largest chunk the memory budget allows (the trainer's deterministic estimate), a multiple of
  ``chunk_multiple`` (``config``'s settings already resolved)."""
  per_config = max(1, int(config.resolved_trainer.memory_bytes(rows, d)))
  size = max(1, min(config.max_chunk, int(config.memory_budget_mb * 2**20 // per_config)))
  m = config.chunk_multiple
  return max(m, size // m * m)


def resolved_config(config: SweepConfig, devices: Sequence[Any] | None = None) -> SweepConfig:
  """``config`` with ``memory_budget_mb`` / ``chunk_multiple`` set from ``devices`` where ``None``.

  (:func:`relu_dae.budget.resolve`; default devices: this process's local ones.) What
  :func:`plan` uses; :func:`run` takes the values of the workdir's first run instead.

  Examples:
    >>> import jax
    >>> resolved_config(SweepConfig(), jax.devices()[:1]).chunk_multiple
    1
  """
  if not isinstance(config, SweepConfig):
    raise TypeError(f"config must be a SweepConfig, got {type(config).__name__}")
  settings = budget.resolve(config.memory_budget_mb, config.chunk_multiple, _check_devices(devices))
  return dataclasses.replace(config, **settings)


def first_rows(labels: np.ndarray) -> np.ndarray:
  """``(A, N)`` booleans marking each cluster's first row in each pool (host, numpy).

  The row :func:`sample_weights` keeps, with the cluster's count as weight, when the
  cluster is duplicated.
  """
  labels = _host_labels("labels", labels, ndim=2)
  if np.any(labels < 0):
    raise ValueError("labels must be nonnegative cluster ids")
  first = np.zeros(labels.shape, bool)
  for a in range(labels.shape[0]):
    _, idx = np.unique(labels[a], return_index=True)
    first[a, idx] = True
  return first


def _host_labels(name: str, labels, *, ndim: int) -> np.ndarray:
  """Integer-valued cluster ids on the host (any real dtype), ``ndim``-D; ``TypeError`` for non-numbers."""
  if labels is None or isinstance(labels, (str, bytes, dict, set)):
    raise TypeError(f"{name} must be an integer array, got {type(labels).__name__}")
  try:
    labels = np.asarray(labels)
  except ValueError as err:  # ragged nesting
    raise ValueError(f"{name} must be a rectangular array") from err
  if labels.dtype.kind not in "biuf":
    raise TypeError(f"{name} must be an integer array, got dtype {labels.dtype}")
  if labels.ndim != ndim:
    raise ValueError(f"{name} must be {ndim}-D, got shape {labels.shape}")
  if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
    raise ValueError(f"{name} must hold integer cluster ids, got non-integer values")
  return labels


def _member(pools, labels, first, c, num_clusters: int) -> Member:
  """The :class:`Member` of configuration ``c`` (traced) on stacked pools ``(A, rows, d)``.

  ``c["pool"]`` is the configuration's row of the stack (its ``data`` index, or with pools
  per seed ``data · S + position of its seed``), set by the engine on the host.
  """
  a = 0 if pools.shape[0] == 1 else c["pool"]
  w = sample_weights(labels[a], first[a], c["n"], c["duplicated"], num_clusters)
  return Member(c, pools[a], labels[a], w, jax.random.PRNGKey(c["seed"]))


@functools.partial(jax.jit, static_argnames=("trainer", "num_clusters", "callback"))
def _train_chunk(pools, labels, first, cfg, *, trainer, num_clusters, callback):
  """Runs ``trainer`` on a chunk of configurations ``cfg = {axis: (c,)}`` with one ``vmap``."""
  return jax.vmap(lambda c: trainer(_member(pools, labels, first, c, num_clusters), callback))(cfg)


def flatten(tree: dict, prefix: str = "") -> dict:
  """``{"a": {"b": x}}`` → ``{"a.b": x}`` (the storage form of nested outputs)."""
  if not isinstance(tree, dict):
    raise TypeError(f"tree must be a dict of outputs, got {type(tree).__name__}")
  if not isinstance(prefix, str):
    raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
  out = {}
  for k, v in tree.items():
    if not isinstance(k, str):
      raise TypeError(f"tree keys (output names) must be strings, got {k!r}")
    if "." in k:
      raise ValueError(f"output names may not contain '.', got {k!r}")
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[prefix + k] = v
  return out


def unflatten(flat: dict, name: str):
  """``flat[name]`` if present, else the nested dict of every ``name.*`` entry (inverse of :func:`flatten`).

  Examples:
    >>> unflatten({"p.W": 1, "p.t.b": 2, "q": 3}, "p")
    {'W': 1, 't': {'b': 2}}
  """
  if not hasattr(flat, "items"):
    raise TypeError(f"flat must be a dict of flattened outputs, got {type(flat).__name__}")
  if not isinstance(name, str):
    raise TypeError(f"name must be a string, got {type(name).__name__}")
  if not name or name.startswith(".") or name.endswith("."):
    raise ValueError(f"name must be an output name such as 'params' or 'params.W', got {name!r}")
  if name in flat:
    return flat[name]
  out = {}
  for k, v in flat.items():
    if k.startswith(name + "."):
      *path, leaf = k[len(name) + 1:].split(".")
      node = out
      for part in path:
        node = node.setdefault(part, {})
      node[leaf] = v
  if not out:
    raise KeyError(f"no output {name!r}; outputs are {sorted(flat)}")
  return out


def _pool_digest(pools: np.ndarray, labels: np.ndarray) -> str:
  """sha256 of the (prepared) pools and labels: what ties a sweep's results to its data."""
  return hashlib.sha256(pools.tobytes() + labels.tobytes()).hexdigest()


def _fingerprint(grid: Grid, config: SweepConfig, pools: np.ndarray, labels: np.ndarray) -> dict:
  return {"grid": dataclasses.asdict(grid), "config": _config_dict(config),
          "pool_shape": list(pools.shape), "pool_sha256": _pool_digest(pools, labels)}


def _config_dict(config: SweepConfig) -> dict:
  out = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "trainer"}
  out["train"] = dataclasses.asdict(config.train)
  trainer = config.resolved_trainer
  out["trainer"] = {"type": f"{type(trainer).__module__}.{type(trainer).__qualname__}", **dataclasses.asdict(trainer)}
  return out


def _check_workdir(workdir: str, spec: dict, settings: dict) -> None:
  """Refuses a workdir of another sweep; a new sweep's ``spec.json`` records ``settings`` (resolved chunking)."""
  path = os.path.join(workdir, "spec.json")
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    old.pop("resolved", None)
    if old != json.loads(json.dumps(results._jsonable(spec))):
      if _committed_chunks(workdir):
        raise ValueError(f"workdir {workdir!r} holds a different sweep (its spec.json differs); "
                         "use a fresh workdir to start a new sweep")
      # Nothing of the old sweep was committed, so nothing would be reused: start this one here.
      logging.info("workdir %s: spec.json of another sweep without committed chunks, replaced", workdir)
      results.save_json(path, dict(spec, resolved=settings))
  else:
    chunks = os.path.join(workdir, "chunks")
    if os.path.isdir(chunks) and any(f.endswith((".npz", ".json")) for f in os.listdir(chunks)):
      raise ValueError(f"workdir {workdir!r} holds chunk files but no spec.json, so nothing says which sweep "
                       "they belong to; use a fresh workdir (or remove its chunks/)")
    results.save_json(path, dict(spec, resolved=settings))


def _recorded_settings(workdir: str) -> dict:
  """The chunking settings (``memory_budget_mb``, ``chunk_multiple``) a workdir's first run resolved."""
  with open(os.path.join(workdir, "spec.json")) as f:
    recorded = json.load(f).get("resolved")
  if not isinstance(recorded, dict) or set(recorded) != {"memory_budget_mb", "chunk_multiple"}:
    raise ValueError(f"workdir {workdir!r}: spec.json records no chunking settings ('resolved'); it was written "
                     "by an older relu_dae, so use a fresh workdir")
  return budget.resolve(recorded["memory_budget_mb"], recorded["chunk_multiple"], jax.local_devices())


def _committed_chunks(workdir: str) -> list[str]:
  """Chunk files of ``workdir`` that were committed (a chunk's ``.json`` is written last)."""
  chunks = os.path.join(workdir, "chunks")
  return [f for f in os.listdir(chunks) if f.endswith(".json")] if os.path.isdir(chunks) else []


def _prepare_data(pool, labels) -> tuple[np.ndarray, np.ndarray, int]:
  _checks.array("pool", pool)  # real, finite, |x| <= MAX_ABS (TypeError for non-arrays and complex)
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
  labels = _host_labels("labels", labels, ndim=np.ndim(labels))
  if labels.shape == (N,):
    labels = np.broadcast_to(labels, (pools.shape[0], N))
  if labels.shape != pools.shape[:2] or np.any(labels != np.round(labels)) or np.any(labels < 0):
    raise ValueError(f"labels must be nonnegative integers of shape (N,) or (A, N) = {pools.shape[:2]}, "
                     f"got shape {labels.shape}")
  labels = labels.astype(np.int32)
  gaps = [a for a in range(labels.shape[0]) if np.unique(labels[a]).size != labels[a].max() + 1]
  if gaps:  # an empty id would count as a cluster: Grid.duplicated and per-cluster scores would miss it
    raise ValueError(f"labels must number each pool's clusters 0..K_a-1 with no gap, but pool(s) {gaps[:5]} "
                     "skip some ids: relabel with np.unique(labels, return_inverse=True)")
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


def _check_grid_config(grid, config) -> None:
  if not isinstance(grid, Grid):
    raise TypeError(f"grid must be a sweep.Grid, got {type(grid).__name__}")
  if not isinstance(config, SweepConfig):
    raise TypeError(f"config must be a sweep.SweepConfig, got {type(config).__name__}")


def plan(grid: Grid, config: SweepConfig, pool_size: int, d: int, *, devices: Sequence[Any] | None = None):
  """The chunks a sweep runs: a list of ``(rows, config_indices, size)``, deterministic.

  Configurations are grouped by bucket (:func:`bucket_size`), kept in grid order within a
  bucket and cut into the fewest equal chunks that fit the memory budget, each a multiple
  of ``chunk_multiple``; a short last chunk is run padded (by repeating its last
  configuration) to ``size`` so each bucket compiles once. ``memory_budget_mb`` /
  ``chunk_multiple`` left at ``None`` come from ``devices`` (:func:`resolved_config`);
  given, the plan does not depend on the devices. :func:`run` resolves them once per
  workdir, so a sweep resumed on another machine reuses every chunk; it pads a chunk
  further to a multiple of the device count if the two differ.
  """
  _check_grid_config(grid, config)
  config = resolved_config(config, devices)
  pool_size = _checks.positive_int("pool_size", pool_size)
  d = _checks.positive_int("d", d)
  if max(grid.n) > pool_size:
    raise ValueError(f"grid.n has {max(grid.n)} > pool_size={pool_size}")
  if grid.p is not None and max(grid.p) > config.p_max:
    raise ValueError(f"grid.p has {max(grid.p)} > p_max={config.p_max}")
  configs = grid.resolved(config.p_max).configurations()
  rows = np.array([bucket_size(int(n), pool_size, config.buckets) for n in configs["n"]])
  chunks = []
  for r in np.unique(rows):
    idx = np.flatnonzero(rows == r)
    largest = _chunk_size(config, int(r), d)
    m = config.chunk_multiple
    size = -(-len(idx) // -(-len(idx) // largest))  # as few chunks as the budget allows, evened out,
    size = -(-size // m) * m  # rounded up to the multiple (still <= largest, itself a multiple)
    chunks += [(int(r), idx[i:i + size], size) for i in range(0, len(idx), size)]
  return chunks


# ----------------------------------------------------------------------------- workdir integrity


def _digest(obj) -> str:
  return hashlib.sha256(json.dumps(results._jsonable(obj), sort_keys=True).encode()).hexdigest()


def _chunk_fingerprint(spec_digest: str, rows: int, idx: np.ndarray, size: int) -> str:
  """What produced a chunk: the sweep's spec (grid, config, trainer, pool hash) and its plan entry."""
  return _digest([spec_digest, int(rows), [int(i) for i in idx], int(size)])


def _quarantine(path: str, reason: str) -> None:
  """Moves a chunk that cannot be used aside (``*.bad``), so it is retrained and kept for inspection."""
  for ext in (".npz", ".json"):
    if os.path.exists(path + ext):
      os.replace(path + ext, path + ext + ".bad")
  logging.warning("chunk %s is unusable (%s): moved aside to *.bad, retraining it", path, reason)


def _chunk_done(path: str, fingerprint: str, idx: np.ndarray) -> bool:
  """True iff ``path`` holds a complete chunk of this sweep for ``idx``; a bad one is quarantined.

  Complete: the ``.json`` is written after the ``.npz`` (:func:`relu_dae.results.save`), both
  load (CRC-checked) and carry this fingerprint, and the indices are the planned ones.
  """
  if not os.path.exists(path + ".json"):
    return False  # never committed (a kill before the last rename): train it
  try:
    arrays, meta = results.load(path)
    stored = str(arrays["fingerprint"])
  except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as err:
    _quarantine(path, f"unreadable: {type(err).__name__}: {err}")
    return False
  if stored != fingerprint or meta.get("fingerprint") != fingerprint:
    _quarantine(path, "it belongs to another sweep or chunk (fingerprint differs)")
    return False
  if not np.array_equal(arrays["index"], idx) or any(k not in arrays for k in meta.get("outputs", ())):
    _quarantine(path, "its configuration indices or outputs are not the planned ones")
    return False
  return True


class _Lock:
  """An exclusive ``flock`` on ``workdir/.lock`` held for one run: a second concurrent run in the
  workdir is refused. The OS releases the lock when its process ends (even by SIGKILL), so a
  killed run never blocks a rerun; the file (it holds the owner's pid, for the message) stays.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, ".lock")
    self.file = None

  def __enter__(self):
    self.file = open(self.path, "a+")
    try:
      fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      self.file.seek(0)
      owner = self.file.read().strip() or "unknown"
      self.file.close()
      raise RuntimeError(f"workdir {os.path.dirname(self.path)!r} is in use by process {owner} "
                         f"(lock file {self.path}); wait for it, or use another workdir") from None
    self.file.seek(0)
    self.file.truncate()
    self.file.write(str(os.getpid()))
    self.file.flush()
    return self

  def __exit__(self, *exc):
    fcntl.flock(self.file, fcntl.LOCK_UN)
    self.file.close()


class _Progress:
  """The open tqdm bar the in-jit progress callback reports to (one module-level reporter,
  so a sweep compiles the same with any bar; no fresh closure as a static argument)."""
  bar = None
  chunk = 1


def _report_progress(step, loss) -> None:
  """``callback(step, loss)`` of every configuration after each of its scan chunks."""
  del loss
  if _Progress.bar is not None:
    step = int(step)
    _Progress.bar.update(step - _Progress.chunk * ((step - 1) // _Progress.chunk))


def _device_put(tree, mesh, spec):
  if mesh is None:
    return jax.tree.map(jnp.asarray, tree)
  return jax.device_put(tree, NamedSharding(mesh, spec))


def _cfg_arrays(configs: dict, idx: np.ndarray, pool_index: np.ndarray) -> dict:
  out = {a: configs[a][idx].astype(np.int32 if a in _INT_AXES else np.float32) for a in AXES}
  return dict(out, pool=pool_index[idx].astype(np.int32))


def _pool_index(grid: Grid, configs: dict, per_seed: bool) -> np.ndarray:
  """Each configuration's row of the flattened pool stack (see :func:`_member`)."""
  if not per_seed:
    return np.asarray(configs["data"])
  position = {s: i for i, s in enumerate(grid.seed)}
  return np.asarray(configs["data"]) * len(grid.seed) + np.array([position[int(s)] for s in configs["seed"]])


def _stack_per_seed(pool, labels, num_seeds: int):
  """``(A, S, N, d)`` pools (and ``(A, S, N)`` / ``(N,)`` labels) flattened to ``A·S`` pools."""
  pools = np.asarray(pool)
  if pools.ndim != 4 or pools.shape[1] != num_seeds:
    raise ValueError(f"with pool_per_seed=True, pool must have shape (A, S={num_seeds}, N, d), got {pools.shape}")
  if labels is not None:
    labels = np.asarray(labels)
    if labels.ndim == 3:
      labels = labels.reshape(-1, labels.shape[-1])
    elif labels.ndim != 1:
      raise ValueError(f"with pool_per_seed=True, labels must have shape (N,) or (A, S, N), got {labels.shape}")
  return pools.reshape((-1,) + pools.shape[2:]), labels


def _check_devices(devices) -> list:
  """A non-empty sequence of ``jax.Device`` (default: this process's local devices); returns it as a list."""
  return list(jax.local_devices()) if devices is None else budget.check_devices(devices)


def run(grid: Grid, config: SweepConfig, workdir: str, *, pool, labels=None, pool_per_seed: bool = False,
        progress: bool = True, devices: Sequence[Any] | None = None) -> str:
  """Runs ``config``'s trainer on every configuration of ``grid``; writes ``workdir/sweep.{npz,json}``.

  Args:
    grid: the sweep values (:class:`Grid`).
    config: static settings (:class:`SweepConfig`), including the per-configuration
      :class:`Trainer` (default: the DAE of Eq. (6), :class:`DAETrainer`).
    workdir: directory for chunk files and results; rerunning with the same
      arguments resumes (finished chunks are skipped), different arguments raise.
    pool: data ``(N, d)``, or ``(A, N, d)`` for a ``data`` axis. Rows are taken in order:
      configuration ``n`` trains on rows ``[0, n)``. For balanced clusters at every ``n``,
      interleave clusters (e.g. :func:`interleave`).
    labels: cluster ids ``(N,)`` or ``(A, N)``; needed for ``duplicated > 0``.
    pool_per_seed: every seed trains on its own pool: ``pool (A, S, N, d)`` with ``S =
      len(grid.seed)`` (in the grid's seed order), labels ``(N,)`` or ``(A, S, N)``.
    progress: show a tqdm bar over configuration-steps (updated once per scan chunk; a
      chunk of configurations that stops early jumps to its budget).
    devices: devices to shard the configuration axis over (default: this process's local
      devices).

  Returns:
    The results stem ``workdir/sweep``; read it with :func:`load`.

  Many processes (``jax.distributed.initialize`` called first, every process calling ``run``
  with the same arguments and a ``workdir`` they all see): the chunks still missing are dealt
  round-robin to the processes, each trains its share on its local devices and commits it to
  the shared workdir, and process 0 assembles ``sweep.{npz,json}`` once all have finished.
  The chunk plan does not depend on the number of processes or devices, so the arrays equal
  those of one process with the same devices per process, bit for bit, and a sweep killed
  under P processes resumes under any other number. Process 0 holds the workdir lock and
  checks ``spec.json``; a refusal there is raised by every process. A process that dies
  mid-sweep stops the others at the next barrier (JAX's coordination service ends them).

  The workdir lock is ``fcntl.flock`` on ``workdir/.lock``. It is reliable on local
  filesystems; on some network filesystems (NFS without ``lockd``, some FUSE mounts) ``flock``
  is local to one machine or a no-op, so two machines can run in one workdir at once — give
  each run its own workdir there.
  """
  _check_grid_config(grid, config)
  workdir = _checks.path("workdir", workdir)
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ValueError(f"workdir={workdir!r} is a file, not a directory")
  _checks.boolean("pool_per_seed", pool_per_seed)
  _checks.boolean("progress", progress)
  devices = _check_devices(devices)
  labels_given = labels is not None
  grid = grid.resolved(config.p_max)
  if pool_per_seed:
    pool, labels = _stack_per_seed(pool, labels, len(grid.seed))
  pools, labels, num_clusters = _prepare_data(pool, labels)
  _validate(grid, config, pools[:pools.shape[0] // len(grid.seed)] if pool_per_seed else pools, labels_given)
  trainer = config.resolved_trainer
  first = first_rows(labels)
  mesh = jax.sharding.Mesh(np.array(devices), ("config",)) if len(devices) > 1 else None
  spec = dict(_fingerprint(grid, config, pools, labels), pool_per_seed=bool(pool_per_seed))
  os.makedirs(workdir, exist_ok=True)
  lead = jax.process_index() == 0
  with _Lock(workdir) if lead else contextlib.nullcontext():
    settings = budget.resolve(config.memory_budget_mb, config.chunk_multiple, devices)
    _agree("spec", lambda: _check_workdir(workdir, spec, settings) if lead else None)
    config = dataclasses.replace(config, **_recorded_settings(workdir))  # the first run's, on any machine
    configs = grid.configurations()
    pool_index = _pool_index(grid, configs, pool_per_seed)
    chunks = plan(grid, config, pools.shape[1], pools.shape[2])
    spec_digest = _digest(spec)
    prints = [_chunk_fingerprint(spec_digest, r, i, z) for r, i, z in chunks]
    paths = [os.path.join(workdir, "chunks", f"rows{r:06d}_{i[0]:07d}") for r, i, _ in chunks]
    done = [_chunk_done(p, f, i) for p, f, (_, i, _) in zip(paths, prints, chunks)]
    _agree("plan", lambda: None)  # every process has read the chunk files before any writes one
    skip = _share(done)
    start = time.perf_counter()
    _agree("train", lambda: _train_missing(chunks, paths, prints, skip, (configs, pool_index),
                                           (pools, labels, first), num_clusters, trainer, mesh, len(devices),
                                           progress))
    stem = os.path.join(workdir, "sweep")
    _agree("assemble", lambda: _assemble(grid, config, workdir, paths, chunks, devices, time.perf_counter() - start,
                                         pool_per_seed=pool_per_seed, pool_sha256=spec["pool_sha256"])
           if lead else None)
    return stem


def _share(done: list[bool]) -> list[bool]:
  """Which chunks this process skips: the done ones, and the missing ones dealt to other processes."""
  missing = [k for k, finished in enumerate(done) if not finished]
  mine = set(missing[jax.process_index()::jax.process_count()])
  return [k not in mine for k in range(len(done))]


def _agree(stage: str, work: Callable[[], Any]) -> Any:
  """Runs ``work`` on this process, then waits until every process has run its ``work`` for ``stage``.

  With one process this is just ``work()``. With many, an exception in any process is raised in
  all of them (the failing one raises its own; the others name the stage and process), instead
  of leaving them waiting.
  """
  if jax.process_count() == 1:
    return work()
  from jax.experimental import multihost_utils
  try:
    out, failed = work(), 0
  except Exception as err:  # re-raised below, after the other processes have heard of it
    out, failed, error = None, 1, err
  flags = np.asarray(multihost_utils.process_allgather(np.int32(failed)))
  if failed:
    raise error
  if flags.any():
    raise RuntimeError(f"sweep.run: process(es) {np.flatnonzero(flags).tolist()} failed at the {stage!r} stage "
                       "(their error says why); this process stopped there too")
  return out


def _train_missing(chunks, paths, prints, done, configs, data_host, num_clusters, trainer, mesh, num_devices,
                   progress) -> None:
  """Trains and commits every chunk not yet done."""
  pools, labels, first = data_host
  configs, pool_index = configs
  steps = trainer.train.steps
  # Padded slots (a short last chunk, device rounding) train too, so they count as configuration-steps.
  padded_size = lambda size: -(-size // num_devices) * num_devices
  with tqdm(total=sum(padded_size(s) for _, _, s in chunks) * steps, unit="cfg-step", unit_scale=True,
            disable=not progress, desc="sweep",
            initial=sum(padded_size(s) for (_, _, s), ok in zip(chunks, done) if ok) * steps) as bar:
    _Progress.bar, _Progress.chunk = (bar if progress else None), min(trainer.train.chunk_size, steps)
    try:
      for (rows, idx, size), path, fingerprint, finished in zip(chunks, paths, prints, done):
        if finished:
          continue
        before, size = bar.n, padded_size(size)
        padded = np.concatenate([idx, np.full(size - len(idx), idx[-1])])
        data = _device_put((pools[:, :rows], labels[:, :rows], first[:, :rows]), mesh, PartitionSpec())
        out = _train_chunk(*data, _device_put(_cfg_arrays(configs, padded, pool_index), mesh, PartitionSpec("config")),
                           trainer=trainer, num_clusters=num_clusters,
                           callback=_report_progress if progress else None)
        out = {k: np.asarray(v) for k, v in flatten(out).items()}
        missing = [k for k in REQUIRED if k not in out]
        if missing:
          raise ValueError(f"trainer {type(trainer).__name__} did not return {missing}")
        # Under vmap the chunk ran until its slowest configuration stopped: that is its cost.
        cost = int(out["steps_run"].max()) * int(size)
        results.save(path, {"index": idx, "fingerprint": np.array(fingerprint),
                            **{k: v[:len(idx)] for k, v in out.items()}},
                     {"rows": rows, "chunk": int(size), "config_steps": cost, "outputs": sorted(out),
                      "fingerprint": fingerprint, "process": jax.process_index()})
        bar.n = before + size * steps
        bar.refresh()
    finally:
      _Progress.bar = None


def _assemble(grid, config, workdir, paths, chunks, devices, wall_s, *, pool_per_seed: bool, pool_sha256: str) -> str:
  loaded = [results.load(p) for p in paths]
  parts = [a for a, _ in loaded]
  order = np.argsort(np.concatenate([p["index"] for p in parts]))
  cat = {k: np.concatenate([p[k] for p in parts])[order] for k in parts[0] if k not in ("index", "fingerprint")}
  ok = ((cat["nonfinite_step"] < 0) & ~np.isin(cat["status"], convergence.UNSTABLE)
        & cat.get("valid", np.ones(len(order), bool)).astype(bool))
  keep = set(DIAGNOSTICS) | set(getattr(config.resolved_trainer, "diagnostics", ()))
  for k, v in cat.items():
    if k not in keep and jnp.issubdtype(v.dtype, jnp.inexact):
      v[~ok] = np.nan  # a failed run is NaN downstream, never a result
  converged = cat["status"] == convergence.CONVERGED
  arrays = {**{f"config_{a}": v for a, v in grid.configurations().items()},
            **{f"out.{k}": v for k, v in cat.items()}, "ok": ok, "converged": converged}
  buckets = {}
  for rows, idx, size in chunks:
    entry = buckets.setdefault(str(rows), {"configs": 0, "chunks": 0, "chunk_size": size})
    entry["configs"] += len(idx)
    entry["chunks"] += 1
  meta = {"grid": dataclasses.asdict(grid), "grid_shape": list(grid.shape), "config": _config_dict(config),
          "devices": [str(d) for d in devices], "processes": jax.process_count(), "wall_s": wall_s,
          "buckets": buckets, "outputs": sorted(cat),
          "pool_per_seed": bool(pool_per_seed), "pool_sha256": pool_sha256,
          "num_nonfinite": int((cat["nonfinite_step"] >= 0).sum()), "num_failed": int((~ok).sum()),
          "status_counts": {name: int((cat["status"] == code).sum())
                            for code, name in enumerate(convergence.STATUS_NAMES)},
          "converged_fraction": float(converged.mean()),
          "config_steps": {"run": int(cat["steps_run"].sum()),
                           "executed": int(sum(m["config_steps"] for _, m in loaded)),
                           "budget": int(sum(m["chunk"] for _, m in loaded) * config.resolved_trainer.train.steps)}}
  return results.save(os.path.join(workdir, "sweep"), arrays, meta)


def load(stem: str) -> SweepResult:
  """Reads a sweep written by :func:`run` (no pickle); ``stem`` is what :func:`run` returned (no extension)."""
  if not isinstance(stem, (str, os.PathLike)):
    raise TypeError(f"stem must be a path (str or os.PathLike), got {type(stem).__name__}")
  stem = os.fspath(stem)
  if stem.endswith((".npz", ".json")):
    raise ValueError(f"stem must be the results stem without extension (as run returns it), got {stem!r}")
  arrays, meta = results.load(stem)
  missing = [k for k in [f"config_{a}" for a in AXES] + ["ok", "converged"] if k not in arrays]
  missing += [k for k in ("grid_shape",) if k not in meta] + [k for k in REQUIRED if f"out.{k}" not in arrays]
  if missing:
    raise ValueError(f"stem {stem!r} is not a sweep written by sweep.run (it lacks {missing})")
  configs = {a: arrays[f"config_{a}"] for a in AXES}
  outputs = {k[len("out."):]: v for k, v in arrays.items() if k.startswith("out.")}
  return SweepResult(configs, tuple(meta["grid_shape"]), outputs, arrays["ok"], meta, outputs["steps_run"],
                     outputs["status"], arrays["converged"], outputs["nonfinite_step"])


def _axis_value(axis: str, v):
  """``v`` as the grid stores it on ``axis`` (a non-integer stays a float, on no integer axis)."""
  v = float(v)
  return int(v) if axis in _INT_AXES and v == np.round(v) else v


def positions(grid: Grid, configs: dict) -> np.ndarray:
  """Rows of ``grid.configurations()`` holding the configurations ``{axis: (m,)}``, ``(m,)``.

  Examples:
    >>> grid = Grid(n=(2, 4), sigma=(0.1, 0.2), p=(8,))
    >>> positions(grid, {"n": [4, 2], "sigma": [0.1, 0.2], "lam": [0.0] * 2, "p": [8, 8], "seed": [0, 0],
    ...                  "duplicated": [0.0] * 2, "data": [0, 0]}).tolist()
    [2, 1]
  """
  if not isinstance(grid, Grid):
    raise TypeError(f"grid must be a sweep.Grid, got {type(grid).__name__}")
  if grid.p is None:
    raise ValueError("grid: resolve p first: grid.resolved(p_max)")
  if not hasattr(configs, "keys"):
    raise TypeError(f"configs must be a dict {{axis: values}}, got {type(configs).__name__}")
  missing = [a for a in AXES if a not in configs]
  if missing:
    raise ValueError(f"configs must have every axis {AXES}, missing {missing}")
  lengths = {a: np.shape(np.atleast_1d(configs[a])) for a in AXES}
  if len(set(lengths.values())) != 1 or len(next(iter(lengths.values()))) != 1:
    raise ValueError(f"configs must hold 1-D arrays of one length, got shapes {lengths}")
  index = []
  for a in AXES:
    lookup = {v: i for i, v in enumerate(getattr(grid, a))}
    try:
      index.append([lookup[_axis_value(a, v)] for v in np.atleast_1d(configs[a])])
    except (TypeError, ValueError):
      raise TypeError(f"configs[{a!r}] must hold numbers, got {configs[a]!r}") from None
    except KeyError as err:
      raise ValueError(f"a configuration's {a}={err.args[0]} is not on the grid's {a} axis") from None
  return np.ravel_multi_index(tuple(np.asarray(i, int) for i in index), grid.shape)


def merge(parts: Sequence[SweepResult]) -> SweepResult:
  """Sweeps of one grid that differ only in their ``n`` values, as one sweep over the union.

  What adaptive refinement produces: a coarse sweep, then sweeps at the new ``n`` around
  each crossing (every other axis the same, no ``n`` twice). The result is C-ordered over
  the union grid (``n`` sorted); ``meta`` keeps each part's and sums the accounting.
  """
  if isinstance(parts, SweepResult) or isinstance(parts, (str, bytes, dict)) or not hasattr(parts, "__iter__"):
    raise TypeError(f"parts must be a list of SweepResult, got {type(parts).__name__}")
  parts = list(parts)
  if not parts:
    raise ValueError("parts must hold at least one sweep to merge")
  bad = [type(r).__name__ for r in parts if not isinstance(r, SweepResult)]
  if bad:
    raise TypeError(f"parts must be SweepResults (sweep.load), got {bad[0]}")
  grids = [Grid(**r.meta["grid"]) for r in parts]
  others = [{a: getattr(g, a) for a in AXES if a != "n"} for g in grids]
  if any(o != others[0] for o in others[1:]):
    raise ValueError("parts (sweeps to merge) must share every axis but n")
  ns = [v for g in grids for v in g.n]
  if len(set(ns)) != len(ns):
    raise ValueError(f"parts (sweeps to merge) must not share n values, got {sorted(ns)}")
  union = dataclasses.replace(grids[0], n=tuple(sorted(ns)))
  C = int(np.prod(union.shape))
  rows = [positions(union, r.configs) for r in parts]

  covered = np.bincount(np.concatenate(rows), minlength=C)
  if np.any(covered != 1):
    raise ValueError("parts (sweeps to merge) must cover the union grid exactly once")
  for key in ("config", "pool_sha256", "pool_per_seed"):
    if any(r.meta.get(key) != parts[0].meta.get(key) for r in parts[1:]):
      raise ValueError(f"parts (sweeps to merge) must share their {key}")

  def cat(arrays):
    first = np.asarray(arrays[0])
    out = np.empty((C,) + first.shape[1:], first.dtype)
    for r, a in zip(rows, arrays):
      out[r] = a
    return out

  outputs = {k: cat([r.outputs[k] for r in parts]) for k in parts[0].outputs}
  ok, converged = cat([r.ok for r in parts]), cat([r.converged for r in parts])
  steps = {k: int(sum(r.meta["config_steps"][k] for r in parts)) for k in ("run", "executed", "budget")}
  meta = dict(parts[0].meta, grid=dataclasses.asdict(union), grid_shape=list(union.shape),
              wall_s=float(sum(r.meta["wall_s"] for r in parts)), config_steps=steps,
              num_nonfinite=int((outputs["nonfinite_step"] >= 0).sum()), num_failed=int((~ok).sum()),
              status_counts={name: int((outputs["status"] == code).sum())
                             for code, name in enumerate(convergence.STATUS_NAMES)},
              converged_fraction=float(converged.mean()), parts=[r.meta for r in parts])
  return SweepResult(union.configurations(), union.shape, outputs, ok, meta, outputs["steps_run"],
                     outputs["status"], converged, outputs["nonfinite_step"])


# ----------------------------------------------------------------------------- measuring


@functools.partial(jax.jit, static_argnames=("fn", "num_clusters"))
def _measure_batch(pools, labels, first, cfg, values, shared, *, fn, num_clusters):
  return jax.vmap(lambda c, v: fn(_member(pools, labels, first, c, num_clusters), v, shared))(cfg, values)


def _check_measure_args(res, fn, select, extras, shared) -> None:
  if not isinstance(res, SweepResult):
    raise TypeError(f"res must be a SweepResult (sweep.load), got {type(res).__name__}")
  if not callable(fn):
    raise TypeError(f"fn must be a function fn(member, values, shared) -> dict, got {type(fn).__name__}")
  if extras is not None and not hasattr(extras, "keys"):
    raise TypeError(f"extras must be a dict {{name: (C, ...)}}, got {type(extras).__name__}")
  for leaf in jax.tree.leaves(shared):
    if isinstance(leaf, (str, bytes)) or not (hasattr(leaf, "dtype") or isinstance(leaf, (int, float))):
      raise TypeError(f"shared must be a pytree of arrays (passed to fn traced), got a leaf {leaf!r}")
    _checks.real_floating("shared", leaf)
  if select is not None:
    if isinstance(select, (str, bytes, dict)) or np.asarray(select).dtype.kind not in "biu":
      raise TypeError(f"select must be booleans of shape (C,), got {type(select).__name__}")
    if np.shape(select) != np.shape(res.ok):
      raise ValueError(f"select must have shape (C,)={np.shape(res.ok)}, got {np.shape(select)}")


def measure(res: SweepResult, fn: Callable, *, pool, labels=None, select=None, extras: dict | None = None,
            shared=None, batch_size: int = 512) -> dict[str, np.ndarray]:
  """Applies ``fn(member, values, shared) -> {name: array}`` to the finished configurations of a sweep.

  The measuring half of the engine (:func:`run` is the training half):

  * ``member``: the configuration's :class:`Member` on its *whole* pool (``member.weights``
    marks its training set, so held-in and held-out rows are both at hand);
  * ``values``: its row of the trainer's outputs, nested as the trainer returned them
    (``values["params"]``), plus its row of each ``extras`` entry;
  * ``shared``: one pytree given to every configuration as it is (held-out data, a
    ground-truth denoiser as a ``jax.tree_util.Partial``), traced, not static.

  One ``jit(vmap(fn))`` in batches of ``batch_size`` configurations (the last padded).
  ``fn`` is a static argument: pass a module-level function or a frozen dataclass (not a
  fresh closure), and equal calls share one compile.

  Args:
    res: a loaded sweep (:func:`load`).
    fn: the per-configuration measurement (traced).
    pool, labels: the data the sweep ran on (as given to :func:`run`).
    select: optional ``(C,)`` booleans: configurations to measure (default all).
    extras: optional ``{name: (C, ...)}`` per-configuration inputs (pytrees allowed).
    shared: optional pytree of arrays common to all configurations.
    batch_size: configurations per ``vmap``.

  Returns:
    ``{name: (C, ...)}`` floats (integer measures become floats), NaN for configurations
    that are not ok (:attr:`SweepResult.ok`) or not selected.

  Examples:
    >>> import jax, jax.numpy as jnp, tempfile, relu_dae as rd
    >>> X = rd.data.locally_sparse(jax.random.PRNGKey(0), n=8, d=16)
    >>> config = rd.sweep.SweepConfig(rd.train.TrainConfig(steps=20, learning_rate=1e-2), p_max=8)
    >>> res = rd.sweep.load(rd.sweep.run(rd.sweep.Grid(n=(2, 8)), config, tempfile.mkdtemp(), pool=X, progress=False))
    >>> def size(member, values, shared):
    ...   return {"n_train": jnp.sum(member.weights > 0)}
    >>> rd.sweep.measure(res, size, pool=X)["n_train"].tolist()
    [2.0, 8.0]
  """
  _check_measure_args(res, fn, select, extras, shared)
  batch_size = _checks.positive_int("batch_size", batch_size)
  grid = Grid(**res.meta["grid"])
  per_seed = bool(res.meta.get("pool_per_seed", False))
  if per_seed:
    pool, labels = _stack_per_seed(pool, labels, len(grid.seed))
  pools, labels, num_clusters = _prepare_data(pool, labels)
  C = len(res.ok)
  pool_index = _pool_index(grid, res.configs, per_seed)
  if pools.shape[1] < int(np.max(res.configs["n"])) or int(np.max(pool_index)) >= pools.shape[0]:
    raise ValueError(f"pool of shape {pools.shape} is not the pool this sweep ran on")
  digest = _pool_digest(pools, labels)
  if res.meta.get("pool_sha256", digest) != digest:
    raise ValueError("pool (or labels) differ from those this sweep ran on (their sha256 differs)")
  extras = {} if extras is None else dict(extras)
  clash = set(extras) & {k.split(".")[0] for k in res.outputs}
  if clash:
    raise ValueError(f"extras {sorted(clash)} have the names of trainer outputs")
  for name, leaf in jax.tree_util.tree_leaves_with_path(extras):
    if np.shape(leaf)[:1] != (C,):
      raise ValueError(f"extras{jax.tree_util.keystr(name)} must have leading axis C={C}, got {np.shape(leaf)}")
  chosen = np.asarray(res.ok, bool) & (np.ones(C, bool) if select is None else np.asarray(select, bool))
  idx = np.flatnonzero(chosen)
  out = {}
  # Batches of a power of two (at most batch_size): few shapes, so few compiles.
  size = min(batch_size, 1 << max(0, math.ceil(math.log2(max(idx.size, 1)))))
  values = {k: unflatten(res.outputs, k) for k in {k.split(".")[0] for k in res.outputs}}
  values = jax.tree.map(np.nan_to_num, values) | extras
  data = jax.tree.map(jnp.asarray, (pools, labels, first_rows(labels)))
  shared = jax.tree.map(jnp.asarray, shared)
  if idx.size == 0:  # nothing to measure: NaN of the right shapes (traced once, not run)
    rows = jax.tree.map(lambda a: jnp.asarray(np.asarray(a)[:1]), values)
    shapes = jax.eval_shape(lambda *a: _measure_batch(*a, fn=fn, num_clusters=num_clusters), *data,
                            _cfg_arrays(res.configs, np.zeros(1, int), pool_index), rows, shared)
    return {k: np.full((C,) + v.shape[1:], np.nan) for k, v in shapes.items()}
  for i in range(0, idx.size, size):
    batch = idx[i:i + size]
    padded = np.concatenate([batch, np.full(size - len(batch), batch[-1])])
    rows = jax.tree.map(lambda a, padded=padded: jnp.asarray(np.asarray(a)[padded]), values)
    vals = _measure_batch(*data, _cfg_arrays(res.configs, padded, pool_index), rows, shared, fn=fn,
                          num_clusters=num_clusters)
    if not hasattr(vals, "items"):
      raise TypeError(f"fn must return a dict {{name: array}}, got {type(vals).__name__}")
    for k, v in vals.items():
      v = np.asarray(v)[:len(batch)]
      out.setdefault(k, np.full((C,) + v.shape[1:], np.nan))[batch] = v
  return out


def interleave(X, labels) -> tuple[np.ndarray, np.ndarray]:
  """Reorders rows round-robin over clusters, so every prefix is as balanced as possible.

  Returns ``(X, labels)`` reordered (cluster order: sorted ids; within a cluster, original order).

  Examples:
    >>> import numpy as np
    >>> interleave(np.arange(5)[:, None], np.array([0, 0, 0, 1, 1]))[1].tolist()
    [0, 1, 0, 1, 0]
  """
  X = np.asarray(_checks.array("X", X))  # integer data as float32
  labels = _host_labels("labels", labels, ndim=1)
  if np.ndim(X) == 0 or X.shape[0] != labels.shape[0]:
    raise ValueError(f"labels must have one entry per row of X: X has shape {X.shape}, labels {labels.shape}")
  rank = np.zeros(len(labels), int)
  for k in np.unique(labels):
    rank[labels == k] = np.arange(np.sum(labels == k))
  order = np.lexsort((labels, rank))
  return X[order], labels[order]
