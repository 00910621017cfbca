"""sims.margin_check: its pieces against independent computations, the smoke preset end to end, and the
command line (flags, workdir records, --experiments)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import data, minima, theory, unit_birth
from relu_dae import stats
from sims import margin_check
from sims.configs import margin_check as presets
from sims.margin_check import analysis, experiments

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_line_fit_matches_polyfit_and_recovers_a_planted_exponent():
  rng = np.random.default_rng(0)
  x = rng.uniform(0, 10, 200)
  y = 0.5 - 1.3 * x + 0.05 * rng.normal(size=200)
  fit = stats.line_fit(x, y)  # the app's fits (residual_fit, residual_windows) are this
  slope, intercept = np.polyfit(x, y, 1)
  np.testing.assert_allclose([fit.slope, fit.intercept], [slope, intercept], rtol=1e-10)
  assert abs(fit.slope + 1.3) < fit.slope_ci < 0.05 and fit.num == 200
  assert np.isnan(stats.line_fit([1.0, 2.0], [1.0, 2.0]).slope)  # too few points


def _batch(key, fam, c, count, **kw):
  return experiments.draw_batch(key, experiments.Family(**experiments._tuples(dict(fam))), experiments.settings(c),
                                count, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 4, 6])  # mem, gen, hybrid
def test_draw_batch_builds_the_paper_minima(x64, index):
  c = presets.get_config()
  fam = c.families[index]
  batch = _batch(jax.random.PRNGKey(index), fam, c, 3)
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
    _batch(jax.random.PRNGKey(0), bad, c, 1)
  bad = c.families[4].copy_and_resolve_references()
  bad.ps = (1, 2)  # 3 clusters
  with pytest.raises(ValueError, match="p_k per cluster"):
    _batch(jax.random.PRNGKey(0), bad, c, 1)


@pytest.mark.slow
def test_certify_flags_premises_and_certifies_where_they_hold(x64):
  c = presets.get_config()
  fam = c.families[0]
  good = _batch(jax.random.PRNGKey(0), fam, c, 2, beta=-1 / 3, sigma=0.05)
  bad = _batch(jax.random.PRNGKey(1), fam, c, 2, beta=0.3, sigma=0.05)
  s = experiments.settings(c)
  g, b = experiments.certify(good, s), experiments.certify(bad, s)
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
def test_smoke_preset_end_to_end(tmp_path):
  with jax.enable_x64(True):
    c = presets.get_config("smoke")
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
  d5 = analysis.d5_displays(rate(-0.54, 0.05), rate(-1.08, 0.1), rate(-1.07, 0.15))
  assert not d5["first_display_consistent"] and d5["sqrt_form_consistent"] and d5["second_display_consistent"]
  assert "lacks a square root" in d5["verdict"]
  # a deviation that really went as 1/n_k would satisfy the first display as transcribed
  d5 = analysis.d5_displays(rate(-1.0, 0.05), rate(-2.0, 0.1), rate(-2.0, 0.2))
  assert d5["first_display_consistent"] and not d5["sqrt_form_consistent"] and not d5["second_display_consistent"]
  assert "lacks" not in d5["verdict"]


@pytest.mark.slow
def test_unit_birth_ok_is_unit_birth_passes_and_trivial_without_padding(x64):
  c = presets.get_config()
  fam = c.families[0]
  batch = _batch(jax.random.PRNGKey(3), fam, c, 4, beta=-0.05, sigma=0.1)
  ok = experiments.unit_birth_ok(batch, experiments.settings(c))
  for b in range(4):  # the app's call is the package's test, instance by instance
    assert ok[b] == unit_birth.passes(batch.X[b], batch.sigma[b], batch.lam[b],
                                      jax.random.fold_in(jax.random.PRNGKey(c.seed), b))
  # at λ = 0 every padded W_mem is a saddle (g < 0 along c_i ≈ σ); at p = n there is no zero column
  zero = _batch(jax.random.PRNGKey(3), fam, c, 2, beta=-0.05, sigma=0.1, lam_frac=0.0)
  assert not experiments.unit_birth_ok(zero, experiments.settings(c)).any()
  c.mem_pad = 0
  unpadded = _batch(jax.random.PRNGKey(3), fam, c, 2, beta=-0.05, sigma=0.1, lam_frac=0.0)
  assert experiments.unit_birth_ok(unpadded, experiments.settings(c)).all()
  cert = experiments.certify(unpadded, experiments.settings(c))
  assert (cert["cert_ok"] == cert["frozen_ok"]).all()


def test_residual_windows_fit_each_window_like_polyfit():
  rng = np.random.default_rng(1)
  x = rng.uniform(0, 8, 400)
  y = np.exp(-np.where(x < 1, 3.0 * x, 3.0 + 1.0 * (x - 1)) + 0.01 * rng.normal(size=400))  # slope 3, then 1
  y[x > 7] = 0.0  # censored: residual exactly 0
  res = {"families": ["f"], "f": dict(cert_pre_ok=np.ones(400, bool), cert_gamma_op=np.sqrt(x), sigma=np.ones(400),
                                      res_dist2=y)}
  w = analysis.residual_windows(res, edges=(0.0, 1.0, 4.0, np.inf))
  for win in w:
    inside = (x >= win["lo"]) & (x < win["hi"]) & (y > 0)
    slope = np.polyfit(x[inside], np.log(y[inside]), 1)[0]
    np.testing.assert_allclose(win["c"], -slope, rtol=1e-10)
    in_window = (x >= win["lo"]) & (x < win["hi"])
    assert win["fitted"] == inside.sum() and win["zero_residual"] == np.sum(in_window & (y == 0))
  np.testing.assert_allclose([w[0]["c"], w[1]["c"], w[2]["c"]], [3.0, 1.0, 1.0], atol=0.05)


def test_verdicts_of_experiments_that_did_not_run_say_not_run():
  saved = experiments.Saved(res=None, cor33=None, jacobian=None, limits=None, birth=None, experiments=(),
                            config={})
  V = analysis.verdicts(saved, experiments.settings(presets.get_config("smoke")))
  assert [k for k, _, _ in analysis.CLAIMS] == list(V)
  for name, needs, _ in analysis.CLAIMS:
    assert V[name] == {"verdict": "not run", "needs": list(needs)}


@pytest.mark.slow
def test_saved_committed_run_gives_the_committed_verdicts(tmp_path):
  """The verdicts recomputed from results/margin_check equal results/theory_verdicts.json (the claim
  functions and relu_dae.stats reproduce the old monolithic verdicts exactly)."""
  saved = experiments.load(str(ROOT / "results" / "margin_check" / "margin_check"))
  assert saved.experiments == experiments.EXPERIMENTS
  with jax.enable_x64(True):
    V = analysis.verdicts(saved, experiments.settings(presets.get_config("default")))
  from relu_dae import results
  results.save_json(str(tmp_path / "v.json"), V)  # as the app writes it (NaN, inf -> null)
  committed = json.loads((ROOT / "results" / "theory_verdicts.json").read_text())
  assert json.loads((tmp_path / "v.json").read_text()) == committed


def _cli(*args, timeout=120):
  return subprocess.run([sys.executable, "-m", "sims.margin_check", *args], capture_output=True, text=True,
                        timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_experiments_flag_runs_only_those_and_workdir_records_refuse_other_settings(tmp_path):
  work = tmp_path / "work"
  smoke = "--config=sims/configs/margin_check.py:smoke"
  out = _cli(smoke, "--experiments=jacobian", f"--workdir={work}", timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  saved = experiments.load(str(work / "margin_check"))
  assert saved.experiments == ("jacobian",) and saved.res is None and saved.jacobian is not None
  V = json.loads((work / "theory_verdicts.json").read_text())
  assert V["§3.7 Jacobian rank"]["verdict"] != "not run"
  assert V["instances"]["verdict"] == "not run" and V["breaking points"]["verdict"] == "not run"
  assert sorted(p.name for p in (work / "figures").iterdir()) == ["jacobian_spectra.png"]
  # another config in the same workdir: refused before any work, naming the field and --overwrite
  stamp = (work / "margin_check.npz").stat().st_mtime
  out = _cli(smoke, "--experiments=jacobian", "--config.jacobian.steps=50", f"--workdir={work}")
  assert out.returncode == 1 and "jacobian.steps" in out.stderr and "--overwrite" in out.stderr, out.stderr[-2000:]
  assert (work / "margin_check.npz").stat().st_mtime == stamp
  out = _cli(smoke, "--experiments=jacobian", "--config.jacobian.steps=50", f"--workdir={work}", "--overwrite",
             timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  assert json.loads((work / "run.json").read_text())["settings"]["jacobian"]["steps"] == 50
