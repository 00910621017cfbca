"""Prompt-free memorization detection from representation spikiness (THEORY.md §4.1–4.2).

Algorithm 1 of the paper (Appendix C.2): re-noise a *generated* sample ``x`` at a chosen
level, ``y = x + σε``, take the representation ``h(y) = [W1ᵀy]₊`` (Eq. 5) and flag
memorization when a spikiness score of ``h`` exceeds a threshold. Only the sample is used
(no prompt, no training data). Scores live in :data:`SCORES`; every one is oriented so that
**higher = spikier = more memorized**. :func:`evaluate` reports AUROC and TPR at 1 % FPR
(the two columns of the paper's Table 1) with scikit-learn, :func:`bootstrap_ci` their
percentile-bootstrap intervals.

Shapes: samples ``x (m, d)`` (rows are samples), representations ``h (..., p)``,
scores ``(m,)``.

Examples:
  >>> import jax, jax.numpy as jnp
  >>> params = {"W": jnp.eye(3)}
  >>> s = scores(params, jnp.array([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), 0.0, jax.random.PRNGKey(0))
  >>> [round(float(v), 3) for v in s["top1_share"]]
  [1.0, 0.333]
  >>> evaluate(jnp.array([2.0, 3.0]), jnp.array([0.0, 1.0])).auroc
  1.0
"""

from __future__ import annotations

from typing import NamedTuple
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import sklearn.metrics

import jax
import jax.numpy as jnp
from jaxtyping import PyTree

from relu_dae import _checks
from relu_dae import model
from relu_dae import spikiness
from relu_dae.spikiness import max_over_mean, negative_participation_ratio

__all__ = [
    "BootstrapCI",
    "Detection",
    "SCORES",
    "bootstrap_ci",
    "evaluate",
    "max_over_mean",
    "negative_participation_ratio",
    "scores",
    "tpr_at_fpr",
]


# name -> h (..., p) -> score (...,). Orientation: higher = more memorized for every entry.
SCORES: Mapping[str, Callable[[jax.Array], jax.Array]] = {
    # The paper's score (§4.1): std over units (population std, as `v.std(unbiased=False)`).
    # Not scale-free: it also grows with ‖h‖.
    "std": spikiness.representation_std,
    # ‖h‖₄/‖h‖₂ ∈ [p^{-1/4}, 1] (official code's logged score), scale-free.
    "l4_over_l2": spikiness.l4_over_l2,
    # max/mean ∈ [1, p], scale-free.
    "max_over_mean": max_over_mean,
    # share of ‖h‖² in the largest unit ∈ [1/p, 1], scale-free.
    "top1_share": spikiness.top1_share,
    # NEGATED participation ratio ∈ [−p, −1], scale-free.
    "participation_ratio": negative_participation_ratio,
}


def _score_fns(names) -> dict:
  if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
    raise TypeError(f"names must be a mapping or a sequence of score names, got {names!r}")
  if isinstance(names, Mapping):
    fns = dict(names)
    bad = [k for k, fn in fns.items() if not callable(fn)]
    if bad:
      raise TypeError(f"names maps {bad} to non-callables; values must be functions h (..., p) -> (...)")
  else:
    names = list(names)
    if not all(isinstance(k, str) for k in names):
      raise TypeError(f"names must hold score names (strings), got {names!r}")
    unknown = [k for k in names if k not in SCORES]
    if unknown:
      raise ValueError(f"names contains unknown scores {unknown}; known: {sorted(SCORES)}")
    fns = {k: SCORES[k] for k in names}
  if not fns:
    raise ValueError("names must name at least one score")
  return fns


def scores(params: PyTree, x: jax.Array, sigma, key: jax.Array, *, num_noise: int = 1,
           names: Mapping[str, Callable] | Iterable[str] = SCORES,
           represent: Callable = model.represent) -> dict:
  """Spikiness scores of re-noised samples, Algorithm 1 (THEORY.md §4.2).

  For each sample ``x_i`` and noise draw ``ε ~ N(0, I)``: ``h = represent(params, x_i + σε)``,
  score ``s(h)``; the score of ``x_i`` is the mean over ``num_noise`` draws. Prompt-free:
  only the sample enters. ``sigma = 0`` scores the clean sample.

  Args:
    params: model parameters (tied or untied, :mod:`relu_dae.model`).
    x: samples ``(m, d)`` (e.g. generated samples).
    sigma: re-noising level σ ≥ 0 (the paper: t = 50, σ ≈ 0.17; THEORY.md §8 item 7).
    key: PRNG key for the noise.
    num_noise: noise draws per sample, ≥ 1.
    names: a sequence of names from :data:`SCORES`, or a mapping name → ``h (..., p) → (...)``.
    represent: ``(params, y) → h``; default the Eq. (5) encoder (pass e.g. a diffusion
      model's ``represent`` to score another network).

  Returns:
    ``{name: (m,) scores}``.

  Examples:
    >>> s = scores({"W": jnp.eye(2)}, jnp.array([[1.0, 0.0]]), 0.0, jax.random.PRNGKey(0),
    ...            names=["std", "participation_ratio"])
    >>> {k: float(v[0]) for k, v in s.items()}
    {'std': 0.5, 'participation_ratio': -1.0}
  """
  x, num_noise, fns = _validate_scores(params, x, sigma, key, num_noise, names, represent)
  eps = jax.random.normal(key, (num_noise,) + jnp.shape(x))
  h = represent(params, x + sigma * eps)  # (num_noise, m, p)
  return {k: jnp.mean(fn(h), axis=0) for k, fn in fns.items()}


