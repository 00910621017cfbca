"""Argument validation shared by the public functions.

Every check raises ``ValueError`` that names the offending parameter. Value checks
(sign, finiteness) run only on concrete inputs, so the functions that call them stay
traceable under ``jit``/``vmap``; shape checks always run (shapes are static).
"""

from __future__ import annotations

import os

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


def _not_a_number(x) -> bool:
  return x is None or isinstance(x, (str, bytes, dict, list, tuple, set))


def positive_int(name: str, x) -> int:
  """A Python/numpy integer ``> 0`` (bools refused); ``TypeError`` for non-numbers."""
  if _not_a_number(x):
    raise TypeError(f"{name} must be a positive integer, got {x!r}")
  if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or x <= 0:
    raise ValueError(f"{name} must be a positive integer, got {x!r}")
  return int(x)


def number(name: str, x) -> None:
  """Raises ``TypeError`` unless ``x`` is a real scalar number (Python, numpy or 0-d array)."""
  if _not_a_number(x) or isinstance(x, (bool, np.bool_)):
    raise TypeError(f"{name} must be a real number, got {x!r}")
  if jnp.ndim(x) != 0:
    raise ValueError(f"{name} must be a scalar, got shape {jnp.shape(x)}")
  real_floating(name, x)


def in_range(name: str, x, lo: float, hi: float, *, closed: tuple[bool, bool] = (True, True)) -> None:
  """A real scalar in ``[lo, hi]`` (or open at an end per ``closed``), checked when concrete."""
  number(name, x)
  v = concrete(x)
  if v is None:
    return
  ok_lo = v >= lo if closed[0] else v > lo
  ok_hi = v <= hi if closed[1] else v < hi
  if not (np.isfinite(v) and ok_lo and ok_hi):
    brackets = ("[" if closed[0] else "(") + f"{lo}, {hi}" + ("]" if closed[1] else ")")
    raise ValueError(f"{name} must lie in {brackets}, got {v}")


# Data whose entries exceed this would overflow float32 in squared norms and Gram matrices.
MAX_ABS = 1e15


def real_kind(name: str, x) -> None:
  """Raises ``TypeError`` unless ``x`` is a real numeric array or number (not a bool, None, str,
  container, complex or object array)."""
  if isinstance(x, (bool, np.bool_)) or _not_a_number(x) or not (
      hasattr(x, "dtype") or isinstance(x, (int, float, np.generic))):
    raise TypeError(f"{name} must be an array, got {type(x).__name__}")
  real_floating(name, x)


def _real(name: str, x):
  """``x`` as a real array (lists converted, integers and bools as float32); ``TypeError`` otherwise."""
  if isinstance(x, (list, tuple)):
    try:
      x = np.asarray(x)
    except ValueError as e:  # ragged nesting
      raise ValueError(f"{name} must be a rectangular array, got a ragged {type(x).__name__}") from e
  real_kind(name, x)
  if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
    x = jnp.asarray(x, jnp.float32)
  return x


def _moderate(name: str, x) -> None:
  """Refuses finite entries above :data:`MAX_ABS` (when concrete)."""
  v = concrete(x)
  if v is not None and v.size:
    top = np.max(np.abs(np.where(np.isfinite(v), v, 0.0)))
    if top > MAX_ABS:
      raise ValueError(f"{name} has entries of magnitude {top:.3g} > {MAX_ABS:g}; rescale the data "
                       "(squared norms would overflow float32)")


def array(name: str, x, *, ndim: int | None = None):
  """Checks a real, finite array of moderate scale; returns it, integers and bools as float32.

  ``TypeError`` for non-arrays, strings and complex dtypes; ``ValueError`` for a wrong ``ndim``,
  non-finite entries, or entries above :data:`MAX_ABS` in absolute value (values checked only
  when concrete).
  """
  x = _real(name, x)
  if ndim is not None and jnp.ndim(x) != ndim:
    raise ValueError(f"{name} must be {ndim}-D, got shape {jnp.shape(x)}")
  finite(name, x)
  _moderate(name, x)
  return x


def real_array(name: str, x):
  """:func:`array` without the finiteness check: NaN/inf pass (for inputs where NaN has a documented
  meaning, e.g. a failed run's weights or scores); ``|x| <= MAX_ABS`` on the finite entries."""
  x = _real(name, x)
  _moderate(name, x)
  return x


def key(name: str, k) -> None:
  """Raises unless ``k`` is one PRNG key: typed (``jax.random.key``) or raw default-impl.

  ``TypeError`` for None, strings, dicts and lists; ``ValueError`` for arrays of another shape or dtype.
  """
  if _not_a_number(k):
    raise TypeError(f"{name} must be a PRNG key (jax.random.PRNGKey / jax.random.key), got {type(k).__name__}")
  try:
    dtype = jnp.result_type(k)
  except TypeError as e:
    raise TypeError(f"{name} must be a PRNG key (jax.random.PRNGKey / jax.random.key), got "
                    f"{type(k).__name__}") from e
  if jnp.issubdtype(dtype, jax.dtypes.prng_key):
    if jnp.ndim(k) != 0:
      raise ValueError(f"{name} must be a single PRNG key, got a batch of shape {jnp.shape(k)}")
    return
  raw_shape = jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape  # the default implementation's raw key
  if not (jnp.shape(k) == raw_shape and dtype == jnp.uint32):
    raise ValueError(f"{name} must be a PRNG key (jax.random.PRNGKey / jax.random.key), got "
                     f"shape {jnp.shape(k)}, dtype {dtype}")


