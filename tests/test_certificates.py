"""Tests of relu_dae.certificates against finite differences, Monte Carlo and counted zero modes."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import certificates, data, losses, minima, theory
from _instances import separable_instance


@pytest.mark.slow
def test_frozen_mask_loss_is_exact_in_noise_for_fixed_masks(x64):
  X = jax.random.normal(jax.random.PRNGKey(5), (4, 3))
  W1 = jax.random.normal(jax.random.PRNGKey(6), (3, 5))
  W2 = jax.random.normal(jax.random.PRNGKey(7), (3, 5))
  sigma, lam = 0.4, 0.01
  got = losses.frozen_mask_loss({"W1": W1, "W2": W2}, X, sigma, lam)
  # Independent: per-sample linear map A_i = W2 diag(m_i) W1ᵀ, Monte Carlo over ε with masks fixed.
  eps = jax.random.normal(jax.random.PRNGKey(8), (200000, 3))
  total, exact = 0.0, 0.0
  for x in X:
    A = W2 @ jnp.diag((x @ W1 > 0).astype(X.dtype)) @ W1.T
    err = jnp.sum(((x + sigma * eps) @ A.T - x) ** 2, axis=1)
    total += float(jnp.mean(err)) / len(X)
    exact += float(jnp.sum((A @ x - x) ** 2) + sigma**2 * jnp.sum(A**2)) / len(X)
  pen = lam * float(jnp.sum(W1**2) + jnp.sum(W2**2))
  np.testing.assert_allclose(float(got), exact + pen, rtol=1e-12)
  np.testing.assert_allclose(float(got), total + pen, rtol=1e-2)


@pytest.mark.slow
def test_stationarity_gradient_matches_finite_differences(x64):
  X = jax.random.normal(jax.random.PRNGKey(9), (6, 4))
  W = jax.random.normal(jax.random.PRNGKey(10), (4, 3))
  sigma, lam = 0.3, 0.02
  f = lambda W: losses.frozen_mask_loss({"W": W}, X, sigma, lam)
  V = jax.random.normal(jax.random.PRNGKey(11), W.shape)
  h = 1e-6  # small enough that no mask flips
  fd = (f(W + h * V) - f(W - h * V)) / (2 * h)
  g = jax.grad(f)(W)
  np.testing.assert_allclose(float(jnp.sum(g * V)), float(fd), rtol=1e-6)
  cert = certificates.stationarity({"W": W}, X, sigma, lam)
  np.testing.assert_allclose(float(cert.grad_norm), float(jnp.linalg.norm(g)), rtol=1e-12)
  fd2 = (f(W + 1e-4 * V) - 2 * f(W) + f(W - 1e-4 * V)) / 1e-8
  assert float(cert.min_hessian_eig) * float(jnp.sum(V**2)) - 1e-5 <= float(fd2)
  assert float(fd2) <= float(cert.max_hessian_eig) * float(jnp.sum(V**2)) + 1e-5


@pytest.mark.slow
def test_memorization_minimum_is_certified(x64):
  X = data.locally_sparse(jax.random.PRNGKey(0), n=5, d=8, norm=1.5)
  sigma = 0.2
  for lam, zero_modes in [(0.0, 8 * 2), (0.05, 0)]:
    W = minima.memorization(X, sigma, lam, 7)
    c = certificates.stationarity({"W": W}, X, sigma, lam)
    assert float(c.rel_grad_norm) <= 1e-6
    assert float(c.min_hessian_eig) >= -1e-8
    eigs = np.asarray(c.hessian_eigs)
    # Zero columns carry only the tied penalty: eigenvalue 4λ with multiplicity d(p − n).
    assert np.sum(np.abs(eigs - 4 * lam) < 1e-9) == 8 * 2
    assert np.sum(np.abs(eigs) < 1e-9) == zero_modes
    np.testing.assert_allclose(float(c.loss), float(theory.memorization_loss_with_decay(X, sigma, lam)), rtol=1e-12)
    assert 0 < float(c.mask_flip_bound) < 1


@pytest.mark.slow
def test_generalization_minimum_is_certified_with_rotation_zero_modes(x64):
  X, _labels, sigma, lam, ps, W = separable_instance()
  c = certificates.stationarity({"W": W}, X, sigma, lam)
  assert float(c.rel_grad_norm) <= 1e-6
  assert float(c.min_hessian_eig) >= -1e-8
  eigs = np.asarray(c.hessian_eigs)
  rotations = sum(p * (p - 1) // 2 for p in ps)  # O_k symmetry inside each block: 1 + 3 + 0
  assert np.sum(np.abs(eigs) < 1e-9) == rotations
  assert eigs[rotations] > 1e-5  # the rest is strictly positive


@pytest.mark.slow
def test_random_point_is_not_stationary(x64):
  X, _labels, sigma, lam, ps, _ = separable_instance()
  W = 0.3 * jax.random.normal(jax.random.PRNGKey(3), (10, sum(ps)))
  c = certificates.stationarity({"W": W}, X, sigma, lam)
  assert float(c.rel_grad_norm) > 1e-2
  c2 = certificates.stationarity({"W1": W, "W2": W}, X, sigma, lam)  # untied: twice the parameters
  assert c2.hessian_eigs.shape == (2 * W.size,)
  with pytest.raises(ValueError, match="sigma"):
    certificates.stationarity({"W": W}, X, -1.0, lam)


@pytest.mark.slow
def test_certify_batch_equals_one_at_a_time(x64):
  X, labels, sigma, lam, ps, W = separable_instance()
  Xs = jnp.stack([X, 1.5 * X])
  Ws = jnp.stack([W, minima.generalization(1.5 * X, labels, sigma, lam, ps)])
  batch = certificates.certify_batch({"W": Ws}, Xs, jnp.array([sigma, sigma]), jnp.array([lam, lam]))
  for b in range(2):
    one = certificates.stationarity({"W": Ws[b]}, Xs[b], sigma, lam)
    for name in ("grad_norm", "rel_grad_norm", "loss", "mask_flip_bound"):
      np.testing.assert_allclose(float(getattr(batch, name)[b]), float(getattr(one, name)), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.asarray(batch.hessian_eigs[b]), np.asarray(one.hessian_eigs), atol=1e-10)
