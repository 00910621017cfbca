"""Checks of a ``sims.detect_steer`` config and ``--experiments`` before the first model trains; each
failure is a :class:`sims._flags.FlagError` naming the override, e.g. ``--config.roc_sigma=0.3: ...``."""

from __future__ import annotations

import numpy as np

from sims import _flags
from sims.detect_steer import experiments

__all__ = ["validate_config", "validate_experiments"]


def validate_experiments(names) -> tuple[str, ...]:
  """The ``--experiments`` selection in experiment order; empty = all (:func:`sims._flags.experiments`)."""
  return _flags.experiments(names, experiments.EXPERIMENTS)


NUM_DIGITS, NUM_CLASSES = 1797, 10  # scikit-learn's digits


def validate_config(c) -> None:
  """Checks the whole config before the first model trains (``ValueError`` naming the override,
  e.g. ``--config.roc_sigma=0.3: ...``)."""
  _flags.seed(c, "seed")
  steps = _flags.integer(c, "num_steps", 2)
  _flags.integer(c, "num_samples", 2)
  _flags.real(c, "copy_threshold", 0.0, 1.0, closed=(False, False))
  sigmas = _flags.reals(c, "score_sigmas", 0.0, closed=(False, True), distinct=True)
  if not np.any(np.isclose(_flags.real(c, "roc_sigma", 0.0, closed=(False, True)), sigmas)):
    _flags.fail("roc_sigma", c.roc_sigma, f"must be one of score_sigmas={sigmas} (the ROC curves are drawn there)")
  _flags.integer(c, "score_noise")
  _flags.integer(c, "num_bootstrap", 2)
  _validate_synthetic(c)
  _validate_digits(c)
  _validate_steer(c, steps)
  for path in ("synthetic.train", "digits.train"):
    with _flags.section(path):
      experiments._train_config(_flags.get(c, path))


def _validate_synthetic(c) -> None:
  """The synthetic hybrid: a duplicated point per mode next to at least 2 abundant modes
  (the last is the steering target; the others give the generalized inputs)."""
  s = "synthetic"
  for name in ("n_duplicated", "n_per_cluster", "n_test_per_cluster", "p"):
    _flags.integer(c, f"{s}.{name}")
  _flags.integer(c, f"{s}.copies", 2)
  _flags.integer(c, f"{s}.n_abundant", 2)
  K = c.synthetic.n_duplicated + c.synthetic.n_abundant
  d = _flags.integer(c, f"{s}.d", K, lo_name="n_duplicated + n_abundant")
  _flags.integer(c, f"{s}.rank", 1, d, hi_name="d")
  _flags.real(c, f"{s}.alpha", 0.0)
  for name in ("decay", "norm"):
    _flags.real(c, f"{s}.{name}", 0.0, closed=(False, True))


def _validate_digits(c) -> None:
  """The digits hybrid: its sizes against the 1797 images."""
  n_dup = _flags.integer(c, "digits.n_duplicated")
  _flags.integer(c, "digits.copies", 2)
  n_test = _flags.integer(c, "digits.n_test", 1, NUM_DIGITS - n_dup - 1, hi_name="1797 - n_duplicated - 1")
  if c.digits.n_abundant is not None:
    _flags.integer(c, "digits.n_abundant", 1, NUM_DIGITS - n_dup - n_test, hi_name="1797 - n_duplicated - n_test")
  _flags.integer(c, "digits.p")


def _validate_steer(c, num_steps: int) -> None:
  """The steering fields: strengths, inputs, the window of sampler steps, the figure's grid."""
  e = "steer"
  _flags.integer(c, f"{e}.target_class", 0, NUM_CLASSES - 1, hi_name="the last digit class")
  for name in ("sigma_ref", "a_max", "a_max_sampling", "onestep_sigma"):
    _flags.real(c, f"{e}.{name}", 0.0, closed=(False, True))
  num_a = _flags.integer(c, f"{e}.num_a", 2)
  for name in ("num_noise_ref", "num_seeds", "grid_rows"):
    _flags.integer(c, f"{e}.{name}")
  _flags.integer(c, f"{e}.num_inputs", 2)
  _flags.integer(c, f"{e}.grid_cols", 1, num_a, hi_name="steer.num_a")
  _flags.real(c, f"{e}.window_first_frac", 0.0, 1.0, closed=(True, False))
  _flags.integer(c, f"{e}.window_skip_last", 0, num_steps - 1, hi_name="num_steps - 1")
