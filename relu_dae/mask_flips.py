"""Mask stability: the probability that noise flips a ReLU mask, the event behind Thm 3.1's residual.

For unit j and sample i, ``w_jᵀ(x_i + σε) ~ N(w_jᵀx_i, σ²‖w_j‖²)``, so the mask ``1[w_jᵀy > 0]``
of the noisy input differs from the clean one with probability ``Φ(−|w_jᵀx_i|/(σ‖w_j‖))``. On the
event that no mask flips, Eq. (6) equals the frozen-mask loss of Thm D.2's block decomposition
(``losses.frozen_mask_loss``); off it lies the residual ``‖R(σ,γ)‖² ≤ C e^{−cγ²/σ²}`` of Thm 3.1.

* :func:`mask_flip_probability` — the exact per-(sample, unit) flip probability;
* :func:`mask_stability` — the union bound on the probability that any unit of a sample flips;
* :func:`mask_stability_mc` — Monte-Carlo estimates of both (:class:`MaskFlipMC`).

Data ``X`` are ``(n, d)`` (rows are samples); weights ``W`` are ``(d, p)``. These names are also
re-exported by :mod:`relu_dae.theory`.

Examples:
  >>> import jax.numpy as jnp
  >>> X, W = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])  # unit 1 on its hyperplane
  >>> [round(v, 4) for v in mask_flip_probability(X, W, 1.0)[0].tolist()], round(float(mask_stability(X, W, 1.0)[0]), 4)
  ([0.1587, 0.5], 0.6587)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm as _norm
from jaxtyping import Array, ArrayLike, Float, Real

from relu_dae import _checks
from relu_dae import _theory_inputs as _inputs

__all__ = ["mask_flip_probability", "mask_stability", "MaskFlipMC", "mask_stability_mc"]


def mask_flip_probability(X: Float[ArrayLike, "n d"], W: Float[ArrayLike, "d p"],
                          sigma: Real[ArrayLike, ""]) -> Float[Array, "n p"]:
  """Exact probability that unit j's ReLU mask on ``x_i + σε`` differs from its mask on ``x_i``.

      P_ij = Φ(−|w_jᵀx_i| / (σ‖w_j‖)),   ε ~ N(0, I_d),

  because ``w_jᵀ(x_i + σε) ~ N(w_jᵀx_i, σ²‖w_j‖²)``. Zero columns never flip (their
  pre-activation is always 0, never > 0); σ = 0 gives 0. A point on the hyperplane gives ½,
  also for a σ > 0 so small that ``σ‖w_j‖`` underflows (the limit σ → 0⁺; 0 off the hyperplane).

  Args:
    X: ``(n, d)``; W: ``(d, p)``; sigma: σ ≥ 0.

  Returns:
    ``(n, p)`` probabilities.

  Examples:
    >>> import jax.numpy as jnp
    >>> P = mask_flip_probability(jnp.array([[1.0, 0.0]]), jnp.array([[2.0], [0.0]]), 1.0)
    >>> round(float(P[0, 0]), 4)  # Φ(−1)
    0.1587
  """
  X, W = _inputs.check_xw(X, W)
  _checks.scalar_nonnegative("sigma", sigma)
  norms = jnp.linalg.norm(W, axis=0)
  scale = sigma * norms
  pre = X @ W
  z = -jnp.abs(pre) / jnp.where(scale > 0, scale, 1.0)
  P = jnp.where(scale > 0, _norm.cdf(z), jnp.where(pre == 0, 0.5, 0.0))  # σ‖w_j‖ underflowed: σ → 0⁺
  return jnp.where((norms > 0) & (sigma > 0), P, 0.0)


def mask_stability(X: Float[ArrayLike, "n d"], W: Float[ArrayLike, "d p"],
                   sigma: Real[ArrayLike, ""]) -> Float[Array, " n"]:
  """Union bound on the probability that *any* unit's mask flips on ``x_i + σε``: ``min(1, Σ_j P_ij)``.

  ``P_ij`` from :func:`mask_flip_probability`. Returns ``(n,)``. This is the probability of
  the event on which the frozen-mask loss (Thm D.2's block decomposition) and Eq. (6) differ.

  Examples:
    >>> import jax.numpy as jnp
    >>> mask_stability(jnp.array([[1.0, 0.0]]), jnp.eye(2), 0.0).tolist()
    [0.0]
  """
  return jnp.minimum(1.0, jnp.sum(mask_flip_probability(X, W, sigma), axis=1))


class MaskFlipMC(NamedTuple):
  """Result of :func:`mask_stability_mc`."""
  any_flip: jax.Array  # (n,) fraction of draws where at least one unit flipped
  per_unit: jax.Array  # (n, p) fraction of draws where unit j flipped
  num_draws: int


def mask_stability_mc(key: jax.Array, X: Float[ArrayLike, "n d"], W: Float[ArrayLike, "d p"],
                      sigma: Real[ArrayLike, ""],
                      num_draws: int) -> MaskFlipMC:
  """Monte-Carlo estimate of the exact any-flip probability ``P(∃j: 1[w_jᵀ(x_i+σε)>0] ≠ 1[w_jᵀx_i>0])``.

  Also returns the per-(i, j) flip frequencies, unbiased estimates of
  :func:`mask_flip_probability` with binomial standard error ``sqrt(P(1−P)/num_draws)``.

  Args:
    key: PRNG key; X: ``(n, d)``; W: ``(d, p)``; sigma: σ ≥ 0; num_draws: draws per sample.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> mc = mask_stability_mc(jax.random.PRNGKey(0), jnp.array([[1.0, 0.0]]), jnp.eye(2), 0.0, 10)
    >>> mc.any_flip.tolist(), mc.per_unit.shape   # σ = 0: no draw flips
    ([0.0], (1, 2))
  """
  _checks.key("key", key)
  X, W = _inputs.check_xw(X, W)
  _checks.scalar_nonnegative("sigma", sigma)
  num_draws = _checks.positive_int("num_draws", num_draws)
  clean = X @ W > 0  # (n, p)

  def one(k):
    eps = jax.random.normal(k, X.shape, X.dtype)
    return ((X + sigma * eps) @ W > 0) != clean

  flips = jax.lax.map(one, jax.random.split(key, num_draws))  # (draws, n, p)
  flips = flips.astype(X.dtype)
  return MaskFlipMC(jnp.mean(jnp.max(flips, axis=2), axis=0), jnp.mean(flips, axis=0), num_draws)

