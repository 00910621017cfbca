"""Checks of a ``sims.diffusion_toy`` config and ``--experiments`` before anything trains; each failure
is a :class:`sims._flags.FlagError` naming the override, e.g. ``--config.K=0: ...``."""

from __future__ import annotations

import relu_dae as rd
from sims import _flags
from sims.diffusion_toy import experiments

__all__ = ["validate_config", "validate_experiments"]


def validate_experiments(names) -> tuple[str, ...]:
  """The ``--experiments`` selection in experiment order; empty = all (:func:`sims._flags.experiments`)."""
  return _flags.experiments(names, experiments.EXPERIMENTS)


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
    rd.diffusion.SweepTrainer(rd.train.TrainConfig(**c.train.to_dict()), p_max=max(c.p), hidden=c.hidden,
                              sigma_min=c.sigma_min, sigma_max=c.sigma_max, min_noisy_batch=c.min_noisy_batch)
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
