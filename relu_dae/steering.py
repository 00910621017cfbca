"""Representation steering, Eq. (11) (THEORY.md §4.3).

    f_steered(y) = g(h(y) + a·v),    v = mean_{x̃ ∈ S} h(x̃ + σ̃ε),

with ``h(y) = [W1ᵀy]₊`` and ``g(h) = W2 h`` the encoder and decoder of Eq. (5), ``S`` a
target set and ``a ∈ R`` the strength. :func:`steering_vector` is Eq. (11)'s ``v``;
:func:`contrastive_vector` the mean-difference direction the official notebook appears to
use (§8 item 8). :func:`response_curve`, :func:`smoothness` and :func:`smoothness_per_sample` quantify the paper's
qualitative claim (smooth, monotone edits for generalized inputs; brittle, threshold-like
ones for memorized inputs). :func:`steered_denoiser` turns Eq. (11) into a denoiser
``(y, σ) → x̂`` that steers only on a window of noise levels, so
``relu_dae.diffusion.sample(steered_denoiser(...), ...)`` is steered sampling as in the official
code (which steers only on some of the steps; :func:`step_window` converts steps to σ).

Shapes: inputs ``y (..., d)``, target sets ``X (n, d)`` (rows are samples), vectors
``v (p,)``.

Examples:
  >>> import jax, jax.numpy as jnp
  >>> params = {"W": jnp.eye(2)}
  >>> v = steering_vector(params, jnp.array([[0.0, 1.0]]), 0.0, jax.random.PRNGKey(0))
  >>> steer(params, jnp.array([1.0, 0.0]), v, 2.0)
  Array([1., 2.], dtype=float32)
"""

from __future__ import annotations

import warnings
from typing import NamedTuple
from collections.abc import Callable

import numpy as np

import jax
import jax.numpy as jnp

from jax.tree_util import Partial
from jaxtyping import ArrayLike, Float, PyTree

from relu_dae import _checks
from relu_dae import diffusion
from relu_dae import model

__all__ = ["steering_vector", "contrastive_vector", "steer", "response_curve", "smoothness", "smoothness_per_sample",
           "NearestMean", "nearest_mean_classifier", "steered_denoiser", "step_window"]


def _callable(name: str, fn) -> None:
  if not callable(fn):
    raise TypeError(f"{name} must be a function, got {type(fn).__name__}")


def _samples(name: str, X, params, represent, ncols: int | None = None):
  """A data matrix ``X (n, d)``; ``d`` checked against the Eq. (5) params when that encoder is used."""
  X = _checks.matrix(name, X, ncols=ncols)
  if represent is model.represent:  # a custom encoder (e.g. diffusion.represent) checks its own params
    _checks.trailing_dim(name, X, _checks.dae_params("params", params)[0])
  return X


def _validate_vector(params, X_target, sigma, key, num_noise, represent):
  _callable("represent", represent)
  X_target = _samples("X_target", X_target, params, represent)
  _checks.scalar_nonnegative("sigma", sigma)
  _checks.key("key", key)
  return X_target, _checks.positive_int("num_noise", num_noise)


def steering_vector(params: PyTree, X_target: jax.Array, sigma, key: jax.Array, *,
                    num_noise: int = 1, represent: Callable = model.represent) -> jax.Array:
  """Eq. (11)'s ``v = (1/|S|) Σ_{x̃∈S} h(x̃ + σ̃ε)``: the mean representation of a target set.

  The mean runs over the ``n`` target samples and ``num_noise`` noise draws each
  (``σ̃ = sigma``; ``sigma = 0`` uses clean samples). No normalization (the paper gives none;
  §8 item 8).

  Args:
    params: model parameters (tied or untied).
    X_target: target samples ``(n, d)``.
    sigma: noise level σ̃ ≥ 0 of the reference representations.
    key: PRNG key for the noise.
    num_noise: noise draws per sample, ≥ 1.
    represent: ``(params, y) → h``; default the Eq. (5) encoder.

  Returns:
    ``v (p,)``.

  Examples:
    >>> steering_vector({"W": jnp.eye(2)}, jnp.array([[1.0, 0.0], [0.0, 3.0]]), 0.0,
    ...                 jax.random.PRNGKey(0))
    Array([0.5, 1.5], dtype=float32)
  """
  X_target, num_noise = _validate_vector(params, X_target, sigma, key, num_noise, represent)
  eps = jax.random.normal(key, (num_noise,) + jnp.shape(X_target))
  h = represent(params, X_target + sigma * eps)  # (num_noise, n, p)
  return jnp.mean(h, axis=(0, 1))


