"""Measurements on trained weights and representations.

Weights ``W`` are ``(d, p)`` (columns are units), data ``X`` are ``(n, d)``,
representations ``h`` are ``(..., p)``. Column comparisons are permutation-free:
the loss is invariant to permuting hidden units (Thm 3.1 remark).

Sweep metrics (``weighted_*``, ``*_target``, ``gram_distance``, ``denoising_gaps``,
``nn_ratio``, ``spikiness``, ``regime``) take a shared pool ``X (N, d)`` with per-configuration
sample weights ``w (N,)`` and are pure ``jnp``, ``jit``/``vmap``-able over (W, w, σ, λ, p);
``critical_n`` and ``power_law_fit`` analyse the resulting curves on the host (numpy).
Definitions and thresholds: docs/theory_choices.md item 11.

Example:
  >>> import jax.numpy as jnp, relu_dae as rd
  >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  >>> float(rd.metrics.stored_fraction(jnp.array([[2.0, 0.0], [0.0, 0.0]]), X))
  0.5
"""

from __future__ import annotations

from typing import NamedTuple

import warnings

import numpy as np
import scipy.optimize

import jax
import jax.numpy as jnp

from relu_dae import _checks
from relu_dae import losses
from relu_dae import model
from relu_dae import stats


def _unit(A: jax.Array, axis: int) -> jax.Array:
  return A / jnp.maximum(jnp.linalg.norm(A, axis=axis, keepdims=True), 1e-12)


# --- Argument checks shared by the functions below -----------------------------------------


def _weight_matrix(name: str, W, *, failed_ok: bool = False):
  """Checks a real ``(d, p)`` matrix with ``p ≥ 1`` columns; returns it (ints as float32).

  With ``failed_ok`` NaN/inf entries pass (a failed run's weights, NaN downstream).
  """
  W = _checks.real_array(name, W) if failed_ok else _checks.array(name, W)
  if jnp.ndim(W) != 2 or jnp.shape(W)[1] == 0:
    raise ValueError(f"{name} must be a 2-D (d, p) weight matrix with p >= 1 columns, got shape {jnp.shape(W)}")
  return W


def _representations(h):
  """Checks representations ``h (..., p)``, ``p ≥ 1``; returns them (ints as float32)."""
  h = _checks.array("h", h)
  if jnp.ndim(h) < 1 or jnp.shape(h)[-1] == 0:
    raise ValueError(f"h must have shape (..., p) with p >= 1, got shape {jnp.shape(h)}")
  return h


def _run_params(params):
  """Checks tied/untied ``params`` (NaN weights of a failed run pass); returns the first weight matrix."""
  if not hasattr(params, "keys"):
    raise TypeError(f"params must be a dict with key 'W' or keys 'W1','W2', got {type(params).__name__}")
  _checks.params("params", params)
  return [_weight_matrix(f"params[{k!r}]", params[k], failed_ok=True) for k in sorted(params.keys())][0]


def _same_rows(W, X):
  """Checks ``W (d, p)`` and data ``X (n, d)`` with matching ``d``; returns them."""
  W = _weight_matrix("W", W)
  return W, _checks.matrix("X", X, ncols=jnp.shape(W)[0])


# --- Columns against samples ----------------------------------------------------------------


def _cosines(W, X):
  return _unit(X, 1) @ _unit(W, 0)


def column_cosines(W: jax.Array, X: jax.Array) -> jax.Array:
  """Cosine between every sample and every column, ``(n, p)``, for ``W (d, p)`` and ``X (n, d)``.

  A zero column (an unused unit) or a zero sample has no direction and gives cosine 0, so it
  matches nothing.
  """
  W, X = _same_rows(W, X)
  return _cosines(W, X)


def best_column_cosine(W: jax.Array, X: jax.Array) -> jax.Array:
  """For each sample, the largest cosine with any column of ``W``, ``(n,)``."""
  W, X = _same_rows(W, X)
  return jnp.max(_cosines(W, X), axis=1)


def _check_threshold(threshold) -> None:
  _checks.in_range("threshold", threshold, -1.0, 1.0)  # a cosine


def _nan_unless_finite(W, value):
  """``value``, or NaN when ``W`` is not all finite (a failed run is NaN downstream, never 0)."""
  return jnp.where(jnp.all(jnp.isfinite(W)), value, jnp.nan)


def stored_fraction(W: jax.Array, X: jax.Array, threshold: float = 0.95) -> jax.Array:
  """Fraction of samples stored in some column (cosine ≥ ``threshold``), Cor. 3.2's signature.

  ``W (d, p)``, ``X (n, d)`` → scalar; NaN if ``W`` is not finite (a failed run).

  Example:
    >>> float(stored_fraction(jnp.eye(2), jnp.array([[1.0, 0.0], [1.0, 1.0]])))
    0.5
  """
  W = _weight_matrix("W", W, failed_ok=True)
  X = _checks.matrix("X", X, ncols=jnp.shape(W)[0])
  _check_threshold(threshold)
  return _nan_unless_finite(W, jnp.mean(jnp.max(_cosines(W, X), axis=1) >= threshold))


