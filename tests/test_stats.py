"""relu_dae.stats against independent computations (hand formulas, numpy) and the apps' copies."""

import importlib
import math

import numpy as np
import pytest
import scipy.stats

from relu_dae import metrics
from relu_dae import stats


def _app(module, name):
  """The app's own copy of a function, while it exists (the apps are being restructured)."""
  try:
    return getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError):
    pytest.skip(f"{module}.{name} no longer exists")


# --- critical_n / critical_n_relative --------------------------------------------------------


def test_critical_n_absolute_interpolates_in_log_n():
  n = np.array([10.0, 100.0, 1000.0])
  # 0.8 -> 0.2 between 100 and 1000 crosses 0.5 halfway in log n: 10**2.5
  assert stats.critical_n(n, [1.0, 0.8, 0.2], 0.5) == pytest.approx(10**2.5, rel=1e-12)
  # rising curve: 0.1 -> 0.7 crosses 0.4 at a quarter... (0.4-0.1)/0.6 = 1/2 of the step 10 -> 100
  assert stats.critical_n(n, [0.1, 0.7, 0.9], 0.4) == pytest.approx(10**1.5, rel=1e-12)


def test_critical_n_absolute_and_relative_differ_on_a_short_curve():
  n, curve = [10, 100, 1000], [1.0, 0.9, 0.8]
  assert np.isnan(stats.critical_n(n, curve, 0.5))  # never reaches 1/2
  assert stats.critical_n_relative(n, curve, 0.5) == pytest.approx(100.0, rel=1e-12)  # 0.9 is halfway in range


def test_critical_n_relative_uses_each_rows_range():
  n = np.array([2.0, 4.0, 8.0])
  rows = np.array([[3.0, 2.0, 1.0], [10.0, 10.0, 0.0]])
  out = stats.critical_n_relative(n, rows, 0.25)  # targets 1.5 and 2.5
  lo = np.log(n)
  expect = [np.exp(lo[1] + (1.5 - 2.0) / (1.0 - 2.0) * (lo[2] - lo[1])),
            np.exp(lo[1] + (2.5 - 10.0) / (0.0 - 10.0) * (lo[2] - lo[1]))]
  np.testing.assert_allclose(out, expect, rtol=1e-12)
  assert np.isnan(stats.critical_n_relative(n, [1.0, 1.0, 1.0]))  # flat


def test_critical_n_does_not_interpolate_across_a_failed_configuration():
  n = [1, 2, 4, 8]
  assert np.isnan(stats.critical_n(n, [1.0, np.nan, 0.0, 0.0], 0.5))
  assert stats.critical_n(n, [1.0, np.nan, 1.0, 0.0], 0.5) == pytest.approx(np.sqrt(32), rel=1e-12)


def test_metrics_critical_n_is_a_deprecated_alias_with_the_old_default():
  n, curve = [10, 100, 1000], np.array([[1.0, 0.9, 0.8], [1.0, 0.6, 0.0]])
  with pytest.warns(DeprecationWarning, match="stats.critical_n"):
    rel = metrics.critical_n(n, curve)
  np.testing.assert_array_equal(rel, stats.critical_n_relative(n, curve, 0.5))
  with pytest.warns(DeprecationWarning):
    ab = metrics.critical_n(n, curve, 0.5, absolute=True)
  np.testing.assert_array_equal(ab, stats.critical_n(n, curve, 0.5))
  assert np.isnan(ab[0]) and rel[0] == pytest.approx(100.0)


# --- bootstrap_crossing -------------------------------------------------------------------------


def _bootstrap_crossing_by_hand(n, mean, boots, level):
  f = np.isfinite(mean)
  nc = float(stats.critical_n(n[f], mean[f], level))
  reps = np.array([stats.critical_n(n, b, level) if np.all(np.isfinite(b)) else np.nan for b in boots])
  crossed = np.isfinite(reps)
  ci = np.percentile(reps[crossed], [2.5, 97.5]) if crossed.mean() > 0.5 else [np.nan, np.nan]
  return nc, ci, crossed.mean()


def test_bootstrap_crossing_matches_a_hand_computation_and_the_app():
  rng = np.random.default_rng(3)
  n = np.array([4.0, 8.0, 16.0, 32.0, 64.0])
  mean = np.array([0.9, 0.7, 0.45, 0.2, 0.05])
  boots = np.clip(mean + 0.1 * rng.standard_normal((200, 5)), 0, 1)
  boots[:5, 2] = np.nan  # replicates where every drawn seed failed
  est = stats.bootstrap_crossing(n, mean, boots, 0.5)
  nc, ci, frac = _bootstrap_crossing_by_hand(n, mean, boots, 0.5)
  assert est.n_c == pytest.approx(nc, rel=1e-12) and est.n_c_where == "crossed"
  np.testing.assert_allclose(est.n_c_ci, ci, rtol=1e-12)
  assert est.n_c_boot_crossed == pytest.approx(frac)
  app = _app("sims.diffusion_toy", "critical_n")
  ref = app(n, mean, boots, 0.5)
  assert ref["n_c"] == est.n_c and ref["n_c_where"] == est.n_c_where
  np.testing.assert_array_equal(ref["n_c_ci"], est.n_c_ci)
  assert ref["n_c_boot_crossed"] == est.n_c_boot_crossed
  assert est._asdict().keys() == ref.keys()


@pytest.mark.parametrize("mean, where", [([0.1, 0.2, 0.3], "below_grid"), ([0.9, 0.8, 0.7], "above_grid"),
                                         ([np.nan, np.nan, np.nan], "above_grid")])