def trailing_dim(name: str, x, size: int, symbol: str = "d") -> None:
  """Raises unless ``x`` has shape ``(..., size)``; names the parameter and the expected size."""
  if jnp.shape(x)[-1:] != (size,):
    raise ValueError(f"{name} must have trailing dimension {symbol}={size}, got shape {jnp.shape(x)}")


def finite(name: str, x) -> None:
  v = concrete(x)
  if v is not None and not np.all(np.isfinite(v)):
    raise ValueError(f"{name} contains non-finite values (NaN or inf)")


def matrix(name: str, x, *, ncols: int | None = None):
  """Checks a 2-D data matrix (rows are samples) with :func:`array`; returns it (ints as float32).

  ``TypeError`` first for the wrong kind of object (None, str, dict, complex or string arrays).
  """
  x = _real(name, x)
  if np.ndim(x) != 2:
    raise ValueError(f"{name} must be a 2-D array (n, d), got shape {np.shape(x)}")
  if ncols is not None and np.shape(x)[1] != ncols:
    raise ValueError(f"{name} must have {ncols} columns, got shape {np.shape(x)}")
  if np.shape(x)[0] == 0:
    raise ValueError(f"{name} must contain at least one row")
  return array(name, x)


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
  if getattr(x, "dtype", None) is not None and np.dtype(x.dtype).kind in "OUSV":
    raise TypeError(f"{name} must be a real array, got dtype {x.dtype}")
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
  number(name, x)
  nonnegative(name, x)
  _moderate(name, x)


def scalar_positive(name: str, x) -> None:
  """A positive finite scalar (checked when concrete); ``TypeError`` for non-numbers."""
  number(name, x)
  positive(name, x)
  _moderate(name, x)


def dae_params(name: str, p) -> tuple[int, int]:
  """Checks tied ``{"W"}`` / untied ``{"W1", "W2"}`` DAE params with real, finite 2-D weights; returns ``(d, p)``.

  ``TypeError`` for a non-mapping or non-array weights; otherwise as :func:`params` and :func:`array`.
  """
  if not hasattr(p, "keys"):
    raise TypeError(f"{name} must be a dict with key 'W' or keys 'W1','W2', got {type(p).__name__}")
  params(name, p)
  for k in p.keys():
    array(f"{name}[{k!r}]", p[k], ndim=2)
  return tuple(np.shape(p["W" if "W" in p else "W1"]))


def boolean(name: str, x) -> bool:
  """A Python or numpy bool; ``TypeError`` for anything else (strings, None, numbers)."""
  if not isinstance(x, (bool, np.bool_)):
    raise TypeError(f"{name} must be True or False, got {x!r}")
  return bool(x)


def integer_labels(X, y) -> np.ndarray:
  """Cluster ids for ``X (n, d)``: shape ``(n,)``, integer-valued (any real dtype); returns them as numpy.

  ``TypeError`` for None, strings, dicts and non-real dtypes; ``ValueError`` for a wrong shape or
  non-integer / non-finite values.
  """
  if y is None or isinstance(y, (str, bytes, dict, set)):
    raise TypeError(f"labels must be an integer array of shape (n,), got {type(y).__name__}")
  y = labels(X, y)
  real_floating("labels", y)
  if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
    raise ValueError(f"labels must be integer cluster ids, got non-integer values {y[y != np.round(y)][:5]}")
  return y


def weight_vector(name: str, w, size: int, symbol: str = "K"):
  """Mixing weights: a real ``(size,)`` array, finite, ``>= 0``, not all zero (values when concrete); returns it."""
  w = array(name, w)
  if jnp.shape(w) != (size,):
    raise ValueError(f"{name} must have shape ({symbol},)=({size},), got {jnp.shape(w)}")
  v = concrete(w)
  if v is not None and (np.any(v < 0) or not np.any(v > 0)):
    raise ValueError(f"{name} must be >= 0 and not all zero, got {v}")
  return w


def path(name: str, p) -> str:
  """A non-empty ``str`` / ``os.PathLike`` path, returned as ``str``; ``TypeError`` for anything else."""
  if not isinstance(p, (str, os.PathLike)) or not isinstance(os.fspath(p), str):
    raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(p).__name__}")
  if not os.fspath(p):
    raise ValueError(f"{name} must be a non-empty path")
  return os.fspath(p)


def output_file(name: str, p, *suffixes: str) -> str:
  """A :func:`path` a file can be written to (``p + suffix`` for each suffix, or ``p`` itself):
  not a directory, and its nearest existing ancestor is a directory, not a file."""
  p = path(name, p)
  if p.endswith(("/", os.sep)) or os.path.isdir(p):
    raise ValueError(f"{name} names a directory ({p!r}); give a file name inside it, e.g. os.path.join({p!r}, 'run')")
  for full in (p + s for s in suffixes):
    if os.path.isdir(full):
      raise ValueError(f"{name}: {full!r} is a directory, cannot write a file there")
  parent = os.path.dirname(os.path.abspath(p))
  while not os.path.exists(parent) and os.path.dirname(parent) != parent:
    parent = os.path.dirname(parent)  # the nearest existing ancestor
  if not os.path.isdir(parent):
    raise ValueError(f"{name}: {parent!r} is a file, not a directory, so {p!r} cannot be written")
  return p