def contrastive_vector(params: PyTree, X_target: jax.Array, X_source: jax.Array, sigma,
                       key: jax.Array, *, num_noise: int = 1,
                       represent: Callable = model.represent) -> jax.Array:
  """``v = mean h(target) − mean h(source)``: the contrastive steering direction.

  THEORY.md §4.3 / §8 item 8: the official steering notebook builds "pos" (has the attribute)
  and "neg" (baseline) reference sets and "computes a direction", most likely this mean
  difference, whereas Eq. (11) uses the target mean alone (:func:`steering_vector`). Unlike
  Eq. (11)'s ``v``, this one has negative entries, so ``h + a·v`` can leave the ReLU
  orthant (see :func:`steer`). Both means use the same ``key``: when the two sets have the
  same shape they see identical noise, which cancels shared noise-induced representation
  and equals ``steering_vector(..., X_target, key) − steering_vector(..., X_source, key)``.

  Args:
    X_target: ``(n_t, d)`` samples with the target concept; X_source: ``(n_s, d)`` without.
    Other arguments as in :func:`steering_vector`.

  Returns:
    ``v (p,)``.

  Examples:
    >>> contrastive_vector({"W": jnp.eye(2)}, jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 0.0]]),
    ...                    0.0, jax.random.PRNGKey(0))
    Array([-1.,  1.], dtype=float32)
  """
  kw = dict(num_noise=num_noise, represent=represent)
  _validate_vector(params, X_target, sigma, key, num_noise, represent)
  _samples("X_source", X_source, params, represent, ncols=jnp.shape(X_target)[1])
  target = steering_vector(params, X_target, sigma, key, **kw)
  return target - steering_vector(params, X_source, sigma, key, **kw)


def _validate_steer(params, y, v, a, represent, decode):
  """Types, finiteness (when concrete) and shapes of :func:`steer`'s arguments; traceable."""
  _callable("represent", represent)
  _callable("decode", decode)
  y = _checks.array("y", y)
  if jnp.ndim(y) == 0:
    raise ValueError("y must have shape (..., d), got a scalar")
  if represent is model.represent:
    _checks.trailing_dim("y", y, _checks.dae_params("params", params)[0])
  v = _checks.array("v", v, ndim=1)
  a = _checks.array("a", a)
  try:
    np.broadcast_shapes(jnp.shape(a), jnp.shape(y)[:-1])
  except ValueError:
    raise ValueError(f"a of shape {jnp.shape(a)} does not broadcast with y's batch shape {jnp.shape(y)[:-1]} "
                     f"(y has shape {jnp.shape(y)})") from None
  return y, v, a


def steer(params: PyTree, y: jax.Array, v: jax.Array, a, *, represent: Callable = model.represent,
          decode: Callable = model.decode) -> jax.Array:
  """The steered denoiser of Eq. (11), ``g(h(y) + a·v) = W2 ([W1ᵀy]₊ + a·v)``.

  Choice: **no ReLU after adding** ``a·v`` — Eq. (11) adds to the representation the decoder
  reads and applies ``g`` directly, and in the ReLU-DAE ``g`` is linear. For Eq. (11)'s own
  ``v ≥ 0`` and ``a ≥ 0`` the sum stays nonnegative, so a ReLU would change nothing; it only
  matters for a contrastive ``v`` or ``a < 0``. Hence ``steer(params, y, v, a)`` =
  ``apply(params, y) + a·decode(params, v)``, affine in ``a``.

  Args:
    params: model parameters (tied or untied).
    y: inputs ``(..., d)``.
    v: steering vector ``(p,)``.
    a: strength; scalar or any array broadcastable with ``y.shape[:-1]`` — e.g.
      ``a[:, None]`` with ``y (m, d)`` gives ``(len(a), m, d)``. Traceable: ``jit``/``vmap``
      over ``a`` work.
    represent, decode: ``(params, y) → h`` and ``(params, h) → output``; default the Eq. (5)
      encoder and decoder (bind extra arguments, e.g. a diffusion model's σ, with a closure).

  Returns:
    ``(broadcast(a.shape, y.shape[:-1]), d)``.

  Examples:
    >>> steer({"W": jnp.eye(2)}, jnp.ones((3, 2)), jnp.array([1.0, 0.0]),
    ...       jnp.array([0.0, 1.0])[:, None]).shape
    (2, 3, 2)
  """
  y, v, a = _validate_steer(params, y, v, a, represent, decode)
  h = represent(params, y)
  if jnp.shape(v) != jnp.shape(h)[-1:]:
    raise ValueError(f"v must have shape (p,)={jnp.shape(h)[-1:]}, got {jnp.shape(v)}")
  a = jnp.asarray(a)
  return decode(params, h + a[..., None] * v)


