"""The two-layer bias-free ReLU denoising autoencoder of Eq. (5).

    f(x) = W2 h(x),    h(x) = [W1ᵀ x]₊,    W1, W2 ∈ R^{d×p}.

Parameters are a dict: tied ``{"W": (d, p)}`` (W1 = W2 = W, the official code's
default and the form of every analytic minimum) or untied ``{"W1": (d, p),
"W2": (d, p)}`` (the paper's Eq. (5)). Inputs carry any leading batch axes:
``x`` has shape ``(..., d)``. Functions here are pure and ``jit``/``vmap``-safe.

Examples:
  >>> import jax, relu_dae as rd
  >>> params = rd.model.init(jax.random.PRNGKey(0), d=4, p=3)
  >>> rd.model.apply(params, jax.numpy.ones((2, 4))).shape
  (2, 4)
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from relu_dae import _checks

__all__ = [
    "Params", "MATMUL_DTYPES", "init", "weights", "is_tied", "preactivation", "represent", "apply", "decode",
    "jacobian",
]

Params = Mapping[str, Float[Array, "d p"]]
"""Tied ``{"W": (d, p)}`` or untied ``{"W1": (d, p), "W2": (d, p)}`` weights."""


def init(key: Array, d: int, p: int, *, tied: bool = True,
         scale: float | None = None) -> dict[str, Float[Array, "d p"]]:
  """Draws weights with i.i.d. N(0, scale²) entries.

  Args:
    key: PRNG key.
    d: data dimension.
    p: number of hidden units (representation dimension).
    tied: return ``{"W"}`` if True, else independent ``{"W1", "W2"}``.
    scale: entry standard deviation; default ``1/sqrt(d)``, the fan-in scale of
      PyTorch's default ``nn.Linear`` init used by the official code (which draws
      U(±1/√d) entries, of standard deviation 1/√(3d)).

  Returns:
    A parameter dict with arrays of shape ``(d, p)``.
  """
  _checks.key("key", key)
  d = _checks.positive_int("d", d)
  p = _checks.positive_int("p", p)
  tied = _checks.boolean("tied", tied)
  scale = d ** -0.5 if scale is None else scale
  _checks.scalar_positive("scale", scale)
  k1, k2 = jax.random.split(key)
  if tied:
    return {"W": scale * jax.random.normal(k1, (d, p))}
  return {"W1": scale * jax.random.normal(k1, (d, p)), "W2": scale * jax.random.normal(k2, (d, p))}


def _check_params(params) -> None:
  """Structure and dtype of ``params`` (always; traceable). Non-finite weights are allowed: a diverged
  run's params flow on to metrics that report NaN for them."""
  if not hasattr(params, "keys"):
    raise TypeError(f"params must be a dict with key 'W' or keys 'W1','W2', got {type(params).__name__}")
  for k in params.keys():
    w = params[k]
    if not hasattr(w, "dtype"):
      raise TypeError(f"params[{k!r}] must be an array (d, p), got {type(w).__name__}")
    _checks.real_floating(f"params[{k!r}]", w)
  _checks.params("params", params)


def _input(name: str, x, size: int, symbol: str):
  """A real array ``(..., size)``; integers as float32; finite and of moderate scale when concrete."""
  x = _checks.array(name, x)
  _checks.trailing_dim(name, x, size, symbol)
  return x


MATMUL_DTYPES = ("float32", "bfloat16")


def _matmul_dtype(matmul_dtype):
  """``None`` / ``"float32"`` (plain matmuls) or ``"bfloat16"``; the dtype to cast matmul inputs to, or None."""
  if matmul_dtype is None or (isinstance(matmul_dtype, str) and matmul_dtype == "float32"):
    return None
  if isinstance(matmul_dtype, str) and matmul_dtype == "bfloat16":
    return jnp.bfloat16
  raise ValueError(f"matmul_dtype must be one of {MATMUL_DTYPES} or None, got {matmul_dtype!r}")