def match_columns(W: jax.Array, W_ref: jax.Array) -> tuple[np.ndarray, np.ndarray]:
  """Matches columns of ``W`` to those of ``W_ref`` maximizing total cosine (Hungarian).

  Returns:
    ``perm`` with ``W[:, perm[j]]`` matched to ``W_ref[:, j]`` and the matched cosines
    ``(p_ref,)``. Both are ``(d, ·)``; needs ``p ≥ p_ref``. Host function.
  """
  W, W_ref = _weight_matrix("W", W), _weight_matrix("W_ref", W_ref)
  if np.shape(W)[0] != np.shape(W_ref)[0]:
    raise ValueError(f"W_ref must have as many rows d as W, got {np.shape(W_ref)} and {np.shape(W)}")
  if np.shape(W)[1] < np.shape(W_ref)[1]:
    raise ValueError(f"W must have at least as many columns as W_ref, got {np.shape(W)} and {np.shape(W_ref)}")
  cos = np.asarray(_unit(W_ref, 0).T @ _unit(W, 0))  # (p_ref, p)
  rows, cols = scipy.optimize.linear_sum_assignment(-cos)
  perm = np.empty(cos.shape[0], dtype=int)
  perm[rows] = cols
  return perm, cos[np.arange(cos.shape[0]), perm]


def _target_gram(d: int, G):
  G = _checks.array("target_gram", G)
  if jnp.shape(G) != (d, d):
    raise ValueError(f"target_gram must have shape (d, d)=({d}, {d}), got {jnp.shape(G)}")
  v = _checks.concrete(G)
  if v is not None and not np.any(v):
    raise ValueError("target_gram is all zero: the relative distance to it is undefined")
  return G


def gram_distance(W: jax.Array, target_gram: jax.Array) -> jax.Array:
  """Relative Gram distance ``‖W Wᵀ − G‖_F / ‖G‖_F`` of weights ``W (d, p)`` to ``G (d, d)``.

  For tied weights the function near a data point is ``f(y) ≈ W_A W_Aᵀ y`` on the active
  units A, so ``W Wᵀ`` is what the analytic minima pin down: Eq. (9) fixes
  ``W_mem W_memᵀ = Σ_i r_i² x_i x_iᵀ`` and Eq. (8) fixes ``W_Xk W_Xkᵀ`` (not ``O_k``).
  ``W Wᵀ`` is invariant to permuting units, to rotating a block (``O_k``) and to splitting a
  column over parallel units (``c cᵀ = Σ_j (t_j c)(t_j c)ᵀ`` with ``Σ t_j² = 1``), so it
  replaces Hungarian column matching (:func:`match_columns`, host-only, not invariant to
  splits) in ``jit``/``vmap`` sweeps; zero columns (unused units) do not contribute.
  Distances to the minima are ``gram_distance(W, M @ M.T)`` with ``M =``
  :func:`memorization_target` and ``gram_distance(W, G)`` with ``G =``
  :func:`generalization_target`. Undefined results are NaN: a non-finite ``W`` (a failed run),
  and ``G = 0`` under tracing (a concrete ``G = 0`` raises ``ValueError``).

  Example:
    >>> W = jnp.array([[1.0, 0.0], [0.0, 0.0]])
    >>> round(float(gram_distance(W, jnp.eye(2))), 4)  # one of two unit directions missing
    0.7071
  """
  W = _weight_matrix("W", W, failed_ok=True)
  target_gram = _target_gram(jnp.shape(W)[0], target_gram)
  norm = jnp.linalg.norm(target_gram)
  return jnp.where(norm > 0, jnp.linalg.norm(W @ W.T - target_gram) / jnp.where(norm > 0, norm, 1.0), jnp.nan)


def projector_error(W: jax.Array, W_ref: jax.Array) -> jax.Array:
  """``‖W Wᵀ − W_ref W_refᵀ‖_F / ‖W_ref W_refᵀ‖_F``: invariant to rotations and splittings of units.

  ``W (d, p)``, ``W_ref (d, p_ref)``; NaN for a non-finite ``W`` (a failed run); an all-zero
  ``W_ref`` raises ``ValueError`` (NaN under tracing).
  """
  W = _weight_matrix("W", W, failed_ok=True)
  W_ref = _weight_matrix("W_ref", W_ref)
  if jnp.shape(W_ref)[0] != jnp.shape(W)[0]:
    raise ValueError(f"W_ref must have as many rows d as W, got {jnp.shape(W_ref)} and {jnp.shape(W)}")
  v = _checks.concrete(W_ref)
  if v is not None and not np.any(v):
    raise ValueError("W_ref is all zero: the relative distance to it is undefined")
  return gram_distance(W, W_ref @ W_ref.T)


def unit_allocation(params: model.Params, X: jax.Array, labels) -> tuple[np.ndarray, np.ndarray]:
  """Assigns each hidden unit to the cluster on which it is most often active.

  ``params`` with weights ``(d, p)`` (finite), ``X (n, d)``, integer ``labels (n,)``. Host function.

  Returns:
    ``owner (p,)`` (cluster index in sorted label order, ``-1`` for units never active
    on the data) and ``counts (K,)`` = units per cluster, i.e. the learned ``p_k``.
  """
  d, _ = _checks.dae_params("params", params)
  X = _checks.matrix("X", X, ncols=d)
  labels = _checks.integer_labels(X, labels)
  ids = np.unique(labels)
  active = np.asarray(model.represent(params, X)) > 0  # (n, p)
  frac = np.stack([active[labels == k].mean(axis=0) for k in ids])  # (K, p)
  owner = np.where(frac.max(axis=0) > 0, frac.argmax(axis=0), -1)
  return owner, np.bincount(owner[owner >= 0], minlength=len(ids))


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


def representation_std(h: jax.Array) -> jax.Array:
  """The paper's spikiness score: std over units of a representation (§4.1), ``(..., p) → (...,)``."""
  return _std(_representations(h))


def l4_over_l2(h: jax.Array) -> jax.Array:
  """Scale-free spikiness ``‖h‖₄/‖h‖₂``, ``(..., p) → (...,)``: 1 for one-hot, ``p^{-1/4}`` for flat.

  Logged by the official code next to the paper's std score (§4.1). Computed on ``h / max|h_j|``
  (no overflow or underflow of ``h⁴``); all-zero rows give 0.
  """
  return _l4_over_l2(_representations(h))


