"""Figures of ``sims.deep_diffusion`` (matplotlib Agg), analogues of the paper's Fig. 2, 5 and 7:

* ``deep_copy_rate.png`` — copy rate against n (with the bars, also the valid and novel-valid rates);
* ``deep_generations.png`` — generations next to their nearest training image;
* ``deep_layer_scores.png`` — spikiness per layer, memorized vs generalized, and AUROC per layer;
* ``deep_detection_roc.png`` — ROC curves per layer;
* ``deep_steering.png`` — response against a, and steered digits;
* ``deep_jacobian_spectra.png`` — normalized singular values of the denoiser's Jacobian.

With ``--config.data=bars`` the names are ``deep_bars_*.png``. A run of another preset than ``default``
says so in each title."""

from __future__ import annotations

import os

import numpy as np

from relu_dae import detection
from relu_dae import plotting
from sims._response import MIN_POSITIVES
from sims.deep_diffusion.experiments import GROUPS

__all__ = ["draw_all", "plot_copy_rate", "plot_generations", "plot_jacobian", "plot_layer_scores", "plot_roc",
           "plot_steering"]

COLORS = dict(memorized="tab:red", generalized="tab:blue")


def _title(fig, preset: str, text: str) -> None:
  fig.suptitle(("" if preset == "default" else f"[{preset} preset, not the committed run] ") + text, fontsize=10)


def _image(ax, x, size: int) -> None:
  ax.imshow(np.clip(x, -1, 1).reshape(size, size), cmap="gray_r", vmin=-1, vmax=1)
  ax.set_xticks([])
  ax.set_yticks([])


def plot_copy_rate(summary: dict, path: str, preset: str) -> str:
  import matplotlib.pyplot as plt
  rows = summary["rows"]
  n = np.array([r["n"] for r in rows])
  rate = np.array([r["copy_rate"] for r in rows])
  lo, hi = np.array([r["ci"] for r in rows]).T
  fig, ax = plt.subplots(figsize=(6.2, 4.2))
  ax.fill_between(n, lo, hi, color="tab:purple", alpha=0.25, label="95 % interval (seeds, then generations)")
  ax.plot(n, rate, "o-", color="tab:purple", lw=2, label="copy rate (NN ratio < 1/3)")
  for s in range(summary["seeds"]):
    ax.plot(n, [r["per_seed"][s]["rate"] for r in rows], "x", color="0.4", ms=5, label="one seed" if s == 0 else None)
  if "valid_rate" in rows[0]:  # the bars: valid (on the family) and novel valid generations
    for key, color, label in (("valid_rate", "tab:green", "valid (RMS distance to the family ≤ "
                               f"{rows[0]['valid_distance']:g})"),
                              ("novel_valid_rate", "tab:orange", "novel and valid")):
      v = np.array([r[key]["value"] for r in rows])
      vlo, vhi = np.array([r[key]["ci"] for r in rows]).T
      ax.fill_between(n, vlo, vhi, color=color, alpha=0.2)
      ax.plot(n, v, "s-", color=color, lw=1.5, label=label)
  h = summary["n_half"]
  if np.isfinite(h["value"]):
    ax.axvline(h["value"], color="k", ls="--", lw=1, label=f"rate = 1/2 at n = {h['value']:.0f}")
    if np.all(np.isfinite(h["ci"])):
      ax.axvspan(*h["ci"], color="k", alpha=0.08)
  ax.set(xscale="log", xlabel="training images n", ylabel="fraction of generations" if "valid_rate" in rows[0]
         else "fraction of generations that copy a training image",
         ylim=(-0.02, 1.02))
  ax.legend(fontsize=8)
  _title(fig, preset, f"UNet on {summary.get('data', 'digits')}: copy rate of {summary['generations_per_model']} "
         "generations per model")
  fig.tight_layout()
  return plotting.save(fig, path)


def plot_generations(arrays: dict, data, summary: dict, size: int, path: str, preset: str, cols: int = 8) -> str:
  """Fig. 2's analogue: for each n (seed 0), generations (top) above their nearest training image (bottom)."""
  import matplotlib.pyplot as plt
  G, ratio = arrays["sweep_generated"][0], arrays["sweep_ratio"][0]  # (L, m, d), (L, m)
  rows = summary["rows"]
  fig, axes = plt.subplots(2 * len(rows), cols, figsize=(0.9 * cols + 1.4, 1.9 * len(rows)), squeeze=False)
  for j, r in enumerate(rows):
    train = data.X[arrays["sweep_train_index"][0][:r["n"]]]
    for k in range(cols):
      g = G[j, k]
      nearest = train[np.argmin(np.sum((train - g) ** 2, axis=1))]
      _image(axes[2 * j, k], g, size)
      _image(axes[2 * j + 1, k], nearest, size)
      axes[2 * j, k].set_title(f"{ratio[j, k]:.2f}", fontsize=7, color="tab:red" if ratio[j, k] < 1 / 3 else "0.3")
    axes[2 * j, 0].set_ylabel(f"n={r['n']}\ngenerated", fontsize=7)
    axes[2 * j + 1, 0].set_ylabel("nearest\ntraining", fontsize=7)
  _title(fig, preset, "generations over their nearest training image (title: NN ratio d1/d2; red: a copy)")
  fig.tight_layout()
  return plotting.save(fig, path)


