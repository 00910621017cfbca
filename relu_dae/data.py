"""Data: Gaussian mixtures (Eq. 4), (α, β)-separable data (Def. 3.1), digits.

Data matrices are ``X`` of shape ``(n, d)`` with *rows* as samples (the paper
writes columns); ``labels`` are integer cluster ids of shape ``(n,)``.

Examples:
  >>> import jax, relu_dae as rd
  >>> X, labels, spec = rd.data.separable_mixture(
  ...     jax.random.PRNGKey(0), d=16, K=3, n_per_cluster=20, alpha=0.3, beta=-0.4)
  >>> X.shape, round(spec.alpha, 6), round(spec.beta, 6)
  ((60, 16), 0.3, -0.4)
"""

from __future__ import annotations

from typing import NamedTuple
from collections.abc import Sequence

import numpy as np

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, Real

from relu_dae import _checks

__all__ = [
    "MixtureSpec", "SeparableSpec", "mixture_spec", "sample_mixture", "sample_mixture_counts",
    "random_orthogonal", "simplex_means", "separable_mixture", "separable_mixture_arrays", "locally_sparse",
    "separability", "load_digits", "negatively_correlated_subset",
]


class MixtureSpec(NamedTuple):
  """A Gaussian mixture ``Σ_k ρ_k N(μ_k, Σ_k)`` (Eq. 4) with ``Σ_k = A_k A_kᵀ``.

  Attributes:
    means: ``(K, d)`` component means μ_k.
    cov_factors: ``(K, d, r)`` factors A_k (``r < d`` gives low-rank covariances).
    weights: ``(K,)`` mixing weights ρ_k, summing to one.
  """
  means: jax.Array
  cov_factors: jax.Array
  weights: jax.Array

  @property
  def covs(self) -> jax.Array:
    """``(K, d, d)`` covariances Σ_k = A_k A_kᵀ."""
    return jnp.einsum("kdr,ker->kde", self.cov_factors, self.cov_factors)

  @property
  def second_moments(self) -> jax.Array:
    """``(K, d, d)`` uncentered second moments S_k = μ_k μ_kᵀ + Σ_k of Eq. (10)."""
    return self.covs + jnp.einsum("kd,ke->kde", self.means, self.means)


class SeparableSpec(NamedTuple):
  """What :func:`separable_mixture` generated and what it achieved.

  Attributes:
    mixture: the Gaussian mixture the clusters were drawn from (after rescaling).
    counts: samples per cluster ``n_k``.
    alpha: achieved within-cluster spread of Def. 3.1 (equals the request).
    beta: achieved largest cosine between cluster means (equals the request).
  """
  mixture: MixtureSpec
  counts: tuple[int, ...]
  alpha: float
  beta: float


def mixture_spec(means, cov_factors=None, weights=None) -> MixtureSpec:
  """Validates and builds a :class:`MixtureSpec`.

  Args:
    means: ``(K, d)``.
    cov_factors: ``(K, d, r)``; default zeros (point masses at the means).
    weights: ``(K,)`` nonnegative, normalized here; default uniform.
  """
  means = jnp.asarray(_checks.matrix("means", means))
  K, d = means.shape
  if cov_factors is None:
    cov_factors = jnp.zeros((K, d, 1), means.dtype)
  cov_factors = jnp.asarray(_checks.array("cov_factors", cov_factors))
  if cov_factors.ndim != 3 or cov_factors.shape[:2] != (K, d) or cov_factors.shape[2] == 0:
    raise ValueError(f"cov_factors must have shape (K, d, r)=({K}, {d}, r) with r >= 1, got {cov_factors.shape}")
  if weights is None:
    weights = jnp.full((K,), 1.0 / K)
  else:
    weights = jnp.asarray(_checks.weight_vector("weights", weights, K), means.dtype)
  return MixtureSpec(means, cov_factors, weights / jnp.sum(weights))


