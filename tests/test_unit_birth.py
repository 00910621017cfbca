"""relu_dae.unit_birth: the second-order test for a zero hidden unit of the padded W_mem.

Every test compares the module with an independent computation: a brute-force Monte Carlo of
the frozen network, the real network through ``losses.dae_loss``, the analytic optimum of g at
λ = 0, or a dense random search.
"""

import numpy as np
import pytest

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm

import relu_dae as rd
from relu_dae import unit_birth as ub

KEY = jax.random.PRNGKey(1)


def _sep():
  """Three samples on a regular simplex (pairwise cosine −1/2), ‖x_i‖ = 2, in d = 6: well separated."""
  return np.asarray(rd.data.locally_sparse(jax.random.PRNGKey(0), n=3, d=6, norm=2.0), np.float64)


def _independent():
  """Four samples with pairwise cosine −0.2 and unequal norms in d = 8 (so c = σ·1 is feasible)."""
  X = np.asarray(rd.data.locally_sparse(jax.random.PRNGKey(3), n=4, d=8, beta=-0.2), np.float64)
  return X * np.array([1.5, 2.0, 2.5, 3.0])[:, None]


def _brief_form(U, X, sigma, lam):
  """The first line of the closed form, written from Eq. (9)'s t_i (numpy, independent of the module)."""
  n, a = X.shape[0], np.sum(X**2, axis=1)
  t = (a - n * lam) / (a + sigma**2)
  U = U / np.linalg.norm(U, axis=-1, keepdims=True)
  c = U @ X.T
  Phi, phi = norm.cdf(c / sigma), norm.pdf(c / sigma)
  return np.mean(c * ((t - 1) * (c * Phi + sigma * phi) + t * sigma**2 * c * Phi / a), axis=-1)


def _frozen_mc(U, X, sigma, lam, key, num_draws):
  """Brute-force g with the exact frozen network f(y_i) = t_i x_i x_iᵀ y_i / a_i: mean and standard error."""
  n, d = X.shape
  a = np.sum(X**2, axis=1)
  t = (a - n * lam) / (a + sigma**2)
  U = U / np.linalg.norm(U, axis=-1, keepdims=True)
  Y = X + sigma * np.asarray(jax.random.normal(key, (num_draws, n, d), jnp.float64))
  F = (t / a)[:, None] * X * np.sum(X * Y, axis=-1, keepdims=True)
  G = np.mean(((F - X) @ U.T) * np.maximum(Y @ U.T, 0.0), axis=1)  # (K, m)
  return G.mean(0), G.std(0, ddof=1) / np.sqrt(num_draws)


def _random_search(X, sigma, lam, key, m=200_000):
  U = np.asarray(jax.random.normal(key, (m, X.shape[1]), jnp.float64))
  return float(np.min(np.asarray(ub.coefficient(U, X, sigma, lam))))


def _padded(X, sigma, lam, u=None, eps=0.0):
  """W_mem with one zero column, that column set to eps·u."""
  W = rd.minima.memorization(X, sigma, lam, X.shape[0] + 1)
  return {"W": W if u is None else W.at[:, -1].set(eps * u / jnp.linalg.norm(u))}


@pytest.mark.slow
def test_closed_form_matches_brute_force_frozen_monte_carlo(x64):
  X = _sep()
  U = np.concatenate([np.asarray(jax.random.normal(KEY, (4, 6), jnp.float64)),
                      np.asarray(ub.worst_direction(X, 0.5, 0.0, KEY).u)[None]])
  for sigma, lam in ((0.5, 0.0), (0.2, 0.4)):
    g = np.asarray(ub.coefficient(U, X, sigma, lam))
    np.testing.assert_allclose(g, _brief_form(U, X, sigma, lam), rtol=1e-10, atol=1e-15)
    mean, se = _frozen_mc(U, X, sigma, lam, jax.random.PRNGKey(7), 200_000)
    assert np.all(np.abs(mean - g) < 4.5 * se), (sigma, lam, g, mean, se)
  # the λ = 0 reduction −(σ³/n) Σ c_i φ(c_i/σ) / (a_i + σ²)
  c, a, s = U[0] @ X.T / np.linalg.norm(U[0]), np.sum(X**2, 1), 0.3
  np.testing.assert_allclose(float(ub.coefficient(U[0], X, s, 0.0)),
                             -s**3 / 3 * np.sum(c * norm.pdf(c / s) / (a + s**2)), rtol=1e-12)


