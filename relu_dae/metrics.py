"""Comparing a trained network with the analytic minima.

Weights ``W`` are ``(d, p)`` (columns are units), data ``X`` are ``(n, d)``. Column comparisons
are permutation-free: the loss is invariant to permuting hidden units (Thm 3.1 remark).

* Columns: :func:`match_columns` (Hungarian, host), :func:`procrustes_align` (the block rotation
  ``O_k`` of Eq. 8 removed), :func:`unit_allocation` (the learned ``p_k``).
* Gram / projector distances: :func:`gram_distance`, :func:`projector_error` (invariant to
  permuting, rotating and splitting units; ``jit``/``vmap``-able in sweeps against
  ``relu_dae.minima.memorization_target`` / ``generalization_target``).
* Denoising: :func:`denoising_gaps` (the trained f against ``f_emp`` of Eq. 3 and ``f_gt``, on and
  off the training set).
* Regimes: :func:`regime` (memorization / hybrid / generalization from per-cluster storage).

Sweep metrics take a shared pool ``X (N, d)`` with per-configuration sample weights ``w (N,)``
and are pure ``jnp``. Definitions and thresholds: docs/theory_choices.md item 11.

The other measurements have their own modules; their old names here keep working:
``relu_dae.storage`` (which samples are stored; ``stored_*``, ``column_cosines``, ...),
``relu_dae.spikiness`` (scores of representations), ``relu_dae.copies`` (nearest neighbours,
``nn_ratio``, ``is_copy``), ``relu_dae.minima`` (the traceable targets), ``relu_dae.denoisers``
(``weighted_empirical`` is ``denoisers.empirical`` with ``w``) and ``relu_dae.stats``
(``critical_n``, ``power_law_fit``).

Examples:
  >>> import jax.numpy as jnp, relu_dae as rd
  >>> W = jnp.array([[1.0, 0.0], [0.0, 0.0]])
  >>> round(float(rd.metrics.gram_distance(W, jnp.eye(2))), 4)
  0.7071
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, Real

from relu_dae import _arrays
from relu_dae import _checks
from relu_dae import denoisers
from relu_dae import losses
from relu_dae import model
from relu_dae import stats
from relu_dae import storage
from relu_dae.copies import Neighbours, is_copy, nearest_neighbour_ratio, nearest_neighbours, nn_ratio
from relu_dae.minima import cluster_spectra, generalization_gram, generalization_target, memorization_target
from relu_dae.spikiness import (SPIKINESS_KEYS, l4_over_l2, participation_ratio, representation_std, spikiness,
                                top1_share)
from relu_dae.storage import (STORAGE_THRESHOLD, best_column_cosine, column_cosines, cosine_stored_fraction,
                              stored_fraction)

__all__ = [
    # comparing with the analytic minima
    "DENOISING_GAP_KEYS",
    "GENERALIZATION",
    "HYBRID",
    "MEMORIZATION",
    "NO_CLUSTER",
    "REGIME_NAMES",
    "denoising_gaps",
    "gram_distance",
    "match_columns",
    "procrustes_align",
    "projector_error",
    "regime",
    "unit_allocation",
    # compatibility: relu_dae.storage
    "STORAGE_THRESHOLD",
    "best_column_cosine",
    "column_cosines",
    "cosine_stored_fraction",
    "per_cluster_stored",
    "stored_fraction",
    "stored_samples",
    "weighted_stored_fraction",
    # compatibility: relu_dae.spikiness
    "SPIKINESS_KEYS",
    "l4_over_l2",
    "participation_ratio",
    "representation_std",
    "spikiness",
    "top1_share",
    # compatibility: relu_dae.copies
    "Neighbours",
    "is_copy",
    "nearest_neighbour_ratio",
    "nearest_neighbours",
    "nn_ratio",
    # compatibility: relu_dae.minima
    "cluster_spectra",
    "generalization_gram",
    "generalization_target",
    "memorization_target",
    # compatibility: relu_dae.denoisers, relu_dae.stats
    "critical_n",
    "power_law_fit",
    "weighted_empirical",
]


def _run_params(params):
  """Checks tied/untied ``params`` (NaN weights of a failed run pass); returns the first weight matrix."""
  if not hasattr(params, "keys"):
    raise TypeError(f"params must be a dict with key 'W' or keys 'W1','W2', got {type(params).__name__}")
  _checks.params("params", params)
  k = min(params.keys())
  return _arrays.weight_matrix(f"params[{k!r}]", params[k], failed_ok=True)


# --- Columns against samples ----------------------------------------------------------------


def match_columns(W: Float[ArrayLike, "d p"], W_ref: Float[ArrayLike, "d q"]) -> tuple[np.ndarray, np.ndarray]:
  """Matches columns of ``W`` to those of ``W_ref`` maximizing total cosine (Hungarian).

  Returns:
    ``perm`` with ``W[:, perm[j]]`` matched to ``W_ref[:, j]`` and the matched cosines
    ``(p_ref,)``. Both are ``(d, ·)``; needs ``p ≥ p_ref``. Host function.
  """
  W, W_ref = _arrays.weight_matrix("W", W), _arrays.weight_matrix("W_ref", W_ref)
  if np.shape(W)[0] != np.shape(W_ref)[0]:
    raise ValueError(f"W_ref must have as many rows d as W, got {np.shape(W_ref)} and {np.shape(W)}")
  if np.shape(W)[1] < np.shape(W_ref)[1]:
    raise ValueError(f"W must have at least as many columns as W_ref, got {np.shape(W)} and {np.shape(W_ref)}")
  cos = np.asarray(_arrays.unit(W_ref, 0).T @ _arrays.unit(W, 0))  # (p_ref, p)
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


def gram_distance(W: Float[ArrayLike, "d p"], target_gram: Float[ArrayLike, "d d"]) -> Float[Array, ""]:
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

  Examples:
    >>> W = jnp.array([[1.0, 0.0], [0.0, 0.0]])
    >>> round(float(gram_distance(W, jnp.eye(2))), 4)  # one of two unit directions missing
    0.7071
  """
  W = _arrays.weight_matrix("W", W, failed_ok=True)
  target_gram = _target_gram(jnp.shape(W)[0], target_gram)
  norm = jnp.linalg.norm(target_gram)
  return jnp.where(norm > 0, jnp.linalg.norm(W @ W.T - target_gram) / jnp.where(norm > 0, norm, 1.0), jnp.nan)


