"""Argument checks shared by :mod:`relu_dae.margins`, :mod:`relu_dae.mask_flips`,
:mod:`relu_dae.certificates` and :mod:`relu_dae.moment_matching` (private).

Shapes and dtypes are always checked, so ``jit``/``vmap`` callers still trace; values are checked
when the inputs are concrete. Data ``X`` are ``(n, d)`` (rows are samples), weights ``(d, p)``.
"""

from __future__ import annotations

import numpy as np

import jax.numpy as jnp

from relu_dae import _checks

matrix = _checks.matrix


def typed(name, x, ndim: int):
  """A real array of ``ndim`` dimensions whose NaN/inf are not refused (a batch may hold unbuilt instances)."""
  x = _checks.real_array(name, x)
  if jnp.ndim(x) != ndim:
    raise ValueError(f"{name} must be {ndim}-D, got shape {jnp.shape(x)}")
  return x


def owner_ids(owner, p: int, ids) -> np.ndarray:
  """Each unit's owning cluster: integer ids of shape ``(p,)``, all among the labels' ``ids``."""
  a = np.asarray(_checks.array("owner", owner, ndim=1))
  if a.shape != (p,):
    raise ValueError(f"owner must have shape (p,)=({p},), got {a.shape}")
  if not np.all(np.isin(a, ids)):
    raise ValueError(f"owner must contain cluster ids from labels {np.asarray(ids).tolist()}, got {a.tolist()}")
  return np.asarray(owner)


def dae_params(params, *, batched: bool = False) -> dict:
  """Tied ``{"W"}`` / untied ``{"W1", "W2"}`` weights ``(d, p)``, real and finite; returned as float arrays.

  ``batched``: ``(B, d, p)`` leaves whose NaN/inf are not refused (an unbuilt instance may be NaN).
  """
  if not batched:
    _checks.dae_params("params", params)
    return {k: _checks.array(f"params[{k!r}]", v) for k, v in params.items()}  # integers as float32
  if not hasattr(params, "keys"):
    raise TypeError(f"params must be a dict {{'W'}} (tied) or {{'W1', 'W2'}} (untied), got {type(params).__name__}")
  if set(params.keys()) not in ({"W"}, {"W1", "W2"}):
    raise ValueError(f"params must have key 'W' (tied) or keys 'W1','W2' (untied), got {sorted(params.keys())}")
  out = {k: typed(f"params[{k!r}]", v, 3) for k, v in params.items()}
  if len({v.shape for v in out.values()}) != 1:
    raise ValueError(f"params: W1 and W2 must have the same shape (B, d, p), got {[v.shape for v in out.values()]}")
  return out


def first_layer(params):
  return params["W"] if "W" in params else params["W1"]


def data_for(params, X):
  """Data ``X (n, d)`` for weights ``(d, p)``; a mismatch names both shapes."""
  X = matrix("X", X)
  W1 = first_layer(params)
  if X.shape[1] != W1.shape[0]:
    raise ValueError(f"X (n, d) and params (d, p) must share d: got X of shape {X.shape} and weights {W1.shape}")
  return X


def validate_loss_args(params, X, sigma, lam):
  """The ``(params, X, sigma, lam)`` of the frozen-mask and moment-matched losses; returns params, X."""
  params = dae_params(params)
  X = data_for(params, X)
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)
  return params, X


def require_energy(X) -> None:
  """Every instance of ``X (n, d)`` or ``(B, n, d)`` has a nonzero sample (rel_grad_norm divides by it)."""
  v = _checks.concrete(X)
  if v is None:
    return
  zero = np.flatnonzero(~np.any(v.reshape(-1, v.shape[-2] * v.shape[-1]) != 0, axis=1))
  if zero.size:
    where = f" (instances {zero.tolist()})" if v.ndim == 3 else ""
    raise ValueError(f"X is all zero{where}: rel_grad_norm = |grad| |theta| / mean_i |x_i|^2 is undefined")


def check_eps(X, eps):
  """Noise draws ``eps (n, M, d)`` for data ``X (n, d)``, ``M ≥ 1``, real and finite."""
  eps = _checks.array("eps", eps, ndim=3)
  n, d = X.shape
  if eps.shape[0] != n or eps.shape[2] != d or eps.shape[1] == 0:
    raise ValueError(f"eps must have shape (n, M, d)=({n}, M, {d}) with M >= 1 for X of shape {X.shape}, "
                     f"got {eps.shape}")
  return eps


def check_xw(X, W):
  """Data ``X (n, d)`` and weights ``W (d, p)``; both returned (integers as float32)."""
  X = matrix("X", X)
  W = _checks.array("W", W)
  if jnp.ndim(W) != 2 or jnp.shape(W)[0] != X.shape[1]:
    raise ValueError(f"W must have shape (d, p) with d={X.shape[1]} (X has shape {X.shape}), got {jnp.shape(W)}")
  return X, W
