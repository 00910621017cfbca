"""sims/margin_check: its pieces against independent computations, and the quick preset end to end."""

import json
import os

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import data, minima, theory, unit_birth
from sims import margin_check
from sims.configs import margin_check as presets


def test_fit_line_matches_polyfit_and_recovers_a_planted_exponent():
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 10, 200)
  y = 0.5 - 1.3 * x + 0.05 * rng.normal(size=200)
  fit = margin_check.fit_line(x, y)
  slope, intercept = np.polyfit(x, y, 1)
  np.testing.assert_allclose([fit.slope, fit.intercept], [slope, intercept], rtol=1e-10)
  assert abs(fit.slope + 1.3) < fit.slope_ci < 0.05 and fit.num == 200
  assert np.isnan(margin_check.fit_line([1.0, 2.0], [1.0, 2.0]).slope)  # too few points


@pytest.mark.parametrize("index", [0, 4, 6])  # mem, gen, hybrid
def test_draw_batch_builds_the_paper_minima(x64, index):
  c = presets.get_config()
  fam = c.families[index]
  batch = margin_check.draw_batch(jax.random.PRNGKey(index), fam, c, 3)
  for X, s, l, W, beta, alpha, g0 in zip(batch.X, batch.sigma, batch.lam, batch.W, batch.beta, batch.alpha,
                                        batch.gamma_default):
    ps = list(fam.ps)
    if fam.kind == "mem":
      ref = minima.memorization(X, s, l, len(ps) + c.mem_pad)  # Eq. (9), zero-padded
      floor = np.min(np.sum(X**2, axis=1))
    else:
      ref = minima.hybrid(X, batch.labels, s, l, ps)  # Eq. (8) blocks, one column per duplicated cluster
      floor = min(np.linalg.svd(X[batch.labels == k], compute_uv=False)[p - 1] ** 2 for k, p in enumerate(ps))
    if fam.kind == "mem":
      np.testing.assert_allclose(W, np.asarray(ref), atol=1e-10)
    else:  # Eq. (8) up to the rotation O_k of each block that maximizes γ_op: the same W_kW_kᵀ
      for k in range(len(ps)):
        cols = batch.owner == k
        Wk, Rk = W[:, cols], np.asarray(ref)[:, cols]
        np.testing.assert_allclose(Wk @ Wk.T, Rk @ Rk.T, atol=1e-10)
        Q = np.linalg.lstsq(Rk, Wk, rcond=None)[0]  # W_k = R_k Q with Q orthogonal
        np.testing.assert_allclose(Q.T @ Q, np.eye(len(Q)), atol=1e-8)
      default = theory.margin(X, batch.labels, np.asarray(ref), batch.owner).gamma
      rotated = theory.margin(X, batch.labels, W, batch.owner).gamma
      assert rotated >= default - 1e-12
    live = batch.owner >= 0
    np.testing.assert_allclose(g0, theory.margin(X, batch.labels, np.asarray(ref)[:, live], batch.owner[live]).gamma,
                               rtol=1e-10)
    assert 0 <= l * X.shape[0] < c.lam_frac * floor
    a, b = data.separability(X, batch.labels)
    np.testing.assert_allclose(b, beta, atol=1e-9)  # the requested cosine is exact
    if fam.kind != "mem":
      np.testing.assert_allclose(a, alpha, rtol=1e-9)


def test_bad_family_raises():
  c = presets.get_config()
  bad = c.families[4].copy_and_resolve_references()
  bad.kind = "other"
  with pytest.raises(ValueError, match="kind"):
    margin_check.draw_batch(jax.random.PRNGKey(0), bad, c, 1)
  bad = c.families[4].copy_and_resolve_references()
  bad.ps = (1, 2)  # 3 clusters
  with pytest.raises(ValueError, match="p_k per cluster"):
    margin_check.draw_batch(jax.random.PRNGKey(0), bad, c, 1)


def test_certify_flags_premises_and_certifies_where_they_hold(x64):
  c = presets.get_config()
  fam = c.families[0]
  good = margin_check.draw_batch(jax.random.PRNGKey(0), fam, c, 2, beta=-1 / 3, sigma=0.05)
  bad = margin_check.draw_batch(jax.random.PRNGKey(1), fam, c, 2, beta=0.3, sigma=0.05)
  g, b = margin_check.certify(good, c), margin_check.certify(bad, c)
  assert g["pre_ok"].all() and g["cert_ok"].all()
  assert not b["pre_ok"].any()  # positively correlated samples: W_mem's masks are not one-hot
  # γ_op of W_mem = min over samples of (distance of x_j to unit i's hyperplane), recomputed by hand
  X, W = good.X[0], good.W[0][:, :4]
  dist = X @ (W / np.linalg.norm(W, axis=0))
  expected = min(np.min(np.diag(dist)), np.min(-dist[~np.eye(4, dtype=bool)]))
  np.testing.assert_allclose(g["gamma_op"][0], expected, rtol=1e-12)
  one = theory.stationarity({"W": jnp.asarray(good.W[1])}, good.X[1], good.sigma[1], good.lam[1])
  np.testing.assert_allclose(g["rel_grad"][1], float(one.rel_grad_norm), rtol=1e-8, atol=1e-20)