def projector_error(W: Float[ArrayLike, "d p"], W_ref: Float[ArrayLike, "d q"]) -> Float[Array, ""]:
  """``‖W Wᵀ − W_ref W_refᵀ‖_F / ‖W_ref W_refᵀ‖_F``: invariant to rotations and splittings of units.

  ``W (d, p)``, ``W_ref (d, p_ref)``; NaN for a non-finite ``W`` (a failed run); an all-zero
  ``W_ref`` raises ``ValueError`` (NaN under tracing).
  """
  W = _arrays.weight_matrix("W", W, failed_ok=True)
  W_ref = _arrays.weight_matrix("W_ref", W_ref)
  if jnp.shape(W_ref)[0] != jnp.shape(W)[0]:
    raise ValueError(f"W_ref must have as many rows d as W, got {jnp.shape(W_ref)} and {jnp.shape(W)}")
  v = _checks.concrete(W_ref)
  if v is not None and not np.any(v):
    raise ValueError("W_ref is all zero: the relative distance to it is undefined")
  return gram_distance(W, W_ref @ W_ref.T)


def unit_allocation(params: model.Params, X: Real[ArrayLike, "n d"], labels) -> tuple[np.ndarray, np.ndarray]:
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


def procrustes_align(W_ref: Float[ArrayLike, "d k"], W: Float[ArrayLike, "d k"]) -> Float[Array, "d k"]:
  """``W_ref O`` with the orthogonal ``O`` that best matches ``W`` (orthogonal Procrustes).

  Eq. (8) fixes a block only up to the rotation ``O_k``; aligning the analytic block to a
  learned one removes that freedom before comparing columns. Both are ``(d, p_k)``.
  """
  W_ref, W = _arrays.weight_matrix("W_ref", W_ref), _arrays.weight_matrix("W", W)
  if jnp.shape(W_ref) != jnp.shape(W):
    raise ValueError(f"W_ref and W must have the same shape, got {jnp.shape(W_ref)} and {jnp.shape(W)}")
  U, _, Vt = jnp.linalg.svd(W_ref.T @ W)
  return W_ref @ (U @ Vt)


# --- Denoisers: trained vs empirical vs ground truth -------------------------------------


DENOISING_GAP_KEYS = ("train_dist_emp", "train_dist_gt", "test_dist_emp", "test_dist_gt",
                      "train_loss", "test_loss", "loss_gap")


def denoising_gaps(params: model.Params, X: Real[ArrayLike, "N d"], w: Real[ArrayLike, " N"], key: Array, sigma,
                   gt_denoiser, X_test: Real[ArrayLike, "m d"], *, num_noise: int = 4) -> dict:
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
  _, X, w = storage._weighted_data(_run_params(params), X, w)
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
    refs = (denoisers.empirical(y, X, sigma, w), gt, Xs)
    return jnp.stack([jnp.sum((f - r) ** 2, axis=-1) for r in refs])

  eps = losses.sample_noise(key, Xs.shape[0], num_noise, Xs.shape[1], w.dtype)
  per_sample = jnp.mean(jax.vmap(sq_dists)(eps), axis=0) * mean_w  # (3, N + m)
  train, test = jnp.sum(per_sample[:, :X.shape[0]], axis=1), jnp.sum(per_sample[:, X.shape[0]:], axis=1)
  return dict(train_dist_emp=train[0], train_dist_gt=train[1], test_dist_emp=test[0], test_dist_gt=test[1],
              train_loss=train[2], test_loss=test[2], loss_gap=test[2] - train[2])


