"""Spikiness scores of representations ``h = [W1ᵀ y]₊`` (THEORY.md §4.1).

A memorizing network answers a training sample with one active unit (the one-hot ``h_mem`` of
Cor. 3.2); a generalizing one spreads it over a cluster's block (Cor. 3.3). Each score maps
``h (..., p) → (...,)``:

* :func:`representation_std` — the paper's score, the population std over units (not scale-free).
* :func:`l4_over_l2` — ``‖h‖₄/‖h‖₂ ∈ [p^{-1/4}, 1]`` (logged by the official code).
* :func:`top1_share` — share of ``‖h‖²`` in the largest unit, ``∈ [1/p, 1]``.
* :func:`participation_ratio` — ``(Σh²)²/Σh⁴ ∈ [1, p]``, the effective number of active units
  (higher = *flatter*); :func:`negative_participation_ratio` is its negation (higher = spikier).
* :func:`max_over_mean` — ``max_j h_j / mean_j h_j ∈ [1, p]`` for nonnegative ``h``.

:func:`spikiness` averages the four of :data:`SPIKINESS_KEYS` over inputs (sweeps);
``relu_dae.detection.SCORES`` orients them all as higher = more memorized (detection).
The scale-free scores are computed on ``h / max_j |h_j|`` so ``h⁴`` neither overflows nor
underflows; an all-zero row scores 0. Pure ``jnp``, ``jit``/``vmap``-able.

Examples:
  >>> import jax.numpy as jnp
  >>> h = jnp.array([[3.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
  >>> top1_share(h).tolist(), participation_ratio(h).tolist()
  ([1.0, 0.3333333432674408], [1.0, 3.0])
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from relu_dae import _arrays
from relu_dae import _checks

__all__ = [
    "SPIKINESS_KEYS",
    "l4_over_l2",
    "max_over_mean",
    "negative_participation_ratio",
    "participation_ratio",
    "representation_std",
    "spikiness",
    "top1_share",
]

_representations = _arrays.representations


def _max_scaled(h):
  """``h`` divided by its largest ``|h_j|`` per row (rows of zeros kept): scale-free scores
  computed on it cannot overflow or underflow in ``h⁴``."""
  s = jnp.max(jnp.abs(h), axis=-1, keepdims=True)
  return h / jnp.where(s > 0, s, 1.0)


def _std(h):
  return jnp.std(h, axis=-1)


def _l4_over_l2(h):
  h = _max_scaled(h)
  return jnp.linalg.norm(h, ord=4, axis=-1) / (jnp.linalg.norm(h, axis=-1) + 1e-12)


def _top1_share(h):
  sq = _max_scaled(h) ** 2
  return jnp.max(sq, axis=-1) / (jnp.sum(sq, axis=-1) + 1e-12)


def _participation_ratio(h):
  sq = _max_scaled(h) ** 2
  return jnp.sum(sq, axis=-1) ** 2 / (jnp.sum(sq**2, axis=-1) + 1e-30)


def representation_std(h: Float[ArrayLike, "... p"]) -> Float[Array, ...]:
  """The paper's spikiness score: std over units of a representation (§4.1), ``(..., p) → (...,)``.

  Examples:
    >>> representation_std(jnp.array([[2.0, 0.0], [1.0, 1.0]]))
    Array([1., 0.], dtype=float32)
  """
  return _std(_representations(h))


def l4_over_l2(h: Float[ArrayLike, "... p"]) -> Float[Array, ...]:
  """Scale-free spikiness ``‖h‖₄/‖h‖₂``, ``(..., p) → (...,)``: 1 for one-hot, ``p^{-1/4}`` for flat.

  Logged by the official code next to the paper's std score (§4.1). Computed on ``h / max|h_j|``
  (no overflow or underflow of ``h⁴``); all-zero rows give 0.

  Examples:
    >>> l4_over_l2(jnp.array([[2.0, 0.0], [0.0, 0.0]]))
    Array([1., 0.], dtype=float32)
  """
  return _l4_over_l2(_representations(h))


def top1_share(h: Float[ArrayLike, "... p"]) -> Float[Array, ...]:
  """Share of ``‖h‖²`` in the largest unit, ``(..., p) → (...,)``: 1 for one-hot, ``1/p`` for flat.

  A scale-free spikiness score (§4.1): the one-hot ``h_mem`` of Cor. 3.2 gives ≈ 1. Computed on
  ``h / max|h_j|``; all-zero rows give 0.

  Examples:
    >>> top1_share(jnp.array([[2.0, 0.0], [1.0, 1.0]]))
    Array([1. , 0.5], dtype=float32)
  """
  return _top1_share(_representations(h))


def participation_ratio(h: Float[ArrayLike, "... p"]) -> Float[Array, ...]:
  """``(Σ h²)² / Σ h⁴``, ``(..., p) → (...,)``: the effective number of active units.

  1 for a spiky (one-hot, Cor. 3.2) representation, ≈ ``p_k`` for one balanced over a block (Cor. 3.3).
  Computed on ``h / max|h_j|`` (no overflow or underflow of ``h⁴``); all-zero rows give 0.

  Examples:
    >>> participation_ratio(jnp.array([[2.0, 0.0], [1.0, 1.0]]))
    Array([1., 2.], dtype=float32)
  """
  return _participation_ratio(_representations(h))


def max_over_mean(h: Float[ArrayLike, "... p"]) -> Float[Array, ...]:
  """``max_j h_j / mean_j h_j`` of ``h (..., p)``: ``p`` for one-hot, 1 for flat (higher = spikier).

  All-zero representations score 0. ``h`` must be nonnegative (a ReLU representation): with
  entries of both signs the mean can cancel to 0 and the ratio is meaningless.

  Examples:
    >>> max_over_mean(jnp.array([[2.0, 0.0], [1.0, 1.0]]))
    Array([2., 1.], dtype=float32)
  """
  h = _representations(h)
  _checks.nonnegative("h", h)
  return jnp.max(h, axis=-1) / (jnp.mean(h, axis=-1) + 1e-12)


def negative_participation_ratio(h: Float[ArrayLike, "... p"]) -> Float[Array, ...]:
  """``−(Σh²)²/Σh⁴``: minus :func:`participation_ratio`, so higher = spikier (detection's orientation).

  −1 for one-hot, −p for flat; all-zero representations score 0.

  Examples:
    >>> negative_participation_ratio(jnp.array([[2.0, 0.0], [1.0, 1.0]]))
    Array([-1., -2.], dtype=float32)
  """
  return -_participation_ratio(_representations(h))


SPIKINESS_KEYS = ("std", "l4_over_l2", "top1_share", "participation_ratio")



def spikiness(h: Float[ArrayLike, "... p"]) -> dict[str, Float[Array, ""]]:
  """Means over inputs of the four spikiness scores of representations ``h (..., p)`` (§4.1).

  Keys (:data:`SPIKINESS_KEYS`): ``std`` (:func:`representation_std`, the paper's score),
  ``l4_over_l2``, ``top1_share``, ``participation_ratio``. Convention: all-zero
  representations (no unit active — e.g. an input on the wrong side of every ReLU) carry no
  shape and are left out of every mean; if all are zero, every entry is NaN.

  Examples:
    >>> h = jnp.array([[2.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    >>> {k: round(float(v), 3) for k, v in spikiness(h).items()}
    {'std': 0.5, 'l4_over_l2': 0.92, 'top1_share': 0.75, 'participation_ratio': 1.5}
  """
  h = _representations(h)
  h = jnp.reshape(h, (-1, jnp.shape(h)[-1]))
  active = jnp.any(h != 0, axis=-1)
  mean = lambda v: jnp.sum(jnp.where(active, v, 0.0)) / jnp.sum(active)
  scores = (_std, _l4_over_l2, _top1_share, _participation_ratio)
  return {k: mean(fn(h)) for k, fn in zip(SPIKINESS_KEYS, scores)}

