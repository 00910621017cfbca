"""Tests of relu_dae.mask_flips against Monte Carlo and hand values."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import mask_flips


@pytest.mark.slow
def test_mask_flip_closed_form_matches_monte_carlo(x64):
  key = jax.random.PRNGKey(2)
  X = jax.random.normal(key, (6, 5))
  W = jax.random.normal(jax.random.PRNGKey(3), (5, 4)).at[:, 3].set(0.0)
  sigma, N = 0.7, 20000
  P = np.asarray(mask_flips.mask_flip_probability(X, W, sigma))
  assert np.all(P[:, 3] == 0)
  mc = mask_flips.mask_stability_mc(jax.random.PRNGKey(4), X, W, sigma, N)
  # Binomial tolerance: 5 standard errors plus one count.
  tol = 5 * np.sqrt(P * (1 - P) / N) + 1.0 / N
  assert np.all(np.abs(np.asarray(mc.per_unit) - P) <= tol)
  union = np.asarray(mask_flips.mask_stability(X, W, sigma))
  any_flip = np.asarray(mc.any_flip)
  se = np.sqrt(any_flip * (1 - any_flip) / N) + 1.0 / N
  assert np.all(union >= any_flip - 5 * se)  # union bound ≥ exact any-flip probability
  assert np.all(any_flip >= P.max(axis=1) - 5 * se - 1e-12)  # ≥ every single unit's flip


@pytest.mark.slow
def test_mask_flip_edge_cases():
  X = jnp.array([[1.0, 0.0]])
  W = jnp.array([[0.0, 1.0], [1.0, 0.0]])  # unit 0 on its hyperplane, unit 1 at distance 1
  P = mask_flips.mask_flip_probability(X, W, 1.0)
  np.testing.assert_allclose(P, [[0.5, 0.15865525]], rtol=1e-6)
  assert float(mask_flips.mask_stability(X, W, 0.0)[0]) == 0.0
  W_wide = jnp.ones((2, 5)) * jnp.array([[1.0], [0.0]]) * 1e-3 + jnp.array([[0.0], [1.0]])
  assert float(mask_flips.mask_stability(X, W_wide, 10.0)[0]) <= 1.0
  with pytest.raises(ValueError, match="sigma"):
    mask_flips.mask_flip_probability(X, W, -1.0)
  with pytest.raises(ValueError, match="num_draws"):
    mask_flips.mask_stability_mc(jax.random.PRNGKey(0), X, W, 1.0, 0)
