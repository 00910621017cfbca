"""Closed-form predictions and bounds of Thm 3.1 / D.2, Lemma D.1 and Cor. 3.2–3.3.

The paper's appendix constants are partly undefined (docs/THEORY.md §3.2, §8 item 1); each function
states precisely what it computes:

* :func:`memorization_loss_with_decay` — Eq. (6) at the memorizing minimum W_mem (Cor. 3.2), any λ;
* :func:`generalization_gram_limit` — Cor. 3.3's population limit of a block's ``W_Xk W_Xkᵀ``;
* :func:`generalization_test_loss` — Cor. 3.3's test loss of that limit (printed bias and full risk);
* :func:`linear_ae_min_loss` — Lemma D.1's global minimum of the linear-AE loss;
* :func:`residual_bound` — Thm 3.1's ``‖R(σ,γ)‖² ≤ C e^{−cγ²/σ²}``, constants as parameters;
* :func:`two_sample_residual` — Thm 3.1's residual in closed form for two antipodal samples.

The concepts this module used to hold live in their own modules and are re-exported here, so
``relu_dae.theory.margin`` etc. keep working:

* :mod:`relu_dae.margins` — ``Margin, margin, margin_batch, RotatedMargin, best_rotation,
  best_rotation_batch, PaperMargin, paper_margin``;
* :mod:`relu_dae.mask_flips` — ``mask_flip_probability, mask_stability, MaskFlipMC, mask_stability_mc``;
* :mod:`relu_dae.certificates` — ``Certificate, frozen_derivatives, frozen_derivatives_batch,
  stationarity, certify_batch``;
* :mod:`relu_dae.moment_matching` — ``moment_matched_noise, moment_matched_loss, Refined, refine``.

Old names kept as aliases: ``cor32_loss`` = :func:`memorization_loss_with_decay`, ``cor33_limit`` =
:func:`generalization_gram_limit`, ``cor33_test_loss`` = :func:`generalization_test_loss`,
``Cor33TestLoss`` = :class:`GeneralizationTestLoss`, ``lemma_d1_min`` = :func:`linear_ae_min_loss`.

Data ``X`` are ``(n, d)`` (rows are samples); weights ``W`` are ``(d, p)``.

Examples:
  >>> import jax.numpy as jnp
  >>> float(generalization_test_loss(jnp.diag(jnp.array([3.0, 1.0])), 1.0, 1).wiener_risk)  # 3/4 + 1
  1.75
"""

from __future__ import annotations

from typing import NamedTuple
from collections.abc import Sequence

import numpy as np

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm as _norm
from jaxtyping import Array, ArrayLike, Float, Real

from relu_dae import _checks
from relu_dae import denoisers
from relu_dae import minima
from relu_dae.certificates import Certificate, certify_batch, frozen_derivatives, frozen_derivatives_batch, stationarity
from relu_dae.margins import (Margin, PaperMargin, RotatedMargin, best_rotation, best_rotation_batch, margin,
                              margin_batch, paper_margin)
from relu_dae.mask_flips import MaskFlipMC, mask_flip_probability, mask_stability, mask_stability_mc
from relu_dae.moment_matching import Refined, moment_matched_loss, moment_matched_noise, refine

__all__ = [
    # closed forms (defined here)
    "memorization_loss_with_decay", "generalization_gram_limit", "GeneralizationTestLoss",
    "generalization_test_loss", "linear_ae_min_loss", "residual_bound", "TwoSample", "two_sample_residual",
    # old names of the closed forms (aliases)
    "cor32_loss", "cor33_limit", "Cor33TestLoss", "cor33_test_loss", "lemma_d1_min",
    # re-exported from relu_dae.margins
    "Margin", "margin", "margin_batch", "RotatedMargin", "best_rotation", "best_rotation_batch",
    "PaperMargin", "paper_margin",
    # re-exported from relu_dae.mask_flips
    "mask_flip_probability", "mask_stability", "MaskFlipMC", "mask_stability_mc",
    # re-exported from relu_dae.certificates
    "Certificate", "frozen_derivatives", "frozen_derivatives_batch", "stationarity", "certify_batch",
    # re-exported from relu_dae.moment_matching
    "moment_matched_noise", "moment_matched_loss", "Refined", "refine",
]


