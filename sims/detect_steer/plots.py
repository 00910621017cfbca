"""Figures of ``sims.detect_steer`` (matplotlib Agg): ``detection_roc.png`` (ROC curves of every
score at layer h, per dataset and copy labelling), ``steering_response.png`` (P(target) vs the
steering strength a, memorized vs generalized inputs) and ``steering_digits.png`` (steered digits
over a grid of a). A run of another preset than ``default`` says so in each title."""

from __future__ import annotations

import numpy as np

from relu_dae import plotting
from sims._response import MIN_POSITIVES
from sims.detect_steer.experiments import GROUPS, LABELLINGS, MODES

__all__ = ["plot_digit_grid", "plot_response", "plot_roc"]


def _note(fig, preset: str) -> None:
  if preset != "default":
    fig.suptitle(f"{preset} preset (not the committed run)", fontsize=10, color="tab:red", y=1.02)


def plot_roc(rocs: dict, counts: dict, path: str, sigma: float, preset: str = "default") -> str:
  """ROC curves of the scores at layer h and σ = ``sigma``, one panel per dataset and copy labelling."""
  import matplotlib.pyplot as plt
  names = list(rocs)
  fig, axes = plt.subplots(len(names), len(LABELLINGS), figsize=(5.2 * len(LABELLINGS), 4.6 * len(names)),
                           squeeze=False)
  for i, name in enumerate(names):
    for j, labelling in enumerate(LABELLINGS):
      ax = axes[i, j]
      for (lab, score), (fpr, tpr, auc) in rocs[name].items():
        if lab == labelling:
          ax.plot(fpr, tpr, lw=1.6, label=f"{score} (AUROC {auc:.3f})")
      ax.plot([0, 1], [0, 1], color="0.6", ls=":", lw=1)
      ax.axvline(0.01, color="0.8", lw=0.8)
      n = counts[name][labelling]
      if n["n_pos"] < MIN_POSITIVES:
        ax.text(0.5, 0.5, f"{n['n_pos']} copies: fewer than {MIN_POSITIVES},\nno ROC curve drawn", ha="center",
                va="center", transform=ax.transAxes, fontsize=10, color="tab:red")
      ax.set(xlabel="false positive rate (novel samples flagged)", ylabel="true positive rate (copies flagged)",
             title=f"{name}, {labelling} copy label: {n['n_pos']} copies / {n['n_neg']} novel\n"
                   f"scores of h = [Wᵀ(x+σε)]₊ at σ = {sigma}")
      if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
  fig.tight_layout()
  _note(fig, preset)
  return plotting.save(fig, path)


def plot_response(results: dict, curves: dict, path: str, preset: str = "default") -> str:
  """P(output in the target) vs a: the first 8 inputs' curves, the mean and its 95 % band, per group."""
  import matplotlib.pyplot as plt
  names = list(results)
  fig, axes = plt.subplots(len(names), len(MODES), figsize=(5.2 * len(MODES), 4.2 * len(names)), squeeze=False)
  colors = dict(memorized="tab:red", generalized="tab:blue")
  titles = dict(onestep="one-step steered denoiser g(h(y) + a v)", sampling="steered sampling (window of steps)")
  for i, name in enumerate(names):
    r = results[name]
    for j, mode in enumerate(MODES):
      ax = axes[i, j]
      for g in GROUPS:
        if (mode, g) not in curves[name]:
          continue
        cur, st = curves[name][(mode, g)], r[mode][g]
        a = r["a"] if mode == "onestep" else r["a_sampling"]
        ax.plot(a, cur[:, :8], color=colors[g], lw=0.6, alpha=0.35)
        ax.fill_between(a, st["band"][0], st["band"][1], color=colors[g], alpha=0.25)
        ax.plot(a, st["mean_curve"], color=colors[g], lw=2.2,
                label=f"{g} (n={st['num_inputs']}): per-input max jump {st['per_input_max_jump']['value']:.2f}")
      ax.set(xlabel="steering strength a", ylabel=f"P(output in target {'class' if name == 'digits' else 'mode'})",
             title=f"{name}: {titles[mode]}", ylim=(-0.02, 1.02))
      ax.legend(loc="upper left", fontsize=8)
  fig.tight_layout()
  _note(fig, preset)
  return plotting.save(fig, path)


def plot_digit_grid(grid: dict, a_grid, offset, path: str, preset: str = "default") -> str:
  """Steered sampling on digits: rows are generated samples (memorized, generalized), columns increasing a."""
  import matplotlib.pyplot as plt
  cols = grid["a_cols"]
  rows = [(g, k) for g in GROUPS for k in range(grid[g].shape[1])]
  fig, axes = plt.subplots(max(len(rows), 1), len(cols), figsize=(1.1 * len(cols) + 1.2, 1.1 * max(len(rows), 1)),
                           squeeze=False)
  for r, (g, k) in enumerate(rows):
    for j, col in enumerate(cols):
      ax = axes[r, j]
      ax.imshow(np.clip(grid[g][col, k] + offset, -1, 1).reshape(8, 8), cmap="gray_r", vmin=-1, vmax=1)
      ax.set_xticks([])
      ax.set_yticks([])
      if r == 0:
        ax.set_title(f"a = {a_grid[col]:.2f}", fontsize=8)
      if j == 0:
        ax.set_ylabel(g, fontsize=8, color="tab:red" if g == "memorized" else "tab:blue")
  fig.suptitle(("" if preset == "default" else f"[{preset} preset] ")
               + "steered sampling on digits (rows: generated samples, columns: increasing a)", fontsize=9)
  fig.tight_layout()
  _note(fig, preset)
  return plotting.save(fig, path)