def test_bootstrap_crossing_says_where_an_uncrossed_curve_lies(mean, where):
  mean = np.array(mean)
  est = stats.bootstrap_crossing([1, 2, 4], mean, np.tile(mean, (4, 1)), 0.5)
  assert np.isnan(est.n_c) and est.n_c_where == where and est.n_c_boot_crossed == 0.0
  assert np.all(np.isnan(est.n_c_ci))


# --- power_law_fit / line_fit ---------------------------------------------------------------------


def _ols(x, y):
  """Slope, intercept and their standard errors by the normal equations."""
  X = np.stack([np.ones_like(x), x], 1)
  beta, *_ = np.linalg.lstsq(X, y, rcond=None)
  resid = y - X @ beta
  s2 = resid @ resid / (len(x) - 2)
  cov = s2 * np.linalg.inv(X.T @ X)
  return beta[1], beta[0], np.sqrt(cov[1, 1]), np.sqrt(cov[0, 0])


def test_line_fit_matches_the_normal_equations():
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 5, 30)
  y = 1.5 - 0.7 * x + 0.3 * rng.standard_normal(30)
  x[3], y[7] = np.nan, np.inf  # dropped
  fit = stats.line_fit(x, y)
  ok = np.isfinite(x) & np.isfinite(y)
  a, b, sa, sb = _ols(x[ok], y[ok])
  t = scipy.stats.t.ppf(0.975, ok.sum() - 2)
  np.testing.assert_allclose([fit.slope, fit.intercept, fit.slope_ci, fit.intercept_ci], [a, b, t * sa, t * sb],
                             rtol=1e-10)
  assert fit.num == 28
  app = _app("sims.margin_check", "fit_line")
  assert tuple(app(x, y)) == tuple(fit)


def test_line_fit_needs_three_finite_points():
  fit = stats.line_fit([1.0, 2.0, np.nan], [1.0, 2.0, 3.0])
  assert fit.num == 2 and all(math.isnan(v) for v in fit[:4])


def test_power_law_fit_matches_a_log_log_line():
  rng = np.random.default_rng(1)
  x = np.geomspace(1, 100, 12)
  y = 3.0 * x**-0.5 * np.exp(0.05 * rng.standard_normal(12))
  a, c, half = stats.power_law_fit(np.append(x, [0.0, 2.0]), np.append(y, [1.0, -1.0]))  # last two dropped
  slope, intercept, sa, _ = _ols(np.log(x), np.log(y))
  np.testing.assert_allclose([a, c, half], [slope, np.exp(intercept), scipy.stats.t.ppf(0.975, 10) * sa], rtol=1e-10)
  assert metrics.power_law_fit is stats.power_law_fit


# --- hierarchical_bootstrap -------------------------------------------------------------------------


def test_hierarchical_bootstrap_matches_the_app_and_a_loop():
  rng = np.random.default_rng(5)
  values = rng.uniform(size=(4, 6))
  values[1] = np.nan  # a failed seed
  got = stats.hierarchical_bootstrap(values, np.random.default_rng(7), 50)
  app = _app("sims.diffusion_toy", "hierarchical_bootstrap")
  np.testing.assert_array_equal(got, app(values, np.random.default_rng(7), 50))
  np.testing.assert_array_equal(got, stats.hierarchical_bootstrap(values, 7, 50))  # seed = default_rng(seed)
  r = np.random.default_rng(7)  # the same draws, replicate by replicate
  seeds, inner = r.integers(0, 4, (50, 4)), r.integers(0, 6, (50, 4, 6))
  loop = [np.nanmean([values[seeds[b, s], inner[b, s, j]] for s in range(4) for j in range(6)]) for b in range(50)]
  np.testing.assert_allclose(got, loop, rtol=1e-12)


def test_hierarchical_bootstrap_centres_on_the_mean():
  values = np.random.default_rng(2).uniform(size=(8, 20))
  boots = stats.hierarchical_bootstrap(values, 0, 4000)
  assert abs(boots.mean() - values.mean()) < 0.01
  assert np.all(np.isnan(stats.hierarchical_bootstrap(np.full((2, 3), np.nan), 0, 5)))


# --- wilson_interval -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k, n, level", [(0, 10, 0.95), (3, 10, 0.95), (10, 10, 0.95), (37, 120, 0.9),
                                         (1, 1, 0.99), (500, 1000, 0.5)])
def test_wilson_interval_matches_the_hand_formula_and_scipy(k, n, level):
  lo, hi = stats.wilson_interval(k, n, level)
  z = scipy.stats.norm.ppf(0.5 + level / 2)  # the textbook form: (k + z²/2 ± z √(k(n−k)/n + z²/4)) / (n + z²)
  hand = [(k + z**2 / 2 + s * z * math.sqrt(k * (n - k) / n + z**2 / 4)) / (n + z**2) for s in (-1, 1)]
  np.testing.assert_allclose([lo, hi], np.clip(hand, 0, 1), rtol=1e-12, atol=1e-15)
  ci = scipy.stats.binomtest(k, n).proportion_ci(level, method="wilson")
  np.testing.assert_allclose([lo, hi], [ci.low, ci.high], rtol=1e-12, atol=1e-15)


def test_wilson_interval_matches_the_app_and_is_nan_without_trials():
  flags = np.array([1.0, 0.0, 1.0, np.nan, 1.0, 0.0, 0.0])
  app = _app("sims.diffusion_toy", "_wilson")
  np.testing.assert_allclose(stats.wilson_interval(3, 6), app(flags), rtol=1e-12, atol=1e-15)
  assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))