def _scores(arrays: dict, layer: str, pooling: str, score: str) -> np.ndarray:
  return arrays[f"hybrid_score_{layer}_{pooling}_{score}"]


def plot_layer_scores(hybrid: dict, arrays: dict, layers, path: str, preset: str) -> str:
  """Fig. 5's analogue: the std score per layer (max pooling) for both groups, and AUROC per layer and score."""
  import matplotlib.pyplot as plt
  pos, neg = arrays["hybrid_pos"], arrays["hybrid_neg"]
  fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
  x = np.arange(len(layers))
  for off, (g, mask) in zip((-0.18, 0.18), (("memorized", pos), ("generalized", neg))):
    data = [_scores(arrays, layer, "max", "std")[mask] for layer in layers]
    bp = ax0.boxplot(data, positions=x + off, widths=0.3, patch_artist=True, showfliers=False)
    for patch in bp["boxes"]:
      patch.set(facecolor=COLORS[g], alpha=0.5)
    ax0.plot([], [], color=COLORS[g], lw=6, alpha=0.5, label=f"{g} ({int(mask.sum())})")
  ax0.set(xticks=x, xticklabels=layers, xlabel="layer", ylabel="std of the max-pooled representation")
  ax0.legend(fontsize=8)
  rows = [r for r in hybrid["rows"] if r["pooling"] == "max"]
  for score in sorted({r["score"] for r in rows}):
    sel = [next(r for r in rows if r["layer"] == layer and r["score"] == score) for layer in layers]
    auc = np.array([r["auroc"] for r in sel])
    ci = np.array([r["auroc_ci"] for r in sel]).T
    ax1.errorbar(x, auc, yerr=[auc - ci[0], ci[1] - auc], marker="o", capsize=3, label=score)
  ax1.axhline(0.5, color="0.6", ls=":")
  ax1.set(xticks=x, xticklabels=layers, xlabel="layer", ylabel="AUROC (95 % interval)", ylim=(0, 1.02))
  ax1.legend(fontsize=8)
  _title(fig, preset, "hybrid UNet: spikiness of memorized vs generalized generations per layer (max pooling)")
  fig.tight_layout()
  return plotting.save(fig, path)


def plot_roc(hybrid: dict, arrays: dict, layers, path: str, preset: str) -> str:
  """ROC curves of the paper's std score (max pooling) per layer, and of the best (layer, pooling, score)."""
  import matplotlib.pyplot as plt
  pos, neg = arrays["hybrid_pos"], arrays["hybrid_neg"]
  best = max(hybrid["rows"], key=lambda r: r["auroc"])
  fig, ax = plt.subplots(figsize=(5.4, 4.8))
  curves = [(layer, "max", "std") for layer in layers] + [(best["layer"], best["pooling"], best["score"])]
  if pos.sum() < MIN_POSITIVES:
    curves = []
    ax.text(0.5, 0.5, f"{int(pos.sum())} copies: fewer than {MIN_POSITIVES},\nno ROC curve drawn", ha="center",
            va="center", transform=ax.transAxes, color="tab:red")
  for i, (layer, pooling, score) in enumerate(curves):
    s = _scores(arrays, layer, pooling, score)
    r = detection.evaluate(s[pos], s[neg])
    ax.plot(r.fpr, r.tpr, lw=2.4 if i == len(curves) - 1 else 1.4, ls="--" if i == len(curves) - 1 else "-",
            label=f"{'best: ' if i == len(curves) - 1 else ''}{layer} {pooling} {score} ({r.auroc:.3f})")
  ax.plot([0, 1], [0, 1], color="0.6", ls=":")
  ax.set(xlabel="false positive rate (novel generations flagged)", ylabel="true positive rate (copies flagged)",
         title=f"{int(pos.sum())} copies of a duplicated image / {int(neg.sum())} novel")
  if curves:
    ax.legend(fontsize=7, loc="lower right")
  _title(fig, preset, "prompt-free detection on the hybrid UNet (AUROC)")
  fig.tight_layout()
  return plotting.save(fig, path)