def _validate_scores(params, x, sigma, key, num_noise, names, represent):
  if not callable(represent):
    raise TypeError(f"represent must be a function (params, y) -> h, got {type(represent).__name__}")
  x = _checks.matrix("x", x)
  if represent is model.represent:  # a custom encoder (e.g. diffusion.represent) checks its own params
    _checks.trailing_dim("x", x, _checks.dae_params("params", params)[0])
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.key("key", key)
  return x, _checks.positive_int("num_noise", num_noise), _score_fns(names)


class Detection(NamedTuple):
  """Detection quality of a score; positives = memorized (label 1).

  Attributes:
    auroc: ``sklearn.metrics.roc_auc_score``.
    tpr_at_1pct_fpr: TPR of the ROC curve at FPR = ``fpr_level`` (see :func:`tpr_at_fpr`).
    fpr, tpr, thresholds: the full ROC curve of ``sklearn.metrics.roc_curve``
      (``drop_intermediate=False``).
  """
  auroc: float
  tpr_at_1pct_fpr: float
  fpr: np.ndarray
  tpr: np.ndarray
  thresholds: np.ndarray


def _scores_1d(name: str, s) -> np.ndarray:
  if np.ndim(s) != 1 or np.size(s) == 0:
    _checks.array(name, s)  # a TypeError for non-arrays first
    raise ValueError(f"{name} must be a non-empty 1-D array of scores, got shape {np.shape(s)}")
  _checks.array(name, s)  # real, finite, moderate scale
  return np.asarray(s, dtype=float)


def _roc_curve(fpr, tpr) -> tuple[np.ndarray, np.ndarray]:
  """A ROC curve: two non-empty 1-D arrays of the same length in [0, 1], both nondecreasing."""
  out = []
  for name, c in (("fpr", fpr), ("tpr", tpr)):
    c = np.asarray(_checks.array(name, c, ndim=1), float)
    if c.size == 0 or np.any(c < 0) or np.any(c > 1) or np.any(np.diff(c) < 0):
      raise ValueError(f"{name} must be a non-empty, nondecreasing 1-D array in [0, 1] (a ROC curve), got {c}")
    out.append(c)
  if out[0].shape != out[1].shape:
    raise ValueError(f"fpr and tpr must have the same shape, got {out[0].shape} and {out[1].shape}")
  return out[0], out[1]


def tpr_at_fpr(fpr, tpr, level: float = 0.01) -> float:
  """TPR of a ROC curve at FPR = ``level``, by linear interpolation between ROC vertices.

  With ``i`` the last vertex with ``fpr[i] ≤ level`` (the highest TPR reachable by a
  threshold at FPR ≤ level): if ``fpr[i] = level`` (or it is the last vertex) return
  ``tpr[i]``, else interpolate linearly to vertex ``i+1`` — the TPR of the randomized
  classifier mixing the two thresholds. On a full curve (``drop_intermediate=False``) without
  ties between a positive and a negative score, the step after vertex ``i`` is horizontal, so
  this equals the brute-force ``max_t {TPR(t) : FPR(t) ≤ level}``; a tie makes a diagonal
  step, interpolated (then it can exceed the brute force). (The official code's
  ``quantile(neg, 0.99)`` threshold is a third variant.)

  Args:
    fpr, tpr: a ROC curve, e.g. from ``sklearn.metrics.roc_curve``: nondecreasing 1-D arrays in
      [0, 1] of one length, with ``fpr[0] <= level`` (a full curve starts at (0, 0)).
    level: the FPR in [0, 1].

  Examples:
    >>> tpr_at_fpr(np.array([0.0, 0.0, 0.02, 1.0]), np.array([0.0, 0.5, 0.7, 1.0]))
    0.6
  """
  fpr, tpr = _roc_curve(fpr, tpr)
  _checks.in_range("level", level, 0.0, 1.0)
  if fpr[0] > level:
    raise ValueError(f"fpr has no vertex at FPR <= level={level} (fpr[0]={fpr[0]}); a full ROC curve starts at (0, 0)")
  return _tpr_at(fpr, tpr, float(level))


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, level: float) -> float:
  i = int(np.searchsorted(fpr, level, side="right")) - 1
  if i + 1 >= fpr.size or fpr[i] == level:
    return float(tpr[i])
  w = (level - fpr[i]) / (fpr[i + 1] - fpr[i])
  return float(tpr[i] + w * (tpr[i + 1] - tpr[i]))


