"""Tests of relu_dae.margins against independent computations (a hand example, numpy, a dense O(2) search)."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import data, margins, minima
from _instances import separable_instance


def test_margin_hand_example_and_owner():
  X = jnp.array([[2.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [-0.5, -2.0]])
  labels = jnp.array([0, 0, 1, 1])
  W = jnp.array([[3.0, -1.0, 0.0], [0.0, 0.0, 0.0]])  # unit 2 is a zero column
  m = margins.margin(X, labels, W)
  np.testing.assert_array_equal(m.owner, [0, 1, -1])
  assert float(m.active_gap) == pytest.approx(0.5)  # unit 1 on sample 3: 0.5
  assert float(m.inactive_gap) == pytest.approx(0.5)  # unit 0 on sample 3: -(-0.5)
  assert np.isinf(float(m.per_unit[2]))
  # Forcing a wrong owner makes the margin negative.
  bad = margins.margin(X, labels, W, owner=[1, 1, 0])
  assert float(bad.gamma) < 0


@pytest.mark.slow
def test_margin_memorization_equals_min_cosine_gap(x64):
  X = data.locally_sparse(jax.random.PRNGKey(0), n=5, d=8, norm=1.5)  # equal cosine -1/4
  W = minima.memorization(X, 0.2, 0.0, 7)
  m = margins.margin(X, np.arange(5), W)
  np.testing.assert_array_equal(m.owner, [0, 1, 2, 3, 4, -1, -1])
  assert float(m.active_gap) == pytest.approx(1.5)  # ‖x_i‖
  assert float(m.inactive_gap) == pytest.approx(1.5 * 0.25)  # −‖x‖ cos
  assert float(m.gamma) == pytest.approx(0.375)


@pytest.mark.slow
def test_margin_of_generalization_minimum_and_paper_margin(x64):
  X, labels, sigma, lam, ps, W = separable_instance()
  m = margins.margin(X, labels, W)
  np.testing.assert_array_equal(m.owner, np.repeat([0, 1, 2], ps))
  assert float(m.gamma) > 0
  # Positive γ_op ⇔ the clean mask is exactly block-diagonal.
  np.testing.assert_array_equal(np.asarray(X @ W > 0), np.repeat([0, 1, 2], ps)[None] == np.asarray(labels)[:, None])
  pm = margins.paper_margin(X, labels, ps, sigma=sigma, lam=lam)
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
    margins.margin(X, jnp.zeros(3), jnp.ones((3, 2)))
  with pytest.raises(ValueError, match="labels"):
    margins.margin(X, jnp.zeros(2), jnp.ones((2, 2)))
  with pytest.raises(ValueError, match="owner"):
    margins.margin(X, jnp.zeros(3), jnp.ones((2, 2)), owner=[0, 5])
  with pytest.raises(ValueError, match="lam"):
    margins.paper_margin(jnp.array([[1.0, 0.0], [-1.0, 0.0]]), jnp.array([0, 1]), 1, lam=10.0)
  with pytest.raises(ValueError, match="beta < 0"):  # orthogonal means: β = 0
    margins.paper_margin(jnp.eye(2), jnp.array([0, 1]), 1)
  with pytest.raises(ValueError, match="sigma"):
    margins.paper_margin(jnp.array([[1.0, 0.0], [-1.0, 0.0]]), jnp.array([0, 1]), 1, sigma=-0.1)


@pytest.mark.slow
def test_margin_batch_equals_margin_per_instance(x64):
  X, labels, _sigma, _lam, ps, W = separable_instance()
  owner = np.repeat(np.arange(3), ps)
  Xs, Ws = jnp.stack([X, -X]), jnp.stack([W, W])  # the second flips every mask: negative margin
  batch = margins.margin_batch(Xs, labels, Ws, owner)
  for b in range(2):
    one = margins.margin(Xs[b], labels, Ws[b], owner=owner)
    for name in ("gamma", "active_gap", "inactive_gap"):
      np.testing.assert_allclose(float(getattr(batch, name)[b]), float(getattr(one, name)), rtol=1e-12)
  assert float(batch.gamma[0]) > 0 > float(batch.gamma[1])
  with pytest.raises(ValueError, match="owner"):
    margins.margin_batch(Xs, labels, Ws, owner[:-1])


def _brute_block_gap(X, sign, Wk, num=20001):
  """max over Q ∈ O(2) of min_{i,j} s_i (W_kQ)̂_jᵀx_i on a dense angle grid, both components (numpy)."""
  best = -np.inf
  for t in np.linspace(0.0, 2 * np.pi, num):
    c, s = np.cos(t), np.sin(t)
    for Q in (np.array([[c, -s], [s, c]]), np.array([[c, s], [s, -c]])):
      V = Wk @ Q
      best = max(best, np.min(sign[:, None] * (X @ V) / np.linalg.norm(V, axis=0)))
  return best


@pytest.mark.slow
def test_best_rotation_matches_a_dense_search_over_o2_and_keeps_the_gram(x64):
  rescued = 0
  for seed in range(6):
    X, labels, _, _ = data.separable_mixture_arrays(jax.random.PRNGKey(seed), d=8, counts=(10, 10), alpha=0.4,
                                                    beta=-0.3, rank=4, decay=0.7, norm=2.0)
    X, labels = np.asarray(X), np.asarray(labels)
    W = np.asarray(minima.generalization(X, labels, 0.05, 0.0, 2))  # equiangular O_k
    owner = np.array([0, 0, 1, 1])
    r = margins.best_rotation(X, labels, W, owner, key=jax.random.PRNGKey(seed))
    Wr = np.asarray(r.W)
    np.testing.assert_allclose(Wr @ Wr.T, W @ W.T, atol=1e-10)  # only O_k moved
    for k, Q in enumerate(r.rotations):
      np.testing.assert_allclose(np.asarray(Q).T @ np.asarray(Q), np.eye(2), atol=1e-10)
      np.testing.assert_allclose(Wr[:, owner == k], W[:, owner == k] @ np.asarray(Q), atol=1e-10)
    # gamma is the margin of the returned W, the given one is margin() of W, and it never gets worse
    np.testing.assert_allclose(r.gamma, margins.margin(X, labels, Wr, owner).gamma, rtol=1e-10)
    np.testing.assert_allclose(r.gamma_given, margins.margin(X, labels, W, owner).gamma, rtol=1e-10)
    assert r.gamma >= r.gamma_given
    brute = min(_brute_block_gap(X, np.where(labels == k, 1.0, -1.0), W[:, owner == k]) for k in (0, 1))
    assert abs(float(r.gamma) - brute) <= 2e-3  # both below the true maximum, the grid by its resolution
    rescued += int(r.gamma_given <= 0 < r.gamma)
  assert rescued >= 1  # some instance's premise holds only with another O_k
  batch = margins.best_rotation_batch(jnp.stack([X, X]), labels, jnp.stack([W, W]), owner, key=jax.random.PRNGKey(5))
  np.testing.assert_allclose(batch.gamma, [brute] * 2, atol=2e-3)
