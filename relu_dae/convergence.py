"""When a training run has converged, and when it has gone unstable: a stopping rule.

A Monte-Carlo loss (fresh noise every step) never stops fluctuating, and Adam at a fixed
learning rate orbits a minimum instead of settling in it, so "the loss stopped changing"
is not a test one can run on the per-step loss. The rule here watches a *monitor*: the
loss at fixed noise draws (common random numbers), evaluated once per scan chunk, so two
chunk-end values differ only because the parameters moved. It is reduce-on-plateau with
a stop:

* the monitor *improves* when ``m_c < best · (1 − rtol)``; after ``patience`` chunks without
  improvement the learning rate is multiplied by ``factor`` (down to ``min_scale``);
* the run has **converged** when a plateau is found at the smallest scale and the last
  chunk moved the weights by less than ``wtol`` relatively, ``‖W_c − W_{c−1}‖ / ‖W_c‖``;
* it is **unstable** when the monitor stays above ``rise · best`` for ``patience`` chunks in a
  row (:data:`LOSS_ROSE`; a one-chunk Adam spike that recovers is not divergence, it only
  counts as a chunk without improvement) or the weight norm exceeds ``norm_rise`` times its
  value at the best monitor (:data:`NORM_RAN_AWAY`); a non-finite monitor is :data:`NONFINITE`.

``init`` / ``update`` is a pure pair on a :class:`State` of scalars, so the rule runs per
configuration inside a ``vmap`` (:func:`relu_dae.train.minimize` carries it through a
``lax.while_loop`` over chunks; a run that stops is frozen bitwise while the others go on).

Example (a synthetic monitor that falls, then stays flat from chunk 10 on):
  >>> import jax.numpy as jnp
  >>> rule = Convergence(patience=2, min_scale=0.25)
  >>> state = init()
  >>> for c in range(40):
  ...   state = update(rule, state, jnp.float32(max(1.0, 10.0 - c)), 1.0, 0.0)
  ...   if int(state.status) != RUNNING: break
  >>> c, STATUS_NAMES[int(state.status)], float(state.scale)
  (15, 'converged', 0.25)
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

import jax
import jax.numpy as jnp

from relu_dae import _checks

__all__ = ["CONVERGED", "LOSS_ROSE", "MAX_STEPS", "NONFINITE", "NORM_RAN_AWAY", "RUNNING", "STATUS_NAMES", "UNSTABLE",
           "Convergence", "State", "init", "update"]

RUNNING, CONVERGED, MAX_STEPS, LOSS_ROSE, NORM_RAN_AWAY, NONFINITE = range(6)
STATUS_NAMES = ("running", "converged", "max_steps", "loss_rose", "norm_ran_away", "nonfinite")
UNSTABLE = (LOSS_ROSE, NORM_RAN_AWAY, NONFINITE)


@dataclasses.dataclass(frozen=True)
class Convergence:
  """Settings of the stopping rule (hashable: part of a static ``TrainConfig``).

  Attributes:
    patience: chunks without a relative improvement of ``rtol`` before the learning rate
      is reduced (and, at ``min_scale``, before the run counts as converged).
    rtol: relative improvement of the monitor that counts as progress.
    factor: learning-rate multiplier at each plateau, in (0, 1).
    min_scale: smallest learning-rate multiplier; a plateau there ends the run.
    wtol: largest relative weight change of the last chunk for a converged run.
    rise: the run is unstable once the monitor stays above ``rise`` times its best value
      for ``patience`` chunks.
    norm_rise: ... or the weight norm exceeds ``norm_rise`` times its norm at the best value.
    monitor_draws: fixed noise draws (keys) the monitor loss averages over.
  """
  patience: int = 3
  rtol: float = 1e-3
  factor: float = 0.5
  min_scale: float = 1 / 32
  wtol: float = 0.05
  rise: float = 2.0
  norm_rise: float = 10.0
  monitor_draws: int = 16

  def __post_init__(self):
    _checks.positive_int("patience", self.patience)
    _checks.in_range("rtol", self.rtol, 0.0, 1.0, closed=(False, False))
    _checks.in_range("factor", self.factor, 0.0, 1.0, closed=(False, False))
    _checks.in_range("min_scale", self.min_scale, 0.0, 1.0, closed=(False, True))
    _checks.scalar_positive("wtol", self.wtol)
    _checks.in_range("rise", self.rise, 1.0, np.inf, closed=(False, False))
    _checks.in_range("norm_rise", self.norm_rise, 1.0, np.inf, closed=(False, False))
    _checks.positive_int("monitor_draws", self.monitor_draws)


class State(NamedTuple):
  """Per-run state of the rule (all scalars; batched under ``vmap``).

  Attributes:
    scale: current learning-rate multiplier.
    best: best monitor value so far (``inf`` before the first chunk).
    best_norm: weight norm at ``best``.
    wait: chunks since the last improvement (at the current scale).
    above: consecutive chunks with the monitor above ``rise · best``.
    last: monitor value of the previous chunk.
    rel_change: ``(m_c − m_{c−1}) / |m_{c−1}|`` of the last chunk (NaN before two chunks).
    status: :data:`RUNNING`, :data:`CONVERGED` or an unstable code (``STATUS_NAMES``).
  """
  scale: jax.Array
  best: jax.Array
  best_norm: jax.Array
  wait: jax.Array
  above: jax.Array
  last: jax.Array
  rel_change: jax.Array
  status: jax.Array


def init() -> State:
  """The rule's state before the first chunk."""
  f = lambda v: jnp.array(v, jnp.float32)
  i = lambda v: jnp.array(v, jnp.int32)
  return State(f(1.0), f(jnp.inf), f(jnp.nan), i(0), i(0), f(jnp.nan), f(jnp.nan), i(RUNNING))


