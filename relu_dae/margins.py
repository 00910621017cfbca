"""Margins of the ReLU masks: Thm 3.1's operational γ of given weights, its best rotation, and the paper's γ.

A unit j owned by cluster k keeps its block mask when it is active on every sample of cluster k and
inactive on every other one (Thm 3.1 / Cor. 3.3; one sample per "cluster" for Cor. 3.2). The
distance from the nearest training point to a unit's hyperplane is the margin the noise must cross
to flip a mask:

* :func:`margin`, :func:`margin_batch` — the operational margin ``γ_op`` of a weight matrix W
  (unit-norm hyperplane distances, signed by the intended mask);
* :func:`best_rotation`, :func:`best_rotation_batch` — ``γ_op`` maximized over the free
  orthogonal ``O_k`` of each block of Eq. (8) (``W_k ↦ W_k Q_k``, which keeps ``W_k W_kᵀ``);
* :func:`paper_margin` — the paper's printed γ (Appendix D.2, docs/THEORY.md §2.2) with our reading
  of its undefined ``s_min, s_max, c_proj`` (docs/theory_choices.md §18).

Data ``X`` are ``(n, d)`` (rows are samples); weights ``W`` are ``(d, p)``; cluster ids are
non-negative integers. These names are also re-exported by :mod:`relu_dae.theory`.

Examples:
  >>> import jax.numpy as jnp
  >>> X = jnp.array([[1.0, 0.0], [-1.0, 0.1]])
  >>> W = jnp.array([[1.0, -1.0], [0.0, 0.0]])
  >>> float(margin(X, jnp.array([0, 1]), W).gamma)
  1.0
"""

from __future__ import annotations

import functools
from typing import NamedTuple
from collections.abc import Sequence

import numpy as np

import jax
import jax.numpy as jnp
import optax
from jaxtyping import ArrayLike, Float, Real

from relu_dae import _checks
from relu_dae import _theory_inputs as _inputs
from relu_dae import data
from relu_dae import minima

__all__ = ["Margin", "margin", "margin_batch", "RotatedMargin", "best_rotation", "best_rotation_batch",
           "PaperMargin", "paper_margin"]


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
    return np.searchsorted(ids, _inputs.owner_ids(owner, W.shape[1], ids))
  norms = jnp.linalg.norm(W, axis=0)
  pre = (X @ W) / jnp.where(norms > 0, norms, 1.0)  # (n, p) signed distances
  onehot = jnp.asarray(inverse[:, None] == np.arange(len(ids))[None, :], pre.dtype)  # (n, K)
  means = (onehot.T @ pre) / onehot.sum(0)[:, None]  # (K, p)
  return np.asarray(jnp.argmax(means, axis=0))


def _margin_inputs(X, labels, W, owner):
  """Validated ``X, W`` and the cluster ids, each sample's cluster and each unit's owner (as indices)."""
  X, W = _inputs.check_xw(X, W)
  if not np.any(np.asarray(W) != 0):
    raise ValueError(f"W has no nonzero column (shape {W.shape}): no unit has a mask to keep, the margin is undefined")
  ids, inverse = _cluster_index(X, labels)
  if ids.min() < 0:
    raise ValueError(f"labels must be non-negative cluster ids (-1 marks a zero column in owner), got {ids.tolist()}")
  own_idx = _owner_index(X, W, ids, inverse, owner)
  return X, W, ids, inverse, own_idx


def margin(X: Float[ArrayLike, "n d"], labels: Real[ArrayLike, " n"], W: Float[ArrayLike, "d p"],
           owner: Real[ArrayLike, " p"] | None = None) -> Margin:
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
  — the ``e^{−cγ²/σ²}`` of Thm 3.1 with ``c = 1/2`` (see :func:`relu_dae.mask_flips.mask_flip_probability`).

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

  Examples:
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


def margin_batch(X: Float[ArrayLike, "B n d"], labels: Real[ArrayLike, " n"], W: Float[ArrayLike, "B d p"],
                 owner: Real[ArrayLike, " p"]) -> Margin:
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
  W = _inputs.typed("W", W, 3)
  if X.shape[0] != W.shape[0] or X.shape[2] != W.shape[1] or 0 in X.shape[:2] or W.shape[2] == 0:
    raise ValueError(f"X (B, n, d) and W (B, d, p) must share B and d, none of B, n, p zero; got X of shape "
                     f"{X.shape} and W of shape {W.shape}")
  labels = _checks.integer_labels(X[0], labels)
  owner = _inputs.owner_ids(owner, W.shape[2], np.unique(labels))
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
  """Smallest signed distance ``min_{i,j} s_i ŵ_jᵀx_i`` of block ``Wk (d, k)``.

  ``sign (n,)`` is +1 on the block's own cluster and −1 on the others.
  """
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


def best_rotation(X: Float[ArrayLike, "n d"], labels: Real[ArrayLike, " n"], W: Float[ArrayLike, "d p"],
                  owner: Real[ArrayLike, " p"] | None = None, *, key: jax.Array, starts: int = 8,
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

  Examples:
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


def best_rotation_batch(X: Float[ArrayLike, "B n d"], labels: Real[ArrayLike, " n"], W: Float[ArrayLike, "B d p"],
                        owner: Real[ArrayLike, " p"], *, key: jax.Array, starts: int = 8,
                        steps: int = 200) -> RotatedMargin:
  """:func:`best_rotation` for a batch of same-shape instances with shared labels and ``owner``.

  Args:
    X: ``(B, n, d)``; an instance of NaN weights gives NaN.
    labels: ``(n,)`` cluster ids shared by the batch.
    W: ``(B, d, p)``.
    owner: ``(p,)`` cluster ids, −1 for a zero column (it is left alone).
    key: PRNG key; instance b uses ``fold_in(key, b)``.
    starts: as :func:`best_rotation`.
    steps: as :func:`best_rotation`.

  Returns:
    :class:`RotatedMargin` with ``W (B, d, p)``, ``gamma (B,)``, ``gamma_given (B,)`` and
    ``rotations = ()`` (read them off ``W`` if needed).

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> X = jnp.array([[[2.0, 0.1], [2.0, -0.1], [-2.0, 0.0]]])
    >>> W = (jnp.eye(2) / jnp.sqrt(2.0))[None]
    >>> r = best_rotation_batch(X, jnp.array([0, 0, 1]), W, jnp.array([0, 0]), key=jax.random.PRNGKey(0))
    >>> r.gamma.shape
    (1,)
  """
  X = _checks.array("X", X, ndim=3)
  W = _inputs.typed("W", W, 3)
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


def paper_margin(X: Float[ArrayLike, "n d"], labels: Real[ArrayLike, " n"], p_per_cluster: int | Sequence[int], *,
                 sigma: Real[ArrayLike, ""] = 0.0, lam: Real[ArrayLike, ""] = 0.0) -> PaperMargin:
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

  Examples:
    >>> import jax.numpy as jnp
    >>> X = jnp.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> float(paper_margin(X, jnp.array([0, 1]), 1).gamma)
    0.5
  """
  X = _inputs.matrix("X", X)
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
    minima._require_small_decay(n, lam, s[:p_k] ** 2, f" for block {k}")
    scales.append(jnp.sqrt(minima.block_gram_eigenvalues(Xk, n, sigma, lam, p_k)))  # D_k of Eq. (8)
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