def sample_mixture(key: Array, spec: MixtureSpec, n: int) -> tuple[Float[Array, "n d"], Int[Array, " n"]]:
  """Draws ``n`` i.i.d. samples of Eq. (4); returns ``X (n, d)`` and ``labels (n,)``."""
  _checks.key("key", key)
  _check_spec(spec)
  n = _checks.positive_int("n", n)
  k_lab, k_z = jax.random.split(key)
  labels = jax.random.choice(k_lab, spec.weights.shape[0], (n,), p=spec.weights)
  return _draw(k_z, spec, labels), labels


def _check_spec(spec) -> None:
  if not isinstance(spec, MixtureSpec):
    raise TypeError(f"spec must be a MixtureSpec (data.mixture_spec), got {type(spec).__name__}")


def _draw(key: jax.Array, spec: MixtureSpec, labels: jax.Array) -> jax.Array:
  """One Gaussian draw ``μ_k + A_k z`` per label."""
  z = jax.random.normal(key, labels.shape + spec.cov_factors.shape[-1:], spec.means.dtype)
  return spec.means[labels] + jnp.einsum("ndr,nr->nd", spec.cov_factors[labels], z)


def sample_mixture_counts(key: Array, spec: MixtureSpec,
                          counts: Sequence[int]) -> tuple[Float[Array, "n d"], Int[Array, " n"]]:
  """Draws exactly ``counts[k]`` samples from component k; rows sorted by cluster."""
  _checks.key("key", key)
  _check_spec(spec)
  if counts is None or isinstance(counts, (str, bytes, dict)) or np.ndim(counts) != 1:
    raise TypeError(f"counts must be a sequence of K={spec.means.shape[0]} positive integers, got {counts!r}")
  counts = [_checks.positive_int(f"counts[{k}]", c) for k, c in enumerate(counts)]
  if len(counts) != spec.means.shape[0]:
    raise ValueError(f"counts must have K={spec.means.shape[0]} entries, got {len(counts)}")
  labels = jnp.repeat(jnp.arange(len(counts)), np.array(counts), total_repeat_length=sum(counts))
  return _draw(key, spec, labels), labels


def random_orthogonal(key: Array, d: int, r: int | None = None) -> Float[Array, "d r"]:
  """A Haar-random ``(d, r)`` matrix with orthonormal columns (QR with sign fix); ``r <= d``."""
  _checks.key("key", key)
  d = _checks.positive_int("d", d)
  r = d if r is None else _checks.positive_int("r", r)
  if r > d:
    raise ValueError(f"r must be <= d={d} (at most d orthonormal columns), got r={r}")
  q, rr = jnp.linalg.qr(jax.random.normal(key, (d, r)))
  return q * jnp.sign(jnp.diagonal(rr))


def simplex_means(K: int, d: int, *, beta: float | None = None, norm: float = 1.0,
                  key: Array | None = None) -> Float[Array, "K d"]:
  """``K`` vectors of norm ``norm`` in R^d whose pairwise cosines all equal ``beta``.

  The regular simplex (cosine −1/(K−1), the most negative possible for K vectors)
  is tilted towards its centroid direction to reach any ``beta ∈ [−1/(K−1), 1)``:
  ``μ_k = norm (a s_k + b 1/√K)`` with ``a² = (1−β)(K−1)/K``, ``b² = 1 − a²``.
  With ``key`` the configuration is randomly rotated (otherwise it lies in the
  first K coordinates). Requires ``d ≥ K``. ``beta`` and ``norm`` may be traced (the range
  check then runs only on concrete values), so the function ``jit``s over them.
  """
  _check_simplex(K, d, beta, norm, key, "K")
  if K == 1:
    mu = jnp.zeros((1, d)).at[0, 0].set(1.0)
  else:
    beta = -1.0 / (K - 1) if beta is None else beta
    simplex = jnp.eye(K) - 1.0 / K
    simplex = simplex / jnp.linalg.norm(simplex, axis=1, keepdims=True)
    a2 = jnp.minimum(1.0, (1.0 - beta) * (K - 1) / K)
    mu = jnp.sqrt(a2) * simplex + jnp.sqrt(1.0 - a2) / jnp.sqrt(K)
    mu = jnp.pad(mu, ((0, 0), (0, d - K)))
  if key is not None:
    mu = mu @ random_orthogonal(key, d).T
  return norm * mu


