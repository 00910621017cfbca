"""Checkable forms of Thm 3.1 / D.2, Lemma D.1 and Cor. 3.2–3.3: margins, mask stability, certificates.

The paper's appendix constants are partly undefined (THEORY.md §3.2, §8 item 1). This module
states precisely what is computed:

* :func:`margin` — an *operational* inter-cluster margin of a given weight matrix (unit-norm
  hyperplane distances); :func:`paper_margin` — the paper's printed γ with our reading of
  ``s_min, s_max, c_proj`` (docs/theory_choices.md §18).
* :func:`mask_flip_probability`, :func:`mask_stability`, :func:`mask_stability_mc` — the
  probability that a noisy input's ReLU mask differs from the clean one, the event behind the
  residual ``‖R(σ,γ)‖² ≤ C e^{−cγ²/σ²}`` of Thm 3.1.
* :func:`stationarity` — gradient and dense Hessian of the exact noise-averaged loss with
  frozen masks (``losses.frozen_mask_loss``), a local-minimum certificate.
* Closed forms: :func:`cor32_loss`, :func:`cor33_limit`, :func:`cor33_test_loss`,
  :func:`lemma_d1_min`, :func:`residual_bound`.

Data ``X`` are ``(n, d)`` (rows are samples); weights ``W`` are ``(d, p)``.

Example:
  >>> import jax.numpy as jnp, relu_dae as rd
  >>> X = jnp.array([[1.0, 0.0], [-1.0, 0.1]])
  >>> W = jnp.array([[1.0, -1.0], [0.0, 0.0]])
  >>> float(rd.theory.margin(X, jnp.array([0, 1]), W).gamma)
  1.0
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import numpy as np

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from jax.scipy.stats import norm as _norm

from relu_dae import _checks
from relu_dae import data
from relu_dae import losses
from relu_dae import minima
from relu_dae import model


# ---------------------------------------------------------------------------------------------
# Argument checks (shapes and dtypes always, so jit/vmap callers still trace; values when concrete)
# ---------------------------------------------------------------------------------------------


_matrix = _checks.matrix


def _typed(name, x, ndim: int):
  """A real array of ``ndim`` dimensions whose NaN/inf are not refused (a batch may hold unbuilt instances)."""
  x = _checks.real_array(name, x)
  if jnp.ndim(x) != ndim:
    raise ValueError(f"{name} must be {ndim}-D, got shape {jnp.shape(x)}")
  return x


def _owner(owner, p: int, ids) -> np.ndarray:
  """Each unit's owning cluster: integer ids of shape ``(p,)``, all among the labels' ``ids``."""
  a = np.asarray(_checks.array("owner", owner, ndim=1))
  if a.shape != (p,):
    raise ValueError(f"owner must have shape (p,)=({p},), got {a.shape}")
  if not np.all(np.isin(a, ids)):
    raise ValueError(f"owner must contain cluster ids from labels {np.asarray(ids).tolist()}, got {a.tolist()}")
  return np.asarray(owner)


def _params(params, *, batched: bool = False) -> dict:
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
  out = {k: _typed(f"params[{k!r}]", v, 3) for k, v in params.items()}
  if len({v.shape for v in out.values()}) != 1:
    raise ValueError(f"params: W1 and W2 must have the same shape (B, d, p), got {[v.shape for v in out.values()]}")
  return out


def _first_layer(params):
  return params["W"] if "W" in params else params["W1"]


def _data_for(params, X):
  """Data ``X (n, d)`` for weights ``(d, p)``; a mismatch names both shapes."""
  X = _matrix("X", X)
  W1 = _first_layer(params)
  if X.shape[1] != W1.shape[0]:
    raise ValueError(f"X (n, d) and params (d, p) must share d: got X of shape {X.shape} and weights {W1.shape}")
  return X


def _validate_loss_args(params, X, sigma, lam):
  """The ``(params, X, sigma, lam)`` of the frozen-mask and moment-matched losses; returns params, X."""
  params = _params(params)
  X = _data_for(params, X)
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)
  return params, X


def _require_energy(X) -> None:
  """Every instance of ``X (n, d)`` or ``(B, n, d)`` has a nonzero sample (rel_grad_norm divides by it)."""
  v = _checks.concrete(X)
  if v is None:
    return
  zero = np.flatnonzero(~np.any(v.reshape(-1, v.shape[-2] * v.shape[-1]) != 0, axis=1))
  if zero.size:
    where = f" (instances {zero.tolist()})" if v.ndim == 3 else ""
    raise ValueError(f"X is all zero{where}: rel_grad_norm = |grad| |theta| / mean_i |x_i|^2 is undefined")


def _check_eps(X, eps):
  eps = _checks.array("eps", eps, ndim=3)
  n, d = X.shape
  if eps.shape[0] != n or eps.shape[2] != d or eps.shape[1] == 0:
    raise ValueError(f"eps must have shape (n, M, d)=({n}, M, {d}) with M >= 1 for X of shape {X.shape}, "
                     f"got {eps.shape}")
  return eps


# ---------------------------------------------------------------------------------------------
# Margins
# ---------------------------------------------------------------------------------------------


class Margin(NamedTuple):
  """Result of :func:`margin`. All gaps are distances to unit hyperplanes (units of ‖x‖)."""
  gamma: jax.Array  # min(active_gap, inactive_gap); < 0 means some mask disagrees with `owner`
  active_gap: jax.Array  # min over owned units j, own-cluster samples i of w_jᵀx_i/‖w_j‖
  inactive_gap: jax.Array  # min over owned units j, other-cluster samples i of −w_jᵀx_i/‖w_j‖
  per_unit: jax.Array  # (p,) each unit's min of the two; +inf for zero columns (ignored)
  owner: np.ndarray  # (p,) the cluster id owning each unit (−1 for zero columns)


def _cluster_index(X, labels):
  labels = _checks.integer_labels(X, labels)
  ids, inverse = np.unique(labels, return_inverse=True)
  return ids, inverse


def _owner_index(X, W, ids, inverse, owner) -> np.ndarray:
  """Each unit's owning cluster as an index into ``ids``: ``owner`` checked, or the largest mean pre-activation."""
  if owner is not None:
    return np.searchsorted(ids, _owner(owner, W.shape[1], ids))
  norms = jnp.linalg.norm(W, axis=0)
  pre = (X @ W) / jnp.where(norms > 0, norms, 1.0)  # (n, p) signed distances
  onehot = jnp.asarray(inverse[:, None] == np.arange(len(ids))[None, :], pre.dtype)  # (n, K)
  means = (onehot.T @ pre) / onehot.sum(0)[:, None]  # (K, p)
  return np.asarray(jnp.argmax(means, axis=0))



def _margin_inputs(X, labels, W, owner):
  """Validated ``X, W`` and the cluster ids, each sample's cluster and each unit's owner (as indices)."""
  X, W = _check_xw(X, W)
  if not np.any(np.asarray(W) != 0):
    raise ValueError(f"W has no nonzero column (shape {W.shape}): no unit has a mask to keep, the margin is undefined")
  ids, inverse = _cluster_index(X, labels)
  if ids.min() < 0:
    raise ValueError(f"labels must be non-negative cluster ids (-1 marks a zero column in owner), got {ids.tolist()}")
  own_idx = _owner_index(X, W, ids, inverse, owner)
  return X, W, ids, inverse, own_idx

