"""Training Eq. (6) with optax, as one pure, ``jit``-compiled function.

The optimization loop is a ``lax.scan`` over steps, nested in a ``lax.scan`` over
chunks of ``config.chunk_size`` steps; after each chunk an optional host callback
(``jax.debug.callback``) reports progress. Each step draws fresh noise (and a fresh
minibatch, sampled with replacement, when ``batch_size`` is set).

Weight decay enters two ways, both optional:

* ``lam`` (coupled): the penalty ``λ Σ_l ‖W_l‖_F²`` of Eq. (6) is part of the loss, so
  its gradient ``2λW`` passes through the optimizer — the objective is exactly Eq. (6).
* ``decoupled_weight_decay``: the optimizer's own decay, ``W ← W − lr·wd·W`` applied
  after the adaptive scaling (AdamW-style); it changes the objective.

Examples:
  >>> import jax, relu_dae as rd
  >>> key = jax.random.PRNGKey(0)
  >>> X = rd.data.locally_sparse(key, n=4, d=8)
  >>> cfg = rd.train.TrainConfig(steps=200, sigma=0.1, learning_rate=1e-2)
  >>> params, hist = rd.train.train(rd.model.init(key, 8, 6), X, key, cfg)
  >>> hist.loss.shape, int(hist.nonfinite_step)
  ((200,), -1)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import NamedTuple
from collections.abc import Callable

import numpy as np

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Int, Real, Shaped
from tqdm.auto import tqdm

from relu_dae import _checks
from relu_dae import convergence as convergence_lib
from relu_dae import losses
from relu_dae import model

__all__ = [
    "OPTIMIZERS", "SCHEDULES", "TYINGS", "TrainConfig", "History", "make_optimizer", "minibatch", "train",
    "aliased_tied", "minimize", "raise_if_nonfinite", "progress_bar", "fit",
]

OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine")
TYINGS = ("exact", "aliased")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Static training settings (hashable, so ``train`` compiles once per config).

  Attributes:
    steps: optimizer steps.
    sigma: noise level σ of Eq. (6) (override per call with a traced ``sigma=``).
    lam: weight decay λ of Eq. (6), coupled (override per call with ``lam=``).
    optimizer: one of ``adam``, ``adamw``, ``rmsprop`` (PyTorch's defaults: decay
      0.99, ε outside the square root), ``sgd``.
    learning_rate: step size.
    eps: the ε of ``adam``/``adamw``/``rmsprop`` in ``g / (√v + ε)``. The loss here sums over the
      d coordinates where PyTorch's ``MSELoss`` averages, so gradients are d times larger and
      ε here acts as ε/d there: to reproduce a PyTorch run with ``eps=e`` set ``eps=d·e``
      (docs/theory_choices.md §14).
    tying: ``"exact"``: tied ``{"W"}`` gets the exact gradient of the tied loss, one optimizer
      state. ``"aliased"``: the official notebooks' ``decoder.weight = Parameter(encoder.weight.t())``,
      two parameters aliasing one matrix, each with its own ``rmsprop``/``adam`` state and its own
      coupled decay, updated encoder first (:func:`aliased_tied`); tied params only, no
      convergence rule, no decoupled decay.
    batch_size: minibatch size (sampled with replacement); ``None`` = full batch.
    num_noise: noise draws per sample per step.
    decoupled_weight_decay: the optimizer's own decoupled decay (AdamW-style).
    momentum: heavy-ball momentum for ``sgd``.
    chunk_size: steps per scan chunk; progress is reported between chunks.
    schedule: ``"constant"`` learning rate, or ``"cosine"`` decay from ``learning_rate``
      to 1 % of it over ``steps`` (optax ``cosine_decay_schedule``): large early steps,
      then the small ones that settle Adam at a minimum instead of orbiting it.
    convergence: optional :class:`relu_dae.convergence.Convergence` stopping rule, checked
      after every chunk; ``steps`` is then the most steps a run may take (a multiple of
      ``chunk_size``) and the rule also lowers the learning rate on plateaus. ``None``: run
      exactly ``steps`` steps.
    matmul_dtype: ``"float32"``, or ``"bfloat16"``: the network's matmuls in the loss take
      bfloat16 inputs and accumulate in float32 (mixed precision, the fast path of GPU/TPU
      matrix units); parameters, optimizer state, noise and loss stay float32. The DAE of
      Eq. (6) only (:func:`train`, the sweep's default trainer).
    blowup: without a rule, a run whose mean loss over its last chunk exceeds ``blowup``
      times its first step's loss diverged: status ``LOSS_ROSE``, a failure like a
      non-finite run (a run to huge finite values is never a result). ``None``: no check.
      (With a rule, its own ``rise`` / ``norm_rise`` tests apply.)
  """
  steps: int = 2000
  sigma: float = 0.2
  lam: float = 0.0
  optimizer: str = "adam"
  learning_rate: float = 1e-3
  eps: float = 1e-8
  tying: str = "exact"
  batch_size: int | None = None
  num_noise: int = 1
  decoupled_weight_decay: float = 0.0
  momentum: float = 0.0
  chunk_size: int = 500
  schedule: str = "constant"
  convergence: convergence_lib.Convergence | None = None
  blowup: float | None = 1e3
  matmul_dtype: str = "float32"

  def __post_init__(self):
    _checks.positive_int("steps", self.steps)
    if self.steps >= 2**31:
      raise ValueError(f"steps must be < 2**31 (steps are int32 in the loop), got {self.steps}")
    _checks.scalar_nonnegative("sigma", self.sigma)
    _checks.scalar_nonnegative("lam", self.lam)
    _choice("optimizer", self.optimizer, OPTIMIZERS)
    _checks.scalar_positive("learning_rate", self.learning_rate)
    _checks.scalar_positive("eps", self.eps)
    _choice("tying", self.tying, TYINGS)
    if self.tying == "aliased" and (self.optimizer not in ("adam", "rmsprop") or self.convergence is not None
                                    or self.decoupled_weight_decay):
      raise ValueError("tying='aliased' reproduces the official notebooks' PyTorch RMSprop/Adam with coupled "
                       "decay: it needs optimizer 'rmsprop' or 'adam', no convergence rule and "
                       f"decoupled_weight_decay=0, got optimizer={self.optimizer!r}, convergence="
                       f"{self.convergence!r}, decoupled_weight_decay={self.decoupled_weight_decay}")
    if self.batch_size is not None:
      _checks.positive_int("batch_size", self.batch_size)
    _checks.positive_int("num_noise", self.num_noise)
    _checks.scalar_nonnegative("decoupled_weight_decay", self.decoupled_weight_decay)
    _checks.in_range("momentum", self.momentum, 0.0, 1.0, closed=(True, False))
    _checks.positive_int("chunk_size", self.chunk_size)
    if self.blowup is not None:
      _checks.in_range("blowup", self.blowup, 1.0, np.inf, closed=(False, False))
    _choice("schedule", self.schedule, SCHEDULES)
    _choice("matmul_dtype", self.matmul_dtype, model.MATMUL_DTYPES)
    if self.convergence is not None:
      if not isinstance(self.convergence, convergence_lib.Convergence):
        raise TypeError(f"convergence must be a Convergence or None, got {type(self.convergence).__name__}")
      if self.steps % self.chunk_size:
        raise ValueError(f"with a convergence rule, steps ({self.steps}) must be a multiple of "
                         f"chunk_size ({self.chunk_size}): the rule runs between chunks")
    _hashable(self)


