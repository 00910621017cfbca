r"""Copy rate of the multi-σ ReLU diffusion model vs sample count n (memorized vs generalized samples).

The time-conditioned ReLU model of ``relu_dae.diffusion`` (official settings, THEORY.md §6: σ
log-uniform on [0.02, 2] in the loss, the VE ancestral sampler on a geometric 60-step grid) is
trained on the first n rows of one (α, β)-separable K-cluster mixture pool, for n = 2 … 256, widths
p and seeds, then sampled. Each generated sample is compared with the training set:

* ``ratio``: the nearest-neighbour distance ratio d₁/d₂ (``metrics.nn_ratio``); a *copy* is
  d₁/d₂ < 1/3 (the field's standard, ``metrics.is_copy``);
* ``dir_ratio``: the same ratio between unit vectors (directions). The model is positively
  homogeneous (``f(cy, σ) = c f(y, σ)`` for c > 0), so it can store a training sample's direction
  but not its norm; a *direction copy* is ``dir_ratio < 1/3``;
* ``cosine``: the largest cosine similarity with a training sample (the official
  ``cosine_nn_idx`` measure behind the paper's Fig. 2).

Reference samplers on the same training sets: the empirical denoiser f_emp (Eq. 3; copies), the
exact mixture denoiser f_gt (never copies, up to the criterion's own false positives) and the
single-σ DAE of Eq. (5) trained by ``relu_dae.sweep`` and used at every σ
(``diffusion.single_sigma_dae``). Copy rates get 95 % hierarchical-bootstrap intervals (seeds,
then samples) and Wilson intervals on the pooled counts; the critical n where each copy rate
crosses 1/2 (``metrics.critical_n``, log-n interpolation) gets a bootstrap interval.

A second part trains the model on centred scikit-learn digits at a small and a large n and shows
generated samples next to their nearest training images (the paper's Fig. 2).

Writes ``<workdir>/{diffusion,dae,oracles,digits}.{npz,json}`` plus ``<workdir>/summary.json`` (the
copy-rate table and critical n), and ``diffusion_copy_rate.png``, ``diffusion_samples.png`` into
``--figdir`` (default ``<workdir>/figures``; ``--figdir=figures`` rewrites the committed ones). A
rerun with the same arguments reuses every finished part (each is keyed by a fingerprint of the
settings it depends on); ``--plot_only`` redraws from the saved results. The config and both
directories are checked before anything trains (a ``ValueError`` naming the override).

Usage::

  python -m sims.diffusion_toy                    # quick preset, a few minutes on 2 CPU cores
  python -m sims.diffusion_toy --figdir=figures   # the same, regenerating the committed figures
  python -m sims.diffusion_toy --config=sims/configs/diffusion_toy.py:paper   # GPU size
  python -m sims.diffusion_toy --plot_only --figdir=figures
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
import warnings
from typing import Callable, NamedTuple

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
from jax.tree_util import Partial
import numpy as np
import scipy.stats
from tqdm.auto import tqdm

import relu_dae as rd
from relu_dae import diffusion
from relu_dae import metrics
from relu_dae import sweep
from sims import _flags

_FLAGS = {}  # absl flag holders, defined only when the module runs as the app

PARTS = ("diffusion", "dae", "oracles", "digits")
MEASURES = ("copy", "dir_copy", "cosine")  # per-sample measures summarized over seeds


def define_flags() -> dict:
  """Defines this app's absl flags (at ``__main__`` only, so apps can be imported together)."""
  _FLAGS.update(_flags.define(
      "diffusion_toy.py", "results/diffusion_toy",
      plot_only=lambda: flags.DEFINE_bool("plot_only", False, "Redraw the figures from saved results.")))
  return _FLAGS


# ----------------------------------------------------------------------------- data


class Mixture(NamedTuple):
  """The training pool and its ground-truth denoiser."""
  X: np.ndarray  # (N, d) float32, rows interleaved over clusters (every prefix is balanced)
  labels: np.ndarray  # (N,)
  gt: Partial  # f_gt(y, σ) of the mixture the pool was drawn from