def margin(X: jax.Array, labels, W: jax.Array, owner=None) -> Margin:
  """Operational inter-cluster margin of ``W``: how robustly every unit keeps its block mask.

  A unit j owned by cluster k must be active on every sample of cluster k and inactive on
  every other sample (the block-diagonal mask of Thm 3.1 / Cor. 3.3, or one sample per
  "cluster" for Cor. 3.2). With ``ŵ_j = w_j/‖w_j‖``,

      active_gap   = min_{j, i ∈ owner(j)}  ŵ_jᵀ x_i,
      inactive_gap = min_{j, i ∉ owner(j)} −ŵ_jᵀ x_i,
      γ_op         = min(active_gap, inactive_gap).

  ``γ_op > 0`` iff every mask is right; it is the smallest distance from a training point to
  a unit's hyperplane, so a noise ``σε`` can flip unit j's mask on x_i only if its component
  along ŵ_j (an ``N(0, σ²)`` scalar) exceeds ``γ_op``: ``P(flip) ≤ Φ(−γ_op/σ) ≤ ½e^{−γ_op²/2σ²}``
  — the ``e^{−cγ²/σ²}`` of Thm 3.1 with ``c = 1/2`` (see :func:`mask_flip_probability`).

  Relation to the paper's γ (:func:`paper_margin`): the paper's γ is a *lower bound* on
  the pre-activation gaps ``w_jᵀx_i`` of the constructed W (not normalised by ‖w_j‖), built
  from (α, β), the block scales and the projection of the mean. Dividing by ``s_max ≥ ‖w_j‖``
  turns it into a lower bound on ``γ_op`` where its derivation holds (and its inactive half
  ``s_max|β|/2`` is a heuristic; THEORY.md §8 item 1). ``γ_op`` is what the weights actually achieve.

  Args:
    X: data ``(n, d)``.
    labels: ``(n,)`` cluster ids.
    W: first-layer weights ``(d, p)``.
    owner: optional ``(p,)`` cluster ids (values of ``labels``) owning each unit. Default:
      the cluster with the largest mean pre-activation ``mean_{i∈k} w_jᵀx_i``. Zero columns
      are ignored (they have no mask to keep); an all-zero ``W`` raises ``ValueError``.

  Cluster ids are non-negative integers (−1 marks a zero column in the result's ``owner``).

  Returns:
    :class:`Margin`. With a single cluster ``inactive_gap = +inf``.

  Example:
    >>> import jax.numpy as jnp
    >>> X = jnp.array([[2.0, 0.0], [-1.0, 0.5]])
    >>> m = margin(X, jnp.array([0, 1]), jnp.array([[1.0], [0.0]]))
    >>> float(m.active_gap), float(m.inactive_gap)
    (2.0, 1.0)
  """
  X, W, ids, inverse, own_idx = _margin_inputs(X, labels, W, owner)
  same = jnp.asarray(inverse[:, None] == own_idx[None, :])  # (n, p)
  gamma, a, b, per_unit = _margin_gaps(X, W, same)
  owner_out = np.where(np.asarray(jnp.linalg.norm(W, axis=0) > 0), ids[own_idx], -1)
  return Margin(gamma, a, b, per_unit, owner_out)


def _margin_gaps(X, W, same):
  """γ_op, active gap, inactive gap, per-unit gap for a fixed ownership ``same (n, p)`` (pure)."""
  norms = jnp.linalg.norm(W, axis=0)
  live = norms > 0
  pre = (X @ W) / jnp.where(live, norms, 1.0)
  inf = jnp.asarray(jnp.inf, pre.dtype)
  act = jnp.where(live, jnp.min(jnp.where(same, pre, inf), axis=0), inf)
  inact = jnp.where(live, jnp.min(jnp.where(same, inf, -pre), axis=0), inf)
  a, b = jnp.min(act), jnp.min(inact)
  return jnp.minimum(a, b), a, b, jnp.minimum(act, inact)


def margin_batch(X: jax.Array, labels, W: jax.Array, owner) -> Margin:
  """:func:`margin` for a batch of same-shape instances with a shared labelling and ownership.

  Args:
    X: ``(B, n, d)``; labels: ``(n,)`` cluster ids shared by the batch; W: ``(B, d, p)``;
    owner: ``(p,)`` cluster id owning each unit (as in :func:`margin`), shared by the batch.
    The values of ``W`` are not checked: an instance of NaN weights (one not built) gives NaN.

  Returns:
    :class:`Margin` with a leading axis B on ``gamma``, the gaps and ``per_unit``
    (``owner`` as given).
  """
  X = _checks.array("X", X, ndim=3)
  W = _typed("W", W, 3)
  if X.shape[0] != W.shape[0] or X.shape[2] != W.shape[1] or 0 in X.shape[:2] or W.shape[2] == 0:
    raise ValueError(f"X (B, n, d) and W (B, d, p) must share B and d, none of B, n, p zero; got X of shape "
                     f"{X.shape} and W of shape {W.shape}")
  labels = _checks.integer_labels(X[0], labels)
  owner = _owner(owner, W.shape[2], np.unique(labels))
  same = jnp.asarray(labels[:, None] == owner[None, :])
  gamma, a, b, per_unit = jax.vmap(_margin_gaps, (0, 0, None))(X, W, same)
  return Margin(gamma, a, b, per_unit, owner)


class RotatedMargin(NamedTuple):
  """Result of :func:`best_rotation` (``W``, ``gamma``, ``gamma_given`` gain a leading axis B in
  :func:`best_rotation_batch`)."""
  W: jax.Array  # (d, p) the weights with each cluster's block of columns rotated, W_k ↦ W_k Q_k
  gamma: jax.Array  # γ_op of the rotated W (≥ gamma_given: the given W is one of the candidates)
  gamma_given: jax.Array  # γ_op of the W given
  rotations: tuple  # one (p_k, p_k) orthogonal Q_k per cluster that owns units, in order of ids
  owner: np.ndarray  # (p,) cluster id owning each unit (−1 for zero columns)


def _cayley(theta, k: int):
  """The Cayley map of the skew matrix with upper-triangle entries ``theta``: ``(I − A)⁻¹(I + A)``, ``(k, k)``."""
  A = jnp.zeros((k, k), theta.dtype).at[jnp.triu_indices(k, 1)].set(theta)
  A = A - A.T
  eye = jnp.eye(k, dtype=theta.dtype)
  return jnp.linalg.solve(eye - A, eye + A)


def _block_gap(X, sign, Wk):
  """Smallest signed distance ``min_{i,j} s_i ŵ_jᵀx_i`` of block ``Wk (d, k)``; ``sign (n,)`` = +1 own cluster, −1 others."""
  return jnp.min(_signed_gaps(X, sign, Wk))


def _signed_gaps(X, sign, Wk):
  return sign[:, None] * (X @ Wk) / jnp.linalg.norm(Wk, axis=0)


def _rotation_starts(X, sign, Wk, key, starts: int):
  """Candidate ``Q (S, k, k)``: the identity, a reflection, the principal axes (signs toward the
  own cluster, and with the last one flipped), then ``starts`` random orthogonal matrices."""
  k = Wk.shape[1]
  eye = jnp.eye(k, dtype=Wk.dtype)
  flip = eye.at[k - 1, k - 1].set(-1.0)
  _, _, Vt = jnp.linalg.svd(Wk, full_matrices=False)
  V = Vt.T
  own = jnp.sum(jnp.where(sign[:, None] > 0, X @ Wk @ V, 0.0), axis=0)
  V = V * jnp.where(own >= 0, 1.0, -1.0)
  G = jax.random.normal(key, (starts, k, k), Wk.dtype)
  Qr, R = jnp.linalg.qr(G)
  Qr = Qr * jnp.sign(jnp.diagonal(R, axis1=1, axis2=2))[:, None, :]  # Haar
  return jnp.concatenate([jnp.stack([eye, flip, V, V @ flip]), Qr])


def _best_block_rotation(X, sign, Wk, key, starts: int, steps: int):
  """Maximizes ``_block_gap(X, sign, Wk Q)`` over ``Q ∈ O(k)``: Adam on a soft minimum from every
  start (``Q = Q₀ · cayley(θ)``, temperature annealed 0.1 → 0.002 × the data scale); the best
  exact gap seen on any trajectory (starts included) wins. Returns ``(gap, Q)``. Pure."""
  k = Wk.shape[1]
  Q0 = _rotation_starts(X, sign, Wk, key, starts)
  m = k * (k - 1) // 2
  if m == 0:  # p_k = 1: O(1) = {±1}, both among the starts
    gaps = jax.vmap(lambda Q: _block_gap(X, sign, Wk @ Q))(Q0)
    i = jnp.argmax(gaps)
    return gaps[i], Q0[i]
  scale = jnp.sqrt(jnp.mean(jnp.sum(X**2, axis=1)))
  taus = scale * jnp.geomspace(0.1, 0.002, steps).astype(Wk.dtype)
  opt = optax.adam(0.05)

  def one(q0):
    def soft(theta, tau):
      g = _signed_gaps(X, sign, Wk @ (q0 @ _cayley(theta, k)))
      return tau * jax.nn.logsumexp(-g / tau)  # ≈ −min gap

    def body(state, tau):
      theta, ost, best, best_theta = state
      gap = _block_gap(X, sign, Wk @ (q0 @ _cayley(theta, k)))
      better = gap > best
      best, best_theta = jnp.where(better, gap, best), jnp.where(better, theta, best_theta)
      grad = jax.grad(soft)(theta, tau)
      upd, ost = opt.update(grad, ost)
      return (optax.apply_updates(theta, upd), ost, best, best_theta), None

    theta = jnp.zeros(m, Wk.dtype)
    init = (theta, opt.init(theta), jnp.asarray(-jnp.inf, Wk.dtype), theta)
    (theta, _, best, best_theta), _ = jax.lax.scan(body, init, taus)
    final = _block_gap(X, sign, Wk @ (q0 @ _cayley(theta, k)))
    best_theta = jnp.where(final > best, theta, best_theta)
    return jnp.maximum(final, best), q0 @ _cayley(best_theta, k)

  gaps, Qs = jax.vmap(one)(Q0)
  i = jnp.argmax(gaps)
  return gaps[i], Qs[i]


