"""Figures of the regimes app: ``regimes_weights.png`` (learned columns under the samples or
analytic blocks they match; Fig. 3 / Fig. 6 analogue) and ``regimes_representations.png``
(spiky vs balanced representations; Fig. 4 analogue).

Each weight panel's title says how many of the model's p columns it draws and which ones; in the
hybrid panel the columns of duplicated (memorized) clusters have red frames, those of abundant
(generalizing) clusters blue ones. A figure of a preset other than ``default`` names it in its title.
"""

from __future__ import annotations

import os

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import numpy as np

import relu_dae as rd
from relu_dae import plotting
from sims.regimes import analysis

__all__ = ["MAX_COLS", "column_note", "draw_representations", "draw_weights", "memorization_panel",
           "block_panel", "digits_panel"]

MAX_COLS = 10  # weight columns drawn per panel (plotting.weight_pairs' max_cols)
MEMORIZED, GENERALIZING = "tab:red", "tab:blue"


def column_note(columns, p: int) -> str:
  """``"columns 3, 0, 7 of p=16"`` for the (first :data:`MAX_COLS` of the) columns a panel draws.

  Example:
    >>> column_note([3, 0, 7], 16)
    'columns #3, #0, #7 of p=16'
    >>> column_note(range(12), 12)
    'first 10 of p=12 columns (#0–#9)'
  """
  columns = [int(j) for j in columns]
  if len(columns) > MAX_COLS:
    shown = columns[:MAX_COLS]
    listed = f"#{shown[0]}–#{shown[-1]}" if shown == list(range(shown[0], shown[0] + MAX_COLS)) else \
        ", ".join(f"#{j}" for j in shown)
    return f"first {MAX_COLS} of p={p} columns ({listed})"
  return f"columns {', '.join(f'#{j}' for j in columns)} of p={p}"


def memorization_panel(m, title: str) -> dict:
  """Training samples above the learned columns matched to them (``metrics.match_columns``)."""
  perm, cos = rd.metrics.match_columns(m.W, m.X.T)
  perm = np.asarray(perm)
  return dict(title=f"{title}\n{column_note(perm, m.W.shape[1])} (matched to the {m.X.shape[0]} samples)",
              ref=np.asarray(m.X.T), learned=np.asarray(m.W[:, perm]), cos=cos,
              ref_label="training\nsamples", learned_label="learned\ncolumns")


def block_panel(m, title: str, duplicated_clusters: int = 0) -> dict:
  """Analytic blocks (Eq. 8, learned allocation, Procrustes-aligned) above the learned blocks;
  the first ``duplicated_clusters`` clusters' columns are marked memorized."""
  _, _, per = analysis.blocks(m)
  columns = np.concatenate([cols for _, cols, *_ in per])
  memorized = np.concatenate([np.full(len(cols), k < duplicated_clusters) for k, cols, *_ in per])
  note = column_note(columns, m.W.shape[1]) + ", grouped by the cluster that owns them"
  if duplicated_clusters:
    note += f"\nred frame: memorized (duplicated clusters' columns, {int(memorized.sum())}); blue: generalizing"
  return dict(title=f"{title}\n{note}", ref=np.concatenate([r for *_, r, _, _, _ in per], 1),
              learned=np.concatenate([w for *_, w, _, _ in per], 1), cos=np.concatenate([c for *_, c, _ in per]),
              ref_label="analytic\nblocks (8)", learned_label="learned\ncolumns",
              memorized=memorized if duplicated_clusters else None)


def digits_panel(m, title: str) -> dict:
  """Every learned column above its nearest training image."""
  best_idx = np.asarray(jnp.argmax(rd.metrics.column_cosines(m.W, m.X), axis=0))
  cos = np.asarray(rd.metrics.column_cosines(m.W, m.X)).max(axis=0)
  p = m.W.shape[1]
  return dict(title=f"{title}\n{column_note(range(p), p)}", ref=np.asarray(m.X[best_idx].T), learned=np.asarray(m.W),
              cos=cos, ref_label="nearest\nsample", learned_label="learned\ncolumns")


def _preset(preset: str) -> str:
  return "" if preset == "default" else f" [{preset} preset]"


def draw_weights(panels: list[dict], path: str, preset: str = "default") -> str:
  """``plotting.weight_pairs`` of ``panels``, memorized / generalizing columns framed where marked."""
  fig = plotting.weight_pairs(panels, max_cols=MAX_COLS)
  width, height = fig.get_size_inches()
  fig.set_size_inches(width, height + 0.45 * len(panels) + 0.3)  # room for the two- or three-line titles
  fig.subplots_adjust(top=1 - 0.75 / (height + 0.45 * len(panels) + 0.3), hspace=1.15)
  cols = min(MAX_COLS, max(np.shape(p["ref"])[1] for p in panels))
  axes = np.asarray(fig.axes).reshape(2 * len(panels), cols + 1)
  for i, panel in enumerate(panels):
    if panel.get("memorized") is None:
      continue
    for j, mem in enumerate(panel["memorized"][:cols]):
      for spine in axes[2 * i + 1, j + 1].spines.values():
        spine.set_edgecolor(MEMORIZED if mem else GENERALIZING)
        spine.set_linewidth(2.5)
  if preset != "default":
    fig.suptitle(f"Learned weights{_preset(preset)}", fontsize=10, y=0.999, va="top")
  return plotting.save(fig, path)


def draw_representations(h: dict, path: str, preset: str = "default") -> str:
  """One noisy input's representation per model, and the score histograms of memorized vs
  generalized models (synthetic, digits) wherever both of a pair were trained."""
  examples = [dict(title=f"{name}\nstd {rd.metrics.representation_std(v[0]):.2f}, "
                         f"top-1 share {rd.metrics.top1_share(v[0]):.2f}", h=v[0],
                   color="tab:red" if "memorization" in name or "n=5" in name else "tab:blue")
              for name, v in h.items()]
  pairs = [("synthetic", ["synthetic memorization", "synthetic generalization"]),
           ("digits", [n for n in h if n.startswith("digits")])]
  hists = [dict(title=f"{kind}: memorized vs generalized", xlabel=xlabel,
                series=[(name, fn(h[name])) for name in names])
           for kind, names in pairs if len(names) == 2 and all(n in h for n in names)
           for xlabel, fn in [("std of representation", rd.metrics.representation_std),
                              ("top-1 share of ‖h‖²", rd.metrics.top1_share)]]
  fig = plotting.representations(examples, hists)
  if preset != "default":
    fig.suptitle(f"Representations{_preset(preset)}", fontsize=10)
  return plotting.save(fig, path)


def figure_paths(figdir: str) -> dict:
  """Where :func:`draw_weights` and :func:`draw_representations` write in ``figdir``."""
  return {"weights": os.path.join(figdir, "regimes_weights.png"),
          "representations": os.path.join(figdir, "regimes_representations.png")}
