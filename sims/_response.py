"""Reporting rules shared by the detection and steering apps (``sims.detect_steer`` on the two-layer
models, ``sims.deep_diffusion`` on the UNet): the fewest positives a drawn ROC curve rests on
(:data:`MIN_POSITIVES`) and steering response curves with bootstrap intervals (:func:`bootstrap_curves`)."""

from __future__ import annotations

import numpy as np

from relu_dae import steering

__all__ = ["MIN_POSITIVES", "bootstrap_curves"]

# A ROC curve (and a TPR at 1 % FPR) is drawn and quoted only on at least this many positives; with fewer,
# the rows are still computed (marked ``too_few_positives``) and the figure says how many there were.
MIN_POSITIVES = 30

_KEYS = ("mean_curve_total_variation", "mean_curve_max_jump", "per_input_total_variation", "per_input_max_jump")


def _stats(cols: np.ndarray) -> np.ndarray:
  mean = steering.smoothness(cols)  # of the mean curve
  per = steering.smoothness_per_sample(cols)  # of each input's curve
  return np.array([mean["total_variation"], mean["max_jump"], per["total_variation"].mean(), per["max_jump"].mean()])


def bootstrap_curves(rng: np.random.Generator, curves: np.ndarray, num: int, level: float = 0.95) -> dict:
  """Mean response over inputs, its band, and smoothness with percentile-bootstrap CIs over inputs.

  ``curves (A, m)``: the response (e.g. P(target)) per strength (rows) and input (columns). Returns
  the four smoothness statistics of :func:`relu_dae.steering.smoothness` /
  ``smoothness_per_sample`` as ``{"value", "ci"}``, ``num_inputs``, ``mean_curve (A,)``,
  ``band (2, A)`` and ``final_p_target`` (the mean response at the largest strength, with its CI).
  """
  _A, m = curves.shape
  q = [(1 - level) / 2, (1 + level) / 2]
  boot_idx = rng.integers(0, m, size=(num, m))
  boot_mean = np.stack([curves[:, i].mean(axis=1) for i in boot_idx])  # (num, A)
  boot_stats = np.stack([_stats(curves[:, i]) for i in boot_idx])
  point, (lo, hi) = _stats(curves), np.quantile(boot_stats, q, axis=0)
  out = {k: dict(value=float(point[j]), ci=(float(lo[j]), float(hi[j]))) for j, k in enumerate(_KEYS)}
  out.update(num_inputs=int(m), mean_curve=curves.mean(axis=1), band=np.quantile(boot_mean, q, axis=0),
             final_p_target=dict(value=float(curves[-1].mean()),
                                 ci=tuple(float(x) for x in np.quantile(boot_mean[:, -1], q))))
  return out