def _choice(name: str, value, options: tuple) -> None:
  """One of the strings ``options``: ``TypeError`` for a non-string, ``ValueError`` for another one."""
  if not isinstance(value, str):
    raise TypeError(f"{name} must be one of {options}, got {type(value).__name__} {value!r}")
  if value not in options:
    raise ValueError(f"{name} must be one of {options}, got {value!r}")


def _hashable(config) -> None:
  """A config is a static ``jit`` argument: every field must hash (a Python number, not an array)."""
  for field in dataclasses.fields(config):
    try:
      hash(getattr(config, field.name))
    except TypeError:
      raise TypeError(f"{field.name} must be a plain Python value ({type(config).__name__} is static and "
                      f"hashed), got {type(getattr(config, field.name)).__name__}") from None


def _check_config(config) -> None:
  if not isinstance(config, TrainConfig):
    raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")


def _check_callback(callback) -> None:
  if callback is not None and not callable(callback):
    raise TypeError(f"callback must be None or a function callback(step, loss), got {type(callback).__name__}")


def _float_params(name: str, params):
  """Checks every leaf of a parameter pytree with :func:`_checks.array`; returns it, integer leaves as float32."""
  leaves = jax.tree_util.tree_leaves_with_path(params)
  if not leaves:
    raise TypeError(f"{name} must be a pytree of arrays, got {type(params).__name__} {params!r}")
  return jax.tree_util.tree_map_with_path(
      lambda path, w: _checks.array(f"{name}{jax.tree_util.keystr(path)}", w), params)


