"""What the phase diagram's saved results say: seed means, regimes per cell, critical n* with
seed-bootstrap intervals and power-law fits against p, K and α (host numpy on
``<workdir>/<experiment>.{npz,json}``; no figure is drawn here, see :mod:`.plots`).

Axes: a metric's grid is ``meta["grid_shape"]`` = (n, σ, λ, p, seed, duplicated, data) in
``relu_dae.sweep.AXES`` order; the functions below return it with n moved last (and the seed
axis averaged out or moved before n).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

import relu_dae as rd
from relu_dae import boundaries
from relu_dae import metrics
from relu_dae import sweep

__all__ = ["SCORES", "SUMMARY_EXPERIMENTS", "critical", "critical_interval", "critical_summary", "failed_seeds",
           "load", "per_seed", "regime_mode", "run_table", "seed_mean", "unsettled"]

SCORES = ("stored", "nearer_emp", "copies", "gap")  # the transition scores whose n* is located
SEED = sweep.AXES.index("seed")
SUMMARY_EXPERIMENTS = ("n_sigma", "n_p", "hybrid", "alpha_K")  # what critical_summary reads


def load(workdir: str, experiment: str) -> tuple[dict, dict]:
  """The saved ``(arrays, meta)`` of one experiment (``<workdir>/<experiment>.{npz,json}``)."""
  return rd.results.load(os.path.join(workdir, experiment))


def seed_mean(arrays, meta, name):
  """Seed-averaged metric on the grid: axes (σ, λ, p, duplicated, data[, extra], n)."""
  g = arrays[name].reshape(tuple(meta["grid_shape"]) + arrays[name].shape[1:])
  with warnings.catch_warnings():  # all-NaN cells (absent clusters, failed runs) stay NaN
    warnings.simplefilter("ignore", RuntimeWarning)
    g = np.nanmean(g, axis=SEED)
  return np.moveaxis(g, 0, -1)


def per_seed(arrays, meta, name):
  """A scalar metric per run: axes (σ, λ, p, duplicated, data, seed, n)."""
  g = np.asarray(arrays[name], float).reshape(meta["grid_shape"])
  return np.moveaxis(np.moveaxis(g, SEED, -1), 0, -1)


def regime_mode(arrays, meta):
  """Regime of each cell held by a strict majority of seeds (``boundaries.MIXED`` if none), n last."""
  codes = per_seed(arrays, meta, "regime")
  return boundaries.majority(boundaries.regime_fractions(codes, axis=-2))


def unsettled(arrays, meta):
  """Cells where some seed did not converge or failed: axes (σ, λ, p, duplicated, data, n)."""
  settled = per_seed(arrays, meta, "converged").astype(bool) & per_seed(arrays, meta, "ok").astype(bool)
  return ~np.all(settled, axis=-2)


def failed_seeds(arrays, meta):
  """Seeds per cell whose run failed (non-finite or unstable): axes (σ, λ, p, duplicated, data, n)."""
  return np.sum(~per_seed(arrays, meta, "ok").astype(bool), axis=-2)


def critical_interval(arrays, meta, name, level=0.5):
  """n* of a score with its seed-bootstrap interval (``boundaries.CriticalN``), axes (σ, λ, p, dup, data)."""
  n = np.asarray(meta["grid"]["n"], float)
  return boundaries.critical_n_interval(n, per_seed(arrays, meta, name), level,
                                        num_boot=int(meta["config"].get("num_boot", 1000)), seed=0)


def critical(arrays, meta, name):
  """The n* estimate of :func:`critical_interval` (no interval)."""
  return critical_interval(arrays, meta, name).estimate


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
  for experiment in SUMMARY_EXPERIMENTS:
    arrays, meta = load(workdir, experiment)
    crit = {s: critical_interval({**arrays, s: v}, meta, s) for s, v in _scores(arrays).items()}
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


def run_table(workdir: str, experiments) -> list[dict]:
  """One row per saved experiment: configurations, failed and unconverged runs, wall time, and
  the range of the storage n* over its lines (the closing summary of ``python -m sims.phase_diagram``)."""
  rows = []
  for experiment in experiments:
    if not os.path.isfile(os.path.join(workdir, experiment + ".json")):
      continue
    arrays, meta = load(workdir, experiment)
    ok, conv = np.asarray(arrays["ok"], bool), np.asarray(arrays["converged"], bool)
    n_star = np.asarray(critical(arrays, meta, "stored"), float)
    found = n_star[np.isfinite(n_star)]
    rows.append({"experiment": experiment, "configs": int(ok.size), "failed": int((~ok).sum()),
                 "unconverged": int((ok & ~conv).sum()), "wall_s": float(meta.get("wall_s", np.nan)),
                 "n*(stored)": f"{found.min():.3g}–{found.max():.3g}" if found.size else "none in grid"})
  return rows
