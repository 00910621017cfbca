"""The analytic local minima of Thm 3.1 and Cor. 3.2–3.4, their closed-form losses, and their
traceable forms for sweeps.

Every constructor returns a tied weight matrix ``W (d, p)`` (``W1 = W2 = W``), the form
of all the paper's minima; wrap it as ``{"W": W}`` to use it with ``relu_dae.model``.
Data are ``(n, d)`` with rows as samples; the paper's Gram matrix ``X_k X_kᵀ`` (d×d) is
``Xk.T @ Xk`` here. ``n`` is always the size of the *whole* training set: the penalty
λ Σ‖W‖² of Eq. (6) is per-dataset, so it enters each cluster's block as ``nλ``.

The constructors validate and raise; :func:`memorization_target`, :func:`generalization_target`,
:func:`cluster_spectra` and :func:`generalization_gram` are the same closed forms (one formula
each, shared) for a weighted pool ``X (N, d)``, ``w (N,)``, pure ``jnp`` for ``jit``/``vmap`` sweeps.

Examples:
  >>> import jax.numpy as jnp, relu_dae as rd
  >>> X = jnp.array([[1.0, -0.5], [-0.5, 1.0]])
  >>> rd.minima.memorization(X, sigma=0.1, lam=0.0, p=3).shape
  (2, 3)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from relu_dae import _arrays
from relu_dae import _checks

__all__ = [
    "block_gram_eigenvalues",
    "cluster_block",
    "cluster_spectra", "top_cluster_spectra",
    "equiangular_rotation",
    "generalization",
    "generalization_gram",
    "generalization_target",
    "hybrid",
    "is_duplicate_cluster",
    "memorization",
    "memorization_loss",
    "memorization_scales",
    "memorization_target",
]


def _require_small_decay(n: int, lam, eigenvalues: jax.Array, where: str) -> None:
  """Raises unless ``nλ < min(eigenvalues)``, the condition making Eq. (8)/(9) real (concrete inputs only)."""
  ev, lam_np = _checks.concrete(eigenvalues), _checks.concrete(lam)
  if ev is not None and lam_np is not None and not n * lam_np < ev.min():
    raise ValueError(f"lam too large{where}: need n*lam={n * lam_np:.4g} < {ev.min():.4g}; lower lam")


def _require_nonzero_rows(a: jax.Array, weights=None) -> None:
  """Raises if a row of ``X`` (with positive weight) has squared norm ``a_i = 0`` (or one that underflows)."""
  v, w = _checks.concrete(a), _checks.concrete(weights) if weights is not None else None
  if v is None or (weights is not None and w is None):
    return
  zero = (v <= 0) if w is None else (v <= 0) & (w > 0)
  if np.any(zero):
    raise ValueError(f"X has zero rows {np.flatnonzero(zero)[:10].tolist()} (squared norm 0 or underflowing); "
                     "Eq. (9) needs every x_i != 0")


def _check_sigma_lam(sigma, lam) -> None:
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)


def _whole_set_size(n, rows: int, what: str) -> int:
  """``n``, the size of the whole training set: a positive integer, at least the ``rows`` given."""
  n = _checks.positive_int("n", n)
  if n < rows:
    raise ValueError(f"n (the whole training set) must be >= the {rows} rows of {what}, got n={n}")
  return n


def _memorization_r2(a: jax.Array, w, n, sigma, lam) -> jax.Array:
  """``r_i²`` of Eq. (9) for a sample of squared norm ``a_i`` repeated ``w_i`` times (Cor. 3.4):
  ``(w_i a_i − nλ) / (w_i a_i (a_i + σ²))``, which is ``(a_i − nλ)/(a_i² + σ² a_i)`` at ``w_i = 1``."""
  return (w * a - n * lam) / (w * a * (a + sigma**2))


def _block_gains(evals: jax.Array, n, n_k, sigma, lam) -> jax.Array:
  """Eigenvalues ``(λ_j − nλ)/(λ_j + n_k σ²)`` of ``W_Xk W_Xkᵀ`` (Eq. 8) for Gram eigenvalues ``λ_j``."""
  return (evals - n * lam) / (evals + n_k * sigma**2)


def memorization_scales(X: jax.Array, sigma, lam, n: int | None = None) -> jax.Array:
  """The ``r_i`` of Eq. (9): ``r_i² = (‖x_i‖² − nλ) / (‖x_i‖⁴ + σ²‖x_i‖²)``, shape ``(n,)``.

  ``n`` (default ``len(X)``) is the size of the whole training set, ``≥ len(X)``.
  """
  X = _checks.matrix("X", X)
  _check_sigma_lam(sigma, lam)
  n = X.shape[0] if n is None else _whole_set_size(n, X.shape[0], "X")
  a = jnp.sum(X**2, axis=-1)
  _require_nonzero_rows(a)
  _require_small_decay(n, lam, a, " (Cor. 3.2 needs n*lam < min_i ||x_i||^2)")
  return jnp.sqrt(_memorization_r2(a, 1.0, n, sigma, lam))


def memorization(X: jax.Array, sigma, lam, p: int) -> jax.Array:
  """The memorizing minimum ``W_mem`` of Eq. (9), zero-padded to ``p`` columns.

      W_mem = (r_1 x_1, …, r_n x_n, 0, …, 0),  r_i = sqrt((‖x_i‖² − nλ) / (‖x_i‖⁴ + σ²‖x_i‖²)).

  A local minimum of Eq. (6) when the samples are pairwise negatively correlated
  ((0, β₁)-separable with β₁ < 0), ``p ≥ n`` and ``nλ < min_i ‖x_i‖²`` (Cor. 3.2).
  Only the last two are checked here (they are needed to build the matrix); check
  the first with ``relu_dae.data.separability(X, range(n))``.

  Args:
    X: training samples ``(n, d)``.
    sigma: noise level σ ≥ 0.
    lam: weight decay λ ≥ 0.
    p: number of hidden units, ≥ n.

  Returns:
    ``W (d, p)``; column i stores sample i.
  """
  X = _checks.matrix("X", X)
  p = _checks.positive_int("p", p)
  if p < X.shape[0]:
    raise ValueError(f"p must be >= n={X.shape[0]} to store every sample (Cor. 3.2), got p={p}")
  W = (X * memorization_scales(X, sigma, lam)[:, None]).T
  return jnp.pad(W, ((0, 0), (0, p - X.shape[0])))


def memorization_loss(X: jax.Array, sigma, weights: jax.Array | None = None) -> jax.Array:
  """Cor. 3.2's loss of ``W_mem`` at λ → 0: ``(1/n) Σ_i σ²‖x_i‖² / (σ² + ‖x_i‖²) < σ²``.

  With ``weights (n,)`` the mean is weighted (integer weights = duplicated samples; a 0/1
  mask = a subset), as in :func:`relu_dae.losses.dae_loss`.
  """
  X = _checks.matrix("X", X)
  _checks.scalar_nonnegative("sigma", sigma)
  if weights is not None:
    _checks.sample_weights("weights", weights, X.shape[0])
  a = jnp.sum(X**2, axis=-1)
  _require_nonzero_rows(a, weights)
  per_sample = sigma**2 * a / (sigma**2 + a)
  if weights is None:
    return jnp.mean(per_sample)
  return jnp.sum(weights * per_sample) / jnp.sum(weights)


def equiangular_rotation(m: jax.Array) -> jax.Array:
  """Our default ``O_k`` of Eq. (8): the Householder reflection swapping m̂ and 1/√p.

  Returns a symmetric orthogonal ``O (p, p)`` with ``O m̂ = 1/√p`` (all ones over √p),
  so every column c of ``W = U D Oᵀ`` has the same pre-activation ``‖m‖/√p > 0``
  on the vector whose coordinates in the scaled basis ``U D`` are ``m``. ``m (p,)`` must be nonzero.
  """
  m = _checks.array("m", m, ndim=1)
  if m.shape[0] == 0:
    raise ValueError("m must have at least one entry, got shape (0,)")
  v = _checks.concrete(m)
  if v is not None and not np.any(v != 0):
    raise ValueError("m must be nonzero (its direction defines the rotation), got the zero vector")
  p = m.shape[0]
  m_hat = m / jnp.linalg.norm(m)
  e = jnp.full((p,), p**-0.5, m.dtype)
  v = e - m_hat
  vv = jnp.dot(v, v)
  safe = jnp.where(vv > 1e-24, vv, 1.0)
  return jnp.eye(p, dtype=m.dtype) - jnp.where(vv > 1e-24, 2.0 / safe, 0.0) * jnp.outer(v, v)


def cluster_block(Xk: jax.Array, n: int, sigma, lam, p_k: int, O: jax.Array | None = None) -> jax.Array:
  """One cluster's block ``W_Xk`` of Eq. (8) (Lemma D.1 with ``λ' = nλ``).

      W_Xk = U_k (I + n_k σ² Λ_k^{-1})^{-1/2} (I − nλ Λ_k^{-1})^{1/2} O_kᵀ,

  with ``U_k, Λ_k`` the top-``p_k`` eigenpairs of the Gram matrix ``X_kᵀ X_k`` (d×d here),
  so ``W_Xk W_Xkᵀ = U_k diag((λ_j − nλ)/(λ_j + n_k σ²)) U_kᵀ``.

  Default ``O_k`` (THEORY.md §3.1 [INF], our choice): :func:`equiangular_rotation` of the
  cluster mean's coordinates, which gives *every* neuron of the block the same positive
  pre-activation ``‖m_k‖/√p_k`` on the cluster mean x̄_k — the most even split of the
  mean's projection over the block and the origin of the ``1/√p_k`` in the margin γ.

  Args:
    Xk: the cluster's samples ``(n_k, d)``.
    n: size of the whole training set (the penalty enters as ``nλ``).
    sigma, lam: noise level and weight decay (≥ 0).
    p_k: number of hidden units for the block, ≤ rank of ``Xk``.
    O: optional orthogonal ``(p_k, p_k)`` overriding the default.

  Returns:
    ``W_Xk (d, p_k)``.
  """
  Xk, n, p_k = _check_block(Xk, n, sigma, lam, p_k)
  n_k = Xk.shape[0]
  _, s, Vt = jnp.linalg.svd(Xk, full_matrices=False)
  _require_rank(s, p_k, Xk)
  evals = s[:p_k] ** 2  # top eigenvalues of X_kᵀ X_k
  U = Vt[:p_k].T  # (d, p_k)
  _require_small_decay(n, lam, evals, f" for this block (Thm 3.1: n*lam < the top-{p_k} Gram eigenvalues)")
  D = jnp.sqrt(_block_gains(evals, n, n_k, sigma, lam))
  if O is None:
    m = D * (U.T @ jnp.mean(Xk, axis=0))
    _require_mean_in_block(m, Xk, p_k)
    O = equiangular_rotation(m)
  else:
    O = _check_rotation(O, p_k)
  return (U * D) @ O.T


def _check_block(Xk, n, sigma, lam, p_k):
  """The arguments shared by :func:`cluster_block` and :func:`block_gram_eigenvalues`."""
  Xk = _checks.matrix("Xk", Xk)
  n = _whole_set_size(n, Xk.shape[0], "Xk")
  p_k = _checks.positive_int("p_k", p_k)
  _check_sigma_lam(sigma, lam)
  if p_k > min(Xk.shape):
    raise ValueError(f"p_k={p_k} exceeds the number of Gram eigenvalues min(n_k, d)={min(Xk.shape)}")
  return Xk, n, p_k


def _require_rank(s: jax.Array, p_k: int, Xk) -> None:
  """Raises if ``p_k`` exceeds the numerical rank of ``Xk`` (its singular values ``s``; concrete only)."""
  v = _checks.concrete(s)
  if v is None:
    return
  rank = int(np.sum(v > max(Xk.shape) * np.finfo(v.dtype).eps * v.max()))
  if p_k > rank:
    raise ValueError(f"p_k={p_k} exceeds the numerical rank {rank} of Xk (Eq. (8) needs p_k <= rank(Xk))")


def _require_mean_in_block(m: jax.Array, Xk, p_k: int) -> None:
  """The default O needs the cluster mean to project onto the block (concrete inputs only)."""
  v, x = _checks.concrete(m), _checks.concrete(Xk)
  if v is not None and x is not None and not np.linalg.norm(v) > np.finfo(v.dtype).eps * np.abs(x).max():
    raise ValueError(f"Xk: the cluster mean has no component in the top-{p_k} eigenspace (e.g. zero mean), so the "
                     "default O of Eq. (8) is undefined; pass O")


def _check_rotation(O, p_k: int) -> jax.Array:
  O = _checks.array("O", O)
  if jnp.shape(O) != (p_k, p_k):
    raise ValueError(f"O must have shape (p_k, p_k)=({p_k}, {p_k}), got {jnp.shape(O)}")
  v = _checks.concrete(O)
  if v is not None and np.max(np.abs(v.T @ v - np.eye(p_k))) > 10 * np.sqrt(np.finfo(v.dtype).eps):
    err = np.max(np.abs(v.T @ v - np.eye(p_k)))
    raise ValueError(f"O must be orthogonal (O^T O = I), got max |O^T O - I| = {err:.3g}")
  return O


def _clusters(X, labels, sigma, lam):
  X = _checks.matrix("X", X)
  labels = _checks.integer_labels(X, labels)
  _check_sigma_lam(sigma, lam)
  ids = np.unique(labels)
  return X, labels, ids


def _blocks(X, labels, ids, ps, sigma, lam, *, duplicates_get_one: bool) -> jax.Array:
  """Concatenated :func:`cluster_block` of each cluster; a block's error names its cluster."""
  blocks = []
  for i, (k, p) in enumerate(zip(ids, ps)):
    Xk = X[labels == k]
    p = 1 if duplicates_get_one and is_duplicate_cluster(Xk) else p
    try:
      blocks.append(cluster_block(Xk, X.shape[0], sigma, lam, p))
    except ValueError as e:
      raise ValueError(f"cluster {k} (p_per_cluster[{i}]={p}, {Xk.shape[0]} samples): {e}") from e
  return jnp.concatenate(blocks, axis=1)


