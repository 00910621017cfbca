"""Tests of relu_dae.theory against independent computations (float64 where closed forms are compared)."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import certificates, data, losses, margins, mask_flips, minima, model, moment_matching, theory


def test_old_names_are_aliases_and_moved_names_are_re_exported():
  aliases = dict(cor32_loss="memorization_loss_with_decay", cor33_limit="generalization_gram_limit",
                 cor33_test_loss="generalization_test_loss", Cor33TestLoss="GeneralizationTestLoss",
                 lemma_d1_min="linear_ae_min_loss")
  for old, new in aliases.items():
    assert getattr(theory, old) is getattr(theory, new) and old in theory.__all__ and new in theory.__all__
  for module in (margins, mask_flips, certificates, moment_matching):
    for name in module.__all__:
      assert getattr(theory, name) is getattr(module, name), name
      assert name in theory.__all__, name
  assert all(hasattr(theory, name) for name in theory.__all__)


@pytest.mark.slow
def test_memorization_loss_with_decay(x64):
  X = data.locally_sparse(jax.random.PRNGKey(12), n=4, d=6, norm=1.3)
  f = theory.memorization_loss_with_decay
  np.testing.assert_allclose(float(f(X, 0.3)), float(minima.memorization_loss(X, 0.3)), rtol=1e-12)
  lam = 0.05
  W = minima.memorization(X, 0.3, lam, 4)
  np.testing.assert_allclose(float(f(X, 0.3, lam)), float(losses.frozen_mask_loss({"W": W}, X, 0.3, lam)), rtol=1e-12)
  # The printed formula, in numpy: a_i = ‖x_i‖², r_i² = (a_i − nλ)/(a_i² + σ²a_i).
  x = np.asarray(X)
  a = np.sum(x**2, 1)
  r2 = (a - 4 * lam) / (a**2 + 0.3**2 * a)
  hand = np.mean((r2 * a - 1) ** 2 * a + 0.3**2 * r2**2 * a**2) + 2 * lam * np.sum(r2 * a)
  np.testing.assert_allclose(float(f(X, 0.3, lam)), hand, rtol=1e-12)
  with pytest.raises(ValueError, match="lam"):
    f(X, 0.3, 1.0)


def test_generalization_gram_limit_matches_the_matrix_formula(x64):
  A = jax.random.normal(jax.random.PRNGKey(13), (6, 6))
  S = A @ A.T / 6 + 0.1 * jnp.eye(6)
  lam, rho, sigma = 0.02, 0.25, 0.5
  # The printed formula in numpy (the previous implementation): the top-rank eigen-part of
  # (S − λ/ρ I)(S + σ²I)^{-1}, i.e. U Uᵀ F U Uᵀ with U the top-rank eigenvectors of S.
  s = np.asarray(S)
  full = (s - lam / rho * np.eye(6)) @ np.linalg.inv(s + sigma**2 * np.eye(6))
  U = np.linalg.eigh(s)[1][:, ::-1]
  for rank in (1, 2, 6):
    got = theory.generalization_gram_limit(S, lam, rho, sigma, rank)
    Ur = U[:, :rank]
    np.testing.assert_allclose(got, Ur @ (Ur.T @ full @ Ur) @ Ur.T, atol=1e-12)
  np.testing.assert_allclose(theory.generalization_gram_limit(S, lam, rho, sigma, 6), full, atol=1e-12)
  with pytest.raises(ValueError, match="rho"):
    theory.generalization_gram_limit(S, lam, 0.0, sigma, 2)
  with pytest.raises(ValueError, match="rank"):
    theory.generalization_gram_limit(S, lam, rho, sigma, 7)


@pytest.mark.slow
def test_generalization_test_loss_bias_and_full_risk(x64):
  key = jax.random.PRNGKey(14)
  d, sigma = 5, 0.4
  mu = jnp.array([1.0, 0.5, 0.0, 0.0, 0.0])
  F = jax.random.normal(key, (d, d)) * 0.3
  S = jnp.outer(mu, mu) + F @ F.T
  s = np.sort(np.linalg.eigvalsh(np.asarray(S)))[::-1]
  r = theory.generalization_test_loss(S, sigma, 2)
  printed = np.sum(s[:2] * sigma**4 / (s[:2] + sigma**2) ** 2) + np.sum(s[2:])
  full = np.sum(sigma**2 * s[:2] / (s[:2] + sigma**2)) + np.sum(s[2:])
  np.testing.assert_allclose(float(r.bias_only), printed, rtol=1e-12)
  np.testing.assert_allclose(float(r.wiener_risk), full, rtol=1e-12)
  # Full risk = E‖D(x + σε) − x‖² for x ~ N(μ, FFᵀ): exact trace form and Monte Carlo.
  D = theory.generalization_gram_limit(S, 0.0, 1.0, sigma, 2)
  I = jnp.eye(d)
  exact = jnp.trace((D - I) @ S @ (D - I).T) + sigma**2 * jnp.sum(D**2)
  np.testing.assert_allclose(float(r.wiener_risk), float(exact), rtol=1e-12)
  k1, k2 = jax.random.split(key)
  x = mu + jax.random.normal(k1, (200000, d)) @ F.T
  y = x + sigma * jax.random.normal(k2, x.shape)
  np.testing.assert_allclose(float(jnp.mean(jnp.sum((y @ D.T - x) ** 2, 1))), full, rtol=2e-2)
  # Mixture: ρ-weighted sum of the modes.
  two = theory.generalization_test_loss(jnp.stack([S, 2 * S]), sigma, [2, 1], rho=jnp.array([0.25, 0.75]))
  one_b = theory.generalization_test_loss(2 * S, sigma, 1)
  np.testing.assert_allclose(float(two.wiener_risk), 0.25 * full + 0.75 * float(one_b.wiener_risk), rtol=1e-12)
  # λ > 0: the gains g_j = (s_j − λ/ρ)/(s_j + σ²) of the previous eigenvalue implementation, in numpy.
  lam, rho = 0.05, jnp.array([0.25, 0.75])
  got = theory.generalization_test_loss(jnp.stack([S, 2 * S]), sigma, [2, 3], lam=lam, rho=rho)
  bias, risk = [], []
  for k, (Sk, rank) in enumerate([(S, 2), (2 * S, 3)]):
    sk = np.sort(np.linalg.eigvalsh(np.asarray(Sk)))[::-1]
    g = np.where(np.arange(d) < rank, (sk - lam / float(rho[k])) / (sk + sigma**2), 0.0)
    bias.append(np.sum((1 - g) ** 2 * sk))
    risk.append(bias[-1] + sigma**2 * np.sum(g**2))
  np.testing.assert_allclose(got.bias_per_mode, bias, rtol=1e-12)
  np.testing.assert_allclose(got.risk_per_mode, risk, rtol=1e-12)
  np.testing.assert_allclose(float(got.bias_only), 0.25 * bias[0] + 0.75 * bias[1], rtol=1e-12)
  np.testing.assert_allclose(float(got.wiener_risk), 0.25 * risk[0] + 0.75 * risk[1], rtol=1e-12)
  with pytest.raises(ValueError, match="rho"):
    theory.generalization_test_loss(jnp.stack([S, S]), sigma, 1, rho=jnp.array([1.0]))


@pytest.mark.slow
def test_linear_ae_min_loss_matches_constructed_point_and_gradient_descent(x64):
  X = jax.random.normal(jax.random.PRNGKey(15), (7, 4)) * jnp.array([2.0, 1.0, 0.5, 0.2])
  sigma, lam, p = 0.3, 0.01, 2
  value = float(theory.linear_ae_min_loss(X, sigma, lam, p))
  Wx = minima.cluster_block(X, X.shape[0], sigma, lam, p)
  np.testing.assert_allclose(float(losses.linear_ae_loss(Wx, Wx, X, sigma, lam)), value, rtol=1e-12)
  # Untied gradient descent from a random start reaches (and never beats) the value.
  f = lambda P: losses.linear_ae_loss(P[1], P[0], X, sigma, lam)
  P = (0.5 * jax.random.normal(jax.random.PRNGKey(16), (4, p)), 0.5 * jax.random.normal(jax.random.PRNGKey(17), (4, p)))
  step = jax.jit(lambda P: jax.tree_util.tree_map(lambda w, g: w - 0.02 * g, P, jax.grad(f)(P)))

  @jax.jit
  def run(P):
    return jax.lax.fori_loop(0, 20000, lambda _, P: step(P), P)

  final = float(f(run(P)))
  assert final >= value - 1e-12
  np.testing.assert_allclose(final, value, rtol=1e-8)


def test_residual_bound():
  assert float(theory.residual_bound(1.0, 1.0)) == pytest.approx(np.exp(-0.5))
  assert float(theory.residual_bound(2.0, 1.0, C=3.0, c=1.0)) == pytest.approx(3 * np.exp(-4.0))
  assert float(theory.residual_bound(1.0, 0.0)) == 0.0
  for kwargs, name in [(dict(gamma=-1.0, sigma=1.0), "gamma"), (dict(gamma=1.0, sigma=-1.0), "sigma"),
                       (dict(gamma=1.0, sigma=1.0, C=0.0), "C"), (dict(gamma=1.0, sigma=1.0, c=-1.0), "c")]:
    with pytest.raises(ValueError, match=name):
      theory.residual_bound(**kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("a,b,sigma,lam", [(1.0, 1.5, 0.5, 0.0), (2.0, 1.2, 0.8, 0.05), (1.0, 1.0, 0.3, 0.1)])
def test_two_sample_residual_is_the_minimizer_of_eq6_by_quadrature(x64, a, b, sigma, lam):
  """Eq. (6) in d = 1 with the real network (model.apply), integrated by Gauss–Legendre on each side of
  the kink (numpy) and minimized by scipy's Nelder–Mead."""
  import scipy.optimize
  from scipy.stats import norm as sp_norm
  X = np.array([[a], [-b]])
  nodes, weights = np.polynomial.legendre.leggauss(200)
  eps, w = [], []
  for m in X[:, 0]:  # ε on [−12, −m/σ] and [−m/σ, 12]: the integrand is smooth on each piece
    k = -m / sigma
    for lo, hi in ((-12.0, k), (k, 12.0)):
      eps.append(0.5 * (hi - lo) * nodes + 0.5 * (hi + lo))
      w.append(0.5 * (hi - lo) * weights * sp_norm.pdf(eps[-1]))
  eps, w = np.stack(eps), np.stack(w)  # (4, 200): two pieces per sample
  means = np.repeat(X[:, 0], 2)[:, None]

  def loss(s):
    W = jnp.array([[np.sqrt(max(s[0], 0.0)), -np.sqrt(max(s[1], 0.0))]])
    f = np.asarray(model.apply({"W": W}, jnp.asarray((means + sigma * eps)[..., None])))[..., 0]
    return np.sum(w * (f - means) ** 2) / 2 + 2 * lam * (max(s[0], 0.0) + max(s[1], 0.0))  # tied: λ(‖W‖²+‖W‖²)

  r = theory.two_sample_residual(a, b, sigma, lam)
  best = scipy.optimize.minimize(loss, np.asarray(r.s_star), method="Nelder-Mead",
                                 options=dict(xatol=1e-10, fatol=1e-14, maxiter=4000)).x
  np.testing.assert_allclose(np.asarray(r.s), best, atol=2e-6)
  assert loss(np.asarray(r.s)) <= loss(np.asarray(r.s_star))
  # W_mem of Eq. (9) for the same data: the frozen-mask column norms
  W_mem = np.asarray(minima.memorization(jnp.asarray(X), sigma, lam, 2))
  np.testing.assert_allclose(np.sort(np.sum(W_mem**2, axis=0)), np.sort(np.asarray(r.s_star)), rtol=1e-10)
  Wh = np.array([[np.sqrt(r.s[0]), -np.sqrt(r.s[1])]])
  Ws = np.array([[np.sqrt(r.s_star[0]), -np.sqrt(r.s_star[1])]])
  np.testing.assert_allclose(r.residual, np.sum((Wh - Ws) ** 2) / np.sum(Ws**2), rtol=1e-6, atol=1e-16)


@pytest.mark.slow
def test_two_sample_residual_local_slope_tends_to_one(x64):
  x = np.geomspace(2.0, 400.0, 4000)
  R = np.asarray(theory.two_sample_residual(1.0, 1.5, 1.0 / np.sqrt(x)).residual)
  slope = -np.gradient(np.log(R), x)
  assert np.all(np.diff(slope) < 0)  # it falls monotonically on x >= 2 ...
  assert 1.0 < slope[-1] < 1.02 and slope[0] > 1.5  # ... from above 1.5 toward c = 1
