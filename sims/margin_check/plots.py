"""Figures of ``sims.margin_check`` (matplotlib Agg; imported only when drawing), from a saved run.

* ``margin_residual.png`` (needs ``families``): Thm 3.1's residual vs (γ_op/σ)² with the one fit and
  the window slopes; Adam from a random init vs γ_op/σ.
* ``cor32_cor33.png`` (``families`` and ``cor33``): Cor. 3.2's loss, Cor. 3.3's test loss, rates in n_k.
* ``jacobian_spectra.png`` (``jacobian``): s_j/s_1 of ∂f/∂x at training points.
* ``separability_limits.png`` (``limits``): the breaking points.

A figure whose experiments did not run is not drawn. A run of another preset than ``default``
says so in every figure's title.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sims.margin_check import analysis

__all__ = ["cor_figure", "draw_all", "jacobian_figure", "limits_figure", "residual_figure"]

_KIND_COLORS = {"mem": "tab:red", "gen": "tab:blue", "hybrid": "tab:purple"}
_FLOOR = 1e-20  # residuals below this (no draw flipped a mask) are drawn on the floor


def _save(fig, figdir: str, name: str, preset: str = "default") -> str:
  if preset != "default":  # a smoke (or other) run must not pass for the committed one
    fig.suptitle(f"{preset} preset (not the committed default run)", fontsize=10, color="tab:red")
  os.makedirs(figdir, exist_ok=True)
  path = os.path.join(figdir, name)
  fig.savefig(path, dpi=130, bbox_inches="tight")
  plt.close(fig)
  return path


def _kind(name: str) -> str:
  return name.split()[0]


def residual_figure(res, fit, figdir: str, windows=(), preset: str = "default") -> str:
  """Thm 3.1: distance of the true minimum from W* vs (γ_op/σ)², with the fitted C e^{−cγ²/σ²} and
  the effective slope of each window of (γ_op/σ)² (``analysis.residual_windows``), over the
  premise-holding instances of every family."""
  fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
  for fam in res["families"]:
    r = res[fam]
    ok = r["cert_pre_ok"]
    x = (r["cert_gamma_op"][ok] / r["sigma"][ok]) ** 2
    y = r["res_dist2"][ok]
    moved = y > _FLOOR
    color = _KIND_COLORS[_kind(fam)]
    ax.scatter(x[moved], y[moved], s=8, alpha=0.5, color=color, label=fam)
    ax.scatter(x[~moved], np.full((~moved).sum(), _FLOOR), s=10, marker="v", color=color, alpha=0.3)
    tr = r["train_gram"]
    okt = ok[:len(tr)]
    ax2.scatter((r["cert_gamma_op"][:len(tr)][okt] / r["sigma"][:len(tr)][okt]), tr[okt], s=10, alpha=0.6, color=color)
  def fitted_x(r):  # (γ_op/σ)² of the premise-holding instances that moved
    return (r["cert_gamma_op"] / r["sigma"])[r["cert_pre_ok"] & (r["res_dist2"] > _FLOOR)] ** 2

  xmax = max([np.max(fitted_x(res[f]), initial=1.0) for f in res["families"]]) * 1.5
  if np.isfinite(fit.slope):
    xs = np.linspace(0, xmax, 200)
    ax.plot(xs, np.exp(fit.intercept + fit.slope * xs), "k-",
            label=f"one fit C e^(−c γ²/σ²): c = {-fit.slope:.2f} ± {fit.slope_ci:.2f}", alpha=0.6)
  for w in windows:  # the curvature: each window's own slope, drawn over the window
    if np.isfinite(w["c"]) and w["lo"] < xmax:
      xs = np.linspace(w["lo"], min(w["hi"], xmax), 50)
      ax.plot(xs, np.exp(w["log_C"] - w["c"] * xs), "-", color="crimson", lw=2,
              label=f"[{w['lo']:g}, {w['hi']:g}): c = {w['c']:.2f} ± {w['c_ci95']:.2f} ({w['fitted']} pts)")
  ax.set_yscale("log")
  ax.set_xlim(-0.02 * xmax, xmax)
  ax.set_ylim(_FLOOR / 3, None)
  ax.set_xlabel("(γ_op / σ)²")
  ax.set_ylabel("‖Ŵ − W*‖²_F / ‖W*‖²_F  (minimum of Eq. (6))")
  ax.set_title("Thm 3.1 residual (▼: exactly 0, no draw flips a mask;\n"
               "instances with larger γ/σ, all exactly 0, are off the right edge)", fontsize=9)
  ax.legend(fontsize=6, loc="upper right")
  ax2.set_yscale("log")
  ax2.axhline(0.1, color="gray", ls="--", lw=0.8)
  ax2.set_xlabel("γ_op / σ")
  ax2.set_ylabel("Gram distance of trained W to W*")
  ax2.set_title("Adam from a random init (below dashed: lands at W*)")
  return _save(fig, figdir, "margin_residual.png", preset)


def cor_figure(res, cor33, figdir: str, preset: str = "default") -> str:
  """Cor. 3.2 measured/predicted loss; Cor. 3.3 test loss and limit deviation vs n_k."""
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
  ax = axes[0]
  for fam in res["families"]:
    if _kind(fam) != "mem":
      continue
    r = res[fam]
    ok = r["cert_pre_ok"]
    ratio = r["res_loss"][ok] / r["cert_frozen_loss"][ok]
    ax.scatter(r["cert_gamma_op"][ok] / r["sigma"][ok], ratio, s=8, alpha=0.6, label=fam)
  ax.axhline(1.0, color="k", lw=0.8)
  ax.set_xscale("log")
  ax.set_xlim(1e-2, None)
  ax.set_xlabel("γ_op / σ")
  ax.set_ylabel("Eq. (6) at its minimum / Cor. 3.2 prediction")
  ax.set_title("Cor. 3.2: memorization loss")
  ax.legend(fontsize=7)
  n_k = cor33["n_k"]
  ax = axes[1]
  for key, label in (("test", "W_gen, exact in ε (frozen masks)"), ("test_mc", "W_gen, Monte Carlo Eq. (6)")):
    m, s = np.nanmean(cor33[key], axis=0), np.nanstd(cor33[key], axis=0)
    ax.errorbar(n_k, m, yerr=s, marker="o", ms=4, capsize=2, label=label)
  if np.isfinite(cor33["train_test"]).any():
    ax.errorbar(cor33["train_n_k"], np.nanmean(cor33["train_test"], axis=0),
                yerr=np.nanstd(cor33["train_test"], axis=0), marker="s", ls="none", capsize=2,
                label="trained from random init")
  ax.axhline(cor33["pop_risk"], color="k", ls="--", label="Cor. 3.3 limit, full Wiener risk")
  ax.axhline(cor33["pop_bias"], color="gray", ls=":", label="Cor. 3.3 bracket as printed (bias only)")
  ax.set_xscale("log")
  ax.set_xlabel("samples per cluster n_k")
  ax.set_ylabel("test loss (per sample)")
  ax.set_title("Cor. 3.3: test loss")
  ax.legend(fontsize=7)
  ax = axes[2]
  excess = np.nanmean(cor33["test"], axis=0) - cor33["limit_test"]
  dev = np.nanmean(cor33["dev"], axis=0)
  ax.loglog(n_k, np.abs(excess), "o-", label="test loss − limit denoiser's loss (same test points)")
  ax.loglog(n_k, dev, "s-", label="‖W_Xk W_Xkᵀ − limit‖_F / ‖limit‖_F")
  ref = n_k.astype(float)
  ax.loglog(ref, abs(excess[0]) * ref[0] / ref, "k:", lw=0.8, label="∝ 1/n_k")
  ax.loglog(ref, dev[0] * np.sqrt(ref[0] / ref), "k--", lw=0.8, label="∝ 1/√n_k")
  ax.set_xlabel("samples per cluster n_k")
  ax.set_ylabel("deviation from the n_k → ∞ limit")
  ax.set_title("rates in n_k (Cor. 3.3, D.5)")
  ax.legend(fontsize=7)
  return _save(fig, figdir, "cor32_cor33.png", preset)


def jacobian_figure(jac, figdir: str, preset: str = "default") -> str:
  """§3.7: normalised singular values of ∂f/∂x at training points."""
  fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
  for ax, name, title in ((axes[0], "mem", "memorizing model (Cor. 3.2)"),
                          (axes[1], "gen", "generalizing model (Cor. 3.3)")):
    sv = jac[f"{name}_sv"]
    sv = sv / sv[:, :1]
    k = min(12, sv.shape[1])
    idx = np.arange(1, k + 1)
    star = jac[f"{name}_sv_star"]
    star = star / star[:, :1]
    if name == "gen":
      for c, (p, u) in enumerate(zip(jac["gen_ps"], jac["gen_units"])):
        rows = jac["gen_labels"] == c
        ax.plot(idx, sv[rows][:, :k].T, color=f"C{c}", alpha=0.15, lw=0.8)
        ax.plot(idx, np.median(sv[rows][:, :k], axis=0), color=f"C{c}", lw=2,
                label=f"cluster {c}: trained, {u} units")
        ax.plot(idx + 0.1 * (c - 1), np.median(star[rows][:, :k], axis=0), color=f"C{c}", ls="--", lw=1,
                label=f"cluster {c}: constructed W*, p_k = {p}")
    else:
      ax.plot(idx, sv[:, :k].T, color="tab:red", alpha=0.3, lw=0.8)
      ax.plot(idx, np.median(sv[:, :k], axis=0), color="tab:red", lw=2, label="trained (median over samples)")
      ax.plot(idx, np.median(star[:, :k], axis=0), "k--", lw=1, label="constructed W* (median)")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 2)
    ax.set_xlabel("singular value index j")
    ax.set_title(title)
    ax.legend(fontsize=7)
  axes[0].set_ylabel("s_j / s_1 of the denoiser Jacobian at training points")
  return _save(fig, figdir, "jacobian_spectra.png", preset)


def limits_figure(lim, figdir: str, preset: str = "default") -> str:
  """Breaking points: certificates, residuals and trained solutions beyond the premises."""
  fig, axes = plt.subplots(2, 2, figsize=(11, 8))
  for ax, axis, xlabel in ((axes[0, 0], "beta", "β (cosine between cluster means)"),
                           (axes[0, 1], "alpha", "α (within-cluster spread)")):
    v = lim[f"{axis}_values"]
    ax.plot(v, np.mean(lim[f"{axis}_pre_ok"], axis=1), "o-", label="premises hold (β<0, γ_op>0)")
    ax.plot(v, np.mean(lim[f"{axis}_cert_ok"], axis=1), "s--", label="W* certified local minimum")
    ax.plot(v, np.nanmean(lim[f"{axis}_train_gram"] < 0.1, axis=1), "^:", label="Adam from random init lands at W*")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of instances")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    ax.set_title(f"generalization instances vs {axis}")
  ax = axes[1, 0]
  v = lim["sigma_values"]
  ax.loglog(v, np.nanmedian(lim["sigma_residual"], axis=1) + 1e-20, "o-", label="‖Ŵ−W*‖²/‖W*‖² (Eq. (6) minimum)")
  ax.loglog(v, np.nanmedian(lim["sigma_train_gram"], axis=1), "s--", label="Gram distance, Adam from random init")
  gam = np.nanmedian(lim["sigma_gamma_op"])
  ax.axvline(gam / 2.0, color="gray", ls=":", label=f"σ = median γ_op (= {gam / 2.0:.2f}·norm)")
  ax.set_xlabel("σ / norm")
  ax.set_ylabel("distance to W* (median)")
  ax.set_title("σ ≫ γ: the residual takes over (premises-hold instances)")
  ax.legend(fontsize=7)
  ax = axes[1, 1]
  v = lim["lam_frac_values"]
  # nλ ≥ min‖x_i‖² has no real Eq. (9): those rows are all NaN and are left out of the line
  star = np.array([np.median(r) if np.isfinite(r).all() else np.nan for r in lim["lam_frac_star_norm2"]])
  ax.plot(v, np.nanmedian(lim["lam_frac_trained_norm2"], axis=1), "o-", label="trained ‖W‖²_F (median)")
  ax.plot(v, star, "k--", label="constructed ‖W_mem‖²_F (Eq. 9)")
  ax.axvline(1.0, color="gray", ls=":", label="nλ = min ‖x_i‖²")
  ax.set_xlabel("nλ / min_i ‖x_i‖²")
  ax.set_ylabel("‖W‖²_F")
  ax.set_title("memorization vs weight decay (Cor. 3.2's premise)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  return _save(fig, figdir, "separability_limits.png", preset)


def draw_all(saved, figdir: str) -> list[str]:
  """Every figure whose experiments ran in ``saved`` (``experiments.Saved``); returns their paths."""
  preset = saved.config.get("preset", "default")
  done, paths = saved.experiments, []
  if "families" in done:
    paths.append(residual_figure(saved.res, analysis.residual_fit(saved.res), figdir,
                                 analysis.residual_windows(saved.res), preset))
  if "families" in done and "cor33" in done:
    paths.append(cor_figure(saved.res, saved.cor33, figdir, preset))
  if "jacobian" in done:
    paths.append(jacobian_figure(saved.jacobian, figdir, preset))
  if "limits" in done:
    paths.append(limits_figure(saved.limits, figdir, preset))
  return paths