def _per_cluster(p_per_cluster, K):
  values = _checks.per_cluster("p_per_cluster", p_per_cluster, K)
  return [_checks.positive_int(f"p_per_cluster[{k}]", v) for k, v in enumerate(values)]


def generalization(X: jax.Array, labels, sigma, lam, p_per_cluster: int | Sequence[int]) -> jax.Array:
  """The generalizing minimum ``W_gen = (W_X1 … W_XK)`` of Cor. 3.3.

  Blocks follow sorted label order; block k is :func:`cluster_block` of cluster k with
  ``n = len(X)``. A local minimum of Eq. (6) (up to the residual of Thm 3.1) when the
  clusters are (α, β)-separable with β < 0 and ``nλ < λ_min`` in every block.

  Args:
    X: data ``(n, d)``; labels: ``(n,)`` cluster ids.
    sigma, lam: noise level and weight decay.
    p_per_cluster: int, or one int per cluster (sorted label order).

  Returns:
    ``W (d, Σ_k p_k)``.
  """
  X, labels, ids = _clusters(X, labels, sigma, lam)
  ps = _per_cluster(p_per_cluster, len(ids))
  return _blocks(X, labels, ids, ps, sigma, lam, duplicates_get_one=False)


def is_duplicate_cluster(Xk) -> bool:
  """True when all rows of ``Xk (n_k, d)`` are identical (a rank-1 cluster of Cor. 3.4)."""
  Xk = np.asarray(_checks.matrix("Xk", Xk))
  return bool(np.all(Xk == Xk[:1]))


