"""Checks of the regimes app's config and flags, run before the first model trains.

Every check raises :class:`sims._flags.FlagError` (a ``ValueError``) naming the override that
would fix it, e.g. ``--config.mem.p=4: must be an integer >= mem.n=8``.
"""

from __future__ import annotations

from sims import _flags
from sims.regimes import experiments

__all__ = ["NUM_DIGITS", "validate_config", "validate_experiments"]


def validate_experiments(names) -> tuple[str, ...]:
  """The experiments to run: ``names`` (``--experiments``), or all of them when empty.

  Example:
    >>> validate_experiments(["digits", "hybrid"])
    ('hybrid', 'digits')
  """
  return _flags.experiments(names, experiments.EXPERIMENTS)


NUM_DIGITS = 1797  # scikit-learn's digits


def validate_config(c) -> None:
  """Checks every model's settings before the first one trains (``ValueError`` naming the
  override, e.g. ``--config.mem.p=4: ...``)."""
  _flags.seed(c, "seed")
  if _flags.integer(c, "d") != 64:
    _flags.fail("d", c.d, "must be 64: every dataset is drawn as 8×8 images, like the digits")
  n = _flags.integer(c, "mem.n", 2, c.d, hi_name="d")
  _flags.integer(c, "mem.p", n, lo_name="mem.n")  # Cor. 3.2: a column per sample
  _flags.real(c, "mem.norm", 0.0, closed=(False, True))
  K = _flags.integer(c, "gen.K", 2, c.d, hi_name="d")
  _flags.real(c, "gen.beta", -1.0 / (K - 1), 1.0, closed=(True, False))
  _validate_clusters(c, "gen")
  for name in ("n_duplicated", "n_abundant", "copies"):
    _flags.integer(c, f"hybrid.{name}")
  if c.hybrid.n_duplicated + c.hybrid.n_abundant > c.d:
    _flags.fail("hybrid.n_abundant", c.hybrid.n_abundant, f"n_duplicated + n_abundant must be <= d={c.d}")
  _validate_clusters(c, "hybrid")
  n_mem = _flags.integer(c, "digits.n_mem", 2, NUM_DIGITS, hi_name="the number of digits")
  _flags.integer(c, "digits.p", n_mem, lo_name="digits.n_mem")
  _flags.integer(c, "num_hist_inputs")
  for path in ("mem.train", "gen.train", "hybrid.train", "digits.train_mem", "digits.train_gen"):
    _flags.real(c, f"{path}.sigma", 0.0, closed=(False, True))
    with _flags.section(path):
      experiments.train_config(_flags.get(c, path))
  if c.mem.n * c.mem.train.lam >= c.mem.norm**2:  # Eq. (9) needs nλ < min ‖x_i‖² = norm²
    _flags.fail("mem.train.lam", c.mem.train.lam, f"mem.n * lam must be < mem.norm**2={c.mem.norm**2:g} (Eq. 9)")


def _validate_clusters(c, name: str) -> None:
  """The mixture fields shared by the ``gen`` and ``hybrid`` datasets."""
  _flags.integer(c, f"{name}.n_per_cluster")
  _flags.integer(c, f"{name}.rank", 1, c.d, hi_name="d")
  _flags.integer(c, f"{name}.p")
  _flags.real(c, f"{name}.alpha", 0.0)
  for field in ("decay", "norm"):
    _flags.real(c, f"{name}.{field}", 0.0, closed=(False, True))
