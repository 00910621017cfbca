"""minima: Eq. (8), (9), Cor. 3.2–3.4 recomputed independently, stationarity by autodiff (x64)."""

import numpy as np
import scipy.optimize
import jax
import jax.numpy as jnp
import pytest

from relu_dae import data
from relu_dae import denoisers
from relu_dae import losses
from relu_dae import minima


def _max_abs_grad(fn, params):
  return max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(jax.grad(fn)(params)))


def test_memorization_columns_follow_eq9(x64):
  X = data.locally_sparse(jax.random.PRNGKey(0), n=5, d=8, norm=1.5)
  sigma, lam, p = 0.3, 0.05, 9
  W = np.asarray(minima.memorization(X, sigma, lam, p))
  Xn = np.asarray(X)
  for i in range(5):
    a = Xn[i] @ Xn[i]
    r = np.sqrt((a - 5 * lam) / (a**2 + sigma**2 * a))
    np.testing.assert_allclose(W[:, i], r * Xn[i], rtol=1e-12)
  assert W.shape == (8, 9) and np.all(W[:, 5:] == 0)


@pytest.mark.slow
@pytest.mark.parametrize("tied", [True, False])
def test_memorization_is_stationary_for_eq6(x64, tied):
  """β < 0 ⇒ each clean x_i activates only its own column ⇒ W_mem zeroes ∇ of Eq. (6) at σ = 0
  exactly and of the frozen-mask (noise-averaged, Thm D.2 without residual) loss at σ > 0."""
  X = data.locally_sparse(jax.random.PRNGKey(1), n=6, d=10, beta=-0.1)
  for sigma, lam in [(0.0, 0.02), (0.4, 0.02), (0.4, 0.0)]:
    W = minima.memorization(X, sigma, lam, p=8)
    params = {"W": W} if tied else {"W1": W, "W2": W}
    g = _max_abs_grad(lambda P, sigma=sigma, lam=lam: losses.frozen_mask_loss(P, X, sigma, lam), params)
    assert g < 1e-12, (sigma, lam, g)
    if sigma == 0.0:
      g0 = _max_abs_grad(lambda P, lam=lam: losses.dae_loss(P, X, jax.random.PRNGKey(0), 0.0, lam), params)
      assert g0 < 1e-12


@pytest.mark.slow
def test_memorization_is_a_local_minimum_at_zero_noise(x64):
  """Smallest Hessian eigenvalue of Eq. (6) (σ = 0, exact) at W_mem is positive (dense Hessian)."""
  X = data.locally_sparse(jax.random.PRNGKey(2), n=3, d=5)
  lam, p = 0.05, 4
  W = minima.memorization(X, 0.0, lam, p)
  f = lambda w: losses.dae_loss({"W": w.reshape(5, p)}, X, jax.random.PRNGKey(0), 0.0, lam)
  H = jax.hessian(f)(W.reshape(-1))
  assert float(jnp.linalg.eigvalsh(H)[0]) > 0


@pytest.mark.slow
def test_memorization_gradient_of_true_loss_is_zero_within_monte_carlo(x64):
  """At σ ≪ margin no mask flips: the Monte-Carlo gradient of Eq. (6) is 0 within 5 s.e."""
  X = data.locally_sparse(jax.random.PRNGKey(3), n=4, d=6)
  sigma, lam = 0.05, 0.01
  W = minima.memorization(X, sigma, lam, p=4)
  grads = jax.vmap(jax.grad(lambda w, k: losses.dae_loss({"W": w}, X, k, sigma, lam, num_noise=50)),
                   in_axes=(None, 0))(W, jax.random.split(jax.random.PRNGKey(4), 400))
  mean, se = jnp.mean(grads, 0), jnp.std(grads, 0) / np.sqrt(400)
  assert bool(jnp.all(jnp.abs(mean) <= 5 * se + 1e-12))