def hybrid(X: jax.Array, labels, sigma, lam, p_per_cluster: int | Sequence[int]) -> jax.Array:
  """The hybrid minimum of Cor. 3.4: memorizing columns for duplicated clusters, blocks for the rest.

  Clusters whose samples are all identical (``x_ℓ`` repeated ``n_ℓ`` times) get a single
  column ``r_ℓ x_ℓ``; other clusters get ``p_k`` columns of :func:`cluster_block`.

  Scale of a duplicated cluster (THEORY.md §8 item 6, our choice, docs/theory_choices.md):
  the exact stationary value, i.e. Eq. (8) for the rank-1 Gram ``n_ℓ x_ℓ x_ℓᵀ``,

      r_ℓ² = (n_ℓ‖x_ℓ‖² − nλ) / (n_ℓ‖x_ℓ‖² (‖x_ℓ‖² + σ²)),

  which is Eq. (9) with ``nλ`` replaced by ``nλ/n_ℓ`` and equals Eq. (9) when ``n_ℓ = 1``
  or ``λ = 0``. Columns follow sorted label order.

  Args:
    X: data ``(n, d)``; labels: ``(n,)`` cluster ids.
    sigma, lam: noise level and weight decay.
    p_per_cluster: units per non-duplicated cluster (int or one per cluster; entries
      for duplicated clusters are ignored, they always get one column).

  Returns:
    ``W (d, p)`` with ``p = #duplicated + Σ_{non-dup} p_k``.
  """
  X, labels, ids = _clusters(X, labels, sigma, lam)
  ps = _per_cluster(p_per_cluster, len(ids))
  return _blocks(X, labels, ids, ps, sigma, lam, duplicates_get_one=True)


