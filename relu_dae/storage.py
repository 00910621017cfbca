"""Which training samples a network stores in a column: the memorization criterion of Cor. 3.2.

A memorizing minimum (Eq. 9) has one column ``r_i x_i`` per sample; a generalizing one (Eq. 8)
has columns spanning a cluster. Sample i is **stored** when both hold:

1. its best column cosine ``c_i = max_j cos(x_i, W_{:, j})`` (:func:`best_column_cosine`) is
   ``≥ threshold`` (default :data:`STORAGE_THRESHOLD` = 0.9), and
2. the relative half-angle test: that column lies within *half* the angle between ``x_i`` and
   its nearest other present sample, ``arccos c_i < 0.499 · min_{j≠i, w_j>0} ∠(x_i, x_j)``.

Test 2 says the column points at ``x_i`` itself, not at a direction ``x_i`` shares with its
neighbours: without it, a tight cluster (small α) counts as "stored" by a single column along
its mean, which is the *generalizing* solution (Eq. 8). A column along the mean of two samples
sits exactly at half their angle and is not counted. Analytic memorizing columns (Eq. 9) have
``c_i = 1`` and pass both tests for distinct samples. This is the one criterion every function
here uses (docs/theory_choices.md item 11); :func:`cosine_stored_fraction` is the different,
cosine-only score (test 1 alone).

Weights ``W`` are ``(d, p)`` (columns are units), data ``X (N, d)`` with per-sample weights
``w (N,)`` (``w_i = 0``: absent; multiplicities ignored, each present sample counts once). Pure
``jnp``, ``jit``/``vmap``-able over ``(W, w)``; a failed run (non-finite ``W``) is NaN.

Examples:
  >>> import jax.numpy as jnp
  >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  >>> float(stored_fraction(jnp.array([[2.0, 0.0], [0.0, 0.0]]), X))
  0.5
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from relu_dae import _arrays
from relu_dae import _checks

__all__ = [
    "STORAGE_THRESHOLD",
    "best_column_cosine",
    "column_cosines",
    "cosine_stored_fraction",
    "per_cluster_stored",
    "stored_fraction",
    "stored_samples",
    "weighted_stored_fraction",
]

STORAGE_THRESHOLD = 0.9  # best column cosine for a sample to count as stored (with the half-angle test)


def _same_rows(W, X):
  """Checks ``W (d, p)`` and data ``X (n, d)`` with matching ``d``; returns them."""
  W = _arrays.weight_matrix("W", W)
  return W, _checks.matrix("X", X, ncols=jnp.shape(W)[0])


def _cosines(W, X):
  return _arrays.unit(X, 1) @ _arrays.unit(W, 0)


def _check_threshold(threshold) -> None:
  _checks.in_range("threshold", threshold, -1.0, 1.0)  # a cosine


def _weighted_data(W, X, w, *, failed_ok: bool = True):
  """Checks ``W (d, p)``, ``X (N, d)``, ``w (N,)``; returns ``W, X, w``."""
  W = _arrays.weight_matrix("W", W, failed_ok=failed_ok)
  X = _checks.matrix("X", X, ncols=jnp.shape(W)[0])
  return W, X, _arrays.weights(X, w)


def column_cosines(W: Float[ArrayLike, "d p"], X: Float[ArrayLike, "n d"]) -> Float[Array, "n p"]:
  """Cosine between every sample and every column, ``(n, p)``, for ``W (d, p)`` and ``X (n, d)``.

  A zero column (an unused unit) or a zero sample has no direction and gives cosine 0, so it
  matches nothing.

  Examples:
    >>> column_cosines(jnp.array([[1.0, 0.0], [0.0, 0.0]]), jnp.array([[3.0, 0.0], [0.0, 1.0]]))
    Array([[1., 0.],
           [0., 0.]], dtype=float32)
  """
  W, X = _same_rows(W, X)
  return _cosines(W, X)


def best_column_cosine(W: Float[ArrayLike, "d p"], X: Float[ArrayLike, "n d"]) -> Float[Array, " n"]:
  """For each sample, the largest cosine with any column of ``W``, ``(n,)``.

  Examples:
    >>> best_column_cosine(jnp.eye(2), jnp.array([[1.0, 0.0], [1.0, 1.0]])).round(3)
    Array([1.   , 0.707], dtype=float32)
  """
  W, X = _same_rows(W, X)
  return jnp.max(_cosines(W, X), axis=1)


_SAME_DIRECTION = 1e-6  # 1 − cosine below which two rows are copies (angle < 1.4e-3 rad; float32 safe)


def _stored(W, X, w, threshold, relative: bool = True):
  """The storage test on checked arguments, ``(N,)`` booleans (``relative=False``: test 1 only)."""
  best = jnp.max(_cosines(W, X), axis=1)
  stored = best >= threshold
  if relative:
    U = _arrays.unit(X, 1)
    C = U @ U.T
    # Other present samples, not counting copies of x_i (rows along its own direction): a
    # duplicated sample is one sample, stored by one column, as in Cor. 3.4.
    distinct = (w > 0)[None, :] & (C < 1.0 - _SAME_DIRECTION)
    others = jnp.where(distinct, C, -jnp.inf)
    nearest = jnp.arccos(jnp.clip(jnp.max(others, axis=1), -1.0, 1.0))
    stored = stored & (jnp.arccos(jnp.clip(best, -1.0, 1.0)) < 0.499 * nearest)
  return stored & (w > 0)


def stored_samples(W: Float[ArrayLike, "d p"], X: Float[ArrayLike, "N d"], w: Float[ArrayLike, " N"],
                   threshold: float = STORAGE_THRESHOLD) -> Bool[Array, " N"]:
  """Which present samples are stored in a column of ``W``, ``(N,)`` booleans (the module's criterion).

  Sample i is stored if ``w_i > 0``, its best column cosine is ``≥ threshold`` and that column
  lies within half the angle between x_i and its nearest other present sample (copies of x_i,
  rows along its own direction, count as x_i itself: a duplicated sample is one sample). A concrete
  non-finite ``W`` (a failed run, which has no stored samples to report) raises ``ValueError``;
  under tracing it gives all False, so use :func:`weighted_stored_fraction` (NaN for a failed
  run) in sweeps.

  Examples:
    >>> X = jnp.array([[0.6, 0.8], [0.8, 0.6]])  # two samples 16° apart: cosine 0.96
    >>> stored_samples(X.sum(axis=0)[:, None], X, jnp.ones(2)).tolist()  # one column along their mean
    [False, False]
    >>> stored_samples(X.T, X, jnp.ones(2)).tolist()  # a column per sample
    [True, True]
    >>> stored_samples(X[:1].T, X[jnp.array([0, 0, 1])], jnp.ones(3)).tolist()  # a copy is the same sample
    [True, True, False]
  """
  W, X, w = _weighted_data(W, X, w, failed_ok=False)
  _check_threshold(threshold)
  return _stored(W, X, w, threshold)


def _fraction(W, X, w, threshold, relative: bool = True):
  present = (w > 0).astype(X.dtype)
  stored = _stored(W, X, w, threshold, relative).astype(X.dtype)
  return _arrays.nan_unless_finite(W, jnp.sum(stored) / jnp.sum(present))


def weighted_stored_fraction(W: Float[ArrayLike, "d p"], X: Float[ArrayLike, "N d"], w: Float[ArrayLike, " N"],
                             threshold: float = STORAGE_THRESHOLD) -> Float[Array, ""]:
  """Fraction of the present samples stored in a column of ``W`` (Cor. 3.2's signature).

  A sample is *present* if ``w_i > 0`` and *stored* as decided by :func:`stored_samples`. Each
  distinct present sample counts once, whatever its multiplicity. ``W (d, p)``, ``X (N, d)``,
  ``w (N,)`` → scalar (NaN if no sample is present, or if ``W`` is not finite: a failed run).

  Examples:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> W = jnp.array([[2.0], [0.0]])
    >>> float(weighted_stored_fraction(W, X, jnp.array([3.0, 1.0, 0.0])))
    0.5
  """
  W, X, w = _weighted_data(W, X, w)
  _check_threshold(threshold)
  return _fraction(W, X, w, threshold)


def stored_fraction(W: Float[ArrayLike, "d p"], X: Float[ArrayLike, "n d"],
                    threshold: float = STORAGE_THRESHOLD) -> Float[Array, ""]:
  """Fraction of the samples ``X (n, d)`` stored in a column of ``W (d, p)``: :func:`weighted_stored_fraction`
  with every sample present once. NaN if ``W`` is not finite (a failed run).

  Examples:
    >>> float(stored_fraction(jnp.eye(2), jnp.array([[1.0, 0.0], [1.0, 1.0]])))
    0.5
  """
  W = _arrays.weight_matrix("W", W, failed_ok=True)
  X = _checks.matrix("X", X, ncols=jnp.shape(W)[0])
  _check_threshold(threshold)
  return _fraction(W, X, jnp.ones(X.shape[:1], jnp.result_type(X, jnp.float32)), threshold)


def cosine_stored_fraction(W: Float[ArrayLike, "d p"], X: Float[ArrayLike, "N d"], w: Float[ArrayLike, " N"],
                           threshold: float = STORAGE_THRESHOLD) -> Float[Array, ""]:
  """Fraction of the present samples whose best column cosine is ``≥ threshold`` (test 1 alone).

  A different score from :func:`weighted_stored_fraction`: without the half-angle test one
  column along a tight cluster's mean "stores" every sample of it. NaN if no sample is present
  or ``W`` is not finite.

  Examples:
    >>> X = jnp.array([[0.6, 0.8], [0.8, 0.6]])
    >>> float(cosine_stored_fraction(X.sum(axis=0)[:, None], X, jnp.ones(2)))  # the mean column
    1.0
  """
  W, X, w = _weighted_data(W, X, w)
  _check_threshold(threshold)
  return _fraction(W, X, w, threshold, relative=False)


def per_cluster_stored(W: Float[ArrayLike, "d p"], X: Float[ArrayLike, "N d"], labels: Int[ArrayLike, " N"],
                       w: Float[ArrayLike, " N"], num_clusters: int,
                       threshold: float = STORAGE_THRESHOLD) -> Float[Array, " K"]:
  """:func:`weighted_stored_fraction` within each cluster, ``(K,)``; NaN for clusters with no sample present.

  ``labels (N,)`` are integers in ``0..num_clusters−1`` (``num_clusters`` static). The half-angle
  test compares with every present sample (of any cluster). This is the per-cluster
  memorization score that ``relu_dae.metrics.regime`` classifies (Cor. 3.4: scarce clusters
  stored, abundant ones not). A non-finite ``W`` (a failed run) gives NaN for every cluster,
  which ``regime`` reads as ``NO_CLUSTER``, never as a regime.

  Examples:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> per_cluster_stored(jnp.array([[1.0], [0.0]]), X, jnp.array([0, 1, 1]), jnp.ones(3), 2).tolist()
    [1.0, 0.0]
  """
  return _per_cluster(W, X, labels, w, num_clusters, threshold)


def _per_cluster(W, X, labels, w, num_clusters, threshold, relative: bool = True):
  W, X, w = _weighted_data(W, X, w)
  onehot = _arrays.one_hot(X, labels, num_clusters) * (w > 0)[:, None]  # (N, K), present only
  _check_threshold(threshold)
  stored = _stored(W, X, w, threshold, relative).astype(X.dtype)
  count = jnp.sum(onehot, axis=0)
  per = jnp.where(count > 0, (stored @ onehot) / jnp.where(count > 0, count, 1.0), jnp.nan)
  return _arrays.nan_unless_finite(W, per)