def _validate_curve(params, Y, a_values, classify, steer_kwargs):
  unknown = sorted(set(steer_kwargs) - {"represent", "decode"})
  if unknown:
    raise TypeError(f"steer_kwargs may only hold 'represent' and 'decode', got {unknown}")
  _callable("classify", classify)
  _samples("Y", Y, params, steer_kwargs.get("represent", model.represent))
  a_values = _checks.array("a_values", a_values)
  if jnp.ndim(a_values) != 1 or jnp.size(a_values) == 0:
    raise ValueError(f"a_values must be a non-empty 1-D array, got shape {jnp.shape(a_values)}")
  return a_values


def response_curve(params: PyTree, Y: jax.Array, v: jax.Array, a_values,
                   classify: Callable, **steer_kwargs) -> jax.Array:
  """Classifier outputs of steered denoisings ``classify(g(h(y) + a·v))`` over a grid of ``a``.

  Args:
    params: model parameters.
    Y: inputs ``(m, d)`` (e.g. noisy versions of generalized or memorized samples).
    v: steering vector ``(p,)``.
    a_values: strengths ``(A,)``.
    classify: ``(N, d) → (N,)`` class indices or ``(N, d) → (N, C)`` probabilities
      (e.g. :func:`nearest_mean_classifier`'s ``predict`` / ``proba``, or a scikit-learn
      ``predict_proba``); called once on all ``A·m`` outputs.
    **steer_kwargs: ``represent`` / ``decode`` for :func:`steer`.

  Returns:
    ``(A, m)`` or ``(A, m, C)``; row i belongs to ``a_values[i]``.

  Examples:
    >>> clf = nearest_mean_classifier(jnp.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> response_curve({"W": jnp.eye(2)}, jnp.array([[1.0, 0.0]]), jnp.array([0.0, 1.0]),
    ...                jnp.array([0.0, 2.0]), clf.predict)
    Array([[0],
           [1]], dtype=int32)
  """
  a_values = _validate_curve(params, Y, a_values, classify, steer_kwargs)
  out = steer(params, Y, v, a_values[:, None], **steer_kwargs)  # (A, m, d)
  A, m, d = out.shape
  pred = classify(jnp.reshape(out, (A * m, d)))
  if jnp.ndim(pred) not in (1, 2) or jnp.shape(pred)[0] != A * m:
    raise ValueError(f"classify must map (N, d) to (N,) or (N, C); given N={A * m} inputs it returned shape "
                     f"{jnp.shape(pred)}")
  return jnp.reshape(jnp.asarray(pred), (A, m) + jnp.shape(pred)[1:])


def _curve(curve, ndims: tuple[int, ...]) -> np.ndarray:
  """A real, finite response curve ``(A,)`` / ``(A, m)`` with ``A ≥ 2`` and ``m ≥ 1``, as float64 numpy."""
  _checks.array("curve", curve)  # real and finite
  c = np.asarray(curve, dtype=float)
  shapes = " or ".join({1: "(A,)", 2: "(A, m)"}[k] for k in ndims)
  if c.ndim not in ndims or c.shape[0] < 2 or c.size == 0:
    raise ValueError(f"curve must have shape {shapes} with A >= 2 and m >= 1, got {c.shape}")
  return c


def _roughness(c: np.ndarray):
  """``Σ_i |c_{i+1} − c_i|`` and ``max_i |c_{i+1} − c_i|`` along axis 0."""
  jumps = np.abs(np.diff(c, axis=0))
  return jumps.sum(axis=0), jumps.max(axis=0)


