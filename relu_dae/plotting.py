"""Figures (matplotlib): weight columns as images, representations.

Every function returns a ``matplotlib.figure.Figure``; save it with :func:`save`, or show it
in a notebook. The module leaves the backend alone (matplotlib falls back to Agg without a
display; set ``MPLBACKEND=Agg`` to force it): forcing Agg at import would silently turn off
inline figures in Jupyter and Colab notebooks that import it.
"""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np


def _tile(ax, v, shape, vmax=None):
  v = np.asarray(v, float).reshape(shape)
  vmax = vmax or (np.abs(v).max() + 1e-12)
  ax.imshow(v, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
  ax.set_xticks([])
  ax.set_yticks([])


def weight_pairs(panels: Sequence[dict], image_shape=(8, 8), max_cols: int = 10):
  """Rows of reference vectors above the learned weight columns matched to them.

  Args:
    panels: dicts with ``title``, ``ref`` ``(d, m)``, ``learned`` ``(d, m)``, ``ref_label``,
      ``learned_label`` and optional ``cos`` ``(m,)`` (printed under each learned tile).
    image_shape: how a length-d vector is drawn.
    max_cols: at most this many columns per panel.

  Each tile has its own symmetric colour scale (columns and samples differ in norm).
  """
  cols = min(max_cols, max(np.shape(p["ref"])[1] for p in panels))
  fig, axes = plt.subplots(2 * len(panels), cols + 1, figsize=(0.95 * (cols + 1) + 0.6, 2.4 * len(panels)),
                           gridspec_kw={"width_ratios": [1.6] + [1] * cols}, squeeze=False)
  for i, panel in enumerate(panels):
    top, bottom = axes[2 * i], axes[2 * i + 1]
    for ax, label in [(top[0], panel["ref_label"]), (bottom[0], panel["learned_label"])]:
      ax.axis("off")
      ax.text(1.0, 0.5, label, ha="right", va="center", fontsize=8, transform=ax.transAxes)
    top[1].text(0.0, 1.25, panel["title"], transform=top[1].transAxes, fontsize=9, fontweight="bold",
                ha="left", va="bottom")
    m = min(cols, np.shape(panel["ref"])[1])
    for j in range(cols):
      if j >= m:
        top[j + 1].axis("off")
        bottom[j + 1].axis("off")
        continue
      _tile(top[j + 1], panel["ref"][:, j], image_shape)
      _tile(bottom[j + 1], panel["learned"][:, j], image_shape)
      if panel.get("cos") is not None:
        bottom[j + 1].set_xlabel(f"cos {panel['cos'][j]:.2f}", fontsize=7, labelpad=1)
  fig.subplots_adjust(left=0.01, right=0.99, top=0.97, bottom=0.02, wspace=0.15, hspace=0.7)
  return fig


def representations(examples: Sequence[dict], histograms: Sequence[dict]):
  """Top: one representation ``h(x_i + σε)`` per model as bars; bottom: score histograms.

  Args:
    examples: dicts with ``title``, ``h`` ``(p,)`` and optional ``color``.
    histograms: dicts with ``title``, ``xlabel`` and ``series`` = list of
      ``(label, values)`` drawn as overlaid histograms.
  """
  ncol = max(len(examples), len(histograms))
  fig, axes = plt.subplots(2, ncol, figsize=(3.0 * ncol, 5.2), squeeze=False)
  for ax, ex in zip(axes[0], examples):
    h = np.asarray(ex["h"])
    ax.bar(np.arange(h.size), h, width=0.9, color=ex.get("color", "tab:blue"))
    ax.set_title(ex["title"], fontsize=9)
    ax.set_xlabel("hidden unit")
    ax.set_ylabel("activation $h_j$")
  for ax in axes[0][len(examples):]:
    ax.axis("off")
  for ax, hist in zip(axes[1], histograms):
    values = np.concatenate([np.asarray(v) for _, v in hist["series"]])
    bins = np.linspace(values.min(), values.max() + 1e-9, 30)
    for (label, v), color in zip(hist["series"], ["tab:red", "tab:blue", "tab:green", "tab:purple"]):
      ax.hist(np.asarray(v), bins=bins, alpha=0.6, label=label, color=color)
    ax.set_title(hist["title"], fontsize=9)
    ax.set_xlabel(hist["xlabel"])
    ax.set_ylabel("count")
    ax.legend(fontsize=7)
  for ax in axes[1][len(histograms):]:
    ax.axis("off")
  fig.tight_layout()
  return fig


def save(fig, path: str, dpi: int = 130) -> str:
  """Saves atomically-enough for figures (temp name, then rename) and closes the figure."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = path + ".tmp.png"
  fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
  plt.close(fig)
  os.replace(tmp, path)
  return path