def _rotate_all(X, W, same, blocks, key, starts: int, steps: int):
  """Every block's best rotation (``blocks``: static tuple of column-index tuples, one per owning
  cluster; ``same (n, K_b)``: own-cluster masks). Returns ``(W_rot, gamma, gamma_given, Qs)``. Pure."""
  W_rot, Qs, gaps = W, [], []
  for b, cols in enumerate(blocks):
    cols = jnp.asarray(cols)
    sign = jnp.where(same[:, b], 1.0, -1.0).astype(W.dtype)
    gap, Q = _best_block_rotation(X, sign, W[:, cols], jax.random.fold_in(key, b), starts, steps)
    W_rot = W_rot.at[:, cols].set(W[:, cols] @ Q)
    Qs.append(Q)
    gaps.append(gap)
  gamma_given = _margin_gaps(X, W, _same_for(same, blocks, W.shape[1]))[0]
  return W_rot, jnp.min(jnp.stack(gaps)), gamma_given, tuple(Qs)


def _same_for(same, blocks, p: int):
  """The ``(n, p)`` ownership mask of :func:`_margin_gaps` from per-block masks (zero columns: all False)."""
  cols = jnp.zeros((same.shape[0], p), bool)
  for b, c in enumerate(blocks):
    cols = cols.at[:, jnp.asarray(c)].set(same[:, b:b + 1])
  return cols


def _blocks(W, owner_idx, ids):
  """Column indices of each owning cluster's nonzero units (static), and the clusters' indices into ids."""
  live = np.asarray(jnp.linalg.norm(W, axis=0) > 0) if _checks.concrete(W) is not None else np.ones(W.shape[-1], bool)
  ks = [k for k in range(len(ids)) if np.any((owner_idx == k) & live)]
  return tuple(tuple(int(j) for j in np.flatnonzero((owner_idx == k) & live)) for k in ks), ks


def _check_search(key, starts, steps):
  _checks.key("key", key)
  return _checks.positive_int("starts", starts), _checks.positive_int("steps", steps)


def best_rotation(X: jax.Array, labels, W: jax.Array, owner=None, *, key: jax.Array, starts: int = 8,
                  steps: int = 200) -> RotatedMargin:
  """Maximizes the operational margin γ_op (:func:`margin`) over a rotation ``O_k`` of each block.

  Eq. (8) builds a block ``W_Xk = U_k D_k O_kᵀ`` with any orthogonal ``O_k``; the frozen-mask loss
  sees it only through ``W_XkW_Xkᵀ``, so every ``O_k`` under which the masks stay block-diagonal
  gives a minimum of the same kind. The premise γ_op > 0 is about *some* ``O_k``, not the default
  one. Per cluster k owning units ``W_k = W[:, owner == k]`` (``d × p_k``), this solves

      max_{Q_k ∈ O(p_k)}  min_{j, i} s_i (W_kQ_k)̂_jᵀ x_i,   s_i = +1 on cluster k, −1 elsewhere,

  (blocks are independent: γ_op = min_k of the block values) by Adam on a log-sum-exp soft
  minimum in the Cayley chart ``Q = Q₀(I − A)⁻¹(I + A)``, from the identity, a reflection, the
  block's principal axes (with and without a reflection) and ``starts`` Haar-random ``Q₀``; the
  best exact value seen anywhere wins, so ``gamma ≥ gamma_given``. A local search: a returned
  ``gamma ≤ 0`` means no rotation was found, not that none exists. ``p_k = 1`` tries ``±1``.
  Zero columns are left alone.

  Args:
    X: data ``(n, d)``; labels: ``(n,)`` non-negative cluster ids; W: weights ``(d, p)``.
    owner: optional ``(p,)`` cluster ids owning each unit (default as in :func:`margin`).
    key: PRNG key for the random starts.
    starts: random starts per block (besides the four informed ones).
    steps: Adam steps per start.

  Returns:
    :class:`RotatedMargin` (``W`` rotated, ``gamma`` ≥ ``gamma_given``, one ``Q_k`` per block).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> X = jnp.array([[2.0, 0.1], [2.0, -0.1], [-2.0, 0.0]])
    >>> W = jnp.eye(2) / jnp.sqrt(2.0)  # cluster 0's second unit is (0, 1): wrong on x_1, γ_op < 0
    >>> r = best_rotation(X, jnp.array([0, 0, 1]), W, jnp.array([0, 0]), key=jax.random.PRNGKey(0))
    >>> bool(r.gamma_given < 0 < r.gamma)
    True
  """
  X, W, ids, inverse, own_idx = _margin_inputs(X, labels, W, owner)
  starts, steps = _check_search(key, starts, steps)
  blocks, ks = _blocks(W, own_idx, ids)
  same = jnp.asarray(inverse[:, None] == np.asarray(ks)[None, :])
  W_rot, gamma, given, Qs = _rotate_jit(X, W, same, blocks, key, starts, steps)
  owner_out = np.where(np.asarray(jnp.linalg.norm(W, axis=0) > 0), ids[own_idx], -1)
  return RotatedMargin(W_rot, gamma, given, Qs, owner_out)


_rotate_jit = jax.jit(_rotate_all, static_argnames=("blocks", "starts", "steps"))


@functools.partial(jax.jit, static_argnames=("blocks", "starts", "steps"))
def _rotate_batch(X, W, same, blocks, keys, starts, steps):
  return jax.vmap(lambda x, w, k: _rotate_all(x, w, same, blocks, k, starts, steps)[:3])(X, W, keys)


def best_rotation_batch(X: jax.Array, labels, W: jax.Array, owner, *, key: jax.Array, starts: int = 8,
                        steps: int = 200) -> RotatedMargin:
  """:func:`best_rotation` for a batch of same-shape instances with shared labels and ``owner``.

  Args:
    X: ``(B, n, d)``; labels: ``(n,)``; W: ``(B, d, p)``; owner: ``(p,)`` cluster ids, −1 for a
    zero column (it is left alone); key, starts, steps as :func:`best_rotation` (instance b uses
    ``fold_in(key, b)``). An instance of NaN weights gives NaN.

  Returns:
    :class:`RotatedMargin` with ``W (B, d, p)``, ``gamma (B,)``, ``gamma_given (B,)`` and
    ``rotations = ()`` (read them off ``W`` if needed).

  Example:
    >>> import jax, jax.numpy as jnp
    >>> X = jnp.array([[[2.0, 0.1], [2.0, -0.1], [-2.0, 0.0]]])
    >>> W = (jnp.eye(2) / jnp.sqrt(2.0))[None]
    >>> r = best_rotation_batch(X, jnp.array([0, 0, 1]), W, jnp.array([0, 0]), key=jax.random.PRNGKey(0))
    >>> r.gamma.shape
    (1,)
  """
  X = _checks.array("X", X, ndim=3)
  W = _typed("W", W, 3)
  starts, steps = _check_search(key, starts, steps)
  if X.shape[0] != W.shape[0] or X.shape[2] != W.shape[1] or 0 in X.shape[:2] or W.shape[2] == 0:
    raise ValueError(f"X (B, n, d) and W (B, d, p) must share B and d, none of B, n, p zero; got X of shape "
                     f"{X.shape} and W of shape {W.shape}")
  labels = _checks.integer_labels(X[0], labels)
  ids = np.unique(labels)
  a = np.asarray(_checks.array("owner", owner, ndim=1))
  if a.shape != (W.shape[2],):
    raise ValueError(f"owner must have shape (p,)=({W.shape[2]},), got {a.shape}")
  if not np.all(np.isin(a, np.concatenate([ids, [-1]]))):
    raise ValueError(f"owner must contain cluster ids from labels {ids.tolist()} or -1, got {a.tolist()}")
  if not np.any(a >= 0):
    raise ValueError("owner marks every column as zero (-1): no unit has a mask to keep")
  own_idx = np.where(a >= 0, np.searchsorted(ids, a), -1)
  ks = [k for k in range(len(ids)) if np.any(own_idx == k)]
  blocks = tuple(tuple(int(j) for j in np.flatnonzero(own_idx == k)) for k in ks)
  same = jnp.asarray(np.searchsorted(ids, labels)[:, None] == np.asarray(ks)[None, :])
  keys = jax.vmap(lambda b: jax.random.fold_in(key, b))(jnp.arange(X.shape[0]))
  W_rot, gamma, given = _rotate_batch(X, W, same, blocks, keys, starts, steps)
  return RotatedMargin(W_rot, gamma, given, (), np.asarray(a))