def top1_share(h: jax.Array) -> jax.Array:
  """Share of ``‖h‖²`` in the largest unit, ``(..., p) → (...,)``: 1 for one-hot, ``1/p`` for flat.

  A scale-free spikiness score (§4.1): the one-hot ``h_mem`` of Cor. 3.2 gives ≈ 1. Computed on
  ``h / max|h_j|``; all-zero rows give 0.
  """
  return _top1_share(_representations(h))


def participation_ratio(h: jax.Array) -> jax.Array:
  """``(Σ h²)² / Σ h⁴``, ``(..., p) → (...,)``: the effective number of active units.

  1 for a spiky (one-hot, Cor. 3.2) representation, ≈ ``p_k`` for one balanced over a block (Cor. 3.3).
  Computed on ``h / max|h_j|`` (no overflow or underflow of ``h⁴``); all-zero rows give 0.
  """
  return _participation_ratio(_representations(h))


def procrustes_align(W_ref: jax.Array, W: jax.Array) -> jax.Array:
  """``W_ref O`` with the orthogonal ``O`` that best matches ``W`` (orthogonal Procrustes).

  Eq. (8) fixes a block only up to the rotation ``O_k``; aligning the analytic block to a
  learned one removes that freedom before comparing columns. Both are ``(d, p_k)``.
  """
  W_ref, W = _weight_matrix("W_ref", W_ref), _weight_matrix("W", W)
  if jnp.shape(W_ref) != jnp.shape(W):
    raise ValueError(f"W_ref and W must have the same shape, got {jnp.shape(W_ref)} and {jnp.shape(W)}")
  U, _, Vt = jnp.linalg.svd(W_ref.T @ W)
  return W_ref @ (U @ Vt)


# --- Weighted training sets (sweeps) -------------------------------------------------------
#
# A sweep trains every configuration on one shared pool ``X (N, d)`` with a per-configuration
# sample weight ``w (N,)``: ``w_i = 0`` leaves sample i out, ``w_i = m`` puts it in m times, and
# the training-set size is ``n = Σ_i w_i``. Everything below is pure ``jnp`` with static shapes,
# so it can be ``jax.vmap``-ed over (W, w, σ, λ, p) with ``num_clusters`` static.


def _weights(X: jax.Array, w) -> jax.Array:
  """Checks a per-sample weight vector ``w (N,)`` for ``X (N, d)``; returns it in X's float dtype."""
  w = _checks.array("w", w)
  if jnp.shape(w) != jnp.shape(X)[:1]:
    raise ValueError(f"w must have shape (N,)={jnp.shape(X)[:1]} (one weight per row of X), got {jnp.shape(w)}")
  _checks.nonnegative("w", w)
  return jnp.asarray(w, jnp.result_type(X, jnp.float32))


def _weighted_data(W, X, w, *, failed_ok: bool = True):
  """Checks ``W (d, p)``, ``X (N, d)``, ``w (N,)``; returns ``W, X, w``."""
  W = _weight_matrix("W", W, failed_ok=failed_ok)
  X = _checks.matrix("X", X, ncols=jnp.shape(W)[0])
  return W, X, _weights(X, w)


def _one_hot(X, labels, num_clusters: int) -> jax.Array:
  """Checks ``labels (N,)`` in ``0..K−1`` and returns the one-hot ``(N, K)`` in X's float dtype."""
  K = _checks.positive_int("num_clusters", num_clusters)
  if labels is None or isinstance(labels, (str, dict)):
    raise TypeError(f"labels must be an array of integer cluster ids, got {type(labels).__name__}")
  labels = jnp.asarray(labels) if isinstance(labels, (list, tuple)) else labels
  _checks.real_floating("labels", labels)
  if jnp.shape(labels) != jnp.shape(X)[:1]:
    raise ValueError(f"labels must have shape (N,)={jnp.shape(X)[:1]}, got {jnp.shape(labels)}")
  if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
    raise ValueError(f"labels must be integers in 0..num_clusters-1={K - 1}, got dtype {jnp.result_type(labels)}")
  v = _checks.concrete(labels)
  if v is not None and (np.any(v < 0) or np.any(v >= K)):
    raise ValueError(f"labels must be integers in 0..num_clusters-1={K - 1}, got {np.unique(v)}")
  return jax.nn.one_hot(labels, K, dtype=jnp.result_type(X, jnp.float32))


def _stored(W, X, w, threshold, relative: bool):
  """:func:`stored_samples` on checked arguments."""
  best = jnp.max(_cosines(W, X), axis=1)
  stored = best >= threshold
  if relative:
    U = _unit(X, 1)
    others = jnp.where((w > 0)[None, :] & ~jnp.eye(X.shape[0], dtype=bool), U @ U.T, -jnp.inf)
    nearest = jnp.arccos(jnp.clip(jnp.max(others, axis=1), -1.0, 1.0))
    stored = stored & (jnp.arccos(jnp.clip(best, -1.0, 1.0)) < 0.499 * nearest)
  return stored & (w > 0)