def update(rule: Convergence, state: State, monitor, norm, weight_change) -> State:
  """The state after one more chunk; a run whose status is not ``RUNNING`` is left as it is.

  Args:
    rule: the :class:`Convergence` settings (static).
    state: the :class:`State` after the previous chunk.
    monitor: the monitor loss at the end of this chunk (scalar).
    norm: the weight norm ``‖W_c‖`` at the end of this chunk.
    weight_change: ``‖W_c − W_{c−1}‖ / ‖W_c‖`` over this chunk.
  """
  if not isinstance(rule, Convergence):
    raise TypeError(f"rule must be a Convergence, got {type(rule).__name__}")
  if not isinstance(state, State):
    raise TypeError(f"state must be a convergence.State (from convergence.init()), got {type(state).__name__}")
  for name, v in (("monitor", monitor), ("norm", norm), ("weight_change", weight_change)):
    _checks.number(name, v)
  for name, v in (("norm", norm), ("weight_change", weight_change)):
    c = _checks.concrete(v)
    if c is not None and c < 0:
      raise ValueError(f"{name} must be >= 0 (a norm / relative change), got {c}")
  monitor = jnp.asarray(monitor, jnp.float32)
  norm = jnp.asarray(norm, jnp.float32)
  improved = monitor < state.best * (1.0 - rule.rtol)
  best = jnp.where(improved, monitor, state.best)
  best_norm = jnp.where(improved, norm, state.best_norm)
  wait = jnp.where(improved, 0, state.wait + 1)
  plateau = wait >= rule.patience
  at_floor = state.scale <= rule.min_scale * (1.0 + 1e-6)
  scale = jnp.where(plateau & ~at_floor, jnp.maximum(state.scale * rule.factor, rule.min_scale), state.scale)
  wait = jnp.where(plateau, 0, wait)
  converged = plateau & at_floor & (weight_change < rule.wtol)
  above = jnp.where(monitor > rule.rise * state.best, state.above + 1, 0).astype(jnp.int32)
  rose = above >= rule.patience
  ran_away = norm > rule.norm_rise * state.best_norm
  status = jnp.select([~jnp.isfinite(monitor), rose, ran_away, converged],
                      [NONFINITE, LOSS_ROSE, NORM_RAN_AWAY, CONVERGED], RUNNING).astype(jnp.int32)
  new = State(scale, best, best_norm, wait.astype(jnp.int32), above, monitor,
              (monitor - state.last) / jnp.abs(state.last), status)
  running = state.status == RUNNING
  return jax.tree.map(lambda a, b: jnp.where(running, a, b), new, state)
