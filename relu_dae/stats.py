"""Host-side statistics on numpy: crossings of score curves, fits, bootstrap and binomial intervals.

Everything here runs on finished results (numpy arrays on the host), never inside ``jit``.
A failed configuration is NaN and stays NaN: it is skipped, never read as a value, and a result
that depends on it is NaN. Random functions take a ``np.random.Generator`` or an integer seed.

* :func:`critical_n` — the sample count where a curve first crosses an *absolute* level;
  :func:`critical_n_relative` — where it crosses a *fraction* of its own range (a different
  score: a curve 1.0 → 0.9 crosses fraction 1/2 at 0.95, but never crosses the level 1/2).
* :func:`bootstrap_crossing` — :func:`critical_n` of a mean curve with a percentile interval
  from bootstrap replicates of that curve, and where the crossing lies relative to the grid.
* :func:`power_law_fit` — ``y = c·x^a`` in log–log; :func:`line_fit` — ``y = b + a x`` with 95 %
  t-intervals (:class:`LineFit`).
* :func:`hierarchical_bootstrap` — two-level (seeds, then samples) bootstrap of a mean.
* :func:`wilson_interval` — the Wilson score interval of a binomial proportion.

Examples:
  >>> import numpy as np
  >>> float(critical_n([10, 100, 1000], [1.0, 1.0, 0.0], 0.5))  # halfway in log n: 10**2.5
  316.22776601683...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple
import warnings

import numpy as np
from jaxtyping import ArrayLike, Float, Real

from relu_dae import _checks

# Host inputs: numpy arrays or plain sequences (the shapes name the axes in the docstrings).
Curve = Real[ArrayLike, " L"] | Sequence[int | float]  # one score per n value
Curves = Real[ArrayLike, "... L"] | Sequence  # curves over n on the last axis
Replicates = Real[ArrayLike, "B L"] | Sequence[Sequence[int | float]]  # bootstrap replicates of a curve
Points = Real[ArrayLike, " m"] | Sequence[int | float]  # the x or y values of a fit
Table = Real[ArrayLike, "S m"] | Sequence[Sequence[int | float]]  # values per seed (rows) and draw (columns)

__all__ = [
    "BootstrapCrossing",
    "LineFit",
    "bootstrap_crossing",
    "critical_n",
    "critical_n_relative",
    "hierarchical_bootstrap",
    "line_fit",
    "power_law_fit",
    "wilson_interval",
]


# --- Crossings of score curves ------------------------------------------------------------


def _crossing(log_n: np.ndarray, row: np.ndarray, target: float, at: np.ndarray) -> float:
  """First crossing of ``target`` by ``row`` (finite, at grid indices ``at``) in ``log_n``; NaN if none
  or if a failed configuration (a gap in ``at``) lies inside the bracket."""
  side = np.sign(row - target)
  if side[0] == 0:
    return log_n[0]
  flips = np.flatnonzero(side != side[0])
  if flips.size == 0:
    return np.nan
  j = flips[0]
  if at[j] - at[j - 1] > 1:  # a failed configuration lies inside the bracket: it may hold the crossing
    return np.nan
  return log_n[j - 1] + (target - row[j - 1]) / (row[j] - row[j - 1]) * (log_n[j] - log_n[j - 1])


def _first_crossing(log_n: np.ndarray, row: np.ndarray, level: float, relative: bool) -> float:
  ok = ~np.isnan(row)
  at, x, y = np.flatnonzero(ok), log_n[ok], row[ok]
  if x.size == 0 or (relative and y.max() == y.min()):
    return np.nan
  target = y.min() + level * (y.max() - y.min()) if relative else level
  return _crossing(x, y, target, at)


def _curve(n_values, scores) -> tuple[np.ndarray, np.ndarray]:
  """Checks a grid ``n_values (L,)`` and ``scores (..., L)``; returns them as float64 numpy."""
  _checks.array("n_values", n_values, ndim=1)
  n = np.asarray(n_values, np.float64)
  if n.size < 2 or np.any(n <= 0) or np.any(np.diff(n) <= 0):
    raise ValueError(f"n_values must be a 1-D, positive, strictly increasing array of >= 2 counts, got {n}")
  _checks.real_array("scores", scores)
  s = np.asarray(scores, np.float64)
  if s.shape[-1:] != n.shape:
    raise ValueError(f"scores must have shape (..., {n.size}) to match n_values, got {s.shape}")
  if np.any(np.isinf(s)):
    raise ValueError("scores must be finite, or NaN for a failed configuration; got inf")
  return n, s


def _crossings(n: np.ndarray, s: np.ndarray, level: float, relative: bool) -> np.ndarray:
  rows = s.reshape(-1, n.size)
  out = np.array([_first_crossing(np.log(n), r, float(level), relative) for r in rows])
  return np.exp(out).reshape(s.shape[:-1])


def critical_n(n_values: Curve, scores: Curves,
               level: float = 0.5) -> Float[np.ndarray, ...]:
  """The sample count at which a score curve first crosses the absolute ``level`` (a phase boundary in n).

  For each row of ``scores`` along increasing ``n``, the first crossing of ``level``,
  interpolated linearly in ``log n`` between the bracketing grid points (either direction:
  memorization scores fall with n, generalization scores rise); a row that starts on the level
  gives ``n_values[0]``.

  Failed configurations: a NaN score marks a configuration without a result (a failed run) and
  is never read as a value. NaN entries are skipped, but a crossing whose bracketing grid points
  have a NaN between them is not resolved (the failed configuration may hold it) and gives NaN.
  NaN is also the result when a row never crosses or is all NaN; ``inf`` scores raise ``ValueError``.

  Args:
    n_values: ``(L,)`` positive, strictly increasing sample counts, ``L ≥ 2``.
    scores: ``(..., L)``, finite or NaN.
    level: the (finite) level.

  Returns:
    ``(...)`` critical n (float64).

  Examples:
    >>> critical_n([10, 100, 1000], [1.0, 0.9, 0.8], 0.5).item()  # never reaches 1/2
    nan
    >>> float(critical_n([10, 100, 1000], [1.0, float("nan"), 0.0]))  # the crossing may be the failed run's
    nan
  """
  n, s = _curve(n_values, scores)
  _checks.number("level", level)
  _checks.finite("level", level)
  return _crossings(n, s, level, relative=False)


def critical_n_relative(n_values: Curve, scores: Curves,
                        fraction: float = 0.5) -> Float[np.ndarray, ...]:
  """The sample count at which a score curve first crosses ``min + fraction·(max − min)`` of its own row.

  As :func:`critical_n` with the level ``min + fraction·(max − min)`` of each row (NaN entries
  left out of the min and max). This locates the steepest part of each curve whatever its range,
  so it is a different score from :func:`critical_n`: a curve 1.0 → 0.9 crosses fraction 1/2 (at
  0.95) though it never falls to 1/2. A flat row gives NaN.

  Args:
    n_values: ``(L,)`` positive, strictly increasing sample counts, ``L ≥ 2``.
    scores: ``(..., L)``, finite or NaN.
    fraction: relative level in [0, 1].

  Returns:
    ``(...)`` critical n (float64).

  Examples:
    >>> round(float(critical_n_relative([10, 100, 1000], [1.0, 0.9, 0.8])), 6)  # crosses 0.9 at n = 100
    100.0
  """
  n, s = _curve(n_values, scores)
  _checks.in_range("fraction", fraction, 0.0, 1.0)
  return _crossings(n, s, fraction, relative=True)


class BootstrapCrossing(NamedTuple):
  """:func:`bootstrap_crossing`'s result (field names as the apps' summary keys).

  Attributes:
    n_c: :func:`critical_n` of the mean curve (NaN if it does not cross).
    n_c_ci: ``(2,)`` 2.5 and 97.5 percentiles of the replicates' crossings; NaN unless more than
      half the replicates cross.
    n_c_where: ``"crossed"``, ``"below_grid"`` (the mean is under ``level`` at every n, so
      n_c < min n) or ``"above_grid"`` (n_c > max n, or undetermined).
    n_c_boot_crossed: fraction of the replicates that cross (a replicate with a NaN point counts
      as not crossing).
  """
  n_c: float
  n_c_ci: np.ndarray
  n_c_where: str
  n_c_boot_crossed: float


def bootstrap_crossing(n_values: Curve, mean: Curve, boots: Replicates,
                       level: float) -> BootstrapCrossing:
  """Where a mean curve first crosses the absolute ``level``, with a percentile interval from its replicates.

  The estimate is :func:`critical_n` of ``mean`` over its finite points (NaN points are dropped
  from the grid, so the crossing is interpolated across them; NaN with fewer than 2 finite
  points). Each bootstrap replicate ``boots[b]`` (e.g. :func:`hierarchical_bootstrap` at every
  n) gets its own :func:`critical_n`; replicates with a NaN point count as not crossing. The
  interval is the 2.5–97.5 percentile range of the crossings when more than half the
  replicates cross, else NaN.

  Args:
    n_values: ``(L,)`` positive, strictly increasing sample counts, ``L ≥ 2``.
    mean: ``(L,)`` the curve, finite or NaN.
    boots: ``(B, L)`` bootstrap replicates of the curve, ``B ≥ 1``.
    level: the (finite) level.

  Returns:
    A :class:`BootstrapCrossing`.

  Examples:
    >>> est = bootstrap_crossing([10, 100, 1000], np.array([0.0, 0.5, 1.0]),
    ...                          np.array([[0.0, 0.4, 1.0], [0.0, 0.6, 1.0]]), 0.5)
    >>> round(est.n_c, 6), est.n_c_where, est.n_c_boot_crossed
    (100.0, 'crossed', 1.0)
  """
  n, mean = _curve(n_values, mean)
  if mean.ndim != 1:
    raise ValueError(f"mean must have shape (L,)=({n.size},), got {mean.shape}")
  _, boots = _curve(n, boots)
  if boots.ndim != 2 or boots.shape[0] == 0:
    raise ValueError(f"boots must have shape (B, L)=(B, {n.size}) with B >= 1, got {boots.shape}")
  _checks.number("level", level)
  _checks.finite("level", level)
  finite = np.isfinite(mean)
  nc = float(critical_n(n[finite], mean[finite], level)) if finite.sum() >= 2 else float("nan")
  if np.isfinite(nc):
    where = "crossed"
  else:
    where = "below_grid" if finite.any() and np.nanmax(mean) < level else "above_grid"
  valid = np.all(np.isfinite(boots), axis=1)  # replicates with a value at every n
  reps = critical_n(n, boots[valid], level) if valid.any() else np.array([])
  crossed = np.concatenate([np.isfinite(reps), np.zeros((~valid).sum(), bool)])
  if crossed.mean() > 0.5:
    ci = np.percentile(reps[np.isfinite(reps)], [2.5, 97.5])
  else:
    ci = np.array([np.nan, np.nan])
  return BootstrapCrossing(nc, ci, where, float(crossed.mean()))


# --- Fits ---------------------------------------------------------------------------------


def _paired(x, y) -> tuple[np.ndarray, np.ndarray]:
  _checks.real_array("x", x), _checks.real_array("y", y)
  x, y = np.ravel(np.asarray(x, np.float64)), np.ravel(np.asarray(y, np.float64))
  if x.shape != y.shape:
    raise ValueError(f"x and y must have the same number of entries, got {x.size} and {y.size}")
  return x, y


def power_law_fit(x: Points, y: Points) -> tuple[float, float, float]:
  """Least-squares fit of ``y = c·x^a`` in log–log: returns ``(a, c, a's 95 % CI half-width)``.

  The half-width is ``t_{0.975, m−2} · stderr(a)`` (as :func:`line_fit`, on ``log x, log y``) over
  the m usable points. Pairs with a NaN/inf or a non-positive value (no logarithm) are dropped;
  fewer than 3 usable points, or all x equal, give ``(nan, nan, nan)``. ``x`` and ``y`` are real
  arrays with the same number of entries.

  Examples:
    >>> a, c, half = power_law_fit([1, 2, 4, 8], [3, 12, 48, 192])
    >>> round(a, 6), round(c, 6), round(half, 6)
    (2.0, 3.0, 0.0)
  """
  x, y = _paired(x, y)
  ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
  lx, ly = np.log(x[ok]), np.log(y[ok])
  if lx.size < 3 or np.ptp(lx) == 0:
    return np.nan, np.nan, np.nan
  fit = line_fit(lx, ly)
  return fit.slope, float(np.exp(fit.intercept)), fit.slope_ci


class LineFit(NamedTuple):
  """``y = intercept + slope·x`` with 95 % t-interval half-widths (:func:`line_fit`).

  Attributes:
    slope, slope_ci: the slope and its half-width ``t_{0.975, m−2}·stderr``.
    intercept, intercept_ci: the intercept and its half-width.
    num: m, the number of finite pairs fitted.
  """
  slope: float
  slope_ci: float
  intercept: float
  intercept_ci: float
  num: int


def line_fit(x: Points, y: Points) -> LineFit:
  """Least-squares line ``y = b + a x`` with 95 % t-intervals (``scipy.stats.linregress``).

  Pairs with a NaN or inf are dropped; with fewer than 3 finite pairs (no degrees of freedom for
  an interval) every number is NaN. All x equal gives NaN too. ``num`` counts the finite pairs.

  Examples:
    >>> fit = line_fit([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0])
    >>> round(fit.slope, 6), round(fit.intercept, 6), round(fit.slope_ci, 6), fit.num
    (2.0, 1.0, 0.0, 4)
  """
  import scipy.stats  # local import: scipy.stats is slow to import
  x, y = _paired(x, y)
  ok = np.isfinite(x) & np.isfinite(y)
  m = int(ok.sum())
  if m < 3 or np.ptp(x[ok]) == 0:
    return LineFit(*(float("nan"),) * 4, m)
  r = scipy.stats.linregress(x[ok], y[ok])
  t = scipy.stats.t.ppf(0.975, m - 2)
  return LineFit(float(r.slope), float(t * r.stderr), float(r.intercept), float(t * r.intercept_stderr), m)


# --- Intervals ----------------------------------------------------------------------------


def _generator(rng) -> np.random.Generator:
  if isinstance(rng, np.random.Generator):
    return rng
  if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)):
    raise TypeError(f"rng must be a numpy.random.Generator or an integer seed >= 0, got {type(rng).__name__}")
  if rng < 0:
    raise ValueError(f"rng must be a numpy.random.Generator or an integer seed >= 0, got {rng}")
  return np.random.default_rng(int(rng))


def hierarchical_bootstrap(values: Table, rng: np.random.Generator | int,
                           num: int) -> Float[np.ndarray, " num"]:
  """Means of ``values (S, m)`` (seeds × samples) over ``num`` two-level bootstrap replicates, ``(num,)``.

  Each replicate draws S seeds with replacement, then m samples with replacement within each
  drawn seed, and averages; NaN entries (failed runs) are skipped (NaN if every drawn entry is
  NaN). ``rng`` is a ``np.random.Generator`` (advanced by the call) or an integer seed.

  Examples:
    >>> boots = hierarchical_bootstrap(np.array([[0.0, 1.0], [1.0, 1.0]]), 0, 1000)
    >>> boots.shape, bool(0.0 <= boots.min() <= boots.max() <= 1.0)
    ((1000,), True)
  """
  _checks.real_array("values", values)
  values = np.asarray(values, np.float64)
  if values.ndim != 2 or 0 in values.shape:
    raise ValueError(f"values must have shape (S, m) with S, m >= 1 (seeds x samples), got {values.shape}")
  if np.any(np.isinf(values)):
    raise ValueError("values must be finite, or NaN for a failed run; got inf")
  rng = _generator(rng)
  num = _checks.positive_int("num", num)
  S, m = values.shape
  seeds = rng.integers(0, S, (num, S))
  picked = values[seeds[..., None], rng.integers(0, m, (num, S, m))]  # (num, S, m)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice" where every drawn seed failed
    return np.nanmean(picked, axis=(1, 2))


def _count(name: str, x) -> int:
  if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer, float, np.floating)):
    raise TypeError(f"{name} must be an integer >= 0, got {type(x).__name__}")
  if not np.isfinite(x) or x < 0 or x != int(x):
    raise ValueError(f"{name} must be an integer >= 0, got {x}")
  return int(x)


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
  """The Wilson score interval ``(lo, hi)`` of a binomial proportion ``successes / trials``.

  With ``p̂ = k/n`` and ``z`` the ``(1 + level)/2`` normal quantile,

  ``(p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)``,

  clipped to [0, 1]; it is ``scipy.stats.binomtest(k, n).proportion_ci(level, method="wilson")``.
  Zero trials give ``(nan, nan)``.

  Examples:
    >>> [round(v, 4) for v in wilson_interval(0, 10)]
    [0.0, 0.2775]
  """
  import scipy.stats  # local import: scipy.stats is slow to import
  k, n = _count("successes", successes), _count("trials", trials)
  if k > n:
    raise ValueError(f"successes must be <= trials, got successes={k}, trials={n}")
  _checks.in_range("level", level, 0.0, 1.0, closed=(False, False))
  if n == 0:
    return float("nan"), float("nan")
  z = float(scipy.stats.norm.ppf((1 + level) / 2))
  p = k / n
  center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
  half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
  return float(max(center - half, 0.0)), float(min(center + half, 1.0))