class History(NamedTuple):
  """Training record.

  Attributes:
    loss: ``(steps,)`` per-step Monte-Carlo loss (of the minibatch); NaN from the first
      non-finite step on, and after the step a convergence rule stopped the run.
    nonfinite_step: first step whose loss was non-finite (the last step of its chunk if
      only the parameters were), ``-1`` if none. The parameters are frozen at the end of
      the last chunk that stayed finite (the check runs once per chunk, which keeps it
      off the per-step critical path).
    steps_run: steps taken (``steps`` unless a convergence rule stopped the run earlier).
    status: a :mod:`relu_dae.convergence` code: ``CONVERGED``, ``MAX_STEPS`` (the budget
      ran out; so for every sound run without a rule), or the unstable ``LOSS_ROSE`` (also
      a run past ``TrainConfig.blowup`` without a rule), ``NORM_RAN_AWAY``, ``NONFINITE``;
      ``convergence.STATUS_NAMES[status]`` names it.
    monitor: the rule's monitor loss (fixed noise draws) at the end; NaN without a rule.
    monitor_slope: relative change of the monitor per step over the last chunk,
      ``(m_c − m_{c−1}) / (|m_{c−1}| · chunk_size)``; NaN without a rule.
  """
  loss: jax.Array
  nonfinite_step: jax.Array
  steps_run: jax.Array
  status: jax.Array
  monitor: jax.Array
  monitor_slope: jax.Array


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
  """The optax transformation named by ``config.optimizer`` (coupled λ lives in the loss)."""
  _check_config(config)
  base = {
      "adam": lambda: optax.scale_by_adam(eps=config.eps),
      "adamw": lambda: optax.scale_by_adam(eps=config.eps),
      "rmsprop": lambda: optax.scale_by_rms(decay=0.99, eps=config.eps, eps_in_sqrt=False),
      "sgd": lambda: optax.trace(config.momentum) if config.momentum else optax.identity(),
  }[config.optimizer]()
  decay = (optax.add_decayed_weights(config.decoupled_weight_decay)
           if config.decoupled_weight_decay else optax.identity())
  rate = (config.learning_rate if config.schedule == "constant" else
          optax.cosine_decay_schedule(config.learning_rate, config.steps, alpha=0.01))
  return optax.chain(base, decay, optax.scale_by_learning_rate(rate))


def minibatch(key: Array, size: int, n: int, weights: Real[ArrayLike, " n"] | None = None) -> Int[Array, " size"]:
  """``size`` indices drawn with replacement, uniformly or ∝ ``weights``, by inverse CDF.

  The draw depends on the weights' prefix only, so padding the data with zero-weight
  rows leaves the minibatches unchanged (what ragged sweeps rely on).

  Args:
    key: PRNG key.
    size: indices to draw (static).
    n: rows to draw from, indices in ``[0, n)`` (static).
    weights: optional ``(n,)`` nonnegative weights, not all zero (values checked when concrete).
  """
  _checks.key("key", key)
  size = _checks.positive_int("size", size)
  n = _checks.positive_int("n", n)
  if weights is not None:
    _checks.sample_weights("weights", weights, n)
  u = jax.random.uniform(key, (size,))
  if weights is None:
    return jnp.minimum((u * n).astype(jnp.int32), n - 1)
  cdf = jnp.cumsum(weights)
  return jnp.minimum(jnp.searchsorted(cdf, u * cdf[-1], side="right"), n - 1)


class _Carry(NamedTuple):
  params: dict
  opt_state: optax.OptState
  nonfinite_step: jax.Array
  scale: jax.Array  # learning-rate multiplier (1 unless a convergence rule lowered it)


