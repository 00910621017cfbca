"""The time-conditioned ReLU diffusion model, its multi-σ loss and VE samplers (THEORY.md §6).

The official ``DAECond`` of ``ReLU_Diffusion.ipynb`` predicts the clean sample ``x0`` from
``y = x0 + σε`` (variance-exploding corruption) with one tied weight matrix ``W (d, p)``:

    f(y, σ) = W ( exp(m(log σ)) ⊙ [Wᵀ y]₊ ) + s · y,

where ``m: R → R^p`` is a 1 → hidden → p ReLU MLP whose last layer starts at zero (so
``exp(m) = 1`` and the model is the tied DAE of Eq. (5) at init) and ``s`` is a learnable
scalar skip, initialized to 0. The representation is ``h(y) = [Wᵀ y]₊`` (the official
``rep``: no time scaling).

Parameters are a dict ``{"W": (d, p), "skip": (), "time": {"w1": (hidden,), "b1": (hidden,),
"w2": (hidden, p), "b2": (p,)}}``; inputs ``y`` have shape ``(..., d)``, rows are samples.

Samplers (:func:`sample` for the final samples, :func:`sample_trajectory` for every state) take the
model's params or any denoiser ``denoise(y, σ) -> x0_hat``
(:func:`empirical_denoiser`, :func:`gaussian_mixture_denoiser`, :func:`single_sigma_dae`) and
run the VE ancestral sampler of the official code, or the deterministic update of Eq. (1), on
the geometric grid of :func:`sigma_grid`.

Examples:
  >>> import jax
  >>> from relu_dae import diffusion
  >>> params = diffusion.init(jax.random.PRNGKey(0), d=4, p=8)
  >>> diffusion.apply(params, jax.numpy.ones((2, 4)), 0.5).shape
  (2, 4)
  >>> diffusion.sample(params, jax.random.PRNGKey(1), 3, 4, num_steps=10).shape
  (3, 4)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable

import numpy as np

import jax
import jax.numpy as jnp
from jax.tree_util import Partial
from jaxtyping import Array, ArrayLike, Float

from relu_dae import _checks
from relu_dae import denoisers
from relu_dae import losses
from relu_dae import model
from relu_dae import sweep
from relu_dae import train as train_lib

__all__ = ["Params", "SIGMA_MIN", "SIGMA_MAX", "NUM_STEPS", "SIGMA_FLOOR", "init", "log_scale", "represent", "decode",
           "apply", "draw_noise", "loss", "train", "fit", "SweepTrainer", "model_denoiser", "single_sigma_dae",
           "empirical_denoiser", "gaussian_mixture_denoiser", "sigma_grid", "sample", "sample_trajectory"]

Params = dict
Denoiser = Callable[[jax.Array, jax.Array], jax.Array]

SIGMA_MIN = 0.02
SIGMA_MAX = 2.0
NUM_STEPS = 60


# ----------------------------------------------------------------------------- model


def init(key: jax.Array, d: int, p: int, *, hidden: int = 32) -> Params:
  """Initial parameters of the time-conditioned model, following ``DAECond``'s init.

  * ``W (d, p)``: ``kaiming_uniform_(a=0, fan_in, relu)``, i.e. i.i.d. ``U(−√(6/d), √(6/d))``.
  * ``time.w1, time.b1 (hidden,)``: PyTorch's default ``nn.Linear(1, hidden)`` init,
    ``U(−1, 1)`` (fan-in 1).
  * ``time.w2 (hidden, p)``, ``time.b2 (p,)``: zeros — so ``exp(m(log σ)) = 1`` for every σ
    and the model starts as the unconditioned tied DAE of Eq. (5).
  * ``skip``: 0.

  Args:
    key: PRNG key.
    d: data dimension.
    p: hidden units (representation dimension).
    hidden: width of the conditioning MLP's hidden layer (the official code uses ``p``).
  """
  _checks.key("key", key)
  d = _checks.positive_int("d", d)
  p = _checks.positive_int("p", p)
  hidden = _checks.positive_int("hidden", hidden)
  kw, k1, k2 = jax.random.split(key, 3)
  bound = math.sqrt(6.0 / d)
  return {
      "W": jax.random.uniform(kw, (d, p), minval=-bound, maxval=bound),
      "skip": jnp.zeros(()),
      "time": {
          "w1": jax.random.uniform(k1, (hidden,), minval=-1.0, maxval=1.0),
          "b1": jax.random.uniform(k2, (hidden,), minval=-1.0, maxval=1.0),
          "w2": jnp.zeros((hidden, p)),
          "b2": jnp.zeros((p,)),
      },
  }


_TIME_KEYS = ("w1", "b1", "w2", "b2")


def _leaf(name: str, x, *, values: bool) -> None:
  """A real array leaf (``TypeError`` otherwise); finite when ``values`` and concrete."""
  _checks.real_kind(name, x)
  if values:
    _checks.finite(name, x)


def _check_params(params, name: str = "params", *, values: bool = False) -> tuple[int, int]:
  """Keys, shapes and dtypes of an :func:`init` dict (and finiteness with ``values``); returns ``(d, p)``.

  Shape and dtype checks are static, so they run under ``jit``/``vmap`` without a host sync.
  """
  if not hasattr(params, "keys"):
    raise TypeError(f"{name} must be a diffusion.init dict with keys 'W', 'skip', 'time', got "
                    f"{type(params).__name__}")
  if set(params.keys()) != {"W", "skip", "time"}:
    raise ValueError(f"{name} must be a diffusion.init dict with keys 'W', 'skip', 'time', got "
                     f"{sorted(map(str, params.keys()))}")
  t = params["time"]
  if not hasattr(t, "keys") or set(t.keys()) != set(_TIME_KEYS):
    raise ValueError(f"{name}['time'] must be a dict with keys {_TIME_KEYS}, got "
                     f"{sorted(map(str, t.keys())) if hasattr(t, 'keys') else type(t).__name__}")
  leaves = {f"{name}['W']": params["W"], f"{name}['skip']": params["skip"],
            **{f"{name}['time'][{k!r}]": t[k] for k in _TIME_KEYS}}
  for label, leaf in leaves.items():
    _leaf(label, leaf, values=values)
  if jnp.ndim(params["W"]) != 2:
    raise ValueError(f"{name}['W'] must be 2-D (d, p), got shape {jnp.shape(params['W'])}")
  if jnp.ndim(t["w1"]) != 1:
    raise ValueError(f"{name}['time']['w1'] must be 1-D (hidden,), got shape {jnp.shape(t['w1'])}")
  (d, p), (hidden,) = jnp.shape(params["W"]), jnp.shape(t["w1"])
  want = {f"{name}['skip']": (), f"{name}['time']['b1']": (hidden,), f"{name}['time']['w2']": (hidden, p),
          f"{name}['time']['b2']": (p,)}
  for label, shape in want.items():
    if jnp.shape(leaves[label]) != shape:
      raise ValueError(f"{label} must have shape {shape} (d={d}, p={p}, hidden={hidden}), got "
                       f"{jnp.shape(leaves[label])}")
  return d, p


def _check_sigma(sigma, batch_shape=None, name: str = "sigma"):
  """A real array of noise levels > 0 (values when concrete) broadcastable to ``batch_shape``; returns it."""
  sigma = _checks.array(name, sigma)
  if batch_shape is not None:
    try:
      fits = np.broadcast_shapes(jnp.shape(sigma), tuple(batch_shape)) == tuple(batch_shape)
    except ValueError:
      fits = False
    if not fits:
      raise ValueError(f"{name} must be a scalar or broadcastable to the batch shape {tuple(batch_shape)}, "
                       f"got shape {jnp.shape(sigma)}")
  _checks.positive(name, sigma)
  return sigma


def _log_scale(params, sigma):
  t = params["time"]
  pre = jnp.log(jnp.asarray(sigma))[..., None] * t["w1"] + t["b1"]  # (..., hidden)
  return jax.nn.relu(pre) @ t["w2"] + t["b2"]


def _decode(params, h, sigma):
  return (h * jnp.exp(_log_scale(params, sigma))) @ params["W"].T


def _represent(params, y):
  return jax.nn.relu(y @ params["W"])


def _apply(params, y, sigma):
  return _decode(params, _represent(params, y), sigma) + params["skip"] * y


def log_scale(params: Params, sigma) -> jax.Array:
  """The conditioning ``m(log σ) = W₂ᵀ[w₁ log σ + b₁]₊ + b₂``, shape ``σ.shape + (p,)`` (σ > 0)."""
  _check_params(params)
  return _log_scale(params, _check_sigma(sigma))


def represent(params: Params, y: jax.Array, sigma=None, *, scaled: bool = False) -> jax.Array:
  """The representation ``h(y) = [Wᵀ y]₊``, shape ``(..., p)`` (official ``DAECond.rep``).

  As in the official code the default ignores σ (no time scaling). With ``scaled=True`` it
  returns the decoder's input ``exp(m(log σ)) ⊙ [Wᵀ y]₊`` (σ required, broadcastable to
  ``y.shape[:-1]``).
  """
  d, _ = _check_params(params)
  y = _checks.array("y", y)
  _checks.trailing_dim("y", y, d)
  _checks.boolean("scaled", scaled)
  h = _represent(params, y)
  if not scaled:
    return h
  if sigma is None:
    raise ValueError("sigma is required when scaled=True")
  return h * jnp.exp(_log_scale(params, _check_sigma(sigma, jnp.shape(y)[:-1])))


def decode(params: Params, h: jax.Array, sigma) -> jax.Array:
  """``W (exp(m(log σ)) ⊙ h)``: the tied decoder at level σ, ``(..., p) → (..., d)``.

  ``apply(params, y, σ) = decode(params, represent(params, y), σ) + skip · y`` — the map that
  representation steering perturbs (``h → h + a·v``, Eq. (11)). σ > 0, a scalar or
  broadcastable to ``h.shape[:-1]``.
  """
  _, p = _check_params(params)
  h = _checks.array("h", h)
  _checks.trailing_dim("h", h, p, "p")
  return _decode(params, h, _check_sigma(sigma, jnp.shape(h)[:-1]))


def apply(params: Params, y: jax.Array, sigma) -> jax.Array:
  """The x0 prediction ``f(y, σ) = W (exp(m(log σ)) ⊙ [Wᵀy]₊) + s·y`` (THEORY.md §6).

  Args:
    params: from :func:`init`.
    y: noisy inputs ``(..., d)``.
    sigma: noise level(s) > 0, a scalar or an array broadcastable to ``y.shape[:-1]``.

  Returns:
    ``x0_hat`` of shape ``(..., d)``.
  """
  d, _ = _check_params(params)
  y = _checks.array("y", y)
  _checks.trailing_dim("y", y, d)
  return _apply(params, y, _check_sigma(sigma, jnp.shape(y)[:-1]))


# ----------------------------------------------------------------------------- loss


# Smallest σ_min: σ² must stay a normal float32 (1.2e-38), or the samplers' σ_i² and the grid's
# ratio σ_min/σ_max underflow to 0 and the update divides by zero.
SIGMA_FLOOR = 1e-18


def _check_range(sigma_min, sigma_max) -> None:
  _checks.in_range("sigma_min", sigma_min, SIGMA_FLOOR, _checks.MAX_ABS)
  _checks.in_range("sigma_max", sigma_max, SIGMA_FLOOR, _checks.MAX_ABS)
  lo, hi = _checks.concrete(sigma_min), _checks.concrete(sigma_max)
  if lo is not None and hi is not None and not lo < hi:
    raise ValueError(f"sigma_min must be < sigma_max, got sigma_min={lo}, sigma_max={hi}")


def _check_float_dtype(dtype) -> None:
  try:
    ok = jnp.issubdtype(np.dtype(dtype), jnp.floating)
  except TypeError as err:
    raise TypeError(f"dtype must be a floating dtype such as jnp.float32, got {dtype!r}") from err
  if not ok:
    raise ValueError(f"dtype must be a floating dtype such as jnp.float32, got {np.dtype(dtype)}")


def draw_noise(key: jax.Array, n: int, num_noise: int, d: int, *, sigma_min=SIGMA_MIN,
               sigma_max=SIGMA_MAX, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
  """Noise levels ``σ (num_noise, n)`` log-uniform on [σ_min, σ_max] and ``ε (num_noise, n, d)``.

  ``log σ = log σ_min + u (log σ_max − log σ_min)``, ``u ~ U(0, 1)``. Row i of both depends
  only on ``(key, i)`` (as :func:`relu_dae.losses.sample_noise`), so zero-weight padding rows
  do not change the real samples' noise. ``sigma_min ≥ SIGMA_FLOOR``; ``dtype`` a floating dtype.
  """
  _checks.key("key", key)
  n = _checks.positive_int("n", n)
  num_noise = _checks.positive_int("num_noise", num_noise)
  d = _checks.positive_int("d", d)
  _check_range(sigma_min, sigma_max)
  _check_float_dtype(dtype)
  k_eps, k_sig = jax.random.split(key)
  eps = losses.sample_noise(k_eps, n, num_noise, d, dtype)
  keys = jax.vmap(jax.random.fold_in, (None, 0))(k_sig, jnp.arange(n, dtype=jnp.uint32))
  u = jax.vmap(lambda k: jax.random.uniform(k, (num_noise,), dtype))(keys).T  # (num_noise, n)
  lo, hi = jnp.log(sigma_min), jnp.log(sigma_max)
  return jnp.exp(lo + u * (hi - lo)), eps


def loss(params: Params, X: jax.Array, key: jax.Array, *, sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX,
         num_noise: int = 1, weights: jax.Array | None = None, lam=0.0) -> jax.Array:
  """Monte-Carlo multi-σ x0-prediction loss (Eq. (2) with σ log-uniform, THEORY.md §6).

      L = (1/n) Σ_i E_{σ, ε} ‖f(x_i + σε, σ) − x_i‖² + 2λ ‖W‖_F²,
      log σ ~ U[log σ_min, log σ_max],  ε ~ N(0, I),

  with the expectation replaced by ``num_noise`` draws of ``(σ, ε)`` per sample
  (:func:`draw_noise`). Squared error summed over coordinates, mean over samples (the
  convention of Eq. (6) and :func:`relu_dae.losses.dae_loss`; the official code's ``MSELoss`` is
  this divided by d).
  The penalty counts the tied W twice, as ``losses.weight_penalty``; the conditioning MLP
  and the skip are not penalized. So the official ``DAECond``'s optimizer ``weight_decay=wd``
  on W (one exactly tied parameter, coupled decay on ``MSELoss``) is ``lam = d·wd/4`` here: its
  gradient ``wd·W`` on the per-pixel loss is ``d·wd·W`` on this one, and ``∇ 2λ‖W‖² = 4λW``
  (the single-σ model's aliased tying has two decays, hence ``d·wd/2`` there).

  Args:
    params: from :func:`init`.
    X: training data ``(n, d)``.
    key: PRNG key for σ and ε.
    sigma_min, sigma_max: range of σ, 0 < σ_min < σ_max.
    num_noise: draws per sample.
    weights: optional nonnegative per-sample weights ``(n,)`` (weighted mean).
    lam: coupled weight decay λ ≥ 0 on W.

  Examples:
    >>> import jax
    >>> from relu_dae import diffusion
    >>> key = jax.random.PRNGKey(0)
    >>> X = jax.random.normal(key, (5, 4))
    >>> float(diffusion.loss(diffusion.init(key, 4, 6), X, key)) > 0
    True
  """
  d, _ = _check_params(params)
  X = _checks.matrix("X", X, ncols=d)  # integer or bool data as float32
  _checks.key("key", key)
  _check_range(sigma_min, sigma_max)
  _checks.scalar_nonnegative("lam", lam)
  num_noise = _checks.positive_int("num_noise", num_noise)
  if weights is not None:
    _checks.sample_weights("weights", weights, jnp.shape(X)[0])
  sigma, eps = draw_noise(key, X.shape[0], num_noise, X.shape[1], sigma_min=sigma_min,
                          sigma_max=sigma_max, dtype=jnp.result_type(X))
  err = jnp.sum((_apply(params, X + sigma[..., None] * eps, sigma) - X) ** 2, axis=-1)  # (num_noise, n)
  if weights is None:
    data = jnp.mean(err)
  else:
    w = jnp.broadcast_to(weights, err.shape)
    data = jnp.sum(err * w) / jnp.sum(w)
  return data + 2.0 * lam * jnp.sum(params["W"] ** 2)


# ----------------------------------------------------------------------------- training


def _check_config(config) -> None:
  if not isinstance(config, train_lib.TrainConfig):
    raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
  if config.tying != "exact":
    raise ValueError(f"config.tying={config.tying!r}: the time-conditioned model has one exactly tied W "
                     "(the official DAECond); tying='aliased' is the single-σ DAE's")
  if config.matmul_dtype != "float32":
    raise ValueError(f"config.matmul_dtype={config.matmul_dtype!r}: mixed precision is implemented for the DAE "
                     "of Eq. (6) only; the time-conditioned model trains in float32")


def train(params: Params, X: jax.Array, key: jax.Array, config: train_lib.TrainConfig, *,
          sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, weights: jax.Array | None = None,
          callback: Callable[[int, float], None] | None = None) -> tuple[Params, train_lib.History]:
  """Minimizes :func:`loss` from ``params`` on ``X (n, d)``; pure and jit-compiled.

  The loop is :func:`relu_dae.train.minimize`, shared with the single-σ trainer: nested
  ``lax.scan`` over chunks of steps, ``callback(step, loss)`` after each chunk, and a chunk
  whose loss or parameters are non-finite is discarded (``History.nonfinite_step``).
  ``config.sigma`` is ignored (σ is drawn log-uniformly on [sigma_min, sigma_max] per sample
  and step); ``config.lam`` is the coupled decay on W; ``config.batch_size`` draws minibatches
  with replacement (∝ ``weights`` when given).

  Returns:
    Final params and a :class:`relu_dae.train.History` (per-step losses ``(steps,)``).
  """
  _check_config(config)
  d, _ = _check_params(params)
  params = train_lib._float_params("params", params)  # finite; integer weights as float32
  X = _checks.matrix("X", X, ncols=d)  # integer or bool data as float32
  _checks.key("key", key)
  _check_range(sigma_min, sigma_max)
  if weights is not None:
    _checks.sample_weights("weights", weights, np.shape(X)[0])
  if callback is not None and not callable(callback):
    raise TypeError(f"callback must be None or a function callback(step, loss), got {type(callback).__name__}")
  return _train(params, X, key, config, sigma_min=sigma_min, sigma_max=sigma_max, weights=weights,
                callback=callback)


@functools.partial(jax.jit, static_argnames=("config", "callback"))
def _train(params, X, key, config, *, sigma_min, sigma_max, weights, callback):
  """The jitted core of :func:`train` (arguments already validated)."""
  n = X.shape[0]

  def loss_fn(p, k):
    kw = dict(sigma_min=sigma_min, sigma_max=sigma_max, num_noise=config.num_noise, lam=config.lam)
    if config.batch_size is None:
      return loss(p, X, k, weights=weights, **kw)
    k_batch, k = jax.random.split(k)
    return loss(p, X[train_lib.minibatch(k_batch, config.batch_size, n, weights)], k, **kw)

  return train_lib.minimize(loss_fn, params, key, config, callback=callback)


def fit(params: Params, X: jax.Array, key: jax.Array, config: train_lib.TrainConfig, *,
        sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, weights: jax.Array | None = None,
        progress: bool = True, desc: str = "train diffusion"):
  """:func:`train` with a tqdm progress bar; raises if the loss became non-finite.

  The interactive entry point (as :func:`relu_dae.train.fit` for the single-σ DAE); returns
  ``(params, history)`` like :func:`train`.
  """
  _check_config(config)
  _checks.boolean("progress", progress)
  if not isinstance(desc, str):
    raise TypeError(f"desc must be a string, got {type(desc).__name__}")
  with train_lib.progress_bar(config.steps, desc, progress) as callback:
    params, history = train(params, X, key, config, sigma_min=sigma_min, sigma_max=sigma_max,
                            weights=weights, callback=callback)
    jax.block_until_ready(history.loss)
  train_lib.raise_if_nonfinite(history)
  return params, history


@dataclasses.dataclass(frozen=True)
class SweepTrainer:
  """A :class:`relu_dae.sweep.Trainer`: the model of this module on every configuration of a sweep.

  ``relu_dae.sweep.run(grid, SweepConfig(p_max=p_max, trainer=SweepTrainer(...)), ...)``
  trains, per configuration, a width-``p_max`` model whose columns ``j ≥ p`` of ``W``
  start at zero: a zero column gets no gradient (its units are never active and
  ReLU'(0) = 0), so it stays zero and the model *is* the width-``p`` model; the output
  ``masked_max`` records that it did, and a run where it did not is not ``valid``.
  Keys: ``init`` from ``split(key, 3)[0]``, training from ``[1]`` (``[2]`` is left to the
  sampler). The grid's ``sigma`` and ``lam`` axes are not used (σ is drawn on
  ``[sigma_min, sigma_max]``, λ is ``train.lam``).

  Attributes:
    train: the :class:`relu_dae.train.TrainConfig` (a convergence rule applies as in the DAE).
      Buckets up to ``train.batch_size`` rows train full batch.
    p_max: width of the model (``SweepConfig.p_max``).
    hidden: width of the conditioning MLP.
    sigma_min, sigma_max: the noise range of :func:`loss`.
    min_noisy_batch: at least this many noisy inputs per step: ``num_noise`` is raised to
      ``⌈min_noisy_batch / rows⌉`` draws per sample, so tiny buckets do not get a noisier gradient.
    curve_points: points kept of each loss curve.
  """
  diagnostics = ("masked_max",)  # kept for failed runs: it says why a run is not valid (not a field)
  train: train_lib.TrainConfig = train_lib.TrainConfig()
  p_max: int = 32
  hidden: int = 32
  sigma_min: float = SIGMA_MIN
  sigma_max: float = SIGMA_MAX
  min_noisy_batch: int = 0
  curve_points: int = 50

  def __post_init__(self):
    if not isinstance(self.train, train_lib.TrainConfig):
      raise TypeError(f"train must be a TrainConfig, got {type(self.train).__name__}")
    _checks.positive_int("p_max", self.p_max)
    _checks.positive_int("hidden", self.hidden)
    _check_range(self.sigma_min, self.sigma_max)
    if not (isinstance(self.min_noisy_batch, (int, np.integer)) and self.min_noisy_batch == 0):
      _checks.positive_int("min_noisy_batch", self.min_noisy_batch)  # an integer >= 0
    _checks.positive_int("curve_points", self.curve_points)
    train_lib._hashable(self)

  def bucket_config(self, rows: int) -> train_lib.TrainConfig:
    """The training config of a bucket of ``rows`` pool rows (``sweep.bucket_train_config``,
    with at least ``min_noisy_batch`` noisy inputs per step)."""
    tc = sweep.bucket_train_config(self.train, rows)
    return dataclasses.replace(tc, num_noise=max(tc.num_noise, -(-self.min_noisy_batch // rows)))

  def memory_bytes(self, rows: int, d: int) -> int:
    tc = self.bucket_config(rows)
    batch = rows if tc.batch_size is None else tc.batch_size
    activations = 3 * batch * tc.num_noise * (2 * d + 3 * self.p_max + self.hidden)
    return 4 * (activations + 8 * (d + self.hidden) * self.p_max + rows * d + tc.steps)

  def __call__(self, member, callback=None) -> dict:
    X = member.X
    k_init, k_train, _ = jax.random.split(member.key, 3)
    params = init(k_init, X.shape[1], self.p_max, hidden=self.hidden)
    keep = jnp.arange(self.p_max) < member.config["p"]
    params = dict(params, W=params["W"] * keep)
    params, hist = train(params, X, k_train, self.bucket_config(X.shape[0]), sigma_min=self.sigma_min,
                         sigma_max=self.sigma_max, weights=member.weights, callback=callback)
    masked = jnp.max(jnp.abs(jnp.where(keep, 0.0, params["W"])))
    return {"params": params, "masked_max": masked, "valid": masked == 0,
            **sweep.history_outputs(hist, self.curve_points)}


# ----------------------------------------------------------------------------- denoisers


def _model_denoiser(params, y, sigma):
  return apply(params, y, sigma)


def _dae_denoiser(params, y, sigma):
  del sigma
  return model.apply(params, y)


def _empirical_denoiser(X, y, sigma):
  return denoisers.empirical(y, X, sigma)


def _mixture_denoiser(means, evals, evecs, weights, y, sigma):
  return denoisers.gaussian_mixture_spectral(y, means, evals, evecs, weights, sigma)


def model_denoiser(params: Params) -> Partial:
  """The time-conditioned model as a denoiser ``(y, σ) ↦ apply(params, y, σ)``."""
  _check_params(params, values=True)
  return Partial(_model_denoiser, params)


def single_sigma_dae(params_dae: model.Params) -> Partial:
  """The single-noise-level DAE of Eq. (5) used at every σ: ``(y, σ) ↦ f(y)`` (σ ignored)."""
  _checks.dae_params("params_dae", params_dae)
  return Partial(_dae_denoiser, params_dae)


def empirical_denoiser(X: jax.Array) -> Partial:
  """The empirical denoiser ``f_emp`` of Eq. (3) for training data ``X (n, d)``."""
  X = jnp.asarray(_checks.matrix("X", X))
  return Partial(_empirical_denoiser, X)


def gaussian_mixture_denoiser(means: jax.Array, covs: jax.Array, weights: jax.Array) -> Partial:
  """The exact ``f_gt`` of the Gaussian mixture ``Σ_k ρ_k N(μ_k, Σ_k)`` at every σ.

  Computed by :func:`relu_dae.denoisers.gaussian_mixture_spectral` with the covariances
  eigendecomposed once here on the host (no LAPACK call inside the vmapped sampler; see
  docs/theory_choices.md §15 on batched solves in ``vmap``). ``means (K, d)``, ``covs (K, d, d)``,
  ``weights (K,)``.
  """
  means = np.asarray(_checks.matrix("means", means))
  K, d = means.shape
  covs = np.asarray(_checks.array("covs", covs))
  if covs.shape != (K, d, d):
    raise ValueError(f"covs must have shape (K, d, d)=({K}, {d}, {d}), got {covs.shape}")
  weights = np.asarray(_checks.array("weights", weights))
  if weights.shape != (K,):
    raise ValueError(f"weights must have shape (K,)=({K},), got {weights.shape}")
  _checks.positive("weights", weights)
  evals, evecs = np.linalg.eigh((covs + np.swapaxes(covs, -1, -2)) / 2)
  if np.any(evals < -1e-8 * max(1.0, float(np.abs(evals).max()))):
    raise ValueError("covs must be positive semidefinite")
  dtype = jnp.result_type(float)
  return Partial(_mixture_denoiser, jnp.asarray(means, dtype), jnp.asarray(evals, dtype),
                 jnp.asarray(evecs, dtype), jnp.asarray(weights, dtype))


def _as_denoiser(params_or_denoiser) -> Partial:
  if isinstance(params_or_denoiser, Partial):
    return params_or_denoiser
  if hasattr(params_or_denoiser, "keys"):
    keys = set(params_or_denoiser.keys())
    if keys == {"W", "skip", "time"}:
      return model_denoiser(params_or_denoiser)
    if keys in ({"W"}, {"W1", "W2"}):
      return single_sigma_dae(params_or_denoiser)
    raise ValueError("params_or_denoiser must be diffusion params (keys 'W', 'skip', 'time'), DAE params "
                     f"({{'W'}} or {{'W1', 'W2'}}) or a callable denoise(y, sigma), got keys {sorted(map(str, keys))}")
  if callable(params_or_denoiser):
    return Partial(params_or_denoiser)
  raise TypeError("params_or_denoiser must be diffusion params, DAE params, or a callable "
                  f"denoise(y, sigma), got {type(params_or_denoiser).__name__}")


def _check_denoiser_dim(denoise: Partial, d: int, dtype) -> None:
  """Traces ``denoise(y (d,), σ ())`` once (shapes only): a denoiser of another dimension is refused."""
  y, s = jax.ShapeDtypeStruct((d,), dtype), jax.ShapeDtypeStruct((), dtype)
  try:
    out = jax.eval_shape(lambda f, y, s: f(y, s), denoise, y, s)
  except (ValueError, TypeError) as err:
    raise ValueError(f"d={d} does not fit params_or_denoiser: denoise(y of shape ({d},), sigma) failed: "
                     f"{err}") from err
  if getattr(out, "shape", None) != (d,):
    raise ValueError(f"params_or_denoiser must map y of shape (d,)=({d},) to shape ({d},), got "
                     f"{getattr(out, 'shape', type(out).__name__)}")


# ----------------------------------------------------------------------------- sampling


def sigma_grid(num_steps: int = NUM_STEPS, sigma_max=SIGMA_MAX, sigma_min=SIGMA_MIN) -> jax.Array:
  """The official sampling grid: ``num_steps`` geometric levels from σ_max to σ_min, then 0.

      σ_i = σ_max (σ_min/σ_max)^{i/(num_steps−1)},  i = 0 … num_steps−1;   σ_{num_steps} = 0.

  (``num_steps = 1`` gives ``[σ_max, 0]``.) Shape ``(num_steps + 1,)``.

  Examples:
    >>> tuple(round(float(s), 4) for s in sigma_grid(3, 1.0, 0.01))
    (1.0, 0.1, 0.01, 0.0)
  """
  num_steps = _checks.positive_int("num_steps", num_steps)
  _check_range(sigma_min, sigma_max)
  frac = jnp.arange(num_steps) / max(num_steps - 1, 1)
  geo = sigma_max * (sigma_min / sigma_max) ** frac
  return jnp.concatenate([geo, jnp.zeros(1, geo.dtype)])


def _clamp_bounds(clamp):
  """``None``, ``c > 0`` (→ ``(−c, c)``) or a finite pair ``lo < hi``, as Python floats (a static argument)."""
  if clamp is None:
    return None
  if isinstance(clamp, (tuple, list)):
    if len(clamp) != 2:
      raise ValueError(f"clamp must be None, a positive number c or a pair (lo, hi), got {clamp!r}")
    for v in clamp:
      _checks.number("clamp", v)
    lo, hi = float(clamp[0]), float(clamp[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
      raise ValueError(f"clamp must be a pair of finite numbers lo < hi, got {clamp!r}")
    return (lo, hi)
  _checks.number("clamp", clamp)
  c = float(clamp)
  if not (np.isfinite(c) and c > 0):
    raise ValueError(f"clamp must be a finite number > 0 (clip to [-c, c]) or a pair lo < hi, got {clamp!r}")
  return (-c, c)


@functools.partial(jax.jit, static_argnames=("clamp", "deterministic", "return_trajectory"))
def _sample(denoise, sigmas, x_init, keys, clamp, deterministic, return_trajectory, noise=None):

  def one(x0, k, zs):  # one sample: x0 (d,), k its key, zs its supplied noise (N, d) or None
    def step(x, inp):
      i, s, s_next, z = inp
      x0_hat = denoise(x, s)
      if deterministic:
        x = x + (s - s_next) / s * (x0_hat - x)
      else:
        delta = s * s - s_next * s_next
        if z is None:
          z = jax.random.normal(jax.random.fold_in(k, i), x.shape, x.dtype)
        x = x + delta / (s * s) * (x0_hat - x) + jnp.where(s_next > 0, jnp.sqrt(delta), 0.0) * z
      if clamp is not None:
        x = jnp.clip(x, *clamp)
      return x, (x if return_trajectory else None)

    steps = jnp.arange(sigmas.shape[0] - 1)
    x, traj = jax.lax.scan(step, x0, (steps, sigmas[:-1], sigmas[1:], zs))
    return jnp.concatenate([x0[None], traj]) if return_trajectory else x

  out = jax.vmap(one)(x_init, keys, None if noise is None else jnp.swapaxes(noise, 0, 1))
  return jnp.swapaxes(out, 0, 1) if return_trajectory else out


def _sampler_inputs(params_or_denoiser, key, num_samples, d, num_steps, sigma_max, sigma_min, clamp, deterministic,
                    x_init, noise):
  """The validated arguments of :func:`_sample` (shared by :func:`sample` and :func:`sample_trajectory`)."""
  _checks.key("key", key)
  num_samples = _checks.positive_int("num_samples", num_samples)
  d = _checks.positive_int("d", d)
  sigmas = sigma_grid(num_steps, sigma_max, sigma_min)
  bounds = _clamp_bounds(clamp)
  deterministic = _checks.boolean("deterministic", deterministic)
  denoise = _as_denoiser(params_or_denoiser)
  if x_init is not None:
    x_init = _checks.array("x_init", x_init)
    if jnp.shape(x_init) != (num_samples, d):
      raise ValueError(f"x_init must have shape (num_samples, d)=({num_samples}, {d}), got {jnp.shape(x_init)}")
  if noise is not None:
    if deterministic:
      raise ValueError("noise is used only by the ancestral sampler (deterministic=False)")
    noise = _checks.array("noise", noise)
    if jnp.shape(noise) != (sigmas.shape[0] - 1, num_samples, d):
      raise ValueError(f"noise must have shape (num_steps, num_samples, d)=({sigmas.shape[0] - 1}, "
                       f"{num_samples}, {d}), got {jnp.shape(noise)}")
  _check_denoiser_dim(denoise, d, sigmas.dtype if x_init is None else jnp.result_type(x_init))
  keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(num_samples, dtype=jnp.uint32))
  if x_init is None:
    x_init = sigmas[0] * jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 2**31 - 1), (d,)))(keys)
  return (denoise, sigmas, jnp.asarray(x_init), keys, bounds, deterministic), noise


def sample(params_or_denoiser, key: jax.Array, num_samples: int, d: int, *, num_steps: int = NUM_STEPS,
           sigma_max=SIGMA_MAX, sigma_min=SIGMA_MIN, clamp=None, deterministic: bool = False,
           x_init: Float[ArrayLike, "m d"] | None = None, return_trajectory: bool | None = None,
           noise: Float[ArrayLike, "N m d"] | None = None) -> Float[Array, "m d"]:
  """Generates samples with the VE sampler of the official code, or the DDIM-type Eq. (1).

  On the grid ``σ_0 > … > σ_{N−1} > σ_N = 0`` of :func:`sigma_grid` (``N = num_steps``), from
  ``x_0 = σ_max z`` (or ``x_init``), with ``x̂_i = denoise(x_i, σ_i)`` (the x0 prediction), the
  Tweedie score ``(x̂_i − x_i)/σ_i²`` and ``z_i ~ N(0, I)``:

  * ancestral (``deterministic=False``; the official ``ve_sample_traj``, Euler–Maruyama of the
    reverse VE SDE):

        x_{i+1} = x_i + (σ_i² − σ_{i+1}²) (x̂_i − x_i)/σ_i² + √(σ_i² − σ_{i+1}²) z_i,

    with no noise on the last step (σ_N = 0), which therefore returns ``x̂_{N−1}``;
  * deterministic (Eq. (1) with the sign that steps toward x̂,
    ``x_{i+1} = x_i + (σ_i − σ_{i+1}) σ_i ∇log p``; Eq. (1) as transcribed has ``−``, which
    steps away from x̂: docs/theory_choices.md §16. Euler on the probability-flow ODE
    ``dx/dσ = (x − x̂)/σ``):

        x_{i+1} = x_i + (σ_i − σ_{i+1}) (x̂_i − x_i)/σ_i.

    From ``x_0 ~ N(0, σ_max² I)`` it is biased for data N(μ, s²I): at the default grid and
    s = 0.5 the mean is 0.762 μ (−23.8 %) and the variance 0.226 (−9.4 %), exact recursions
    that ``test_gaussian_oracle_deterministic_matches_its_recursion`` checks with μ ≠ 0.

  After each step, ``clamp`` (if given) clips ``x`` to ``[−c, c]`` or ``[lo, hi]`` (the official
  code clamps to [−1, 1]). The loop is a ``lax.scan`` over steps, ``vmap``ped over samples and
  ``jit``-compiled; sample j's noise comes from ``fold_in(key, j)`` only.

  Args:
    params_or_denoiser: :func:`init` params, tied/untied DAE params (→ :func:`single_sigma_dae`),
      a denoiser from this module, or any callable ``denoise(y (d,), σ ()) -> x0_hat (d,)``.
    key: PRNG key (initial state and ancestral noise).
    num_samples: number of samples m.
    d: data dimension.
    num_steps: N ≥ 1 steps.
    sigma_max, sigma_min: grid ends, 0 < σ_min < σ_max.
    clamp: ``None``, ``c > 0`` or a pair ``(lo, hi)``.
    deterministic: use Eq. (1) instead of the ancestral update.
    x_init: optional initial states ``(m, d)`` (replaces ``σ_max z``).
    return_trajectory: deprecated; ``True`` returns :func:`sample_trajectory`'s trajectory (with a
      ``DeprecationWarning``). Call :func:`sample_trajectory` for every state.
    noise: optional ancestral noise ``(N, m, d)``: ``noise[i, j]`` is ``z_i`` of sample j (the
      last step's is unused); ``None`` draws ``z_i`` from ``fold_in(fold_in(key, j), i)``.
      With ``x_init`` it makes the sampler a deterministic function of its inputs (for
      comparisons with other implementations). Ancestral only.

  Returns:
    Samples ``(m, d)``, the final states (:func:`sample_trajectory` returns every state).

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> x = sample(lambda y, s: jnp.zeros_like(y), jax.random.PRNGKey(0), 3, 2, num_steps=4)
    >>> x.shape, float(jnp.abs(x).max())   # x̂ = 0: the last step lands on 0
    ((3, 2), 0.0)
  """
  if return_trajectory is not None:
    return_trajectory = _checks.boolean("return_trajectory", return_trajectory)
    warnings.warn("sample(return_trajectory=...) is deprecated: sample returns the final samples; call "
                  "relu_dae.diffusion.sample_trajectory for every state", DeprecationWarning, stacklevel=2)
  args, noise = _sampler_inputs(params_or_denoiser, key, num_samples, d, num_steps, sigma_max, sigma_min, clamp,
                                deterministic, x_init, noise)
  return _sample(*args, bool(return_trajectory), noise)


def sample_trajectory(params_or_denoiser, key: jax.Array, num_samples: int, d: int, *, num_steps: int = NUM_STEPS,
                      sigma_max=SIGMA_MAX, sigma_min=SIGMA_MIN, clamp=None, deterministic: bool = False,
                      x_init: Float[ArrayLike, "m d"] | None = None,
                      noise: Float[ArrayLike, "N m d"] | None = None) -> Float[Array, "T m d"]:
  """Every state of :func:`sample`'s sampler: ``(x_0, x_1, …, x_N)``, initial state first.

  Same arguments, grid, update rules, noise and compilation as :func:`sample` (whose result is
  the last entry, ``sample_trajectory(...)[-1] == sample(...)``).

  Returns:
    The trajectory ``(N + 1, m, d)``, ``N = num_steps``.

  Examples:
    >>> import jax, jax.numpy as jnp
    >>> traj = sample_trajectory(lambda y, s: jnp.zeros_like(y), jax.random.PRNGKey(0), 2, 3, num_steps=2,
    ...                          sigma_max=1.0, sigma_min=0.5, x_init=jnp.ones((2, 3)), deterministic=True)
    >>> traj.shape, traj[:, 0, 0].tolist()   # x̂ = 0: x ← x σ_{i+1}/σ_i
    ((3, 2, 3), [1.0, 0.5, 0.0])
  """
  args, noise = _sampler_inputs(params_or_denoiser, key, num_samples, d, num_steps, sigma_max, sigma_min, clamp,
                                deterministic, x_init, noise)
  return _sample(*args, True, noise)