def _check_simplex(K, d, beta, norm, key, symbol: str) -> None:
  """Validates :func:`simplex_means`' arguments; ``symbol`` names the count (``K`` or, for
  :func:`locally_sparse`, ``n``) in the messages. ``beta`` and ``norm`` may be traced."""
  K = _checks.positive_int(symbol, K)
  d = _checks.positive_int("d", d)
  if d < K:
    raise ValueError(f"d must be >= {symbol} to place {symbol}={K} vectors with equal cosines, got d={d}")
  _checks.scalar_positive("norm", norm)
  if key is not None:
    _checks.key("key", key)
  if beta is None:
    return
  _checks.number("beta", beta)
  b = _checks.concrete(beta)
  lo = -1.0 / (K - 1) if K > 1 else -1.0
  if b is not None and K > 1 and not lo - 1e-12 <= float(b) < 1.0:
    raise ValueError(f"beta must lie in [-1/({symbol}-1), 1) = [{lo:.4f}, 1) for {symbol}={K}, got {float(b)}")


def separable_mixture(key: jax.Array, *, d: int, K: int, n_per_cluster, alpha, beta: float,
                      rank: int | None = None, norm: float = 1.0, decay: float = 1.0):
  """Data that are exactly (α, β)-separable in the sense of Def. 3.1.

  Cluster means lie on a tilted, randomly rotated regular simplex with pairwise
  cosine exactly ``beta`` (:func:`simplex_means`). Cluster k's samples are Gaussian
  draws ``μ_k + A_k z`` in a random rank-``rank`` subspace, then affinely corrected
  so that their sample mean is exactly μ_k and ``max_j ‖x_kj − μ_k‖ = α_k ‖μ_k‖``.
  ``alpha_k = 0`` (or ``n_k = 1``) gives a rank-one cluster of exact duplicates, the
  scarce clusters of Cor. 3.4; ``K = n``, ``n_per_cluster = 1`` gives locally sparse
  data, one sample per direction, the premise of Cor. 3.2.

  Args:
    key: PRNG key.
    d: dimension (≥ K).
    K: number of clusters.
    n_per_cluster: int or ``(K,)`` ints ``n_k`` (imbalance).
    alpha: scalar or ``(K,)`` within-cluster spreads α_k ≥ 0.
    beta: pairwise cosine of the means, in ``[−1/(K−1), 1)``; the theorems need β < 0.
    rank: rank of each within-cluster covariance (default ``d``).
    norm: norm of every mean.
    decay: the within-cluster standard deviations along the subspace's axes are
      ``decay**j``, j = 0..rank−1 (before the common rescaling); ``decay < 1`` gives
      distinct principal components with eigengaps, so Eq. (8)'s blocks are well defined.

  Returns:
    ``X (n, d)`` sorted by cluster, ``labels (n,)``, and a :class:`SeparableSpec`
    whose ``mixture.cov_factors`` are the rescaled factors the samples came from.
  """
  K = _checks.positive_int("K", K)
  d = _checks.positive_int("d", d)
  counts = tuple(_checks.positive_int(f"n_per_cluster[{k}]", c)
                 for k, c in enumerate(_checks.per_cluster("n_per_cluster", n_per_cluster, K)))
  _checks.real_floating("alpha", np.asarray(alpha))
  alphas = np.array([float(a) for a in _checks.per_cluster("alpha", alpha, K)])
  _checks.nonnegative("alpha", alphas)
  _checks.number("beta", beta)
  rank = d if rank is None else rank
  X, labels, factors, means = separable_mixture_arrays(key, d=d, counts=counts, alpha=jnp.asarray(alphas),
                                                       beta=beta, rank=rank, norm=norm, decay=decay)
  mixture = mixture_spec(means, factors, np.array(counts, float))
  a, b = separability(X, labels)
  return X, labels, SeparableSpec(mixture, counts, a, b)


