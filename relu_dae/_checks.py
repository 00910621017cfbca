"""Argument validation shared by the public functions.

Every check raises ``ValueError`` that names the offending parameter. Value checks
(sign, finiteness) run only on concrete inputs, so the functions that call them stay
traceable under ``jit``/``vmap``; shape checks always run (shapes are static).
"""

from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp


def concrete(x):
  """Returns ``x`` as a numpy array, or ``None`` if it is a tracer."""
  if isinstance(x, jax.core.Tracer):
    return None
  return np.asarray(x)


def nonnegative(name: str, x) -> None:
  v = concrete(x)
  if v is not None and (not np.all(np.isfinite(v)) or np.any(v < 0)):
    raise ValueError(f"{name} must be finite and >= 0, got {v}")


def positive(name: str, x) -> None:
  v = concrete(x)
  if v is not None and (not np.all(np.isfinite(v)) or np.any(v <= 0)):
    raise ValueError(f"{name} must be finite and > 0, got {v}")


def positive_int(name: str, x) -> int:
  if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or x <= 0:
    raise ValueError(f"{name} must be a positive integer, got {x!r}")
  return int(x)


def trailing_dim(name: str, x, size: int, symbol: str = "d") -> None:
  """Raises unless ``x`` has shape ``(..., size)``; names the parameter and the expected size."""
  if jnp.shape(x)[-1:] != (size,):
    raise ValueError(f"{name} must have trailing dimension {symbol}={size}, got shape {jnp.shape(x)}")


def finite(name: str, x) -> None:
  v = concrete(x)
  if v is not None and not np.all(np.isfinite(v)):
    raise ValueError(f"{name} contains non-finite values (NaN or inf)")


def matrix(name: str, x, *, ncols: int | None = None):
  """Checks a 2-D data matrix (rows are samples) and returns it unchanged."""
  if np.ndim(x) != 2:
    raise ValueError(f"{name} must be a 2-D array (n, d), got shape {np.shape(x)}")
  if ncols is not None and np.shape(x)[1] != ncols:
    raise ValueError(f"{name} must have {ncols} columns, got shape {np.shape(x)}")
  if np.shape(x)[0] == 0:
    raise ValueError(f"{name} must contain at least one row")
  finite(name, x)
  return x


def params(name: str, p) -> None:
  """Checks a tied ``{"W"}`` or untied ``{"W1", "W2"}`` parameter dict."""
  if not hasattr(p, "keys"):
    raise ValueError(f"{name} must be a dict with key 'W' or keys 'W1','W2', got {type(p)}")
  keys = set(p.keys())
  if keys == {"W"}:
    shapes = [np.shape(p["W"])]
  elif keys == {"W1", "W2"}:
    shapes = [np.shape(p["W1"]), np.shape(p["W2"])]
    if shapes[0] != shapes[1]:
      raise ValueError(f"{name}: W1 and W2 must have the same shape (d, p), got {shapes}")
  else:
    raise ValueError(f"{name} must have key 'W' (tied) or keys 'W1','W2' (untied), got {sorted(keys)}")
  if len(shapes[0]) != 2:
    raise ValueError(f"{name}: weights must be 2-D (d, p), got shape {shapes[0]}")


def per_cluster(name: str, value, K: int) -> list:
  """Broadcasts a scalar, or checks a length-K sequence; returns K Python scalars."""
  arr = np.atleast_1d(np.asarray(value))
  if arr.shape == (1,):
    arr = np.repeat(arr, K)
  if arr.shape != (K,):
    raise ValueError(f"{name} must be a scalar or have K={K} entries, got {value!r}")
  return arr.tolist()


def labels(X, y) -> np.ndarray:
  """Checks integer cluster ids ``y`` of shape ``(n,)`` for data ``X (n, d)``; returns them as numpy."""
  y = np.asarray(y)
  if y.shape != np.shape(X)[:1]:
    raise ValueError(f"labels must have shape (n,)={np.shape(X)[:1]}, got {y.shape}")
  return y


def real_floating(name: str, x) -> None:
  """Raises ``TypeError`` unless ``x`` is a real floating (or integer/bool) array; complex is refused."""
  dtype = jnp.result_type(x)
  if jnp.issubdtype(dtype, jnp.complexfloating) or not (
      jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer) or dtype == jnp.bool_):
    raise TypeError(f"{name} must be a real array, got dtype {dtype}")


def sample_weights(name: str, w, n: int) -> None:
  """Checks per-sample weights: shape ``(n,)``, finite, ``>= 0`` and not all zero (when concrete)."""
  if jnp.shape(w) != (n,):
    raise ValueError(f"{name} must have shape (n,)=({n},), got {jnp.shape(w)}")
  real_floating(name, w)
  v = concrete(w)
  if v is not None and (not np.all(np.isfinite(v)) or np.any(v < 0) or not np.any(v > 0)):
    raise ValueError(f"{name} must be finite, >= 0 and not all zero, got {v}")


def scalar_nonnegative(name: str, x) -> None:
  """A nonnegative finite scalar (checked when concrete); ``TypeError`` for non-numbers."""
  if isinstance(x, (str, bytes)) or x is None:
    raise TypeError(f"{name} must be a number, got {x!r}")
  if jnp.ndim(x) != 0:
    raise ValueError(f"{name} must be a scalar, got shape {jnp.shape(x)}")
  real_floating(name, x)
  nonnegative(name, x)