@pytest.mark.slow
def test_quick_preset_end_to_end(tmp_path):
  with jax.enable_x64(True):
    c = presets.get_config("quick")
    verdict_path = str(tmp_path / "verdicts.json")
    paths = margin_check.run(c, str(tmp_path / "work"), str(tmp_path / "fig"), verdict_path, progress=False)
    assert sorted(os.path.basename(p) for p in paths) == [
        "cor32_cor33.png", "jacobian_spectra.png", "margin_residual.png", "separability_limits.png"]
    V = json.load(open(verdict_path))
    cert = V["Thm 3.1 / Cor 3.2-3.4: constructed minima are local minima"]
    assert cert["failures_given_preconditions"] == 0 and cert["preconditions_hold"] > 0
    assert V["Thm D.2 block decomposition + Lemma D.1"]["max_rel_gap_given_preconditions"] < 1e-10
    assert V["instances"]["total"] == sum(f.count for f in c.families)
    # --plot_only path: redraw from the saved results
    again = margin_check.run(c, str(tmp_path / "work"), str(tmp_path / "fig2"), verdict_path, plot_only=True,
                             progress=False)
    assert all(os.path.exists(p) for p in again)


def test_d5_displays_read_the_measured_exponents():
  rate = lambda slope, ci: dict(slope=slope, slope_ci=ci)
  # the committed run's shape: deviation at the sampling rate, its square and the excess risk at 1/n_k
  d5 = margin_check.d5_displays(rate(-0.54, 0.05), rate(-1.08, 0.1), rate(-1.07, 0.15))
  assert not d5["first_display_consistent"] and d5["sqrt_form_consistent"] and d5["second_display_consistent"]
  assert "lacks a square root" in d5["verdict"]
  # a deviation that really went as 1/n_k would satisfy the first display as transcribed
  d5 = margin_check.d5_displays(rate(-1.0, 0.05), rate(-2.0, 0.1), rate(-2.0, 0.2))
  assert d5["first_display_consistent"] and not d5["sqrt_form_consistent"] and not d5["second_display_consistent"]
  assert "lacks" not in d5["verdict"]


def test_unit_birth_ok_is_unit_birth_passes_and_trivial_without_padding(x64):
  c = presets.get_config()
  fam = c.families[0]
  batch = margin_check.draw_batch(jax.random.PRNGKey(3), fam, c, 4, beta=-0.05, sigma=0.1)
  ok = margin_check.unit_birth_ok(batch, c)
  for b in range(4):  # the app's call is the package's test, instance by instance
    assert ok[b] == unit_birth.passes(batch.X[b], batch.sigma[b], batch.lam[b],
                                      jax.random.fold_in(jax.random.PRNGKey(c.seed), b))
  # at λ = 0 every padded W_mem is a saddle (g < 0 along c_i ≈ σ); at p = n there is no zero column
  zero = margin_check.draw_batch(jax.random.PRNGKey(3), fam, c, 2, beta=-0.05, sigma=0.1, lam_frac=0.0)
  assert not margin_check.unit_birth_ok(zero, c).any()
  c.mem_pad = 0
  unpadded = margin_check.draw_batch(jax.random.PRNGKey(3), fam, c, 2, beta=-0.05, sigma=0.1, lam_frac=0.0)
  assert margin_check.unit_birth_ok(unpadded, c).all()
  cert = margin_check.certify(unpadded, c)
  assert (cert["cert_ok"] == cert["frozen_ok"]).all()


def test_residual_windows_fit_each_window_like_polyfit():
  rng = np.random.default_rng(1)
  x = rng.uniform(0, 8, 400)
  y = np.exp(-np.where(x < 1, 3.0 * x, 3.0 + 1.0 * (x - 1)) + 0.01 * rng.normal(size=400))  # slope 3, then 1
  y[x > 7] = 0.0  # censored: residual exactly 0
  res = {"families": ["f"], "f": dict(cert_pre_ok=np.ones(400, bool), cert_gamma_op=np.sqrt(x), sigma=np.ones(400),
                                      res_dist2=y)}
  w = margin_check.residual_windows(res, edges=(0.0, 1.0, 4.0, np.inf))
  for win in w:
    inside = (x >= win["lo"]) & (x < win["hi"]) & (y > 0)
    slope = np.polyfit(x[inside], np.log(y[inside]), 1)[0]
    np.testing.assert_allclose(win["c"], -slope, rtol=1e-10)
    assert win["fitted"] == inside.sum() and win["zero_residual"] == np.sum((x >= win["lo"]) & (x < win["hi"]) & (y == 0))
  np.testing.assert_allclose([w[0]["c"], w[1]["c"], w[2]["c"]], [3.0, 1.0, 1.0], atol=0.05)
