"""Local-minimum certificates: gradient and Hessian of the exact frozen-mask loss (Thm D.2 without its residual).

For each sample the ReLU mask ``m_i = 1[W1ᵀx_i > 0]`` is frozen at its clean value, so the network
is affine in the noise and Eq. (6) averages in closed form (``losses.frozen_mask_loss``):

    L_frozen = (1/n) Σ_i ( ‖A_i x_i − x_i‖² + σ²‖A_i‖_F² ) + λ Σ_l ‖W_l‖_F²,   A_i = W2 diag(m_i) W1ᵀ.

Its gradient and dense Hessian at a point certify a local minimum of Eq. (6) on the event that no
mask flips (probability from :mod:`relu_dae.mask_flips`):

* :func:`frozen_derivatives` / :data:`frozen_derivatives_batch` — loss, gradient, Hessian (jit/vmap-able);
* :func:`stationarity` — one :class:`Certificate` (eigenvalues on the host);
* :func:`certify_batch` — the same for a batch of same-shape instances.

Params are tied ``{"W"}`` or untied ``{"W1", "W2"}`` of shape ``(d, p)``; data ``X`` are ``(n, d)``
(rows are samples). These names are also re-exported by :mod:`relu_dae.theory`.

Examples:
  >>> import jax.numpy as jnp, relu_dae as rd
  >>> X = jnp.array([[1.0, 0.0], [-1.0, 0.1]])
  >>> W = rd.minima.memorization(X, sigma=0.1, lam=0.0, p=2)
  >>> bool(stationarity({"W": W}, X, 0.1, 0.0).min_hessian_eig > -1e-6)
  True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, Float, Real

from relu_dae import _checks
from relu_dae import _theory_inputs as _inputs
from relu_dae import losses
from relu_dae import mask_flips
from relu_dae import model

__all__ = ["Certificate", "frozen_derivatives", "frozen_derivatives_batch", "stationarity", "certify_batch"]


class Certificate(NamedTuple):
  """Result of :func:`stationarity`."""
  grad_norm: jax.Array  # ‖∇L_frozen‖ over all parameters (Frobenius)
  rel_grad_norm: jax.Array  # ‖∇L‖ · ‖θ‖ / mean_i ‖x_i‖²  (dimensionless)
  min_hessian_eig: jax.Array
  max_hessian_eig: jax.Array
  mask_flip_bound: jax.Array  # max_i of the union bound mask_stability (per-sample P(any flip))
  loss: jax.Array  # L_frozen at the point
  hessian_eigs: jax.Array  # all eigenvalues, ascending (size = number of parameters)


def frozen_derivatives(params: model.Params, X: Float[ArrayLike, "n d"], sigma: Real[ArrayLike, ""],
                       lam: Real[ArrayLike, ""]) -> tuple[Float[Array, ""], Float[Array, " P"], Float[Array, "P P"]]:
  """Loss, gradient and dense Hessian of ``losses.frozen_mask_loss`` over the flattened parameters.

  The core of :func:`stationarity`, ``jit``- and ``vmap``-able over many instances of one
  shape (``sims.margin_check`` certifies a thousand constructed minima this way): shapes and
  dtypes are checked at trace time, values only when the inputs are concrete. Eigenvalues are left to the caller:
  batched ``eigh`` inside ``vmap`` can hang on CPU jaxlib, so take them on the host
  (``np.linalg.eigvalsh`` on the stacked Hessians).

  Args:
    params: ``{"W": (d, p)}`` or ``{"W1", "W2"}``; X: ``(n, d)``; sigma, lam: scalars.

  Returns:
    ``(loss (), grad (P,), hessian (P, P))``, P the number of parameters, in the order of
    ``jax.flatten_util.ravel_pytree(params)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> X = jnp.array([[1.0, 0.0]])
    >>> L, g, H = frozen_derivatives({"W": jnp.array([[1.0], [0.0]])}, X, 0.0, 0.0)
    >>> float(L), g.shape, H.shape   # f(x) = x: zero loss
    (0.0, (2,), (2, 2))
  """
  params, X = _inputs.validate_loss_args(params, X, sigma, lam)
  flat, unravel = ravel_pytree(params)
  f = lambda t: losses.frozen_mask_loss(unravel(t), X, sigma, lam)
  H = jax.hessian(f)(flat)
  return f(flat), jax.grad(f)(flat), (H + H.T) / 2


def _certificate(flat, X, W1, sigma, loss, grad, eigs) -> Certificate:
  gnorm = jnp.linalg.norm(grad)
  energy = jnp.mean(jnp.sum(X**2, axis=1))
  flip = jnp.max(mask_flips.mask_stability(X, W1, sigma))
  eigs = jnp.asarray(eigs)
  return Certificate(gnorm, gnorm * jnp.linalg.norm(flat) / energy, eigs[0], eigs[-1], flip, loss, eigs)


def stationarity(params: model.Params, X: Float[ArrayLike, "n d"], sigma: Real[ArrayLike, ""],
                 lam: Real[ArrayLike, ""]) -> Certificate:
  """Local-minimum certificate from the exact noise-averaged loss with frozen ReLU masks.

  The loss is :func:`relu_dae.losses.frozen_mask_loss` (Thm D.2's decomposition without its
  residual): for each sample the mask ``m_i = 1[W1ᵀx_i > 0]`` is frozen at its clean value,
  so ``f(x_i + σε) = A_i(x_i + σε)`` is linear in ε and
  ``E_ε‖A_i(x_i+σε) − x_i‖² = ‖A_i x_i − x_i‖² + σ²‖A_i‖_F²`` *exactly* (no quadrature). The
  gradient and the dense Hessian (:func:`frozen_derivatives`; meant for ``#params ≲ 2000``)
  of this function are those of Eq. (6) on the event that no mask flips,
  whose complement has probability at most ``mask_flip_bound`` per sample (Thm 3.1's residual
  event; :func:`relu_dae.mask_flips.mask_stability`). Masks are locally constant in W, so where no pre-activation
  is exactly 0 the frozen loss is locally the σ→noise-averaged loss restricted to those masks.

  ``rel_grad_norm = ‖∇L‖_F · ‖θ‖_F / mean_i‖x_i‖²``: it bounds the relative change of the
  loss, in units of the data energy (the loss of f = 0), per relative change of the weights
  (``|⟨∇L, θ⟩| ≤ ‖∇L‖‖θ‖``); invariant to jointly rescaling x, σ and √λ.

  Zero modes: the frozen loss of a block depends on ``W_k`` only through ``W_k W_kᵀ`` (all
  units of a block share the same masks), so the Hessian at ``W_gen`` has exact zero
  eigenvalues along the rotations ``W_k ↦ W_k O`` — ``p_k(p_k−1)/2`` per block when the masks
  are block-diagonal. Zero columns (``W_mem``'s padding) are inactive everywhere and carry
  only the penalty: eigenvalue ``2λ`` (tied: ``4λ``), i.e. 0 at λ = 0.

  Args:
    params: ``{"W": (d, p)}`` (tied) or ``{"W1", "W2"}`` (untied).
    X: data ``(n, d)``, not all zero; sigma, lam: σ ≥ 0, λ ≥ 0.

  Returns:
    :class:`Certificate`.

  Examples:
    >>> import jax.numpy as jnp, relu_dae as rd
    >>> X = jnp.array([[1.0, 0.0], [-1.0, 0.1]])
    >>> W = rd.minima.memorization(X, sigma=0.1, lam=0.0, p=2)
    >>> bool(stationarity({"W": W}, X, 0.1, 0.0).rel_grad_norm < 1e-5)
    True
  """
  params, X = _inputs.validate_loss_args(params, X, sigma, lam)
  _inputs.require_energy(X)
  W1 = _inputs.first_layer(params)
  loss, grad, H = _jit_frozen_derivatives(params, X, sigma, lam)
  return _certificate(ravel_pytree(params)[0], X, W1, sigma, loss, grad, np.linalg.eigvalsh(np.asarray(H)))


def certify_batch(params: Mapping[str, Float[Array, "B d p"]], X: Float[ArrayLike, "B n d"],
                  sigma: Real[ArrayLike, " B"], lam: Real[ArrayLike, " B"]) -> Certificate:
  """:func:`stationarity` for a batch of same-shape instances (leading axis B on every argument).

  Derivatives are ``jit(vmap(frozen_derivatives))``; the eigenvalues are taken on the host.
  Shapes, dtypes, X, sigma and lam are checked; the weights' values are not (an instance of
  NaN weights, one that could not be built, gives a NaN certificate).

  Args:
    params: ``{"W"}`` or ``{"W1", "W2"}`` of ``(B, d, p)`` weights; X: ``(B, n, d)``, no
    instance all zero; sigma, lam: ``(B,)``, ≥ 0.

  Returns:
    :class:`Certificate` whose fields carry the leading axis B.

  Examples:
    >>> import jax.numpy as jnp
    >>> X = jnp.array([[[1.0, 0.0]], [[2.0, 0.0]]])   # B = 2 instances of one sample
    >>> c = certify_batch({"W": jnp.array([[[1.0], [0.0]], [[1.0], [0.0]]])}, X, jnp.zeros(2), jnp.zeros(2))
    >>> c.loss.tolist(), c.hessian_eigs.shape   # f(x) = x: zero loss
    ([0.0, 0.0], (2, 2))
  """
  params, X, sigma, lam = _validate_batch(params, X, sigma, lam)
  loss, grad, H = frozen_derivatives_batch(params, X, sigma, lam)
  eigs = np.linalg.eigvalsh(np.asarray(H))
  flat = jax.vmap(lambda q: ravel_pytree(q)[0])(params)
  W1 = jax.vmap(lambda q: model.weights(q)[0])(params)
  return jax.vmap(_certificate)(flat, X, W1, sigma, loss, grad, eigs)


def _per_instance(name, v, B: int):
  v = _checks.array(name, v, ndim=1)
  if v.shape != (B,):
    raise ValueError(f"{name} must have shape (B,)=({B},), got {v.shape}")
  _checks.nonnegative(name, v)
  return v


def _validate_batch(params, X, sigma, lam):
  """The arguments of :func:`certify_batch`; returns them (integers as float32)."""
  params = _inputs.dae_params(params, batched=True)
  X = _checks.array("X", X, ndim=3)
  W1 = _inputs.first_layer(params)
  if X.shape[0] != W1.shape[0] or X.shape[2] != W1.shape[1] or 0 in X.shape[:2]:
    raise ValueError(f"X (B, n, d) and params (B, d, p) must share B and d, with B, n >= 1: got X of shape "
                     f"{X.shape} and weights {W1.shape}")
  _inputs.require_energy(X)
  return params, X, _per_instance("sigma", sigma, X.shape[0]), _per_instance("lam", lam, X.shape[0])


_jit_frozen_derivatives = jax.jit(frozen_derivatives)
frozen_derivatives_batch = jax.jit(jax.vmap(frozen_derivatives))
frozen_derivatives_batch.__doc__ = """``jit(vmap(frozen_derivatives))``: loss ``(B,)``, gradient ``(B, P)``,
Hessian ``(B, P, P)`` for a batch of same-shape instances (leading axis B on every argument);
eigen-decompose on the host."""