def evaluate(scores_pos, scores_neg, *, fpr_level: float = 0.01) -> Detection:
  """AUROC and TPR at 1 % FPR of a score (the metrics of the paper's Table 1).

  Positives (label 1, memorized) should score higher. Ties count one half in the AUROC
  (``roc_auc_score``); the ROC curve keeps every threshold so :func:`tpr_at_fpr` can
  interpolate.

  Args:
    scores_pos: ``(n_pos,)`` scores of memorized samples.
    scores_neg: ``(n_neg,)`` scores of novel samples.
    fpr_level: the FPR at which TPR is reported (default 0.01).

  Returns:
    :class:`Detection`.

  Examples:
    >>> round(evaluate([0.9, 0.4], [0.5, 0.1]).auroc, 2)
    0.75
  """
  pos = _scores_1d("scores_pos", scores_pos)
  neg = _scores_1d("scores_neg", scores_neg)
  _checks.in_range("fpr_level", fpr_level, 0.0, 1.0)
  return _evaluate(pos, neg, float(fpr_level))


def _evaluate(pos: np.ndarray, neg: np.ndarray, fpr_level: float) -> Detection:
  y = np.concatenate([np.ones(pos.size, bool), np.zeros(neg.size, bool)])
  s = np.concatenate([pos, neg])
  fpr, tpr, thr = sklearn.metrics.roc_curve(y, s, drop_intermediate=False)
  auroc = float(sklearn.metrics.roc_auc_score(y, s))
  return Detection(auroc, _tpr_at(fpr, tpr, fpr_level), fpr, tpr, thr)


class BootstrapCI(NamedTuple):
  """Percentile-bootstrap intervals ``(lo, hi)`` of :func:`evaluate`'s two numbers."""
  auroc: tuple[float, float]
  tpr_at_1pct_fpr: tuple[float, float]


def _rng(seed) -> np.random.Generator:
  if isinstance(seed, np.random.Generator):
    return seed
  if isinstance(seed, jax.Array):  # a PRNG key, raw uint32 (2,) or typed
    _checks.key("seed", seed)
    if jnp.issubdtype(seed.dtype, jax.dtypes.prng_key):
      seed = jax.random.key_data(seed)
    return np.random.default_rng(np.asarray(seed, dtype=np.uint32).ravel().tolist())
  if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
    return np.random.default_rng(int(seed))
  if seed is None or isinstance(seed, (str, bytes, dict, list, tuple)):
    raise TypeError(f"seed must be a nonnegative int, a numpy Generator or a jax PRNG key, got {seed!r}")
  raise ValueError(f"seed must be a nonnegative int, a numpy Generator or a jax PRNG key, got {seed!r}")


def bootstrap_ci(seed, scores_pos, scores_neg, num: int = 1000, level: float = 0.95, *,
                 fpr_level: float = 0.01) -> BootstrapCI:
  """Percentile-bootstrap confidence intervals of AUROC and TPR at 1 % FPR.

  Each of ``num`` replicates resamples the positives and the negatives *separately*, with
  replacement and at their original sizes (a stratified bootstrap: the class balance stays
  fixed), and recomputes :func:`evaluate`; the interval is the ``(1−level)/2`` and
  ``(1+level)/2`` quantiles of the replicates.

  Args:
    seed: nonnegative int, ``np.random.Generator`` or jax PRNG key.
    scores_pos, scores_neg: ``(n_pos,)``, ``(n_neg,)`` scores (positives = memorized).
    num: number of bootstrap replicates, ≥ 1.
    level: confidence level in (0, 1).
    fpr_level: FPR for the TPR (default 0.01).

  Returns:
    :class:`BootstrapCI` of ``(lo, hi)`` pairs.

  Examples:
    >>> ci = bootstrap_ci(0, [3.0, 4.0, 5.0], [0.0, 1.0, 2.0], num=50)
    >>> ci.auroc
    (1.0, 1.0)
  """
  pos = _scores_1d("scores_pos", scores_pos)
  neg = _scores_1d("scores_neg", scores_neg)
  num = _checks.positive_int("num", num)
  _checks.in_range("level", level, 0.0, 1.0, closed=(False, False))
  _checks.in_range("fpr_level", fpr_level, 0.0, 1.0)
  rng = _rng(seed)
  stats = np.empty((num, 2))
  for b in range(num):
    pb, nb = rng.choice(pos, pos.size), rng.choice(neg, neg.size)
    r = _evaluate(pb, nb, float(fpr_level))
    stats[b] = r.auroc, r.tpr_at_1pct_fpr
  lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2], axis=0)
  return BootstrapCI((float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))