# --- Copies of training samples -----------------------------------------------------------


# --- Spikiness of representations ---------------------------------------------------------


# --- Regimes ------------------------------------------------------------------------------

MEMORIZATION, HYBRID, GENERALIZATION = 0, 1, 2
NO_CLUSTER = -1
REGIME_NAMES = ("memorization", "hybrid", "generalization")


def regime(per_cluster_memorized: Real[ArrayLike, "*batch K"], threshold: float = 0.5) -> Int[Array, "*batch"]:
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

  Examples:
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


# --- Deprecated storage switches (the criterion is relu_dae.storage's) ------------------------


def _storage_switch(relative, name: str) -> bool:
  """``relative`` of the old signatures: ``None`` (the criterion) or a bool, with a DeprecationWarning."""
  if relative is None:
    return True
  relative = _checks.boolean("relative", relative)
  warnings.warn(f"relu_dae.metrics.{name}(relative=...) is deprecated: relu_dae.storage has one criterion "
                "(relative=True); the cosine-only score is relu_dae.storage.cosine_stored_fraction",
                DeprecationWarning, stacklevel=3)
  return relative


def stored_samples(W: jax.Array, X: jax.Array, w: jax.Array, threshold: float = storage.STORAGE_THRESHOLD, *,
                   relative: bool | None = None) -> jax.Array:
  """:func:`relu_dae.storage.stored_samples`; ``relative`` is deprecated (``False``: cosine test only).

  Examples:
    >>> X = jnp.array([[0.6, 0.8], [0.8, 0.6]])
    >>> stored_samples(X.sum(axis=0)[:, None], X, jnp.ones(2)).tolist()
    [False, False]
  """
  if _storage_switch(relative, "stored_samples"):
    return storage.stored_samples(W, X, w, threshold)
  W, X, w = storage._weighted_data(W, X, w, failed_ok=False)
  storage._check_threshold(threshold)
  return storage._stored(W, X, w, threshold, relative=False)


def weighted_stored_fraction(W: jax.Array, X: jax.Array, w: jax.Array, threshold: float = storage.STORAGE_THRESHOLD,
                             *, relative: bool | None = None) -> jax.Array:
  """:func:`relu_dae.storage.weighted_stored_fraction`; ``relative=False`` (deprecated) is
  :func:`relu_dae.storage.cosine_stored_fraction`.

  Examples:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> float(weighted_stored_fraction(jnp.array([[2.0], [0.0]]), X, jnp.array([3.0, 1.0, 0.0])))
    0.5
  """
  if _storage_switch(relative, "weighted_stored_fraction"):
    return storage.weighted_stored_fraction(W, X, w, threshold)
  return storage.cosine_stored_fraction(W, X, w, threshold)


def per_cluster_stored(W: jax.Array, X: jax.Array, labels: jax.Array, w: jax.Array, num_clusters: int,
                       threshold: float = storage.STORAGE_THRESHOLD, *, relative: bool | None = None) -> jax.Array:
  """:func:`relu_dae.storage.per_cluster_stored`; ``relative`` is deprecated (``False``: cosine test only).

  Examples:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    >>> per_cluster_stored(jnp.array([[1.0], [0.0]]), X, jnp.array([0, 1, 1]), jnp.ones(3), 2).tolist()
    [1.0, 0.0]
  """
  relative = _storage_switch(relative, "per_cluster_stored")
  return storage._per_cluster(W, X, labels, w, num_clusters, threshold, relative)


def weighted_empirical(y: jax.Array, X: jax.Array, w: jax.Array, sigma) -> jax.Array:
  """:func:`relu_dae.denoisers.empirical` with multiplicities ``w`` (the old argument order, kept).

  Examples:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> weighted_empirical(jnp.array([0.9, 0.1]), X, jnp.array([0.0, 2.0]), sigma=0.01)
    Array([0., 1.], dtype=float32)
  """
  if w is None:
    raise TypeError("w must be an array of nonnegative sample weights (N,), got None")
  return denoisers.empirical(y, X, sigma, w)


# --- Deprecated host analysis (moved to relu_dae.stats) -----------------------------------

power_law_fit = stats.power_law_fit


def critical_n(n_values, scores, level: float = 0.5, *, absolute: bool = False) -> np.ndarray:
  """Deprecated: :func:`relu_dae.stats.critical_n_relative` (default) or, with ``absolute=True``,
  :func:`relu_dae.stats.critical_n`.

  The flag switched between two different scores (a level relative to each row's range, or
  the level itself); each now has its own function. This alias keeps the old behaviour and
  default and emits a ``DeprecationWarning``.

  Examples:
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