def train(params: model.Params, X: Real[ArrayLike, "n d"], key: Array, config: TrainConfig, *,
          sigma: Real[ArrayLike, ""] | None = None, lam: Real[ArrayLike, ""] | None = None,
          weights: Real[ArrayLike, " n"] | None = None, unit_mask: Shaped[ArrayLike, " p"] | None = None,
          callback: Callable[[int, float], None] | None = None) -> tuple[model.Params, History]:
  """Minimizes Eq. (6) from ``params`` on data ``X (n, d)``; pure and jit-compiled.

  The arguments are validated here, in Python, before the jitted core sees them (a
  ``ValueError`` / ``TypeError`` naming the parameter); value checks run on concrete
  inputs, so the function stays traceable under ``vmap``/``jit`` (shape checks always run).

  Args:
    params: initial parameters (tied ``{"W"}`` or untied ``{"W1","W2"}``), ``(d, p)``.
    X: training data ``(n, d)``.
    key: PRNG key (noise and minibatches); the same key gives identical results.
    config: a :class:`TrainConfig` (static).
    sigma, lam: optional traced overrides of ``config.sigma`` / ``config.lam``, so a
      ``vmap`` over noise levels or weight decays compiles once.
    weights: optional per-sample weights ``(n,)`` (a 0/1 mask trains on a subset):
      full-batch losses are weighted means, minibatches are drawn ∝ weights.
    unit_mask: optional 0/1 ``(p,)`` mask of hidden units: masked columns are zeroed in the
      forward pass and penalty, so they get no gradient and the model acts as one of width
      ``sum(unit_mask)`` (lets a ``vmap`` sweep width p with one compile). The returned params
      have the masked columns set to zero, so they are the trained narrower model.
    callback: optional host function ``callback(step, loss)`` called after each chunk.

  Returns:
    Final ``params`` and a :class:`History`.
  """
  _check_config(config)
  _checks.dae_params("params", params)
  params = _float_params("params", params)  # integer weights as float32
  W1, _ = model.weights(params)
  X = _checks.matrix("X", X, ncols=W1.shape[0])  # integer or bool data as float32
  if unit_mask is not None:
    if jnp.shape(unit_mask) != W1.shape[1:]:
      raise ValueError(f"unit_mask must have shape (p,)={W1.shape[1:]}, got {jnp.shape(unit_mask)}")
    unit_mask = _checks.array("unit_mask", unit_mask)
    m = _checks.concrete(unit_mask)
    if m is not None and (np.any((m != 0) & (m != 1)) or not np.any(m)):
      raise ValueError(f"unit_mask must be 0/1 with at least one 1 (1 keeps a hidden unit), got {m}")
  if weights is not None:
    _checks.sample_weights("weights", weights, np.shape(X)[0])
  if sigma is not None:
    _checks.scalar_nonnegative("sigma", sigma)
  if lam is not None:
    _checks.scalar_nonnegative("lam", lam)
  _checks.key("key", key)
  _check_callback(callback)
  if config.tying == "aliased" and not model.is_tied(params):
    raise ValueError("tying='aliased' needs tied params {'W'} (two aliased uses of one matrix), got untied "
                     "{'W1', 'W2'}")
  return _train(params, X, key, config, sigma=config.sigma if sigma is None else sigma,
                lam=config.lam if lam is None else lam, weights=weights, unit_mask=unit_mask, callback=callback)


@functools.partial(jax.jit, static_argnames=("config", "callback"))
def _train(params, X, key, config, *, sigma, lam, weights, unit_mask, callback):
  """The jitted core of :func:`train` (arguments already validated)."""
  n = X.shape[0]

  def loss_fn(p, k):
    if unit_mask is not None:
      p = jax.tree.map(lambda w: w * unit_mask, p)
    if config.batch_size is None:
      return losses.dae_loss(p, X, k, sigma, lam, num_noise=config.num_noise, weights=weights,
                             matmul_dtype=config.matmul_dtype)
    k_batch, k = jax.random.split(k)
    idx = minibatch(k_batch, config.batch_size, n, weights)
    return losses.dae_loss(p, X[idx], k, sigma, lam, num_noise=config.num_noise, matmul_dtype=config.matmul_dtype)

  if config.tying == "aliased":  # the two uses of W as two parameters, updated by aliased_tied
    uses, history = minimize(loss_fn, {"W1": params["W"], "W2": params["W"]}, key, config, callback=callback,
                             optimizer=aliased_tied(make_optimizer(config), 2.0 * lam))
    params = {"W": uses["W1"]}
  else:
    params, history = minimize(loss_fn, params, key, config, callback=callback)
  final = params if unit_mask is None else jax.tree.map(lambda w: w * unit_mask, params)
  return final, history


