"""Figures of ``sims/phase_diagram.py``, drawn from its saved results only (``--plot_only``)."""

from __future__ import annotations

import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
import numpy as np  # noqa: E402

import relu_dae as rd  # noqa: E402
from relu_dae import metrics  # noqa: E402
from relu_dae import plotting  # noqa: E402
from relu_dae import sweep  # noqa: E402

SCORES = ("stored", "nearer_emp", "copies", "gap")
LABELS = {"stored": "stored samples", "nearer_emp": "f nearer f_emp than f_gt",
          "copies": "copies (NN ratio < 1/3)", "gap": "train/test loss gap"}
MARKERS = {"stored": "o", "nearer_emp": "s", "copies": "^", "gap": "D"}
REGIME_COLORS = ListedColormap(["#c0392b", "#8e44ad", "#2e86c1"])  # memorization, hybrid, generalization
SEED = sweep.AXES.index("seed")


def _load(workdir, experiment):
  arrays, meta = rd.results.load(os.path.join(workdir, experiment))
  return arrays, meta


def _grid(arrays, meta, name):
  """Seed-averaged metric on the grid: axes (σ, λ, p, duplicated, data[, extra], n)."""
  g = arrays[name].reshape(tuple(meta["grid_shape"]) + arrays[name].shape[1:])
  with warnings.catch_warnings():  # all-NaN cells (absent clusters, failed runs) stay NaN
    warnings.simplefilter("ignore", RuntimeWarning)
    g = np.nanmean(g, axis=SEED)
  return np.moveaxis(g, 0, -1)


def _regime_mode(arrays, meta):
  """Most frequent regime over seeds, n axis last."""
  g = arrays["regime"].reshape(meta["grid_shape"]).astype(float)
  g = np.moveaxis(g, SEED, -1)
  counts = np.stack([(g == r).sum(-1) for r in range(3)], -1)
  mode = np.where(counts.sum(-1) > 0, counts.argmax(-1), np.nan)
  return np.moveaxis(mode, 0, -1)


def _critical(arrays, meta, name):
  n = np.asarray(meta["grid"]["n"], float)
  return metrics.critical_n(n, _grid(arrays, meta, name), 0.5, absolute=True)


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
    crit = select(_critical(arrays, meta, score))
    ax.plot(_n_to_x(n, crit), np.arange(rows), MARKERS[score], mfc="none", mec="white", ms=7, mew=1.4,
            label=f"n* ({LABELS[score]})")


def _regime_map(ax, mode, n, ylabels, ylabel, title):
  """Categorical map of regime codes (0, 1, 2); returns legend handles for the three regimes."""
  _heatmap(ax, mode, n, ylabels, title=title, ylabel=ylabel, cmap=REGIME_COLORS, vmin=-0.5, vmax=2.5)
  return [plt.Rectangle((0, 0), 1, 1, color=REGIME_COLORS(i)) for i in range(3)]


def _bottom_legend(fig, ax, regime_handles):
  """One legend under the figure: the n* markers and theory lines of ``ax``, then the regimes."""
  handles, labels = ax.get_legend_handles_labels()
  handles = handles + list(regime_handles)
  labels = labels + list(metrics.REGIME_NAMES)
  leg = fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
  for h in leg.legend_handles:
    if hasattr(h, "set_markeredgecolor"):
      h.set_markeredgecolor("black")


def _theory_line_n_equals(ax, n, value, label):
  x = _n_to_x(n, np.array([value], float))[0]
  if np.isfinite(x):
    ax.axvline(x, color="cyan", ls="--", lw=1.2, label=label)


