"""Training objectives: Eq. (6) by Monte Carlo, and its exact noise averages.

Conventions (docs/THEORY.md §1): the data term is the mean over samples of the squared
error *summed over coordinates*; the penalty is ``lam * Σ_l ‖W_l‖_F²`` with tied
weights counted twice (W1 = W2 = W). Rows of ``X`` (shape ``(n, d)``) are samples.

Examples:
  >>> import jax, relu_dae as rd
  >>> key = jax.random.PRNGKey(0)
  >>> params = rd.model.init(key, d=4, p=3)
  >>> X = jax.random.normal(key, (5, 4))
  >>> float(rd.losses.dae_loss(params, X, key, sigma=0.1, lam=0.0)) > 0
  True
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from relu_dae import _checks
from relu_dae import model

__all__ = [
    "weight_penalty", "sample_noise", "dae_loss", "frozen_mask_loss", "linear_ae_loss",
]


def weight_penalty(params: model.Params) -> Float[Array, ""]:
  """``Σ_l ‖W_l‖_F²`` of Eq. (6): ``2‖W‖²`` for tied, ``‖W1‖² + ‖W2‖²`` for untied."""
  W1, W2 = model.weights(params)
  return jnp.sum(W1**2) + jnp.sum(W2**2)


def _weighted_mean(values: jax.Array, weights: jax.Array | None) -> jax.Array:
  """Mean over the last axis, optionally weighted (a 0/1 mask selects a subset)."""
  if weights is None:
    return jnp.mean(values)
  weights = jnp.broadcast_to(weights, values.shape)
  return jnp.sum(values * weights) / jnp.sum(weights)


def _check_common(params, X, sigma, lam, weights):
  """Validates the arguments shared by the losses; returns ``X`` (integers as float32)."""
  W1, _ = model.weights(params)
  X = _checks.matrix("X", X, ncols=W1.shape[0])
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)
  if weights is not None:
    _checks.sample_weights("weights", weights, X.shape[0])
  return X


def sample_noise(key: Array, n: int, num_noise: int, d: int, dtype=jnp.float32) -> Float[Array, "num_noise n d"]:
  """``ε (num_noise, n, d)`` with row i drawn from ``fold_in(key, i)``: a prefix-stable stream.

  The first ``m`` rows are the same for every ``n ≥ m``.
  """
  _checks.key("key", key)
  n = _checks.positive_int("n", n)
  num_noise = _checks.positive_int("num_noise", num_noise)
  d = _checks.positive_int("d", d)
  try:
    floating = dtype is not None and jnp.issubdtype(jnp.dtype(dtype), jnp.floating)
  except TypeError as e:
    raise TypeError(f"dtype must be a floating dtype, got {dtype!r}") from e
  if not floating:
    raise TypeError(f"dtype must be a floating dtype, got {dtype!r}")
  keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(n, dtype=jnp.uint32))
  eps = jax.vmap(lambda k: jax.random.normal(k, (num_noise, d), dtype))(keys)
  return jnp.swapaxes(eps, 0, 1)


def dae_loss(params: model.Params, X: Real[ArrayLike, "n d"], key: Array, sigma: Real[ArrayLike, ""],
             lam: Real[ArrayLike, ""], *, num_noise: int = 1,
             weights: Real[ArrayLike, " n"] | None = None, matmul_dtype: str | None = None) -> Float[Array, ""]:
  """Monte-Carlo estimate of the regularized DAE loss, Eq. (6).

      L = (1/n) Σ_i E_ε ‖f(x_i + σε) − x_i‖² + λ Σ_l ‖W_l‖_F²,

  with the expectation replaced by the mean over ``num_noise`` fresh draws of
  ``ε ~ N(0, I)`` per sample. The estimate is unbiased for Eq. (6).

  Sample i's noise depends only on ``(key, i)`` (:func:`sample_noise`), so padding
  ``X`` with zero-weight rows leaves the noise of the real samples unchanged — what
  lets a sweep train ragged sample counts on one padded pool.

  Args:
    params: model parameters (tied or untied), weights ``(d, p)``.
    X: training data ``(n, d)``.
    key: PRNG key for the noise.
    sigma: noise level σ ≥ 0.
    lam: weight decay λ ≥ 0.
    num_noise: number of noise draws per sample.
    weights: optional nonnegative per-sample weights ``(n,)``; the data term becomes
      the weighted mean (a 0/1 mask trains on a subset with static shapes).
    matmul_dtype: the network's matmuls in ``"bfloat16"`` with float32 accumulation, or
      ``None`` / ``"float32"`` (:func:`relu_dae.model.apply`); the rest stays float32.

  Returns:
    Scalar loss.
  """
  X = _check_common(params, X, sigma, lam, weights)
  _checks.key("key", key)
  num_noise = _checks.positive_int("num_noise", num_noise)
  model._matmul_dtype(matmul_dtype)
  eps = sample_noise(key, X.shape[0], num_noise, X.shape[1], jnp.result_type(X))
  err = jnp.sum((model.apply(params, X + sigma * eps, matmul_dtype=matmul_dtype) - X) ** 2, axis=-1)  # (noise, n)
  return _weighted_mean(err, weights) + lam * weight_penalty(params)


def frozen_mask_loss(params: model.Params, X: Real[ArrayLike, "n d"], sigma: Real[ArrayLike, ""],
                     lam: Real[ArrayLike, ""], *, weights: Real[ArrayLike, " n"] | None = None) -> Float[Array, ""]:
  """Eq. (6) with each sample's ReLU mask frozen at its noiseless value — exact in ε.

  For ``m_i = 1[W1ᵀ x_i > 0]`` and ``A_i = W2 diag(m_i) W1ᵀ``,

      L_frozen = (1/n) Σ_i ( ‖A_i x_i − x_i‖² + σ² ‖A_i‖_F² ) + λ Σ_l ‖W_l‖_F².

  This is the block decomposition of Thm D.2 without its residual: it equals Eq. (6)
  whenever no noise draw flips a mask, and differs from it by the mask-flip term
  ``ε(δ, σ, γ)`` otherwise. At σ = 0 it *is* Eq. (6). The analytic minima of
  ``relu_dae.minima`` are exact stationary points of this function.
  """
  X = _check_common(params, X, sigma, lam, weights)
  W1, W2 = model.weights(params)
  active = (X @ W1 > 0).astype(W1.dtype)  # (n, p)
  A_x = (X @ W1 * active) @ W2.T  # (n, d) = A_i x_i
  # ‖A_i‖_F² = Σ_{a,b} m_a m_b (W2ᵀW2)_{ab} (W1ᵀW1)_{ab}
  G = (W2.T @ W2) * (W1.T @ W1)
  frob = jnp.einsum("na,ab,nb->n", active, G, active)
  err = jnp.sum((A_x - X) ** 2, axis=-1) + sigma**2 * frob
  return _weighted_mean(err, weights) + lam * weight_penalty(params)


def linear_ae_loss(W2: Real[ArrayLike, "d p"], W1: Real[ArrayLike, "d p"], X: Real[ArrayLike, "n d"],
                   sigma: Real[ArrayLike, ""], lam: Real[ArrayLike, ""]) -> Float[Array, ""]:
  """Exact noise-averaged loss of the *linear* autoencoder ``x ↦ W2 W1ᵀ x`` (Lemma D.1).

      L_lin = (1/n) [ ‖W2 W1ᵀ Xᵀ − Xᵀ‖_F² + n σ² ‖W2 W1ᵀ‖_F² + nλ (‖W1‖_F² + ‖W2‖_F²) ]
            = (1/n) Σ_i E_ε ‖W2 W1ᵀ (x_i + σε) − x_i‖² + λ (‖W1‖_F² + ‖W2‖_F²).

  This is Lemma D.1's ``L̂_X`` with ``λ' = nλ``, divided by ``n``, i.e. exactly Eq. (6)
  for a network whose units are all active. Its global minimizers are
  ``W1 = W2 = W_X`` of Eq. (8) (``relu_dae.minima.cluster_block``).

  Args:
    W2, W1: weights ``(d, p)``.
    X: data ``(n, d)``.
    sigma, lam: noise level and weight decay (≥ 0).
  """
  W2, W1 = _checks.array("W2", W2), _checks.array("W1", W1)
  if jnp.ndim(W1) != 2 or jnp.shape(W1) != jnp.shape(W2):
    raise ValueError(f"W1 and W2 must be (d, p) of the same shape, got {jnp.shape(W1)} and {jnp.shape(W2)}")
  X = _checks.matrix("X", X, ncols=jnp.shape(W1)[0])
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)
  D = W2 @ W1.T
  data = jnp.sum((X @ D.T - X) ** 2) / X.shape[0]
  return data + sigma**2 * jnp.sum(D**2) + lam * (jnp.sum(W1**2) + jnp.sum(W2**2))
