"""Second-order test for a zero hidden unit: is the zero-padded ``W_mem`` (p > n) a saddle?

Cor. 3.2 pads ``W_mem`` of Eq. (9) with ``p − n`` zero columns. Growing one zero column of
the tied ``W (d, p)`` to ``εu`` (``‖u‖ = 1``, ``ε > 0``) adds the unit ``ε² u [uᵀy]₊`` to
``f(y) = W [Wᵀy]₊`` and leaves every other unit alone, so Eq. (6) changes *exactly* by

    L(εu) − L(0) = ε² [2 g(u) + 2λ] + ε⁴ q(u),    q(u) = (1/n) Σ_i E_ε [uᵀy_i]₊²,
    g(u) = (1/n) Σ_i E_ε [ (f(y_i) − x_i)ᵀu · [uᵀy_i]₊ ],    y_i = x_i + σε,

(the ``2λ`` is the tied penalty ``λ(‖εu‖² + ‖εu‖²)``; ``ε < 0`` is the direction ``−u``). The
padded point is a saddle along a new unit iff ``min_{‖u‖=1} 2g(u) + 2λ < 0``; the loss then
drops by ``(2g + 2λ)² / (4q)`` at the best ε. The frozen-mask certificates of
:mod:`relu_dae.theory` cannot see this: the new unit's own mask ``[uᵀy]₊`` flips on every draw.

Closed form (:func:`coefficient`) under the *frozen stored units* approximation (stored unit j
is active on ``y_i`` iff ``j = i``; accurate for well-separated, pairwise negatively correlated
samples at small σ): with ``w_i w_iᵀ = t_i x_i x_iᵀ / a_i``, ``a_i = ‖x_i‖²``,
``t_i = (a_i − nλ)/(a_i + σ²)`` (Eq. 9), ``c_i = uᵀx_i`` and ``Φ_i, φ_i`` the standard normal
cdf/pdf at ``c_i/σ``, Stein's lemma (``E[z h(z)] = E[h'(z)]``) gives

    g(u) = (1/n) Σ_i c_i [ (t_i − 1)(c_i Φ_i + σ φ_i) + t_i σ² c_i Φ_i / a_i ]
         = −λ Σ_i (c_i² / a_i) Φ_i − (σ/n) Σ_i (σ² + nλ) c_i φ_i / (a_i + σ²),

(second line: ``(t_i − 1) + t_i σ²/a_i = −nλ/a_i``). So ``g + λ = λ(1 − Σ_i cos²(u, x_i) Φ_i)``
minus a "soft" term that only samples with ``c_i`` of order σ feed. At λ = 0 it is
``−(σ³/n) Σ_i c_i φ_i / (a_i + σ²) < 0`` along ``c_i ≈ σ``: the padded ``W_mem`` is *always* a
saddle at λ = 0. For λ > 0, ``u = x̂_i`` (duplicating a stored unit, a rescaling symmetry) has
``g + λ ≈ 0``, and the worst directions are ``x̂_i`` tilted by an angle θ until one or a few
other samples reach ``c_j ≈ σ``: the tilt costs ``2λ sin²θ``, each such sample pays
``~σ⁴φ(1)/(n a_j)``, so λ* grows as the correlations ``x̂_iᵀx_j`` approach 0. For general tied
params the same lemma with frozen masks ``m_i = 1[Wᵀx_i > 0]``, ``A_i = W diag(m_i) Wᵀ`` gives
``(1/n) Σ_i [b_i (c_iΦ_i + σφ_i) + σ² (uᵀA_i u) Φ_i]``, ``b_i = uᵀ(A_i x_i − x_i)``, which
:func:`coefficient_mc` uses as its control variate.

Shapes: data ``X (n, d)`` (rows are samples), directions ``u (d,)`` or a batch ``(m, d)``,
weights ``(d, p)``. Every function here normalizes ``u`` itself (``g`` is a function of the
direction ``u/‖u‖``) and needs σ > 0. Use float64 for :func:`passes` and :func:`threshold`:
the margin along ``x̂_i`` is a difference of O(λ) terms.

Examples:
  >>> import jax, jax.numpy as jnp
  >>> from relu_dae import unit_birth
  >>> X = jnp.array([[2.0, -1.0, 0.0], [-1.0, 2.0, 0.0]])
  >>> bool(unit_birth.coefficient(jnp.array([1.0, 1.0, 1.0]), X, sigma=0.3, lam=0.0) < 0)
  True
  >>> unit_birth.passes(X, 0.3, 0.0, jax.random.PRNGKey(0))  # a saddle at λ = 0
  False
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm as _norm

from relu_dae import _checks
from relu_dae import losses
from relu_dae import minima
from relu_dae import model

__all__ = ["Estimate", "Worst", "Curvature", "coefficient", "coefficient_mc", "initial_directions",
           "worst_direction", "curvature", "passes", "threshold"]


class Estimate(NamedTuple):
  """A Monte-Carlo estimate of ``g(u)``: ``mean`` and its standard error ``stderr``, shape ``()`` or ``(m,)``."""
  mean: jax.Array
  stderr: jax.Array


class Worst(NamedTuple):
  """The minimum found of ``g`` over the unit sphere: value ``g`` and unit direction ``u (d,)``."""
  g: jax.Array
  u: jax.Array


class Curvature(NamedTuple):
  """``value = 2 min_u g(u) + 2λ`` (≥ 0: no new-unit saddle), the minimal ``g`` and its ``u (d,)``."""
  value: jax.Array
  g: jax.Array
  u: jax.Array


# ----------------------------------------------------------------------------- validation


def _check_data(X, sigma, lam=None):
  X = _checks.matrix("X", X)
  v = _checks.concrete(X)
  if v is not None and np.any(np.sum(v.astype(np.float64) ** 2, axis=-1) == 0):
    raise ValueError("X must have nonzero rows (each sample is stored by one unit of W_mem)")
  _checks.scalar_positive("sigma", sigma)
  if lam is not None:
    _checks.scalar_nonnegative("lam", lam)
    minima.memorization_scales(X, sigma, lam)  # raises unless n*lam < min_i ||x_i||^2
  return X


def _check_u(u, d: int):
  u = _checks.array("u", u)
  if jnp.ndim(u) not in (1, 2):
    raise ValueError(f"u must be a direction (d,) or a batch (m, d), got shape {jnp.shape(u)}")
  _checks.trailing_dim("u", u, d)
  v = _checks.concrete(u)
  if v is not None and np.any(np.linalg.norm(np.atleast_2d(v), axis=-1) == 0):
    raise ValueError("u must have nonzero rows (a direction is normalized to unit length)")
  return u


def _check_search(starts, steps):
  return _checks.positive_int("starts", starts), _checks.positive_int("steps", steps)


# ----------------------------------------------------------------------------- closed forms


def _unit(U):
  return U / jnp.linalg.norm(U, axis=-1, keepdims=True)


def _g_mem(U, X, sigma, lam):
  """The closed form at ``W_mem`` (second, stable line); ``U (m, d)`` unit rows → ``(m,)``. Unchecked."""
  a = jnp.sum(X**2, axis=-1)
  c = U @ X.T  # (m, n)
  cdf, pdf = _norm.cdf(c / sigma), _norm.pdf(c / sigma)
  soft = sigma * jnp.mean((sigma**2 + X.shape[0] * lam) * c * pdf / (a + sigma**2), axis=-1)
  return -lam * jnp.sum(c**2 * cdf / a, axis=-1) - soft


def _g_frozen(U, X, W, sigma):
  """The frozen-mask closed form for tied ``W (d, p)``; ``U (m, d)`` unit rows → ``(m,)``. Unchecked."""
  pre = X @ W  # (n, p)
  mask = (pre > 0).astype(W.dtype)
  c = U @ X.T  # (m, n)
  V = U @ W  # (m, p): w_jᵀu
  b = jnp.einsum("np,mp->mn", pre * mask, V) - c  # uᵀ(A_i x_i − x_i)
  quad = (V**2) @ mask.T  # (m, n): uᵀ A_i u
  cdf = _norm.cdf(c / sigma)
  return jnp.mean(b * (c * cdf + sigma * _norm.pdf(c / sigma)) + sigma**2 * quad * cdf, axis=-1)


def coefficient(u, X: jax.Array, sigma, lam) -> jax.Array:
  """Closed-form ``g(u)`` at the padded ``W_mem`` of Eq. (9), frozen stored units (module docstring).

      g(u) = −λ Σ_i (c_i²/a_i) Φ(c_i/σ) − (σ/n) Σ_i (σ² + nλ) c_i φ(c_i/σ) / (a_i + σ²),

  ``c_i = ûᵀx_i``, ``a_i = ‖x_i‖²``, ``û = u/‖u‖`` (any nonzero ``u`` is normalized here).

  Args:
    u: direction ``(d,)`` or batch ``(m, d)``.
    X: training samples ``(n, d)``.
    sigma: noise level σ > 0.
    lam: weight decay λ ≥ 0 with ``nλ < min_i ‖x_i‖²`` (enters through ``t_i`` of Eq. 9).

  Returns:
    ``g`` of shape ``()`` or ``(m,)``.
  """
  X = _check_data(X, sigma, lam)
  u = _check_u(u, X.shape[1])
  g = _g_mem(_unit(jnp.atleast_2d(u)), X, sigma, lam)
  return g if jnp.ndim(u) == 2 else g[0]


# ----------------------------------------------------------------------------- Monte Carlo


@functools.partial(jax.jit, static_argnames=("num_draws", "control_variate"))
def _mc(W, X, sigma, U, key, num_draws, control_variate):
  eps = losses.sample_noise(key, X.shape[0], num_draws, X.shape[1], jnp.result_type(X))
  Y = X + sigma * eps  # (K, n, d)
  act = jax.nn.relu(Y @ U.T)  # (K, n, m): the new unit's [uᵀy]₊
  per_draw = jnp.mean((model.apply({"W": W}, Y) - X) @ U.T * act, axis=1)  # (K, m)
  if control_variate:
    frozen = ((Y @ W) * (X @ W > 0)) @ W.T - X  # A_i y − x_i with the noiseless masks
    per_draw = per_draw - jnp.mean(frozen @ U.T * act, axis=1) + _g_frozen(U, X, W, sigma)
  return per_draw.mean(0), per_draw.std(0, ddof=1) / np.sqrt(num_draws)


def coefficient_mc(params: model.Params, X: jax.Array, sigma, u, key: jax.Array, num_draws: int, *,
                   control_variate: bool = True) -> Estimate:
  """``g(u)`` for any tied ``params`` by Monte Carlo with the real network (no frozen masks).

      g(u) = (1/n) Σ_i E_ε [ (f(y_i) − x_i)ᵀû · [ûᵀy_i]₊ ],  y_i = x_i + σε,  û = u/‖u‖,

  half the ε² coefficient (penalty excluded) of appending the unit ``εû`` to ``W`` or growing
  one of its zero columns. The noise is :func:`relu_dae.losses.sample_noise`'s stream, shared
  by every row of ``u`` (common random numbers) and identical to the draws of
  ``losses.dae_loss(params, X, key, sigma, lam, num_noise=num_draws)``. With
  ``control_variate`` (default) the estimate is ``g_frozen + mean_k(G_k − G_k^frozen)``, where
  ``G^frozen`` uses the noiseless masks of the existing units and ``g_frozen`` is its exact mean
  (module docstring): still unbiased, with a variance that only mask flips of the existing
  units produce (orders of magnitude smaller). Memory ``O(num_draws · n · (d + m))``.

  Args:
    params: tied parameters ``{"W": (d, p)}``.
    X: training samples ``(n, d)``.
    sigma: noise level σ > 0.
    u: direction ``(d,)`` or batch ``(m, d)`` (normalized here).
    key: PRNG key for the noise.
    num_draws: noise draws per sample, ≥ 2.
    control_variate: subtract the frozen-mask control variate (False: the plain average,
      the number that ``dae_loss`` differences give).

  Returns:
    :class:`Estimate` with ``mean`` and ``stderr`` of shape ``()`` or ``(m,)``.
  """
  d, _ = _checks.dae_params("params", params)
  if "W" not in params:
    raise ValueError("params must be tied {'W': (d, p)}: a new unit εu enters W1 and W2 together")
  X = _checks.matrix("X", X, ncols=d)
  _checks.scalar_positive("sigma", sigma)
  u = _check_u(u, d)
  _checks.key("key", key)
  num_draws = _checks.positive_int("num_draws", num_draws)
  if num_draws < 2:
    raise ValueError(f"num_draws must be >= 2 for a standard error, got {num_draws}")
  if not isinstance(control_variate, (bool, np.bool_)):
    raise TypeError(f"control_variate must be a bool, got {control_variate!r}")
  W = jnp.asarray(params["W"], jnp.result_type(X))
  U = _unit(jnp.atleast_2d(u)).astype(W.dtype)
  mean, se = _mc(W, X, sigma, U, key, num_draws, bool(control_variate))
  return Estimate(mean, se) if jnp.ndim(u) == 2 else Estimate(mean[0], se[0])


# ----------------------------------------------------------------------------- the worst direction


def _soft_starts(X, sigma, key):
  """Least-norm u with ``Xu`` nearest ``σ·1`` and ``σ(1 − n e_i)``, topped up to unit norm off range(Xᵀ)."""
  n, d = X.shape
  targets = sigma * jnp.concatenate([jnp.ones((1, n), X.dtype), 1.0 - n * jnp.eye(n, dtype=X.dtype)])
  U0 = jnp.linalg.lstsq(X, targets.T)[0].T  # (n + 1, d)
  _, s, Vt = jnp.linalg.svd(X, full_matrices=True)  # Vt (d, d)
  in_range = jnp.zeros(d, bool).at[: s.shape[0]].set(s > 1e-6 * s[0])
  z = jax.random.normal(key, (n + 1, d), X.dtype)
  null = z - (z @ Vt.T * in_range) @ Vt  # ⊥ every x_i (zero when rank X = d)
  null_norm = jnp.linalg.norm(null, axis=-1, keepdims=True)
  null = null / jnp.where(null_norm > 0, null_norm, 1.0)
  r = jnp.linalg.norm(U0, axis=-1, keepdims=True)
  topped = U0 + jnp.sqrt(jnp.clip(1.0 - r**2, 0.0)) * null
  return jnp.where((r < 1.0) & (null_norm > 1e-6 * jnp.linalg.norm(z, axis=-1, keepdims=True)),
                   topped, U0 / jnp.where(r > 0, r, 1.0))


def _least_norm(X, M, t):
  """The least-norm u with ``x_iᵀu = t_i`` for the samples in the mask ``M (n,)`` (pseudo-inverse)."""
  G = X @ X.T
  Gm = jnp.where(M[:, None] & M[None, :], G, 0.0) + jnp.diag(jnp.where(M, 0.0, 1.0))
  return X.T @ (jnp.linalg.pinv(Gm, hermitian=True) @ jnp.where(M, t, 0.0))


def _host_starts(X, sigma):
  """Host i nearly duplicated, its k cheapest partners at ``c_j = σ``, for every (i, k): ``(n², d)``.

  Partner j's price is the tilt ``sin²θ_ij`` that brings ``ûᵀx_j`` from ``x̂_iᵀx_j`` to σ (what the
  penalty charges, ``2λ sin²θ``) over its soft gain ``∝ 1/(a_j + σ²)``.
  """
  n = X.shape[0]
  R = jnp.linalg.norm(X, axis=-1)
  b = (X / R[:, None]) @ X.T  # (i, j): x̂_iᵀx_j
  h = jnp.sqrt(jnp.clip(R[None, :] ** 2 - b**2, 0.0))  # |component of x_j ⊥ x_i|
  tilt = jnp.arctan2(h, b) - jnp.arccos(jnp.clip(sigma / R[None, :], -1.0, 1.0))  # x̂_i → ûᵀx_j = σ
  price = jnp.where(jnp.eye(n, dtype=bool), jnp.inf, jnp.sin(tilt) ** 2 * (R[None, :] ** 2 + sigma**2))
  rank = jnp.argsort(jnp.argsort(price, axis=1), axis=1)  # rank[i, j]: place of j among i's partners

  def one(i, k):
    M = (rank[i] < k) | (jnp.arange(n) == i)
    u0 = _least_norm(X, M, jnp.where(jnp.arange(n) == i, 0.0, sigma))
    v = _least_norm(X, M, (jnp.arange(n) == i).astype(X.dtype))
    uv, vv, uu = u0 @ v, v @ v, u0 @ u0
    disc = jnp.clip(uv**2 + vv * (1.0 - uu), 0.0)
    u = u0 + jnp.clip((-uv + jnp.sqrt(disc)) / vv, 0.0) * v  # c_i as large as the unit norm allows
    return u / jnp.linalg.norm(u)

  i, k = jnp.meshgrid(jnp.arange(n), jnp.arange(n), indexing="ij")
  return jax.vmap(one)(i.ravel(), k.ravel())


def initial_directions(X: jax.Array, sigma, key: jax.Array, starts: int) -> jax.Array:
  """Unit starting directions ``(n + 1 + n² + starts, d)`` for :func:`worst_direction`.

  Informed ones first. *Soft* (the worst directions at small λ): the least-norm u with ``Xu``
  nearest ``σ·1`` (at λ = 0 each term of g is smallest at ``c_i = σ``) and ``σ(1 − n e_i)``,
  i = 1..n (``c_i = σ`` but for one sample pushed far negative; feasible when ``Σ x_i = 0``, as
  for a regular simplex), topped up to unit norm along a random direction orthogonal to every
  sample when ``d > rank X``, else normalized. *Hosted* (the worst directions near λ*): for
  each sample i and k = 0..n−1, ``c_j = σ`` on i's k cheapest partners and ``c_i`` as large as
  the unit norm allows (k = 0 is ``x̂_i``, a duplicate of stored unit i). Then ``starts``
  Gaussian random directions.
  """
  X = _check_data(X, sigma)
  _checks.key("key", key)
  starts = _checks.positive_int("starts", starts)
  return _initial(X, jnp.asarray(sigma, X.dtype), key, starts)


@functools.partial(jax.jit, static_argnames="starts")
def _initial(X, sigma, key, starts):
  k_soft, k_rand = jax.random.split(key)
  parts = [_soft_starts(X, sigma, k_soft), _host_starts(X, sigma)]
  parts.append(_unit(jax.random.normal(k_rand, (starts, X.shape[1]), X.dtype)))
  return jnp.concatenate(parts)


@functools.partial(jax.jit, static_argnames="steps")
def _descend(U0, X, sigma, lam, steps):
  """Monotone projected (geodesic) gradient descent of g from each row of ``U0``; adaptive angle."""
  g = lambda u: _g_mem(_unit(u[None]), X, sigma, lam)[0]

  def one(u0):
    def body(state, _):
      u, gu, angle = state
      grad = jax.grad(g)(u)  # tangent at a unit u: g is homogeneous of degree 0
      gn = jnp.linalg.norm(grad)
      cand = _unit(u * jnp.cos(angle) - grad / jnp.where(gn > 0, gn, 1.0) * jnp.sin(angle))
      gc = g(cand)
      better = gc < gu
      return (jnp.where(better, cand, u), jnp.where(better, gc, gu),
              jnp.where(better, jnp.minimum(1.5 * angle, 1.0), 0.5 * angle)), None

    (u, gu, _), _ = jax.lax.scan(body, (u0, g(u0), jnp.asarray(0.1, u0.dtype)), None, steps)
    return gu, u

  gs, us = jax.vmap(one)(U0)
  best = jnp.argmin(gs)
  return gs[best], us[best]


def worst_direction(X: jax.Array, sigma, lam, key: jax.Array, *, starts: int = 8, steps: int = 300) -> Worst:
  """Minimizes the closed-form ``g`` (:func:`coefficient`) over the unit sphere.

  Projected gradient descent with ``jax.grad`` from every :func:`initial_directions` row:
  ``steps`` geodesic moves along ``−grad g`` whose angle grows ×1.5 when the move lowers g and
  is halved (the move refused) when not, so every run descends monotonically. A local search:
  the returned g is an upper bound on the minimum (tests/test_unit_birth.py checks it against
  a dense random search).

  Args:
    X: training samples ``(n, d)``.
    sigma: noise level σ > 0.
    lam: weight decay λ ≥ 0 (``nλ < min_i ‖x_i‖²``).
    key: PRNG key for the random starts.
    starts: number of random starts (besides the informed ones).
    steps: descent steps per start.

  Returns:
    :class:`Worst` ``(g, u)`` with ``u (d,)`` a unit vector.
  """
  X = _check_data(X, sigma, lam)
  starts, steps = _check_search(starts, steps)
  U0 = initial_directions(X, sigma, key, starts)
  return Worst(*_descend(U0, X, jnp.asarray(sigma, X.dtype), jnp.asarray(lam, X.dtype), steps))


# ----------------------------------------------------------------------------- the test and λ*


def curvature(X: jax.Array, sigma, lam, key: jax.Array, *, starts: int = 8,
              steps: int = 300) -> Curvature:
  """``2 min_u g(u) + 2λ``, the ε² coefficient of ``L(εu) − L(0)`` along the worst new unit.

  ``value ≥ 0``: no new unit lowers Eq. (6) at order ε² at the padded ``W_mem`` (frozen
  stored units); ``value < 0``: a saddle, and ``u`` grows a unit that lowers the loss. Arguments
  as :func:`worst_direction`.
  """
  worst = worst_direction(X, sigma, lam, key, starts=starts, steps=steps)
  return Curvature(2 * worst.g + 2 * lam, worst.g, worst.u)


def _tolerance(X, lam):
  """Rounding allowance for the O(λ) cancellation along ``x̂_i``: ``1024 · eps(dtype) · λ``."""
  return 1024 * float(jnp.finfo(jnp.result_type(X)).eps) * float(lam)


def passes(X: jax.Array, sigma, lam, key: jax.Array, *, p: int | None = None, starts: int = 8,
           steps: int = 300) -> bool:
  """The second-order test for a new unit at ``W_mem`` padded to ``p`` columns (Cor. 3.2).

  True when ``2 min_u g(u) + 2λ ≥ −tol`` (:func:`curvature`; ``tol = 1024 · eps(dtype) · λ``
  absorbs the rounding of the exact cancellation along ``u = x̂_i``). ``p = n`` has no zero
  column and passes trivially; ``p=None`` means ``p > n``. Other arguments as
  :func:`worst_direction`.
  """
  X = _check_data(X, sigma, lam)
  if p is not None:
    p = _checks.positive_int("p", p)
    if p < X.shape[0]:
      raise ValueError(f"p must be >= n={X.shape[0]} (W_mem stores every sample), got p={p}")
    if p == X.shape[0]:
      return True
  value = curvature(X, sigma, lam, key, starts=starts, steps=steps).value
  return bool(value >= -_tolerance(X, lam))


def threshold(X: jax.Array, sigma, key: jax.Array, *, starts: int = 8, steps: int = 300, grid: int = 16,
              iters: int = 60) -> float:
  """λ*(σ): the smallest λ in ``[0, min_i ‖x_i‖² / n)`` at which :func:`passes` holds.

  ``t_i = (a_i − nλ)/(a_i + σ²)`` moves with λ, so the margin ``2 min_u g + 2λ`` is not ``2λ``
  plus a constant. It is evaluated on ``grid`` equally spaced λ (the same starts for each) and
  bisected ``iters`` times between the last failing and the first passing one; a passing
  interval narrower than the spacing before that one would be missed. Returns the upper end
  of the final bracket (a λ that passes), ``0.0`` if λ = 0 passes (never for data in the
  premise: g < 0 along ``c_i ≈ σ``) and ``nan`` if no λ on the grid does. ``starts`` and
  ``steps`` as :func:`worst_direction`.
  """
  X = _check_data(X, sigma)
  starts, steps = _check_search(starts, steps)
  grid, iters = _checks.positive_int("grid", grid), _checks.positive_int("iters", iters)
  lam_max = float(jnp.min(jnp.sum(X**2, axis=-1))) / X.shape[0]
  U0 = initial_directions(X, sigma, key, starts)
  s = jnp.asarray(sigma, X.dtype)

  def ok(lam):
    value = 2 * _descend(U0, X, s, jnp.asarray(lam, X.dtype), steps)[0] + 2 * lam
    return float(value) >= -_tolerance(X, lam)

  lams = lam_max * np.arange(grid) / grid
  flags = [ok(lam) for lam in lams]
  if not any(flags):
    return float("nan")
  k = flags.index(True)
  if k == 0:
    return 0.0
  lo, hi = float(lams[k - 1]), float(lams[k])
  for _ in range(iters):
    mid = 0.5 * (lo + hi)
    lo, hi = (lo, mid) if ok(mid) else (mid, hi)
  return hi
