"""Checks of the phase diagram's config and flags, run before anything trains.

Every check raises :class:`sims._flags.FlagError` (a ``ValueError``) naming the override that
would fix it, e.g. ``--config.n_sigma.K=1: must be an integer >= 2 ...``.
"""

from __future__ import annotations

import relu_dae as rd
from sims import _flags
from sims.phase_diagram import experiments

__all__ = ["validate_config", "validate_experiments"]


def validate_experiments(names) -> tuple[str, ...]:
  """The experiments to run: ``names`` (``--experiments``), or all of them when empty.

  Example:
    >>> validate_experiments(["n_p"])
    ('n_p',)
    >>> validate_experiments(["n_q"])
    Traceback (most recent call last):
    ...
    sims._flags.FlagError: --experiments=n_q: unknown experiment 'n_q'; names: n_sigma, n_p, hybrid, alpha_K
  """
  return _flags.experiments(names, experiments.EXPERIMENTS)


def validate_config(c) -> None:
  """Checks every experiment's values before the first sweep trains (``ValueError`` naming the
  override, e.g. ``--config.n_sigma.K=1: ...``).

  Checks the shared settings, builds the training and sweep configs (their own checks run)
  and each experiment's grid, and checks what those cannot see: sizes against the pool and
  width, cluster counts against ``d``, noise levels, thresholds, the refinement settings.
  """
  for name in ("d", "p_max", "num_boot", "eval_noise", "max_chunk"):
    _flags.integer(c, name)
  _flags.integer(c, "pool", 2)
  _flags.integer(c, "test", 1)
  _flags.integers(c, "seeds", 0, 2**31 - 1, distinct=True)
  _flags.seed(c, "data_seed")
  _flags.choice(c, "fresh_pools", (True, False))
  _flags.real(c, "norm", 0.0, closed=(False, True))
  _flags.real(c, "decay", 0.0, closed=(False, True))
  _flags.real(c, "beta", -1.0, 1.0, closed=(True, False))
  _flags.real(c, "lam", 0.0)
  _flags.real(c, "stored_threshold", 0.0, 1.0, closed=(False, True))
  _flags.optional_real(c, "memory_budget_mb", 0.0, closed=(False, True))
  if c.get("chunk_multiple") is not None:
    _flags.integer(c, "chunk_multiple")
  _flags.integer(c, "refine.rounds", 0)
  _flags.real(c, "refine.rel", 0.0, closed=(False, True))
  _flags.integer(c, "refine.per_bracket")
  if c.get("convergence") is not None:
    with _flags.section("convergence"):
      rd.convergence.Convergence(**c.convergence.to_dict())
  with _flags.section("train"):
    experiments.train_config(c)
  with _flags.section("memory_budget_mb"):
    experiments.sweep_config(c)
  for experiment in experiments.EXPERIMENTS:
    _validate_experiment(c, experiment)


def _validate_experiment(c, experiment: str) -> None:
  """One experiment's fields (:func:`validate_config`)."""
  e = c[experiment]
  K_max = dict(hi=min(c.pool, c.d), hi_name="min(pool, d)")  # K simplex means need d >= K
  if experiment == "alpha_K":
    _flags.integers(c, f"{experiment}.K", 2, distinct=True, **K_max)
    _flags.reals(c, f"{experiment}.alpha", 0.0, distinct=True)
  else:
    _flags.integer(c, f"{experiment}.K", 2, **K_max)
    _flags.real(c, f"{experiment}.alpha", 0.0)
  if experiment == "n_sigma":
    _flags.real(c, f"{experiment}.premise_alpha", 0.0)
    _flags.reals(c, f"{experiment}.sigma", 0.0, closed=(False, True), distinct=True)
  else:
    _flags.real(c, f"{experiment}.sigma", 0.0, closed=(False, True))
  n = _flags.integers(c, f"{experiment}.n", 1, c.pool, distinct=True, hi_name="pool")
  if len(n) < 2 and c.refine.rounds > 0:
    _flags.fail(f"{experiment}.n", e.n, "needs at least 2 values to locate a crossing for refinement")
  if experiment == "n_p":
    _flags.integers(c, f"{experiment}.p", 1, c.p_max, distinct=True, hi_name="p_max")
  if experiment == "hybrid":
    _flags.reals(c, f"{experiment}.duplicated", 0.0, 1.0, distinct=True)
  with _flags.section(experiment):
    experiments.grid(c, experiment, experiments.num_families(c, experiment)).resolved(c.p_max)