def plot_steering(hybrid: dict, arrays: dict, c, path: str) -> str:
  """Fig. 7's analogue: P(target) against a per group, and steered generations over a."""
  import matplotlib.pyplot as plt
  st, s = hybrid["steering"], c.steer
  a = np.asarray(st["a"])
  cols = np.linspace(0, len(a) - 1, s.grid_cols).round().astype(int)
  seeds = {g: arrays[f"hybrid_steer_seeds_{g}"][:s.grid_rows] for g in GROUPS}
  n_rows = sum(len(v) for v in seeds.values())
  fig = plt.figure(figsize=(5.2 + 0.9 * len(cols), max(4.2, 0.95 * n_rows + 0.8)))
  grid = fig.add_gridspec(max(n_rows, 1), 2 + len(cols), width_ratios=[4.6, 0.3] + [0.9] * len(cols))
  ax = fig.add_subplot(grid[:, 0])
  p = arrays["hybrid_steer_p"]
  for g in GROUPS:
    r = st[g]
    if "mean_curve" not in r:
      continue
    idx = arrays[f"hybrid_steer_seeds_{g}"]
    ax.plot(a, p[:, idx[:8]], color=COLORS[g], lw=0.6, alpha=0.35)
    ax.fill_between(a, r["band"][0], r["band"][1], color=COLORS[g], alpha=0.25)
    ax.plot(a, r["mean_curve"], color=COLORS[g], lw=2.2,
            label=f"{g} (n={r['num_inputs']}): largest jump {r['per_input_max_jump']['value']:.2f}")
  ax.set(xlabel="steering strength a", ylabel=f"P(class {c.hybrid.target_class}) of the output", ylim=(-0.02, 1.02))
  ax.legend(fontsize=8, loc="upper left")
  size = c.unet.image_size
  outputs = arrays["hybrid_steer_outputs"]
  row = 0
  for g in GROUPS:
    for seed in seeds[g]:
      for j, col in enumerate(cols):
        axi = fig.add_subplot(grid[row, 2 + j])
        _image(axi, outputs[col, seed], size)
        if row == 0:
          axi.set_title(f"a={a[col]:.2f}", fontsize=7)
        if j == 0:
          axi.set_ylabel(g[:3], fontsize=7, color=COLORS[g])
      row += 1
  _title(fig, c.preset, f"steering toward class {c.hybrid.target_class} at {', '.join(st['blocks'])}, "
                        f"sampler steps {st['window_steps'][0]}..{st['window_steps'][1] - 1}")
  fig.tight_layout()
  return plotting.save(fig, path)


def plot_jacobian(arrays: dict, sigmas, path: str, preset: str) -> str:
  """Singular values of the denoiser's Jacobian, s_j/s_1, median and quartiles per group, one panel per σ."""
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, len(sigmas), figsize=(4.4 * len(sigmas), 3.8), squeeze=False)
  for ax, sigma in zip(axes[0], sigmas):
    for g in GROUPS:
      k = f"hybrid_jacobian_sv_{g}_{float(sigma)}"
      if k not in arrays:
        continue
      sv = arrays[k] / arrays[k][:, :1]
      q = np.quantile(sv, [0.25, 0.5, 0.75], axis=0)
      j = np.arange(1, sv.shape[1] + 1)
      ax.fill_between(j, q[0], q[2], color=COLORS[g], alpha=0.25)
      ax.plot(j, q[1], color=COLORS[g], lw=2, label=f"{g} ({len(sv)})")
    ax.set(yscale="log", xlabel="index j", ylabel="s_j / s_1", title=f"∂D/∂x at g + σε, σ = {sigma}")
    ax.legend(fontsize=8)
  _title(fig, preset, "denoiser Jacobian spectra near memorized and generalized generations")
  fig.tight_layout()
  return plotting.save(fig, path)


def draw_all(out: dict, arrays: dict, data, c, figdir: str) -> list:
  """Every figure the finished experiments allow; returns their paths. Figures of the bars are named
  ``deep_bars_*.png``, so both pools' figures can sit in one ``figdir``."""
  from relu_dae import unet
  from sims.deep_diffusion.experiments import unet_config
  figs, size = [], c.unet.image_size
  prefix = "deep_" if c.data == "digits" else f"deep_{c.data}_"
  if out["sweep"]:
    figs.append(plot_copy_rate(out["sweep"], os.path.join(figdir, f"{prefix}copy_rate.png"), c.preset))
    figs.append(plot_generations(arrays, data, out["sweep"], size,
                                 os.path.join(figdir, f"{prefix}generations.png"), c.preset))
  if out["hybrid"]:
    layers = unet.layer_names(unet_config(c.unet))
    if out["hybrid"]["rows"]:
      figs.append(plot_layer_scores(out["hybrid"], arrays, layers,
                                    os.path.join(figdir, f"{prefix}layer_scores.png"), c.preset))
      figs.append(plot_roc(out["hybrid"], arrays, layers, os.path.join(figdir, f"{prefix}detection_roc.png"),
                           c.preset))
    figs.append(plot_steering(out["hybrid"], arrays, c, os.path.join(figdir, f"{prefix}steering.png")))
    figs.append(plot_jacobian(arrays, tuple(c.jacobian.sigmas),
                              os.path.join(figdir, f"{prefix}jacobian_spectra.png"), c.preset))
  return figs