@pytest.mark.slow
def test_coefficient_normalizes_and_batches(x64):
  X = _sep()
  U = np.asarray(jax.random.normal(KEY, (3, 6), jnp.float64))
  batch = np.asarray(ub.coefficient(U, X, 0.2, 0.1))
  singles = [float(ub.coefficient(3.0 * u, X, 0.2, 0.1)) for u in U]
  np.testing.assert_allclose(batch, singles, rtol=1e-12)


@pytest.mark.slow
def test_real_network_monte_carlo_matches_closed_form_on_separated_data(x64):
  X, sigma = _sep(), 0.2  # stored unit j fires on y_i only when a N(0,1) exceeds 5
  for lam in (0.0, 0.2):
    U = np.concatenate([np.asarray(ub.worst_direction(X, sigma, lam, KEY).u)[None],
                        np.asarray(jax.random.normal(KEY, (3, 6), jnp.float64))])
    g = np.asarray(ub.coefficient(U, X, sigma, lam))
    est = ub.coefficient_mc(_padded(X, sigma, lam), X, sigma, U, jax.random.PRNGKey(5), 50_000)
    assert np.all(np.abs(np.asarray(est.mean) - g) <= 4 * np.asarray(est.stderr) + 1e-9 * np.max(np.abs(g))), (g, est)
    plain = ub.coefficient_mc(_padded(X, sigma, lam), X, sigma, U, jax.random.PRNGKey(6), 50_000,
                              control_variate=False)
    assert np.all(np.abs(np.asarray(plain.mean) - g) < 4 * np.asarray(plain.stderr)), (g, plain)
    assert np.all(np.asarray(est.stderr) < 1e-2 * np.asarray(plain.stderr))  # what the control variate buys


@pytest.mark.slow
@pytest.mark.parametrize("which", ["W_mem", "random"])
def test_finite_difference_of_the_eq6_loss(x64, which):
  """[L(εu) − L(0)]/ε² of losses.dae_loss (common noise) is 2ĝ + 2λ + ε²q̂, and ≈ 2g + 2λ."""
  X, sigma, lam, eps, K = _sep(), 0.2, 0.2, 1e-3, 50_000
  u = jnp.asarray(jax.random.normal(jax.random.PRNGKey(2), (6,), jnp.float64))
  u = u / jnp.linalg.norm(u)
  if which == "W_mem":
    base = _padded(X, sigma, lam)
  else:  # any tied params: a random W with one zero column
    base = {"W": jnp.asarray(rd.model.init(KEY, 6, 4)["W"], jnp.float64).at[:, -1].set(0.0)}
  grown = {"W": base["W"].at[:, -1].set(eps * u)}
  key = jax.random.PRNGKey(9)
  fd = float(rd.losses.dae_loss(grown, X, key, sigma, lam, num_noise=K)
             - rd.losses.dae_loss(base, X, key, sigma, lam, num_noise=K)) / eps**2
  plain = ub.coefficient_mc(base, X, sigma, u, key, K, control_variate=False)
  q_bound = 2 * (float(np.max((X @ np.asarray(u)) ** 2)) + sigma**2)  # 2 max_i E(uᵀy_i)² ≥ 2q
  gap = fd - (2 * float(plain.mean) + 2 * lam)  # = ε² q̂ exactly
  assert -1e-9 <= gap <= eps**2 * q_bound, gap
  est = ub.coefficient_mc(base, X, sigma, u, jax.random.PRNGKey(10), K)
  assert abs(fd - (2 * float(est.mean) + 2 * lam)) < 8 * float(plain.stderr) + eps**2 * q_bound
  if which == "W_mem":
    assert abs(fd - (2 * float(ub.coefficient(u, X, sigma, lam)) + 2 * lam)) < 8 * float(plain.stderr)