def block_gram_eigenvalues(Xk: jax.Array, n: int, sigma, lam, p_k: int) -> jax.Array:
  """Eigenvalues ``(λ_j − nλ)/(λ_j + n_k σ²)`` of ``W_Xk W_Xkᵀ`` predicted by Eq. (8), shape ``(p_k,)``."""
  Xk, n, p_k = _check_block(Xk, n, sigma, lam, p_k)
  s = jnp.linalg.svd(Xk, compute_uv=False)[:p_k] ** 2
  return _block_gains(s, n, Xk.shape[0], sigma, lam)


# --- Traceable targets for sweeps (weighted training sets) ----------------------------------
#
# The same minima for a sweep's shared pool ``X (N, d)`` with per-configuration sample weights
# ``w (N,)`` (``w_i = 0`` absent, ``w_i = m`` repeated m times, ``n = Σ w_i``): pure ``jnp`` with static
# shapes, clipped at 0 where the constructors above raise, so they ``jit``/``vmap`` over (w, σ, λ, p).


def memorization_target(X: Float[ArrayLike, "N d"], w: Float[ArrayLike, " N"], sigma, lam) -> Float[Array, "d N"]:
  """The memorizing minimum ``W_mem`` of Eq. (9) for a weighted training set, ``(d, N)``.

  Column i is ``r_i x_i`` for a present sample (``w_i > 0``) and 0 otherwise, with the
  hybrid scale of a sample repeated ``w_i`` times (Cor. 3.4, :func:`hybrid`;
  docs/theory_choices.md item 6):

      r_i² = max(w_i‖x_i‖² − nλ, 0) / (w_i‖x_i‖² (‖x_i‖² + σ²)),    n = Σ_i w_i,

  which is Eq. (9) for ``w_i = 1``. The clip at 0 (a sample whose weight decay exceeds its
  energy is not stored) replaces :func:`memorization`'s ValueError so the function stays traceable.
  Compare with trained weights through ``gram_distance(W, M @ M.T)``.

  Args:
    X: sample pool ``(N, d)``.
    w: nonnegative sample weights ``(N,)`` (multiplicities; 0 = absent).
    sigma, lam: noise level and weight decay (≥ 0, may be traced).

  Returns:
    ``M (d, N)``.

  Examples:
    >>> X = jnp.array([[2.0, 0.0], [0.0, 1.0]])
    >>> memorization_target(X, jnp.array([1.0, 0.0]), sigma=0.0, lam=0.0)  # r = 1/‖x‖ at σ = λ = 0
    Array([[1., 0.],
           [0., 0.]], dtype=float32)
  """
  X = _checks.matrix("X", X)
  w = _arrays.weights(X, w)
  _arrays.sigma_lam(sigma, lam)
  a = jnp.sum(X**2, axis=-1)
  n = jnp.sum(w)
  ok = w * a > 0  # absent samples (and zero rows) get r = 0
  r2 = jnp.where(ok, jnp.maximum(_memorization_r2(jnp.where(ok, a, 1.0), jnp.where(ok, w, 1.0), n, sigma, lam), 0.0),
                 0.0)
  return (X * jnp.sqrt(r2)[:, None]).T



