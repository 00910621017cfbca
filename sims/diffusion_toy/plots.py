"""Figures of ``sims.diffusion_toy``, drawn from its saved results only (``--plot_only``).

* ``diffusion_copy_rate.png``: copy rate (d₁/d₂ < 1/3), direction copy rate and mean cosine
  nearest-neighbour similarity vs n, one line per width p with 95 % bootstrap bands, for the
  multi-σ diffusion model (top) and the single-σ DAE used as a sampler (bottom); f_emp and f_gt
  as references.
* ``diffusion_samples.png``: generated digits next to their nearest training digits for a
  memorizing and a generalizing model, and 2-D projections of mixture samples.

A figure whose experiments did not run is not drawn; a run of another preset than ``default``
says so in its title.
"""

from __future__ import annotations

import json
import os

import matplotlib.pyplot as plt
import numpy as np

from relu_dae import plotting
from relu_dae import results

__all__ = ["draw_all", "draw_copy_rate", "draw_samples"]

_TITLES = {"copy": "copy rate  (d$_1$/d$_2$ < 1/3)", "dir_copy": "direction copy rate  (on unit vectors)",
           "cosine": "mean cosine similarity to nearest training sample"}
_MODELS = {"diffusion": "multi-σ ReLU diffusion model", "dae": "single-σ DAE (Eq. 5) as sampler"}


def _load_summary(workdir: str) -> dict:
  with open(os.path.join(workdir, "summary.json")) as f:
    return json.load(f)


def _band(ax, n, s, **kw):
  mean = np.array(s["mean"], float)
  line, = ax.plot(n, mean, marker="o", ms=3, **kw)
  ax.fill_between(n, np.array(s["ci_low"], float), np.array(s["ci_high"], float), color=line.get_color(),
                  alpha=0.18, lw=0)
  return line


def _copy_panel(ax, summary: dict, model: str, measure: str):
  n = np.array(summary["n"], float)
  colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(summary["p"])))
  for p, color in zip(summary["p"], colors):
    s = summary["models"][model][str(p)][measure]
    label = f"p = {p}"
    if measure != "cosine" and s.get("n_c") is not None:
      label += f"  (n$_c$ = {s['n_c']:.0f})"
    _band(ax, n, s, color=color, label=label)
  _band(ax, n, summary["models"]["emp"][measure], color="k", ls="--", label="f$_{emp}$ (Eq. 3)")
  _band(ax, n, summary["models"]["gt"][measure], color="0.55", ls=":", label="f$_{gt}$ (exact mixture)")
  if measure != "cosine":
    ax.axhline(summary["level"], color="0.3", lw=0.6)
    ax.set_ylim(-0.03, 1.03)
  ax.axvline(summary["single_sigma_storage_n_star"], color="tab:red", lw=0.8, ls="-.",
             label=f"single-σ n* ≈ 2K = {summary['single_sigma_storage_n_star']}")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("training samples n")
  ax.set_ylabel(_TITLES[measure].split("  ")[0])
  ax.set_title(f"{_MODELS[model]}: {_TITLES[measure]}", fontsize=8)
  ax.grid(alpha=0.3, which="both")


def draw_copy_rate(workdir: str, figdir: str) -> str:
  summary = _load_summary(workdir)
  fig, axes = plt.subplots(2, 3, figsize=(15, 8.2))
  for row, model in zip(axes, _MODELS):
    for ax, measure in zip(row, ("copy", "dir_copy", "cosine")):
      _copy_panel(ax, summary, model, measure)
  axes[0, 0].legend(fontsize=7, loc="upper right")
  axes[1, 0].legend(fontsize=7, loc="upper right")
  c = summary["config"]
  fig.suptitle(f"{_preset_note(c)}Generated samples that copy training data vs n — mixture d={c['d']}, K={c['K']}, "
               f"α={c['alpha']}, β={c['beta']}; VE sampler, σ ∈ [{c['sigma_min']}, {c['sigma_max']}], "
               f"{c['sampler']['num_steps']} steps; {len(summary['seeds'])} seeds × {c['sampler']['num_samples']} "
               "samples, 95 % bootstrap bands", fontsize=9)
  fig.tight_layout()
  return plotting.save(fig, os.path.join(figdir, "diffusion_copy_rate.png"))


def _image(ax, v, mean_image):
  ax.imshow((np.asarray(v, float) + mean_image).reshape(8, 8), cmap="gray_r", vmin=-1, vmax=1,
            interpolation="nearest")
  ax.set_xticks([])
  ax.set_yticks([])


