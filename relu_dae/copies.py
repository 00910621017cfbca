"""Copies of training samples: nearest-neighbour distances and the copy criterion.

An output (a generated or denoised sample) *copies* a training sample when it sits on one
sample rather than between samples: its distance ``d₁`` to the nearest distinct present
training sample is small against the distance ``d₂`` to the second nearest.

* :func:`nearest_neighbours` — ``d₁, d₂`` and the two samples' indices (:class:`Neighbours`).
* :func:`nearest_neighbour_ratio` — ``d₁/d₂`` (alias :func:`nn_ratio`).
* :func:`is_copy` — ``d₁/d₂ < 1/3``, the common copy criterion.

Samples are a pool ``X (N, d)`` with weights ``w (N,)`` (present where ``w > 0``, multiplicity
ignored, equal rows one sample); pure ``jnp``, ``jit``/``vmap``-able.

Examples:
  >>> import jax.numpy as jnp
  >>> X = jnp.array([[0.0, 0.0], [4.0, 0.0]])
  >>> is_copy(nearest_neighbour_ratio(jnp.array([[0.5, 0.0], [2.0, 0.0]]), X, jnp.ones(2))).tolist()
  [True, False]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from relu_dae import _arrays
from relu_dae import _checks

__all__ = ["Neighbours", "is_copy", "nearest_neighbour_ratio", "nearest_neighbours", "nn_ratio"]


class Neighbours(NamedTuple):
  """The two nearest distinct present training samples of each output (:func:`nearest_neighbours`).

  Attributes:
    d1, d2: ``(...,)`` distances to the nearest and the second-nearest distinct sample (NaN where
      fewer than two distinct samples are present).
    i1, i2: ``(...,)`` their row indices in ``X`` (among equal rows, the first; ``-1`` where undefined).
  """
  d1: Float[Array, ...]
  d2: Float[Array, ...]
  i1: Int[Array, ...]
  i2: Int[Array, ...]


def nearest_neighbours(outputs: Float[ArrayLike, "... d"], X: Float[ArrayLike, "N d"], w: Float[ArrayLike, " N"], *,
                       direction: bool = False) -> Neighbours:
  """Nearest and second-nearest *distinct* present training sample of each output, with distances.

  Present samples are the rows of ``X`` with ``w > 0`` (multiplicity ignored). Equal rows of ``X``
  are one sample: the second neighbour is the nearest present row *not equal* to the first, so an
  exact copy of a duplicated row has ``d1 = 0 < d2`` (a copy), where a plain two-nearest-rows search
  gives ``d1 = d2 = 0``. Neighbours are found with the Gram expansion, their distances recomputed
  exactly. ``direction=True`` compares unit vectors ``x/‖x‖`` (see :func:`nearest_neighbour_ratio`).

  Args:
    outputs: ``(..., d)`` (e.g. generated samples ``(m, d)``).
    X: sample pool ``(N, d)``, ``N ≥ 2``; w: nonnegative weights ``(N,)``.
    direction: compare directions (unit vectors) instead of points.

  Returns:
    A :class:`Neighbours` of ``(...,)`` arrays.

  Examples:
    >>> X = jnp.array([[1.0, 0.0], [1.0, 0.0], [4.0, 0.0]])  # row 1 duplicates row 0
    >>> nb = nearest_neighbours(jnp.array([[1.0, 0.0]]), X, jnp.ones(3))
    >>> nb.d1.tolist(), nb.d2.tolist(), nb.i1.tolist(), nb.i2.tolist()
    ([0.0], [3.0], [0], [2])
  """
  X = _checks.matrix("X", X)
  w = _arrays.weights(X, w)
  if X.shape[0] < 2:
    raise ValueError(f"X must have at least 2 rows for a second nearest neighbour, got shape {X.shape}")
  outputs = _checks.array("outputs", outputs)
  _checks.trailing_dim("outputs", outputs, X.shape[1])
  if _checks.boolean("direction", direction):
    outputs, X = _arrays.unit(outputs, -1), _arrays.unit(X, -1)
  sq = jnp.where(w > 0, jnp.sum(X**2, axis=-1) - 2.0 * outputs @ X.T, jnp.inf)  # ‖o − x‖² − ‖o‖²
  i1 = jnp.argmin(sq, axis=-1)
  same = jnp.all(X[i1][..., None, :] == X, axis=-1)  # (..., N): rows equal to the first neighbour
  sq2 = jnp.where(same, jnp.inf, sq)
  i2 = jnp.argmin(sq2, axis=-1)
  ok = jnp.isfinite(jnp.min(sq2, axis=-1)) & jnp.isfinite(jnp.min(sq, axis=-1))
  dist = lambda i: jnp.linalg.norm(outputs - X[i], axis=-1)
  nan = jnp.array(jnp.nan, outputs.dtype)
  return Neighbours(jnp.where(ok, dist(i1), nan), jnp.where(ok, dist(i2), nan),
                    jnp.where(ok, i1, -1), jnp.where(ok, i2, -1))


def nearest_neighbour_ratio(outputs: Float[ArrayLike, "... d"], X: Float[ArrayLike, "N d"], w: Float[ArrayLike, " N"],
                            *, direction: bool = False) -> Float[Array, ...]:
  """Nearest-neighbour distance ratio ``d₁/d₂`` of each output to the present training samples.

  ``d₁, d₂`` are the Euclidean distances from an output to its nearest and second-nearest
  distinct present sample (:func:`nearest_neighbours`, which also returns them and their
  indices). A ratio ≪ 1 means the output sits on one training sample rather than between
  samples — the copy criterion of the memorization literature (:func:`is_copy`). Equal rows of
  ``X`` count as one sample, so an exact copy of a duplicated row has ratio 0 (a copy; a plain
  search over rows would give 0/0 = NaN); fewer than two distinct present samples give NaN.

  ``direction=True`` measures the same ratio between unit vectors ``x/‖x‖`` (a cosine nearest
  neighbour, as the official code's): the tied, bias-free ReLU model is positively homogeneous,
  so a memorizing model generates *scaled* copies, which are copies in direction only.

  Args:
    outputs: ``(..., d)`` (e.g. generated samples ``(m, d)``).
    X: sample pool ``(N, d)``, ``N ≥ 2``; w: nonnegative weights ``(N,)``.
    direction: compare directions (unit vectors) instead of points.

  Returns:
    ``(...,)`` ratios in [0, 1].

  Examples:
    >>> X = jnp.array([[0.0, 0.0], [4.0, 0.0], [1.0, 0.0]])
    >>> nearest_neighbour_ratio(jnp.array([[1.0, 0.0]]), X, jnp.array([1.0, 1.0, 0.0]))
    Array([0.33333334], dtype=float32)
    >>> X = jnp.array([[2.0, 0.0], [0.0, 2.0]])
    >>> nearest_neighbour_ratio(jnp.array([[1.0, 0.0]]), X, jnp.ones(2), direction=True)  # a half-length copy of x_0
    Array([0.], dtype=float32)
  """
  nb = nearest_neighbours(outputs, X, w, direction=direction)
  return jnp.minimum(nb.d1, nb.d2) / nb.d2  # ≤ 1 even where the Gram expansion's rounding swaps the two


def is_copy(ratio: Float[ArrayLike, ...], threshold: float = 1 / 3) -> Bool[Array, ...]:
  """``ratio < threshold``: an output is a copy of a training sample (NaN → False).

  The 1/3 default is the common copy criterion ``d₁ < d₂/3`` for generated samples
  (e.g. Yoon et al. 2023; Gu et al. 2025); pass :func:`nearest_neighbour_ratio`'s output: ratios ``≥ 0`` or NaN,
  ``threshold`` in (0, 1].

  Examples:
    >>> is_copy(jnp.array([0.1, 0.5, jnp.nan])).tolist()
    [True, False, False]
  """
  ratio = _checks.real_array("ratio", ratio)
  v = _checks.concrete(ratio)
  if v is not None and np.any(v < 0):
    raise ValueError("ratio must be >= 0 (NaN where undefined), got negative entries")
  _checks.in_range("threshold", threshold, 0.0, 1.0, closed=(False, True))
  return ratio < threshold



nn_ratio = nearest_neighbour_ratio  # the short name, kept
