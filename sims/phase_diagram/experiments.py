r"""The phase diagram's four experiments: data families, sweeps, per-model metrics, refinement.

Each experiment (:data:`EXPERIMENTS`) is one ``relu_dae.sweep.run`` (one ``jit(vmap(train))`` per
bucket of n) plus ``c.refine.rounds`` adaptive rounds that add integer n inside every storage
crossing's bracket (:func:`refinement`):

* ``n_sigma``: n × σ at p = p_max, for (a) a locally sparse family (each sample its own
  direction, centred) and (b) a K-cluster (α, β)-separable mixture (and (c) the same at the
  premise-holding α);
* ``n_p``: n × width p at fixed σ (the theory's line n = p of Cor. 3.2 drawn on top);
* ``hybrid``: n × fraction of clusters made of copies of one sample (Cor. 3.4);
* ``alpha_K``: n × within-cluster spread α × number of clusters K, for the scaling of n*.

Every trained model is measured by :class:`Metrics` (``relu_dae.metrics``); the per-cluster
Gram spectra behind the Cor. 3.3 target are computed on the host one training set and one
cluster at a time, top pairs only (:func:`cluster_spectra`), so host memory holds one training
set's ``(K, d, max(p_max // K, 1))`` spectra, never one per configuration and never ``K·d²``.

Nothing here reads absl flags: :func:`run_experiment` takes the config ``c`` (a
``ml_collections.ConfigDict`` of ``sims/configs/phase_diagram.py``), the experiment's name and
its directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
from jax.tree_util import Partial
from jaxtyping import Float
import numpy as np

import relu_dae as rd
from relu_dae import metrics
from relu_dae import sweep

__all__ = ["EXPERIMENTS", "Family", "Metrics", "cluster_spectra", "families", "grid", "measure", "mixture_family",
           "plan_experiment", "sweep_config",
           "num_families", "premises", "refinement", "run_experiment", "sparse_family", "train_config"]

EXPERIMENTS = ("n_sigma", "n_p", "hybrid", "alpha_K")


class Family(NamedTuple):
  """A data family: training pool, held-out samples and its ground-truth denoiser."""
  name: str
  X: np.ndarray  # (N, d), rows interleaved over clusters so every prefix is balanced
  labels: np.ndarray  # (N,)
  X_test: np.ndarray  # (M, d)
  num_clusters: int
  gt: Partial  # gt(y, sigma) -> f_gt(y), a pytree (its arrays are traced, not baked into a compile)


def _mixture_gt(means, evals, evecs, weights, y, sigma):
  return rd.denoisers.gaussian_mixture_spectral(y, means, evals, evecs, weights, sigma)


def _isotropic_gt(var, y, sigma):
  return y * (var / (var + sigma**2))


def mixture_family(key, c, *, K: int, alpha: float) -> Family:
  """K-cluster (α, β)-separable mixture; its last rows are held out.

  β is ``c.beta``, raised to ``0.9·(−1/(K−1))`` where K means cannot be that anti-correlated.
  """
  per = -(-(c.pool + c.test) // K)
  beta = max(c.beta, -0.9 / (K - 1))
  X, labels, spec = rd.data.separable_mixture(key, d=c.d, K=K, n_per_cluster=per, alpha=alpha, beta=beta,
                                              norm=c.norm, decay=c.decay)
  X, labels = sweep.interleave(np.asarray(X), np.asarray(labels))
  m = spec.mixture
  evals, evecs = np.linalg.eigh(np.asarray(m.covs, np.float64))  # host LAPACK, once per family
  evals, evecs = jnp.asarray(evals, jnp.float32), jnp.asarray(evecs, jnp.float32)
  gt = Partial(_mixture_gt, jnp.asarray(m.means), evals, evecs, jnp.asarray(m.weights))
  return Family(f"mixture K={K} α={alpha:g}", X[:c.pool], labels[:c.pool], X[c.pool:c.pool + c.test], K, gt)


def sparse_family(key, c) -> Family:
  """Locally sparse: i.i.d. directions, centred, norm ``c.norm``; one cluster per sample.

  f_gt is the Gaussian posterior mean for the matching isotropic covariance
  ``(norm²/d) I`` (the directions' distribution up to O(1/d)).
  """
  G = np.array(jax.random.normal(key, (c.pool + c.test, c.d)))
  G -= G.mean(axis=0)
  X = c.norm * G / np.linalg.norm(G, axis=1, keepdims=True)
  gt = Partial(_isotropic_gt, jnp.float32(c.norm**2 / c.d))
  return Family("locally sparse", X[:c.pool], np.arange(c.pool), X[c.pool:], c.pool, gt)


_MAX_K = 8  # per-cluster arrays are stored padded (NaN) to this many clusters


def _pad(v):
  return jnp.pad(v, (0, max(0, _MAX_K - v.shape[0])), constant_values=jnp.nan)[:_MAX_K]


def _units_per_cluster(params, X, labels, w, K):
  """Hidden units owned by each cluster (the one that activates a unit most often), ``(K,)``."""
  active = (rd.model.represent(params, X) > 0) * (w > 0)[:, None]  # (N, p)
  per_unit = jax.nn.one_hot(labels, K).T @ active  # (K, p)
  alive = jnp.sum(per_unit, axis=0) > 0
  return jnp.sum(jax.nn.one_hot(jnp.argmax(per_unit, axis=0), K) * alive[:, None], axis=0)


def cluster_spectra(fam: Family, n: int, duplicated: float, rank: int) -> tuple[
    Float[np.ndarray, "K r"], Float[np.ndarray, "K d r"], Float[np.ndarray, " K"]]:
  r"""The top-``rank`` eigenpairs of each cluster's weighted Gram ``Σ_i w_i [label_i = k] x_i x_iᵀ``
  of one training set (the first ``n`` pool rows, clusters ``k < round(duplicated·K)`` replaced by
  copies of their first row: ``sweep.sample_weights``), on the host: ``minima.top_cluster_spectra``.

  ``rank = max(p_max // K, 1)`` covers every width of the sweep (the target keeps ``p // K`` pairs
  per cluster), so host memory is ``K·d·rank`` floats per training set (at the paper preset's
  locally sparse family, 10,000 clusters × 1024 × 1: 40 MB, instead of ``K·d²`` = 40 GB), and each
  cluster costs a thin SVD of its own rows. Every σ, λ, p sharing ``(n, duplicated)`` reuses it.

  Returns:
    ``evals (K, rank)`` ascending, ``evecs (K, d, rank)``, weighted counts ``n_k (K,)`` (float32 numpy).

  Example:
    >>> import jax, ml_collections
    >>> c = ml_collections.ConfigDict(dict(pool=8, test=2, d=4, norm=1.0))
    >>> evals, evecs, n_k = cluster_spectra(sparse_family(jax.random.PRNGKey(0), c), 3, 0.0, 1)
    >>> evals.shape, evecs.shape, n_k.tolist()
    ((8, 1), (8, 4, 1), [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
  """
  K = fam.num_clusters
  first = sweep.first_rows(fam.labels[None])[0]
  w = np.asarray(sweep.sample_weights(fam.labels, first, n, duplicated, K), np.float64)
  return rd.minima.top_cluster_spectra(np.asarray(fam.X, np.float64), fam.labels, w, K, rank)


@dataclasses.dataclass(frozen=True)
class Metrics:
  """Every metric of one trained model: a ``sweep.measure`` function (traced, vmapped).

  ``values``: the trainer's ``params``; ``shared``: the family's held-out rows ``X_test``, its
  f_gt ``gt`` and the training set's :func:`cluster_spectra` ``spectra`` (one training set per
  ``sweep.measure`` call).
  """
  num_clusters: int
  stored_threshold: float
  eval_noise: int

  def __call__(self, member, values, shared) -> dict:
    X, labels, w, K = member.X, member.labels, member.weights, self.num_clusters
    c = member.config
    sigma, lam, p = c["sigma"], c["lam"], c["p"]
    key = jax.random.fold_in(member.key, 99)
    W = values["params"]
    params = {"W": W}
    X_test = shared["X_test"]
    per_cluster = rd.storage.per_cluster_stored(W, X, labels, w, K, self.stored_threshold)
    mem = rd.minima.memorization_target(X, w, sigma, lam)
    gen = rd.minima.generalization_gram(*shared["spectra"], sigma, lam, jnp.maximum(p // K, 1))
    gaps = metrics.denoising_gaps(params, X, w, key, sigma, lambda y: shared["gt"](y, sigma), X_test,
                                  num_noise=self.eval_noise)
    y_test = X_test + sigma * jax.random.normal(jax.random.fold_in(key, 7), X_test.shape)
    copies = jnp.mean(rd.copies.is_copy(rd.copies.nearest_neighbour_ratio(rd.model.apply(params, y_test), X, w)))
    y_train = X + sigma * jax.random.normal(jax.random.fold_in(key, 8), X.shape)
    spiky = rd.spikiness.spikiness(rd.model.represent(params, y_train[:64]))
    units = _units_per_cluster(params, X, labels, w, K) if K <= _MAX_K else jnp.full(_MAX_K, jnp.nan)
    d_emp, d_gt = gaps["train_dist_emp"], gaps["train_dist_gt"]
    return dict(
        stored=rd.storage.weighted_stored_fraction(W, X, w, self.stored_threshold),
        stored_95=rd.storage.weighted_stored_fraction(W, X, w, 0.95),
        per_cluster_stored=_pad(per_cluster),
        regime=metrics.regime(per_cluster),
        dist_mem=metrics.gram_distance(W, mem @ mem.T), dist_gen=metrics.gram_distance(W, gen),
        nearer_emp=d_gt / (d_emp + d_gt), copies=copies,
        gap=jnp.clip(gaps["loss_gap"] / gaps["test_loss"], 0.0, 1.0),
        loss_vs_cor32=gaps["train_loss"] / rd.minima.memorization_loss(X, sigma, weights=w),
        units_per_cluster=_pad(units),
        **{k: gaps[k] for k in metrics.DENOISING_GAP_KEYS},
        **{f"spiky_{k}": v for k, v in spiky.items()})


def _stack(fams: list[list[Family]]):
  """Pools and labels of every family and draw: ``(F, N, d)`` with one draw, ``(F, S, N, d)`` per seed."""
  pools = np.array([[f.X for f in draws] for draws in fams], np.float32)
  labels = np.array([[f.labels for f in draws] for draws in fams])
  return (pools[:, 0], labels[:, 0]) if pools.shape[1] == 1 else (pools, labels)


def measure(res: sweep.SweepResult, fams: list[list[Family]], c) -> dict[str, np.ndarray]:
  """Metrics of every configuration of a sweep (``sweep.measure`` per family and pool draw),
  ``{name: (C, ...)}``; NaN where not ok."""
  pools, labels = _stack(fams)
  seeds = sweep.Grid(**res.meta["grid"]).seed  # the order the draws were stacked in
  out = {}
  for a, draws in enumerate(fams):
    for i, fam in enumerate(draws):
      _measure_draw(res, fam, c, pools, labels, (res.configs["data"] == a) & (
          (res.configs["seed"] == seeds[i]) if len(draws) > 1 else True), out)
  return out


def _measure_draw(res, fam: Family, c, pools, labels, select, out) -> None:
  """:class:`Metrics` of the configurations ``select`` (one family, one pool draw) into ``out``,
  one ``sweep.measure`` per training set ``(n, duplicated)``: its :func:`cluster_spectra` go in as
  ``shared`` (one copy for all its configurations, on the host and on the device)."""
  fn = Metrics(fam.num_clusters, float(c.stored_threshold), int(c.eval_noise))
  rank = min(max(int(c.p_max) // fam.num_clusters, 1), fam.X.shape[1])  # pairs the widest p keeps per cluster
  idx = np.flatnonzero(select)
  sets = np.stack([res.configs["n"][idx], res.configs["duplicated"][idx]], 1)
  for n, dup in np.unique(sets, axis=0):
    chosen = np.zeros(len(res.ok), bool)
    chosen[idx[np.all(sets == (n, dup), axis=1)]] = True
    vals = sweep.measure(res, fn, pool=pools, labels=labels, select=chosen,
                         shared={"X_test": fam.X_test.astype(np.float32), "gt": fam.gt,
                                 "spectra": cluster_spectra(fam, int(n), float(dup), rank)})
    for k, v in vals.items():
      out.setdefault(k, np.full_like(v, np.nan))[chosen] = v[chosen]


def premises(fam: Family, n_values) -> dict:
  """Measured Def. 3.1 constants of each training prefix (``data.separability``).

  ``alpha``, ``beta``: over the family's clusters (the premise of Cor. 3.3/3.4, β < 0);
  ``beta_samples``: the largest cosine between two training samples, i.e. β with every
  sample its own cluster (Cor. 3.2's memorization premise, β₁ < 0).
  """
  out = {"n": [int(n) for n in n_values], "alpha": [], "beta": [], "beta_samples": []}
  for n in out["n"]:
    X, labels = fam.X[:n], fam.labels[:n]
    alpha, beta = (rd.data.separability(X, labels) if len(np.unique(labels)) < n else (0.0, np.nan))
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = U @ U.T
    out["alpha"].append(float(alpha))
    out["beta"].append(float(beta) if np.isfinite(beta) else None)
    out["beta_samples"].append(float(np.max(cos[~np.eye(n, dtype=bool)])) if n > 1 else None)
  return out


def families(c, experiment: str) -> tuple[list[list[Family]], dict]:
  """The experiment's data families, each as its list of pool draws: one draw (key
  ``PRNGKey(data_seed)``), or with ``c.fresh_pools`` one per seed (keys
  ``fold_in(PRNGKey(data_seed), i)``, i the seed's position), so seeds differ in data too."""
  base = jax.random.PRNGKey(c.data_seed)
  keys = [jax.random.fold_in(base, i) for i in range(len(c.seeds))] if c.get("fresh_pools") else [base]
  draws = [_draw_families(key, c, experiment) for key in keys]
  return [list(fams) for fams in zip(*(fams for fams, _ in draws))], draws[0][1]


def _draw_families(key, c, experiment: str) -> tuple[list[Family], dict]:
  e = c[experiment]
  if experiment == "n_sigma":
    return [sparse_family(key, c), mixture_family(key, c, K=e.K, alpha=e.alpha),
            mixture_family(key, c, K=e.K, alpha=e.premise_alpha)], {}
  if experiment in ("n_p", "hybrid"):
    return [mixture_family(key, c, K=e.K, alpha=e.alpha)], {}
  fams, axes = [], {"alpha": [], "K": []}
  for K in e.K:
    for alpha in e.alpha:
      fams.append(mixture_family(key, c, K=K, alpha=alpha))
      axes["alpha"].append(alpha)
      axes["K"].append(K)
  return fams, axes


def grid(c, experiment: str, num_families: int) -> sweep.Grid:
  """The ``sweep.Grid`` of ``experiment`` over ``num_families`` data families (n sorted ascending)."""
  e = c[experiment]
  common = dict(n=tuple(sorted(e.n)), lam=(c.lam,), seed=c.seeds, data=tuple(range(num_families)))
  if experiment == "n_sigma":
    return sweep.Grid(sigma=e.sigma, **common)
  if experiment == "n_p":
    return sweep.Grid(sigma=(e.sigma,), p=e.p, **common)
  if experiment == "hybrid":
    return sweep.Grid(sigma=(e.sigma,), duplicated=e.duplicated, **common)
  return sweep.Grid(sigma=(e.sigma,), **common)


def train_config(c) -> rd.train.TrainConfig:
  """The preset's :class:`relu_dae.train.TrainConfig`, with its convergence rule (``None`` = fixed steps)."""
  rule = None if c.get("convergence") is None else rd.convergence.Convergence(**c.convergence.to_dict())
  return rd.train.TrainConfig(**c.train.to_dict(), convergence=rule)


def refinement(res: sweep.SweepResult, values: dict, c) -> list[int]:
  """The n to add in the next adaptive round (``boundaries.refine_n``), from the storage crossing.

  On every line of the other axes, n* of the seed-mean stored fraction (cosine
  ``c.stored_threshold``, level 1/2) with its seed-bootstrap interval; each bracket wider
  than ``max(1, c.refine.rel · n*)`` gets ``c.refine.per_bracket`` new integer n. The union
  over lines is returned, so the grid stays a product (every line gets every new n).
  """
  grid_n = [int(v) for v in sweep.Grid(**res.meta["grid"]).n]
  order = np.argsort(grid_n)  # n ascending, whatever the grid's order
  grid_n, n_values = [grid_n[i] for i in order], np.asarray(grid_n, float)[order]
  scores = np.moveaxis(res.grid(values["stored"])[order], (0, 4), (-1, -2))  # (σ, λ, p, dup, data, seed, n)
  crit = rd.boundaries.critical_n_interval(n_values, scores, 0.5, num_boot=int(c.num_boot), seed=0)
  return rd.boundaries.refine_n(grid_n, crit.estimate, crit.low, crit.high, rel=float(c.refine.rel),
                                per_bracket=int(c.refine.per_bracket))


def _sweep_and_measure(sweep_grid, config, fams, c, workdir, progress):
  pools, labels = _stack(fams)
  start = time.perf_counter()
  res = sweep.load(sweep.run(sweep_grid, config, workdir, pool=pools, labels=labels, pool_per_seed=pools.ndim == 4,
                             progress=progress))
  train_s = time.perf_counter() - start
  values = measure(res, fams, c)
  return res, values, {"train_wall_s": train_s, "measure_wall_s": time.perf_counter() - start - train_s}


def sweep_config(c) -> sweep.SweepConfig:
  """The preset's :class:`relu_dae.sweep.SweepConfig` (trainer, width, memory budget, chunk cap and multiple)."""
  return sweep.SweepConfig(train_config(c), p_max=c.p_max, memory_budget_mb=c.get("memory_budget_mb"),
                           max_chunk=c.get("max_chunk", 256), chunk_multiple=c.get("chunk_multiple"))


def plan_experiment(c, experiment: str) -> list[dict]:
  """What ``experiment``'s first round would train, without training: one row per bucket.

  Each row: the bucket's ``rows`` (padded training-set size), ``configs``, ``chunks`` and
  configurations per chunk, the trainer's estimate of device memory per chunk (MiB), and the
  budgeted configuration-steps (chunk size × steps, the upper bound a convergence rule only
  lowers). Refinement rounds add configurations that depend on the results, so they are not
  planned. This is the ``--dry_run`` table of ``python -m sims.phase_diagram``.

  Example:
    >>> from sims.configs import phase_diagram as cfg
    >>> rows = plan_experiment(cfg.get_config("smoke"), "hybrid")
    >>> sum(r["configs"] for r in rows), sorted(rows[0])[:3]
    (12, ['budget_config_steps', 'chunk_mib', 'chunks'])
  """
  config = sweep_config(c)
  g = grid(c, experiment, num_families(c, experiment))
  trainer = config.resolved_trainer
  rows = {}
  for r, idx, size in sweep.plan(g, config, int(c.pool), int(c.d)):
    row = rows.setdefault(r, dict(experiment=experiment, rows=r, configs=0, chunks=0, per_chunk=size))
    row["configs"] += len(idx)
    row["chunks"] += 1
    row["chunk_mib"] = round(size * trainer.memory_bytes(r, int(c.d)) / 2**20, 1)
    row["budget_config_steps"] = row.get("budget_config_steps", 0) + size * trainer.train.steps
  return list(rows.values())


def run_experiment(c, experiment: str, workdir: str, *, progress: bool = True) -> str:
  """Sweeps, measures and adaptively refines one experiment; writes ``workdir/<experiment>.{npz,json}``.

  Round 0 is the preset's n grid; each of ``c.refine.rounds`` further rounds adds the n of
  :func:`refinement` (its own resumable sweep in ``sweeps/<experiment>_refine<r>``) and
  stops early once no bracket is wider than its tolerance. The saved grid is the union.
  """
  fams, axes = families(c, experiment)
  sweep_grid = grid(c, experiment, len(fams))
  config = sweep_config(c)
  start = time.perf_counter()
  res, values, wall = _sweep_and_measure(sweep_grid, config, fams, c, os.path.join(workdir, "sweeps", experiment),
                                         progress)
  rounds = [dict(round=0, n=list(sweep_grid.n), configs=len(res.ok), config_steps=res.meta["config_steps"], **wall)]
  for r in range(1, int(c.refine.rounds) + 1):
    new_n = refinement(res, values, c)
    if not new_n:
      break
    part, part_values, wall = _sweep_and_measure(dataclasses.replace(sweep_grid, n=tuple(new_n)), config, fams, c,
                                                 os.path.join(workdir, "sweeps", _refine_dir(experiment, r, new_n)),
                                                 progress)
    merged = sweep.merge([res, part])
    union = sweep.Grid(**merged.meta["grid"])
    at = [sweep.positions(union, x.configs) for x in (res, part)]
    values = {k: _scatter(len(merged.ok), at, (values[k], part_values[k])) for k in values}
    res = merged
    rounds.append(dict(round=r, n=new_n, configs=len(part.ok), config_steps=part.meta["config_steps"], **wall))
    logging.info("%s refinement round %d: n += %s (%d configurations, %.1f s)", experiment, r, new_n,
                 len(part.ok), wall["train_wall_s"] + wall["measure_wall_s"])
  union = sweep.Grid(**res.meta["grid"])
  logging.info("%s: %d configurations in %d round(s), %.1f s, %d failed", experiment, len(res.ok), len(rounds),
               time.perf_counter() - start, int((~res.ok).sum()))
  arrays = {**{f"config_{k}": v for k, v in res.configs.items()}, **values, "ok": res.ok,
            "final_loss": res.final_loss, "converged": res.converged, "status": res.status,
            "steps_run": res.steps_run}
  per_draw = [[premises(f, union.n) for f in draws] for draws in fams]
  meta = dict(experiment=experiment, grid=dataclasses.asdict(union), grid_shape=list(res.grid_shape),
              families=[draws[0].name for draws in fams], family_axes=axes, config=c.to_dict(),
              pool_draws=len(fams[0]),
              devices=res.meta["devices"], train_wall_s=float(sum(x["train_wall_s"] for x in rounds)),
              wall_s=time.perf_counter() - start, buckets=res.meta["buckets"], num_nonfinite=int((~res.ok).sum()),
              status_counts=res.meta["status_counts"], converged_fraction=res.meta["converged_fraction"],
              config_steps=res.meta["config_steps"], refinement=rounds,
              premises=[draws[0] for draws in per_draw], premises_per_draw=per_draw)
  return rd.results.save(os.path.join(workdir, experiment), arrays, meta)


def _refine_dir(experiment: str, r: int, new_n) -> str:
  """A refinement round's sweep directory, named by its n: other settings that move the n get their own."""
  digest = hashlib.sha256(json.dumps([int(v) for v in new_n]).encode()).hexdigest()[:8]
  return f"{experiment}_refine{r}_{digest}"


def _scatter(size: int, rows, parts) -> np.ndarray:
  """Per-configuration arrays of merged sweeps, placed at their rows of the union grid."""
  out = np.full((size,) + np.shape(parts[0])[1:], np.nan)
  for r, v in zip(rows, parts):
    out[r] = v
  return out


def num_families(c, experiment: str) -> int:
  """How many data families ``experiment`` sweeps over (the ``data`` axis of its grid)."""
  e = c[experiment]
  return 3 if experiment == "n_sigma" else len(e.K) * len(e.alpha) if experiment == "alpha_K" else 1
