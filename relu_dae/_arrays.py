"""Argument checks and small array helpers shared by the measurement modules (private).

``storage``, ``copies``, ``spikiness``, ``minima``'s traceable targets, ``denoisers`` and
``metrics`` all take weights ``W (d, p)``, sample pools ``X (N, d)`` with per-sample weights
``w (N,)`` and cluster labels; their checks live here once.
"""

from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp

from relu_dae import _checks


def unit(A: jax.Array, axis: int) -> jax.Array:
  """``A`` scaled to unit norm along ``axis`` (zero vectors stay zero)."""
  return A / jnp.maximum(jnp.linalg.norm(A, axis=axis, keepdims=True), 1e-12)


def weight_matrix(name: str, W, *, failed_ok: bool = False):
  """Checks a real ``(d, p)`` matrix with ``p ≥ 1`` columns; returns it (ints as float32).

  With ``failed_ok`` NaN/inf entries pass (a failed run's weights, NaN downstream).
  """
  W = _checks.real_array(name, W) if failed_ok else _checks.array(name, W)
  if jnp.ndim(W) != 2 or jnp.shape(W)[1] == 0:
    raise ValueError(f"{name} must be a 2-D (d, p) weight matrix with p >= 1 columns, got shape {jnp.shape(W)}")
  return W


def representations(h):
  """Checks representations ``h (..., p)``, ``p ≥ 1``; returns them (ints as float32)."""
  h = _checks.array("h", h)
  if jnp.ndim(h) < 1 or jnp.shape(h)[-1] == 0:
    raise ValueError(f"h must have shape (..., p) with p >= 1, got shape {jnp.shape(h)}")
  return h


def nan_unless_finite(W, value):
  """``value``, or NaN when ``W`` is not all finite (a failed run is NaN downstream, never 0)."""
  return jnp.where(jnp.all(jnp.isfinite(W)), value, jnp.nan)


def weights(X: jax.Array, w) -> jax.Array:
  """Checks a per-sample weight vector ``w (N,)`` for ``X (N, d)``; returns it in X's float dtype."""
  w = _checks.array("w", w)
  if jnp.shape(w) != jnp.shape(X)[:1]:
    raise ValueError(f"w must have shape (N,)={jnp.shape(X)[:1]} (one weight per row of X), got {jnp.shape(w)}")
  _checks.nonnegative("w", w)
  return jnp.asarray(w, jnp.result_type(X, jnp.float32))


def one_hot(X, labels, num_clusters: int) -> jax.Array:
  """Checks ``labels (N,)`` in ``0..K−1`` and returns the one-hot ``(N, K)`` in X's float dtype."""
  K = _checks.positive_int("num_clusters", num_clusters)
  if labels is None or isinstance(labels, (str, dict)):
    raise TypeError(f"labels must be an array of integer cluster ids, got {type(labels).__name__}")
  labels = jnp.asarray(labels) if isinstance(labels, (list, tuple)) else labels
  _checks.real_floating("labels", labels)
  if jnp.shape(labels) != jnp.shape(X)[:1]:
    raise ValueError(f"labels must have shape (N,)={jnp.shape(X)[:1]}, got {jnp.shape(labels)}")
  if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
    raise ValueError(f"labels must be integers in 0..num_clusters-1={K - 1}, got dtype {jnp.result_type(labels)}")
  v = _checks.concrete(labels)
  if v is not None and (np.any(v < 0) or np.any(v >= K)):
    raise ValueError(f"labels must be integers in 0..num_clusters-1={K - 1}, got {np.unique(v)}")
  return jax.nn.one_hot(labels, K, dtype=jnp.result_type(X, jnp.float32))


def sigma_lam(sigma, lam) -> None:
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)


def check_p_per_cluster(p_per_cluster, K: int):
  """Checks ``p_per_cluster``: an integer or ``(K,)`` integers ``≥ 0`` (values when concrete)."""
  if p_per_cluster is None or isinstance(p_per_cluster, (str, dict)):
    raise TypeError(f"p_per_cluster must be an integer or K={K} integers, got {p_per_cluster!r}")
  p = np.asarray(p_per_cluster) if isinstance(p_per_cluster, (list, tuple)) else p_per_cluster
  _checks.real_floating("p_per_cluster", p)
  if np.shape(p) not in ((), (K,)):
    raise ValueError(f"p_per_cluster must be a scalar or have shape (K,)=({K},), got shape {np.shape(p)}")
  v = _checks.concrete(p)
  if v is not None and not np.all(np.isfinite(v) & (v >= 0) & (v == np.round(v))):
    raise ValueError(f"p_per_cluster must be integers >= 0, got {v}")
  return p


def safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
  """``num / den`` where ``den > 0``, else 0 (no NaN in values or gradients)."""
  ok = den > 0
  return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)