def aliased_tied(inner: optax.GradientTransformation, decay) -> optax.GradientTransformation:
  """PyTorch's update of two parameters that alias one matrix: the official notebooks' tying.

  ``decoder.weight = Parameter(encoder.weight.t())`` gives the encoder use ``W1`` and the decoder
  use ``W2`` of one ``W`` their own optimizer states, and PyTorch's per-parameter loop updates the
  encoder first, so the decoder's coupled decay sees the ``W`` the encoder step left:

      u₁ = inner(g₁ + c W),   u₂ = inner(g₂ + c (W + u₁)),   W ← W + u₁ + u₂,

  with ``g_l`` the data gradients of the two uses and ``c`` the per-use decay. Here the loss's own
  penalty ``λ(‖W1‖² + ‖W2‖²)`` already adds ``cW`` (``c = 2λ``) to both gradients, so the
  transformation adds only ``c u₁`` to the second. Params and updates are ``{"W1", "W2"}``, kept
  equal (``W1 = W2 = W``). This is not the gradient of the tied loss: it differs from
  ``tying="exact"`` from the first step (docs/theory_choices.md §14).

  Args:
    inner: the per-parameter optimizer, learning rate included (:func:`make_optimizer`).
    decay: the per-use coupled decay ``c`` (traced scalar allowed).

  Returns:
    An optax ``GradientTransformation`` on ``{"W1": (d, p), "W2": (d, p)}``.
  """
  if not isinstance(inner, optax.GradientTransformation):
    raise TypeError(f"inner must be an optax GradientTransformation, got {type(inner).__name__}")
  _checks.scalar_nonnegative("decay", decay)

  def init(params):
    return inner.init(params["W1"]), inner.init(params["W2"])

  def update(grads, state, params=None):
    u1, s1 = inner.update(grads["W1"], state[0], params["W1"])
    u2, s2 = inner.update(grads["W2"] + decay * u1, state[1], params["W2"] + u1)
    return {"W1": u1 + u2, "W2": u1 + u2}, (s1, s2)

  return optax.GradientTransformation(init, update)