def smoothness(curve: Float[ArrayLike, " A *m"], *, per_sample: bool | None = None) -> dict:
  """Roughness of a response curve ``c(a)`` sampled on a grid ``a_0 < … < a_{A−1}``.

  ``total_variation = Σ_i |c_{i+1} − c_i|`` (equals the range ``c_{A−1} − c_0`` for a
  monotone curve; larger means oscillation) and ``max_jump = max_i |c_{i+1} − c_i|``. For a
  probability going 0 → 1: a step has ``max_jump = 1`` (brittle, threshold-like), a linear ramp
  ``1/(A−1)`` (smooth). Both depend on the grid, so compare curves on the same ``a`` grid.

  Args:
    curve: ``(A,)``, or ``(A, m)`` per-input curves (e.g. :func:`response_curve`'s probability
      of the target class), which are first averaged over inputs (the mean target-probability
      curve). :func:`smoothness_per_sample` measures each input's curve instead.
    per_sample: deprecated; ``True`` returns :func:`smoothness_per_sample` of a 2-D curve (with a
      ``DeprecationWarning``).

  Returns:
    ``{"total_variation", "max_jump"}``: floats.

  Examples:
    >>> smoothness(np.array([0.0, 0.0, 1.0, 1.0]))
    {'total_variation': 1.0, 'max_jump': 1.0}
  """
  if per_sample is not None:
    per_sample = _checks.boolean("per_sample", per_sample)
    warnings.warn("smoothness(per_sample=...) is deprecated: smoothness returns the summary of the mean curve; "
                  "call relu_dae.steering.smoothness_per_sample for each input's numbers", DeprecationWarning,
                  stacklevel=2)
  c = _curve(curve, (1, 2))
  if per_sample and c.ndim == 2:
    return smoothness_per_sample(c)
  tv, mj = _roughness(c.mean(axis=1) if c.ndim == 2 else c)
  return {"total_variation": float(tv), "max_jump": float(mj)}


def smoothness_per_sample(curve: Float[ArrayLike, "A m"]) -> dict:
  """:func:`smoothness`'s ``total_variation`` and ``max_jump`` of each input's curve, not of their mean.

  Averaging per-input steps at different thresholds gives a smooth-looking ramp; measured per
  input, each step keeps ``max_jump = 1`` (docs/theory_choices.md §17).

  Args:
    curve: ``(A, m)`` curves, one column per input (e.g. :func:`response_curve`'s probability of
      the target class), ``A ≥ 2``.

  Returns:
    ``{"total_variation", "max_jump"}``: ``(m,)`` float arrays.

  Examples:
    >>> r = smoothness_per_sample(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]))
    >>> r["max_jump"].tolist(), r["total_variation"].tolist()
    ([1.0, 1.0], [1.0, 1.0])
  """
  tv, mj = _roughness(_curve(curve, (2,)))
  return {"total_variation": tv, "max_jump": mj}


class NearestMean(NamedTuple):
  """A nearest-class-mean classifier: ``predict (N, d) → (N,)`` and ``proba (N, d) → (N, K)``."""
  predict: Callable[[jax.Array], jax.Array]
  proba: Callable[[jax.Array], jax.Array]


def nearest_mean_classifier(means: jax.Array, *, tau: float = 1.0) -> NearestMean:
  """Classifies by Euclidean distance to class means: the target-class probability steering is scored by.

  The paper judges steering by eye (docs/THEORY.md §4.3); we quantify it by the probability of the
  target class along a :func:`response_curve`, and this classifier's ``proba`` is that probability
  (docs/theory_choices.md §17).

  ``predict(y) = argmin_k ‖y − μ_k‖``; ``proba(y) = softmax_k(−‖y − μ_k‖ / τ)`` (distances,
  not squared distances; ``τ → 0`` recovers the hard rule). Both are pure ``jnp`` and take
  ``y (..., d)``.

  Args:
    means: class means ``(K, d)``, K ≥ 2 (e.g. per-class training means).
    tau: temperature τ > 0, in units of distance.

  Returns:
    :class:`NearestMean`.

  Examples:
    >>> clf = nearest_mean_classifier(jnp.array([[0.0, 0.0], [2.0, 0.0]]))
    >>> clf.predict(jnp.array([[1.5, 0.0]])), clf.proba(jnp.array([[1.0, 0.0]]))
    (Array([1], dtype=int32), Array([[0.5, 0.5]], dtype=float32))
  """
  means = _checks.matrix("means", means)
  if means.shape[0] < 2:
    raise ValueError(f"means must hold at least 2 classes, got shape {means.shape}")
  _checks.scalar_positive("tau", tau)
  t, dtype = _checks.concrete(tau), jnp.result_type(float)
  if t is not None and np.asarray(t, dtype) < np.finfo(dtype).tiny:
    raise ValueError(f"tau={tau} underflows {dtype} (below {np.finfo(dtype).tiny:.3g}): proba would be NaN")
  means = jnp.asarray(means)

  def distances(y):
    _checks.real_floating("y", y)
    _checks.trailing_dim("y", y, means.shape[1])
    return jnp.linalg.norm(y[..., None, :] - means, axis=-1)

  return NearestMean(lambda y: jnp.argmin(distances(y), axis=-1),
                     lambda y: jax.nn.softmax(-distances(y) / tau, axis=-1))