def _digits_panel(fig, digits: dict, meta: dict, threshold: float, note: str = ""):
  show = digits["mem_samples"].shape[0]
  mean = digits["mean_image"]
  for sub, name in zip(fig.subfigures(2, 1, hspace=0.05), ("mem", "gen")):
    top, bottom = sub.subplots(2, show, squeeze=False)
    for j in range(show):
      _image(top[j], digits[f"{name}_samples"][j], mean)
      ratio, cos = digits[f"{name}_ratio"][j], digits[f"{name}_cosine"][j]
      nn = int(digits[f"{name}_nn_cos"][j])
      scale = np.linalg.norm(digits[f"{name}_samples"][j]) / np.linalg.norm(digits["train_images"][nn])
      top[j].set_xlabel(f"r={ratio:.2f} cos={cos:.2f}\nnorm ratio {scale:.2f}", fontsize=6.5, labelpad=1,
                        color="tab:red" if ratio < threshold else "k")
      _image(bottom[j], digits["train_images"][nn], mean)
      bottom[j].set_xlabel(f"train #{nn} ('{int(digits['train_labels'][nn])}')", fontsize=6.5, labelpad=1)
    top[0].set_ylabel("generated", fontsize=7)
    bottom[0].set_ylabel("nearest train\n(cosine)", fontsize=7)
    regime = "memorizing" if name == "mem" else "generalizing"
    sub.suptitle(f"{regime} model, n = {meta[f'n_{name}']}: copy rate "
                 f"{float(np.mean(digits[f'{name}_ratio'] < threshold)):.2f}, direction copy rate "
                 f"{float(np.mean(digits[f'{name}_dir_ratio'] < threshold)):.2f}, mean cos "
                 f"{float(np.mean(digits[f'{name}_cosine'])):.2f} (first {show} samples)", fontsize=8)
  fig.suptitle(f"{note}Digits (centred, p = {meta['p']}; shown with the mean image added): r = d$_1$/d$_2$ (red: copy, "
               "r < 1/3), cos and norm ratio to the nearest training image by cosine", fontsize=9)


def _mixture_panel(fig, diff: dict, oracles: dict, summary: dict):
  X = diff["pool"]
  centred = X - X.mean(axis=0)
  _, _, Vt = np.linalg.svd(centred, full_matrices=False)
  P = Vt[:2].T  # top-2 principal directions of the pool
  p_max, n_values = max(summary["p"]), summary["n"]
  th = summary["copy_threshold"]
  picks = [next(n for n in n_values if n >= summary["config"]["K"]), n_values[-1]]
  axes = fig.subplots(len(picks), 1, squeeze=False)[:, 0]
  gt = oracles["gt_samples"][np.flatnonzero(oracles["config_seed"] == summary["seeds"][0])[0]]
  for ax, n in zip(axes, picks):
    i = np.flatnonzero((diff["config_n"] == n) & (diff["config_p"] == p_max)
                       & (diff["config_seed"] == summary["seeds"][0]))[0]
    S = diff["samples"][i]
    m = S.shape[0]
    ratio, dir_ratio = diff["ratio"][i, :m], diff["dir_ratio"][i, :m]
    ax.scatter(*(gt @ P).T, s=6, color="0.8", label="f$_{gt}$ samples")
    ax.scatter(*(X[:n] @ P).T, s=50, marker="x", color="k", label=f"training (n = {n})")
    kinds = [(ratio < th, "tab:red", "copy (r < 1/3)"),
             ((ratio >= th) & (dir_ratio < th), "tab:orange", "direction copy only"),
             ((ratio >= th) & (dir_ratio >= th), "tab:blue", "novel")]
    for sel, color, label in kinds:
      ax.scatter(*(S[sel] @ P).T, s=12, color=color, label=f"{label}: {int(sel.sum())}/{m}")
    ax.set_title(f"mixture, p = {p_max}, n = {n}: generated samples (PCA plane)", fontsize=8)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=6, loc="best")


def draw_samples(workdir: str, figdir: str) -> str:
  summary = _load_summary(workdir)
  digits, meta = results.load(os.path.join(workdir, "digits"))
  diff, _ = results.load(os.path.join(workdir, "diffusion"))
  oracles, _ = results.load(os.path.join(workdir, "oracles"))
  show = digits["mem_samples"].shape[0]
  fig = plt.figure(figsize=(1.15 * show + 5.0, 7.8), layout="constrained")
  left, right = fig.subfigures(1, 2, width_ratios=[1.15 * show, 5.0], wspace=0.04)
  _digits_panel(left, digits, meta, summary["copy_threshold"], _preset_note(summary["config"]))
  _mixture_panel(right, diff, oracles, summary)
  return plotting.save(fig, os.path.join(figdir, "diffusion_samples.png"))


def _preset_note(config: dict) -> str:
  preset = config.get("preset", "default")
  return "" if preset == "default" else f"[{preset} preset, not the committed run] "


def draw_all(workdir: str, figdir: str) -> list[str]:
  """The figures whose experiments are in ``<workdir>/summary.json``; returns their paths."""
  done = set(_load_summary(workdir).get("experiments", ("diffusion", "dae", "oracles", "digits")))
  paths = []
  if {"diffusion", "dae", "oracles"} <= done:
    paths.append(draw_copy_rate(workdir, figdir))
  if {"digits", "diffusion", "oracles"} <= done:
    paths.append(draw_samples(workdir, figdir))
  return paths
