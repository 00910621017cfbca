"""Tests of relu_dae.theory against independent computations (float64 where closed forms are compared)."""

import functools

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import data, denoisers, losses, minima, model, theory


@functools.lru_cache(maxsize=None)
def _gen_instance():
  """Small separable mixture whose W_gen has a block-diagonal clean mask (γ_op > 0)."""
  X, labels, _ = data.separable_mixture(jax.random.PRNGKey(1), d=10, K=3, n_per_cluster=20, alpha=0.05,
                                        beta=-0.4, rank=3, decay=0.7, norm=2.0)
  W = minima.generalization(X, labels, 0.3, 1e-4, [2, 3, 1])
  return X, labels, 0.3, 1e-4, [2, 3, 1], W


# ----------------------------------------------------------------------------------- margin


def test_margin_hand_example_and_owner():
  X = jnp.array([[2.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [-0.5, -2.0]])
  labels = jnp.array([0, 0, 1, 1])
  W = jnp.array([[3.0, -1.0, 0.0], [0.0, 0.0, 0.0]])  # unit 2 is a zero column
  m = theory.margin(X, labels, W)
  np.testing.assert_array_equal(m.owner, [0, 1, -1])
  assert float(m.active_gap) == pytest.approx(0.5)  # unit 1 on sample 3: 0.5
  assert float(m.inactive_gap) == pytest.approx(0.5)  # unit 0 on sample 3: -(-0.5)
  assert np.isinf(float(m.per_unit[2]))
  # Forcing a wrong owner makes the margin negative.
  bad = theory.margin(X, labels, W, owner=[1, 1, 0])
  assert float(bad.gamma) < 0


def test_margin_memorization_equals_min_cosine_gap(x64):
  X = data.locally_sparse(jax.random.PRNGKey(0), n=5, d=8, norm=1.5)  # equal cosine -1/4
  W = minima.memorization(X, 0.2, 0.0, 7)
  m = theory.margin(X, np.arange(5), W)
  np.testing.assert_array_equal(m.owner, [0, 1, 2, 3, 4, -1, -1])
  assert float(m.active_gap) == pytest.approx(1.5)  # ‖x_i‖
  assert float(m.inactive_gap) == pytest.approx(1.5 * 0.25)  # −‖x‖ cos
  assert float(m.gamma) == pytest.approx(0.375)


def test_margin_of_generalization_minimum_and_paper_margin(x64):
  X, labels, sigma, lam, ps, W = _gen_instance()
  m = theory.margin(X, labels, W)
  np.testing.assert_array_equal(m.owner, np.repeat([0, 1, 2], ps))
  assert float(m.gamma) > 0
  # Positive γ_op ⇔ the clean mask is exactly block-diagonal.
  np.testing.assert_array_equal(np.asarray(X @ W > 0), np.repeat([0, 1, 2], ps)[None] == np.asarray(labels)[:, None])
  pm = theory.paper_margin(X, labels, ps, sigma=sigma, lam=lam)
  alpha, beta = data.separability(X, labels)
  assert pm.alpha == alpha and pm.beta == beta
  assert np.all(np.asarray(pm.c_proj) <= 1 + 1e-12) and np.all(np.asarray(pm.c_proj) > 0.99)
  assert 0 < float(pm.s_min) <= float(pm.s_max) <= 1
  # Formula, recomputed by hand.
  means = np.stack([np.asarray(X)[np.asarray(labels) == k].mean(0) for k in range(3)])
  inner = np.minimum(float(pm.s_min) * np.asarray(pm.c_proj) / np.sqrt(ps) - float(pm.s_max) * alpha,
                     float(pm.s_max) * abs(beta) / 2)
  np.testing.assert_allclose(float(pm.gamma), np.min(np.linalg.norm(means, axis=1) * inner), rtol=1e-12)


def test_margin_bad_inputs():
  X = jnp.ones((3, 2))
  with pytest.raises(ValueError, match="W"):
    theory.margin(X, jnp.zeros(3), jnp.ones((3, 2)))
  with pytest.raises(ValueError, match="labels"):
    theory.margin(X, jnp.zeros(2), jnp.ones((2, 2)))
  with pytest.raises(ValueError, match="owner"):
    theory.margin(X, jnp.zeros(3), jnp.ones((2, 2)), owner=[0, 5])
  with pytest.raises(ValueError, match="lam"):
    theory.paper_margin(jnp.array([[1.0, 0.0], [-1.0, 0.0]]), jnp.array([0, 1]), 1, lam=10.0)
  with pytest.raises(ValueError, match="beta < 0"):  # orthogonal means: β = 0
    theory.paper_margin(jnp.eye(2), jnp.array([0, 1]), 1)
  with pytest.raises(ValueError, match="sigma"):
    theory.paper_margin(jnp.array([[1.0, 0.0], [-1.0, 0.0]]), jnp.array([0, 1]), 1, sigma=-0.1)


# ----------------------------------------------------------------------------------- mask flips


def test_mask_flip_closed_form_matches_monte_carlo(x64):
  key = jax.random.PRNGKey(2)
  X = jax.random.normal(key, (6, 5))
  W = jax.random.normal(jax.random.PRNGKey(3), (5, 4)).at[:, 3].set(0.0)
  sigma, N = 0.7, 20000
  P = np.asarray(theory.mask_flip_probability(X, W, sigma))
  assert np.all(P[:, 3] == 0)
  mc = theory.mask_stability_mc(jax.random.PRNGKey(4), X, W, sigma, N)
  # Binomial tolerance: 5 standard errors plus one count.
  tol = 5 * np.sqrt(P * (1 - P) / N) + 1.0 / N
  assert np.all(np.abs(np.asarray(mc.per_unit) - P) <= tol)
  union = np.asarray(theory.mask_stability(X, W, sigma))
  any_flip = np.asarray(mc.any_flip)
  se = np.sqrt(any_flip * (1 - any_flip) / N) + 1.0 / N
  assert np.all(union >= any_flip - 5 * se)  # union bound ≥ exact any-flip probability
  assert np.all(any_flip >= P.max(axis=1) - 5 * se - 1e-12)  # ≥ every single unit's flip


def test_mask_flip_edge_cases():
  X = jnp.array([[1.0, 0.0]])
  W = jnp.array([[0.0, 1.0], [1.0, 0.0]])  # unit 0 on its hyperplane, unit 1 at distance 1
  P = theory.mask_flip_probability(X, W, 1.0)
  np.testing.assert_allclose(P, [[0.5, 0.15865525]], rtol=1e-6)
  assert float(theory.mask_stability(X, W, 0.0)[0]) == 0.0
  assert float(theory.mask_stability(X, jnp.ones((2, 5)) * jnp.array([[1.0], [0.0]]) * 1e-3 + jnp.array([[0.0], [1.0]]), 10.0)[0]) <= 1.0
  with pytest.raises(ValueError, match="sigma"):
    theory.mask_flip_probability(X, W, -1.0)
  with pytest.raises(ValueError, match="num_draws"):
    theory.mask_stability_mc(jax.random.PRNGKey(0), X, W, 1.0, 0)


# ----------------------------------------------------------------------------------- stationarity


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
  cert = theory.stationarity({"W": W}, X, sigma, lam)
  np.testing.assert_allclose(float(cert.grad_norm), float(jnp.linalg.norm(g)), rtol=1e-12)
  fd2 = (f(W + 1e-4 * V) - 2 * f(W) + f(W - 1e-4 * V)) / 1e-8
  assert float(cert.min_hessian_eig) * float(jnp.sum(V**2)) - 1e-5 <= float(fd2)
  assert float(fd2) <= float(cert.max_hessian_eig) * float(jnp.sum(V**2)) + 1e-5


def test_memorization_minimum_is_certified(x64):
  X = data.locally_sparse(jax.random.PRNGKey(0), n=5, d=8, norm=1.5)
  sigma = 0.2
  for lam, zero_modes in [(0.0, 8 * 2), (0.05, 0)]:
    W = minima.memorization(X, sigma, lam, 7)
    c = theory.stationarity({"W": W}, X, sigma, lam)
    assert float(c.rel_grad_norm) <= 1e-6
    assert float(c.min_hessian_eig) >= -1e-8
    eigs = np.asarray(c.hessian_eigs)
    # Zero columns carry only the tied penalty: eigenvalue 4λ with multiplicity d(p − n).
    assert np.sum(np.abs(eigs - 4 * lam) < 1e-9) == 8 * 2
    assert np.sum(np.abs(eigs) < 1e-9) == zero_modes
    np.testing.assert_allclose(float(c.loss), float(theory.cor32_loss(X, sigma, lam)), rtol=1e-12)
    assert 0 < float(c.mask_flip_bound) < 1


def test_generalization_minimum_is_certified_with_rotation_zero_modes(x64):
  X, labels, sigma, lam, ps, W = _gen_instance()
  c = theory.stationarity({"W": W}, X, sigma, lam)
  assert float(c.rel_grad_norm) <= 1e-6
  assert float(c.min_hessian_eig) >= -1e-8
  eigs = np.asarray(c.hessian_eigs)
  rotations = sum(p * (p - 1) // 2 for p in ps)  # O_k symmetry inside each block: 1 + 3 + 0
  assert np.sum(np.abs(eigs) < 1e-9) == rotations
  assert eigs[rotations] > 1e-5  # the rest is strictly positive


def test_random_point_is_not_stationary(x64):
  X, labels, sigma, lam, ps, _ = _gen_instance()
  W = 0.3 * jax.random.normal(jax.random.PRNGKey(3), (10, sum(ps)))
  c = theory.stationarity({"W": W}, X, sigma, lam)
  assert float(c.rel_grad_norm) > 1e-2
  c2 = theory.stationarity({"W1": W, "W2": W}, X, sigma, lam)  # untied: twice the parameters
  assert c2.hessian_eigs.shape == (2 * W.size,)
  with pytest.raises(ValueError, match="sigma"):
    theory.stationarity({"W": W}, X, -1.0, lam)


# ----------------------------------------------------------------------------------- closed forms


def test_cor32_loss(x64):
  X = data.locally_sparse(jax.random.PRNGKey(12), n=4, d=6, norm=1.3)
  np.testing.assert_allclose(float(theory.cor32_loss(X, 0.3)), float(minima.memorization_loss(X, 0.3)), rtol=1e-12)
  lam = 0.05
  W = minima.memorization(X, 0.3, lam, 4)
  np.testing.assert_allclose(float(theory.cor32_loss(X, 0.3, lam)),
                             float(losses.frozen_mask_loss({"W": W}, X, 0.3, lam)), rtol=1e-12)
  with pytest.raises(ValueError, match="lam"):
    theory.cor32_loss(X, 0.3, 1.0)


def test_cor33_limit_matches_wiener_and_matrix_formula(x64):
  A = jax.random.normal(jax.random.PRNGKey(13), (6, 6))
  S = A @ A.T / 6 + 0.1 * jnp.eye(6)
  lam, rho, sigma = 0.02, 0.25, 0.5
  for rank in (2, 6):
    got = theory.cor33_limit(S, lam, rho, sigma, rank)
    np.testing.assert_allclose(got, denoisers.wiener_matrix(S, sigma, rank=rank, shrink=lam / rho), atol=1e-12)
  full = (S - lam / rho * jnp.eye(6)) @ jnp.linalg.inv(S + sigma**2 * jnp.eye(6))
  np.testing.assert_allclose(theory.cor33_limit(S, lam, rho, sigma, 6), full, atol=1e-12)
  with pytest.raises(ValueError, match="rho"):
    theory.cor33_limit(S, lam, 0.0, sigma, 2)
  with pytest.raises(ValueError, match="rank"):
    theory.cor33_limit(S, lam, rho, sigma, 7)


def test_cor33_test_loss_bias_and_full_risk(x64):
  key = jax.random.PRNGKey(14)
  d, sigma = 5, 0.4
  mu = jnp.array([1.0, 0.5, 0.0, 0.0, 0.0])
  F = jax.random.normal(key, (d, d)) * 0.3
  S = jnp.outer(mu, mu) + F @ F.T
  s = np.sort(np.linalg.eigvalsh(np.asarray(S)))[::-1]
  r = theory.cor33_test_loss(S, sigma, 2)
  printed = np.sum(s[:2] * sigma**4 / (s[:2] + sigma**2) ** 2) + np.sum(s[2:])
  full = np.sum(sigma**2 * s[:2] / (s[:2] + sigma**2)) + np.sum(s[2:])
  np.testing.assert_allclose(float(r.bias_only), printed, rtol=1e-12)
  np.testing.assert_allclose(float(r.wiener_risk), full, rtol=1e-12)
  # Full risk = E‖D(x + σε) − x‖² for x ~ N(μ, FFᵀ): exact trace form and Monte Carlo.
  D = theory.cor33_limit(S, 0.0, 1.0, sigma, 2)
  I = jnp.eye(d)
  exact = jnp.trace((D - I) @ S @ (D - I).T) + sigma**2 * jnp.sum(D**2)
  np.testing.assert_allclose(float(r.wiener_risk), float(exact), rtol=1e-12)
  k1, k2 = jax.random.split(key)
  x = mu + jax.random.normal(k1, (200000, d)) @ F.T
  y = x + sigma * jax.random.normal(k2, x.shape)
  np.testing.assert_allclose(float(jnp.mean(jnp.sum((y @ D.T - x) ** 2, 1))), full, rtol=2e-2)
  # Mixture: ρ-weighted sum of the modes.
  two = theory.cor33_test_loss(jnp.stack([S, 2 * S]), sigma, [2, 1], rho=jnp.array([0.25, 0.75]))
  one_b = theory.cor33_test_loss(2 * S, sigma, 1)
  np.testing.assert_allclose(float(two.wiener_risk), 0.25 * full + 0.75 * float(one_b.wiener_risk), rtol=1e-12)
  with pytest.raises(ValueError, match="rho"):
    theory.cor33_test_loss(jnp.stack([S, S]), sigma, 1, rho=jnp.array([1.0]))


def test_lemma_d1_min_matches_constructed_point_and_gradient_descent(x64):
  X = jax.random.normal(jax.random.PRNGKey(15), (7, 4)) * jnp.array([2.0, 1.0, 0.5, 0.2])
  sigma, lam, p = 0.3, 0.01, 2
  value = float(theory.lemma_d1_min(X, sigma, lam, p))
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


# ----------------------------------------------------------------------------------- batched certificates, moment matching


def test_certify_batch_equals_one_at_a_time(x64):
  X, labels, sigma, lam, ps, W = _gen_instance()
  Xs = jnp.stack([X, 1.5 * X])
  Ws = jnp.stack([W, minima.generalization(1.5 * X, labels, sigma, lam, ps)])
  batch = theory.certify_batch({"W": Ws}, Xs, jnp.array([sigma, sigma]), jnp.array([lam, lam]))
  for b in range(2):
    one = theory.stationarity({"W": Ws[b]}, Xs[b], sigma, lam)
    for name in ("grad_norm", "rel_grad_norm", "loss", "mask_flip_bound"):
      np.testing.assert_allclose(float(getattr(batch, name)[b]), float(getattr(one, name)), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.asarray(batch.hessian_eigs[b]), np.asarray(one.hessian_eigs), atol=1e-10)


def test_moment_matched_noise_has_exact_moments_and_checks_inputs(x64):
  eps = np.asarray(theory.moment_matched_noise(jax.random.PRNGKey(0), 3, 12, 5))
  assert eps.shape == (3, 12, 5)
  for e in eps:
    np.testing.assert_allclose(e.mean(0), 0.0, atol=1e-14)
    np.testing.assert_allclose(e.T @ e / 12, np.eye(5), atol=1e-13)
  # marginally Gaussian-like: pooled second moment along a fixed direction is 1, fourth near 3
  big = np.asarray(theory.moment_matched_noise(jax.random.PRNGKey(1), 200, 64, 4))[..., 0].ravel()
  assert abs(np.mean(big**4) - 3.0) < 0.3
  with pytest.raises(ValueError, match="num_draws"):
    theory.moment_matched_noise(jax.random.PRNGKey(0), 3, 8, 5)  # M/2 < d
  with pytest.raises(ValueError, match="num_draws"):
    theory.moment_matched_noise(jax.random.PRNGKey(0), 3, 11, 5)  # odd


def test_moment_matched_loss_is_frozen_loss_without_flips_and_mc_with_them(x64):
  X, labels, sigma, lam, ps, W = _gen_instance()
  eps = theory.moment_matched_noise(jax.random.PRNGKey(2), X.shape[0], 20, X.shape[1])
  params = {"W": W}
  # at tiny σ no draw flips a mask: equal to the exact frozen-mask expectation
  small = 1e-3
  np.testing.assert_allclose(float(theory.moment_matched_loss(params, X, eps, small, lam)),
                             float(losses.frozen_mask_loss(params, X, small, lam)), rtol=1e-12)
  # at any σ: an unbiased estimate of Eq. (6); compare with a large independent Monte Carlo
  big = 1.0
  mm = np.mean([float(theory.moment_matched_loss(
      params, X, theory.moment_matched_noise(jax.random.PRNGKey(10 + s), X.shape[0], 20, X.shape[1]), big, lam))
      for s in range(10)])
  mc = float(losses.dae_loss(params, X, jax.random.PRNGKey(5), big, lam, num_noise=4000))
  assert abs(mm - mc) < 0.02 * mc


def test_refine_returns_constructed_minimum_when_no_mask_flips_and_moves_when_they_do(x64):
  X = data.locally_sparse(jax.random.PRNGKey(0), n=4, d=8, norm=2.0)
  lam = 1e-3
  eps = theory.moment_matched_noise(jax.random.PRNGKey(1), 4, 32, 8)
  for sigma, expect_zero in [(0.05, True), (1.0, False)]:
    W = minima.memorization(X, sigma, lam, 4)
    dists = []
    for steps in (100, 300):
      out = theory.refine({"W": W * 1.02}, X, eps, sigma, lam, steps=steps)
      dists.append(float(jnp.linalg.norm(out.params["W"] - W) / jnp.linalg.norm(W)))
    if expect_zero:  # margin/σ = 40: the minimum of the moment-matched loss is W_mem itself
      assert float(out.grad_norm) < 1e-10
      assert max(dists) < 1e-10
    else:  # σ comparable to the margin: mask flips move the minimum (Thm 3.1's residual);
      # the minimum sits on a kink of the piecewise-quadratic loss, so check the point, not the gradient
      assert dists[1] > 1e-2
      assert abs(dists[0] - dists[1]) < 1e-3 * dists[1]


def test_margin_batch_equals_margin_per_instance(x64):
  X, labels, sigma, lam, ps, W = _gen_instance()
  owner = np.repeat(np.arange(3), ps)
  Xs, Ws = jnp.stack([X, -X]), jnp.stack([W, W])  # the second flips every mask: negative margin
  batch = theory.margin_batch(Xs, labels, Ws, owner)
  for b in range(2):
    one = theory.margin(Xs[b], labels, Ws[b], owner=owner)
    for name in ("gamma", "active_gap", "inactive_gap"):
      np.testing.assert_allclose(float(getattr(batch, name)[b]), float(getattr(one, name)), rtol=1e-12)
  assert float(batch.gamma[0]) > 0 > float(batch.gamma[1])
  with pytest.raises(ValueError, match="owner"):
    theory.margin_batch(Xs, labels, Ws, owner[:-1])


def _brute_block_gap(X, sign, Wk, num=20001):
  """max over Q ∈ O(2) of min_{i,j} s_i (W_kQ)̂_jᵀx_i on a dense angle grid, both components (numpy)."""
  best = -np.inf
  for t in np.linspace(0.0, 2 * np.pi, num):
    c, s = np.cos(t), np.sin(t)
    for Q in (np.array([[c, -s], [s, c]]), np.array([[c, s], [s, -c]])):
      V = Wk @ Q
      best = max(best, np.min(sign[:, None] * (X @ V) / np.linalg.norm(V, axis=0)))
  return best


def test_best_rotation_matches_a_dense_search_over_O2_and_keeps_the_gram(x64):
  rescued = 0
  for seed in range(6):
    X, labels, _, _ = data.separable_mixture_arrays(jax.random.PRNGKey(seed), d=8, counts=(10, 10), alpha=0.4,
                                                    beta=-0.3, rank=4, decay=0.7, norm=2.0)
    X, labels = np.asarray(X), np.asarray(labels)
    W = np.asarray(minima.generalization(X, labels, 0.05, 0.0, 2))  # equiangular O_k
    owner = np.array([0, 0, 1, 1])
    r = theory.best_rotation(X, labels, W, owner, key=jax.random.PRNGKey(seed))
    Wr = np.asarray(r.W)
    np.testing.assert_allclose(Wr @ Wr.T, W @ W.T, atol=1e-10)  # only O_k moved
    for k, Q in enumerate(r.rotations):
      np.testing.assert_allclose(np.asarray(Q).T @ np.asarray(Q), np.eye(2), atol=1e-10)
      np.testing.assert_allclose(Wr[:, owner == k], W[:, owner == k] @ np.asarray(Q), atol=1e-10)
    # gamma is the margin of the returned W, the given one is margin() of W, and it never gets worse
    np.testing.assert_allclose(r.gamma, theory.margin(X, labels, Wr, owner).gamma, rtol=1e-10)
    np.testing.assert_allclose(r.gamma_given, theory.margin(X, labels, W, owner).gamma, rtol=1e-10)
    assert r.gamma >= r.gamma_given
    brute = min(_brute_block_gap(X, np.where(labels == k, 1.0, -1.0), W[:, owner == k]) for k in (0, 1))
    assert abs(float(r.gamma) - brute) <= 2e-3  # both below the true maximum, the grid by its resolution
    rescued += int(r.gamma_given <= 0 < r.gamma)
  assert rescued >= 1  # some instance's premise holds only with another O_k
  batch = theory.best_rotation_batch(jnp.stack([X, X]), labels, jnp.stack([W, W]), owner, key=jax.random.PRNGKey(5))
  np.testing.assert_allclose(batch.gamma, [brute] * 2, atol=2e-3)


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


def test_two_sample_residual_local_slope_tends_to_one(x64):
  x = np.geomspace(2.0, 400.0, 4000)
  R = np.asarray(theory.two_sample_residual(1.0, 1.5, 1.0 / np.sqrt(x)).residual)
  slope = -np.gradient(np.log(R), x)
  assert np.all(np.diff(slope) < 0)  # it falls monotonically on x >= 2 ...
  assert 1.0 < slope[-1] < 1.02 and slope[0] > 1.5  # ... from above 1.5 toward c = 1