def stored_samples(W: jax.Array, X: jax.Array, w: jax.Array, threshold: float = 0.95, *,
                   relative: bool = True) -> jax.Array:
  """Which present samples are stored in a column of ``W``, ``(N,)`` booleans.

  Sample i is stored if its best column cosine c_i (:func:`best_column_cosine`) is
  ≥ ``threshold`` and, with ``relative=True``, the column also lies within half the
  angle between x_i and its nearest other present sample: it points at x_i itself, not
  at a direction x_i shares with its neighbours. Without that, a tight cluster (small α)
  counts as "stored" by a single column along its mean, which is the *generalizing*
  solution (Eq. 8); a column along the mean of two samples sits exactly at half their
  angle and is not counted. Analytic memorizing columns (Eq. 9) have c_i = 1 and pass
  both tests for distinct samples. A concrete non-finite ``W`` (a failed run, which has no
  stored samples to report) raises ``ValueError``; under tracing it gives all False, so use
  :func:`weighted_stored_fraction` (NaN for a failed run) in sweeps.

  Example:
    >>> X = jnp.array([[0.6, 0.8], [0.8, 0.6]])  # two samples 16° apart
    >>> W = X.sum(axis=0)[:, None]  # one column along their mean
    >>> stored_samples(W, X, jnp.ones(2), 0.9, relative=False).tolist()
    [True, True]
    >>> stored_samples(W, X, jnp.ones(2), 0.9).tolist()
    [False, False]
  """
  W, X, w = _weighted_data(W, X, w, failed_ok=False)
  _check_threshold(threshold)
  return _stored(W, X, w, threshold, _checks.boolean("relative", relative))


def weighted_stored_fraction(W: jax.Array, X: jax.Array, w: jax.Array, threshold: float = 0.95, *,
                             relative: bool = False) -> jax.Array:
  """Fraction of the present samples stored in a column of ``W`` (Cor. 3.2's signature).

  A sample is *present* if ``w_i > 0`` and *stored* as decided by :func:`stored_samples`
  (best column cosine ≥ ``threshold``; with ``relative=True`` also above its cosine with
  every other present sample). Each distinct present sample counts once,
  whatever its multiplicity. ``W (d, p)``, ``X (N, d)``, ``w (N,)`` → scalar (NaN if no sample
  is present, or if ``W`` is not finite: a failed run).

  Example:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> W = jnp.array([[2.0], [0.0]])
    >>> float(weighted_stored_fraction(W, X, jnp.array([3.0, 1.0, 0.0])))
    0.5
  """
  W, X, w = _weighted_data(W, X, w)
  _check_threshold(threshold)
  present = (w > 0).astype(X.dtype)
  stored = _stored(W, X, w, threshold, _checks.boolean("relative", relative)).astype(X.dtype)
  return _nan_unless_finite(W, jnp.sum(stored) / jnp.sum(present))


def per_cluster_stored(W: jax.Array, X: jax.Array, labels: jax.Array, w: jax.Array, num_clusters: int,
                       threshold: float = 0.95, *, relative: bool = False) -> jax.Array:
  """:func:`weighted_stored_fraction` within each cluster, ``(K,)``; NaN for clusters with no sample present.

  ``labels (N,)`` are integers in ``0..num_clusters−1`` (``num_clusters`` static). This is the
  per-cluster memorization score that :func:`regime` classifies (Cor. 3.4: scarce clusters
  stored, abundant ones not). A non-finite ``W`` (a failed run) gives NaN for every cluster,
  which :func:`regime` reads as :data:`NO_CLUSTER`, never as a regime.
  """
  W, X, w = _weighted_data(W, X, w)
  onehot = _one_hot(X, labels, num_clusters) * (w > 0)[:, None]  # (N, K), present only
  _check_threshold(threshold)
  stored = _stored(W, X, w, threshold, _checks.boolean("relative", relative)).astype(X.dtype)
  count = jnp.sum(onehot, axis=0)
  per = jnp.where(count > 0, (stored @ onehot) / jnp.where(count > 0, count, 1.0), jnp.nan)
  return _nan_unless_finite(W, per)


def _sigma_lam(sigma, lam) -> None:
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)


def _check_p_per_cluster(p_per_cluster, K: int):
  """Checks ``p_per_cluster``: an integer or ``(K,)`` integers ``≥ 0`` (values when concrete)."""
  if p_per_cluster is None or isinstance(p_per_cluster, (str, dict)):
    raise TypeError(f"p_per_cluster must be an integer or K={K} integers, got {p_per_cluster!r}")
  p = np.asarray(p_per_cluster) if isinstance(p_per_cluster, (list, tuple)) else p_per_cluster
  _checks.real_floating("p_per_cluster", p)
  if np.shape(p) not in ((), (K,)):
    raise ValueError(f"p_per_cluster must be a scalar or have shape (K,)=({K},), got shape {np.shape(p)}")
  v = _checks.concrete(p)
  if v is not None and not np.all(np.isfinite(v) & (v >= 0) & (v == np.round(v))):
    raise ValueError(f"p_per_cluster must be integers >= 0, got {v}")
  return p


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
  """``num / den`` where ``den > 0``, else 0 (no NaN in values or gradients)."""
  ok = den > 0
  return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def memorization_target(X: jax.Array, w: jax.Array, sigma, lam) -> jax.Array:
  """The memorizing minimum ``W_mem`` of Eq. (9) for a weighted training set, ``(d, N)``.

  Column i is ``r_i x_i`` for a present sample (``w_i > 0``) and 0 otherwise, with the
  hybrid scale of a sample repeated ``w_i`` times (Cor. 3.4, ``minima.hybrid``;
  docs/theory_choices.md item 6):

      r_i² = max(w_i‖x_i‖² − nλ, 0) / (w_i‖x_i‖² (‖x_i‖² + σ²)),    n = Σ_i w_i,

  which is Eq. (9) for ``w_i = 1``. The clip at 0 (a sample whose weight decay exceeds its
  energy is not stored) replaces ``minima``'s ValueError so the function stays traceable.
  Compare with trained weights through ``gram_distance(W, M @ M.T)``.

  Args:
    X: sample pool ``(N, d)``.
    w: nonnegative sample weights ``(N,)`` (multiplicities; 0 = absent).
    sigma, lam: noise level and weight decay (≥ 0, may be traced).

  Returns:
    ``M (d, N)``.

  Example:
    >>> X = jnp.array([[2.0, 0.0], [0.0, 1.0]])
    >>> memorization_target(X, jnp.array([1.0, 0.0]), sigma=0.0, lam=0.0)  # r = 1/‖x‖ at σ = λ = 0
    Array([[1., 0.],
           [0., 0.]], dtype=float32)
  """
  X = _checks.matrix("X", X)
  w = _weights(X, w)
  _sigma_lam(sigma, lam)
  a = jnp.sum(X**2, axis=-1)
  n = jnp.sum(w)
  r2 = _safe_div(jnp.maximum(w * a - n * lam, 0.0), w * a * (a + sigma**2))
  return (X * jnp.sqrt(r2)[:, None]).T


