"""Every "compiles once" claim in a docstring, checked by the jitted core's compile-cache size."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relu_dae as rd
from relu_dae import diffusion, steering
from relu_dae import train as train_lib
from _compile import cache_growth




@pytest.mark.slow
def test_fit_with_a_progress_bar_compiles_once():
  """fit's bar reports through one module-level callback, not a fresh closure per call."""
  key = jax.random.PRNGKey(0)
  X = jax.random.normal(key, (6, 4))
  cfg = rd.train.TrainConfig(steps=20, chunk_size=10)
  fit = lambda: rd.train.fit(rd.model.init(key, 4, 3), X, key, cfg, progress=True)
  assert cache_growth(train_lib._train, fit) == 0


@pytest.mark.slow
def test_diffusion_fit_with_a_progress_bar_compiles_once():
  key = jax.random.PRNGKey(0)
  X = jax.random.normal(key, (6, 4))
  cfg = rd.train.TrainConfig(steps=20, chunk_size=10)
  fit = lambda: diffusion.fit(diffusion.init(key, 4, 3), X, key, cfg, progress=True)
  assert cache_growth(diffusion._train, fit) == 0


def test_train_compiles_once_across_sigma_and_lam():
  """TrainConfig docstring: sigma/lam as traced overrides share one compile."""
  key = jax.random.PRNGKey(1)
  X = jax.random.normal(key, (6, 4))
  cfg = rd.train.TrainConfig(steps=10, chunk_size=10)
  values = iter(np.linspace(0.1, 1.0, 10))
  run = lambda: rd.train.train(rd.model.init(key, 4, 3), X, key, cfg, sigma=float(next(values)),
                               lam=float(next(values)) * 1e-3)
  assert cache_growth(train_lib._train, run) == 0


@pytest.mark.slow
def test_steered_sampling_compiles_once_for_all_strengths_and_windows():
  """steering.steered_denoiser: a Partial whose leaves are params, v, a, lo, hi."""
  key = jax.random.PRNGKey(2)
  params = diffusion.init(key, 4, 3)
  v = jnp.ones(3)
  strengths = iter([(0.1, (0.0, 1.0)), (0.5, (0.2, 2.0)), (1.0, (0.0, float("inf"))), (0.0, (0.5, 0.6))])

  def run():
    a, window = next(strengths)
    den = steering.steered_denoiser(params, v, a, sigma_window=window)
    return diffusion.sample(den, key, 3, 4, num_steps=4)

  assert cache_growth(diffusion._sample, run) == 0
