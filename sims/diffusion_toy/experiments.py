"""The experiments of ``sims.diffusion_toy`` (:data:`EXPERIMENTS`): the multi-σ diffusion sweep, the
single-σ DAE sweep, the f_emp / f_gt oracles and the digits models, each sampled and measured.

Each takes explicit arguments — a :class:`Setup` (the sweep grid, trainers and sampler; :func:`setup`
builds it from a config), the training pool (:func:`mixture_data`) or a :class:`Digits` — and its
workdir, where it saves ``<name>.{npz,json}`` and resumes (each part is keyed by a fingerprint of
the settings it depends on). Nothing here reads absl flags.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from typing import NamedTuple

from absl import logging
import jax
import jax.numpy as jnp
from jax.tree_util import Partial
import numpy as np

import relu_dae as rd
from relu_dae import diffusion
from relu_dae import metrics
from relu_dae import sweep

__all__ = [
    "EXPERIMENTS", "CopyMeasure", "Digits", "Mixture", "Setup", "diffusion_trainer", "digits_config",
    "mixture_data", "mixture_of", "run_dae", "run_diffusion", "run_digits", "run_oracles", "sample_measures", "setup",
]

EXPERIMENTS = ("diffusion", "dae", "oracles", "digits")


# ----------------------------------------------------------------------------- data


class Mixture(NamedTuple):
  """The training pool and its ground-truth denoiser."""
  X: np.ndarray  # (N, d) float32, rows interleaved over clusters (every prefix is balanced)
  labels: np.ndarray  # (N,)
  gt: Partial  # f_gt(y, σ) of the mixture the pool was drawn from
  spec: tuple  # (d, K, alpha, beta, norm, decay, data_seed) it was drawn with


def mixture_data(N: int, d: int, K: int, alpha: float, beta: float, norm: float, decay: float,
                 data_seed: int) -> Mixture:
  """The K-cluster (α, β)-separable pool of ``N`` rows (``relu_dae.data.separable_mixture``, rows
  interleaved over clusters) and its exact f_gt."""
  return _mixture_data(N, d, K, float(alpha), float(beta), float(norm), float(decay), data_seed)


@functools.lru_cache(maxsize=4)  # a resumed run in the same process does not rebuild the pool
def _mixture_data(N, d, K, alpha, beta, norm, decay, data_seed) -> Mixture:
  X, labels, spec = rd.data.separable_mixture(jax.random.PRNGKey(data_seed), d=d, K=K, n_per_cluster=-(-N // K),
                                              alpha=alpha, beta=beta, norm=norm, decay=decay)
  X, labels = sweep.interleave(np.asarray(X), np.asarray(labels))
  m = spec.mixture
  factors = np.asarray(m.cov_factors, np.float64)  # covariances in float64: exactly PSD
  gt = diffusion.gaussian_mixture_denoiser(np.asarray(m.means, np.float64), factors @ np.swapaxes(factors, 1, 2),
                                           np.asarray(m.weights, np.float64))
  return Mixture(X[:N].astype(np.float32), labels[:N], gt, (d, K, alpha, beta, norm, decay, data_seed))


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


@dataclasses.dataclass(frozen=True)
class Setup:
  """What the sweeps and samplers share (the config's fields of the same names; :func:`setup`)."""
  n: tuple  # training-set sizes (prefixes of the pool)
  p: tuple  # widths
  seeds: tuple
  buckets: str  # "pow2" or "single" (relu_dae.sweep)
  hidden: int  # conditioning MLP width
  train: rd.train.TrainConfig  # the multi-σ model
  min_noisy_batch: int
  sigma_min: float
  sigma_max: float
  sampler: tuple  # (num_samples, num_steps, clamp) of diffusion.sample
  show_samples: int  # generated samples kept per configuration
  measure_batch: int  # configurations sampled per vmap
  dae: rd.train.TrainConfig  # the single-σ DAE (without σ, λ: the grid sets them)
  dae_sigma: float
  dae_lam: float


class Digits(NamedTuple):
  """The digits part: a memorizing (n_mem) and a generalizing (n_gen) model of width p."""
  n_mem: int
  n_gen: int
  p: int
  steps: int
  learning_rate: float
  num_samples: int
  show: int
  clamp: float | None
  seed: int


def setup(c) -> Setup:
  """The :class:`Setup` of config ``c``."""
  return Setup(n=tuple(c.n), p=tuple(c.p), seeds=tuple(c.seeds), buckets=c.buckets, hidden=c.hidden,
               train=rd.train.TrainConfig(**c.train.to_dict()), min_noisy_batch=c.min_noisy_batch,
               sigma_min=float(c.sigma_min), sigma_max=float(c.sigma_max), sampler=_sampler_tuple(c.sampler),
               show_samples=int(c.show_samples), measure_batch=c.measure_batch,
               dae=rd.train.TrainConfig(**{k: v for k, v in c.dae.to_dict().items() if k not in ("sigma", "lam")}),
               dae_sigma=c.dae.sigma, dae_lam=c.dae.lam)


def _copy_measure(s: Setup, denoiser: Callable) -> CopyMeasure:
  return CopyMeasure(denoiser, s.sampler, s.sigma_min, s.sigma_max, s.show_samples)


def diffusion_trainer(s: Setup) -> diffusion.SweepTrainer:
  """The multi-σ model's :class:`relu_dae.diffusion.SweepTrainer`."""
  return diffusion.SweepTrainer(s.train, p_max=max(s.p), hidden=s.hidden, sigma_min=s.sigma_min,
                                sigma_max=s.sigma_max, min_noisy_batch=s.min_noisy_batch)


def _measured_sweep(name: str, s: Setup, data: Mixture, grid: sweep.Grid, config: sweep.SweepConfig, denoiser: Callable,
                    workdir: str, progress: bool) -> tuple[dict, dict]:
  """``sweep.run`` then ``sweep.measure`` with :class:`CopyMeasure`; both resume (the sweep by its chunks,
  the measures by a fingerprint of the finished sweep and the sampler)."""
  res = sweep.load(sweep.run(grid, config, os.path.join(workdir, f"{name}_sweep"), pool=data.X, labels=data.labels,
                             progress=progress))
  measure_fn = _copy_measure(s, denoiser)

  def compute():
    t = time.perf_counter()
    vals = sweep.measure(res, measure_fn, pool=data.X, labels=data.labels, batch_size=s.measure_batch)
    extra = {k: res.outputs[k] for k in ("final_loss", "nonfinite_step", "masked_max", "params.skip")
             if k in res.outputs}
    arrays = {**{f"config_{k}": res.configs[k] for k in ("n", "p", "seed")}, **vals,
              **{k.replace("params.", ""): v for k, v in extra.items()}, "ok": res.ok,
              "converged": res.converged, "steps_run": res.steps_run, "status": res.status,
              "pool": data.X, "pool_labels": data.labels}
    meta = dict(part=name, configs_axes=["n", "p", "seed"], n=list(s.n), p=list(s.p), seeds=list(s.seeds),
                num_nonfinite=res.meta["num_nonfinite"], num_not_ok=int((~res.ok).sum()),
                status_counts=res.meta["status_counts"], converged_fraction=res.meta["converged_fraction"],
                config_steps=res.meta["config_steps"], train_wall_s=res.meta["wall_s"],
                measure_wall_s=time.perf_counter() - t)
    return arrays, meta

  fp = _fingerprint(res.meta["config"], res.meta["grid"], dataclasses.asdict(measure_fn) | {"denoiser": name},
                    float(np.nansum(res.final_loss)))
  return _cached(os.path.join(workdir, name), fp, compute)


def run_diffusion(s: Setup, data: Mixture, workdir: str, *, progress: bool = True) -> tuple[dict, dict]:
  """Trains (``sweep.run`` with :func:`diffusion_trainer`), samples and measures every (n, p, seed)."""
  grid = sweep.Grid(n=s.n, p=s.p, seed=s.seeds)
  config = sweep.SweepConfig(p_max=max(s.p), buckets=s.buckets, trainer=diffusion_trainer(s))
  return _measured_sweep("diffusion", s, data, grid, config, _diffusion_denoiser, workdir, progress)


# ----------------------------------------------------------------------------- references


@functools.partial(jax.jit, static_argnames=("sampler", "sigma_min", "sigma_max"))
def _sample_measure(denoisers, keys, pool, w, *, sampler, sigma_min, sigma_max):
  """vmaps ``diffusion.sample`` + :func:`sample_measures` over a batch of denoisers, keys and weights."""
  def one(den, key, w_):
    s = diffusion.sample(den, key, sampler[0], pool.shape[1], num_steps=sampler[1], sigma_max=sigma_max,
                         sigma_min=sigma_min, clamp=sampler[2])
    return dict(sample_measures(s, pool, w_), samples=s)
  return jax.vmap(one)(denoisers, keys, w)


def _sampler_tuple(s) -> tuple:
  """``(num_samples, num_steps, clamp)`` of the config's ``sampler`` section."""
  return (int(s.num_samples), int(s.num_steps), None if s.clamp is None else float(s.clamp))


def _sample_keys(seeds) -> jax.Array:
  """The sampler key of a seed, as in :class:`CopyMeasure`."""
  return jax.vmap(lambda s: jax.random.split(jax.random.PRNGKey(s), 3)[2])(jnp.asarray(seeds))


def run_dae(s: Setup, data: Mixture, workdir: str, *, progress: bool = True) -> tuple[dict, dict]:
  """The single-σ DAE (Eq. 5) at every (n, p, seed), trained by ``relu_dae.sweep``, used as a sampler."""
  grid = sweep.Grid(n=s.n, sigma=(s.dae_sigma,), lam=(s.dae_lam,), p=s.p, seed=s.seeds)
  config = sweep.SweepConfig(s.dae, p_max=max(s.p), buckets=s.buckets)
  return _measured_sweep("dae", s, data, grid, config, _dae_denoiser, workdir, progress)


def _emp_denoiser(X, w, y, sigma):
  return metrics.weighted_empirical(y, X, w, sigma)


def run_oracles(s: Setup, data: Mixture, workdir: str) -> tuple[dict, dict]:
  """f_emp on every (n, seed) training set and f_gt (one set of samples per seed, measured at every n)."""
  def compute():
    t = time.perf_counter()
    n, seed = (a.ravel() for a in np.meshgrid(np.asarray(s.n), np.asarray(s.seeds), indexing="ij"))
    X = jnp.asarray(data.X)
    w = jnp.asarray((np.arange(X.shape[0])[None] < n[:, None]).astype(np.float32))
    kw = dict(sampler=s.sampler, sigma_min=s.sigma_min, sigma_max=s.sigma_max)
    emp = _sample_measure(Partial(_emp_denoiser, jnp.broadcast_to(X, (len(n),) + X.shape), w),
                          _sample_keys(seed), X, w, **kw)
    gt_den = jax.tree.map(lambda a: jnp.broadcast_to(a, (len(n),) + a.shape), data.gt)  # same f_gt, same keys
    gt = _sample_measure(gt_den, _sample_keys(seed), X, w, **kw)
    arrays = {"config_n": n, "config_seed": seed}
    for name, out in (("emp", emp), ("gt", gt)):
      out = jax.tree.map(np.asarray, out)
      out["samples"] = out["samples"][:, :s.show_samples]
      arrays.update({f"{name}_{k}": v for k, v in out.items()})
    return arrays, dict(part="oracles", wall_s=time.perf_counter() - t)

  fp = _fingerprint(s.sampler, s.sigma_min, s.sigma_max, list(s.n), list(s.seeds), s.show_samples,
                    list(data.spec))
  return _cached(os.path.join(workdir, "oracles"), fp, compute)


# ----------------------------------------------------------------------------- digits


def run_digits(g: Digits, s: Setup, workdir: str, *, progress: bool = True) -> tuple[dict, dict]:
  """A memorizing (n_mem) and a generalizing (n_gen) model on centred digits, sampled and measured.

  One two-configuration ``sweep.run`` of :class:`relu_dae.diffusion.SweepTrainer` on the
  class-interleaved digits (at least ``s.min_noisy_batch`` noisy inputs per step), then
  :class:`CopyMeasure` (``s``'s sampler steps and σ range, ``g``'s samples and clamp); with
  ``s.buckets == "single"`` both train in one ``vmap``.
  """
  X, labels = rd.data.load_digits()
  mean = X.mean(axis=0)
  X, labels = sweep.interleave(X - mean, labels)  # centred (docs/theory_choices.md, Digits)
  N = max(g.n_mem, g.n_gen)
  X, labels = X[:N].astype(np.float32), labels[:N]
  tc = rd.train.TrainConfig(steps=g.steps, learning_rate=g.learning_rate, schedule="cosine", optimizer="adam",
                            chunk_size=max(1, g.steps // 4))
  trainer = diffusion.SweepTrainer(tc, p_max=g.p, hidden=s.hidden, sigma_min=s.sigma_min, sigma_max=s.sigma_max,
                                   min_noisy_batch=s.min_noisy_batch)
  grid = sweep.Grid(n=(g.n_mem, g.n_gen), p=(g.p,), seed=(g.seed,))
  res = sweep.load(sweep.run(grid, sweep.SweepConfig(p_max=g.p, buckets=s.buckets, trainer=trainer),
                             os.path.join(workdir, "digits_sweep"), pool=X, labels=labels, progress=progress))
  measure_fn = CopyMeasure(_diffusion_denoiser, (int(g.num_samples), int(s.sampler[1]), g.clamp),
                           s.sigma_min, s.sigma_max, int(g.show))

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


def digits_config(c) -> Digits:
  """The :class:`Digits` of config ``c``."""
  return Digits(**c.digits.to_dict())


def mixture_of(c) -> Mixture:
  """:func:`mixture_data` of config ``c``: a pool of ``max(c.n)`` rows."""
  return mixture_data(max(c.n), c.d, c.K, c.alpha, c.beta, c.norm, c.decay, c.data_seed)