# ----------------------------------------------------------------------------- steered sampling


def _in_window(sigma, lo, hi):
  return (sigma >= lo) & (sigma <= hi)


def _steered_diffusion(params, v, a, lo, hi, y, sigma):
  a_eff = jnp.where(_in_window(sigma, lo, hi), a, 0.0)
  decode = lambda q, h: diffusion.decode(q, h, sigma)
  return steer(params, y, v, a_eff, represent=diffusion.represent, decode=decode) + params["skip"] * y


def _steered_dae(params, v, a, lo, hi, y, sigma):
  return steer(params, y, v, jnp.where(_in_window(sigma, lo, hi), a, 0.0))


def _window(sigma_window) -> tuple[float, float]:
  if sigma_window is None:
    return 0.0, float("inf")
  if isinstance(sigma_window, (str, bytes, dict, set)):
    raise TypeError(f"sigma_window must be None or a pair (lo, hi), got {sigma_window!r}")
  if not isinstance(sigma_window, (tuple, list)) or len(sigma_window) != 2:
    raise ValueError(f"sigma_window must be None or a pair (lo, hi), got {sigma_window!r}")
  for i, s in enumerate(sigma_window):
    _checks.number(f"sigma_window[{i}]", s)
  lo, hi = (float(np.asarray(s)) for s in sigma_window)
  if not (np.isfinite(lo) and 0 <= lo <= hi) or np.isnan(hi):
    raise ValueError(f"sigma_window must satisfy 0 <= lo <= hi (lo finite, hi may be inf), got {sigma_window!r}")
  return lo, hi


def steered_denoiser(params, v: jax.Array, a, *, sigma_window=None) -> Partial:
  """Eq. (11) as a denoiser ``(y, σ) ↦ g(h(y) + a·v)`` applied only for ``lo ≤ σ ≤ hi``.

  Outside the window it is the plain model. For the time-conditioned model of
  :mod:`relu_dae.diffusion` (params with keys ``W, skip, time``), ``h = [Wᵀy]₊`` (the official
  ``rep``), ``g = diffusion.decode`` at level σ and the skip ``s·y`` is kept:

      x̂(y, σ) = W (exp(m(log σ)) ⊙ ([Wᵀy]₊ + a·v)) + s·y     if lo ≤ σ ≤ hi,
      x̂(y, σ) = diffusion.apply(params, y, σ)                 otherwise.

  For the single-σ DAE of Eq. (5) (``{"W"}`` or ``{"W1", "W2"}``) it is :func:`steer` inside the
  window and ``model.apply`` outside (σ only selects the window). ``a = 0`` or a window that
  contains no σ of the sampling grid gives the unsteered model (``h + 0·v = h``). The result is a
  ``jax.tree_util.Partial`` whose leaves are ``params, v, a, lo, hi``, so
  :func:`relu_dae.diffusion.sample` compiles once for all strengths and windows.

  Args:
    params: :func:`relu_dae.diffusion.init` params or tied/untied DAE params.
    v: steering vector ``(p,)`` (:func:`steering_vector` / :func:`contrastive_vector` of the
      representation ``[Wᵀy]₊``, e.g. ``steering_vector({"W": params["W"]}, ...)``).
    a: strength, a scalar.
    sigma_window: ``(lo, hi)`` with ``0 ≤ lo ≤ hi`` (``hi`` may be ``inf``); ``None`` steers at
      every σ. :func:`step_window` gives the window of a range of sampler steps.

  Returns:
    ``denoise(y (..., d), σ) -> (..., d)`` (σ a scalar or broadcastable to ``y.shape[:-1]``).

  Examples:
    >>> f = steered_denoiser({"W": jnp.eye(2)}, jnp.array([0.0, 1.0]), 2.0, sigma_window=(0.1, 1.0))
    >>> f(jnp.array([1.0, 0.0]), 0.5), f(jnp.array([1.0, 0.0]), 1.5)
    (Array([1., 2.], dtype=float32), Array([1., 0.], dtype=float32))
  """
  lo, hi = _window(sigma_window)
  if hasattr(params, "keys") and set(params.keys()) == {"W", "skip", "time"}:
    diffusion.model_denoiser(params)  # validates
    fn, p = _steered_diffusion, jnp.shape(params["W"])[1]
  else:
    fn, p = _steered_dae, _checks.dae_params("params", params)[1]
  v = _checks.array("v", v)
  if jnp.shape(v) != (p,):
    raise ValueError(f"v must have shape (p,)=({p},), got {jnp.shape(v)}")
  _checks.number("a", a)
  _checks.finite("a", a)
  dtype = jnp.result_type(float)
  return Partial(fn, params, jnp.asarray(v), jnp.asarray(a, dtype), jnp.asarray(lo, dtype),
                 jnp.asarray(hi, dtype))


