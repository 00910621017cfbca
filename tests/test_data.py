"""data: Def. 3.1 against brute force; generators achieve what they promise."""

import itertools

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from relu_dae import data


def _separability_brute_force(X, labels):
  X, labels = np.asarray(X, float), np.asarray(labels)
  ids = sorted(set(labels.tolist()))
  means = {k: sum(X[i] for i in range(len(X)) if labels[i] == k) / np.sum(labels == k) for k in ids}
  alpha = 0.0
  for i in range(len(X)):
    mu = means[labels[i]]
    alpha = max(alpha, np.sqrt(np.sum((X[i] - mu) ** 2)) / np.sqrt(np.sum(mu**2)))
  beta = -np.inf
  for k in ids:
    for l in ids:
      if k != l:
        c = np.dot(means[k], means[l]) / np.sqrt(np.dot(means[k], means[k]) * np.dot(means[l], means[l]))
        beta = max(beta, c)
  return alpha, beta


def test_separability_matches_double_loop():
  rng = np.random.default_rng(0)
  X = rng.normal(size=(30, 7)) + 0.5
  labels = rng.integers(0, 4, size=30)
  np.testing.assert_allclose(data.separability(X, labels), _separability_brute_force(X, labels), rtol=1e-12)


@pytest.mark.parametrize("K,counts,alpha,beta,rank", [
    (3, 20, 0.3, -0.4, None),
    (4, [5, 50, 10, 2], [0.1, 0.5, 0.0, 0.2], -1 / 3, 2),
    (2, 8, 0.05, 0.2, 1),  # β ≥ 0 is allowed (outside the theorems, for studying their limits)
])
@pytest.mark.slow
def test_separable_mixture_achieves_requested_alpha_beta(K, counts, alpha, beta, rank):
  X, labels, spec = data.separable_mixture(
      jax.random.PRNGKey(K), d=16, K=K, n_per_cluster=counts, alpha=alpha, beta=beta, rank=rank, norm=2.0)
  a, b = _separability_brute_force(X, labels)
  assert abs(a - np.max(alpha)) < 1e-5 and abs(b - beta) < 1e-5
  assert abs(spec.alpha - a) < 1e-5 and abs(spec.beta - b) < 1e-5
  assert spec.counts == tuple(np.broadcast_to(counts, (K,)))
  np.testing.assert_allclose(np.linalg.norm(spec.mixture.means, axis=1), 2.0, rtol=1e-5)
  for k, a_k in enumerate(np.broadcast_to(alpha, (K,))):
    Xk = np.asarray(X)[np.asarray(labels) == k]
    if a_k == 0:  # α_k = 0: exact duplicates (Cor. 3.4's rank-1 clusters)
      assert np.all(Xk == Xk[0])
    elif rank is not None and len(Xk) > rank:  # deviations live in a rank-`rank` subspace
      assert np.linalg.matrix_rank(Xk - Xk.mean(0), tol=1e-4) == rank


@pytest.mark.slow
def test_simplex_means_have_equal_cosines():
  for K, beta in [(2, -1.0), (5, -0.25), (5, -0.1), (3, 0.5)]:
    mu = np.asarray(data.simplex_means(K, 9, beta=beta, norm=3.0, key=jax.random.PRNGKey(K)))
    cos = mu @ mu.T / 9.0
    np.testing.assert_allclose(cos[~np.eye(K, dtype=bool)], beta, atol=1e-5)
    np.testing.assert_allclose(np.diag(cos), 1.0, atol=1e-5)


def test_locally_sparse_is_pairwise_negative():
  X = data.locally_sparse(jax.random.PRNGKey(0), n=6, d=10)
  assert data.separability(X, np.arange(6)) == pytest.approx((0.0, -0.2), abs=1e-5)


@pytest.mark.slow
def test_sample_mixture_moments_monte_carlo():
  """Empirical weights, means and covariances of 60k draws within stated tolerances."""
  means = jnp.array([[2.0, 0.0, 0.0], [0.0, -1.0, 1.0]])
  factors = jnp.array([[[0.5, 0.0], [0.2, 0.3], [0.0, 0.1]], [[0.1, 0.0], [0.0, 0.4], [0.3, 0.0]]])
  spec = data.mixture_spec(means, factors, jnp.array([0.3, 0.7]))
  X, labels = data.sample_mixture(jax.random.PRNGKey(1), spec, 60_000)
  X, labels = np.asarray(X), np.asarray(labels)
  assert abs(np.mean(labels == 0) - 0.3) < 0.01  # 5 standard errors of a Bernoulli mean
  for k in range(2):
    np.testing.assert_allclose(X[labels == k].mean(0), means[k], atol=0.02)
    np.testing.assert_allclose(np.cov(X[labels == k].T), spec.covs[k], atol=0.01)
  S = spec.second_moments
  np.testing.assert_allclose(S[1], np.outer(means[1], means[1]) + np.asarray(spec.covs[1]), rtol=1e-6)


def test_sample_mixture_counts_exact():
  spec = data.mixture_spec(jnp.eye(3), None, None)
  X, labels = data.sample_mixture_counts(jax.random.PRNGKey(0), spec, [2, 1, 4])
  assert np.bincount(np.asarray(labels)).tolist() == [2, 1, 4]
  np.testing.assert_allclose(X, np.eye(3)[np.asarray(labels)])  # zero covariance: the means


def test_digits_loader_and_subset():
  X, y = data.load_digits()
  assert X.shape == (1797, 64) and X.min() == -1.0 and X.max() == 1.0 and set(y) == set(range(10))
  Xc, _ = data.load_digits(center=True)
  np.testing.assert_allclose(Xc.mean(0), 0.0, atol=1e-5)
  # Subset helper: reported β₁ is the subset's true max cosine; for m = 2 it is the global optimum.
  sub = Xc[:40]
  idx, b = data.negatively_correlated_subset(sub, 4)
  unit = sub[idx] / np.linalg.norm(sub[idx], axis=1, keepdims=True)
  cos = unit @ unit.T
  assert len(set(idx.tolist())) == 4 and b == pytest.approx(cos[~np.eye(4, dtype=bool)].max(), abs=1e-6)
  _, b2 = data.negatively_correlated_subset(sub, 2)
  un = sub / np.linalg.norm(sub, axis=1, keepdims=True)
  best = min(un[i] @ un[j] for i, j in itertools.combinations(range(40), 2))
  assert b2 == pytest.approx(best, abs=1e-6)