class PaperMargin(NamedTuple):
  """Result of :func:`paper_margin` (THEORY.md §2.2 formula with our reading of its constants)."""
  gamma: jax.Array  # min_k ‖x̄_k‖ · min{s_min c_proj_k/√p_k − s_max α, s_max|β|/2}
  per_cluster: jax.Array  # (K,) the term inside min_k
  alpha: float  # Def. 3.1 (tightest, data.separability)
  beta: float
  s_min: jax.Array  # smallest block scale over all blocks
  s_max: jax.Array  # largest block scale over all blocks
  c_proj: jax.Array  # (K,) ‖U_kᵀ x̄_k‖ / ‖x̄_k‖


def paper_margin(X: jax.Array, labels, p_per_cluster: int | Sequence[int], *, sigma=0.0, lam=0.0) -> PaperMargin:
  """The paper's margin (Appendix D.2, THEORY.md §2.2) with our reading of its undefined constants.

      γ = min_k ‖x̄_k‖ · min{ s_min c_proj(α)/√p_k − s_max α,  s_max |β|/2 }.

  Our reading (docs/theory_choices.md §18) — the one that makes the first term a lower bound on
  the active pre-activations of the constructed block ``W_Xk = U_k D_k O_kᵀ`` (Eq. (8), default
  equiangular ``O_k``: ``w_jᵀx̄_k = ‖D_k U_kᵀ x̄_k‖/√p_k`` for every unit j of the block, and
  ``|w_jᵀ(x − x̄_k)| ≤ ‖w_j‖ α‖x̄_k‖``):

  * ``s_min``, ``s_max``: smallest / largest block scale ``D_k,jj = sqrt((λ_j − nλ)/(λ_j + n_kσ²))``
    over all blocks (singular values of the ``W_Xk``; ``= 1`` at σ = λ = 0);
  * ``c_proj(α)``: the measured fraction of the cluster mean inside the block's subspace,
    ``c_proj_k = ‖U_kᵀ x̄_k‖/‖x̄_k‖ ∈ (0, 1]`` (a function of α through the Gram matrix);
  * α, β: the tightest values of Def. 3.1 (:func:`relu_dae.data.separability`); β ≥ 0 (with
    K > 1) raises ``ValueError``: the formula is stated for β < 0 only.

  Args:
    X: data ``(n, d)``; labels: ``(n,)`` ids; p_per_cluster: int or one per cluster.
    sigma, lam: noise level and weight decay of the blocks (they set s_min, s_max).

  Returns:
    :class:`PaperMargin`.

  Example:
    >>> import jax.numpy as jnp
    >>> X = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> float(paper_margin(X, jnp.array([0, 1]), 1).gamma)
    0.5
  """
  X = _matrix("X", X)
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)
  ids, inverse = _cluster_index(X, labels)
  K = len(ids)
  ps = [_checks.positive_int(f"p_per_cluster[{k}]", v)
        for k, v in enumerate(_checks.per_cluster("p_per_cluster", p_per_cluster, K))]
  alpha, beta = data.separability(X, labels)
  if K > 1 and not beta < 0:
    raise ValueError(f"X: the paper's margin needs negatively correlated cluster means (Thm 3.1: beta < 0), "
                     f"got beta={beta:.4g}; use margin() for the operational margin of any W")
  n = X.shape[0]
  scales, cproj, mean_norms = [], [], []
  for k, p_k in enumerate(ps):
    Xk = X[inverse == k]
    _, s, Vt = jnp.linalg.svd(Xk, full_matrices=False)
    if p_k > s.shape[0]:
      raise ValueError(f"p_per_cluster[{k}]={p_k} exceeds min(n_k, d)={s.shape[0]}")
    ev = s[:p_k] ** 2
    minima._require_small_decay(n, lam, ev, f" for block {k}")
    scales.append(jnp.sqrt((ev - n * lam) / (ev + Xk.shape[0] * sigma**2)))
    mean = jnp.mean(Xk, axis=0)
    mean_norms.append(jnp.linalg.norm(mean))
    cproj.append(jnp.linalg.norm(Vt[:p_k] @ mean) / mean_norms[-1])
  s_min = jnp.min(jnp.concatenate(scales))
  s_max = jnp.max(jnp.concatenate(scales))
  cproj = jnp.stack(cproj)
  beta_term = s_max * abs(beta) / 2 if K > 1 else jnp.inf
  inner = jnp.minimum(s_min * cproj / jnp.sqrt(jnp.asarray(ps, cproj.dtype)) - s_max * alpha, beta_term)
  per_cluster = jnp.stack(mean_norms) * inner
  return PaperMargin(jnp.min(per_cluster), per_cluster, alpha, beta, s_min, s_max, cproj)


# ---------------------------------------------------------------------------------------------
# Mask stability
# ---------------------------------------------------------------------------------------------


def _check_xw(X, W):
  """Data ``X (n, d)`` and weights ``W (d, p)``; both returned (integers as float32)."""
  X = _matrix("X", X)
  W = _checks.array("W", W)
  if jnp.ndim(W) != 2 or jnp.shape(W)[0] != X.shape[1]:
    raise ValueError(f"W must have shape (d, p) with d={X.shape[1]} (X has shape {X.shape}), got {jnp.shape(W)}")
  return X, W


def mask_flip_probability(X: jax.Array, W: jax.Array, sigma) -> jax.Array:
  """Exact probability that unit j's ReLU mask on ``x_i + σε`` differs from its mask on ``x_i``.

      P_ij = Φ(−|w_jᵀx_i| / (σ‖w_j‖)),   ε ~ N(0, I_d),

  because ``w_jᵀ(x_i + σε) ~ N(w_jᵀx_i, σ²‖w_j‖²)``. Zero columns never flip (their
  pre-activation is always 0, never > 0); σ = 0 gives 0. A point on the hyperplane gives ½,
  also for a σ > 0 so small that ``σ‖w_j‖`` underflows (the limit σ → 0⁺; 0 off the hyperplane).

  Args:
    X: ``(n, d)``; W: ``(d, p)``; sigma: σ ≥ 0.

  Returns:
    ``(n, p)`` probabilities.

  Example:
    >>> import jax.numpy as jnp
    >>> P = mask_flip_probability(jnp.array([[1.0, 0.0]]), jnp.array([[2.0], [0.0]]), 1.0)
    >>> round(float(P[0, 0]), 4)  # Φ(−1)
    0.1587
  """
  X, W = _check_xw(X, W)
  _checks.scalar_nonnegative("sigma", sigma)
  norms = jnp.linalg.norm(W, axis=0)
  scale = sigma * norms
  pre = X @ W
  z = -jnp.abs(pre) / jnp.where(scale > 0, scale, 1.0)
  P = jnp.where(scale > 0, _norm.cdf(z), jnp.where(pre == 0, 0.5, 0.0))  # σ‖w_j‖ underflowed: σ → 0⁺
  return jnp.where((norms > 0) & (sigma > 0), P, 0.0)


