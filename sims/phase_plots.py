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
from relu_dae import boundaries  # noqa: E402
from relu_dae import metrics  # noqa: E402
from relu_dae import plotting  # noqa: E402
from relu_dae import sweep  # noqa: E402

SCORES = ("stored", "nearer_emp", "copies", "gap")
LABELS = {"stored": "stored samples", "nearer_emp": "f nearer f_emp than f_gt",
          "copies": "copies (NN ratio < 1/3)", "gap": "train/test loss gap"}
MARKERS = {"stored": "o", "nearer_emp": "s", "copies": "^", "gap": "D"}
# memorization, hybrid, generalization, mixed (no strict majority of seeds)
REGIME_COLORS = ListedColormap(["#c0392b", "#8e44ad", "#2e86c1", "#bdbdbd"])
REGIME_LABELS = metrics.REGIME_NAMES + ("mixed (no majority)",)
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


def _per_seed(arrays, meta, name):
  """A scalar metric per run: axes (σ, λ, p, duplicated, data, seed, n)."""
  g = np.asarray(arrays[name], float).reshape(meta["grid_shape"])
  return np.moveaxis(np.moveaxis(g, SEED, -1), 0, -1)


def _regime_mode(arrays, meta):
  """Regime of each cell held by a strict majority of seeds (``boundaries.MIXED`` if none), n last."""
  codes = _per_seed(arrays, meta, "regime")
  return boundaries.majority(boundaries.regime_fractions(codes, axis=-2))


def _unsettled(arrays, meta):
  """Cells where some seed did not converge or failed: axes (σ, λ, p, duplicated, data, n)."""
  settled = _per_seed(arrays, meta, "converged").astype(bool) & _per_seed(arrays, meta, "ok").astype(bool)
  return ~np.all(settled, axis=-2)


def _failed(arrays, meta):
  """Seeds per cell whose run failed (non-finite or unstable): axes (σ, λ, p, duplicated, data, n)."""
  return np.sum(~_per_seed(arrays, meta, "ok").astype(bool), axis=-2)


def _critical_interval(arrays, meta, name, level=0.5):
  """n* of a score with its seed-bootstrap interval (``boundaries.CriticalN``), axes (σ, λ, p, dup, data)."""
  n = np.asarray(meta["grid"]["n"], float)
  return boundaries.critical_n_interval(n, _per_seed(arrays, meta, name), level,
                                        num_boot=int(meta["config"].get("num_boot", 1000)), seed=0)


def _critical(arrays, meta, name):
  return _critical_interval(arrays, meta, name).estimate


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
  arrays, meta = _load(workdir, "n_sigma")
  n, sigma = meta["grid"]["n"], meta["grid"]["sigma"]
  p = meta["grid"]["p"][0]
  families = meta["families"]
  fig, axes = plt.subplots(2, len(families), figsize=(5.2 * len(families), 8.6), squeeze=False)
  stored = _grid(arrays, meta, "stored")[:, 0, 0, 0, :, :]  # (σ, data, n)
  mode = _regime_mode(arrays, meta)[:, 0, 0, 0, :, :]
  unsettled = _unsettled(arrays, meta)[:, 0, 0, 0, :, :]
  failed = _failed(arrays, meta)[:, 0, 0, 0, :, :]
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
  handles = _regime_map(axes[1], mode, n, ps, "hidden units p", "regime (majority of seeds)")
  for ax in axes:
    _hatch(ax, _unsettled(arrays, meta)[0, 0, :, 0, 0, :], _failed(arrays, meta)[0, 0, :, 0, 0, :])
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
                        f"regime (K={K}; majority of seeds)")
  _hatch(axes[0], _unsettled(arrays, meta)[0, 0, 0, :, 0, :], _failed(arrays, meta)[0, 0, 0, :, 0, :])
  axes[0].legend(handles, REGIME_LABELS, fontsize=7, loc="upper right")
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


def _entry(crit, sel, p=None, level=0.5):
  """JSON of n* on the points ``sel``: estimate, 95 % interval, capacity flag (storage scores)."""
  out = {"n_star": crit.estimate[sel].tolist(), "ci95_low": crit.low[sel].tolist(),
         "ci95_high": crit.high[sel].tolist()}
  if p is not None:
    out["capacity_bound"] = boundaries.capacity_bound(crit.estimate[sel], p, level).tolist()
  return out


def _fit(x, crit, sel, keep=None):
  f = boundaries.power_law_interval(x, crit.estimate[sel], crit.samples[sel], keep=keep)
  return {"exponent": f.exponent, "prefactor": f.prefactor, "ci95_low": f.low, "ci95_high": f.high,
          "points": f.points}


