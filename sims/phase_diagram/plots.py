"""Figures of the phase diagram, drawn from its saved results only (so ``--plot_only`` can redraw
them): ``phase_n_sigma.png``, ``phase_n_p.png``, ``phase_hybrid.png``, ``critical_n.png``.

A figure of a preset other than ``default`` names its preset in the title.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
import numpy as np

import relu_dae as rd
from relu_dae import metrics
from relu_dae import plotting
from sims.phase_diagram import analysis
from sims.phase_diagram.analysis import SCORES

__all__ = ["FIGURES", "draw_all", "draw_critical", "draw_hybrid", "draw_n_p", "draw_n_sigma"]

LABELS = {"stored": "stored samples", "nearer_emp": "f nearer f_emp than f_gt",
          "copies": "copies (NN ratio < 1/3)", "gap": "train/test loss gap"}
MARKERS = {"stored": "o", "nearer_emp": "s", "copies": "^", "gap": "D"}
# memorization, hybrid, generalization, mixed (no strict majority of seeds)
REGIME_COLORS = ListedColormap(["#c0392b", "#8e44ad", "#2e86c1", "#bdbdbd"])
REGIME_LABELS = metrics.REGIME_NAMES + ("mixed (no majority)",)


def _preset(meta) -> str:
  """`` [<preset> preset]`` for a figure of any preset but ``default`` (empty for it)."""
  preset = meta["config"].get("preset", "default")
  return "" if preset == "default" else f" [{preset} preset]"


def _heatmap(ax, values, n, ylabels, *, title, ylabel, cmap="magma", vmin=0.0, vmax=1.0):
  """``values (rows, len(n))`` as cells over training-set size n (columns) and ``ylabels`` (rows)."""
  im = ax.imshow(values, origin="lower", aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                 extent=(-0.5, len(n) - 0.5, -0.5, len(ylabels) - 0.5), interpolation="nearest")
  ax.set_xticks(range(len(n)), [str(v) for v in n])
  ax.set_yticks(range(len(ylabels)), [f"{v:g}" for v in ylabels])
  ax.set_xlabel("training samples n")
  ax.set_ylabel(ylabel)
  ax.set_title(title, fontsize=9)
  return im


def _n_to_x(n_grid, values):
  """Positions of n values on a heatmap whose columns are ``n_grid`` (log-n interpolation)."""
  return np.interp(np.log(values), np.log(np.asarray(n_grid, float)), np.arange(len(n_grid)),
                   left=np.nan, right=np.nan)


def _overlay_critical(ax, arrays, meta, rows, select):
  n = meta["grid"]["n"]
  for score in SCORES:
    crit = select(analysis.critical(arrays, meta, score))
    ax.plot(_n_to_x(n, crit), np.arange(rows), MARKERS[score], mfc="none", mec="white", ms=7, mew=1.4,
            label=f"n* ({LABELS[score]})")


def _regime_map(ax, mode, n, ylabels, ylabel, title):
  """Categorical map of regime codes (0, 1, 2, mixed); returns legend handles for them."""
  _heatmap(ax, mode, n, ylabels, title=title, ylabel=ylabel, cmap=REGIME_COLORS, vmin=-0.5, vmax=3.5)
  return [plt.Rectangle((0, 0), 1, 1, color=REGIME_COLORS(i)) for i in range(4)]


def _hatch(ax, mask, failed=None):
  """Hatches cells ``mask (rows, len(n))`` whose runs did not all converge (never read as a regime)
  and writes the number of failed seeds into cells ``failed (rows, len(n))`` > 0."""
  for r, c in zip(*np.nonzero(np.asarray(mask))):
    ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, hatch="////", ec="white", lw=0))
  if failed is not None:
    for r, c in zip(*np.nonzero(np.asarray(failed) > 0)):
      ax.text(c, r, f"{int(failed[r, c])}✗", ha="center", va="center", fontsize=7, color="white",
              fontweight="bold")


def _bottom_legend(fig, ax, regime_handles):
  """One legend under the figure: the n* markers and theory lines of ``ax``, then the regimes."""
  handles, labels = ax.get_legend_handles_labels()
  handles = handles + list(regime_handles)
  labels = labels + list(REGIME_LABELS)[:len(regime_handles)]
  handles.append(plt.Rectangle((0, 0), 1, 1, fill=False, hatch="////", ec="black", lw=0))
  labels.append("some seed unconverged / failed (k✗: k seeds failed)")
  leg = fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
  for h in leg.legend_handles:
    if hasattr(h, "set_markeredgecolor"):
      h.set_markeredgecolor("black")


def _theory_line_n_equals(ax, n, value, label):
  x = _n_to_x(n, np.array([value], float))[0]
  if np.isfinite(x):
    ax.axvline(x, color="cyan", ls="--", lw=1.2, label=label)


def draw_n_sigma(workdir, figdir):
  arrays, meta = analysis.load(workdir, "n_sigma")
  n, sigma = meta["grid"]["n"], meta["grid"]["sigma"]
  p = meta["grid"]["p"][0]
  families = meta["families"]
  fig, axes = plt.subplots(2, len(families), figsize=(5.2 * len(families), 8.6), squeeze=False)
  stored = analysis.seed_mean(arrays, meta, "stored")[:, 0, 0, 0, :, :]  # (σ, data, n)
  mode = analysis.regime_mode(arrays, meta)[:, 0, 0, 0, :, :]
  unsettled = analysis.unsettled(arrays, meta)[:, 0, 0, 0, :, :]
  failed = analysis.failed_seeds(arrays, meta)[:, 0, 0, 0, :, :]
  for a, fam in enumerate(families):
    im = _heatmap(axes[0, a], stored[:, a], n, sigma, title=f"{fam}: fraction of samples stored",
                  ylabel="noise level σ")
    _overlay_critical(axes[0, a], arrays, meta, len(sigma), lambda c, a=a: c[:, 0, 0, 0, a])
    _theory_line_n_equals(axes[0, a], n, p, f"n = p = {p} (Cor. 3.2 needs p ≥ n)")
    handles = _regime_map(axes[1, a], mode[:, a], n, sigma, "noise level σ",
                          f"{fam}: regime (majority of seeds)")
    for ax in axes[:, a]:
      _hatch(ax, unsettled[:, a], failed[:, a])
    _theory_line_n_equals(axes[1, a], n, p, f"n = p = {p}")
  fig.subplots_adjust(hspace=0.45, bottom=0.16, right=0.88)
  fig.colorbar(im, cax=fig.add_axes((0.905, 0.58, 0.015, 0.3)), label="stored fraction")
  _bottom_legend(fig, axes[0, -1], handles)
  fig.suptitle(f"Memorization → generalization over n × σ (d={meta['config']['d']}, p={p}, "
               f"{len(meta['grid']['seed'])} seeds){_preset(meta)}", fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "phase_n_sigma.png"))


def draw_n_p(workdir, figdir):
  arrays, meta = analysis.load(workdir, "n_p")
  n, ps = meta["grid"]["n"], meta["grid"]["p"]
  fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
  stored = analysis.seed_mean(arrays, meta, "stored")[0, 0, :, 0, 0, :]  # (p, n)
  im = _heatmap(axes[0], stored, n, ps, title=f"{meta['families'][0]}: fraction of samples stored",
                ylabel="hidden units p")
  _overlay_critical(axes[0], arrays, meta, len(ps), lambda c: c[0, 0, :, 0, 0])
  axes[0].plot(_n_to_x(n, np.asarray(ps, float)), np.arange(len(ps)), "c--", lw=1.2, label="n = p (Cor. 3.2)")
  fig.colorbar(im, ax=axes[0], label="stored fraction")
  mode = analysis.regime_mode(arrays, meta)[0, 0, :, 0, 0, :]
  handles = _regime_map(axes[1], mode, n, ps, "hidden units p", "regime (majority of seeds)")
  for ax in axes:
    _hatch(ax, analysis.unsettled(arrays, meta)[0, 0, :, 0, 0, :],
           analysis.failed_seeds(arrays, meta)[0, 0, :, 0, 0, :])
  axes[1].plot(_n_to_x(n, np.asarray(ps, float)), np.arange(len(ps)), "c--", lw=1.2)
  fig.subplots_adjust(bottom=0.3)
  _bottom_legend(fig, axes[0], handles)
  fig.suptitle(f"n × width p at σ={meta['grid']['sigma'][0]:g}{_preset(meta)}", fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "phase_n_p.png"))


def draw_hybrid(workdir, figdir):
  arrays, meta = analysis.load(workdir, "hybrid")
  n, dup = meta["grid"]["n"], meta["grid"]["duplicated"]
  K = meta["config"]["hybrid"]["K"]
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
  mode = analysis.regime_mode(arrays, meta)[0, 0, 0, :, 0, :]  # (dup, n)
  handles = _regime_map(axes[0], mode, n, dup, "fraction of clusters duplicated",
                        f"regime (K={K}; majority of seeds)")
  _hatch(axes[0], analysis.unsettled(arrays, meta)[0, 0, 0, :, 0, :],
         analysis.failed_seeds(arrays, meta)[0, 0, 0, :, 0, :])
  axes[0].legend(handles, REGIME_LABELS, fontsize=7, loc="upper right")
  per = analysis.seed_mean(arrays, meta, "per_cluster_stored")[0, 0, 0, :, 0]  # (dup, K_max, n)
  num_dup = np.round(np.asarray(dup) * K).astype(int)
  dup_part = np.array([[np.nanmean(per[i, :m, j]) if m else np.nan for j in range(len(n))]
                       for i, m in enumerate(num_dup)])
  rest = np.array([[np.nanmean(per[i, m:K, j]) if m < K else np.nan for j in range(len(n))]
                   for i, m in enumerate(num_dup)])
  _heatmap(axes[1], dup_part, n, dup, title="duplicated clusters: stored fraction", ylabel="")
  im = _heatmap(axes[2], rest, n, dup, title="distinct-sample clusters: stored fraction", ylabel="")
  fig.colorbar(im, ax=axes[1:].tolist(), label="stored fraction")
  fig.suptitle("Hybrid regime (Cor. 3.4): duplicated clusters stay memorized while the others generalize"
               + _preset(meta), fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "phase_hybrid.png"))


def draw_critical(workdir, figdir):
  summary = analysis.critical_summary(workdir)
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
  titles = {"p": "n* against width p", "K": f"n* against clusters K (α={summary['K']['alpha']:g})",
            "alpha": f"n* against within-cluster spread α (K={summary['alpha']['K']})"}
  xlabels = {"p": "hidden units p", "K": "clusters K", "alpha": "α (Def. 3.1)"}
  for ax, axis in zip(axes, ("p", "K", "alpha")):
    x = np.asarray(summary[axis]["x"])
    for s in SCORES:
      e = summary[axis][s]
      y, lo, hi = (np.asarray(e[k], float) for k in ("n_star", "ci95_low", "ci95_high"))
      fit = summary[axis]["fits"][s]
      err = np.stack([np.where(np.isfinite(lo), y - lo, 0), np.where(np.isfinite(hi), hi - y, 0)])
      line = ax.errorbar(x, y, yerr=err, fmt=MARKERS[s], capsize=3, label=LABELS[s]).lines[0]
      if "capacity_bound" in e and np.any(e["capacity_bound"]):
        cap = np.asarray(e["capacity_bound"], bool)
        ax.plot(x[cap], y[cap], "x", color="k", ms=9, label="capacity-bound (n* ≥ p/0.5; not fitted)")
      if np.isfinite(fit["exponent"]):
        xx = np.geomspace(x.min(), x.max(), 50)
        ci = (f"[{fit['ci95_low']:.2f}, {fit['ci95_high']:.2f}]" if np.isfinite(fit["ci95_low"])
              else "interval unresolved")
        ax.plot(xx, fit["prefactor"] * xx ** fit["exponent"], "--", color=line.get_color(),
                label=f"  fit n* ∝ x^{fit['exponent']:.2f}, 95 % {ci}, {fit['points']} pts")
    if axis == "p":
      ax.plot(x, x, "k:", label="n = p")
    found = [np.asarray(summary[axis][s]["n_star"], float) for s in SCORES]
    if not np.any(np.isfinite(np.concatenate(found))):
      ax.text(0.5, 0.5, "no score crosses 1/2\nwithin the grid of n", ha="center", transform=ax.transAxes)
    else:
      ax.set_yscale("log", base=2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabels[axis])
    ax.set_ylabel("critical n* (seed-mean score crosses 1/2)")
    ax.set_title(titles[axis], fontsize=9)
    ax.legend(fontsize=6)
  _, meta = analysis.load(workdir, "n_p")
  fig.suptitle("Where memorization gives way to generalization, per transition metric" + _preset(meta), fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "critical_n.png")), summary


FIGURES = {"n_sigma": "phase_n_sigma.png", "n_p": "phase_n_p.png", "hybrid": "phase_hybrid.png"}


def draw_all(workdir: str, figdir: str, experiments=analysis.SUMMARY_EXPERIMENTS) -> list[str]:
  """Draws the figures of ``experiments`` from ``workdir``; returns their paths.

  ``critical_n.png`` (and ``workdir/critical_summary.json``) need all four experiments' results:
  they are drawn whenever ``workdir`` holds all four, whichever were run this time.
  """
  draw = {"n_sigma": draw_n_sigma, "n_p": draw_n_p, "hybrid": draw_hybrid}
  paths = [draw[e](workdir, figdir) for e in experiments if e in draw]
  if all(os.path.isfile(os.path.join(workdir, e + ".json")) for e in analysis.SUMMARY_EXPERIMENTS):
    path, summary = draw_critical(workdir, figdir)
    rd.results.save_json(os.path.join(workdir, "critical_summary.json"), summary)
    paths.append(path)
  return paths