@pytest.mark.slow
def test_memorization_loss_matches_monte_carlo(x64):
  """Cor. 3.2 at λ = 0 vs 200 × 100 noise draws of Eq. (6) at W_mem; tolerance 5 s.e.

  σ = 0.05 with pairwise cosine −1/4: another unit switches on only when a noise coordinate
  exceeds 5σ-equivalents (p ≈ 3e-7), so the mask-flip residual of Thm 3.1 is negligible. (At
  σ = 0.1 it is not: the Monte-Carlo loss then exceeds the formula by 1.5 %, 3.8 s.e.)"""
  X = data.locally_sparse(jax.random.PRNGKey(5), n=5, d=12, norm=1.0)
  sigma = 0.05
  W = minima.memorization(X, sigma, 0.0, p=5)
  est = jax.vmap(lambda k: losses.dae_loss({"W": W}, X, k, sigma, 0.0, num_noise=100))(
      jax.random.split(jax.random.PRNGKey(6), 200))
  predicted = float(minima.memorization_loss(X, sigma))
  a = np.sum(np.asarray(X) ** 2, 1)
  assert predicted == pytest.approx(np.mean(sigma**2 * a / (sigma**2 + a)), rel=1e-12) and predicted < sigma**2
  assert abs(float(jnp.mean(est)) - predicted) < 5 * float(jnp.std(est)) / np.sqrt(200)


def _cluster(key, n_k=40, d=6, rank=3):
  X, _labels, _ = data.separable_mixture(key, d=d, K=1, n_per_cluster=n_k, alpha=0.6, beta=0.0, rank=rank, norm=2.0)
  return X


@pytest.mark.slow
def test_cluster_block_is_stationary_for_lemma_d1_and_has_predicted_spectrum(x64):
  Xk = _cluster(jax.random.PRNGKey(7))
  n, sigma, lam, p_k = 100, 0.3, 0.01, 3  # n: the whole data set; the block sees nλ
  W = minima.cluster_block(Xk, n, sigma, lam, p_k)
  n_k = Xk.shape[0]
  # Lemma D.1 for this cluster: L̂_{X_k}/n_k with λ' = nλ  ⇔  linear_ae_loss with lam = nλ/n_k.
  grad = jax.grad(lambda Ws: losses.linear_ae_loss(Ws[0], Ws[1], Xk, sigma, n * lam / n_k))((W, W))
  assert max(float(jnp.max(jnp.abs(g))) for g in grad) < 1e-12
  gram = np.linalg.eigvalsh(np.asarray(Xk).T @ np.asarray(Xk))[::-1][:p_k]
  expected = (gram - n * lam) / (gram + n_k * sigma**2)
  got = np.linalg.eigvalsh(np.asarray(W @ W.T))[::-1][:p_k]
  np.testing.assert_allclose(got, expected, rtol=1e-10)
  np.testing.assert_allclose(minima.block_gram_eigenvalues(Xk, n, sigma, lam, p_k), expected, rtol=1e-10)


@pytest.mark.slow
def test_cluster_block_is_the_global_minimum_of_lemma_d1(x64):
  """L-BFGS from 5 random starts never beats the closed form (Lemma D.1: global minimizer)."""
  Xk = _cluster(jax.random.PRNGKey(8), n_k=30, d=5)
  sigma, lam, p_k = 0.5, 0.02, 2
  W = minima.cluster_block(Xk, 30, sigma, lam, p_k)
  f = lambda w: losses.linear_ae_loss(w[:10].reshape(5, 2), w[10:].reshape(5, 2), Xk, sigma, lam)
  best = float(f(jnp.concatenate([W.reshape(-1), W.reshape(-1)])))
  vg = jax.jit(jax.value_and_grad(f))
  for s in range(5):
    w0 = np.random.default_rng(s).normal(size=20)
    res = scipy.optimize.minimize(lambda w: tuple(np.asarray(v, float) for v in vg(jnp.array(w))),
                                  w0, jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "maxiter": 5000})
    assert res.fun >= best - 1e-9
  assert res.fun == pytest.approx(best, rel=1e-6)  # and the optimizer does reach it