def generalization_target(X: Float[ArrayLike, "N d"], labels: Int[ArrayLike, " N"], w: Float[ArrayLike, " N"],
                          num_clusters: int, sigma, lam, p_per_cluster) -> Float[Array, "d d"]:
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
  larger than the rank adds nothing, and the clip at 0 replaces :func:`cluster_block`'s ValueError.

  Args:
    X: sample pool ``(N, d)``; labels: ``(N,)`` ints in ``0..num_clusters−1``.
    w: nonnegative sample weights ``(N,)``.
    num_clusters: K (static).
    sigma, lam: noise level and weight decay (≥ 0, may be traced).
    p_per_cluster: int or ``(K,)`` ints ``p_k ≥ 0`` (may be traced).

  Returns:
    ``G (d, d)``, symmetric positive semidefinite.

  Examples:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> generalization_target(X, jnp.array([0, 1]), jnp.ones(2), 2, sigma=1.0, lam=0.0, p_per_cluster=1)
    Array([[0.5, 0. ],
           [0. , 0.5]], dtype=float32)
  """
  X = _checks.matrix("X", X)
  K = _checks.positive_int("num_clusters", num_clusters)
  _arrays.sigma_lam(sigma, lam)
  _arrays.check_p_per_cluster(p_per_cluster, K)
  evals, evecs, n_k = cluster_spectra(X, labels, w, num_clusters)
  return generalization_gram(evals, evecs, n_k, sigma, lam, p_per_cluster)



def cluster_spectra(X: Float[ArrayLike, "N d"], labels: Int[ArrayLike, " N"], w: Float[ArrayLike, " N"],
                    num_clusters: int) -> tuple[Float[Array, "K d"], Float[Array, "K d d"], Float[Array, " K"]]:
  """Eigenpairs of each cluster's weighted Gram ``Σ_i w_i [label_i = k] x_i x_iᵀ``.

  Returns ``evals (K, d)`` (ascending), ``evecs (K, d, d)`` and the weighted counts
  ``n_k (K,)``: the LAPACK part of :func:`generalization_target`, which a sweep can compute
  once per training set and share across σ, λ and p (:func:`generalization_gram`).

  Examples:
    >>> evals, evecs, n_k = cluster_spectra(jnp.array([[2.0, 0.0], [0.0, 1.0]]), jnp.array([0, 0]), jnp.ones(2), 1)
    >>> evals.tolist(), n_k.tolist()
    ([[1.0, 4.0]], [2.0])
  """
  X = _checks.matrix("X", X)
  w = _arrays.weights(X, w)
  member = _arrays.one_hot(X, labels, num_clusters) * w[:, None]  # (N, K)
  grams = jnp.einsum("nk,nd,ne->kde", member, X, X)  # (K, d, d)
  evals, evecs = jnp.linalg.eigh(grams)
  return evals, evecs, jnp.sum(member, axis=0)



def top_cluster_spectra(X: Float[ArrayLike, "N d"], labels: Int[ArrayLike, " N"], w: Float[ArrayLike, " N"],
                        num_clusters: int, rank: int) -> tuple[Float[np.ndarray, "K r"], Float[np.ndarray, "K d r"],
                                                               Float[np.ndarray, " K"]]:
  """The top-``rank`` part of :func:`cluster_spectra`, on the host, one cluster at a time.

  Each cluster's weighted Gram ``Σ_i w_i x_i x_iᵀ`` is ``AᵀA`` with ``A = diag(√w) X_k``, so its
  eigenpairs come from the thin SVD of ``A`` (``(m_k, d)``, ``m_k`` present rows): ``O(m_k² d)``
  time and no ``(d, d)`` matrix, against ``O(d³)`` and ``K·d²`` memory for :func:`cluster_spectra`.
  That is what makes the Cor. 3.3 target computable at the paper's size (d = 1024, K up to 10,000
  single-sample clusters). :func:`generalization_gram` accepts the result as it is; it is exact
  for every ``p_k ≤ rank``. Computed in float64 with numpy, returned as float32.

  Returns:
    ``evals (K, rank)`` ascending (zeros below a cluster's rank), ``evecs (K, d, rank)``, ``n_k (K,)``.

  Examples:
    >>> X = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    >>> evals, evecs, n_k = top_cluster_spectra(X, np.array([0, 0, 1]), np.ones(3), 2, rank=1)
    >>> evals.tolist(), np.abs(evecs[:, :, 0]).tolist(), n_k.tolist()  # eigenvectors up to sign
    ([[4.0], [9.0]], [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [2.0, 1.0])
  """
  X = np.asarray(_checks.matrix("X", X), np.float64)
  K = _checks.positive_int("num_clusters", num_clusters)
  rank = _checks.positive_int("rank", rank)
  d = X.shape[1]
  if rank > d:
    raise ValueError(f"rank must be <= d={d}, got {rank}")
  w = np.asarray(_arrays.weights(jnp.asarray(X), w), np.float64)
  labels = np.asarray(_arrays.one_hot(jnp.asarray(X), labels, K).argmax(axis=1))
  evals, evecs, n_k = np.zeros((K, rank), np.float32), np.zeros((K, d, rank), np.float32), np.zeros(K, np.float32)
  for k in range(K):
    rows = np.flatnonzero((labels == k) & (w > 0))
    n_k[k] = w[rows].sum()
    if rows.size == 0:
      continue
    _, s, vt = np.linalg.svd(np.sqrt(w[rows])[:, None] * X[rows], full_matrices=False)
    top = min(rank, s.size)  # s descending; evals ascending, so the top pairs go last
    evals[k, rank - top:] = (s[:top] ** 2)[::-1]
    evecs[k, :, rank - top:] = vt[:top][::-1].T
  return evals, evecs, n_k


def _spectra(evals, evecs, n_k):
  """Checks ``evals (K, r)``, ``evecs (K, d, r)``, ``n_k (K,)`` (:func:`cluster_spectra`'s output, r = d,
  or :func:`top_cluster_spectra`'s, r ≤ d)."""
  evals, evecs, n_k = (_checks.array(k, v) for k, v in (("evals", evals), ("evecs", evecs), ("n_k", n_k)))
  if jnp.ndim(evals) != 2 or 0 in jnp.shape(evals):
    raise ValueError(f"evals must have shape (K, r) with K, r >= 1, got {jnp.shape(evals)}")
  K, r = jnp.shape(evals)
  if jnp.ndim(evecs) != 3 or jnp.shape(evecs)[0] != K or jnp.shape(evecs)[2] != r or jnp.shape(evecs)[1] < r:
    raise ValueError(f"evecs must have shape (K, d, r)=({K}, d, {r}) with d >= r to match evals, "
                     f"got {jnp.shape(evecs)}")
  if jnp.shape(n_k) != (K,):
    raise ValueError(f"n_k must have shape (K,)=({K},) to match evals, got {jnp.shape(n_k)}")
  _checks.nonnegative("n_k", n_k)
  return evals, evecs, n_k



def generalization_gram(evals: Float[ArrayLike, "K r"], evecs: Float[ArrayLike, "K d r"], n_k: Float[ArrayLike, " K"],
                        sigma, lam, p_per_cluster) -> Float[Array, "d d"]:
  """:func:`generalization_target` from precomputed :func:`cluster_spectra` (no factorization).

  Only elementwise operations and matrix products, so it ``vmap``s over σ, λ and p cheaply
  (and avoids batched LAPACK calls inside ``vmap``). The spectra may be the top ``r`` pairs only
  (:func:`top_cluster_spectra`, ascending like ``eigh``): the result is exact for ``p_k ≤ r``, and
  ``p_k > r`` keeps the ``r`` pairs there are.

  Examples:
    >>> X, labels = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([0, 1])
    >>> generalization_gram(*cluster_spectra(X, labels, jnp.ones(2), 2), sigma=1.0, lam=0.0, p_per_cluster=1)
    Array([[0.5, 0. ],
           [0. , 0.5]], dtype=float32)
  """
  evals, evecs, n_k = _spectra(evals, evecs, n_k)
  _arrays.sigma_lam(sigma, lam)
  K, r = evals.shape
  _arrays.check_p_per_cluster(p_per_cluster, K)
  from_top = (r - 1) - jnp.arange(r)  # 0 for the largest eigenvalue
  keep = from_top[None, :] < jnp.broadcast_to(jnp.asarray(p_per_cluster), (K,))[:, None]
  n = jnp.sum(n_k)
  ok = evals + n_k[:, None] * sigma**2 > 0  # else no gain (and no NaN in values or gradients)
  gains = jnp.where(ok, jnp.maximum(_block_gains(jnp.where(ok, evals, 1.0), n, n_k[:, None], sigma, lam), 0.0), 0.0)
  return jnp.einsum("kdj,kj,kej->de", evecs, jnp.where(keep, gains, 0.0), evecs)