def mask_stability(X: jax.Array, W: jax.Array, sigma) -> jax.Array:
  """Union bound on the probability that *any* unit's mask flips on ``x_i + σε``: ``min(1, Σ_j P_ij)``.

  ``P_ij`` from :func:`mask_flip_probability`. Returns ``(n,)``. This is the probability of
  the event on which the frozen-mask loss (Thm D.2's block decomposition) and Eq. (6) differ.

  Example:
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


def mask_stability_mc(key: jax.Array, X: jax.Array, W: jax.Array, sigma, num_draws: int) -> MaskFlipMC:
  """Monte-Carlo estimate of the exact any-flip probability ``P(∃j: 1[w_jᵀ(x_i+σε)>0] ≠ 1[w_jᵀx_i>0])``.

  Also returns the per-(i, j) flip frequencies, unbiased estimates of
  :func:`mask_flip_probability` with binomial standard error ``sqrt(P(1−P)/num_draws)``.

  Args:
    key: PRNG key; X: ``(n, d)``; W: ``(d, p)``; sigma: σ ≥ 0; num_draws: draws per sample.
  """
  _checks.key("key", key)
  X, W = _check_xw(X, W)
  _checks.scalar_nonnegative("sigma", sigma)
  num_draws = _checks.positive_int("num_draws", num_draws)
  clean = X @ W > 0  # (n, p)

  def one(k):
    eps = jax.random.normal(k, X.shape, X.dtype)
    return ((X + sigma * eps) @ W > 0) != clean

  flips = jax.lax.map(one, jax.random.split(key, num_draws))  # (draws, n, p)
  flips = flips.astype(X.dtype)
  return MaskFlipMC(jnp.mean(jnp.max(flips, axis=2), axis=0), jnp.mean(flips, axis=0), num_draws)


# ---------------------------------------------------------------------------------------------
# Stationarity certificate
# ---------------------------------------------------------------------------------------------


class Certificate(NamedTuple):
  """Result of :func:`stationarity`."""
  grad_norm: jax.Array  # ‖∇L_frozen‖ over all parameters (Frobenius)
  rel_grad_norm: jax.Array  # ‖∇L‖ · ‖θ‖ / mean_i ‖x_i‖²  (dimensionless)
  min_hessian_eig: jax.Array
  max_hessian_eig: jax.Array
  mask_flip_bound: jax.Array  # max_i of the union bound mask_stability (per-sample P(any flip))
  loss: jax.Array  # L_frozen at the point
  hessian_eigs: jax.Array  # all eigenvalues, ascending (size = number of parameters)


def frozen_derivatives(params: model.Params, X: jax.Array, sigma, lam) -> tuple[jax.Array, jax.Array, jax.Array]:
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

  Example:
    >>> import jax.numpy as jnp
    >>> X = jnp.array([[1.0, 0.0]])
    >>> L, g, H = frozen_derivatives({"W": jnp.array([[1.0], [0.0]])}, X, 0.0, 0.0)
    >>> float(L), g.shape, H.shape   # f(x) = x: zero loss
    (0.0, (2,), (2, 2))
  """
  params, X = _validate_loss_args(params, X, sigma, lam)
  flat, unravel = ravel_pytree(params)
  f = lambda t: losses.frozen_mask_loss(unravel(t), X, sigma, lam)
  H = jax.hessian(f)(flat)
  return f(flat), jax.grad(f)(flat), (H + H.T) / 2


def _certificate(flat, X, W1, sigma, loss, grad, eigs) -> Certificate:
  gnorm = jnp.linalg.norm(grad)
  energy = jnp.mean(jnp.sum(X**2, axis=1))
  flip = jnp.max(mask_stability(X, W1, sigma))
  eigs = jnp.asarray(eigs)
  return Certificate(gnorm, gnorm * jnp.linalg.norm(flat) / energy, eigs[0], eigs[-1], flip, loss, eigs)


def stationarity(params: model.Params, X: jax.Array, sigma, lam) -> Certificate:
  """Local-minimum certificate from the exact noise-averaged loss with frozen ReLU masks.

  The loss is :func:`relu_dae.losses.frozen_mask_loss` (Thm D.2's decomposition without its
  residual): for each sample the mask ``m_i = 1[W1ᵀx_i > 0]`` is frozen at its clean value,
  so ``f(x_i + σε) = A_i(x_i + σε)`` is linear in ε and
  ``E_ε‖A_i(x_i+σε) − x_i‖² = ‖A_i x_i − x_i‖² + σ²‖A_i‖_F²`` *exactly* (no quadrature). The
  gradient and the dense Hessian (:func:`frozen_derivatives`; meant for ``#params ≲ 2000``)
  of this function are those of Eq. (6) on the event that no mask flips,
  whose complement has probability at most ``mask_flip_bound`` per sample (Thm 3.1's residual
  event; :func:`mask_stability`). Masks are locally constant in W, so where no pre-activation
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

  Example:
    >>> import jax.numpy as jnp, relu_dae as rd
    >>> X = jnp.array([[1.0, 0.0], [-1.0, 0.1]])
    >>> W = rd.minima.memorization(X, sigma=0.1, lam=0.0, p=2)
    >>> bool(stationarity({"W": W}, X, 0.1, 0.0).rel_grad_norm < 1e-5)
    True
  """
  params, X = _validate_loss_args(params, X, sigma, lam)
  _require_energy(X)
  W1 = _first_layer(params)
  loss, grad, H = _jit_frozen_derivatives(params, X, sigma, lam)
  return _certificate(ravel_pytree(params)[0], X, W1, sigma, loss, grad, np.linalg.eigvalsh(np.asarray(H)))


