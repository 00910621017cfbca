"""metrics: column matching against exhaustive search, spikiness against closed forms."""

import itertools

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from relu_dae import data
from relu_dae import metrics
from relu_dae import model


def test_match_columns_equals_exhaustive_search():
  rng = np.random.default_rng(0)
  W, W_ref = rng.normal(size=(6, 5)), rng.normal(size=(6, 4))
  un = lambda A: A / np.linalg.norm(A, axis=0)
  cos = un(W_ref).T @ un(W)
  best = max(itertools.permutations(range(5), 4), key=lambda s: sum(cos[j, s[j]] for j in range(4)))
  perm, matched = metrics.match_columns(W, W_ref)
  assert perm.tolist() == list(best)
  np.testing.assert_allclose(matched, [cos[j, best[j]] for j in range(4)], rtol=1e-6)


def test_stored_fraction_and_best_cosine():
  X = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
  W = jnp.array([[3.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # stores x_1; x_2, x_3 at cosine 1/√2
  np.testing.assert_allclose(metrics.best_column_cosine(W, X), [1.0, 2**-0.5, 2**-0.5], rtol=1e-6)
  assert float(metrics.stored_fraction(W, X)) == pytest.approx(1 / 3)
  assert float(metrics.stored_fraction(W, X, threshold=0.7)) == pytest.approx(1.0)


def test_projector_error_ignores_rotations_and_splitting():
  rng = np.random.default_rng(1)
  W = jnp.array(rng.normal(size=(5, 3)))
  Q = jnp.linalg.qr(jnp.array(rng.normal(size=(3, 3))))[0]
  assert float(metrics.projector_error(W @ Q, W)) < 1e-5
  split = jnp.concatenate([W[:, :1] / jnp.sqrt(2.0), W[:, :1] / jnp.sqrt(2.0), W[:, 1:]], axis=1)
  assert float(metrics.projector_error(split, W)) < 1e-5


def test_spikiness_scores_on_one_hot_and_flat():
  p = 16
  one_hot, flat = jnp.zeros(p).at[3].set(2.0), jnp.ones(p)
  np.testing.assert_allclose(metrics.representation_std(one_hot), np.std(np.asarray(one_hot)), rtol=1e-6)
  np.testing.assert_allclose(metrics.l4_over_l2(jnp.stack([one_hot, flat])), [1.0, p**-0.25], rtol=1e-5)
  np.testing.assert_allclose(metrics.top1_share(jnp.stack([one_hot, flat])), [1.0, 1 / p], rtol=1e-5)
  np.testing.assert_allclose(metrics.participation_ratio(jnp.stack([one_hot, flat])), [1.0, p], rtol=1e-5)


def test_unit_allocation_counts_owners():
  X, labels, _ = data.separable_mixture(jax.random.PRNGKey(0), d=6, K=2, n_per_cluster=5, alpha=0.1, beta=-1.0)
  mu = np.stack([np.asarray(X)[np.asarray(labels) == k].mean(0) for k in range(2)])
  W = jnp.array(np.stack([mu[0], mu[0], mu[1], np.zeros(6)], axis=1))  # 2 units on cluster 0, 1 on 1, 1 dead
  owner, counts = metrics.unit_allocation({"W": W}, X, labels)
  assert owner.tolist() == [0, 0, 1, -1] and counts.tolist() == [2, 1]


def test_procrustes_recovers_a_rotation():
  rng = np.random.default_rng(2)
  W_ref = jnp.array(rng.normal(size=(7, 3)))
  Q = jnp.linalg.qr(jnp.array(rng.normal(size=(3, 3))))[0]
  np.testing.assert_allclose(metrics.procrustes_align(W_ref, W_ref @ Q), W_ref @ Q, atol=1e-5)
