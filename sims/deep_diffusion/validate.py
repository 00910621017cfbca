"""Checks of a ``sims.deep_diffusion`` config and ``--experiments`` before the first model trains; each
failure is a :class:`sims._flags.FlagError` naming the override, e.g. ``--config.sweep.n_values=1: ...``."""

from __future__ import annotations

from sims import _flags
from sims.deep_diffusion import experiments

__all__ = ["validate_config", "validate_experiments"]

NUM_DIGITS, NUM_CLASSES = experiments.POOL_SIZE, 10  # scikit-learn's digits; as many bars, of ten orientations


def validate_experiments(names) -> tuple[str, ...]:
  """The ``--experiments`` selection in experiment order; empty = all (:func:`sims._flags.experiments`)."""
  return _flags.experiments(names, experiments.EXPERIMENTS)


def validate_config(c) -> None:
  """Checks the whole config before the first model trains (``ValueError`` naming the override)."""
  _flags.seed(c, "seed")
  _flags.choice(c, "data", experiments.DATA)
  _flags.real(c, "valid_distance", 0.0, closed=(False, True))
  size = _flags.integer(c, "unet.image_size", 8)
  if size % 8:
    _flags.fail("unet.image_size", size, "must be a multiple of 8 (the 8x8 digits are upsampled by an integer factor)")
  with _flags.section("unet"):
    experiments.unet_config(c.unet)
  with _flags.section("train"):
    experiments.train_config(c.train)
  steps = _flags.integer(c, "num_steps", 2)
  _flags.integer(c, "num_samples", 2)
  _flags.real(c, "copy_threshold", 0.0, 1.0, closed=(False, False))
  _flags.integer(c, "num_bootstrap", 2)
  _flags.integers(c, "sweep.n_values", 2, NUM_DIGITS, min_len=2, distinct=True, hi_name="the 1797 digits")
  if list(c.sweep.n_values) != sorted(c.sweep.n_values):
    _flags.fail("sweep.n_values", c.sweep.n_values, "must increase (n_half interpolates along n)")
  _flags.integer(c, "sweep.seeds")
  _flags.integer(c, "hybrid.target_class", 0, NUM_CLASSES - 1, hi_name="the last digit class")
  _flags.integer(c, "hybrid.n_duplicated", 1, 100)
  _flags.integer(c, "hybrid.copies", 2)
  _flags.real(c, "detect.sigma", 0.0, closed=(False, True))
  _flags.integer(c, "detect.score_noise")
  poolings = c.detect.poolings
  if (isinstance(poolings, str) or not poolings or len(set(poolings)) != len(poolings)
          or any(p not in ("max", "mean") for p in poolings) or "max" not in poolings):
    _flags.fail("detect.poolings", poolings, "must be a tuple of distinct names from ('max', 'mean') that includes "
                "'max' (the paper's pooling; the figures draw it)")
  _validate_steer(c, steps)
  _flags.reals(c, "jacobian.sigmas", 0.0, closed=(False, True), distinct=True)
  _flags.integer(c, "jacobian.num_points")


def _validate_steer(c, num_steps: int) -> None:
  e = "steer"
  for name in ("sigma_ref", "a_max"):
    _flags.real(c, f"{e}.{name}", 0.0, closed=(False, True))
  _flags.integer(c, f"{e}.num_reference")
  _flags.choice(c, f"{e}.vector", experiments.STEER_VECTORS)
  _flags.choice(c, f"{e}.blocks", experiments.STEER_BLOCKS)
  num_a = _flags.integer(c, f"{e}.num_a", 2)
  _flags.integer(c, f"{e}.num_seeds", 2, c.num_samples, hi_name="num_samples")
  _flags.integer(c, f"{e}.num_inputs", 2)
  _flags.integer(c, f"{e}.grid_rows")
  _flags.integer(c, f"{e}.grid_cols", 2, num_a, hi_name="steer.num_a")
  frac = _flags.real(c, f"{e}.window_first_frac", 0.0, 1.0, closed=(True, False))
  skip = _flags.integer(c, f"{e}.window_skip_last", 0, num_steps - 1, hi_name="num_steps - 1")
  first, last = experiments.steer_steps(c.steer, num_steps)
  if first >= last:
    _flags.fail(f"{e}.window_skip_last", skip, f"leaves no step to steer: the window starts at step {first} "
                f"(window_first_frac={frac} of num_steps={num_steps}) and ends before step {last}")