def memorization_loss_with_decay(X: Float[ArrayLike, "n d"], sigma: Real[ArrayLike, ""],
                                 lam: Real[ArrayLike, ""] = 0.0) -> Float[Array, ""]:
  """Eq. (6) at the memorizing minimum ``W_mem`` of Eq. (9) (Cor. 3.2), exact for any admissible λ.

  ``minima.memorization_loss`` is its λ → 0 value; this one keeps the weight decay (masks one-hot,
  no flips). Old name: ``cor32_loss`` (an alias).

  With ``a_i = ‖x_i‖²`` and ``r_i`` of Eq. (9), column i gives ``A_i = r_i² x_i x_iᵀ`` and

      L = (1/n) Σ_i [ (r_i² a_i − 1)² a_i + σ² r_i⁴ a_i² ] + 2λ Σ_i r_i² a_i,

  which at λ = 0 is Cor. 3.2's ``(1/n) Σ_i σ²a_i/(σ² + a_i) < σ²`` (``minima.memorization_loss``).
  Equals ``losses.frozen_mask_loss`` at ``W_mem`` — and Eq. (6) itself up to the mask-flip
  residual — when the samples are pairwise negatively correlated. Needs ``nλ < min_i a_i``,
  every ``a_i > 0`` and ``a_i²`` finite in X's dtype (``ValueError`` otherwise).

  Examples:
    >>> import jax.numpy as jnp
    >>> round(float(memorization_loss_with_decay(jnp.array([[1.0, 0.0]]), sigma=1.0)), 6)
    0.5
  """
  X = _checks.matrix("X", X)
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