@pytest.mark.slow
def test_default_rotation_gives_equal_positive_preactivation_on_the_mean(x64):
  Xk = _cluster(jax.random.PRNGKey(9))
  for p_k in [1, 2, 4]:
    W = minima.cluster_block(Xk, 50, 0.2, 0.0, p_k)
    pre = np.asarray(jnp.mean(Xk, 0) @ W)
    assert np.all(pre > 0) and np.ptp(pre) < 1e-10 * np.abs(pre).max()
    O = minima.equiangular_rotation(jnp.arange(1.0, p_k + 1.0))
    np.testing.assert_allclose(O @ O.T, np.eye(p_k), atol=1e-12)


def _separable(key, counts=(30, 30, 30), alpha=0.15, d=12):
  X, labels, _ = data.separable_mixture(key, d=d, K=len(counts), n_per_cluster=list(counts), alpha=alpha,
                                        beta=-0.5, rank=3, norm=2.0)
  return X, labels


@pytest.mark.slow
def test_generalization_blocks_are_stationary_and_block_masked(x64):
  X, labels = _separable(jax.random.PRNGKey(10))
  sigma, lam = 0.3, 1e-3
  W = minima.generalization(X, labels, sigma, lam, [2, 3, 1])
  assert W.shape == (12, 6)
  # Block structure of the ReLU mask: cluster k's clean samples activate exactly block k.
  blocks = np.repeat(np.arange(3), [2, 3, 1])
  active = np.asarray(X @ W > 0)
  np.testing.assert_array_equal(active, blocks[None, :] == np.asarray(labels)[:, None])
  g = _max_abs_grad(lambda P: losses.frozen_mask_loss(P, X, sigma, lam), {"W": W})
  assert g < 1e-12


@pytest.mark.slow
def test_hybrid_duplicate_scale_and_stationarity(x64):
  X, labels, _ = data.separable_mixture(jax.random.PRNGKey(11), d=12, K=3, n_per_cluster=[5, 1, 40],
                                        alpha=[0.0, 0.0, 0.2], beta=-0.5, rank=3, norm=2.0)
  sigma, lam, n = 0.3, 2e-3, 46
  W = np.asarray(minima.hybrid(X, labels, sigma, lam, 3))
  assert W.shape == (12, 1 + 1 + 3)
  Xn = np.asarray(X)
  for col, (row, n_l) in enumerate([(0, 5), (5, 1)]):
    x = Xn[row]
    a = x @ x
    r = np.sqrt((n_l * a - n * lam) / (n_l * a * (a + sigma**2)))  # docs/theory_choices.md, item 6
    np.testing.assert_allclose(W[:, col], r * x, rtol=1e-10)
  x1 = Xn[5]  # a single-copy cluster reduces to Eq. (9)
  np.testing.assert_allclose(W[:, 1], np.asarray(minima.memorization_scales(x1[None], sigma, lam, n=n))[0] * x1,
                             rtol=1e-10)
  g = _max_abs_grad(lambda P: losses.frozen_mask_loss(P, X, sigma, lam), {"W": jnp.array(W)})
  assert g < 1e-12


@pytest.mark.slow
def test_cor33_block_concentrates_to_shrunk_wiener(x64):
  """W_Xk W_Xkᵀ → [(S − λ/ρ I)(S + σ²I)^{-1}]_rank-p_k as n_k grows (K = 1, ρ = 1)."""
  d, p_k, sigma, lam = 6, 2, 0.5, 1e-3
  mean = jnp.zeros(d).at[0].set(2.0)
  factors = jnp.diag(jnp.array([1.0, 0.6, 0.3, 0.1, 0.05, 0.02]))[None]
  spec = data.mixture_spec(mean[None], factors, None)
  limit = denoisers.wiener_matrix(spec.second_moments[0], sigma, rank=p_k, shrink=lam)
  errs = []
  for n_k in [100, 10_000]:
    X, _ = data.sample_mixture_counts(jax.random.PRNGKey(n_k), spec, [n_k])
    W = minima.cluster_block(X, n_k, sigma, lam, p_k)
    errs.append(float(jnp.linalg.norm(W @ W.T - limit) / jnp.linalg.norm(limit)))
  assert errs[1] < 0.05 and errs[1] < errs[0] / 3  # ~1/√n_k: 10× for 100× the samples