@pytest.mark.slow
def test_worst_direction_at_zero_decay_is_the_analytic_optimum(x64):
  """With c = σ·1 feasible every term c φ(c/σ) is at its maximum: min g = −(σ⁴ φ(1)/n) Σ 1/(a_i + σ²)."""
  X, sigma = _independent(), 0.2
  assert np.linalg.norm(np.linalg.pinv(X) @ (sigma * np.ones(4))) < 1  # c = σ·1 on the unit sphere
  a = np.sum(X**2, 1)
  w = ub.worst_direction(X, sigma, 0.0, KEY)
  np.testing.assert_allclose(float(w.g), -sigma**4 * norm.pdf(1.0) / 4 * np.sum(1 / (a + sigma**2)), rtol=1e-6)
  np.testing.assert_allclose(np.asarray(X @ w.u), sigma, rtol=1e-3)
  np.testing.assert_allclose(float(jnp.linalg.norm(w.u)), 1.0, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("data", ["sep", "independent"])
def test_worst_direction_beats_a_dense_random_search(x64, data):
  X = _sep() if data == "sep" else _independent()
  for sigma, lam in ((0.3, 0.0), (0.3, 2e-4), (0.2, 5e-5)):
    w = ub.worst_direction(X, sigma, lam, KEY)
    assert float(w.g) <= _random_search(X, sigma, lam, jax.random.PRNGKey(4)) + 1e-12
    np.testing.assert_allclose(float(ub.coefficient(w.u, X, sigma, lam)), float(w.g), rtol=1e-12)


def test_threshold_separates_passing_from_failing(x64):
  X, sigma = _sep(), 0.2
  lam_star = ub.threshold(X, sigma, KEY)
  assert 0 < lam_star < 4.0 / 3
  assert ub.passes(X, sigma, lam_star * 1.01, KEY)
  assert not ub.passes(X, sigma, lam_star * 0.99, KEY)
  below = ub.curvature(X, sigma, lam_star * 0.99, KEY)  # a direction the closed form confirms
  assert 2 * float(ub.coefficient(below.u, X, sigma, lam_star * 0.99)) + 2 * lam_star * 0.99 < 0
  above = lam_star * 1.01  # no random direction fails above λ*
  assert 2 * _random_search(X, sigma, above, jax.random.PRNGKey(8)) + 2 * above >= 0


@pytest.mark.slow
def test_padded_memorization_is_a_saddle_at_zero_decay(x64):
  """σ = 0.3, λ = 0 (the reviewer's case): the worst new unit lowers the Monte-Carlo Eq. (6) loss."""
  X, sigma, lam = _sep(), 0.3, 0.0
  assert not ub.passes(X, sigma, lam, KEY)
  assert ub.passes(X, sigma, lam, KEY, p=X.shape[0])  # p = n: no zero column to grow
  cur = ub.curvature(X, sigma, lam, KEY)
  assert float(cur.value) < 0
  c = np.asarray(X @ cur.u)
  q = np.mean((c**2 + sigma**2) * norm.cdf(c / sigma) + c * sigma * norm.pdf(c / sigma))  # E[uᵀy]₊²
  eps = np.sqrt(-float(cur.value) / (2 * q))  # the best ε for the closed form
  base, grown = _padded(X, sigma, lam), _padded(X, sigma, lam, cur.u, eps)
  drops = [float(rd.losses.dae_loss(grown, X, k, sigma, lam, num_noise=20_000)
                 - rd.losses.dae_loss(base, X, k, sigma, lam, num_noise=20_000))
           for k in jax.random.split(jax.random.PRNGKey(11), 12)]
  mean, se = np.mean(drops), np.std(drops, ddof=1) / np.sqrt(len(drops))
  assert mean + 4 * se < 0, (mean, se)
  np.testing.assert_allclose(mean, -float(cur.value) ** 2 / (4 * q), rtol=0.5)


@pytest.mark.slow
def test_threshold_holds_against_a_large_search(x64):
  """Just above λ* of a margin_check-like instance (cosine −0.13, unequal norms) 512 more starts find no saddle."""
  X = np.asarray(rd.data.simplex_means(4, 16, beta=-0.13, key=jax.random.PRNGKey(4)), np.float64)
  X = X * np.array([2.2, 1.8, 1.4, 2.6])[:, None]
  sigma = 0.14
  lam_star = ub.threshold(X, sigma, KEY)
  above = 1.001 * lam_star  # at λ* itself the margin is 0 up to rounding
  big = ub.curvature(X, sigma, above, jax.random.PRNGKey(12), starts=512, steps=600)
  assert float(big.value) >= -1024 * np.finfo(np.float64).eps * above
  assert not ub.passes(X, sigma, 0.97 * lam_star, KEY)