def separable_mixture_arrays(key: jax.Array, *, d: int, counts: Sequence[int], alpha, beta, rank: int,
                             norm=1.0, decay: float = 1.0):
  """The array part of :func:`separable_mixture`, traceable in ``alpha``, ``beta`` and ``norm``.

  ``d``, ``counts``, ``rank`` and ``decay`` are static and always checked; ``alpha``, ``beta`` and
  ``norm`` are checked for shape and type always, for their values when concrete. ``jax.jit`` it with those
  bound (``functools.partial``) to draw many instances of one shape from one compilation, as
  ``sims.margin_check`` does. Same draws as :func:`separable_mixture` for the same key.

  Returns:
    ``X (n, d)``, ``labels (n,)``, the rescaled covariance factors ``(K, d, rank)`` and the
    means ``(K, d)``.
  """
  _checks.key("key", key)
  d, counts, rank, decay = _check_arrays_static(d, counts, rank, decay)
  K = len(counts)
  _checks.real_floating("alpha", alpha)
  if jnp.shape(alpha) not in ((), (1,), (K,)):
    raise ValueError(f"alpha must be a scalar or have K={K} entries, got shape {jnp.shape(alpha)}")
  _checks.nonnegative("alpha", alpha)
  _checks.number("beta", beta)
  alpha = jnp.broadcast_to(jnp.asarray(alpha), (K,))
  k_mean, k_basis, k_z = jax.random.split(key, 3)
  means = simplex_means(K, d, beta=beta, norm=norm, key=k_mean)
  axes_scale = decay ** jnp.arange(rank)
  bases = jnp.stack([random_orthogonal(k, d, rank) * axes_scale for k in jax.random.split(k_basis, K)])
  X_parts, factors = [], []
  for k, (n_k, z_key) in enumerate(zip(counts, jax.random.split(k_z, K))):
    dev = jax.random.normal(z_key, (n_k, rank)) @ bases[k].T
    dev = dev - dev.mean(axis=0)
    largest = jnp.max(jnp.linalg.norm(dev, axis=1))
    degenerate = (alpha[k] == 0.0) | (n_k == 1) | (largest == 0.0)
    scale = jnp.where(degenerate, 0.0, alpha[k] * norm / jnp.where(largest > 0, largest, 1.0))
    X_parts.append(means[k] + scale * dev)
    factors.append(scale * bases[k])
  labels = jnp.repeat(jnp.arange(K), np.array(counts), total_repeat_length=sum(counts))
  return jnp.concatenate(X_parts), labels, jnp.stack(factors), means


def _check_arrays_static(d, counts, rank, decay):
  """The static arguments of :func:`separable_mixture_arrays`: returns them as Python values."""
  d = _checks.positive_int("d", d)
  if counts is None or isinstance(counts, (str, bytes, dict)) or np.ndim(counts) != 1 or len(counts) == 0:
    raise TypeError(f"counts must be a non-empty sequence of positive integers, got {counts!r}")
  counts = tuple(_checks.positive_int(f"counts[{k}]", c) for k, c in enumerate(counts))
  rank = _checks.positive_int("rank", rank)
  if rank > d:
    raise ValueError(f"rank must be <= d={d}, got {rank}")
  _checks.scalar_positive("decay", decay)
  return d, counts, rank, decay


def locally_sparse(key: Array | None, *, n: int, d: int, beta: float | None = None,
                   norm: float = 1.0) -> Float[Array, "n d"]:
  """``n`` samples with equal pairwise cosine ``beta`` (default −1/(n−1)): Cor. 3.2's premise.

  Each sample is its own cluster, ``(0, β)``-separable (THEORY.md §2.3, Case 1).
  Requires ``d ≥ n`` and ``beta ∈ [−1/(n−1), 1)``; ``key=None`` skips the random rotation.
  Returns ``X (n, d)``.
  """
  _check_simplex(n, d, beta, norm, key, "n")
  return simplex_means(n, d, beta=beta, norm=norm, key=key)