def certify_batch(params: model.Params, X: jax.Array, sigma, lam) -> Certificate:
  """:func:`stationarity` for a batch of same-shape instances (leading axis B on every argument).

  Derivatives are ``jit(vmap(frozen_derivatives))``; the eigenvalues are taken on the host.
  Shapes, dtypes, X, sigma and lam are checked; the weights' values are not (an instance of
  NaN weights, one that could not be built, gives a NaN certificate).

  Args:
    params: ``{"W"}`` or ``{"W1", "W2"}`` of ``(B, d, p)`` weights; X: ``(B, n, d)``, no
    instance all zero; sigma, lam: ``(B,)``, ≥ 0.

  Returns:
    :class:`Certificate` whose fields carry the leading axis B.
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
  params = _params(params, batched=True)
  X = _checks.array("X", X, ndim=3)
  W1 = _first_layer(params)
  if X.shape[0] != W1.shape[0] or X.shape[2] != W1.shape[1] or 0 in X.shape[:2]:
    raise ValueError(f"X (B, n, d) and params (B, d, p) must share B and d, with B, n >= 1: got X of shape "
                     f"{X.shape} and weights {W1.shape}")
  _require_energy(X)
  return params, X, _per_instance("sigma", sigma, X.shape[0]), _per_instance("lam", lam, X.shape[0])


_jit_frozen_derivatives = jax.jit(frozen_derivatives)
frozen_derivatives_batch = jax.jit(jax.vmap(frozen_derivatives))
frozen_derivatives_batch.__doc__ = """``jit(vmap(frozen_derivatives))``: loss ``(B,)``, gradient ``(B, P)`` and Hessian ``(B, P, P)``
for a batch of same-shape instances (leading axis B on every argument); eigen-decompose on the host."""


# ---------------------------------------------------------------------------------------------
# Moment-matched noise: Eq. (6) without Monte-Carlo error on the frozen-mask part
# ---------------------------------------------------------------------------------------------


def _float_dtype(dtype) -> None:
  try:
    dt = jnp.dtype(dtype)
  except TypeError as e:
    raise TypeError(f"dtype must be a floating dtype such as jnp.float32, got {dtype!r}") from e
  if not jnp.issubdtype(dt, jnp.floating):
    raise TypeError(f"dtype must be a real floating dtype, got {dt}")


def moment_matched_noise(key: jax.Array, n: int, num_draws: int, d: int, dtype=None) -> jax.Array:
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

  Example:
    >>> import jax
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


def moment_matched_loss(params: model.Params, X: jax.Array, eps: jax.Array, sigma, lam) -> jax.Array:
  """Eq. (6) averaged over given noise draws ``eps (n, M, d)`` (e.g. :func:`moment_matched_noise`).

      L = (1/n) Σ_i (1/M) Σ_m ‖f(x_i + σ ε_im) − x_i‖² + λ Σ_l ‖W_l‖_F².

  With moment-matched draws it equals ``losses.frozen_mask_loss`` wherever no draw flips a
  mask, so its minimizer near a constructed minimum W* is W* plus Thm 3.1's residual R(σ, γ)
  (up to the M-draw resolution of the flip probability). Pure and traceable: shapes and
  dtypes are checked at trace time, values when concrete.

  Example:
    >>> import jax, jax.numpy as jnp, relu_dae as rd
    >>> X = jnp.array([[2.0, 0.0], [-2.0, 0.1]])
    >>> params = {"W": rd.minima.memorization(X, 0.1, 0.0, p=2)}
    >>> eps = moment_matched_noise(jax.random.PRNGKey(0), 2, 4, 2)
    >>> a = moment_matched_loss(params, X, eps, 0.1, 0.0)
    >>> b = rd.losses.frozen_mask_loss(params, X, 0.1, 0.0)
    >>> bool(abs(a - b) < 1e-6)   # σ far below the margin: no draw flips a mask
    True
  """
  params, X = _validate_loss_args(params, X, sigma, lam)
  eps = _check_eps(X, eps)
  Y = X[:, None, :] + sigma * eps
  err = jnp.sum((model.apply(params, Y) - X[:, None, :]) ** 2, axis=-1)  # (n, M)
  return jnp.mean(err) + lam * losses.weight_penalty(params)


class Refined(NamedTuple):
  """Result of :func:`refine`."""
  params: model.Params
  loss: jax.Array  # final moment-matched loss
  grad_norm: jax.Array  # its final gradient norm


def refine(params: model.Params, X: jax.Array, eps: jax.Array, sigma, lam, *, steps: int = 300,
           memory_size: int = 10) -> Refined:
  """Minimizes :func:`moment_matched_loss` from ``params`` with L-BFGS (``optax.lbfgs``, zoom line search).

  Deterministic and full-batch, so it converges to the nearby minimum of the
  moment-matched loss to near machine precision (the loss is piecewise quadratic in the
  weights: quadratic between mask changes). ``jit``/``vmap``-able over instances
  (``steps``, ``memory_size`` static).

  Args:
    params: start (e.g. a perturbed constructed minimum); X: ``(n, d)``; eps: ``(n, M, d)``;
    sigma, lam: scalars ≥ 0; steps: L-BFGS iterations; memory_size: L-BFGS history (both ≥ 1).

  Example:
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
  params, X = _validate_loss_args(params, X, sigma, lam)
  eps = _check_eps(X, eps)
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


# ---------------------------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------------------------


def cor32_loss(X: jax.Array, sigma, lam=0.0) -> jax.Array:
  """Eq. (6) at ``W_mem`` (Cor. 3.2), exact for any admissible λ (masks one-hot, no flips).

  With ``a_i = ‖x_i‖²`` and ``r_i`` of Eq. (9), column i gives ``A_i = r_i² x_i x_iᵀ`` and

      L = (1/n) Σ_i [ (r_i² a_i − 1)² a_i + σ² r_i⁴ a_i² ] + 2λ Σ_i r_i² a_i,

  which at λ = 0 is Cor. 3.2's ``(1/n) Σ_i σ²a_i/(σ² + a_i) < σ²`` (``minima.memorization_loss``).
  Equals ``losses.frozen_mask_loss`` at ``W_mem`` — and Eq. (6) itself up to the mask-flip
  residual — when the samples are pairwise negatively correlated. Needs ``nλ < min_i a_i``,
  every ``a_i > 0`` and ``a_i²`` finite in X's dtype (``ValueError`` otherwise).

  Example:
    >>> import jax.numpy as jnp
    >>> round(float(cor32_loss(jnp.array([[1.0, 0.0]]), sigma=1.0)), 6)
    0.5
  """
  X = _matrix("X", X)
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)
  a = jnp.sum(X**2, axis=1)
  _require_norms(a)
  r2 = minima.memorization_scales(X, sigma, lam) ** 2
  data_term = jnp.mean((r2 * a - 1) ** 2 * a + sigma**2 * r2**2 * a**2)
  return data_term + 2 * lam * jnp.sum(r2 * a)


def _require_norms(a) -> None:
  """Squared norms ``a_i = ‖x_i‖²`` of Eq. (9): all > 0, and ``a_i²`` (its ``‖x_i‖⁴``) finite."""
  v = _checks.concrete(a)
  if v is None:
    return
  if np.any(v == 0):
    raise ValueError(f"X has zero rows {np.flatnonzero(v == 0)[:10].tolist()}: Cor. 3.2 needs every ||x_i|| > 0")
  if np.max(v) > np.sqrt(np.finfo(v.dtype).max):
    raise ValueError(f"X is too large: ||x_i||^4 = {float(np.max(v)) ** 2:.3g} overflows {v.dtype}; rescale the data")


def _second_moments(name, S):
  """Checks real, symmetric, PSD ``(..., d, d)`` matrices; returns S and host eigenvalues ``(..., d)``, ascending.

  The eigenvalues are ``None`` when S is traced (then only its shape and dtype are checked).
  """
  S = _checks.array(name, S)
  if jnp.ndim(S) < 2 or S.shape[-1] != S.shape[-2] or S.size == 0:
    raise ValueError(f"{name} must hold non-empty square (d, d) matrices, got shape {jnp.shape(S)}")
  v = _checks.concrete(S)
  if v is None:
    return S, None
  v = v.astype(np.float64)
  tol = 100 * S.shape[-1] * np.finfo(S.dtype).eps * np.max(np.abs(v), axis=(-2, -1), keepdims=True)
  if np.any(np.abs(v - np.swapaxes(v, -1, -2)) > tol):
    raise ValueError(f"{name} must be symmetric (a second moment), got max |S - S^T| = "
                     f"{np.max(np.abs(v - np.swapaxes(v, -1, -2))):.3g}")
  ev = np.linalg.eigvalsh(v)
  if np.any(ev < -tol[..., 0]):
    raise ValueError(f"{name} must be positive semi-definite (a second moment), got eigenvalue {ev.min():.3g}")
  return S, ev


def _singular(ev, sigma, keep: int, dtype) -> bool:
  """True if the ``keep`` largest eigenvalues of ``S + σ²I`` (from S's ``ev``) reach a numerical zero."""
  shifted = np.sort(ev)[::-1][:keep] + float(sigma) ** 2
  return bool(shifted[-1] <= ev.shape[-1] * np.finfo(dtype).eps * shifted[0])


def _top_eigh(S):
  evals, evecs = jnp.linalg.eigh((S + S.T) / 2)
  return evals[::-1], evecs[:, ::-1]


def cor33_limit(S: jax.Array, lam, rho, sigma, rank: int) -> jax.Array:
  """The Cor. 3.3 population limit of ``W_Xk W_Xkᵀ``: ``[(S − λ/ρ I)(S + σ²I)^{-1}]_rank``.

  ``[·]_rank`` keeps the top-``rank`` eigen-directions of S (those of Eq. (8)'s ``U_k^{(p_k)}``);
  eigenvalue ``s_j`` maps to ``(s_j − λ/ρ)/(s_j + σ²)``. σ² (not the OCR's σ), docs/theory_choices.md §5.
  Same matrix as ``denoisers.wiener_matrix(S, σ, rank=rank, shrink=λ/ρ)``.

  Args:
    S: uncentered second moment ``(d, d)`` of the mode (Eq. (10)); lam: λ ≥ 0;
    rho: mixing weight ρ_k ∈ (0, 1]; sigma: σ ≥ 0, > 0 unless S is nonsingular; rank: p_k ≤ d.

  Returns:
    ``(d, d)`` symmetric matrix.

  Example:
    >>> import jax.numpy as jnp
    >>> cor33_limit(jnp.diag(jnp.array([3.0, 1.0])), 0.0, 1.0, 1.0, 1).tolist()
    [[0.75, 0.0], [0.0, 0.0]]
  """
  S, ev = _second_moments("S", S)
  if S.ndim != 2:
    raise ValueError(f"S must be a square (d, d) matrix, got shape {S.shape}")
  _checks.scalar_nonnegative("lam", lam)
  _checks.in_range("rho", rho, 0.0, 1.0, closed=(False, True))
  _checks.scalar_nonnegative("sigma", sigma)
  rank = _checks.positive_int("rank", rank)
  if rank > S.shape[0]:
    raise ValueError(f"rank must be <= d={S.shape[0]}, got {rank}")
  if ev is not None and _checks.concrete(sigma) is not None and _singular(ev, sigma, S.shape[0], S.dtype):
    raise ValueError(f"sigma={float(sigma):.3g}: S + sigma^2 I is singular (S has eigenvalue {ev.min():.3g}); "
                     "its inverse is undefined, use sigma > 0")
  evals, evecs = _top_eigh(S)
  U = evecs[:, :rank]
  full = (S - lam / rho * jnp.eye(S.shape[0], dtype=S.dtype)) @ jnp.linalg.inv(S + sigma**2 * jnp.eye(S.shape[0], dtype=S.dtype))
  return U @ (U.T @ full @ U) @ U.T  # the two factors commute, so this is the top-rank part


