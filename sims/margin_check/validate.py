"""Checks of a ``sims.margin_check`` config and ``--experiments`` before anything is computed;
each failure is a :class:`sims._flags.FlagError` naming the override, e.g. ``--config.cor33.K=1: ...``."""

from __future__ import annotations

import relu_dae as rd
from sims import _flags
from sims.margin_check.experiments import EXPERIMENTS, KINDS

__all__ = ["validate_config", "validate_experiments"]


def validate_experiments(names) -> tuple[str, ...]:
  """The ``--experiments`` selection in experiment order; empty = all (:func:`sims._flags.experiments`)."""
  return _flags.experiments(names, EXPERIMENTS)


def validate_config(c) -> None:
  """Checks every experiment's settings before the first instance is drawn (``ValueError``
  naming the override, e.g. ``--config.cor33.K=1: ...``): the instance ranges, the solvers,
  every family, and the Cor. 3.3, Jacobian and breaking-point experiments."""
  _flags.seed(c, "seed")
  _flags.real(c, "norm", 0.0, closed=(False, True))
  rank = _flags.integer(c, "rank")
  _flags.real(c, "decay", 0.0, closed=(False, True))
  _pair(c, "alpha", 0.0, closed=(True, True))
  _pair(c, "sigma", 0.0, closed=(False, True))
  _flags.real(c, "lam_frac", 0.0, 1.0, closed=(True, False))  # Eq. (8)/(9) need nλ below the floor
  _flags.integer(c, "mem_pad", 0)
  _flags.integer(c, "draws_per_dim", 2)  # moment-matched noise: >= 2d draws per sample
  _flags.integer(c, "chord_steps", 0)
  for name in ("rotation_starts", "rotation_steps", "birth_starts", "birth_steps"):
    _flags.integer(c, name)
  for name in ("refine_steps", "basin_count", "train_count"):
    _flags.integer(c, name)
  _flags.reals(c, "basin_deltas", 0.0)
  _flags.real(c, "grad_tol", 0.0, closed=(False, True))
  _flags.real(c, "eig_tol", 0.0)
  with _flags.section("train"):
    rd.train.TrainConfig(**c.train.to_dict())
  _validate_families(c, rank)
  _validate_cor33(c)
  _validate_jacobian(c, rank)
  _validate_limits(c)
  _flags.reals(c, "birth.sigma", 0.0, closed=(False, True))
  _flags.reals(c, "birth.beta", -1.0, 0.0, closed=(True, False))  # the premise: negatively correlated samples
  _flags.integer(c, "birth.iters")


def _pair(c, path: str, lo: float, closed) -> tuple:
  """A range ``(low, high)`` with ``lo <= low <= high`` (``lo < low`` when ``closed[0]`` is False)."""
  v = _flags.reals(c, path, lo, closed=closed, min_len=2)
  if len(v) != 2 or v[0] > v[1]:
    _flags.fail(path, _flags.get(c, path), "must be a range (low, high) with low <= high")
  return v


def _validate_families(c, rank: int) -> None:
  """Every family (``experiments.draw_batch``'s checks, run here for all of them); names are unique,
  and the breaking points need a ``gen`` and a ``mem`` family."""
  if not isinstance(c.families, (list, tuple)) or not c.families:
    _flags.fail("families", c.families, "must be a non-empty list of families")
  names = [f.get("name") for f in c.families]
  for i, fam in enumerate(c.families):
    _validate_family(c, f"families[{i}]", rank)
    if names.index(fam.name) != i:
      _flags.fail(f"families[{i}].name", fam.name, "repeats another family's name (results are keyed by it)")
  for kind in ("gen", "mem"):
    if kind not in [f.kind for f in c.families]:
      _flags.fail("families", names, f"needs a {kind!r} family (the breaking points start from the first one)")
  lo = max(max(-1.0 / (len(f.counts) - 1), -0.6) for f in c.families)  # draw_batch's lowest β
  _flags.real(c, "beta_max", lo, 1.0, closed=(False, False))