def mixture_data(c) -> Mixture:
  """The K-cluster (α, β)-separable pool of ``max(c.n)`` rows and its exact f_gt."""
  return _mixture_data(max(c.n), c.d, c.K, float(c.alpha), float(c.beta), float(c.norm), float(c.decay), c.data_seed)


@functools.lru_cache(maxsize=4)  # a resumed run in the same process does not rebuild the pool
def _mixture_data(N, d, K, alpha, beta, norm, decay, data_seed) -> Mixture:
  X, labels, spec = rd.data.separable_mixture(jax.random.PRNGKey(data_seed), d=d, K=K, n_per_cluster=-(-N // K),
                                              alpha=alpha, beta=beta, norm=norm, decay=decay)
  X, labels = sweep.interleave(np.asarray(X), np.asarray(labels))
  m = spec.mixture
  factors = np.asarray(m.cov_factors, np.float64)  # covariances in float64: exactly PSD
  gt = diffusion.gaussian_mixture_denoiser(np.asarray(m.means, np.float64), factors @ np.swapaxes(factors, 1, 2),
                                           np.asarray(m.weights, np.float64))
  return Mixture(X[:N].astype(np.float32), labels[:N], gt)


def _fingerprint(*parts) -> str:
  text = json.dumps(rd.results._jsonable(parts), sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached(stem: str, fingerprint: str, compute: Callable[[], tuple[dict, dict]]) -> tuple[dict, dict]:
  """Loads ``stem`` if it was written with this fingerprint, else computes and saves it (resume)."""
  if os.path.exists(stem + ".npz") and os.path.exists(stem + ".json"):
    arrays, meta = rd.results.load(stem)
    if meta.get("fingerprint") == fingerprint:
      logging.info("reusing %s", stem)
      return arrays, meta
  arrays, meta = compute()
  meta = dict(meta, fingerprint=fingerprint)
  rd.results.save(stem, arrays, meta)
  return arrays, meta


# ----------------------------------------------------------------------------- measures


def sample_measures(samples: jax.Array, X: jax.Array, w: jax.Array) -> dict:
  """Per-sample copy measures of generated ``samples (m, d)`` against the training set.

  The training set is the rows of ``X (N, d)`` with ``w > 0``. Returns ``(m,)`` arrays:
  ``ratio`` (Euclidean d₁/d₂, ``metrics.nn_ratio``), ``dir_ratio`` (d₁/d₂ between unit vectors),
  ``cosine`` (largest cosine with a training sample, the official ``cosine_nn_idx``) and
  ``nn_cos`` (its index). Pure ``jnp``; vmappable.

  Example:
    >>> X = jnp.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0]])
    >>> out = sample_measures(jnp.array([[1.0, 0.1]]), X, jnp.ones(3))
    >>> round(float(out["ratio"][0]), 2), int(out["nn_cos"][0])  # half-way along x_0: not a copy
    (0.47, 0)
    >>> bool(out["dir_ratio"][0] < 1 / 3)  # but its direction is x_0's
    True
  """
  cos = jnp.where(w > 0, metrics.column_cosines(X.T, samples), -jnp.inf)  # (m, N)
  return dict(ratio=metrics.nn_ratio(samples, X, w), dir_ratio=metrics.nn_ratio(samples, X, w, direction=True),
              cosine=jnp.max(cos, axis=-1), nn_cos=jnp.argmax(cos, axis=-1))


def _flags_of(arrays: dict, threshold: float) -> dict:
  """``{measure: (C, m)}`` floats: copy flags (1/0) and cosines, NaN where the run is not ok."""
  ok = arrays["ok"][:, None]
  out = {"copy": arrays["ratio"] < threshold, "dir_copy": arrays["dir_ratio"] < threshold,
         "cosine": arrays["cosine"]}
  return {k: np.where(ok, v.astype(np.float64), np.nan) for k, v in out.items()}


# ----------------------------------------------------------------------------- the two sweeps


def _diffusion_denoiser(outputs) -> Partial:
  return diffusion.model_denoiser(outputs["params"])


def _dae_denoiser(outputs) -> Partial:
  return diffusion.single_sigma_dae({"W": outputs["params"]})


@dataclasses.dataclass(frozen=True)
class CopyMeasure:
  """Samples a trained configuration and measures its samples (a ``sweep.measure`` function).

  ``denoiser(outputs)`` builds the sampler's denoiser from the trainer's outputs; the
  sampler key is ``split(key, 3)[2]`` (the diffusion trainer uses ``[0]``, ``[1]``), the
  same for every model of a seed, so f_emp, f_gt and both trained models share noise.
  """
  denoiser: Callable
  sampler: tuple  # (num_samples, num_steps, clamp)
  sigma_min: float
  sigma_max: float
  show: int

  def __call__(self, member: sweep.Member, outputs: dict, shared) -> dict:
    del shared
    num, steps, clamp = self.sampler
    samples = diffusion.sample(self.denoiser(outputs), jax.random.split(member.key, 3)[2], num, member.X.shape[1],
                               num_steps=steps, sigma_max=self.sigma_max, sigma_min=self.sigma_min, clamp=clamp)
    return dict(sample_measures(samples, member.X, member.weights), samples=samples[:self.show])


def _copy_measure(c, denoiser: Callable) -> CopyMeasure:
  return CopyMeasure(denoiser, _sampler_tuple(c), float(c.sigma_min), float(c.sigma_max), int(c.show_samples))


def diffusion_trainer(c) -> diffusion.SweepTrainer:
  """The multi-σ model's :class:`relu_dae.diffusion.SweepTrainer` of a preset."""
  return diffusion.SweepTrainer(rd.train.TrainConfig(**c.train.to_dict()), p_max=max(c.p), hidden=c.hidden,
                                sigma_min=c.sigma_min, sigma_max=c.sigma_max, min_noisy_batch=c.min_noisy_batch)


def _measured_sweep(name: str, c, data: Mixture, grid: sweep.Grid, config: sweep.SweepConfig, denoiser: Callable,
                    workdir: str, progress: bool) -> tuple[dict, dict]:
  """``sweep.run`` then ``sweep.measure`` with :class:`CopyMeasure`; both resume (the sweep by its chunks,
  the measures by a fingerprint of the finished sweep and the sampler)."""
  res = sweep.load(sweep.run(grid, config, os.path.join(workdir, f"{name}_sweep"), pool=data.X, labels=data.labels,
                             progress=progress))
  measure_fn = _copy_measure(c, denoiser)

  def compute():
    t = time.perf_counter()
    vals = sweep.measure(res, measure_fn, pool=data.X, labels=data.labels, batch_size=c.measure_batch)
    extra = {k: res.outputs[k] for k in ("final_loss", "nonfinite_step", "masked_max", "params.skip")
             if k in res.outputs}
    arrays = {**{f"config_{k}": res.configs[k] for k in ("n", "p", "seed")}, **vals,
              **{k.replace("params.", ""): v for k, v in extra.items()}, "ok": res.ok,
              "converged": res.converged, "steps_run": res.steps_run, "status": res.status,
              "pool": data.X, "pool_labels": data.labels}
    meta = dict(part=name, configs_axes=["n", "p", "seed"], n=list(c.n), p=list(c.p), seeds=list(c.seeds),
                num_nonfinite=res.meta["num_nonfinite"], num_not_ok=int((~res.ok).sum()),
                status_counts=res.meta["status_counts"], converged_fraction=res.meta["converged_fraction"],
                config_steps=res.meta["config_steps"], train_wall_s=res.meta["wall_s"],
                measure_wall_s=time.perf_counter() - t)
    return arrays, meta

  fp = _fingerprint(res.meta["config"], res.meta["grid"], dataclasses.asdict(measure_fn) | {"denoiser": name},
                    float(np.nansum(res.final_loss)))
  return _cached(os.path.join(workdir, name), fp, compute)


def run_diffusion(c, data: Mixture, workdir: str, *, progress: bool = True) -> tuple[dict, dict]:
  """Trains (``sweep.run`` with :func:`diffusion_trainer`), samples and measures every (n, p, seed)."""
  grid = sweep.Grid(n=c.n, p=c.p, seed=c.seeds)
  config = sweep.SweepConfig(p_max=max(c.p), buckets=c.buckets, trainer=diffusion_trainer(c))
  return _measured_sweep("diffusion", c, data, grid, config, _diffusion_denoiser, workdir, progress)


# ----------------------------------------------------------------------------- references


@functools.partial(jax.jit, static_argnames=("sampler", "sigma_min", "sigma_max"))
def _sample_measure(denoisers, keys, pool, w, *, sampler, sigma_min, sigma_max):
  """vmaps ``diffusion.sample`` + :func:`sample_measures` over a batch of denoisers, keys and weights."""
  def one(den, key, w_):
    s = diffusion.sample(den, key, sampler[0], pool.shape[1], num_steps=sampler[1], sigma_max=sigma_max,
                         sigma_min=sigma_min, clamp=sampler[2])
    return dict(sample_measures(s, pool, w_), samples=s)
  return jax.vmap(one)(denoisers, keys, w)


def _sampler_tuple(c) -> tuple:
  s = c.sampler
  return (int(s.num_samples), int(s.num_steps), None if s.clamp is None else float(s.clamp))


def _sample_keys(seeds) -> jax.Array:
  """The sampler key of a seed, as in :class:`CopyMeasure`."""
  return jax.vmap(lambda s: jax.random.split(jax.random.PRNGKey(s), 3)[2])(jnp.asarray(seeds))


def run_dae(c, data: Mixture, workdir: str, *, progress: bool = True) -> tuple[dict, dict]:
  """The single-σ DAE (Eq. 5) at every (n, p, seed), trained by ``relu_dae.sweep``, used as a sampler."""
  tc = rd.train.TrainConfig(**{k: v for k, v in c.dae.to_dict().items() if k not in ("sigma", "lam")})
  grid = sweep.Grid(n=c.n, sigma=(c.dae.sigma,), lam=(c.dae.lam,), p=c.p, seed=c.seeds)
  config = sweep.SweepConfig(tc, p_max=max(c.p), buckets=c.buckets)
  return _measured_sweep("dae", c, data, grid, config, _dae_denoiser, workdir, progress)


def _emp_denoiser(X, w, y, sigma):
  return metrics.weighted_empirical(y, X, w, sigma)


def run_oracles(c, data: Mixture, workdir: str) -> tuple[dict, dict]:
  """f_emp on every (n, seed) training set and f_gt (one set of samples per seed, measured at every n)."""
  def compute():
    t = time.perf_counter()
    n, seed = (a.ravel() for a in np.meshgrid(np.asarray(c.n), np.asarray(c.seeds), indexing="ij"))
    X = jnp.asarray(data.X)
    w = jnp.asarray((np.arange(X.shape[0])[None] < n[:, None]).astype(np.float32))
    kw = dict(sampler=_sampler_tuple(c), sigma_min=c.sigma_min, sigma_max=c.sigma_max)
    emp = _sample_measure(Partial(_emp_denoiser, jnp.broadcast_to(X, (len(n),) + X.shape), w),
                          _sample_keys(seed), X, w, **kw)
    gt_den = jax.tree.map(lambda a: jnp.broadcast_to(a, (len(n),) + a.shape), data.gt)  # same f_gt, same keys
    gt = _sample_measure(gt_den, _sample_keys(seed), X, w, **kw)
    arrays = {"config_n": n, "config_seed": seed}
    for name, out in (("emp", emp), ("gt", gt)):
      out = jax.tree.map(np.asarray, out)
      out["samples"] = out["samples"][:, :c.show_samples]
      arrays.update({f"{name}_{k}": v for k, v in out.items()})
    return arrays, dict(part="oracles", wall_s=time.perf_counter() - t)

  fp = _fingerprint(_sampler_tuple(c), c.sigma_min, c.sigma_max, list(c.n), list(c.seeds), c.show_samples,
                    [c.d, c.K, c.alpha, c.beta, c.norm, c.decay, c.data_seed])
  return _cached(os.path.join(workdir, "oracles"), fp, compute)


# ----------------------------------------------------------------------------- digits


def run_digits(c, workdir: str, *, progress: bool = True) -> tuple[dict, dict]:
  """A memorizing (n_mem) and a generalizing (n_gen) model on centred digits, sampled and measured.

  One two-configuration ``sweep.run`` of :class:`relu_dae.diffusion.SweepTrainer` on the
  class-interleaved digits (at least ``c.min_noisy_batch`` noisy inputs per step), then
  :class:`CopyMeasure`; with ``c.buckets == "single"`` both train in one ``vmap``.
  """
  g = c.digits
  X, labels = rd.data.load_digits()
  mean = X.mean(axis=0)
  X, labels = sweep.interleave(X - mean, labels)  # centred (docs/theory_choices.md, Digits)
  N = max(g.n_mem, g.n_gen)
  X, labels = X[:N].astype(np.float32), labels[:N]
  tc = rd.train.TrainConfig(steps=g.steps, learning_rate=g.learning_rate, schedule="cosine", optimizer="adam",
                            chunk_size=max(1, g.steps // 4))
  trainer = diffusion.SweepTrainer(tc, p_max=g.p, hidden=c.hidden, sigma_min=c.sigma_min, sigma_max=c.sigma_max,
                                   min_noisy_batch=c.min_noisy_batch)
  grid = sweep.Grid(n=(g.n_mem, g.n_gen), p=(g.p,), seed=(g.seed,))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(p_max=g.p, buckets=c.buckets, trainer=trainer),
                             os.path.join(workdir, "digits_sweep"), pool=X, labels=labels, progress=progress))
  measure_fn = CopyMeasure(_diffusion_denoiser, (int(g.num_samples), int(c.sampler.num_steps), g.clamp),
                           float(c.sigma_min), float(c.sigma_max), int(g.show))

  def compute():
    t = time.perf_counter()
    vals = sweep.measure(res, measure_fn, pool=X, labels=labels)
    vals.update(ok=res.ok, final_loss=res.final_loss, masked_max=res.outputs["masked_max"],
                skip=res.outputs["params.skip"])
    arrays = {"mean_image": mean, "train_images": X, "train_labels": labels}
    for i, name in enumerate(("mem", "gen")):
      arrays.update({f"{name}_{key}": v[i] for key, v in vals.items()})
    return arrays, dict(part="digits", n_mem=g.n_mem, n_gen=g.n_gen, p=g.p, wall_s=time.perf_counter() - t,
                        train_wall_s=res.meta["wall_s"], status_counts=res.meta["status_counts"])

  fp = _fingerprint(res.meta["config"], res.meta["grid"], dataclasses.asdict(measure_fn) | {"denoiser": "diffusion"},
                    float(np.nansum(res.final_loss)))
  return _cached(os.path.join(workdir, "digits"), fp, compute)


# ----------------------------------------------------------------------------- summary


def hierarchical_bootstrap(values: np.ndarray, rng: np.random.Generator, num: int) -> np.ndarray:
  """Means of ``values (S, m)`` (seeds × samples) over ``num`` two-level bootstrap replicates, ``(num,)``.

  Each replicate draws S seeds with replacement, then m samples with replacement within each
  drawn seed, and averages; NaN rows (failed runs) are skipped (NaN if every drawn seed failed).
  """
  S, m = values.shape
  seeds = rng.integers(0, S, (num, S))
  picked = values[seeds[..., None], rng.integers(0, m, (num, S, m))]  # (num, S, m)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice" where every drawn seed failed
    return np.nanmean(picked, axis=(1, 2))


def _wilson(flags: np.ndarray) -> tuple[float, float]:
  flags = flags[np.isfinite(flags)]
  if flags.size == 0:
    return float("nan"), float("nan")
  ci = scipy.stats.binomtest(int(flags.sum()), int(flags.size)).proportion_ci(0.95, method="wilson")
  return float(ci.low), float(ci.high)


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
  boots = np.stack([hierarchical_bootstrap(v, rng, num) for v in vals], axis=1)  # (num, L)
  out = {"mean": mean, "ci_low": np.nanpercentile(boots, 2.5, axis=0), "ci_high": np.nanpercentile(boots, 97.5, axis=0),
         "per_seed": per_seed}
  if critical:
    out["wilson"] = np.array([_wilson(v.ravel()) for v in vals])  # (L, 2)
    out.update(critical_n(n_values, mean, boots, level))
  return out


def critical_n(n_values, mean: np.ndarray, boots: np.ndarray, level: float) -> dict:
  """Where the copy-rate curve ``mean (L,)`` first crosses ``level``; 95 % interval from ``boots (B, L)``.

  ``where`` says ``"crossed"``, ``"below_grid"`` (the rate is under ``level`` at every n, so
  n_c < min n) or ``"above_grid"`` (n_c > max n).
  """
  finite = np.isfinite(mean)
  nc = float(metrics.critical_n(np.asarray(n_values)[finite], mean[finite], level, absolute=True)) \
      if finite.sum() >= 2 else float("nan")
  where = "crossed" if np.isfinite(nc) else ("below_grid" if np.nanmax(mean) < level else "above_grid")
  valid = np.all(np.isfinite(boots), axis=1)  # replicates whose every drawn seed trained
  reps = metrics.critical_n(n_values, boots[valid], level, absolute=True) if valid.any() else np.array([])
  crossed = np.isfinite(reps) if valid.all() else np.concatenate([np.isfinite(reps), np.zeros((~valid).sum(), bool)])
  ci = np.percentile(reps[np.isfinite(reps)], [2.5, 97.5]) if crossed.mean() > 0.5 else np.array([np.nan, np.nan])
  return {"n_c": nc, "n_c_ci": ci, "n_c_where": where, "n_c_boot_crossed": float(crossed.mean())}


def summarize(c, diff: dict, dae: dict, oracles: dict, digits: dict) -> dict:
  """The copy-rate table (n × p, with intervals), critical n per p and the reference curves."""
  rng = np.random.default_rng(0)
  n_values, seeds = list(c.n), list(c.seeds)
  th, level, B = c.copy_threshold, c.level, c.bootstrap
  out = {"n": n_values, "p": list(c.p), "seeds": seeds, "copy_threshold": th, "level": level, "models": {}}
  for name, arrays in (("diffusion", diff), ("dae", dae)):
    config = {k: arrays[f"config_{k}"] for k in ("n", "p", "seed")}
    flags = _flags_of(arrays, th)
    out["models"][name] = {
        int(p): {m: summarize_curve(_curves(flags[m], config, n_values, seeds, p), n_values, level, rng, B,
                                    critical=(m != "cosine")) for m in MEASURES}
        for p in c.p}
  config = {"n": oracles["config_n"], "seed": oracles["config_seed"]}
  for name in ("emp", "gt"):
    flags = _flags_of({k[len(name) + 1:]: v for k, v in oracles.items() if k.startswith(name + "_")}
                      | {"ok": np.ones(len(config["n"]), bool)}, th)
    out["models"][name] = {m: summarize_curve(_curves(flags[m], config, n_values, seeds), n_values, level, rng, B,
                                              critical=(m != "cosine")) for m in MEASURES}
  out["digits"] = {name: {"n": int(c.digits[f"n_{name}"]), "copy_rate": float(np.mean(digits[f"{name}_ratio"] < th)),
                          "dir_copy_rate": float(np.mean(digits[f"{name}_dir_ratio"] < th)),
                          "mean_cosine": float(np.mean(digits[f"{name}_cosine"])), "ok": bool(digits[f"{name}_ok"])}
                   for name in ("mem", "gen")}
  out["single_sigma_storage_n_star"] = 2 * c.K  # the phase diagram's n* ≈ 2K (docs/theory_choices.md §11, §15)
  return out


def _table_lines(summary: dict, model: str = "diffusion", measure: str = "copy") -> list[str]:
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


# ----------------------------------------------------------------------------- app


def validate_config(c) -> None:
  """Checks the preset before anything trains (``ValueError`` naming the override, e.g.
  ``--config.K=0: ...``): the data, grid, sampler and thresholds here, then builds the grids,
  trainers and training configs (their own checks run)."""
  for name in ("hidden", "min_noisy_batch", "bootstrap", "show_samples", "measure_batch"):
    _flags.integer(c, name)
  K = _flags.integer(c, "K", 2)
  if _flags.integer(c, "d") < K:
    _flags.fail("d", c.d, f"must be >= K={K} (K simplex means)")
  _flags.real(c, "alpha", 0.0)
  _flags.real(c, "beta", -1.0 / (K - 1), 1.0, closed=(True, False))
  for name in ("norm", "decay"):
    _flags.real(c, name, 0.0, closed=(False, True))
  _flags.seed(c, "data_seed")
  n = _flags.integers(c, "n", 2, distinct=True)
  if max(n) < K:
    _flags.fail("n", c.n, f"needs a value >= K={K} (the samples figure shows the mixture at the first n >= K)")
  _flags.integers(c, "p", 1, distinct=True)
  _flags.integers(c, "seeds", 0, 2**31 - 1, distinct=True)
  _flags.choice(c, "buckets", ("pow2", "single"))
  for name in ("copy_threshold", "level"):
    _flags.real(c, name, 0.0, 1.0, closed=(False, False))
  _validate_sampling(c)
  with _flags.section("train"):
    diffusion_trainer(c)
  _flags.real(c, "dae.sigma", 0.0, closed=(False, True))
  _flags.real(c, "dae.lam", 0.0)
  with _flags.section("dae"):
    rd.train.TrainConfig(**{k: v for k, v in c.dae.to_dict().items() if k not in ("sigma", "lam")})
  _validate_digits(c)


def _validate_sampling(c) -> None:
  """The sampler's fields and the σ range of the loss and the sampler."""
  if _flags.real(c, "sigma_min", 0.0, closed=(False, True)) >= _flags.real(c, "sigma_max", 0.0, closed=(False, True)):
    _flags.fail("sigma_max", c.sigma_max, f"must be > sigma_min={c.sigma_min}")
  for name in ("num_samples", "num_steps"):
    _flags.integer(c, f"sampler.{name}")
  _flags.optional_real(c, "sampler.clamp", 0.0, closed=(False, True))


def _validate_digits(c) -> None:
  """The digits part: sizes against the 1797 images, its model and sampler."""
  n_gen = _flags.integer(c, "digits.n_gen", 2, 1797, hi_name="the number of digits")
  _flags.integer(c, "digits.n_mem", 2, n_gen - 1, hi_name="digits.n_gen - 1")
  for name in ("p", "steps", "num_samples"):
    _flags.integer(c, f"digits.{name}")
  _flags.integer(c, "digits.show", 1, c.digits.num_samples, hi_name="digits.num_samples")
  _flags.real(c, "digits.learning_rate", 0.0, closed=(False, True))
  _flags.optional_real(c, "digits.clamp", 0.0, closed=(False, True))
  _flags.seed(c, "digits.seed")


def run(c, workdir: str, figdir: str | None = None, *, plot_only: bool = False, progress: bool = True) -> list[str]:
  """Runs every part (or with ``plot_only`` only redraws); returns the figure paths.

  ``figdir`` defaults to ``<workdir>/figures``. The config and both directories are checked
  before anything trains."""
  figdir = _flags.figdir_for(workdir, figdir)
  if plot_only:
    _flags.saved_results(workdir, PARTS)
  else:
    validate_config(c)
    _flags.writable_dir("workdir", workdir)
  _flags.writable_dir("figdir", figdir)
  if not plot_only:
    start = time.perf_counter()
    data = mixture_data(c)
    diff, _ = run_diffusion(c, data, workdir, progress=progress)
    dae, _ = run_dae(c, data, workdir, progress=progress)
    oracles, _ = run_oracles(c, data, workdir)
    digits, _ = run_digits(c, workdir, progress=progress)
    summary = summarize(c, diff, dae, oracles, digits)
    summary["wall_s"] = time.perf_counter() - start
    summary["config"] = c.to_dict()
    rd.results.save_json(os.path.join(workdir, "summary.json"), summary)
    for line in _table_lines(summary) + _table_lines(summary, measure="dir_copy"):
      logging.info("%s", line)
  from sims import diffusion_toy_plots  # matplotlib only when drawing
  return diffusion_toy_plots.draw_all(workdir, figdir)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  start = time.perf_counter()
  paths = run(_FLAGS["config"].value, _FLAGS["workdir"].value, _FLAGS["figdir"].value,
              plot_only=_FLAGS["plot_only"].value)
  print(f"wrote {', '.join(paths)} and {_FLAGS['workdir'].value}/*.npz/.json in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
  define_flags()
  app.run(_flags.exit_on_flag_error(main))
