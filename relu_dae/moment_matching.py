"""Moment-matched noise: Eq. (6) without Monte-Carlo error on its frozen-mask part, and its L-BFGS refiner.

A network with frozen masks is affine in the noise ε, so the sample average of ``‖f(x + σε) − x‖²``
over draws whose mean is exactly 0 and covariance exactly I *equals* its expectation. With such
draws the averaged Eq. (6) differs from the frozen-mask loss (``losses.frozen_mask_loss``) only on
draws that flip a mask: Thm 3.1's residual ``R(σ, γ)``, isolated from sampling error.

* :func:`moment_matched_noise` — draws ``ε (n, M, d)`` with exact per-sample moments;
* :func:`moment_matched_loss` — Eq. (6) averaged over given draws;
* :func:`refine` — its nearby minimum by L-BFGS (:class:`Refined`), e.g. from a constructed W*.

Params are tied ``{"W"}`` or untied ``{"W1", "W2"}`` of shape ``(d, p)``; data ``X`` are ``(n, d)``
(rows are samples). These names are also re-exported by :mod:`relu_dae.theory`.

Examples:
  >>> import jax, jax.numpy as jnp
  >>> eps = moment_matched_noise(jax.random.PRNGKey(0), 2, 4, 2)
  >>> eps.shape, bool(jnp.abs(eps.mean(axis=1)).max() < 1e-6)
  ((2, 4, 2), True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float, Real

from relu_dae import _checks
from relu_dae import _theory_inputs as _inputs
from relu_dae import losses
from relu_dae import model

__all__ = ["moment_matched_noise", "moment_matched_loss", "Refined", "refine"]


def _float_dtype(dtype) -> None:
  try:
    dt = jnp.dtype(dtype)
  except TypeError as e:
    raise TypeError(f"dtype must be a floating dtype such as jnp.float32, got {dtype!r}") from e
  if not jnp.issubdtype(dt, jnp.floating):
    raise TypeError(f"dtype must be a real floating dtype, got {dt}")


def moment_matched_noise(key: jax.Array, n: int, num_draws: int, d: int, dtype=None) -> Float[Array, "n M d"]:
  """Noise draws ``ε (n, num_draws, d)`` whose per-sample mean is 0 and covariance exactly I.

  For each sample, ``G ~ N(0, I)`` of shape ``(M/2, d)`` is orthonormalised (``G = QR``) and
  ``ε = [E; −E]`` with ``E = √(M/2) Q``, so ``(1/M) Σ_m ε_m = 0`` and
  ``(1/M) Σ_m ε_m ε_mᵀ = I_d`` exactly (``M = num_draws``). A frozen-mask f is affine in ε, so
  the sample average of ``‖f(x+σε) − x‖²`` over these draws *equals* its expectation: the
  loss :func:`moment_matched_loss` differs from Eq. (6)'s frozen-mask part only on draws that
  flip a mask — Thm 3.1's residual, isolated from Monte-Carlo error. The QR runs on the host
  (numpy); the draws are a deterministic function of ``key``.

  Args:
    key: PRNG key; n: samples; num_draws: M, even, with ``M/2 ≥ d``; d: dimension;
    dtype: default the default float (float64 under x64, where the identities are exact to ~1e-15).

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> eps = moment_matched_noise(jax.random.PRNGKey(0), 1, 8, 3)
    >>> bool(abs(eps[0].T @ eps[0] / 8 - jnp.eye(3)).max() < 1e-5), bool(abs(eps[0].mean(0)).max() < 1e-6)
    (True, True)
  """
  _checks.key("key", key)
  n = _checks.positive_int("n", n)
  num_draws = _checks.positive_int("num_draws", num_draws)
  d = _checks.positive_int("d", d)
  if dtype is not None:
    _float_dtype(dtype)
  if num_draws % 2 or num_draws // 2 < d:
    raise ValueError(f"num_draws must be even and >= 2*d={2 * d} for an exact identity covariance, got {num_draws}")
  half = num_draws // 2
  G = np.asarray(jax.random.normal(key, (n, half, d), jnp.float32), np.float64)
  Q, R = np.linalg.qr(G)
  Q = Q * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]
  E = np.sqrt(half) * Q
  return jnp.asarray(np.concatenate([E, -E], axis=1), dtype or jnp.zeros(()).dtype)


def moment_matched_loss(params: model.Params, X: Float[ArrayLike, "n d"], eps: Float[ArrayLike, "n M d"],
                        sigma: Real[ArrayLike, ""], lam: Real[ArrayLike, ""]) -> Float[Array, ""]:
  """Eq. (6) averaged over given noise draws ``eps (n, M, d)`` (e.g. :func:`moment_matched_noise`).

      L = (1/n) Σ_i (1/M) Σ_m ‖f(x_i + σ ε_im) − x_i‖² + λ Σ_l ‖W_l‖_F².

  With moment-matched draws it equals ``losses.frozen_mask_loss`` wherever no draw flips a
  mask, so its minimizer near a constructed minimum W* is W* plus Thm 3.1's residual R(σ, γ)
  (up to the M-draw resolution of the flip probability). Pure and traceable: shapes and
  dtypes are checked at trace time, values when concrete.

  Examples:
    >>> import jax, jax.numpy as jnp, relu_dae as rd
    >>> X = jnp.array([[2.0, 0.0], [-2.0, 0.1]])
    >>> params = {"W": rd.minima.memorization(X, 0.1, 0.0, p=2)}
    >>> eps = moment_matched_noise(jax.random.PRNGKey(0), 2, 4, 2)
    >>> a = moment_matched_loss(params, X, eps, 0.1, 0.0)
    >>> b = rd.losses.frozen_mask_loss(params, X, 0.1, 0.0)
    >>> bool(abs(a - b) < 1e-6)   # σ far below the margin: no draw flips a mask
    True
  """
  params, X = _inputs.validate_loss_args(params, X, sigma, lam)
  eps = _inputs.check_eps(X, eps)
  Y = X[:, None, :] + sigma * eps
  err = jnp.sum((model.apply(params, Y) - X[:, None, :]) ** 2, axis=-1)  # (n, M)
  return jnp.mean(err) + lam * losses.weight_penalty(params)


class Refined(NamedTuple):
  """Result of :func:`refine`."""
  params: model.Params
  loss: jax.Array  # final moment-matched loss
  grad_norm: jax.Array  # its final gradient norm


def refine(params: model.Params, X: Float[ArrayLike, "n d"], eps: Float[ArrayLike, "n M d"], sigma: Real[ArrayLike, ""],
           lam: Real[ArrayLike, ""], *, steps: int = 300, memory_size: int = 10) -> Refined:
  """Minimizes :func:`moment_matched_loss` from ``params`` with L-BFGS (``optax.lbfgs``, zoom line search).

  Deterministic and full-batch, so it converges to the nearby minimum of the
  moment-matched loss to near machine precision (the loss is piecewise quadratic in the
  weights: quadratic between mask changes). ``jit``/``vmap``-able over instances
  (``steps``, ``memory_size`` static).

  Args:
    params: start (e.g. a perturbed constructed minimum); X: ``(n, d)``; eps: ``(n, M, d)``;
    sigma, lam: scalars ≥ 0; steps: L-BFGS iterations; memory_size: L-BFGS history (both ≥ 1).

  Examples:
    >>> import jax, jax.numpy as jnp, relu_dae as rd
    >>> X = jnp.array([[2.0, 0.0], [-2.0, 0.1]])
    >>> W = rd.minima.memorization(X, 0.1, 0.0, p=2)
    >>> eps = moment_matched_noise(jax.random.PRNGKey(0), 2, 4, 2)
    >>> out = refine({"W": 1.01 * W}, X, eps, 0.1, 0.0, steps=50)
    >>> bool(jnp.abs(out.params["W"] - W).max() < 1e-4)
    True
  """
  steps = _checks.positive_int("steps", steps)
  memory_size = _checks.positive_int("memory_size", memory_size)
  params, X = _inputs.validate_loss_args(params, X, sigma, lam)
  eps = _inputs.check_eps(X, eps)
  f = lambda q: moment_matched_loss(q, X, eps, sigma, lam)
  opt = optax.lbfgs(memory_size=memory_size)
  value_and_grad = optax.value_and_grad_from_state(f)

  def step(carry, _):
    q, state = carry
    value, grad = value_and_grad(q, state=state)
    updates, state = opt.update(grad, state, q, value=value, grad=grad, value_fn=f)
    return (optax.apply_updates(q, updates), state), None

  (q, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
  value, grad = jax.value_and_grad(f)(q)
  return Refined(q, value, optax.tree.norm(grad))