class Cor33TestLoss(NamedTuple):
  """Result of :func:`cor33_test_loss` (per mode and ρ-weighted)."""
  bias_only: jax.Array  # Σ_k ρ_k [Σ_{j≤p_k} (1−g_j)² s_j + Σ_{j>p_k} s_j]: the printed bracket (λ = 0)
  wiener_risk: jax.Array  # Σ_k ρ_k E‖D_k(x + σε) − x‖², x ~ mode k: bias + σ² Σ_j g_j²
  bias_per_mode: jax.Array  # (K,)
  risk_per_mode: jax.Array  # (K,)


def _validate_cor33_test(S, sigma, rank, lam, rho):
  """The arguments of :func:`cor33_test_loss`; returns S as ``(K, d, d)``, the K ranks and rho ``(K,)``."""
  S, ev = _second_moments("S", S)
  if S.ndim == 2:
    S, ev = S[None], None if ev is None else ev[None]
  if S.ndim != 3:
    raise ValueError(f"S must be (d, d) or (K, d, d), got shape {S.shape}")
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)
  K, d = S.shape[0], S.shape[1]
  ranks = [_checks.positive_int(f"rank[{k}]", r) for k, r in enumerate(_checks.per_cluster("rank", rank, K))]
  if max(ranks) > d:
    raise ValueError(f"rank must be <= d={d}, got {ranks}")
  for k in range(K if ev is not None and _checks.concrete(sigma) is not None else 0):
    if _singular(ev[k], sigma, ranks[k], S.dtype):
      raise ValueError(f"rank[{k}]={ranks[k]} exceeds the numerical rank of S[{k}] at sigma={float(sigma):.3g}: "
                       "the gain s/(s + sigma^2) of a zero eigenvalue is 0/0; lower the rank or use sigma > 0")
  rho = jnp.full((K,), 1.0 / K, S.dtype) if rho is None else jnp.asarray(_checks.array("rho", rho), S.dtype)
  if rho.shape != (K,):
    raise ValueError(f"rho must have shape (K,)=({K},), got {rho.shape}")
  _checks.positive("rho", rho)
  total = _checks.concrete(jnp.sum(rho))
  if total is not None and abs(float(total) - 1) > 1e-4:
    raise ValueError(f"rho must be mixing weights summing to 1, got sum {float(total):.6g}")
  return S, ranks, rho


def cor33_test_loss(S: jax.Array, sigma, rank, *, lam=0.0, rho=None) -> Cor33TestLoss:
  """Cor. 3.3's test-loss bound without its ``C_k p_k/(σ² n_k)`` term: the printed bias and the full risk.

  For mode k with second moment ``S_k`` (eigenvalues ``s_j``, descending; Eq. (10), uncentered,
  so the mean is inside S — no separate mean is needed) and the limit denoiser
  ``D_k = cor33_limit(S_k, λ, ρ_k, σ, p_k)`` with gains ``g_j = (s_j − λ/ρ_k)/(s_j + σ²)``:

  * ``bias_only`` — ``Σ_{j≤p_k} s_j σ⁴/(s_j+σ²)² + Σ_{j>p_k} s_j`` **as printed** (λ = 0; for
    λ > 0 we use ``(1−g_j)² s_j``), i.e. ``tr((D−I)S(D−I)ᵀ)``, the error on the *clean* signal;
  * ``wiener_risk`` — the full expected test loss on noisy inputs
    ``E‖D_k(x+σε) − x‖² = tr((D−I)S(D−I)ᵀ) + σ²‖D‖_F²``, at λ = 0
    ``Σ_{j≤p_k} σ² s_j/(s_j+σ²) + Σ_{j>p_k} s_j`` (THEORY.md §3.4 [INF], §8 item 5).

  Both are weighted by ρ_k and summed. The finite-sample term ``C_k p_k/(σ² n_k)`` has an
  unspecified constant and is left out.

  Args:
    S: ``(d, d)`` or ``(K, d, d)`` second moments (symmetric PSD); sigma: σ ≥ 0; rank: int or
    ``(K,)`` ints, each at most d and, at σ = 0, at most the numerical rank of its S_k (the
    gain ``s_j/(s_j+σ²)`` of a zero eigenvalue is 0/0); lam: λ ≥ 0; rho: ``(K,)`` mixing
    weights, > 0 and summing to 1 (default uniform).

  Example:
    >>> import jax.numpy as jnp
    >>> r = cor33_test_loss(jnp.diag(jnp.array([3.0, 1.0])), 1.0, 1)
    >>> float(r.bias_only), float(r.wiener_risk)   # 3/16 + 1, 3/4 + 1
    (1.1875, 1.75)
  """
  S, ranks, rho = _validate_cor33_test(S, sigma, rank, lam, rho)
  K, d = S.shape[0], S.shape[1]
  bias, risk = [], []
  for k in range(K):
    s, _ = _top_eigh(S[k])
    keep = jnp.arange(d) < ranks[k]
    g = jnp.where(keep, (s - lam / rho[k]) / (s + sigma**2), 0.0)
    b = jnp.sum((1 - g) ** 2 * s)
    bias.append(b)
    risk.append(b + sigma**2 * jnp.sum(g**2))
  bias, risk = jnp.stack(bias), jnp.stack(risk)
  return Cor33TestLoss(jnp.sum(rho * bias), jnp.sum(rho * risk), bias, risk)


def lemma_d1_min(X: jax.Array, sigma, lam, p: int) -> jax.Array:
  """Global minimum of the linear-AE loss ``losses.linear_ae_loss`` over ``W1, W2 ∈ R^{d×p}`` (Lemma D.1).

  With ``λ_j`` the eigenvalues of ``XᵀX`` (descending, d×d here) and ``n = len(X)``, the
  minimizer ``W_X`` of Eq. (8) has ``W Wᵀ = U diag(g) Uᵀ``, ``g_j = (λ_j − nλ)/(λ_j + nσ²)`` for
  the top ``p``, and

      min L_lin = (1/n) [ Σ_{j≤p} ((1−g_j)² λ_j + nσ² g_j² + 2nλ g_j) + Σ_{j>p} λ_j ].

  Directions with ``λ_j ≤ nλ`` get ``g_j = 0`` (the clipped formula is still the global
  minimum; Lemma D.1's precondition ``nλ < λ_p`` just makes all p directions used).

  Args:
    X: ``(n, d)``; sigma, lam: ≥ 0; p: hidden units, ≤ d.

  Example:
    >>> import jax.numpy as jnp
    >>> float(lemma_d1_min(jnp.array([[1.0, 0.0]]), sigma=1.0, lam=0.0, p=1))
    0.5
  """
  X = _matrix("X", X)
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.scalar_nonnegative("lam", lam)
  p = _checks.positive_int("p", p)
  n, d = X.shape
  if p > d:
    raise ValueError(f"p must be <= d={d}, got {p}")
  ev = jnp.linalg.svd(X, compute_uv=False) ** 2
  ev = jnp.concatenate([ev, jnp.zeros((d - ev.shape[0],), ev.dtype)])  # all d eigenvalues of XᵀX
  keep = jnp.arange(d) < p
  g = jnp.where(keep, jnp.maximum(0.0, (ev - n * lam) / jnp.where(ev + n * sigma**2 > 0, ev + n * sigma**2, 1.0)), 0.0)
  total = jnp.sum((1 - g) ** 2 * ev + n * sigma**2 * g**2 + 2 * n * lam * g)
  return total / n


