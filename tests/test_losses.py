"""losses: Eq. (6) against numpy, Monte Carlo against the exact Lemma D.1 objective."""

import numpy as np
import pytest
import jax
import jax.numpy as jnp

from relu_dae import losses
from relu_dae import model


@pytest.mark.slow
def test_dae_loss_matches_numpy_with_same_noise(key):
  params = model.init(key, d=6, p=4, tied=False)
  X = jax.random.normal(jax.random.PRNGKey(1), (5, 6))
  sigma, lam, k = 0.3, 0.01, jax.random.PRNGKey(2)
  # the draws dae_loss makes with this key: row i from fold_in(key, i)
  eps = np.stack([np.asarray(jax.random.normal(jax.random.fold_in(k, i), (3, 6))) for i in range(5)], 1)
  W1, W2 = np.asarray(params["W1"]), np.asarray(params["W2"])
  Y = np.asarray(X) + sigma * eps
  F = np.maximum(Y @ W1, 0) @ W2.T
  expected = np.mean(np.sum((F - np.asarray(X)) ** 2, -1)) + lam * (np.sum(W1**2) + np.sum(W2**2))
  got = losses.dae_loss(params, X, k, sigma, lam, num_noise=3)
  np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.slow
def test_noise_of_a_sample_does_not_depend_on_padding(key):
  short = losses.sample_noise(key, 3, 2, 4)
  padded = losses.sample_noise(key, 8, 2, 4)
  np.testing.assert_array_equal(short, padded[:, :3])


@pytest.mark.slow
def test_tied_penalty_counts_w_twice(key):
  W = model.init(key, d=4, p=3)["W"]
  X = jax.random.normal(key, (3, 4))
  tied = losses.dae_loss({"W": W}, X, key, 0.1, 0.5)
  untied = losses.dae_loss({"W1": W, "W2": W}, X, key, 0.1, 0.5)
  np.testing.assert_allclose(tied, untied, rtol=1e-6)
  np.testing.assert_allclose(losses.weight_penalty({"W": W}), 2 * np.sum(np.asarray(W) ** 2), rtol=1e-6)


@pytest.mark.slow
def test_monte_carlo_matches_linear_ae_loss_on_active_mask(x64):
  """All units active on every noisy input ⇒ ReLU = identity ⇒ E[dae_loss] = linear_ae_loss.

  Positive data (entries in [1, 2]) and positive weights make W1ᵀ(x+σε) > 0 unless a
  draw is ~10σ out; the tolerance is 5 standard errors over 200 independent estimates.
  """
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(3), 3)
  X = 1.0 + jax.random.uniform(k1, (6, 5))
  W1 = 0.2 + 0.3 * jax.random.uniform(k2, (5, 3))
  W2 = 0.3 * jax.random.normal(k3, (5, 3))
  params, sigma, lam = {"W1": W1, "W2": W2}, 0.1, 0.02
  assert float(jnp.min(X @ W1)) > 10 * sigma * float(jnp.max(jnp.linalg.norm(W1, axis=0)))
  est = jax.vmap(lambda k: losses.dae_loss(params, X, k, sigma, lam, num_noise=100))(
      jax.random.split(jax.random.PRNGKey(4), 200))
  exact = losses.linear_ae_loss(W2, W1, X, sigma, lam)
  stderr = float(jnp.std(est)) / np.sqrt(est.shape[0])
  assert abs(float(jnp.mean(est)) - float(exact)) < 5 * stderr
  # Lemma D.1's unnormalized form, with X as columns and λ' = nλ, divided by n.
  Xc, D, n = np.asarray(X).T, np.asarray(W2 @ W1.T), X.shape[0]
  lemma = (np.sum((D @ Xc - Xc) ** 2) + n * sigma**2 * np.sum(D**2)
           + n * lam * (np.sum(np.asarray(W1) ** 2) + np.sum(np.asarray(W2) ** 2))) / n
  np.testing.assert_allclose(exact, lemma, rtol=1e-12)
  np.testing.assert_allclose(losses.frozen_mask_loss(params, X, sigma, lam), exact, rtol=1e-12)


@pytest.mark.slow
def test_frozen_mask_loss_is_eq6_at_zero_noise(key):
  params = model.init(key, d=6, p=8)
  X = jax.random.normal(jax.random.PRNGKey(5), (7, 6))
  np.testing.assert_allclose(losses.frozen_mask_loss(params, X, 0.0, 0.1),
                             losses.dae_loss(params, X, key, 0.0, 0.1), rtol=1e-6)


@pytest.mark.slow
def test_frozen_mask_noise_term_matches_brute_force(x64):
  """σ² Σ_i ‖W2 diag(m_i) W1ᵀ‖_F² computed by explicit per-sample matrices."""
  params = model.init(jax.random.PRNGKey(6), d=5, p=4, tied=False)
  X = jax.random.normal(jax.random.PRNGKey(7), (3, 5))
  W1, W2 = np.asarray(params["W1"]), np.asarray(params["W2"])
  total = 0.0
  for x in np.asarray(X):
    A = W2 @ np.diag((x @ W1 > 0).astype(float)) @ W1.T
    total += np.sum((A @ x - x) ** 2) + 0.5**2 * np.sum(A**2)
  np.testing.assert_allclose(losses.frozen_mask_loss(params, X, 0.5, 0.0), total / 3, rtol=1e-12)


@pytest.mark.slow
def test_weights_select_a_subset(key):
  params = model.init(key, d=4, p=5)
  X = jax.random.normal(jax.random.PRNGKey(8), (6, 4))
  mask = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
  sub = X[np.asarray(mask, bool)]
  np.testing.assert_allclose(losses.dae_loss(params, X, key, 0.0, 0.1, weights=mask),
                             losses.dae_loss(params, sub, key, 0.0, 0.1), rtol=1e-6)