def _step(x, name: str) -> int:
  """A sampler step index (a Python/numpy integer, not a bool)."""
  if x is None or isinstance(x, (str, bytes, dict, list, tuple)):
    raise TypeError(f"{name} must be an integer step index, got {x!r}")
  if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
    raise ValueError(f"{name} must be an integer step index, got {x!r}")
  return int(x)


def step_window(num_steps: int, first: int, last: int, *, sigma_max=diffusion.SIGMA_MAX,
                sigma_min=diffusion.SIGMA_MIN) -> tuple[float, float]:
  """The σ window of sampler steps ``first … last−1`` on :func:`relu_dae.diffusion.sigma_grid`.

  Step i of the sampler evaluates the denoiser at σ_i = σ_max (σ_min/σ_max)^{i/(N−1)}. The window
  runs between geometric midpoints of neighbouring levels, ``lo = √(σ_{last−1} σ_last)`` (0 if
  ``last = N``) and ``hi = √(σ_{first−1} σ_first)`` (``inf`` if ``first = 0``), so it holds
  exactly the levels σ_first … σ_{last−1} whatever the rounding. The official steering notebook
  steers "the last 20 of 40 steps except the last 2", i.e. ``step_window(40, 20, 38)``.

  Args:
    num_steps: N ≥ 1, as passed to ``diffusion.sample``.
    first, last: ``0 ≤ first < last ≤ N``, Python slice convention.
    sigma_max, sigma_min: the grid's ends, as passed to ``diffusion.sample``.

  Returns:
    ``(lo, hi)`` floats for :func:`steered_denoiser`'s ``sigma_window``.

  Examples:
    >>> lo, hi = step_window(3, 1, 2, sigma_max=1.0, sigma_min=0.01)
    >>> round(lo, 4), round(hi, 4)
    (0.0316, 0.3162)
  """
  num_steps = _checks.positive_int("num_steps", num_steps)
  first, last = _step(first, "first"), _step(last, "last")
  if not 0 <= first < num_steps:
    raise ValueError(f"first must satisfy 0 <= first < num_steps={num_steps}, got first={first}")
  if not first < last <= num_steps:
    raise ValueError(f"last must satisfy first={first} < last <= num_steps={num_steps}, got last={last}")
  _checks.scalar_positive("sigma_max", sigma_max)
  _checks.scalar_positive("sigma_min", sigma_min)
  if not sigma_min < sigma_max:
    raise ValueError(f"sigma_min must be < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}")
  sig = np.asarray(diffusion.sigma_grid(num_steps, sigma_max, sigma_min), np.float64)
  lo = float(np.sqrt(sig[last - 1] * sig[last]))
  hi = float(np.sqrt(sig[first - 1] * sig[first])) if first > 0 else float("inf")
  return lo, hi