def generalization_target(X: jax.Array, labels: jax.Array, w: jax.Array, num_clusters: int, sigma, lam,
                          p_per_cluster) -> jax.Array:
  """``W_gen W_genᵀ`` of Cor. 3.3 for a weighted training set, ``(d, d)``.

  Block k of Eq. (8) satisfies ``W_Xk W_Xkᵀ = U_k diag((λ_j − nλ)/(λ_j + n_k σ²)) U_kᵀ``,
  so the blocks' sum is

      G = Σ_k U_k diag(max(λ_j − nλ, 0) / (λ_j + n_k σ²)) U_kᵀ,

  with ``U_k, λ_j`` the top-``p_k`` eigenpairs of the weighted Gram
  ``Σ_i w_i [label_i = k] x_i x_iᵀ``, ``n_k = Σ_i w_i [label_i = k]`` and ``n = Σ_i w_i``.
  The function returns this Gram, not ``W_gen`` itself: the rotations ``O_k`` of Eq. (8) drop
  out of ``W Wᵀ`` (and the ReLU masks are what makes them matter, which a Gram comparison
  ignores). A duplicated cluster (rank 1) gives Cor. 3.4's ``r_ℓ² x_ℓ x_ℓᵀ``. The top ``p_k``
  are selected by masking the ``eigh`` spectrum, so ``p_per_cluster`` may be traced; ``p_k``
  larger than the rank adds nothing, and the clip at 0 replaces ``minima``'s ValueError.

  Args:
    X: sample pool ``(N, d)``; labels: ``(N,)`` ints in ``0..num_clusters−1``.
    w: nonnegative sample weights ``(N,)``.
    num_clusters: K (static).
    sigma, lam: noise level and weight decay (≥ 0, may be traced).
    p_per_cluster: int or ``(K,)`` ints ``p_k ≥ 0`` (may be traced).

  Returns:
    ``G (d, d)``, symmetric positive semidefinite.

  Example:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> generalization_target(X, jnp.array([0, 1]), jnp.ones(2), 2, sigma=1.0, lam=0.0, p_per_cluster=1)
    Array([[0.5, 0. ],
           [0. , 0.5]], dtype=float32)
  """
  X = _checks.matrix("X", X)
  K = _checks.positive_int("num_clusters", num_clusters)
  _sigma_lam(sigma, lam)
  _check_p_per_cluster(p_per_cluster, K)
  evals, evecs, n_k = cluster_spectra(X, labels, w, num_clusters)
  return generalization_gram(evals, evecs, n_k, sigma, lam, p_per_cluster)


def cluster_spectra(X: jax.Array, labels: jax.Array, w: jax.Array, num_clusters: int):
  """Eigenpairs of each cluster's weighted Gram ``Σ_i w_i [label_i = k] x_i x_iᵀ``.

  Returns ``evals (K, d)`` (ascending), ``evecs (K, d, d)`` and the weighted counts
  ``n_k (K,)``: the LAPACK part of :func:`generalization_target`, which a sweep can compute
  once per training set and share across σ, λ and p (:func:`generalization_gram`).
  """
  X = _checks.matrix("X", X)
  w = _weights(X, w)
  member = _one_hot(X, labels, num_clusters) * w[:, None]  # (N, K)
  grams = jnp.einsum("nk,nd,ne->kde", member, X, X)  # (K, d, d)
  evals, evecs = jnp.linalg.eigh(grams)
  return evals, evecs, jnp.sum(member, axis=0)


def _spectra(evals, evecs, n_k):
  """Checks ``evals (K, d)``, ``evecs (K, d, d)``, ``n_k (K,)`` (:func:`cluster_spectra`'s output)."""
  evals, evecs, n_k = (_checks.array(k, v) for k, v in (("evals", evals), ("evecs", evecs), ("n_k", n_k)))
  if jnp.ndim(evals) != 2 or 0 in jnp.shape(evals):
    raise ValueError(f"evals must have shape (K, d) with K, d >= 1, got {jnp.shape(evals)}")
  K, d = jnp.shape(evals)
  if jnp.shape(evecs) != (K, d, d):
    raise ValueError(f"evecs must have shape (K, d, d)=({K}, {d}, {d}) to match evals, got {jnp.shape(evecs)}")
  if jnp.shape(n_k) != (K,):
    raise ValueError(f"n_k must have shape (K,)=({K},) to match evals, got {jnp.shape(n_k)}")
  _checks.nonnegative("n_k", n_k)
  return evals, evecs, n_k