def draw_n_sigma(workdir, figdir):
  arrays, meta = _load(workdir, "n_sigma")
  n, sigma = meta["grid"]["n"], meta["grid"]["sigma"]
  p = meta["grid"]["p"][0]
  families = meta["families"]
  fig, axes = plt.subplots(2, len(families), figsize=(5.2 * len(families), 8.6), squeeze=False)
  stored = _grid(arrays, meta, "stored")[:, 0, 0, 0, :, :]  # (σ, data, n)
  mode = _regime_mode(arrays, meta)[:, 0, 0, 0, :, :]
  for a, fam in enumerate(families):
    im = _heatmap(axes[0, a], stored[:, a], n, sigma, title=f"{fam}: fraction of samples stored",
                  ylabel="noise level σ")
    _overlay_critical(axes[0, a], arrays, meta, len(sigma), lambda c, a=a: c[:, 0, 0, 0, a])
    _theory_line_n_equals(axes[0, a], n, p, f"n = p = {p} (Cor. 3.2 needs p ≥ n)")
    handles = _regime_map(axes[1, a], mode[:, a], n, sigma, "noise level σ", f"{fam}: regime (mode over seeds)")
    _theory_line_n_equals(axes[1, a], n, p, f"n = p = {p}")
  fig.subplots_adjust(hspace=0.45, bottom=0.16, right=0.88)
  fig.colorbar(im, cax=fig.add_axes((0.905, 0.58, 0.015, 0.3)), label="stored fraction")
  _bottom_legend(fig, axes[0, -1], handles)
  fig.suptitle(f"Memorization → generalization over n × σ (d={meta['config']['d']}, p={p}, "
               f"{len(meta['grid']['seed'])} seeds)", fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "phase_n_sigma.png"))


def draw_n_p(workdir, figdir):
  arrays, meta = _load(workdir, "n_p")
  n, ps = meta["grid"]["n"], meta["grid"]["p"]
  fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
  stored = _grid(arrays, meta, "stored")[0, 0, :, 0, 0, :]  # (p, n)
  im = _heatmap(axes[0], stored, n, ps, title=f"{meta['families'][0]}: fraction of samples stored",
                ylabel="hidden units p")
  _overlay_critical(axes[0], arrays, meta, len(ps), lambda c: c[0, 0, :, 0, 0])
  axes[0].plot(_n_to_x(n, np.asarray(ps, float)), np.arange(len(ps)), "c--", lw=1.2, label="n = p (Cor. 3.2)")
  fig.colorbar(im, ax=axes[0], label="stored fraction")
  mode = _regime_mode(arrays, meta)[0, 0, :, 0, 0, :]
  handles = _regime_map(axes[1], mode, n, ps, "hidden units p", "regime (mode over seeds)")
  axes[1].plot(_n_to_x(n, np.asarray(ps, float)), np.arange(len(ps)), "c--", lw=1.2)
  fig.subplots_adjust(bottom=0.3)
  _bottom_legend(fig, axes[0], handles)
  fig.suptitle(f"n × width p at σ={meta['grid']['sigma'][0]:g}", fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "phase_n_p.png"))


def draw_hybrid(workdir, figdir):
  arrays, meta = _load(workdir, "hybrid")
  n, dup = meta["grid"]["n"], meta["grid"]["duplicated"]
  K = meta["config"]["hybrid"]["K"]
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
  mode = _regime_mode(arrays, meta)[0, 0, 0, :, 0, :]  # (dup, n)
  handles = _regime_map(axes[0], mode, n, dup, "fraction of clusters duplicated",
                        f"regime (K={K}; mode over seeds)")
  axes[0].legend(handles, metrics.REGIME_NAMES, fontsize=7, loc="upper right")
  per = _grid(arrays, meta, "per_cluster_stored")[0, 0, 0, :, 0]  # (dup, K_max, n)
  num_dup = np.round(np.asarray(dup) * K).astype(int)
  dup_part = np.array([[np.nanmean(per[i, :m, j]) if m else np.nan for j in range(len(n))]
                       for i, m in enumerate(num_dup)])
  rest = np.array([[np.nanmean(per[i, m:K, j]) if m < K else np.nan for j in range(len(n))]
                   for i, m in enumerate(num_dup)])
  _heatmap(axes[1], dup_part, n, dup, title="duplicated clusters: stored fraction", ylabel="")
  im = _heatmap(axes[2], rest, n, dup, title="distinct-sample clusters: stored fraction", ylabel="")
  fig.colorbar(im, ax=axes[1:].tolist(), label="stored fraction")
  fig.suptitle("Hybrid regime (Cor. 3.4): duplicated clusters stay memorized while the others generalize",
               fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "phase_hybrid.png"))