def minimize(loss_fn: Callable, params, key: jax.Array, config: TrainConfig, *,
             callback: Callable[[int, float], None] | None = None,
             optimizer: optax.GradientTransformation | None = None) -> tuple[dict, History]:
  """The optimization loop every trainer here shares; pure and traceable (call it under jit).

  Up to ``config.steps`` optimizer steps of ``make_optimizer(config)`` on
  ``loss_fn(params, key)``, each with a fresh key from ``split(key, steps)``, in chunks of
  ``config.chunk_size`` steps (a ``lax.scan`` over steps), with ``callback(step, loss)`` after
  each chunk. Finiteness is checked once per chunk, not once per step (it would sit on the
  per-step critical path): a chunk whose losses or final parameters are not all finite is
  discarded — parameters and optimizer state stay at the chunk's start — and every later
  chunk is skipped the same way (:class:`History`).

  Without ``config.convergence`` the chunks are a ``lax.scan`` and every run takes all
  ``steps``. With it they are a ``lax.while_loop`` that ends when the rule stops the run
  (:mod:`relu_dae.convergence`): the monitor is the mean of ``loss_fn`` over
  ``monitor_draws`` fixed keys (folded from ``key``), evaluated at the initial parameters
  (the first reference for ``rise`` and ``norm_rise``) and after each chunk. Under
  ``vmap`` the loop runs until every run has stopped, and a stopped run's parameters,
  optimizer state and record are frozen bitwise.

  Args:
    loss_fn: ``loss_fn(params, key) -> scalar``, traced.
    params: initial parameters, a pytree of floating arrays.
    key: PRNG key.
    config: a :class:`TrainConfig` (static).
    callback: optional host function ``callback(step, loss)`` called after each chunk.
    optimizer: the optax transformation to use instead of ``make_optimizer(config)``.

  Returns:
    Final ``params`` and a :class:`History`.
  """
  if not callable(loss_fn):
    raise TypeError(f"loss_fn must be a function loss_fn(params, key), got {type(loss_fn).__name__}")
  _check_config(config)
  params = _float_params("params", params)
  _checks.key("key", key)
  _check_callback(callback)
  if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
    raise TypeError(f"optimizer must be an optax GradientTransformation or None, got {type(optimizer).__name__}")
  opt = make_optimizer(config) if optimizer is None else optimizer

  def step(carry, k):
    params, opt_state, scale = carry
    loss, grads = jax.value_and_grad(loss_fn)(params, k)
    updates, opt_state = opt.update(grads, opt_state, params)
    updates = jax.tree.map(lambda u: u * scale.astype(u.dtype), updates)
    return (optax.apply_updates(params, updates), opt_state, scale), loss

  def run(carry: _Carry, ts, keys):
    (params, opt_state, _), chunk_losses = jax.lax.scan(
        step, (carry.params, carry.opt_state, carry.scale), keys)
    finite = jnp.isfinite(chunk_losses)
    ok = jnp.all(finite) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(w)) for w in jax.tree.leaves(params)]))
    already = carry.nonfinite_step >= 0
    bad = already | ~ok
    # First non-finite loss of this chunk; its last step if only the parameters went bad.
    first = jnp.where(jnp.all(finite), ts[-1], ts[jnp.argmin(finite)])
    nonfinite_step = jnp.where(already, carry.nonfinite_step, jnp.where(ok, -1, first))
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(bad, b, a), new, old)
    carry = carry._replace(params=keep(params, carry.params), opt_state=keep(opt_state, carry.opt_state),
                           nonfinite_step=nonfinite_step)
    chunk_losses = jnp.where((nonfinite_step >= 0) & (ts >= nonfinite_step), jnp.nan, chunk_losses)
    if callback is not None:
      jax.debug.callback(callback, ts[-1] + 1, chunk_losses[-1])
    return carry, chunk_losses

  chunk = min(config.chunk_size, config.steps)
  num_chunks, rest = divmod(config.steps, chunk)
  ts = jnp.arange(config.steps, dtype=jnp.int32)
  keys = jax.random.split(key, config.steps)
  carry = _Carry(params, opt.init(params), jnp.array(-1, jnp.int32), jnp.array(1.0, jnp.float32))
  full = num_chunks * chunk
  ts_c = ts[:full].reshape(num_chunks, chunk)
  keys_c = keys[:full].reshape((num_chunks, chunk) + keys.shape[1:])
  if config.convergence is not None:
    return _minimize_until_converged(run, loss_fn, carry, key, ts_c, keys_c, config.convergence)
  carry, hist = jax.lax.scan(lambda c, tk: run(c, *tk), carry, (ts_c, keys_c))
  hist = hist.reshape(-1)
  if rest:
    carry, tail = run(carry, ts[full:], keys[full:])
    hist = jnp.concatenate([hist, tail])
  status = jnp.where(carry.nonfinite_step >= 0, convergence_lib.NONFINITE, convergence_lib.MAX_STEPS)
  if config.blowup is not None:
    blew_up = jnp.mean(hist[-chunk:]) > config.blowup * jnp.abs(hist[0])
    status = jnp.where((carry.nonfinite_step < 0) & blew_up, convergence_lib.LOSS_ROSE, status)
  nan = jnp.array(jnp.nan, jnp.float32)
  return carry.params, History(hist, carry.nonfinite_step, jnp.array(config.steps, jnp.int32),
                               status.astype(jnp.int32), nan, nan)


def _global_norm(tree) -> jax.Array:
  return jnp.sqrt(sum(jnp.sum(jnp.square(w)) for w in jax.tree.leaves(tree)))