def _validate_family(c, f: str, rank: int) -> None:
  """One family: kind, shape, units per cluster (Eq. (8) needs p_k <= the cluster's rank)."""
  fam = _flags.get(c, f)
  if not isinstance(fam.get("name"), str) or not fam.name:
    _flags.fail(f"{f}.name", fam.get("name"), "must be a non-empty string")
  kind = _flags.choice(c, f"{f}.kind", KINDS)
  counts = _flags.integers(c, f"{f}.counts", 1, min_len=2)
  ps = _flags.integers(c, f"{f}.ps", 1, min_len=2)
  K = len(counts)
  _flags.integer(c, f"{f}.d", K, lo_name="the number of clusters")
  _flags.integer(c, f"{f}.count")
  dup = _flags.integer(c, f"{f}.dup", 0, 0 if kind == "mem" else K, hi_name="the number of clusters")
  if len(ps) != K:
    _flags.fail(f"{f}.ps", fam.ps, f"needs one p_k per cluster (counts has {K})")
  if kind == "mem" and set(counts) | set(ps) != {1}:
    _flags.fail(f"{f}.counts", fam.counts, "a 'mem' family has one sample and one unit per cluster (all 1)")
  for k, (n_k, p_k) in enumerate(zip(counts, ps)):
    top = 1 if k < dup else min(n_k, rank + 1, fam.d)  # a duplicated cluster has rank 1
    if p_k > top:
      _flags.fail(f"{f}.ps", fam.ps, f"p_{k}={p_k} exceeds the rank {top} of cluster {k}")
  if (c.draws_per_dim * fam.d) % 2:
    _flags.fail("draws_per_dim", c.draws_per_dim, f"draws_per_dim * d must be even ({f}.d={fam.d})")


def _validate_limits(c) -> None:
  """The breaking points: one axis at a time from the first ``gen`` family at β = −0.4
  (``experiments.limits_experiment``), so that family needs K <= 3 means."""
  i = next(i for i, f in enumerate(c.families) if f.kind == "gen")
  K = len(c.families[i].counts)
  if -1.0 / (K - 1) > -0.4:
    _flags.fail(f"families[{i}].counts", c.families[i].counts, "the breaking points start from the first 'gen' "
                "family at β = -0.4, which needs at most 3 clusters")
  _flags.reals(c, "limits.beta", -1.0 / (K - 1), 1.0, closed=(True, False))
  _flags.reals(c, "limits.alpha", 0.0)
  _flags.reals(c, "limits.sigma", 0.0, closed=(False, True))
  _flags.reals(c, "limits.lam_frac", 0.0)  # >= 1 on purpose: Eq. (9) then has no solution
  _flags.integer(c, "limits.count")


def _validate_cor33(c) -> None:
  """The Cor. 3.3 experiment: a fixed mixture with β < 0, sizes, the n_k that also train."""
  e = "cor33"
  d = _flags.integer(c, f"{e}.d", 2)
  K = _flags.integer(c, f"{e}.K", 2, d, hi_name="cor33.d")
  _flags.real(c, f"{e}.beta", -1.0 / (K - 1), 0.0, closed=(True, False))  # Cor. 3.3 needs β < 0
  rank = _flags.integer(c, f"{e}.rank", 1, d, hi_name="cor33.d")
  n_k = _flags.integers(c, f"{e}.n_k", 1, min_len=2, distinct=True)
  _flags.integer(c, f"{e}.p_k", 1, min(rank, min(n_k)), hi_name="min(cor33.rank, cor33.n_k)")
  for name in ("decay", "spread", "sigma"):
    _flags.real(c, f"{e}.{name}", 0.0, closed=(False, True))
  _flags.real(c, f"{e}.lam", 0.0)
  for name in ("seeds", "test"):
    _flags.integer(c, f"{e}.{name}")
  train = _flags.integers(c, f"{e}.train_n_k", 1, min_len=0)
  if not set(train) <= set(n_k):
    _flags.fail(f"{e}.train_n_k", c.cor33.train_n_k, f"every entry must be one of cor33.n_k={n_k} (others never train)")


def _validate_jacobian(c, rank: int) -> None:
  """The Jacobian experiment: a memorizing model (p >= n) and a generalizing one."""
  e = "jacobian"
  K = _flags.integer(c, f"{e}.gen_K", 2)
  d = _flags.integer(c, f"{e}.d", K, lo_name="jacobian.gen_K")
  n = _flags.integer(c, f"{e}.mem_n", 2, d, hi_name="jacobian.d")
  _flags.integer(c, f"{e}.mem_p", n, lo_name="jacobian.mem_n")  # Cor. 3.2: a column per sample
  n_k = _flags.integer(c, f"{e}.gen_n_k")
  ps = _flags.integers(c, f"{e}.gen_ps", 1, min(n_k, rank + 1, d), hi_name="min(gen_n_k, rank + 1, d)")
  if len(ps) != K:
    _flags.fail(f"{e}.gen_ps", c.jacobian.gen_ps, f"needs one p_k per cluster (gen_K={K})")
  _flags.real(c, f"{e}.sigma", 0.0, closed=(False, True))
  lam = _flags.real(c, f"{e}.lam", 0.0)
  if n * lam >= c.norm**2:  # Eq. (9) needs nλ < min ‖x_i‖² = norm²
    _flags.fail(f"{e}.lam", lam, f"mem_n * lam must be < norm**2={c.norm**2:g} (Eq. 9)")
  with _flags.section(e):
    rd.train.TrainConfig(steps=c.jacobian.steps, learning_rate=c.jacobian.learning_rate, schedule="cosine")