def generalization_gram_limit(S: Float[ArrayLike, "d d"], lam: Real[ArrayLike, ""], rho: Real[ArrayLike, ""],
                              sigma: Real[ArrayLike, ""], rank: int) -> Float[Array, "d d"]:
  """Cor. 3.3's population limit of a generalizing block's Gram ``W_Xk W_Xkᵀ``: ``[(S − λ/ρ I)(S + σ²I)^{-1}]_rank``.

  Old name: ``cor33_limit`` (an alias).

  ``[·]_rank`` keeps the top-``rank`` eigen-directions of S (those of Eq. (8)'s ``U_k^{(p_k)}``);
  eigenvalue ``s_j`` maps to ``(s_j − λ/ρ)/(s_j + σ²)``. σ² (not the OCR's σ), docs/theory_choices.md §5.
  Computed by ``denoisers.wiener_matrix(S, σ, rank=rank, shrink=λ/ρ)``, the one home of this formula;
  this function adds Cor. 3.3's argument checks (ρ ∈ (0, 1], S + σ²I invertible).

  Args:
    S: uncentered second moment ``(d, d)`` of the mode (Eq. (10)); lam: λ ≥ 0;
    rho: mixing weight ρ_k ∈ (0, 1]; sigma: σ ≥ 0, > 0 unless S is nonsingular; rank: p_k ≤ d.

  Returns:
    ``(d, d)`` symmetric matrix.

  Examples:
    >>> import jax.numpy as jnp
    >>> generalization_gram_limit(jnp.diag(jnp.array([3.0, 1.0])), 0.0, 1.0, 1.0, 1).tolist()
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
  return denoisers.wiener_matrix(S, sigma, rank=rank, shrink=lam / rho)


class GeneralizationTestLoss(NamedTuple):
  """Result of :func:`generalization_test_loss` (per mode and ρ-weighted); old name ``Cor33TestLoss``."""
  bias_only: jax.Array  # Σ_k ρ_k [Σ_{j≤p_k} (1−g_j)² s_j + Σ_{j>p_k} s_j]: the printed bracket (λ = 0)
  wiener_risk: jax.Array  # Σ_k ρ_k E‖D_k(x + σε) − x‖², x ~ mode k: bias + σ² Σ_j g_j²
  bias_per_mode: jax.Array  # (K,)
  risk_per_mode: jax.Array  # (K,)


def _validate_cor33_test(S, sigma, rank, lam, rho):
  """The arguments of :func:`generalization_test_loss`; returns S as ``(K, d, d)``, the K ranks and rho ``(K,)``."""
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


def generalization_test_loss(S: Float[ArrayLike, "*K d d"], sigma: Real[ArrayLike, ""], rank: int | Sequence[int], *,
                             lam: Real[ArrayLike, ""] = 0.0,
                             rho: Float[ArrayLike, " K"] | None = None) -> GeneralizationTestLoss:
  """Cor. 3.3's test-loss bound of the generalizing minimum without its ``C_k p_k/(σ² n_k)`` term.

  Returns the printed bias and the full risk. Old name: ``cor33_test_loss`` (an alias).

  For mode k with second moment ``S_k`` (eigenvalues ``s_j``, descending; Eq. (10), uncentered,
  so the mean is inside S — no separate mean is needed) and the limit denoiser
  ``D_k = generalization_gram_limit(S_k, λ, ρ_k, σ, p_k)`` (``denoisers.wiener_matrix``) with gains
  ``g_j = (s_j − λ/ρ_k)/(s_j + σ²)``:

  * ``bias_only`` — ``Σ_{j≤p_k} s_j σ⁴/(s_j+σ²)² + Σ_{j>p_k} s_j`` **as printed** (λ = 0; for
    λ > 0 we use ``(1−g_j)² s_j``), i.e. ``tr((D−I)S(D−I)ᵀ)``, the error on the *clean* signal;
  * ``wiener_risk`` — the full expected test loss on noisy inputs
    ``E‖D_k(x+σε) − x‖² = tr((D−I)S(D−I)ᵀ) + σ²‖D‖_F²``, at λ = 0
    ``Σ_{j≤p_k} σ² s_j/(s_j+σ²) + Σ_{j>p_k} s_j`` (THEORY.md §3.4 [INF], §8 item 5).

  Both are weighted by ρ_k and summed. The finite-sample term ``C_k p_k/(σ² n_k)`` has an
  unspecified constant and is left out.

  Args:
    S: ``(d, d)`` or ``(K, d, d)`` second moments (symmetric PSD).
    sigma: σ ≥ 0.
    rank: int or ``(K,)`` ints, each at most d and, at σ = 0, at most the numerical rank of its
      S_k (the gain ``s_j/(s_j+σ²)`` of a zero eigenvalue is 0/0).
    lam: λ ≥ 0.
    rho: ``(K,)`` mixing weights, > 0 and summing to 1 (default uniform).

  Examples:
    >>> import jax.numpy as jnp
    >>> r = generalization_test_loss(jnp.diag(jnp.array([3.0, 1.0])), 1.0, 1)
    >>> float(r.bias_only), float(r.wiener_risk)   # 3/16 + 1, 3/4 + 1
    (1.1875, 1.75)
  """
  S, ranks, rho = _validate_cor33_test(S, sigma, rank, lam, rho)
  eye = jnp.eye(S.shape[1], dtype=S.dtype)
  bias, risk = [], []
  for k in range(S.shape[0]):
    D = denoisers.wiener_matrix(S[k], sigma, rank=ranks[k], shrink=lam / rho[k])
    b = jnp.trace((D - eye) @ S[k] @ (D - eye).T)  # error on the clean signal
    bias.append(b)
    risk.append(b + sigma**2 * jnp.sum(D**2))  # plus the noise passed through D
  bias, risk = jnp.stack(bias), jnp.stack(risk)
  return GeneralizationTestLoss(jnp.sum(rho * bias), jnp.sum(rho * risk), bias, risk)


def linear_ae_min_loss(X: Float[ArrayLike, "n d"], sigma: Real[ArrayLike, ""], lam: Real[ArrayLike, ""],
                       p: int) -> Float[Array, ""]:
  """Global minimum of the linear-AE loss ``losses.linear_ae_loss`` over ``W1, W2 ∈ R^{d×p}`` (Lemma D.1).

  Old name: ``lemma_d1_min`` (an alias).

  With ``λ_j`` the eigenvalues of ``XᵀX`` (descending, d×d here) and ``n = len(X)``, the
  minimizer ``W_X`` of Eq. (8) has ``W Wᵀ = U diag(g) Uᵀ``, ``g_j = (λ_j − nλ)/(λ_j + nσ²)`` for
  the top ``p``, and

      min L_lin = (1/n) [ Σ_{j≤p} ((1−g_j)² λ_j + nσ² g_j² + 2nλ g_j) + Σ_{j>p} λ_j ].

  Directions with ``λ_j ≤ nλ`` get ``g_j = 0`` (the clipped formula is still the global
  minimum; Lemma D.1's precondition ``nλ < λ_p`` just makes all p directions used).

  Args:
    X: ``(n, d)``; sigma, lam: ≥ 0; p: hidden units, ≤ d.

  Examples:
    >>> import jax.numpy as jnp
    >>> float(linear_ae_min_loss(jnp.array([[1.0, 0.0]]), sigma=1.0, lam=0.0, p=1))
    0.5
  """
  X = _checks.matrix("X", X)
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


def residual_bound(gamma: Real[ArrayLike, "*shape"], sigma: Real[ArrayLike, "*shape"], C: Real[ArrayLike, ""] = 1.0,
                   c: Real[ArrayLike, ""] = 0.5) -> Float[Array, "*shape"]:
  """Thm 3.1's residual bound ``‖R(σ, γ)‖_F² ≤ C exp(−c γ²/σ²)``, constants as parameters.

  The paper calls C, c "universal constants" and never gives them (THEORY.md §8 item 1), so
  they are arguments: fit them (e.g. in ``sims.margin_check``) or use the default ``c = 1/2``,
  the Gaussian-tail exponent of a mask flip at distance γ (:func:`relu_dae.margins.margin`), with ``C = 1``.
  σ = 0 gives 0; γ = 0 gives C for every σ > 0 (also where σ² underflows). ``gamma`` and
  ``sigma`` may be arrays that broadcast together.

  Examples:
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


def two_sample_residual(a: Real[ArrayLike, "*shape"], b: Real[ArrayLike, "*shape"], sigma: Real[ArrayLike, "*shape"],
                        lam: Real[ArrayLike, ""] = 0.0) -> TwoSample:
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

  Examples:
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


# Old names (aliases; the apps and notebooks use them).
cor32_loss = memorization_loss_with_decay
cor33_limit = generalization_gram_limit
Cor33TestLoss = GeneralizationTestLoss
cor33_test_loss = generalization_test_loss
lemma_d1_min = linear_ae_min_loss