def _minimize_until_converged(run, loss_fn, carry: _Carry, key, ts_c, keys_c,
                              rule: convergence_lib.Convergence):
  """The chunk loop of :func:`minimize` as a ``lax.while_loop`` stopped by ``rule``."""
  num_chunks, chunk = ts_c.shape
  monitor_keys = jax.random.split(jax.random.fold_in(key, 0x5EED), rule.monitor_draws)
  monitor = lambda p: jnp.mean(jax.vmap(lambda k: loss_fn(p, k))(monitor_keys))

  def body(state):
    i, carry, conv, hist = state
    before = carry.params
    carry, chunk_losses = run(carry, ts_c[i], keys_c[i])
    norm = _global_norm(carry.params)
    change = _global_norm(jax.tree.map(jnp.subtract, carry.params, before)) / norm
    value = jnp.where(carry.nonfinite_step >= 0, jnp.nan, monitor(carry.params))
    conv = convergence_lib.update(rule, conv, value, norm, change)
    return i + 1, carry._replace(scale=conv.scale), conv, hist.at[i].set(chunk_losses)

  def cond(state):
    i, _, conv, _ = state
    return (i < num_chunks) & (conv.status == convergence_lib.RUNNING)

  # The initial parameters are the first reference: a run whose monitor climbs to `rise`
  # times its starting value has diverged even if it never improved.
  conv = convergence_lib.update(rule, convergence_lib.init(), monitor(carry.params), _global_norm(carry.params),
                                jnp.inf)
  hist = jnp.full((num_chunks, chunk), jnp.nan, jnp.float32)
  i, carry, conv, hist = jax.lax.while_loop(cond, body, (jnp.array(0, jnp.int32), carry, conv, hist))
  status = jnp.where(conv.status == convergence_lib.RUNNING, convergence_lib.MAX_STEPS, conv.status)
  return carry.params, History(hist.reshape(-1), carry.nonfinite_step, i * chunk, status.astype(jnp.int32),
                               conv.last, conv.rel_change / chunk)


def raise_if_nonfinite(history: History) -> None:
  """Raises ``FloatingPointError`` naming the step if training produced a non-finite loss.

  ``history`` is one run's :class:`History` (a scalar ``nonfinite_step``; index a batched one first).
  """
  if not isinstance(history, History):
    raise TypeError(f"history must be a train.History, got {type(history).__name__}")
  if jnp.ndim(history.nonfinite_step) != 0:
    raise ValueError(f"history must be one run's History (a scalar nonfinite_step), got nonfinite_step of shape "
                     f"{jnp.shape(history.nonfinite_step)}; index the batch first")
  step = int(history.nonfinite_step)
  if step >= 0:
    raise FloatingPointError(f"training loss became non-finite at step {step}; parameters are from "
                             "the end of the last finite chunk. Lower learning_rate or check the data.")


class _Bar:
  """The open tqdm bar of :func:`progress_bar` (one module-level reporter: a fresh closure as
  ``train``'s static ``callback`` would recompile it on every call)."""
  bar = None


def _report(step, loss) -> None:
  if _Bar.bar is not None:
    _Bar.bar.n = int(step)
    _Bar.bar.set_postfix(loss=f"{float(loss):.4g}", refresh=False)
    _Bar.bar.refresh()


@contextlib.contextmanager
def progress_bar(total: int, desc: str, enabled: bool = True):
  """A tqdm bar for one training run; yields the ``callback`` to pass to :func:`train` (or ``None``).

  The callback is one module-level function, so repeated runs of the same shapes compile once
  (``tests/test_train.py::test_fit_compiles_once``).
  """
  _checks.positive_int("total", total)
  if not isinstance(desc, str):
    raise TypeError(f"desc must be a string, got {type(desc).__name__}")
  if not _checks.boolean("enabled", enabled):
    yield None
    return
  with tqdm(total=total, desc=desc, leave=False) as bar:
    previous, _Bar.bar = _Bar.bar, bar
    try:
      yield _report
    finally:
      _Bar.bar = previous


def fit(params: model.Params, X: Real[ArrayLike, "n d"], key: Array, config: TrainConfig, *,
        weights: Real[ArrayLike, " n"] | None = None, progress: bool = True,
        desc: str = "train") -> tuple[model.Params, History]:
  """:func:`train` with a tqdm progress bar; raises if the loss became non-finite.

  The interactive entry point: returns ``(params, history)`` like :func:`train`.
  """
  _check_config(config)
  _checks.boolean("progress", progress)
  if not isinstance(desc, str):
    raise TypeError(f"desc must be a string, got {type(desc).__name__}")
  with progress_bar(config.steps, desc, progress) as callback:
    params, history = train(params, X, key, config, weights=weights, callback=callback)
    jax.block_until_ready(history.loss)
  raise_if_nonfinite(history)
  return params, history