def separability(X: Real[ArrayLike, "n d"], labels: Real[ArrayLike, " n"]) -> tuple[float, float]:
  """The tightest (α, β) of Def. 3.1 for a labelled dataset.

      α = max_{k,j} ‖x_kj − x̄_k‖ / ‖x̄_k‖,    β = max_{k≠l} cos(x̄_k, x̄_l).

  ``β = −inf`` for a single cluster (the condition is vacuous). Host function (numpy).

  Args:
    X: ``(n, d)`` data.
    labels: ``(n,)`` integer cluster ids.
  """
  X = np.asarray(_checks.matrix("X", X), np.float64)
  labels = _checks.integer_labels(X, labels)
  ids, inverse = np.unique(labels, return_inverse=True)
  means = np.stack([X[inverse == k].mean(axis=0) for k in range(len(ids))])
  norms = np.linalg.norm(means, axis=1)
  if np.any(norms == 0):
    raise ValueError(f"X: cluster(s) {ids[norms == 0].tolist()} have zero mean; Def. 3.1 is undefined")
  alpha = float(np.max(np.linalg.norm(X - means[inverse], axis=1) / norms[inverse]))
  if len(ids) < 2:
    return alpha, float("-inf")
  cos = (means @ means.T) / np.outer(norms, norms)
  beta = float(np.max(cos[~np.eye(len(ids), dtype=bool)]))
  return alpha, beta


def load_digits(*, center: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's bundled 8×8 digits (1797 images), scaled to [−1, 1], ``d = 64``.

  The pixel range 0..16 maps affinely to [−1, 1] as the official code maps images
  to [−1, 1]. With ``center=True`` the dataset's mean image is subtracted, which
  makes different digits negatively correlated (raw digits share a −1 background
  and are all positively correlated, so Cor. 3.2's premise fails on them).

  Returns:
    ``X (1797, 64)`` float32 and integer ``labels (1797,)`` (the digit classes).
  """
  center = _checks.boolean("center", center)
  from sklearn.datasets import load_digits as _load  # local import: sklearn is slow to import
  data = _load()
  X = (data.data / 8.0 - 1.0).astype(np.float32)
  if center:
    X = X - X.mean(axis=0)
  return X, data.target.astype(np.int32)


def negatively_correlated_subset(X: Real[ArrayLike, "n d"], m: int) -> tuple[Int[np.ndarray, " m"], float]:
  """Greedily picks ``m`` rows of ``X`` whose largest pairwise cosine is small.

  Starts from the most anti-correlated pair and repeatedly adds the row whose
  largest cosine with the chosen rows is smallest — our reproducible stand-in for
  the official code's hand-picked images "for strong separability". Host function.

  Returns:
    ``indices (m,)`` and the achieved largest pairwise cosine (β₁ of Cor. 3.2).
  """
  X = np.asarray(_checks.matrix("X", X), np.float64)
  m = _checks.positive_int("m", m)
  if m > X.shape[0]:
    raise ValueError(f"m must be <= n={X.shape[0]}, got {m}")
  norms = np.linalg.norm(X, axis=1, keepdims=True)
  if np.any(norms == 0):
    raise ValueError(f"X has zero rows {np.flatnonzero(norms[:, 0] == 0)[:10].tolist()}; their cosines are undefined")
  unit = X / norms
  cos = unit @ unit.T
  np.fill_diagonal(cos, np.inf)
  if m == 1:
    return np.array([0]), float("-inf")
  i, j = np.unravel_index(np.argmin(cos), cos.shape)
  chosen = [int(i), int(j)]
  worst = cos[:, chosen].max(axis=1)
  while len(chosen) < m:
    worst[chosen] = np.inf
    nxt = int(np.argmin(worst))
    chosen.append(nxt)
    worst = np.maximum(worst, cos[:, nxt])
  sub = cos[np.ix_(chosen, chosen)]
  return np.array(chosen), float(sub[~np.eye(m, dtype=bool)].max())
