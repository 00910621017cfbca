"""boundaries: regime fractions and ties, bootstrap coverage of a known n*, capacity flags,
power-law intervals, and adaptive refinement of a planted crossing."""

import math

import numpy as np
import pytest

from relu_dae import boundaries as bd
from relu_dae import metrics


def test_regime_fractions_count_seeds_and_skip_failed_runs():
  codes = np.array([[0, 0, 1, 2], [2, 2, np.nan, -1], [np.nan] * 4])
  f = bd.regime_fractions(codes)
  np.testing.assert_allclose(f[0], [0.5, 0.25, 0.25])
  np.testing.assert_allclose(f[1], [0.0, 0.0, 1.0])
  assert np.all(np.isnan(f[2]))


def test_majority_is_strict_and_ties_are_mixed_not_memorization():
  # 2 of 4 memorize, 2 generalize: a tie is MIXED (argmax would have said memorization).
  f = bd.regime_fractions(np.array([[0, 0, 2, 2], [0, 0, 0, 2], [0, 1, 2, 2], [1, 1, 1, 0]]))
  assert bd.majority(f).tolist() == [bd.MIXED, 0, bd.MIXED, 1]


def _logistic(n, n0, shifts, width=0.3):
  return 1.0 / (1.0 + np.exp((np.log(n)[None] - np.log(n0) + shifts[..., None]) / width))


@pytest.mark.slow
def test_bootstrap_interval_covers_a_known_critical_n_near_its_nominal_rate():
  """Seeds are logistic curves with random symmetric shifts in log n, so the population
  mean crosses 1/2 exactly at n0; 95 % intervals from 10 seeds should cover n0 ~95 % of
  the time (the percentile bootstrap undercovers a little at small S)."""
  rng = np.random.default_rng(1)
  n = np.geomspace(2, 256, 48)
  n0, reps, seeds = 20.0, 300, 10
  shifts = rng.normal(0.0, 0.4, (reps, seeds))
  est = bd.critical_n_interval(n, _logistic(n, n0, shifts), num_boot=300, seed=2)
  covered = (est.low <= n0) & (n0 <= est.high)
  assert 0.85 <= covered.mean() <= 0.99
  assert np.all(est.low <= est.high)
  # Tighter with more seeds (the interval is a statement about the seeds, not the grid).
  wide = bd.critical_n_interval(n, _logistic(n, n0, shifts[:, :3]), num_boot=300, seed=2)
  assert np.median(np.log(est.high / est.low)) < np.median(np.log(wide.high / wide.low))


def test_unresolved_crossings_have_no_interval():
  n = np.array([2, 4, 8, 16])
  never = np.ones((5, 4))  # every seed stores everything: no crossing in range
  est = bd.critical_n_interval(n, never, num_boot=50)
  assert np.isnan(est.estimate) and np.isnan(est.low) and np.isnan(est.high)


def test_capacity_bound_is_p_over_level():
  assert bd.capacity_bound([7.9, 8.0, 8.1], 4, 0.5).tolist() == [False, True, True]
  assert bd.capacity_bound([20.0], 16, level=0.9).tolist() == [True]  # 16 / 0.9 = 17.8


def test_power_law_interval_recovers_a_known_exponent_and_widens_with_noise():
  rng = np.random.default_rng(0)
  x = np.array([2.0, 4.0, 8.0, 16.0, 32.0])
  truth = 3.0 * x**0.7
  samples = truth[:, None] * np.exp(rng.normal(0, 0.05, (5, 500)))
  fit = bd.power_law_interval(x, truth, samples)
  assert fit.exponent == pytest.approx(0.7) and fit.prefactor == pytest.approx(3.0)
  assert fit.low < 0.7 < fit.high and fit.points == 5
  noisy = bd.power_law_interval(x, truth, truth[:, None] * np.exp(rng.normal(0, 0.3, (5, 500))))
  assert noisy.high - noisy.low > fit.high - fit.low
  # Points flagged by capacity are left out: with 2 left there is no fit.
  out = bd.power_law_interval(x, truth, samples, keep=np.array([1, 1, 0, 0, 0], bool))
  assert out.points == 2 and np.isnan(out.exponent) and np.isnan(out.low)


@pytest.mark.parametrize("n0", [3.5, 37.3, 200.6])
def test_refinement_brackets_a_planted_step_to_one_within_log2_range_rounds(n0):
  step = lambda n: (np.asarray(n, float) < n0).astype(float)
  grid = [2, 256]
  rounds = 0
  while True:
    est = metrics.critical_n(grid, step(grid), 0.5, absolute=True)
    new = bd.refine_n(grid, est[None], np.nan, np.nan, rel=0.0, per_bracket=1)
    if not new:
      break
    grid = sorted(grid + new)
    rounds += 1
  g = np.asarray(grid)
  left, right = g[g < n0].max(), g[g > n0].min()
  assert right - left == 1 and rounds <= math.ceil(math.log2(256 - 2))


def test_refinement_stops_at_the_relative_tolerance():
  assert bd.refine_n([90, 100], [95.0], [94.0], [96.0], rel=0.1) == [93, 97]  # 10 > 0.1 · 95
  assert bd.refine_n([90, 100], [95.0], [94.0], [96.0], rel=0.11) == []  # 10 ≤ 0.11 · 95