def test_minima_reject_bad_settings():
  X = data.locally_sparse(jax.random.PRNGKey(0), n=4, d=6)
  with pytest.raises(ValueError, match="p must be >= n"):
    minima.memorization(X, 0.1, 0.0, p=3)
  with pytest.raises(ValueError, match="lam too large"):
    minima.memorization(X, 0.1, 0.25, p=4)  # nλ = 1 = ‖x_i‖²
  with pytest.raises(ValueError, match="p_k=7 exceeds"):
    minima.cluster_block(X, 4, 0.1, 0.0, 7)
  with pytest.raises(ValueError, match="lam too large for this block"):
    minima.cluster_block(X, 4, 0.1, 10.0, 2)


def test_weighted_memorization_loss_equals_explicit_duplicates():
  X = data.locally_sparse(jax.random.PRNGKey(3), n=4, d=8, norm=2.0)
  counts = jnp.array([3.0, 1.0, 0.0, 2.0])
  explicit = jnp.repeat(X, jnp.array([3, 1, 0, 2]), axis=0, total_repeat_length=6)
  np.testing.assert_allclose(minima.memorization_loss(X, 0.3, weights=counts),
                             minima.memorization_loss(explicit, 0.3), rtol=1e-6)


@pytest.mark.slow
def test_traceable_targets_agree_with_the_constructors_to_1e12(x64):
  X, labels, _ = data.separable_mixture(jax.random.PRNGKey(4), d=10, K=2, n_per_cluster=4, alpha=0.3, beta=-0.4)
  X = jnp.asarray(X, jnp.float64)
  W = minima.memorization(X, 0.3, 1e-3, 8)
  M = minima.memorization_target(X, jnp.ones(8), 0.3, 1e-3)
  np.testing.assert_allclose(M, W, rtol=1e-12, atol=1e-12)
  W_gen = minima.generalization(X, labels, 0.3, 1e-3, 2)
  G = minima.generalization_target(X, jnp.asarray(labels), jnp.ones(8), 2, 0.3, 1e-3, 2)
  np.testing.assert_allclose(G, W_gen @ W_gen.T, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_top_cluster_spectra_give_the_full_generalization_gram_for_p_k_up_to_the_rank(x64):
  """The thin-SVD top-r spectra (host, no (d, d) matrix) against eigh of the explicit weighted Grams."""
  key = jax.random.PRNGKey(7)
  X = np.asarray(jax.random.normal(key, (30, 12)))
  labels = np.arange(30) % 3
  w = np.asarray(jax.random.uniform(jax.random.fold_in(key, 1), (30,))) * (np.arange(30) < 25)
  evals, evecs, n_k = minima.top_cluster_spectra(X, labels, w, 3, rank=4)
  for k in range(3):
    rows = labels == k
    G = (w[rows, None] * X[rows]).T @ X[rows]
    np.testing.assert_allclose(evals[k], np.linalg.eigvalsh(G)[-4:], rtol=1e-5)
    assert n_k[k] == pytest.approx(w[rows].sum(), rel=1e-6)
  full = minima.cluster_spectra(jnp.asarray(X), jnp.asarray(labels), jnp.asarray(w), 3)
  for p_k in (1, 2, 4):
    np.testing.assert_allclose(minima.generalization_gram(evals, evecs, n_k, 0.3, 1e-3, p_k),
                               minima.generalization_gram(*full, 0.3, 1e-3, p_k), rtol=1e-4, atol=1e-6)
