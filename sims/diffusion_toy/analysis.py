"""The summary of ``sims.diffusion_toy``: copy rates along n with hierarchical-bootstrap and Wilson
intervals, and the critical n where each crosses ``level`` (host statistics from :mod:`relu_dae.stats`).

One function per claim: :func:`summarize_curve` (a rate along n, its intervals and critical n),
:func:`summarize` (the table of every model and width), :func:`table_lines` (the log's table).
"""

from __future__ import annotations

import warnings

import numpy as np

from relu_dae import stats
from sims.diffusion_toy.experiments import EXPERIMENTS, _flags_of

__all__ = ["MEASURES", "summarize", "summarize_curve", "table_lines"]

MEASURES = ("copy", "dir_copy", "cosine")  # per-sample measures summarized over seeds


def _wilson(flags: np.ndarray) -> tuple[float, float]:
  """95 % Wilson interval of the finite 0/1 ``flags`` (NaN: a failed run, skipped)."""
  flags = flags[np.isfinite(flags)]
  if flags.size == 0:
    return float("nan"), float("nan")
  return stats.wilson_interval(int(flags.sum()), int(flags.size), 0.95)


def _curves(values: np.ndarray, config: dict, n_values, seeds, p=None) -> np.ndarray:
  """``(L, S, m)`` per-sample values along n for one width p (or for p-independent references)."""
  out = []
  for n in n_values:
    rows = []
    for s in seeds:
      sel = (config["n"] == n) & (config["seed"] == s) & (True if p is None else config["p"] == p)
      rows.append(values[np.flatnonzero(sel)[0]])
    out.append(np.stack(rows))
  return np.stack(out)


def summarize_curve(vals: np.ndarray, n_values, level: float, rng: np.random.Generator, num: int,
                    critical: bool) -> dict:
  """Mean, 95 % hierarchical-bootstrap and Wilson intervals along n, and the critical n (with CI)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    mean = np.nanmean(vals, axis=(1, 2))
    per_seed = np.nanmean(vals, axis=2).T  # (S, L)
  boots = np.stack([stats.hierarchical_bootstrap(v, rng, num) for v in vals], axis=1)  # (num, L)
  out = {"mean": mean, "ci_low": np.nanpercentile(boots, 2.5, axis=0), "ci_high": np.nanpercentile(boots, 97.5, axis=0),
         "per_seed": per_seed}
  if critical:
    out["wilson"] = np.array([_wilson(v.ravel()) for v in vals])  # (L, 2)
    out.update(stats.bootstrap_crossing(n_values, mean, boots, level)._asdict())
  return out


def summarize(c, diff: dict | None, dae: dict | None, oracles: dict | None, digits: dict | None) -> dict:
  """The copy-rate table (n × p, with intervals), critical n per p and the reference curves, of the
  experiments that ran (``None``: not run, left out of the table; ``experiments`` lists those in it)."""
  rng = np.random.default_rng(0)
  n_values, seeds = list(c.n), list(c.seeds)
  th, level, B = c.copy_threshold, c.level, c.bootstrap
  out = {"n": n_values, "p": list(c.p), "seeds": seeds, "copy_threshold": th, "level": level, "models": {},
         "experiments": [name for name, part in zip(EXPERIMENTS, (diff, dae, oracles, digits)) if part is not None]}
  for name, arrays in (("diffusion", diff), ("dae", dae)):
    if arrays is None:
      continue
    config = {k: arrays[f"config_{k}"] for k in ("n", "p", "seed")}
    flags = _flags_of(arrays, th)
    out["models"][name] = {
        int(p): {m: summarize_curve(_curves(flags[m], config, n_values, seeds, p), n_values, level, rng, B,
                                    critical=(m != "cosine")) for m in MEASURES}
        for p in c.p}
  for name in ("emp", "gt") if oracles is not None else ():
    config = {"n": oracles["config_n"], "seed": oracles["config_seed"]}
    flags = _flags_of({k[len(name) + 1:]: v for k, v in oracles.items() if k.startswith(name + "_")}
                      | {"ok": np.ones(len(config["n"]), bool)}, th)
    out["models"][name] = {m: summarize_curve(_curves(flags[m], config, n_values, seeds), n_values, level, rng, B,
                                              critical=(m != "cosine")) for m in MEASURES}
  if digits is not None:
    out["digits"] = {name: {"n": int(c.digits[f"n_{name}"]), "copy_rate": float(np.mean(digits[f"{name}_ratio"] < th)),
                            "dir_copy_rate": float(np.mean(digits[f"{name}_dir_ratio"] < th)),
                            "mean_cosine": float(np.mean(digits[f"{name}_cosine"])), "ok": bool(digits[f"{name}_ok"])}
                     for name in ("mem", "gen")}
  out["single_sigma_storage_n_star"] = 2 * c.K  # the phase diagram's n* ≈ 2K (docs/theory_choices.md §11, §15)
  return out


def table_lines(summary: dict, model: str = "diffusion", measure: str = "copy") -> list[str]:
  lines = [f"{model} {measure} rate (95% bootstrap CI), rows n, columns p"]
  lines.append("n".rjust(5) + "".join(f"p={p}".rjust(22) for p in summary["p"]))
  for i, n in enumerate(summary["n"]):
    cells = []
    for p in summary["p"]:
      s = summary["models"][model][p][measure]
      cells.append(f"{s['mean'][i]:.3f} [{s['ci_low'][i]:.3f},{s['ci_high'][i]:.3f}]".rjust(22))
    lines.append(f"{n:5d}" + "".join(cells))
  for p in summary["p"]:
    s = summary["models"][model][p][measure]
    lines.append(f"  p={p}: n_c={s['n_c']:.1f} CI [{s['n_c_ci'][0]:.1f}, {s['n_c_ci'][1]:.1f}] ({s['n_c_where']})")
  return lines