def generalization_gram(evals: jax.Array, evecs: jax.Array, n_k: jax.Array, sigma, lam, p_per_cluster):
  """:func:`generalization_target` from precomputed :func:`cluster_spectra` (no factorization).

  Only elementwise operations and matrix products, so it ``vmap``s over σ, λ and p cheaply
  (and avoids batched LAPACK calls inside ``vmap``).
  """
  evals, evecs, n_k = _spectra(evals, evecs, n_k)
  _sigma_lam(sigma, lam)
  K, d = evals.shape
  _check_p_per_cluster(p_per_cluster, K)
  from_top = (d - 1) - jnp.arange(d)  # 0 for the largest eigenvalue
  keep = from_top[None, :] < jnp.broadcast_to(jnp.asarray(p_per_cluster), (K,))[:, None]
  n = jnp.sum(n_k)
  gains = _safe_div(jnp.maximum(evals - n * lam, 0.0), evals + n_k[:, None] * sigma**2)
  return jnp.einsum("kdj,kj,kej->de", evecs, jnp.where(keep, gains, 0.0), evecs)


# --- Denoisers: trained vs empirical vs ground truth -------------------------------------


def _check_sigma_scale(sigma, X, y) -> None:
  """A concrete σ must keep σ² normal and the logits ``(⟨y, x⟩ − ‖x‖²/2)/σ²`` finite in X's dtype."""
  s = _checks.concrete(sigma)
  if s is None:
    return
  fin = np.finfo(jnp.result_type(X, jnp.float32))
  s2 = float(s) ** 2
  vx, vy = _checks.concrete(X), _checks.concrete(y)
  bound = 0.0
  if vx is not None and vy is not None and vy.size:
    rx = float(np.max(np.linalg.norm(vx.astype(np.float64), axis=-1)))
    bound = rx * (float(np.max(np.linalg.norm(vy.astype(np.float64), axis=-1))) + rx / 2)
  if s2 < fin.tiny or bound > 0.5 * fin.max * s2:
    raise ValueError(f"sigma={float(s):g} is too small for {fin.dtype} at this data scale: sigma**2 underflows "
                     "or the logits (<y, x> - |x|^2/2)/sigma^2 overflow")


def weighted_empirical(y: jax.Array, X: jax.Array, w: jax.Array, sigma) -> jax.Array:
  """The empirical denoiser ``f_emp`` of Eq. (3) for a weighted training set, ``(..., d)``.

      f_emp(y) = Σ_i w_i N(y; x_i, σ²I) x_i / Σ_i w_i N(y; x_i, σ²I),

  i.e. ``denoisers.empirical`` on the data with sample i repeated ``w_i`` times. Computed as a
  softmax of the logits ``(⟨y, x_i⟩ − ‖x_i‖²/2)/σ² + log w_i`` (log-sum-exp stable); samples
  with ``w_i = 0`` get logit −∞ and are excluded exactly. NaN if no weight is positive.

  Args:
    y: noisy inputs ``(..., d)``.
    X: sample pool ``(N, d)``; w: nonnegative weights ``(N,)``.
    sigma: noise level σ > 0.

  Example:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> weighted_empirical(jnp.array([0.9, 0.1]), X, jnp.array([0.0, 2.0]), sigma=0.01)
    Array([0., 1.], dtype=float32)
  """
  X = _checks.matrix("X", X)
  w = _weights(X, w)
  y = _checks.array("y", y)
  _checks.trailing_dim("y", y, X.shape[1])
  _checks.scalar_positive("sigma", sigma)
  _check_sigma_scale(sigma, X, y)
  present = w > 0
  log_w = jnp.where(present, jnp.log(jnp.where(present, w, 1.0)), -jnp.inf)
  logits = (y @ X.T - 0.5 * jnp.sum(X**2, axis=-1)) / sigma**2 + log_w
  return jax.nn.softmax(logits, axis=-1) @ X


DENOISING_GAP_KEYS = ("train_dist_emp", "train_dist_gt", "test_dist_emp", "test_dist_gt",
                      "train_loss", "test_loss", "loss_gap")