def _matmul(a, b, matmul_dtype):
  """``a @ b``; with ``"bfloat16"`` the inputs are rounded to bf16 and the products accumulated in
  the inputs' own (float32) precision — mixed precision as accelerators run it."""
  cast = _matmul_dtype(matmul_dtype)
  if cast is None:
    return a @ b
  out = jnp.result_type(a, b)
  return jnp.matmul(a.astype(cast), b.astype(cast), preferred_element_type=out)


def weights(params: Params) -> tuple[Float[Array, "d p"], Float[Array, "d p"]]:
  """Returns ``(W1, W2)``; both are ``params["W"]`` for tied parameters."""
  _check_params(params)
  if "W" in params:
    return params["W"], params["W"]
  return params["W1"], params["W2"]


def is_tied(params: Params) -> bool:
  """True for tied parameters ``{"W"}`` (W1 = W2 = W), False for untied ``{"W1", "W2"}``."""
  _check_params(params)
  return "W" in params


def preactivation(params: Params, x: Real[ArrayLike, "*batch d"], *,
                  matmul_dtype: str | None = None) -> Float[Array, "*batch p"]:
  """The pre-activation ``W1ᵀ x`` of Eq. (5), shape ``(..., p)``; its sign pattern is the ReLU mask.

  ``matmul_dtype="bfloat16"`` rounds ``x`` and ``W1`` to bfloat16 and accumulates in float32
  (the output dtype does not change); ``None`` / ``"float32"``: a plain matmul.
  """
  W1, _ = weights(params)
  x = _input("x", x, W1.shape[0], "d")
  return _matmul(x, W1, matmul_dtype)


def represent(params: Params, x: Real[ArrayLike, "*batch d"], *,
              matmul_dtype: str | None = None) -> Float[Array, "*batch p"]:
  """The representation ``h(x) = [W1ᵀ x]₊`` of Eq. (5), shape ``(..., p)`` (``matmul_dtype``: :func:`preactivation`)."""
  return jax.nn.relu(preactivation(params, x, matmul_dtype=matmul_dtype))


def apply(params: Params, x: Real[ArrayLike, "*batch d"], *,
          matmul_dtype: str | None = None) -> Float[Array, "*batch d"]:
  """The denoiser ``f(x) = W2 [W1ᵀ x]₊`` of Eq. (5), shape ``(..., d)``.

  ``matmul_dtype="bfloat16"``: both matmuls take bfloat16 inputs and accumulate in float32
  (:func:`preactivation`), the mixed-precision option of :class:`relu_dae.train.TrainConfig`.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> params = init(jax.random.PRNGKey(0), d=8, p=4)
    >>> x = jnp.ones((2, 8))
    >>> full, mixed = apply(params, x), apply(params, x, matmul_dtype="bfloat16")
    >>> mixed.dtype, bool(jnp.abs(full - mixed).max() < 1e-2)
    (dtype('float32'), True)
  """
  _, W2 = weights(params)
  return _matmul(represent(params, x, matmul_dtype=matmul_dtype), W2.T, matmul_dtype)


def decode(params: Params, h: Real[ArrayLike, "*batch p"]) -> Float[Array, "*batch d"]:
  """The decoder ``g(h) = W2 h`` (used by representation steering, Eq. (11))."""
  _, W2 = weights(params)
  h = _input("h", h, W2.shape[1], "p")
  return h @ W2.T


def jacobian(params: Params, x: Real[ArrayLike, "*batch d"]) -> Float[Array, "*batch d d"]:
  """The input Jacobian ``∂f/∂x = W2 diag(1[W1ᵀx > 0]) W1ᵀ``, shape ``(..., d, d)``.

  Around a memorized training point it is rank one (∝ r_i² x_i x_iᵀ, Cor. 3.2);
  around a generalized one it is the rank-p_k block projector of Eq. (8) (THEORY.md §3.7).
  """
  W1, W2 = weights(params)
  active = (preactivation(params, x) > 0).astype(W1.dtype)  # (..., p)
  return (W2 * active[..., None, :]) @ W1.T