def critical_summary(workdir) -> dict:
  """n* per score against p (n_p), K and α (alpha_K), with power-law fits."""
  out = {}
  arrays, meta = _load(workdir, "n_p")
  ps = np.asarray(meta["grid"]["p"], float)
  out["p"] = {"x": ps.tolist(), **{s: _critical(arrays, meta, s)[0, 0, :, 0, 0].tolist() for s in SCORES}}
  arrays, meta = _load(workdir, "alpha_K")
  axes = meta["family_axes"]
  alphas, Ks = np.asarray(axes["alpha"], float), np.asarray(axes["K"], float)
  crit = {s: _critical(arrays, meta, s)[0, 0, 0, 0, :] for s in SCORES}
  ref_alpha = float(meta["config"]["n_sigma"]["alpha"])
  ref_K = int(meta["config"]["n_sigma"]["K"])
  sel_K = np.isclose(alphas, ref_alpha)
  sel_a = Ks == ref_K
  out["K"] = {"x": Ks[sel_K].tolist(), "alpha": ref_alpha, **{s: crit[s][sel_K].tolist() for s in SCORES}}
  out["alpha"] = {"x": alphas[sel_a].tolist(), "K": ref_K, **{s: crit[s][sel_a].tolist() for s in SCORES}}
  out["alpha_K_table"] = {"alpha": alphas.tolist(), "K": Ks.tolist(), **{s: crit[s].tolist() for s in SCORES}}
  for axis in ("p", "K", "alpha"):
    out[axis]["fits"] = {}
    for s in SCORES:
      e, a, ci = metrics.power_law_fit(np.asarray(out[axis]["x"]), np.asarray(out[axis][s], float))
      out[axis]["fits"][s] = {"exponent": e, "prefactor": a, "ci95": ci}
  return out


def draw_critical(workdir, figdir):
  summary = critical_summary(workdir)
  fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
  titles = {"p": "n* against width p", "K": f"n* against clusters K (α={summary['K']['alpha']:g})",
            "alpha": f"n* against within-cluster spread α (K={summary['alpha']['K']})"}
  xlabels = {"p": "hidden units p", "K": "clusters K", "alpha": "α (Def. 3.1)"}
  for ax, axis in zip(axes, ("p", "K", "alpha")):
    x = np.asarray(summary[axis]["x"])
    for s in SCORES:
      y = np.asarray(summary[axis][s], float)
      fit = summary[axis]["fits"][s]
      line, = ax.plot(x, y, MARKERS[s], label=LABELS[s])
      if np.isfinite(fit["exponent"]):
        xx = np.geomspace(x.min(), x.max(), 50)
        ax.plot(xx, fit["prefactor"] * xx ** fit["exponent"], "--", color=line.get_color(),
                label=f"  fit n* ∝ x^{fit['exponent']:.2f} ± {fit['ci95']:.2f}")
    if axis == "p":
      ax.plot(x, x, "k:", label="n = p")
    found = [np.asarray(summary[axis][s], float) for s in SCORES]
    if not np.any(np.isfinite(np.concatenate(found))):
      ax.text(0.5, 0.5, "no score crosses 1/2\nwithin the grid of n", ha="center", transform=ax.transAxes)
    else:
      ax.set_yscale("log", base=2)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabels[axis])
    ax.set_ylabel("critical n* (score crosses 1/2)")
    ax.set_title(titles[axis], fontsize=9)
    ax.legend(fontsize=6)
  fig.suptitle("Where memorization gives way to generalization, per transition metric", fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "critical_n.png")), summary


def draw_all(workdir, figdir) -> list[str]:
  """Draws the four figures from ``workdir``; also writes ``workdir/critical_summary.json``."""
  paths = [draw_n_sigma(workdir, figdir), draw_n_p(workdir, figdir), draw_hybrid(workdir, figdir)]
  path, summary = draw_critical(workdir, figdir)
  rd.results.save_json(os.path.join(workdir, "critical_summary.json"), summary)
  return paths + [path]
