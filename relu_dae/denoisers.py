"""Closed-form denoisers: empirical (Eq. 3), Gaussian-mixture posterior mean, Wiener.

All take noisy inputs ``y`` of shape ``(..., d)`` and return ``E[x | x + σε = y]``
of the same shape under the stated prior. Data ``X`` are ``(n, d)``, rows samples.

Examples:
  >>> import jax.numpy as jnp, relu_dae as rd
  >>> X = jnp.eye(3)
  >>> rd.denoisers.empirical(jnp.array([0.9, 0.1, 0.0]), X, sigma=1e-3)
  Array([1., 0., 0.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from relu_dae import _arrays
from relu_dae import _checks

__all__ = ["empirical", "empirical_posterior", "gaussian_mixture", "gaussian_mixture_spectral",
           "gaussian_posterior_mean", "wiener", "wiener_matrix"]


def _input(name: str, y, d: int):
  """A real array ``(..., d)`` (integers as float32), finite and of moderate scale when concrete."""
  y = _checks.array(name, y)
  _checks.trailing_dim(name, y, d)
  return y


def _tolerance(dtype, scale):
  """Eigenvalues at or below this (relative to the largest, ``scale``) are zero in ``dtype``."""
  return np.finfo(dtype).eps * scale


def _require_definite(name: str, covs, sigma) -> None:
  """Raises unless every ``covs[k] + σ²I`` is positive definite (concrete inputs only)."""
  c, s = _checks.concrete(covs), _checks.concrete(sigma)
  if c is None or s is None:
    return
  c = c.astype(np.float64)
  ev = np.linalg.eigvalsh((c + np.swapaxes(c, -1, -2)) / 2) + float(s) ** 2
  smallest = np.atleast_1d(ev.min(axis=-1))
  bad = smallest <= _tolerance(covs.dtype, np.atleast_1d(np.max(np.abs(ev), axis=-1)))
  if np.any(bad):
    raise ValueError(f"{name} + sigma^2 I must be positive definite, got smallest eigenvalue(s) "
                     f"{smallest[bad].tolist()} at sigma={float(s)} (sigma = 0 needs nonsingular covariances)")


def _sample_weights(X, w):
  """``log w (N,)`` for multiplicities ``w`` (−inf where ``w = 0``); 0 everywhere for ``w = None``."""
  if w is None:
    return jnp.zeros(X.shape[:1], jnp.result_type(X, jnp.float32))
  w = _arrays.weights(X, w)
  present = w > 0
  return jnp.where(present, jnp.log(jnp.where(present, w, 1.0)), -jnp.inf)


def empirical_posterior(y: Float[ArrayLike, "... d"], X: Float[ArrayLike, "n d"], sigma,
                        w: Float[ArrayLike, " n"] | None = None) -> Float[Array, "... n"]:
  """Posterior weights ``∝ w_i exp(−‖y − x_i‖² / 2σ²)`` of Eq. (3), shape ``(..., n)``.

  ``w`` are sample multiplicities (``None``: all ones; ``w_i = 0`` leaves sample i out exactly).
  Exact for any σ > 0: the scores are shifted to their maximum over the present samples
  *before* the division by σ², so when σ² underflows the weights become the (``w``-weighted)
  indicator of the nearest sample(s), not NaN. NaN if no weight is positive.

  Examples:
    >>> post = empirical_posterior(jnp.zeros(2), jnp.array([[1.0, 0.0], [-1.0, 0.0]]), 1.0, w=jnp.array([3.0, 1.0]))
    >>> [round(v, 4) for v in post.tolist()]
    [0.75, 0.25]
  """
  X = _checks.matrix("X", X)
  y = _input("y", y, X.shape[1])
  _checks.scalar_positive("sigma", sigma)
  log_w = _sample_weights(X, w)
  # ‖y − x_i‖² = ‖y‖² − 2⟨y, x_i⟩ + ‖x_i‖²; the ‖y‖² term cancels in the softmax.
  scores = jnp.where(log_w > -jnp.inf, y @ X.T - 0.5 * jnp.sum(X**2, axis=-1), -jnp.inf)
  gap = scores - jnp.max(scores, axis=-1, keepdims=True)  # ≤ 0, = 0 at the nearest sample(s)
  logits = jnp.where(gap == 0, 0.0, gap / sigma**2) + log_w
  return jax.nn.softmax(logits, axis=-1)


def empirical(y: Float[ArrayLike, "... d"], X: Float[ArrayLike, "n d"], sigma,
              w: Float[ArrayLike, " n"] | None = None) -> Float[Array, "... d"]:
  """The empirical (memorizing) denoiser ``f_emp`` of Eq. (3), optionally with sample multiplicities.

      f_emp(y) = Σ_i w_i N(y; x_i, σ²I) x_i / Σ_i w_i N(y; x_i, σ²I),

  the minimizer of the denoising loss over all functions when the data distribution
  is the empirical one; ``w`` (``(n,)``, nonnegative, default all ones) counts sample i
  ``w_i`` times, as a sweep's weighted training set does (``w_i = 0``: absent). Computed as
  a log-sum-exp-stabilized softmax (:func:`empirical_posterior`), so it is finite for tiny σ,
  where it tends to the nearest present training sample; NaN if no weight is positive.

  Args:
    y: noisy inputs ``(..., d)``.
    X: training data ``(n, d)``.
    sigma: noise level σ > 0.
    w: optional nonnegative multiplicities ``(n,)``.

  Examples:
    >>> X = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> empirical(jnp.array([0.9, 0.1]), X, sigma=0.01, w=jnp.array([0.0, 2.0]))
    Array([0., 1.], dtype=float32)
  """
  X = _checks.matrix("X", X)
  return empirical_posterior(y, X, sigma, w) @ X


def gaussian_posterior_mean(y: jax.Array, mean: jax.Array, cov: jax.Array, sigma) -> jax.Array:
  """``E[x | y]`` for ``x ~ N(mean, cov)``: ``mean + cov (cov + σ²I)^{-1} (y − mean)``.

  ``mean (d,)``, ``cov (d, d)`` symmetric PSD with ``cov + σ²I`` nonsingular, ``y (..., d)``.
  """
  mean = _checks.array("mean", mean, ndim=1)
  d = mean.shape[-1]
  cov = _checks.array("cov", cov)
  if jnp.shape(cov) != (d, d) or d == 0:
    raise ValueError(f"cov must have shape (d, d)=({d}, {d}) for mean of shape {mean.shape}, got {jnp.shape(cov)}")
  y = _input("y", y, d)
  _checks.scalar_nonnegative("sigma", sigma)
  _require_definite("cov", cov, sigma)
  C = cov + sigma**2 * jnp.eye(d, dtype=cov.dtype)
  gain = jnp.linalg.solve(C, cov).T  # cov C^{-1} (both symmetric)
  return mean + (y - mean) @ gain.T


def gaussian_mixture(y: jax.Array, means: jax.Array, covs: jax.Array, weights: jax.Array,
                     sigma) -> jax.Array:
  """The ground-truth denoiser ``f_gt`` for the mixture of Eq. (4): an exact posterior mean.

      f_gt(y) = Σ_k π_k(y) [μ_k + Σ_k (Σ_k + σ²I)^{-1} (y − μ_k)],
      π_k(y) ∝ ρ_k N(y; μ_k, Σ_k + σ²I).

  Args:
    y: noisy inputs ``(..., d)``.
    means: ``(K, d)``; covs: ``(K, d, d)`` (may be singular when σ > 0); weights: ``(K,)``.
    sigma: noise level σ ≥ 0 (σ = 0 needs nonsingular covariances).
  """
  means = jnp.asarray(_checks.matrix("means", means))
  K, d = means.shape
  covs = _checks.array("covs", covs)
  if jnp.shape(covs) != (K, d, d):
    raise ValueError(f"covs must have shape (K, d, d)=({K}, {d}, {d}) for means of shape {means.shape}, "
                     f"got {jnp.shape(covs)}")
  weights = _checks.weight_vector("weights", weights, K)
  y = _input("y", y, d)
  _checks.scalar_nonnegative("sigma", sigma)
  _require_definite("covs", covs, sigma)
  C = covs + sigma**2 * jnp.eye(d, dtype=covs.dtype)
  chol = jnp.linalg.cholesky(C)  # (K, d, d)
  resid = y[..., None, :] - means  # (..., K, d)
  white = _whiten(chol, resid)  # (..., K, d)
  logdet = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)  # (K,)
  logits = jnp.log(weights) - 0.5 * (jnp.sum(white**2, axis=-1) + logdet)
  post = jax.nn.softmax(logits, axis=-1)  # (..., K)
  gains = jnp.linalg.solve(C, covs)  # C^{-1} Σ_k ; its transpose is Σ_k C^{-1}
  comp = means + jnp.einsum("...kd,kde->...ke", resid, gains)  # μ_k + Σ_k C^{-1} (y − μ_k)
  return jnp.einsum("...k,...kd->...d", post, comp)


def gaussian_mixture_spectral(y: jax.Array, means: jax.Array, evals: jax.Array, evecs: jax.Array,
                              weights: jax.Array, sigma) -> jax.Array:
  """:func:`gaussian_mixture` with each covariance given as ``Σ_k = V_k diag(λ_k) V_kᵀ``.

  ``Σ_k + σ²I = V_k diag(λ_k + σ²) V_kᵀ``, so the posterior needs no factorization per σ:
  only elementwise operations and matrix products, which ``vmap`` over σ cheaply (and
  keep batched LAPACK calls out of a ``vmap``). ``evals (K, d)``, ``evecs (K, d, d)``
  (columns are eigenvectors, e.g. from ``jnp.linalg.eigh(covs)``).

  Examples:
    >>> means, covs = jnp.zeros((1, 2)), jnp.eye(2)[None]
    >>> lam, V = jnp.linalg.eigh(covs)
    >>> gaussian_mixture_spectral(jnp.array([2.0, 0.0]), means, lam, V, jnp.ones(1), 1.0).tolist()
    [1.0, 0.0]
  """
  means = jnp.asarray(_checks.matrix("means", means))
  K, d = means.shape
  evals, evecs = _checks.array("evals", evals), _checks.array("evecs", evecs)
  if jnp.shape(evals) != (K, d):
    raise ValueError(f"evals must have shape (K, d)=({K}, {d}) for means of shape {means.shape}, "
                     f"got {jnp.shape(evals)}")
  if jnp.shape(evecs) != (K, d, d):
    raise ValueError(f"evecs must have shape (K, d, d)=({K}, {d}, {d}) for means of shape {means.shape}, "
                     f"got {jnp.shape(evecs)}")
  weights = _checks.weight_vector("weights", weights, K)
  y = _input("y", y, d)
  _checks.scalar_nonnegative("sigma", sigma)
  _require_positive_spectrum(evals, sigma)
  total = jnp.maximum(evals, 0.0) + sigma**2  # (K, d)
  z = jnp.einsum("...kd,kde->...ke", y[..., None, :] - means, evecs)  # residual in each eigenbasis
  logits = jnp.log(weights) - 0.5 * (jnp.sum(z**2 / total, -1) + jnp.sum(jnp.log(total), -1))
  post = jax.nn.softmax(logits, axis=-1)  # (..., K)
  comp = means + jnp.einsum("...ke,kde->...kd", z * (jnp.maximum(evals, 0.0) / total), evecs)
  return jnp.einsum("...k,...kd->...d", post, comp)


def _require_positive_spectrum(evals, sigma) -> None:
  """At σ = 0 every eigenvalue must be positive, or the Gaussian densities are singular (concrete only)."""
  ev, s = _checks.concrete(evals), _checks.concrete(sigma)
  if ev is not None and s is not None and float(s) == 0 and ev.size and not np.all(ev > 0):
    raise ValueError(f"evals must all be > 0 at sigma=0 (singular covariances), got min {ev.min():.3g}")


def _whiten(chol: jax.Array, resid: jax.Array) -> jax.Array:
  """``L_k^{-1} r_k`` for each component: chol ``(K, d, d)``, resid ``(..., K, d)``."""
  batch = resid.shape[:-2]
  r = jnp.reshape(resid, (-1,) + resid.shape[-2:])  # (B, K, d)
  r = jnp.moveaxis(r, 0, -1)  # (K, d, B)
  w = jax.scipy.linalg.solve_triangular(chol, r, lower=True)  # (K, d, B)
  return jnp.reshape(jnp.moveaxis(w, -1, 0), batch + resid.shape[-2:])


def wiener_matrix(S: jax.Array, sigma, *, rank: int | None = None, shrink=0.0) -> jax.Array:
  """The bias-free linear (Wiener) denoiser for second moment ``S``, optionally rank-truncated.

      D = [ (S − shrink·I)(S + σ²I)^{-1} ]_rank-p,

  built on the eigenbasis of ``S``: eigenvalue ``s_j`` maps to ``(s_j − shrink)/(s_j + σ²)``
  for the top ``rank`` eigenvalues and to 0 otherwise. With ``shrink = λ/ρ_k`` this is
  the limit of ``W_Xk W_Xkᵀ`` in Cor. 3.3; ``shrink = 0`` and no truncation is the
  optimal linear denoiser ``S (S + σ²I)^{-1}`` for data with uncentered second moment S.

  Args:
    S: ``(d, d)`` symmetric positive semidefinite.
    sigma: noise level σ ≥ 0.
    rank: keep the top ``rank`` eigen-directions (default all).
    shrink: eigenvalue shrinkage (weight decay / mixing weight), ≥ 0.
  """
  S = _checks.array("S", S)
  if jnp.ndim(S) != 2 or jnp.shape(S)[0] != jnp.shape(S)[1] or jnp.shape(S)[0] == 0:
    raise ValueError(f"S must be a square (d, d) matrix with d >= 1, got shape {jnp.shape(S)}")
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("shrink", shrink)
  d = S.shape[0]
  rank = d if rank is None else _checks.positive_int("rank", rank)
  if rank > d:
    raise ValueError(f"rank must be <= d={d}, got {rank}")
  evals, evecs = jnp.linalg.eigh((S + S.T) / 2)
  evals, evecs = evals[::-1][:rank], evecs[:, ::-1][:, :rank]
  _require_invertible_gains(evals, sigma, S.dtype)
  gains = (evals - shrink) / (evals + sigma**2)
  return (evecs * gains) @ evecs.T


def _require_invertible_gains(evals, sigma, dtype) -> None:
  """Raises if a kept ``s_j + σ²`` is numerically zero (σ = 0 on a singular S; concrete inputs only)."""
  ev, s = _checks.concrete(evals), _checks.concrete(sigma)
  if ev is None or s is None:
    return
  total = ev.astype(np.float64) + float(s) ** 2
  if np.any(total <= _tolerance(dtype, max(np.max(np.abs(ev)), float(s) ** 2))):
    raise ValueError(f"S + sigma^2 I is singular on the kept eigen-directions (smallest s_j + sigma^2 = "
                     f"{total.min():.3g}); use sigma > 0 or a rank <= the rank of S")


def wiener(y: jax.Array, S: jax.Array, sigma, *, rank: int | None = None) -> jax.Array:
  """Applies :func:`wiener_matrix` to ``y (..., d)``."""
  D = wiener_matrix(S, sigma, rank=rank)
  y = _input("y", y, D.shape[0])
  return y @ D.T