def denoising_gaps(params: model.Params, X: jax.Array, w: jax.Array, key: jax.Array, sigma,
                   gt_denoiser, X_test: jax.Array, *, num_noise: int = 4) -> dict:
  """How close the trained DAE is to ``f_emp`` (Eq. 3) and to ``f_gt``, on and off the training set.

  Noisy inputs are ``y = x + σε`` with ``num_noise`` draws of ``ε ~ N(0, I)`` per sample x,
  the same draws for every quantity. The noise is ``losses.sample_noise(key, N + m, …)`` on
  the stacked ``[X; X_test]``: the pool's rows get exactly the noise of
  ``losses.dae_loss(params, X, key, …)`` (prefix-stable, so padding the pool with zero-weight
  rows changes nothing) and the test rows continue the same stream (one PRNG call to compile).
  "train" averages over the pool weighted by ``w`` (a duplicated sample counts ``w_i`` times, as
  in the weighted loss); "test" averages uniformly over the held-out ``X_test``. Distances are
  squared Euclidean (summed over coordinates, like the loss).
  Keys (:data:`DENOISING_GAP_KEYS`), all scalars:

  * ``train_dist_emp``, ``test_dist_emp``: mean ``‖f(y) − f_emp(y)‖²``, with
    ``f_emp =`` :func:`weighted_empirical` on the training set (memorization → small).
  * ``train_dist_gt``, ``test_dist_gt``: mean ``‖f(y) − f_gt(y)‖²`` (generalization → small).
  * ``train_loss``, ``test_loss``: the data term of Eq. (6), mean ``‖f(y) − x‖²`` (no penalty).
  * ``loss_gap``: ``test_loss − train_loss``.

  Memory is ``O(num_noise (N + m) N)`` per configuration (the noise draws are vmapped).

  Args:
    params: model parameters, weights ``(d, p)``.
    X: sample pool ``(N, d)``; w: nonnegative weights ``(N,)`` (the training set).
    key: PRNG key for the noise.
    sigma: noise level σ > 0.
    gt_denoiser: callable ``y (..., d) -> f_gt(y) (..., d)`` with σ already bound, e.g.
      ``functools.partial(relu_dae.denoisers.gaussian_mixture, means=..., covs=..., weights=..., sigma=σ)``.
    X_test: held-out samples ``(m, d)``.
    num_noise: noise draws per sample (static).

  Returns:
    A dict of scalars with the keys above.
  """
  _, X, w = _weighted_data(_run_params(params), X, w)
  X_test = _checks.matrix("X_test", X_test, ncols=X.shape[1])
  _checks.key("key", key)
  _checks.scalar_positive("sigma", sigma)
  if not callable(gt_denoiser):
    raise TypeError(f"gt_denoiser must be a callable y (..., d) -> f_gt(y) (..., d), got {type(gt_denoiser).__name__}")
  num_noise = _checks.positive_int("num_noise", num_noise)
  v = _checks.concrete(w)
  if v is not None and not np.any(v > 0):
    raise ValueError("w is all zero: the training set is empty")

  Xs = jnp.concatenate([X, X_test]).astype(w.dtype)
  mean_w = jnp.concatenate([w / jnp.sum(w), jnp.full(X_test.shape[:1], 1.0 / X_test.shape[0], w.dtype)])

  def sq_dists(eps):  # (3, N + m): squared distances to f_emp, f_gt and the clean sample
    y = Xs + sigma * eps
    f = model.apply(params, y)
    gt = gt_denoiser(y)
    if jnp.shape(gt) != jnp.shape(y):
      raise ValueError(f"gt_denoiser must return the shape of its input {jnp.shape(y)}, got {jnp.shape(gt)}")
    refs = (weighted_empirical(y, X, w, sigma), gt, Xs)
    return jnp.stack([jnp.sum((f - r) ** 2, axis=-1) for r in refs])

  eps = losses.sample_noise(key, Xs.shape[0], num_noise, Xs.shape[1], w.dtype)
  per_sample = jnp.mean(jax.vmap(sq_dists)(eps), axis=0) * mean_w  # (3, N + m)
  train, test = jnp.sum(per_sample[:, :X.shape[0]], axis=1), jnp.sum(per_sample[:, X.shape[0]:], axis=1)
  return dict(train_dist_emp=train[0], train_dist_gt=train[1], test_dist_emp=test[0], test_dist_gt=test[1],
              train_loss=train[2], test_loss=test[2], loss_gap=test[2] - train[2])


# --- Copies of training samples -----------------------------------------------------------


class Neighbours(NamedTuple):
  """The two nearest distinct present training samples of each output (:func:`nearest_neighbours`).

  Attributes:
    d1, d2: ``(...,)`` distances to the nearest and the second-nearest distinct sample (NaN where
      fewer than two distinct samples are present).
    i1, i2: ``(...,)`` their row indices in ``X`` (among equal rows, the first; ``-1`` where undefined).
  """
  d1: jax.Array
  d2: jax.Array
  i1: jax.Array
  i2: jax.Array


def nearest_neighbours(outputs: jax.Array, X: jax.Array, w: jax.Array, *, direction: bool = False) -> Neighbours:
  """Nearest and second-nearest *distinct* present training sample of each output, with distances.

  Present samples are the rows of ``X`` with ``w > 0`` (multiplicity ignored). Equal rows of ``X``
  are one sample: the second neighbour is the nearest present row *not equal* to the first, so an
  exact copy of a duplicated row has ``d1 = 0 < d2`` (a copy), where a plain two-nearest-rows search
  gives ``d1 = d2 = 0``. Neighbours are found with the Gram expansion, their distances recomputed
  exactly. ``direction=True`` compares unit vectors ``x/‖x‖`` (see :func:`nn_ratio`).

  Args:
    outputs: ``(..., d)`` (e.g. generated samples ``(m, d)``).
    X: sample pool ``(N, d)``, ``N ≥ 2``; w: nonnegative weights ``(N,)``.
    direction: compare directions (unit vectors) instead of points.

  Returns:
    A :class:`Neighbours` of ``(...,)`` arrays.

  Example:
    >>> X = jnp.array([[1.0, 0.0], [1.0, 0.0], [4.0, 0.0]])  # row 1 duplicates row 0
    >>> nb = nearest_neighbours(jnp.array([[1.0, 0.0]]), X, jnp.ones(3))
    >>> nb.d1.tolist(), nb.d2.tolist(), nb.i1.tolist(), nb.i2.tolist()
    ([0.0], [3.0], [0], [2])
  """
  X = _checks.matrix("X", X)
  w = _weights(X, w)
  if X.shape[0] < 2:
    raise ValueError(f"X must have at least 2 rows for a second nearest neighbour, got shape {X.shape}")
  outputs = _checks.array("outputs", outputs)
  _checks.trailing_dim("outputs", outputs, X.shape[1])
  if _checks.boolean("direction", direction):
    outputs, X = _unit(outputs, -1), _unit(X, -1)
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