def residual_bound(gamma, sigma, C=1.0, c=0.5) -> jax.Array:
  """Thm 3.1's residual bound ``‖R(σ, γ)‖_F² ≤ C exp(−c γ²/σ²)``, constants as parameters.

  The paper calls C, c "universal constants" and never gives them (THEORY.md §8 item 1), so
  they are arguments: fit them (e.g. in ``sims.margin_check``) or use the default ``c = 1/2``,
  the Gaussian-tail exponent of a mask flip at distance γ (:func:`margin`), with ``C = 1``.
  σ = 0 gives 0; γ = 0 gives C for every σ > 0 (also where σ² underflows). ``gamma`` and
  ``sigma`` may be arrays that broadcast together.

  Example:
    >>> round(float(residual_bound(1.0, 1.0)), 4)
    0.6065
  """
  gamma, sigma = jnp.asarray(_checks.array("gamma", gamma)), jnp.asarray(_checks.array("sigma", sigma))
  try:
    np.broadcast_shapes(gamma.shape, sigma.shape)
  except ValueError as e:
    raise ValueError(f"gamma and sigma must broadcast together, got shapes {gamma.shape} and {sigma.shape}") from e
  _checks.nonnegative("gamma", gamma)
  _checks.nonnegative("sigma", sigma)
  _checks.scalar_positive("C", C)
  _checks.scalar_positive("c", c)
  safe = jnp.where(sigma > 0, sigma, 1.0)
  exponent = jnp.where(gamma > 0, -c * gamma**2 / safe**2, 0.0)  # γ = 0: exp(0), not 0/0 when σ² underflows
  return jnp.where(sigma > 0, C * jnp.exp(exponent), 0.0)


class TwoSample(NamedTuple):
  """Result of :func:`two_sample_residual` (scalars; arrays of the broadcast shape when batched)."""
  s: jax.Array  # (..., 2) squared column norms ŝ_j = ‖ŵ_j‖² of the true Eq. (6) minimizer
  s_star: jax.Array  # (..., 2) the same for W_mem of Eq. (9) (frozen masks)
  residual: jax.Array  # ‖Ŵ − W*‖²_F / ‖W*‖²_F
  x: jax.Array  # (γ_op/σ)² = (min(a, b)/σ)²


def _relu_moments(m, sigma):
  """``E[z₊]`` and ``E[z₊²]`` for ``z ~ N(m, σ²)``."""
  t = m / sigma
  cdf, pdf = _norm.cdf(t), _norm.pdf(t)
  return m * cdf + sigma * pdf, (m**2 + sigma**2) * cdf + m * sigma * pdf


def two_sample_residual(a, b, sigma, lam=0.0) -> TwoSample:
  """Thm 3.1's residual in closed form for two antipodal samples ``x_1 = a e``, ``x_2 = −b e``.

  Tied ``W = (√s_1 e, −√s_2 e)`` (p = n = 2; the reflections orthogonal to e are symmetries of
  Eq. (6), so the minimizer near W_mem has this form in any d) gives ``f(y) = e(s_1[z]₊ − s_2[−z]₊)``
  with ``z = eᵀy``; the two terms never overlap, so Eq. (6) is a separable quadratic in (s_1, s_2):

      ŝ_1 = [ (1/2) Σ_i m_i E[z_i₊] − λ ]₊ / ( (1/2) Σ_i E[z_i₊²] ),
      ŝ_2 = [ −(1/2) Σ_i m_i E[(−z_i)₊] − λ ]₊ / ( (1/2) Σ_i E[(−z_i)₊²] ),

  ``z_i ~ N(m_i, σ²)``, ``m = (a, −b)``, ``E[z₊] = mΦ(m/σ) + σφ(m/σ)``, ``E[z₊²] = (m² + σ²)Φ(m/σ)
  + mσφ(m/σ)``; the penalty is λ(‖W‖² + ‖W‖²) = 2λ(s_1 + s_2). W_mem of Eq. (9) has
  ``s*_1 = (a² − 2λ)/(a² + σ²)``, ``s*_2 = (b² − 2λ)/(b² + σ²)``, γ_op = min(a, b), and

      residual = [(√ŝ_1 − √s*_1)² + (√ŝ_2 − √s*_2)²] / (s*_1 + s*_2)

  is ``‖Ŵ − W*‖²_F/‖W*‖²_F`` exactly (no Monte Carlo). A sample leaks into the other unit with
  probability ~ e^{−γ²/2σ²}, so at large x = (γ/σ)² the residual ∝ poly(x)·e^{−x}: its local slope
  −d log(residual)/dx tends to 1.

  Args:
    a, b: the samples' norms, > 0 (scalars or arrays that broadcast).
    sigma: noise level σ > 0 (broadcasts with a, b).
    lam: weight decay λ ≥ 0 with 2λ < min(a², b²) (Eq. 9).

  Returns:
    :class:`TwoSample`.

  Example:
    >>> r = two_sample_residual(1.0, 1.5, 0.2)
    >>> bool(0 < float(r.residual) < 1e-3), float(r.x)
    (True, 25.0)
  """
  a, b, sigma = (jnp.asarray(_checks.array(name, v)) for name, v in (("a", a), ("b", b), ("sigma", sigma)))
  try:
    shape = np.broadcast_shapes(a.shape, b.shape, sigma.shape)
  except ValueError as e:
    raise ValueError(f"a, b and sigma must broadcast together, got shapes {a.shape}, {b.shape}, {sigma.shape}") from e
  for name, v in (("a", a), ("b", b), ("sigma", sigma)):
    _checks.positive(name, v)
  _checks.scalar_nonnegative("lam", lam)
  lo = _checks.concrete(jnp.minimum(a, b))
  if lo is not None and not np.all(2 * float(lam) < lo**2):
    raise ValueError(f"lam must satisfy 2*lam < min(a, b)**2 (Eq. 9, n = 2), got lam={float(lam):g} and "
                     f"min(a, b)={float(np.min(lo)):g}")
  a, b, sigma = (jnp.broadcast_to(v, shape) for v in (a, b, sigma))
  # Only tail moments enter (no cancellation): E[z₊] = m + E[(−z)₊], E[z₊²] = m² + σ² − E[(−z)₊²].
  leak_a1, leak_a2 = _relu_moments(-a, sigma)  # sample 1 on the wrong side of its own unit / on unit 2
  leak_b1, leak_b2 = _relu_moments(-b, sigma)  # sample 2 likewise
  t1, t2 = (a**2 - 2 * lam) / (a**2 + sigma**2), (b**2 - 2 * lam) / (b**2 + sigma**2)

  def delta(own, other, l_own1, l_own2, l_oth1, l_oth2, t):
    """ŝ − s* for the unit storing the sample of norm ``own``, exactly rearranged."""
    D = 0.5 * (own**2 + sigma**2 - l_own2 + l_oth2)
    num = 0.5 * (own * l_own1 - other * l_oth1) * (own**2 + sigma**2) - 0.5 * (own**2 - 2 * lam) * (l_oth2 - l_own2)
    return num / (D * (own**2 + sigma**2))

  d1 = delta(a, b, leak_a1, leak_a2, leak_b1, leak_b2, t1)
  d2 = delta(b, a, leak_b1, leak_b2, leak_a1, leak_a2, t2)
  s1, s2 = jnp.maximum(t1 + d1, 0.0), jnp.maximum(t2 + d2, 0.0)
  r1 = jnp.where(t1 + d1 > 0, d1 / (jnp.sqrt(s1) + jnp.sqrt(t1)), -jnp.sqrt(t1))  # √ŝ − √s*
  r2 = jnp.where(t2 + d2 > 0, d2 / (jnp.sqrt(s2) + jnp.sqrt(t2)), -jnp.sqrt(t2))
  res = (r1**2 + r2**2) / (t1 + t2)
  return TwoSample(jnp.stack([s1, s2], -1), jnp.stack([t1, t2], -1), res, (jnp.minimum(a, b) / sigma) ** 2)