def _storage_scores(arrays):
  """Scores behind the storage boundary: stored at cosine 0.9 / 0.95, and the regime rule."""
  memorized = (np.asarray(arrays["regime"], float) == metrics.MEMORIZATION).astype(float)
  memorized[np.isnan(np.asarray(arrays["stored"], float))] = np.nan
  return {"stored": arrays["stored"], "stored_95": arrays["stored_95"], "memorization_regime": memorized}


def _scores(arrays):
  return {**{s: arrays[s] for s in SCORES}, **_storage_scores(arrays)}


def critical_summary(workdir) -> dict:
  """n* of every score with seed-bootstrap 95 % intervals, on every line of every experiment;
  power-law fits against p, K, α with bootstrapped exponents (capacity-bound storage points
  left out); the converged fraction and the measured premises of every family."""
  out = {"level": 0.5, "interval": "95 % percentile bootstrap over seeds", "runs": {}}
  lines = {}
  for experiment in ("n_sigma", "n_p", "hybrid", "alpha_K"):
    arrays, meta = _load(workdir, experiment)
    crit = {s: _critical_interval({**arrays, s: v}, meta, s) for s, v in _scores(arrays).items()}
    lines[experiment] = (arrays, meta, crit)
    ok, conv = np.asarray(arrays["ok"], bool), np.asarray(arrays["converged"], bool)
    out["runs"][experiment] = {"configs": int(ok.size), "converged_fraction": float(conv.mean()),
                               "failed": int((~ok).sum()), "status_counts": meta.get("status_counts"),
                               "seeds": len(meta["grid"]["seed"]), "premises": dict(zip(meta["families"],
                                                                                       meta["premises"]))}
  arrays, meta, crit = lines["n_sigma"]
  sig, p_max = np.asarray(meta["grid"]["sigma"], float), meta["grid"]["p"][0]
  out["n_sigma"] = {fam: {"sigma": sig.tolist(), **{s: _entry(c, (slice(None), 0, 0, 0, a),
                                                             p_max if s in _STORAGE else None)
                                                    for s, c in crit.items()}}
                    for a, fam in enumerate(meta["families"])}
  arrays, meta, crit = lines["n_p"]
  ps = np.asarray(meta["grid"]["p"], float)
  sel = (0, 0, slice(None), 0, 0)
  out["p"] = {"x": ps.tolist(), **{s: _entry(c, sel, ps if s in _STORAGE else None) for s, c in crit.items()}}
  out["p"]["fits"] = {s: _fit(ps, c, sel, ~boundaries.capacity_bound(c.estimate[sel], ps)
                              if s in _STORAGE else None) for s, c in crit.items()}
  arrays, meta, crit = lines["alpha_K"]
  axes = meta["family_axes"]
  alphas, Ks = np.asarray(axes["alpha"], float), np.asarray(axes["K"], float)
  p = meta["grid"]["p"][0]
  ref_alpha, ref_K = float(meta["config"]["n_sigma"]["alpha"]), int(meta["config"]["n_sigma"]["K"])
  for axis, x, pick in (("K", Ks, np.isclose(alphas, ref_alpha)), ("alpha", alphas, Ks == ref_K)):
    idx = np.flatnonzero(pick)
    sel = (0, 0, 0, 0, idx)
    out[axis] = {"x": x[idx].tolist(), "alpha" if axis == "K" else "K": ref_alpha if axis == "K" else ref_K,
                 **{s: _entry(c, sel, p if s in _STORAGE else None) for s, c in crit.items()}}
    out[axis]["fits"] = {s: _fit(x[idx], c, sel, ~boundaries.capacity_bound(c.estimate[sel], p)
                                 if s in _STORAGE else None) for s, c in crit.items()}
  out["alpha_K_table"] = {"alpha": alphas.tolist(), "K": Ks.tolist(),
                          **{s: _entry(c, (0, 0, 0, 0, slice(None))) for s, c in crit.items()}}
  return out


_STORAGE = ("stored", "stored_95", "memorization_regime")


def draw_critical(workdir, figdir):
  summary = critical_summary(workdir)
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
  fig.suptitle("Where memorization gives way to generalization, per transition metric", fontsize=11)
  return plotting.save(fig, os.path.join(figdir, "critical_n.png")), summary


def draw_all(workdir, figdir) -> list[str]:
  """Draws the four figures from ``workdir``; also writes ``workdir/critical_summary.json``."""
  paths = [draw_n_sigma(workdir, figdir), draw_n_p(workdir, figdir), draw_hybrid(workdir, figdir)]
  path, summary = draw_critical(workdir, figdir)
  rd.results.save_json(os.path.join(workdir, "critical_summary.json"), summary)
  return paths + [path]
