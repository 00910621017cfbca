"""Figures (matplotlib): weight columns as images, representations.

Every function returns a ``matplotlib.figure.Figure``; save it with :func:`save`, or show it
in a notebook. The module leaves the backend alone (matplotlib falls back to Agg without a
display; set ``MPLBACKEND=Agg`` to force it): forcing Agg at import would silently turn off
inline figures in Jupyter and Colab notebooks that import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np

from relu_dae import _checks

__all__ = [
    "weight_pairs", "representations", "save",
]

# Colours of the overlaid histograms; series beyond these take the default cycle C4, C5, ...
_SERIES_COLORS = ("tab:red", "tab:blue", "tab:green", "tab:purple")


def _dicts(name: str, items, required: tuple[str, ...], *, allow_empty: bool = False) -> list:
  """A sequence of dicts (not a str or a dict), each holding the ``required`` keys."""
  if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
    raise TypeError(f"{name} must be a list of dicts, got {type(items).__name__}")
  if not items and not allow_empty:
    raise ValueError(f"{name} must hold at least one entry")
  for i, item in enumerate(items):
    if not isinstance(item, Mapping):
      raise TypeError(f"{name}[{i}] must be a dict, got {type(item).__name__}")
    missing = [k for k in required if k not in item]
    if missing:
      raise ValueError(f"{name}[{i}] lacks the keys {missing} (needs {list(required)})")
  return list(items)


def _vector(name: str, v) -> None:
  """A non-empty, real, finite 1-D array."""
  v = _checks.array(name, v, ndim=1)
  if np.size(v) == 0:
    raise ValueError(f"{name} must be non-empty")


def _tile(ax, v, shape, vmax=None):
  v = np.asarray(v, float).reshape(shape)
  vmax = vmax or (np.abs(v).max() + 1e-12)
  ax.imshow(v, cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
  ax.set_xticks([])
  ax.set_yticks([])


def _image_shape(image_shape) -> tuple[int, int]:
  if isinstance(image_shape, (str, bytes)) or not isinstance(image_shape, (tuple, list)):
    raise TypeError(f"image_shape must be a pair (rows, cols), got {image_shape!r}")
  if len(image_shape) != 2:
    raise ValueError(f"image_shape must be a pair (rows, cols), got {image_shape!r}")
  return tuple(_checks.positive_int("image_shape", s) for s in image_shape)


def _validate_pairs(panels, image_shape, max_cols) -> None:
  keys = ("title", "ref", "learned", "ref_label", "learned_label")
  panels = _dicts("panels", panels, keys)
  rows, cols = _image_shape(image_shape)
  _checks.positive_int("max_cols", max_cols)
  for i, panel in enumerate(panels):
    ref = _checks.array(f"panels[{i}]['ref']", panel["ref"], ndim=2)
    learned = _checks.array(f"panels[{i}]['learned']", panel["learned"], ndim=2)
    if np.shape(ref) != np.shape(learned) or np.shape(ref)[1] == 0:
      raise ValueError(f"panels[{i}]: 'ref' and 'learned' must have one shape (d, m), m >= 1, got "
                       f"{np.shape(ref)} and {np.shape(learned)}")
    if np.shape(ref)[0] != rows * cols:
      raise ValueError(f"panels[{i}]: columns of length d={np.shape(ref)[0]} cannot be drawn as "
                       f"image_shape={image_shape} ({rows * cols} pixels)")
    if panel.get("cos") is not None:  # NaN allowed: an undefined cosine is drawn as "cos nan"
      _checks.real_array(f"panels[{i}]['cos']", panel["cos"])
      if np.shape(panel["cos"]) != np.shape(ref)[1:]:
        raise ValueError(f"panels[{i}]['cos'] must have shape (m,)={np.shape(ref)[1:]}, got {np.shape(panel['cos'])}")


def weight_pairs(panels: Sequence[dict], image_shape=(8, 8), max_cols: int = 10):
  """Rows of reference vectors above the learned weight columns matched to them.

  Args:
    panels: dicts with ``title``, ``ref`` ``(d, m)``, ``learned`` ``(d, m)``, ``ref_label``,
      ``learned_label`` and optional ``cos`` ``(m,)`` (printed under each learned tile).
    image_shape: how a length-d vector is drawn.
    max_cols: at most this many columns per panel.

  Each tile has its own symmetric colour scale (columns and samples differ in norm).
  """
  _validate_pairs(panels, image_shape, max_cols)
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
      _tile(top[j + 1], np.asarray(panel["ref"])[:, j], image_shape)
      _tile(bottom[j + 1], np.asarray(panel["learned"])[:, j], image_shape)
      if panel.get("cos") is not None:
        bottom[j + 1].set_xlabel(f"cos {panel['cos'][j]:.2f}", fontsize=7, labelpad=1)
  fig.subplots_adjust(left=0.01, right=0.99, top=0.97, bottom=0.02, wspace=0.15, hspace=0.7)
  return fig


def _validate_representations(examples, histograms) -> None:
  examples = _dicts("examples", examples, ("title", "h"), allow_empty=True)
  histograms = _dicts("histograms", histograms, ("title", "xlabel", "series"), allow_empty=True)
  if not examples and not histograms:
    raise ValueError("examples and histograms are both empty: nothing to draw")
  for i, ex in enumerate(examples):
    _vector(f"examples[{i}]['h']", ex["h"])
  for i, hist in enumerate(histograms):
    series = hist["series"]
    if isinstance(series, (str, bytes, Mapping)) or not isinstance(series, Sequence):
      raise TypeError(f"histograms[{i}]['series'] must be a list of (label, values) pairs, got {type(series).__name__}")
    if not series:
      raise ValueError(f"histograms[{i}]['series'] must hold at least one (label, values) pair")
    for j, pair in enumerate(series):
      if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"histograms[{i}]['series'][{j}] must be a (label, values) pair, got {pair!r}")
      _vector(f"histograms[{i}]['series'][{j}] values", pair[1])


def representations(examples: Sequence[dict], histograms: Sequence[dict]):
  """Top: one representation ``h(x_i + σε)`` per model as bars; bottom: score histograms.

  Args:
    examples: dicts with ``title``, ``h`` ``(p,)`` and optional ``color``.
    histograms: dicts with ``title``, ``xlabel`` and ``series`` = list of
      ``(label, values)`` drawn as overlaid histograms.
  """
  _validate_representations(examples, histograms)
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
    colors = list(_SERIES_COLORS) + [f"C{k}" for k in range(4, len(hist["series"]))]
    for (label, v), color in zip(hist["series"], colors):
      ax.hist(np.asarray(v), bins=bins, alpha=0.6, label=label, color=color)
    ax.set_title(hist["title"], fontsize=9)
    ax.set_xlabel(hist["xlabel"])
    ax.set_ylabel("count")
    ax.legend(fontsize=7)
  for ax in axes[1][len(histograms):]:
    ax.axis("off")
  fig.tight_layout()
  return fig


def _validate_save(fig, path, dpi) -> tuple[str, str]:
  if not isinstance(fig, matplotlib.figure.Figure):
    hint = " (pass ax.figure)" if hasattr(fig, "figure") else ""
    raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}{hint}")
  path = _checks.output_file("path", path)
  ext = os.path.splitext(path)[1].lstrip(".").lower()
  supported = fig.canvas.get_supported_filetypes()
  if ext not in supported:
    raise ValueError(f"path must end in an image format's extension ({', '.join(sorted(supported))}), got {path!r}")
  _checks.scalar_positive("dpi", dpi)
  return path, ext


def save(fig, path: str, dpi: int = 130) -> str:
  """Saves atomically (a temporary file in the target directory, then a rename) and closes the figure.

  The format is the one of ``path``'s extension (``.png``, ``.pdf``, ``.svg``, ...).
  """
  path, ext = _validate_save(fig, path, dpi)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
  try:
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=ext)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  plt.close(fig)
  return path
