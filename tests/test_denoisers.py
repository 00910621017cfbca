"""denoisers: Eq. (3) against brute force, f_gt against Monte Carlo, Wiener against autodiff."""

import numpy as np
import pytest
import jax
import jax.numpy as jnp

from relu_dae import data
from relu_dae import denoisers


@pytest.mark.slow
def test_empirical_matches_explicit_gaussian_densities(x64):
  rng = np.random.default_rng(0)
  X, Y, sigma = rng.normal(size=(7, 3)), rng.normal(size=(4, 3)), 0.8
  dens = np.array([[np.exp(-np.sum((y - x) ** 2) / (2 * sigma**2)) for x in X] for y in Y])
  expected = dens @ X / dens.sum(1, keepdims=True)
  np.testing.assert_allclose(denoisers.empirical(jnp.array(Y), jnp.array(X), sigma), expected, rtol=1e-10)


def test_empirical_small_sigma_is_nearest_neighbour():
  rng = np.random.default_rng(1)
  X = rng.normal(size=(20, 5)).astype(np.float32)
  Y = X[rng.integers(0, 20, 50)] + 0.3 * rng.normal(size=(50, 5)).astype(np.float32)
  nn = X[np.argmin(((Y[:, None] - X[None]) ** 2).sum(-1), axis=1)]
  out = denoisers.empirical(jnp.array(Y), jnp.array(X), 1e-4)  # exp(-1e8 ‖·‖²) underflows without LSE
  assert np.all(np.isfinite(out))
  np.testing.assert_allclose(out, nn, atol=1e-6)


@pytest.mark.slow
def test_gaussian_mixture_matches_monte_carlo_posterior_mean():
  """Self-normalized importance sampling from the prior, 400k draws; tolerance 0.02 (≈ 5 s.e.)."""
  means = np.array([[1.5, 0.0], [-1.0, 1.0]])
  A = np.array([[[0.6, 0.0], [0.3, 0.2]], [[0.2, 0.0], [0.0, 0.5]]])
  covs = np.einsum("kij,klj->kil", A, A)
  weights, sigma = np.array([0.4, 0.6]), 0.5
  rng = np.random.default_rng(2)
  lab = rng.choice(2, size=400_000, p=weights)
  xs = means[lab] + np.einsum("nij,nj->ni", A[lab], rng.normal(size=(400_000, 2)))
  for y in [np.array([0.2, 0.4]), np.array([1.0, -0.3])]:
    w = np.exp(-np.sum((xs - y) ** 2, 1) / (2 * sigma**2))
    mc = (w[:, None] * xs).sum(0) / w.sum()
    got = denoisers.gaussian_mixture(jnp.array(y, jnp.float32), jnp.array(means, jnp.float32),
                                     jnp.array(covs, jnp.float32), jnp.array(weights, jnp.float32), sigma)
    np.testing.assert_allclose(got, mc, atol=0.02)


@pytest.mark.slow
def test_single_component_mixture_is_wiener(x64):
  rng = np.random.default_rng(3)
  A = rng.normal(size=(4, 4))
  cov, y = A @ A.T, rng.normal(size=(5, 4))
  got = denoisers.gaussian_mixture(jnp.array(y), jnp.zeros((1, 4)), jnp.array(cov)[None], jnp.ones(1), 0.7)
  np.testing.assert_allclose(got, denoisers.wiener(jnp.array(y), jnp.array(cov), 0.7), rtol=1e-10)
  np.testing.assert_allclose(got, denoisers.gaussian_posterior_mean(jnp.array(y), jnp.zeros(4), jnp.array(cov), 0.7),
                             rtol=1e-10)


def test_wiener_is_the_stationary_linear_denoiser(x64):
  """D = S(S+σ²I)^{-1} zeroes the gradient of E‖D(x+σε) − x‖² = tr S − 2 tr DS + tr D(S+σ²I)Dᵀ."""
  rng = np.random.default_rng(4)
  B = rng.normal(size=(5, 5))
  S, sigma = jnp.array(B @ B.T), 0.6
  risk = lambda D: jnp.trace(S) - 2 * jnp.trace(D @ S) + jnp.trace(D @ (S + sigma**2 * jnp.eye(5)) @ D.T)
  D = denoisers.wiener_matrix(S, sigma)
  assert float(jnp.max(jnp.abs(jax.grad(risk)(D)))) < 1e-10
  np.testing.assert_allclose(D, np.linalg.solve((S + sigma**2 * np.eye(5)).T, np.asarray(S).T).T, rtol=1e-10)


def test_wiener_rank_truncation_and_shrink(x64):
  rng = np.random.default_rng(5)
  B = rng.normal(size=(6, 6))
  S = B @ B.T
  evals, evecs = np.linalg.eigh(S)
  top = evecs[:, -2:]
  gains = (evals[-2:] - 0.3) / (evals[-2:] + 0.25)
  expected = top @ np.diag(gains) @ top.T
  got = denoisers.wiener_matrix(jnp.array(S), 0.5, rank=2, shrink=0.3)
  np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_spectral_mixture_equals_cholesky_mixture(x64):
  X, _labels, spec = data.separable_mixture(jax.random.PRNGKey(4), d=6, K=3, n_per_cluster=5, alpha=0.4,
                                           beta=-0.4, rank=3)
  m = spec.mixture
  evals, evecs = jnp.linalg.eigh(m.covs)
  y = X + 0.3 * jax.random.normal(jax.random.PRNGKey(5), X.shape)
  for sigma in (0.1, 0.7):
    np.testing.assert_allclose(denoisers.gaussian_mixture_spectral(y, m.means, evals, evecs, m.weights, sigma),
                               denoisers.gaussian_mixture(y, m.means, m.covs, m.weights, sigma), rtol=1e-8, atol=1e-10)


@pytest.mark.slow
def test_weighted_empirical_equals_duplicating_rows():
  X = jax.random.normal(jax.random.PRNGKey(3), (4, 3))
  w = jnp.array([2.0, 0.0, 1.0, 3.0])
  y = jax.random.normal(jax.random.PRNGKey(4), (5, 3))
  dup = jnp.repeat(X, w.astype(int), axis=0)  # sample i repeated w_i times
  np.testing.assert_allclose(denoisers.empirical(y, X, 0.7, w), denoisers.empirical(y, dup, 0.7), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(denoisers.empirical(y, X, 0.7, jnp.ones(4)), denoisers.empirical(y, X, 0.7))
  assert denoisers.empirical(y, X, 0.7, w).shape == denoisers.empirical(y, X, 0.7).shape
