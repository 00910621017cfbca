"""Tests of relu_dae.moment_matching: exact moments, the frozen-mask loss without flips, Monte Carlo with them."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import data, losses, minima, moment_matching
from _instances import separable_instance


@pytest.mark.slow
def test_moment_matched_noise_has_exact_moments_and_checks_inputs(x64):
  eps = np.asarray(moment_matching.moment_matched_noise(jax.random.PRNGKey(0), 3, 12, 5))
  assert eps.shape == (3, 12, 5)
  for e in eps:
    np.testing.assert_allclose(e.mean(0), 0.0, atol=1e-14)
    np.testing.assert_allclose(e.T @ e / 12, np.eye(5), atol=1e-13)
  # marginally Gaussian-like: pooled second moment along a fixed direction is 1, fourth near 3
  big = np.asarray(moment_matching.moment_matched_noise(jax.random.PRNGKey(1), 200, 64, 4))[..., 0].ravel()
  assert abs(np.mean(big**4) - 3.0) < 0.3
  with pytest.raises(ValueError, match="num_draws"):
    moment_matching.moment_matched_noise(jax.random.PRNGKey(0), 3, 8, 5)  # M/2 < d
  with pytest.raises(ValueError, match="num_draws"):
    moment_matching.moment_matched_noise(jax.random.PRNGKey(0), 3, 11, 5)  # odd


@pytest.mark.slow
def test_moment_matched_loss_is_frozen_loss_without_flips_and_mc_with_them(x64):
  X, _labels, _sigma, lam, _ps, W = separable_instance()
  eps = moment_matching.moment_matched_noise(jax.random.PRNGKey(2), X.shape[0], 20, X.shape[1])
  params = {"W": W}
  # at tiny σ no draw flips a mask: equal to the exact frozen-mask expectation
  small = 1e-3
  np.testing.assert_allclose(float(moment_matching.moment_matched_loss(params, X, eps, small, lam)),
                             float(losses.frozen_mask_loss(params, X, small, lam)), rtol=1e-12)
  # at any σ: an unbiased estimate of Eq. (6); compare with a large independent Monte Carlo
  big = 1.0
  mm = np.mean([float(moment_matching.moment_matched_loss(
      params, X, moment_matching.moment_matched_noise(jax.random.PRNGKey(10 + s), X.shape[0], 20, X.shape[1]),
      big, lam))
      for s in range(10)])
  mc = float(losses.dae_loss(params, X, jax.random.PRNGKey(5), big, lam, num_noise=4000))
  assert abs(mm - mc) < 0.02 * mc


@pytest.mark.slow
def test_refine_returns_constructed_minimum_when_no_mask_flips_and_moves_when_they_do(x64):
  X = data.locally_sparse(jax.random.PRNGKey(0), n=4, d=8, norm=2.0)
  lam = 1e-3
  eps = moment_matching.moment_matched_noise(jax.random.PRNGKey(1), 4, 32, 8)
  for sigma, expect_zero in [(0.05, True), (1.0, False)]:
    W = minima.memorization(X, sigma, lam, 4)
    dists = []
    for steps in (100, 300):
      out = moment_matching.refine({"W": W * 1.02}, X, eps, sigma, lam, steps=steps)
      dists.append(float(jnp.linalg.norm(out.params["W"] - W) / jnp.linalg.norm(W)))
    if expect_zero:  # margin/σ = 40: the minimum of the moment-matched loss is W_mem itself
      assert float(out.grad_norm) < 1e-10
      assert max(dists) < 1e-10
    else:  # σ comparable to the margin: mask flips move the minimum (Thm 3.1's residual);
      # the minimum sits on a kink of the piecewise-quadratic loss, so check the point, not the gradient
      assert dists[1] > 1e-2
      assert abs(dists[0] - dists[1]) < 1e-3 * dists[1]
