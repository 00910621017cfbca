"""convergence: the stopping rule on synthetic monitor curves with a known answer, and
the rule inside train.minimize (early stop, bitwise freeze under vmap, unstable runs)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import convergence as cv
from relu_dae import data
from relu_dae import losses
from relu_dae import model
from relu_dae import train as tr


def _drive(rule, monitors, norms=None, changes=None):
  """Feeds a monitor curve chunk by chunk; returns (chunk at which it stopped or None, state)."""
  state = cv.init()
  norms = np.ones(len(monitors)) if norms is None else norms
  changes = np.zeros(len(monitors)) if changes is None else changes
  for c, (m, w, dw) in enumerate(zip(monitors, norms, changes)):
    state = cv.update(rule, state, m, w, dw)
    if int(state.status) != cv.RUNNING:
      return c, state
  return None, state


@pytest.mark.parametrize("plateau, patience, min_scale", [(5, 3, 1 / 32), (20, 2, 1 / 8), (0, 4, 1.0)])
def test_stops_a_known_number_of_chunks_after_the_plateau(plateau, patience, min_scale):
  """A curve falling 2 %/chunk, flat from chunk `plateau`: one patience window per halving
  down to min_scale, then one more at the floor -> stop at plateau + patience·(halvings + 1)."""
  rule = cv.Convergence(patience=patience, min_scale=min_scale)
  curve = [1.0 * 0.98**min(c, plateau) for c in range(400)]
  halvings = round(np.log2(1 / min_scale))
  stop, state = _drive(rule, curve)
  assert stop == plateau + patience * (halvings + 1)
  assert cv.STATUS_NAMES[int(state.status)] == "converged"
  assert float(state.scale) == pytest.approx(min_scale)


def test_noise_below_rtol_is_a_plateau_and_slow_progress_is_not():
  rng = np.random.default_rng(0)
  rule = cv.Convergence(patience=3, rtol=1e-3)
  flat = 1.0 + 1e-4 * rng.standard_normal(200)
  assert _drive(rule, flat)[0] == 0 + 3 * (5 + 1)  # chunk 0 is the plateau; 5 halvings to 1/32
  slow = 0.997 ** np.arange(200)  # 0.3 % per chunk > rtol: always improving
  stop, state = _drive(rule, slow)
  assert stop is None and float(state.scale) == 1.0


def test_weights_still_moving_is_not_converged():
  rule = cv.Convergence(patience=2, min_scale=0.5, wtol=0.05)
  stop, state = _drive(rule, np.ones(50), changes=np.full(50, 0.2))
  assert stop is None and float(state.scale) == 0.5
  stop, _ = _drive(rule, np.ones(50), changes=np.full(50, 0.01))
  assert stop == 4


def test_unstable_runs_are_named():
  rule = cv.Convergence(rise=2.0, norm_rise=10.0, patience=3)
  stop, state = _drive(rule, [1.0, 0.5, 0.4, 0.9, 0.9, 0.9, 0.9])  # 0.9 > 2 × 0.4, three chunks running
  assert (stop, int(state.status)) == (5, cv.LOSS_ROSE)
  stop, state = _drive(rule, [1.0, 0.5, 0.4, 0.9, 0.9, 0.4, 0.9, 0.39])  # spikes that recover
  assert stop is None
  stop, state = _drive(rule, [1.0, 0.5, 0.4, 0.39], norms=[1.0, 1.0, 1.0, 11.0])
  assert (stop, int(state.status)) == (3, cv.NORM_RAN_AWAY)
  stop, state = _drive(rule, [1.0, np.nan])
  assert (stop, int(state.status)) == (1, cv.NONFINITE)


def test_a_stopped_state_never_changes():
  rule = cv.Convergence(rise=2.0, patience=1)
  _, state = _drive(rule, [1.0, 3.0])
  later = cv.update(rule, state, 0.1, 1.0, 0.0)
  for a, b in zip(state, later):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs", [dict(patience=0), dict(factor=1.0), dict(factor=0.0), dict(min_scale=0.0),
                                    dict(min_scale=2.0), dict(rise=1.0), dict(norm_rise=0.5), dict(rtol=-1.0),
                                    dict(wtol=0.0), dict(monitor_draws=0)])
def test_bad_settings_name_the_parameter(kwargs):
  with pytest.raises(ValueError, match=next(iter(kwargs))):
    cv.Convergence(**kwargs)


def test_train_config_checks_the_rule():
  with pytest.raises(ValueError, match="multiple of chunk_size"):
    tr.TrainConfig(steps=250, chunk_size=100, convergence=cv.Convergence())
  with pytest.raises(TypeError, match="convergence"):
    tr.TrainConfig(steps=200, chunk_size=100, convergence={"patience": 3})


def _setup(key):
  X = data.locally_sparse(key, n=8, d=16, norm=4.0)
  params = model.init(jax.random.PRNGKey(1), 16, 8)
  cfg = tr.TrainConfig(steps=30000, lam=1e-3, learning_rate=1e-2, chunk_size=50,
                       convergence=cv.Convergence(patience=2, min_scale=1 / 4))
  return X, params, cfg


@pytest.mark.slow
def test_train_stops_early_and_records_why(key):
  X, params, cfg = _setup(key)
  out, hist = tr.train(params, X, key, cfg, sigma=0.2)
  steps = int(hist.steps_run)
  assert int(hist.status) == cv.CONVERGED and 0 < steps < cfg.steps and steps % cfg.chunk_size == 0
  assert np.all(np.isfinite(hist.loss[:steps])) and np.all(np.isnan(hist.loss[steps:]))
  # The monitor is Eq. (6) at the rule's fixed noise draws, recomputed here from the final weights.
  monitor_keys = jax.random.split(jax.random.fold_in(key, 0x5EED), cfg.convergence.monitor_draws)
  want = np.mean([losses.dae_loss(out, X, k, 0.2, cfg.lam) for k in monitor_keys])
  np.testing.assert_allclose(float(hist.monitor), want, rtol=1e-5)
  assert np.isfinite(float(hist.monitor_slope))


@pytest.mark.slow
def test_a_converged_run_is_frozen_bitwise_while_vmapped_neighbours_train(key):
  """[early, late] trained together: the early run's outputs equal those of a batch whose
  budget ends exactly at its stop, though the loop went on for the late run."""
  X, params, cfg = _setup(key)
  sigmas = jnp.array([0.05, 0.6])
  go = lambda c: jax.vmap(lambda s: tr.train(params, X, key, c, sigma=s))(sigmas)
  out, hist = go(cfg)
  steps = np.asarray(hist.steps_run)
  early = int(np.argmin(steps))
  assert steps[early] < steps[1 - early] and int(hist.status[early]) == cv.CONVERGED
  out_cut, hist_cut = go(dataclasses.replace(cfg, steps=int(steps[early])))
  np.testing.assert_array_equal(out["W"][early], out_cut["W"][early])
  np.testing.assert_array_equal(hist.loss[early, :steps[early]], hist_cut.loss[early])
  assert int(hist_cut.status[early]) == cv.CONVERGED
  for field in ("monitor", "monitor_slope", "steps_run"):
    np.testing.assert_array_equal(getattr(hist, field)[early], getattr(hist_cut, field)[early])


@pytest.mark.slow
def test_divergence_is_marked_unstable_not_a_result(key):
  X = data.locally_sparse(key, n=8, d=16, norm=4.0)
  cfg = tr.TrainConfig(steps=2000, sigma=0.2, learning_rate=1e3, chunk_size=50, convergence=cv.Convergence())
  _, hist = tr.train(model.init(jax.random.PRNGKey(1), 16, 8), X, key, cfg)
  assert int(hist.status) in cv.UNSTABLE and int(hist.steps_run) < cfg.steps


def test_without_a_rule_every_step_runs(key):
  X, params, cfg = _setup(key)
  _, hist = tr.train(params, X, key, dataclasses.replace(cfg, steps=200, convergence=None))
  assert int(hist.steps_run) == 200 and int(hist.status) == cv.MAX_STEPS and np.isnan(float(hist.monitor))