def nn_ratio(outputs: jax.Array, X: jax.Array, w: jax.Array, *, direction: bool = False) -> jax.Array:
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

  Example:
    >>> X = jnp.array([[0.0, 0.0], [4.0, 0.0], [1.0, 0.0]])
    >>> nn_ratio(jnp.array([[1.0, 0.0]]), X, jnp.array([1.0, 1.0, 0.0]))
    Array([0.33333334], dtype=float32)
    >>> X = jnp.array([[2.0, 0.0], [0.0, 2.0]])
    >>> nn_ratio(jnp.array([[1.0, 0.0]]), X, jnp.ones(2), direction=True)  # a half-length copy of x_0
    Array([0.], dtype=float32)
  """
  nb = nearest_neighbours(outputs, X, w, direction=direction)
  return jnp.minimum(nb.d1, nb.d2) / nb.d2  # ≤ 1 even where the Gram expansion's rounding swaps the two


def is_copy(ratio: jax.Array, threshold: float = 1 / 3) -> jax.Array:
  """``ratio < threshold``: an output is a copy of a training sample (NaN → False).

  The 1/3 default is the common copy criterion ``d₁ < d₂/3`` for generated samples
  (e.g. Yoon et al. 2023; Gu et al. 2025); pass :func:`nn_ratio`'s output: ratios ``≥ 0`` or NaN,
  ``threshold`` in (0, 1].
  """
  ratio = _checks.real_array("ratio", ratio)
  v = _checks.concrete(ratio)
  if v is not None and np.any(v < 0):
    raise ValueError("ratio must be >= 0 (NaN where undefined), got negative entries")
  _checks.in_range("threshold", threshold, 0.0, 1.0, closed=(False, True))
  return ratio < threshold


# --- Spikiness of representations ---------------------------------------------------------

SPIKINESS_KEYS = ("std", "l4_over_l2", "top1_share", "participation_ratio")


def spikiness(h: jax.Array) -> dict:
  """Means over inputs of the four spikiness scores of representations ``h (..., p)`` (§4.1).

  Keys (:data:`SPIKINESS_KEYS`): ``std`` (:func:`representation_std`, the paper's score),
  ``l4_over_l2``, ``top1_share``, ``participation_ratio``. Convention: all-zero
  representations (no unit active — e.g. an input on the wrong side of every ReLU) carry no
  shape and are left out of every mean; if all are zero, every entry is NaN.

  Example:
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


# --- Regimes ------------------------------------------------------------------------------

MEMORIZATION, HYBRID, GENERALIZATION = 0, 1, 2
NO_CLUSTER = -1
REGIME_NAMES = ("memorization", "hybrid", "generalization")


def regime(per_cluster_memorized: jax.Array, threshold: float = 0.5) -> jax.Array:
  """The regime of §3 (memorization / hybrid / generalization) from per-cluster scores.

  A present cluster (score not NaN) is *memorized* if its score ≥ ``threshold`` (default
  0.5: at least half its samples stored, with :func:`per_cluster_stored`). Then:
  all present clusters memorized → :data:`MEMORIZATION` (0), none → :data:`GENERALIZATION`
  (2), some → :data:`HYBRID` (1, Cor. 3.4). No cluster present → :data:`NO_CLUSTER` (−1);
  so is a failed run, whose :func:`per_cluster_stored` is NaN for every cluster: a failed
  configuration is never read as a regime. ``REGIME_NAMES[code]`` names codes 0..2.

  Args:
    per_cluster_memorized: ``(..., K)`` scores in [0, 1], NaN for absent clusters, ``K ≥ 1``.
    threshold: score in [0, 1] at which a cluster counts as memorized.

  Returns:
    ``(...)`` int32 codes.

  Example:
    >>> regime(jnp.array([[1.0, 0.9], [1.0, 0.0], [0.1, jnp.nan]])).tolist()
    [0, 1, 2]
  """
  s = jnp.asarray(_checks.real_array("per_cluster_memorized", per_cluster_memorized))
  if s.ndim < 1 or s.shape[-1] == 0:
    raise ValueError(f"per_cluster_memorized must have shape (..., K) with K >= 1, got shape {s.shape}")
  v = _checks.concrete(s)
  if v is not None and np.any((v < 0) | (v > 1)):
    raise ValueError("per_cluster_memorized must lie in [0, 1] (NaN for absent clusters)")
  _checks.in_range("threshold", threshold, 0.0, 1.0)
  present = ~jnp.isnan(s)
  n_present = jnp.sum(present, axis=-1)
  n_mem = jnp.sum(present & (s >= threshold), axis=-1)
  code = jnp.where(n_mem == n_present, MEMORIZATION, jnp.where(n_mem == 0, GENERALIZATION, HYBRID))
  return jnp.where(n_present == 0, NO_CLUSTER, code).astype(jnp.int32)


# --- Deprecated host analysis (moved to relu_dae.stats) -----------------------------------

power_law_fit = stats.power_law_fit


def critical_n(n_values, scores, level: float = 0.5, *, absolute: bool = False) -> np.ndarray:
  """Deprecated: :func:`relu_dae.stats.critical_n_relative` (default) or, with ``absolute=True``,
  :func:`relu_dae.stats.critical_n`.

  The flag switched between two different scores (a level relative to each row's range, or
  the level itself); each now has its own function. This alias keeps the old behaviour and
  default and emits a ``DeprecationWarning``.

  Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...   warnings.simplefilter("ignore", DeprecationWarning)
    ...   float(critical_n([10, 100, 1000], [1.0, 1.0, 0.0]))
    316.22776601683...
  """
  absolute = _checks.boolean("absolute", absolute)
  warnings.warn("relu_dae.metrics.critical_n is deprecated: use relu_dae.stats.critical_n (absolute level) or "
                "relu_dae.stats.critical_n_relative (fraction of each curve's range)", DeprecationWarning,
                stacklevel=2)
  if absolute:
    return stats.critical_n(n_values, scores, level)
  _checks.in_range("level", level, 0.0, 1.0)
  return stats.critical_n_relative(n_values, scores, level)
