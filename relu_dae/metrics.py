"""Measurements on trained weights and representations.

Weights ``W`` are ``(d, p)`` (columns are units), data ``X`` are ``(n, d)``,
representations ``h`` are ``(..., p)``. Column comparisons are permutation-free:
the loss is invariant to permuting hidden units (Thm 3.1 remark).

Example:
  >>> import jax.numpy as jnp, relu_dae as rd
  >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  >>> float(rd.metrics.stored_fraction(jnp.array([[2.0, 0.0], [0.0, 0.0]]), X))
  0.5
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

import jax
import jax.numpy as jnp

from relu_dae import _checks
from relu_dae import model


def _unit(A: jax.Array, axis: int) -> jax.Array:
  return A / jnp.maximum(jnp.linalg.norm(A, axis=axis, keepdims=True), 1e-12)


def column_cosines(W: jax.Array, X: jax.Array) -> jax.Array:
  """Cosine between every sample and every column, ``(n, p)``; zero columns give 0."""
  return _unit(X, 1) @ _unit(W, 0)


def best_column_cosine(W: jax.Array, X: jax.Array) -> jax.Array:
  """For each sample, the largest cosine with any column of ``W``, ``(n,)``."""
  return jnp.max(column_cosines(W, X), axis=1)


def stored_fraction(W: jax.Array, X: jax.Array, threshold: float = 0.95) -> jax.Array:
  """Fraction of samples stored in some column (cosine ≥ ``threshold``), Cor. 3.2's signature."""
  return jnp.mean(best_column_cosine(W, X) >= threshold)


def match_columns(W: jax.Array, W_ref: jax.Array) -> tuple[np.ndarray, np.ndarray]:
  """Matches columns of ``W`` to those of ``W_ref`` maximizing total cosine (Hungarian).

  Returns:
    ``perm`` with ``W[:, perm[j]]`` matched to ``W_ref[:, j]`` and the matched cosines
    ``(p_ref,)``. Needs ``p ≥ p_ref``. Host function.
  """
  if np.shape(W)[1] < np.shape(W_ref)[1]:
    raise ValueError(f"W must have at least as many columns as W_ref, got {np.shape(W)} and {np.shape(W_ref)}")
  cos = np.asarray(_unit(W_ref, 0).T @ _unit(W, 0))  # (p_ref, p)
  rows, cols = scipy.optimize.linear_sum_assignment(-cos)
  perm = np.empty(cos.shape[0], dtype=int)
  perm[rows] = cols
  return perm, cos[np.arange(cos.shape[0]), perm]


def projector_error(W: jax.Array, W_ref: jax.Array) -> jax.Array:
  """``‖W Wᵀ − W_ref W_refᵀ‖_F / ‖W_ref W_refᵀ‖_F``: invariant to rotations and splittings of units."""
  A, B = W @ W.T, W_ref @ W_ref.T
  return jnp.linalg.norm(A - B) / jnp.linalg.norm(B)


def unit_allocation(params: model.Params, X: jax.Array, labels) -> tuple[np.ndarray, np.ndarray]:
  """Assigns each hidden unit to the cluster on which it is most often active.

  Returns:
    ``owner (p,)`` (cluster index in sorted label order, ``-1`` for units never active
    on the data) and ``counts (K,)`` = units per cluster, i.e. the learned ``p_k``.
  """
  labels = np.asarray(labels)
  ids = np.unique(labels)
  active = np.asarray(model.represent(params, X)) > 0  # (n, p)
  frac = np.stack([active[labels == k].mean(axis=0) for k in ids])  # (K, p)
  owner = np.where(frac.max(axis=0) > 0, frac.argmax(axis=0), -1)
  return owner, np.bincount(owner[owner >= 0], minlength=len(ids))


def representation_std(h: jax.Array) -> jax.Array:
  """The paper's spikiness score: std over units of a representation (§4.1), ``(...,)``."""
  return jnp.std(h, axis=-1)


def l4_over_l2(h: jax.Array) -> jax.Array:
  """Scale-free spikiness ``‖h‖₄/‖h‖₂``: 1 for one-hot, ``p^{-1/4}`` for flat (official code)."""
  return jnp.linalg.norm(h, ord=4, axis=-1) / (jnp.linalg.norm(h, axis=-1) + 1e-12)


def top1_share(h: jax.Array) -> jax.Array:
  """Share of ``‖h‖²`` in the largest unit: 1 for one-hot, ``1/p`` for flat."""
  sq = h**2
  return jnp.max(sq, axis=-1) / (jnp.sum(sq, axis=-1) + 1e-12)


def participation_ratio(h: jax.Array) -> jax.Array:
  """``(Σ h²)² / Σ h⁴``: the effective number of active units (1 = spiky, p = balanced)."""
  sq = h**2
  return jnp.sum(sq, axis=-1) ** 2 / (jnp.sum(sq**2, axis=-1) + 1e-30)


def procrustes_align(W_ref: jax.Array, W: jax.Array) -> jax.Array:
  """``W_ref O`` with the orthogonal ``O`` that best matches ``W`` (orthogonal Procrustes).

  Eq. (8) fixes a block only up to the rotation ``O_k``; aligning the analytic block to a
  learned one removes that freedom before comparing columns. Both are ``(d, p_k)``.
  """
  if jnp.shape(W_ref) != jnp.shape(W):
    raise ValueError(f"W_ref and W must have the same shape, got {jnp.shape(W_ref)} and {jnp.shape(W)}")
  U, _, Vt = jnp.linalg.svd(W_ref.T @ W)
  return W_ref @ (U @ Vt)
