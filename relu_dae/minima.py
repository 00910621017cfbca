"""The analytic local minima of Thm 3.1 and Cor. 3.2–3.4, and their closed-form losses.

Every constructor returns a tied weight matrix ``W (d, p)`` (``W1 = W2 = W``), the form
of all the paper's minima; wrap it as ``{"W": W}`` to use it with ``relu_dae.model``.
Data are ``(n, d)`` with rows as samples; the paper's Gram matrix ``X_k X_kᵀ`` (d×d) is
``Xk.T @ Xk`` here. ``n`` is always the size of the *whole* training set: the penalty
λ Σ‖W‖² of Eq. (6) is per-dataset, so it enters each cluster's block as ``nλ``.

Example:
  >>> import jax.numpy as jnp, relu_dae as rd
  >>> X = jnp.array([[1.0, -0.5], [-0.5, 1.0]])
  >>> rd.minima.memorization(X, sigma=0.1, lam=0.0, p=3).shape
  (2, 3)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

import jax
import jax.numpy as jnp

from relu_dae import _checks


def _require_small_decay(n: int, lam, eigenvalues: jax.Array, where: str) -> None:
  """Raises unless ``nλ < min(eigenvalues)``, the condition making Eq. (8)/(9) real (concrete inputs only)."""
  ev, lam_np = _checks.concrete(eigenvalues), _checks.concrete(lam)
  if ev is not None and lam_np is not None and not n * lam_np < ev.min():
    raise ValueError(f"lam too large{where}: need n*lam={n * lam_np:.4g} < {ev.min():.4g}; lower lam")


def memorization_scales(X: jax.Array, sigma, lam, n: int | None = None) -> jax.Array:
  """The ``r_i`` of Eq. (9): ``r_i² = (‖x_i‖² − nλ) / (‖x_i‖⁴ + σ²‖x_i‖²)``, shape ``(n,)``."""
  X = _checks.matrix("X", X)
  _checks.nonnegative("sigma", sigma)
  _checks.nonnegative("lam", lam)
  n = X.shape[0] if n is None else n
  a = jnp.sum(X**2, axis=-1)
  _require_small_decay(n, lam, a, " (Cor. 3.2 needs n*lam < min_i ||x_i||^2)")
  return jnp.sqrt((a - n * lam) / (a**2 + sigma**2 * a))


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
  _checks.nonnegative("sigma", sigma)
  a = jnp.sum(X**2, axis=-1)
  per_sample = sigma**2 * a / (sigma**2 + a)
  if weights is None:
    return jnp.mean(per_sample)
  return jnp.sum(weights * per_sample) / jnp.sum(weights)


def equiangular_rotation(m: jax.Array) -> jax.Array:
  """Our default ``O_k`` of Eq. (8): the Householder reflection swapping m̂ and 1/√p.

  Returns a symmetric orthogonal ``O (p, p)`` with ``O m̂ = 1/√p`` (all ones over √p),
  so every column c of ``W = U D Oᵀ`` has the same pre-activation ``‖m‖/√p > 0``
  on the vector whose coordinates in the scaled basis ``U D`` are ``m``.
  """
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
  Xk = _checks.matrix("Xk", Xk)
  n = _checks.positive_int("n", n)
  p_k = _checks.positive_int("p_k", p_k)
  _checks.nonnegative("sigma", sigma)
  _checks.nonnegative("lam", lam)
  n_k = Xk.shape[0]
  _, s, Vt = jnp.linalg.svd(Xk, full_matrices=False)
  if p_k > s.shape[0]:
    raise ValueError(f"p_k={p_k} exceeds the number of Gram eigenvalues min(n_k, d)={s.shape[0]}")
  evals = s[:p_k] ** 2  # top eigenvalues of X_kᵀ X_k
  U = Vt[:p_k].T  # (d, p_k)
  _require_small_decay(n, lam, evals, f" for this block (Thm 3.1: n*lam < the top-{p_k} Gram eigenvalues)")
  D = jnp.sqrt((evals - n * lam) / (evals + n_k * sigma**2))
  if O is None:
    m = D * (U.T @ jnp.mean(Xk, axis=0))
    O = equiangular_rotation(m)
  elif jnp.shape(O) != (p_k, p_k):
    raise ValueError(f"O must have shape (p_k, p_k)=({p_k}, {p_k}), got {jnp.shape(O)}")
  return (U * D) @ O.T


def _clusters(X, labels):
  X = _checks.matrix("X", X)
  labels = _checks.labels(X, labels)
  ids = np.unique(labels)
  return X, labels, ids


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
  X, labels, ids = _clusters(X, labels)
  ps = _per_cluster(p_per_cluster, len(ids))
  n = X.shape[0]
  blocks = [cluster_block(X[labels == k], n, sigma, lam, p) for k, p in zip(ids, ps)]
  return jnp.concatenate(blocks, axis=1)


def is_duplicate_cluster(Xk) -> bool:
  """True when all rows of ``Xk`` are identical (a rank-1 cluster of Cor. 3.4)."""
  Xk = np.asarray(Xk)
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
  X, labels, ids = _clusters(X, labels)
  ps = _per_cluster(p_per_cluster, len(ids))
  n = X.shape[0]
  blocks = []
  for k, p in zip(ids, ps):
    Xk = X[labels == k]
    blocks.append(cluster_block(Xk, n, sigma, lam, 1 if is_duplicate_cluster(Xk) else p))
  return jnp.concatenate(blocks, axis=1)


def block_gram_eigenvalues(Xk: jax.Array, n: int, sigma, lam, p_k: int) -> jax.Array:
  """Eigenvalues ``(λ_j − nλ)/(λ_j + n_k σ²)`` of ``W_Xk W_Xkᵀ`` predicted by Eq. (8)."""
  s = jnp.linalg.svd(_checks.matrix("Xk", Xk), compute_uv=False)[:p_k] ** 2
  return (s - n * lam) / (s + Xk.shape[0] * sigma**2)
