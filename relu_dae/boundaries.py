"""Phase boundaries as measurements: regime fractions, n* with bootstrap intervals, fits.

Host functions (numpy) on finished sweeps, shaped ``(..., seeds, L)`` with the sample
counts ``n`` (length L) last and the seeds just before them:

* :func:`regime_fractions` / :func:`majority` — the fraction of seeds in each regime of a
  cell, and the regime held by a strict majority (:data:`MIXED` when none is; no
  tie-breaking towards either side).
* :func:`critical_n_interval` — n* where the seed-mean score crosses a level
  (:func:`relu_dae.stats.critical_n`), with a percentile bootstrap interval over seeds.
* :func:`capacity_bound` — where a storage crossing is forced by capacity: a width-p model
  stores at most p samples, so ``stored ≤ p/n`` falls below ``level`` by ``n = p/level``
  whatever the data; such an n* says nothing about generalization and is left out of fits.
* :func:`power_law_interval` — ``n* = c·x^a`` fitted on each bootstrap replicate, so the
  exponent's interval carries the uncertainty of every n*.
* :func:`refine_n` — the integer n to add inside each crossing's bracket (adaptive grids).

Examples:
  >>> import numpy as np
  >>> n = np.array([2, 4, 8, 16])
  >>> stored = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.6, 0.0, 0.0], [1.0, 1.0, 0.2, 0.0]])  # 3 seeds
  >>> est = critical_n_interval(n, stored, num_boot=200, seed=0)
  >>> bool(4 <= est.low <= est.estimate <= est.high <= 8)
  True
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple
import warnings

import numpy as np

from relu_dae import _checks
from relu_dae import metrics
from relu_dae import stats

__all__ = [
    "MIXED",
    "NUM_REGIMES",
    "CriticalN",
    "PowerLaw",
    "capacity_bound",
    "critical_n_interval",
    "majority",
    "power_law_interval",
    "refine_n",
    "regime_fractions",
]

MIXED = 3  # no regime holds a strict majority of the seeds
NUM_REGIMES = 3


def regime_fractions(codes, axis: int = -1) -> np.ndarray:
  """Fraction of runs in each regime along ``axis`` (the seeds): ``(..., 3)``.

  Codes are :data:`relu_dae.metrics.MEMORIZATION`, ``HYBRID``, ``GENERALIZATION``; failed
  runs (NaN) and ``NO_CLUSTER`` (−1) are left out of the denominator; a cell with no valid
  run is NaN. Any other value raises ``ValueError``; ``axis`` is an integer axis of ``codes``.

  Examples:
    >>> regime_fractions(np.array([[0, 0, 2, np.nan], [1, 2, 2, 1]])).tolist()
    [[0.6666666666666666, 0.0, 0.3333333333333333], [0.0, 0.5, 0.5]]
  """
  c = np.asarray(_checks.real_array("codes", codes), float)
  if c.ndim < 1:
    raise ValueError(f"codes must have at least one axis (the seeds), got shape {c.shape}")
  if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
    raise TypeError(f"axis must be an integer, got {axis!r}")
  if not -c.ndim <= axis < c.ndim:
    raise ValueError(f"axis must lie in [-{c.ndim}, {c.ndim}) for codes of shape {c.shape}, got {axis}")
  valid = np.isnan(c) | np.isin(c, [metrics.NO_CLUSTER, *range(NUM_REGIMES)])
  if not np.all(valid):
    raise ValueError(f"codes must be regime codes -1, 0, 1, 2 or NaN, got {np.unique(c[~valid])}")
  c = np.moveaxis(c, axis, -1)
  counts = np.stack([(c == r).sum(-1) for r in range(NUM_REGIMES)], -1).astype(float)
  total = counts.sum(-1, keepdims=True)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(total > 0, counts / total, np.nan)


def majority(fractions) -> np.ndarray:
  """The regime held by more than half the runs, else :data:`MIXED`; NaN where no run is valid.

  ``fractions (..., 3)`` as :func:`regime_fractions` returns them: each row in [0, 1] summing
  to 1, or all NaN.

  Examples:
    >>> majority(np.array([[0.6, 0.0, 0.4], [0.5, 0.0, 0.5], [np.nan] * 3])).tolist()
    [0.0, 3.0, nan]
  """
  f = _fractions(fractions)
  winner = np.argmax(np.nan_to_num(f, nan=-1.0), -1).astype(float)
  strict = np.nanmax(np.where(np.isnan(f), -1.0, f), -1) > 0.5
  return np.where(np.all(np.isnan(f), -1), np.nan, np.where(strict, winner, MIXED))


def _fractions(fractions) -> np.ndarray:
  f = np.asarray(_checks.real_array("fractions", fractions), float)
  if f.shape[-1:] != (NUM_REGIMES,):
    raise ValueError(f"fractions must have shape (..., {NUM_REGIMES}), got {f.shape}")
  nan = np.isnan(f)
  if np.any(nan.any(-1) & ~nan.all(-1)):
    raise ValueError("fractions must be all NaN or all numbers in each row")
  with np.errstate(invalid="ignore"):
    rows = f[~nan.all(-1)]
    if np.any((rows < 0) | (rows > 1)) or not np.allclose(rows.sum(-1), 1.0, atol=1e-6):
      raise ValueError("fractions must lie in [0, 1] and sum to 1 in each row")
  return f


class CriticalN(NamedTuple):
  """n* of one score, ``(...)`` arrays.

  Attributes:
    estimate: crossing of the seed-mean curve (NaN if it never crosses).
    low, high: percentile bootstrap interval (``confidence``) over seeds; NaN when fewer
      than half the replicates cross (the crossing is not resolved by the data).
    samples: ``(..., num_boot)`` bootstrap replicates (NaN where a replicate did not cross).
  """
  estimate: np.ndarray
  low: np.ndarray
  high: np.ndarray
  samples: np.ndarray


def critical_n_interval(n_values, scores, level: float = 0.5, *, absolute: bool = True, num_boot: int = 1000,
                        confidence: float = 0.95, seed: int = 0) -> CriticalN:
  """n* of the seed mean of ``scores (..., S, L)`` with a bootstrap interval over the S seeds.

  Each replicate resamples the seeds with replacement (the same draw for every row, so
  replicates of different rows are comparable), averages them (NaN runs left out) and
  takes :func:`relu_dae.stats.critical_n` at ``level`` (:func:`relu_dae.stats.critical_n_relative`
  with ``absolute=False``). Failed runs are NaN: left out of
  the means; a grid point where every (drawn) seed failed is NaN in the mean, and a crossing
  next to it is not resolved (NaN), never interpolated across it.

  Args:
    n_values: ``(L,)`` positive, strictly increasing sample counts.
    scores: ``(..., S, L)`` one curve per seed (``S ≥ 1``), finite or NaN.
    level: the finite level (with ``absolute=False``, the fraction in [0, 1] of each curve's range).
    absolute: the absolute level (default) or the relative one.
    num_boot: bootstrap replicates (a positive integer); confidence: interval coverage in
      (0, 1); seed: resampling seed, an integer ``≥ 0``.
  """
  s = np.asarray(_checks.real_array("scores", scores), float)
  if s.ndim < 2 or s.shape[-2] == 0:
    raise ValueError(f"scores must have shape (..., seeds, L) with at least one seed, got {s.shape}")
  if np.any(np.isinf(s)):
    raise ValueError("scores must be finite, or NaN for a failed run; got inf")
  _checks.in_range("confidence", confidence, 0.0, 1.0, closed=(False, False))
  num_boot = _checks.positive_int("num_boot", num_boot)
  _seed(seed)
  S = s.shape[-2]
  if _checks.boolean("absolute", absolute):
    crossing = lambda v: stats.critical_n(n_values, v, level)
  else:
    _checks.in_range("level", level, 0.0, 1.0)
    crossing = lambda v: stats.critical_n_relative(n_values, v, level)
  crossing(s.reshape(-1, *s.shape[-2:])[:1, 0])  # checks the rest
  with np.errstate(invalid="ignore"), _quiet():
    estimate = crossing(np.nanmean(s, -2))
    draws = np.random.default_rng(seed).integers(0, S, (num_boot, S))
    boot = np.nanmean(s[..., draws, :], -2)  # (..., B, L)
    samples = crossing(boot)
  low, high = _percentile_interval(samples, confidence)
  return CriticalN(estimate, low, high, samples)


def _seed(seed) -> None:
  if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
    raise TypeError(f"seed must be an integer >= 0, got {seed!r}")
  if seed < 0:
    raise ValueError(f"seed must be an integer >= 0, got {seed}")


def _percentile_interval(samples, confidence):
  """Percentile interval of the finite replicates; NaN where fewer than half are finite."""
  resolved = np.mean(np.isfinite(samples), -1) >= 0.5
  q = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
  with _quiet():
    low, high = np.nanpercentile(samples, q, axis=-1)
  return np.where(resolved, low, np.nan), np.where(resolved, high, np.nan)


def capacity_bound(n_star, p, level: float = 0.5) -> np.ndarray:
  """True where a storage crossing at ``n_star`` is forced by capacity: ``n* ≥ p / level``.

  A width-p model stores at most p of n samples, so its stored fraction is ≤ p/n and
  drops below ``level`` by n = p/level even if every column stores a sample. ``n_star``
  (NaN → False) and ``p > 0`` broadcast together; ``level`` in (0, 1].

  Examples:
    >>> capacity_bound(np.array([7.0, 40.0]), 16).tolist()
    [False, True]
  """
  n_star = np.asarray(_checks.real_array("n_star", n_star), float)
  if np.any(n_star[np.isfinite(n_star)] < 0):
    raise ValueError(f"n_star must be >= 0 (a sample count; NaN where unresolved), got {n_star}")
  p = np.asarray(_checks.array("p", p), float)
  if np.any(p <= 0):
    raise ValueError(f"p must be > 0 (hidden units), got {p}")
  _checks.in_range("level", level, 0.0, 1.0, closed=(False, True))
  try:
    np.broadcast_shapes(n_star.shape, p.shape)
  except ValueError as e:
    raise ValueError(f"p of shape {p.shape} does not broadcast with n_star of shape {n_star.shape}") from e
  with np.errstate(invalid="ignore"):
    return n_star >= p / level


class PowerLaw(NamedTuple):
  """``n* = c·x^a``: the exponent on the estimates and its bootstrap interval."""
  exponent: float
  prefactor: float
  low: float
  high: float
  points: int  # usable points behind the fit


def power_law_interval(x, estimate, samples, *, keep=None, confidence: float = 0.95) -> PowerLaw:
  """Fits ``log n* = log c + a log x`` on the estimates and on every bootstrap replicate.

  Args:
    x: ``(m,)`` the axis (p, K, α, ...).
    estimate: ``(m,)`` n* estimates; samples: ``(m, B)`` their bootstrap replicates.
    keep: optional ``(m,)`` mask of points to use (e.g. ``~capacity_bound(...)``).
    confidence: interval coverage in (0, 1).

  ``x`` must be finite and positive (its logarithm is taken); NaN or non-positive estimates
  and replicates are dropped (unresolved crossings). An empty ``x`` gives the all-NaN fit.

  The interval is the percentile interval of the replicate exponents (replicates with
  fewer than 3 usable points are dropped); everything is NaN with fewer than 3 usable
  estimates. ``points`` counts them.
  """
  x, est, samples, keep = _fit_args(x, estimate, samples, keep, confidence)
  use = keep & np.isfinite(est) & (est > 0) & (x > 0)
  a, c, _ = stats.power_law_fit(x[use], est[use])
  slopes = []
  for b in range(samples.shape[-1]):
    ok = use & np.isfinite(samples[:, b]) & (samples[:, b] > 0)
    if ok.sum() >= 3 and np.ptp(np.log(x[ok])) > 0:
      slopes.append(np.polyfit(np.log(x[ok]), np.log(samples[ok, b]), 1)[0])
  if not np.isfinite(a) or len(slopes) < 0.5 * samples.shape[-1]:
    return PowerLaw(float(a), float(c), np.nan, np.nan, int(use.sum()))
  q = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
  low, high = np.percentile(slopes, q)
  return PowerLaw(float(a), float(c), float(low), float(high), int(use.sum()))


def _fit_args(x, estimate, samples, keep, confidence):
  """Checks :func:`power_law_interval`'s arguments; returns ``x, estimate, samples, keep`` as numpy."""
  x = np.asarray(_checks.array("x", x, ndim=1), float)
  if np.any(x <= 0):
    raise ValueError(f"x must be positive (logs are taken), got {x}")
  m = x.shape
  est = np.asarray(_checks.real_array("estimate", estimate), float)
  samples = np.asarray(_checks.real_array("samples", samples), float)
  if est.shape != m:
    raise ValueError(f"estimate must have the shape of x {m}, got {est.shape}")
  if samples.ndim != 2 or samples.shape[0] != m[0] or samples.shape[1] == 0:
    raise ValueError(f"samples must have shape (m, B)=({m[0]}, B) with B >= 1, got {samples.shape}")
  if keep is None:
    keep = np.ones(m, bool)
  else:
    keep = np.asarray(_checks.array("keep", keep), float)
    if keep.shape != m or not np.all((keep == 0) | (keep == 1)):
      raise ValueError(f"keep must be a boolean mask of shape {m}, got shape {keep.shape}")
    keep = keep.astype(bool)
  _checks.in_range("confidence", confidence, 0.0, 1.0, closed=(False, False))
  return x, est, samples, keep


def refine_n(n_values, estimate, low, high, *, rel: float = 0.1, per_bracket: int = 2) -> list[int]:
  """Integer sample counts to add so each crossing's bracket shrinks (one adaptive round).

  For every finite crossing, the grid points bracketing it (the largest ``n ≤ low`` and
  the smallest ``n ≥ high`` of ``n_values``; the estimate when the interval is NaN) are
  split by ``per_bracket`` new integers, evenly in n (``per_bracket=1`` is bisection, so
  a bracket of width R shrinks to 1 in ⌈log2 R⌉ rounds), unless it is already
  ≤ ``max(1, rel·n*)``. Returns the sorted new counts not yet in ``n_values``.

  ``n_values`` are positive integers; ``low`` and ``high`` broadcast to the shape of
  ``estimate`` (NaN where there is no interval); ``rel ≥ 0``; ``per_bracket ≥ 1``.

  Examples:
    >>> refine_n([4, 8, 16], np.array([6.0]), np.array([5.0]), np.array([7.0]))
    [5, 7]
  """
  grid, est, low, high = _refine_args(n_values, estimate, low, high, rel, per_bracket)
  new = set()
  for e, lo, hi in zip(est, low, high):
    if not np.isfinite(e):
      continue
    lo = e if not np.isfinite(lo) else lo
    hi = e if not np.isfinite(hi) else hi
    left = grid[grid <= lo].max(initial=grid[0])
    right = grid[grid >= hi].min(initial=grid[-1])
    if right - left <= max(1.0, rel * e):
      continue
    inner = np.linspace(left, right, per_bracket + 2)[1:-1]  # evenly in n: bisection for 1
    new.update(int(v) for v in np.round(inner) if left < v < right)
  return sorted(new - set(grid.tolist()))


def _refine_args(n_values, estimate, low, high, rel, per_bracket):
  """Checks :func:`refine_n`'s arguments; returns the sorted grid and the flat estimate, low, high."""
  n = np.asarray(_checks.array("n_values", n_values, ndim=1), float)
  if n.size == 0 or np.any(n < 1) or np.any(n != np.round(n)):
    raise ValueError(f"n_values must be a non-empty 1-D array of positive integers, got {n}")
  est = np.asarray(_checks.real_array("estimate", estimate), float)
  bounds = []
  for name, v in (("low", low), ("high", high)):
    v = np.asarray(_checks.real_array(name, v), float)
    try:
      bounds.append(np.ravel(np.broadcast_to(v, est.shape)))
    except ValueError as e:
      raise ValueError(f"{name} of shape {v.shape} must broadcast to the shape of estimate {est.shape}") from e
  _checks.scalar_nonnegative("rel", rel)
  _checks.positive_int("per_bracket", per_bracket)
  with np.errstate(invalid="ignore"):
    if np.any((bounds[0] > bounds[1]) | (np.ravel(est) < bounds[0]) | (np.ravel(est) > bounds[1])):
      raise ValueError(f"need low <= estimate <= high (NaN where unresolved), got low={bounds[0]}, "
                       f"estimate={np.ravel(est)}, high={bounds[1]}")
  grid = np.asarray(sorted(set(int(v) for v in n)))
  return grid, np.ravel(est), bounds[0], bounds[1]


@contextlib.contextmanager
def _quiet():
  """Silences numpy's all-NaN RuntimeWarnings inside host reductions."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    yield
