"""metrics: column matching against exhaustive search, spikiness against closed forms,
sweep metrics against the analytic minima, explicit duplication and brute force."""

import itertools

import numpy as np
import jax
import jax.numpy as jnp
import pytest
import scipy.stats

from relu_dae import data
from relu_dae import denoisers
from relu_dae import losses
from relu_dae import metrics
from relu_dae import storage
from relu_dae import minima


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
  assert float(storage.cosine_stored_fraction(W, X, jnp.ones(3), threshold=0.7)) == pytest.approx(1.0)


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


@pytest.mark.slow
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


# --- Weighted metrics for sweeps (shared pool X, per-configuration weights w) ---------------


@pytest.fixture(scope="module")
def clusters():
  """Three (0.5, −0.3)-separable clusters of 80 in d = 16 (rank 4, decay 0.7) with W_gen (p_k = 4),
  and the same with cluster 0 made of 80 duplicates (α_0 = 0) with its Cor. 3.4 hybrid minimum."""
  kw = dict(d=16, K=3, n_per_cluster=80, beta=-0.3, rank=4, decay=0.7, norm=4.0)
  X, labels, _ = data.separable_mixture(jax.random.PRNGKey(0), alpha=0.5, **kw)
  X_h, labels_h, _ = data.separable_mixture(jax.random.PRNGKey(0), alpha=[0.0, 0.5, 0.5], **kw)
  return dict(X=X, labels=labels, W_gen=minima.generalization(X, labels, 0.3, 1e-4, 4),
              X_h=X_h, W_hyb=minima.hybrid(X_h, labels_h, 0.3, 1e-4, 4))


def _blobs(seed=0, K=3, n_k=10, d=12):
  """Small labelled data (float64 numpy) for closed-form comparisons; no separability needed."""
  rng = np.random.default_rng(seed)
  means = 3.0 * rng.normal(size=(K, d))
  X = np.concatenate([means[k] + 0.5 * rng.normal(size=(n_k, d)) * 0.7 ** np.arange(d) for k in range(K)])
  return X, np.repeat(np.arange(K), n_k), means


@pytest.mark.slow
def test_stored_fraction_is_one_at_w_mem_and_zero_at_w_gen(clusters):
  X = data.locally_sparse(jax.random.PRNGKey(1), n=6, d=12)
  assert float(metrics.weighted_stored_fraction(minima.memorization(X, 0.2, 1e-3, 10), X, jnp.ones(6))) == 1.0
  X, W_gen = clusters["X"], clusters["W_gen"]
  assert float(jnp.max(metrics.best_column_cosine(W_gen, X))) < 0.9  # margin below the 0.95 threshold
  w = jnp.ones(len(X)).at[::3].set(0.0)
  assert float(metrics.weighted_stored_fraction(W_gen, X, w)) == 0.0
  # Each distinct present sample counts once: 2 of 3 stored, multiplicities ignored, w = 0 ignored.
  w = jnp.zeros(len(X)).at[0].set(5.0).at[80].set(1.0).at[160].set(1.0)  # one sample per cluster
  W = jnp.concatenate([W_gen, X[jnp.array([0, 80])].T], axis=1)
  assert float(metrics.weighted_stored_fraction(W, X, w)) == pytest.approx(2 / 3)


@pytest.mark.slow
def test_relative_storage_rejects_a_tight_cluster_mean_but_keeps_w_mem():
  X, labels, _ = data.separable_mixture(jax.random.PRNGKey(2), d=16, K=2, n_per_cluster=6, alpha=0.2,
                                        beta=-0.5, norm=4.0)
  W_gen = minima.generalization(X, labels, 0.2, 1e-4, 1)  # one column per cluster: its mean direction
  brute = np.array([[np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b) for b in np.asarray(X)]
                    for a in np.asarray(X)])
  assert float(storage.cosine_stored_fraction(W_gen, X, jnp.ones(12), 0.9)) == 1.0  # the cosine alone is fooled
  angle_col = np.arccos(np.clip(np.asarray(metrics.best_column_cosine(W_gen, X)), -1, 1))
  angle_nn = np.arccos(np.clip(np.max(brute - 2 * np.eye(12), axis=1), -1, 1))
  want = np.mean(angle_col < 0.499 * angle_nn)
  got = float(storage.weighted_stored_fraction(W_gen, X, jnp.ones(12), 0.9))
  assert got == pytest.approx(want) and got < 0.5
  W_mem = minima.memorization(X, 0.2, 1e-4, 12)
  assert float(storage.weighted_stored_fraction(W_mem, X, jnp.ones(12), 0.9)) == 1.0


def test_per_cluster_stored_on_hybrid_minimum(clusters):
  X, W = clusters["X_h"], clusters["W_hyb"]
  labels = jnp.repeat(jnp.arange(3), 80)
  # 80 literal copies of one row are one sample (its copies are not its neighbours), stored by the
  # duplicate's column; the same as the cosine-only count (the deprecated relative=False) here.
  per = storage.per_cluster_stored(W, X, labels, jnp.ones(len(X)), 3)
  np.testing.assert_array_equal(per, [1.0, 0.0, 0.0])
  with pytest.warns(DeprecationWarning):
    np.testing.assert_array_equal(metrics.per_cluster_stored(W, X, labels, jnp.ones(len(X)), 3, relative=False), per)
  assert int(metrics.regime(per)) == metrics.HYBRID
  # The 80 duplicates collapsed into one weighted row, and cluster 2 absent (NaN).
  w = jnp.ones(len(X)).at[0].set(80.0).at[1:80].set(0.0).at[160:].set(0.0)
  np.testing.assert_array_equal(metrics.per_cluster_stored(W, X, labels, w, 3), [1.0, 0.0, np.nan])


@pytest.mark.slow
def test_memorization_target_matches_eq9_and_hybrid_scale(x64):
  X = data.locally_sparse(jax.random.PRNGKey(2), n=8, d=12)
  sigma, lam = 0.3, 1e-2
  M = metrics.memorization_target(X, jnp.ones(8), sigma, lam)
  np.testing.assert_allclose(M, minima.memorization(X, sigma, lam, 8), rtol=1e-12)
  assert float(metrics.gram_distance(minima.memorization(X, sigma, lam, 11), M @ M.T)) < 1e-12
  # A 0/1 mask = Eq. (9) on the subset (n = 5), zero columns for the absent samples.
  keep = np.array([1, 0, 1, 1, 0, 1, 0, 1], bool)
  M = metrics.memorization_target(X, jnp.array(keep, float), sigma, lam)
  np.testing.assert_allclose(M[:, keep], minima.memorization(X[keep], sigma, lam, 5), rtol=1e-12)
  assert float(jnp.max(jnp.abs(M[:, ~keep]))) == 0.0
  # Integer multiplicities = minima.hybrid on the explicitly duplicated data (one column per cluster).
  mult = np.array([3, 1, 1, 3, 3, 1, 1, 3])  # two cluster sizes: fewer shapes to compile
  X_dup, labels_dup = jnp.repeat(X, mult, axis=0), np.repeat(np.arange(8), mult)
  np.testing.assert_allclose(metrics.memorization_target(X, jnp.array(mult, float), sigma, lam),
                             minima.hybrid(X_dup, labels_dup, sigma, lam, 1), rtol=1e-10)
  # Weight decay above every sample's energy: columns clipped to 0, not NaN.
  assert float(jnp.max(jnp.abs(metrics.memorization_target(X, jnp.ones(8), sigma, 1.0)))) == 0.0


@pytest.mark.slow
def test_generalization_target_matches_cor33_gram(x64):
  X, labels, _ = _blobs()
  sigma, lam, p = 0.3, 1e-3, [2, 3, 1]
  W_gen = minima.generalization(X, labels, sigma, lam, p)
  G = metrics.generalization_target(X, labels, jnp.ones(len(X)), 3, sigma, lam, jnp.array(p))
  np.testing.assert_allclose(G, W_gen @ W_gen.T, atol=1e-12)
  assert float(metrics.gram_distance(W_gen, G)) < 1e-12
  # Integer weights = Cor. 3.3 on the explicitly duplicated data (n and n_k count duplicates).
  mult = np.random.default_rng(0).integers(0, 3, len(X))
  mult[[0, 10, 20]] = 1  # every cluster present
  W_dup = minima.generalization(np.repeat(X, mult, axis=0), np.repeat(labels, mult), sigma, lam, p)
  G = metrics.generalization_target(X, labels, jnp.array(mult, float), 3, sigma, lam, jnp.array(p))
  np.testing.assert_allclose(G, W_dup @ W_dup.T, atol=1e-10)


def test_gram_distance_generalizes_projector_error(x64):
  rng = np.random.default_rng(4)
  W, W_ref = jnp.array(rng.normal(size=(6, 4))), jnp.array(rng.normal(size=(6, 3)))
  A, B = np.asarray(W @ W.T), np.asarray(W_ref @ W_ref.T)
  expected = np.linalg.norm(A - B) / np.linalg.norm(B)
  np.testing.assert_allclose(metrics.gram_distance(W, W_ref @ W_ref.T), expected, rtol=1e-12)
  np.testing.assert_allclose(metrics.projector_error(W, W_ref), expected, rtol=1e-12)


@pytest.mark.slow
def test_weighted_empirical_equals_empirical_on_duplicated_data(x64):
  rng = np.random.default_rng(5)
  X, y = jnp.array(rng.normal(size=(7, 4))), jnp.array(rng.normal(size=(3, 5, 4)))
  mult = np.array([0, 2, 1, 0, 3, 1, 1])
  w, X_dup = jnp.array(mult, float), jnp.repeat(X, mult, axis=0)
  for sigma in (0.5, 1e-3):  # 1e-3: logits ~1e6, needs the log-sum-exp stabilization
    np.testing.assert_allclose(metrics.weighted_empirical(y, X, w, sigma), denoisers.empirical(y, X_dup, sigma),
                               rtol=1e-10, atol=1e-12)
  # y right at an excluded sample: it has no influence (w = 0 is excluded exactly).
  np.testing.assert_allclose(metrics.weighted_empirical(X[0], X, w, 0.05), denoisers.empirical(X[0], X_dup, 0.05),
                             rtol=1e-10)


@pytest.mark.slow
def test_denoising_gaps_against_direct_computation(x64):
  X, labels, means = _blobs(n_k=6)
  X_test = X[::4] + 0.1
  sigma, num_noise, key = 0.4, 3, jax.random.PRNGKey(8)
  gt = lambda y: 0.8 * y + 0.1 * means[0]  # any callable y -> f_gt(y); cheap to compile
  params = {"W": minima.generalization(X, labels, sigma, 1e-3, 2)}
  mult = np.random.default_rng(9).integers(0, 3, len(X))
  w = jnp.array(mult, float)
  out = metrics.denoising_gaps(params, X, w, key, sigma, gt, X_test, num_noise=num_noise)
  assert set(out) == set(metrics.DENOISING_GAP_KEYS)
  # Losses: relu_dae.losses' Monte-Carlo Eq. (6) with the same (prefix-stable) noise stream.
  Xs = np.concatenate([X, X_test])
  on_train, on_test = np.r_[mult, np.zeros(len(X_test))], np.r_[np.zeros(len(X)), np.ones(len(X_test))]
  for name, weights_ in [("train", on_train), ("test", on_test)]:
    np.testing.assert_allclose(out[f"{name}_loss"], losses.dae_loss(params, Xs, key, sigma, 0.0, num_noise=num_noise,
                                                                    weights=jnp.array(weights_)), rtol=1e-10)
  np.testing.assert_allclose(out["loss_gap"], out["test_loss"] - out["train_loss"], rtol=1e-12)
  # Distances: numpy f, f_emp on the explicitly duplicated training set, weighted means.
  y = np.asarray(Xs + sigma * losses.sample_noise(key, len(Xs), num_noise, 12, jnp.float64))
  W = np.asarray(params["W"])
  f = np.maximum(y @ W, 0) @ W.T
  for ref, which in [(denoisers.empirical(y, np.repeat(X, mult, axis=0), sigma), "emp"), (gt(y), "gt")]:
    sq = np.sum((f - np.asarray(ref)) ** 2, axis=-1)  # (num_noise, N + m)
    for name, weights_ in [("train", on_train), ("test", on_test)]:
      np.testing.assert_allclose(out[f"{name}_dist_{which}"], np.sum(sq * weights_) / (num_noise * weights_.sum()),
                                 rtol=1e-9)


@pytest.mark.slow
def test_nn_ratio_against_brute_force():
  rng = np.random.default_rng(10)
  X = rng.normal(size=(12, 5)).astype(np.float32)
  X[3] = X[7]  # two present rows at the same point
  w = np.array([1, 0, 2, 1, 1, 0, 1, 1, 3, 0, 1, 1], np.float32)
  outputs = np.concatenate([rng.normal(size=(6, 5)), X[[0, 1, 3]] + 1e-3 * rng.normal(size=(3, 5))]).astype(np.float32)
  got = np.asarray(metrics.nn_ratio(jnp.array(outputs), jnp.array(X), jnp.array(w)))
  present = np.unique(X[w > 0], axis=0)  # equal rows are one sample
  for o, r in zip(outputs, got):
    dist = np.sort(np.linalg.norm(present - o, axis=1))
    np.testing.assert_allclose(r, dist[0] / dist[1], rtol=1e-4, atol=1e-6)
  copies = np.asarray(metrics.is_copy(got))
  assert copies[6] and not copies[7] and copies[8]  # X[1] is absent; X[3] == X[7] is one sample: a copy
  exact = np.asarray(metrics.nn_ratio(jnp.array(X[[3]]), jnp.array(X), jnp.array(w)))
  assert exact[0] == 0.0  # an exact copy of a duplicated row (0/0 = NaN for a row-wise search)
  one_present = jnp.zeros(12).at[0].set(1.0)
  assert np.isnan(np.asarray(metrics.nn_ratio(jnp.array(outputs[:2]), jnp.array(X), one_present))).all()
  assert not np.asarray(metrics.is_copy(jnp.array([jnp.nan]))).any()
  # direction=True: the same brute force on unit vectors; a scaled copy is a copy in direction only
  scaled = np.concatenate([outputs, 0.5 * X[[0]]]).astype(np.float32)
  got = np.asarray(metrics.nn_ratio(jnp.array(scaled), jnp.array(X), jnp.array(w), direction=True))
  unit_present = present / np.linalg.norm(present, axis=1, keepdims=True)
  for o, r in zip(scaled, got):
    dist = np.sort(np.linalg.norm(unit_present - o / np.linalg.norm(o), axis=1))
    np.testing.assert_allclose(r, dist[0] / dist[1], rtol=1e-4, atol=1e-6)
  assert got[-1] < 1e-3 and float(metrics.nn_ratio(jnp.array(scaled[-1:]), jnp.array(X), jnp.array(w))[0]) > 0.1


@pytest.mark.slow
def test_nearest_neighbours_against_brute_force_with_duplicated_rows():
  rng = np.random.default_rng(12)
  X = rng.normal(size=(10, 4)).astype(np.float32)
  X[[2, 5, 8]] = X[1]  # four equal rows
  w = np.array([1, 1, 1, 0, 1, 1, 1, 1, 2, 1], np.float32)
  outputs = np.concatenate([rng.normal(size=(5, 4)), X[[1, 0]], X[[1]] + 0.05]).astype(np.float32)
  nb = metrics.nearest_neighbours(jnp.array(outputs), jnp.array(X), jnp.array(w))
  present = np.flatnonzero(w > 0)
  for j, o in enumerate(outputs):
    dist = np.linalg.norm(X[present] - o, axis=1)
    first = present[np.argmin(dist)]
    other = present[np.any(X[present] != X[first], axis=1)]
    second = other[np.argmin(np.linalg.norm(X[other] - o, axis=1))]
    assert np.array_equal(X[int(nb.i1[j])], X[first]) and int(nb.i2[j]) == second
    np.testing.assert_allclose([nb.d1[j], nb.d2[j]], [np.linalg.norm(X[first] - o), np.linalg.norm(X[second] - o)],
                               rtol=1e-5, atol=1e-6)
  assert float(nb.d1[5]) == 0.0 and float(nb.d2[5]) > 0
  only_dups = np.zeros(10, np.float32)
  only_dups[[1, 2, 5]] = 1.0  # three present rows, one distinct sample: undefined
  nb = metrics.nearest_neighbours(jnp.array(outputs[:2]), jnp.array(X), jnp.array(only_dups))
  assert np.isnan(np.asarray(nb.d2)).all() and (np.asarray(nb.i2) == -1).all()


@pytest.mark.slow
def test_spikiness_summary_skips_all_zero_representations():
  rng = np.random.default_rng(11)
  h = np.maximum(rng.normal(size=(2, 5, 8)), 0).astype(np.float32)
  h[0, 1] = 0.0
  h[1, 4] = 0.0
  out = metrics.spikiness(jnp.array(h))
  assert tuple(out) == metrics.SPIKINESS_KEYS
  rows = h.reshape(-1, 8)
  rows = rows[np.any(rows != 0, axis=1)]
  sq = rows**2
  expected = dict(std=np.std(rows, axis=1), l4_over_l2=np.sum(sq**2, 1) ** 0.25 / np.sqrt(sq.sum(1)),
                  top1_share=sq.max(1) / sq.sum(1), participation_ratio=sq.sum(1) ** 2 / np.sum(sq**2, 1))
  for k, v in expected.items():
    np.testing.assert_allclose(out[k], v.mean(), rtol=1e-5)
  assert all(np.isnan(float(v)) for v in metrics.spikiness(jnp.zeros((3, 4))).values())


def test_regime_codes_on_hand_made_arrays():
  nan = np.nan
  scores = jnp.array([[1.0, 0.5, nan], [0.49, 0.0, 0.1], [1.0, 0.2, 0.9], [nan, nan, nan], [nan, 0.0, nan]])
  assert metrics.regime(scores).tolist() == [metrics.MEMORIZATION, metrics.GENERALIZATION, metrics.HYBRID,
                                             metrics.NO_CLUSTER, metrics.GENERALIZATION]
  assert metrics.regime(scores, threshold=0.4).tolist() == [0, 1, 1, -1, 2]
  assert metrics.regime(scores.reshape(5, 1, 3)).shape == (5, 1)
  assert [metrics.REGIME_NAMES[c] for c in (metrics.MEMORIZATION, metrics.HYBRID, metrics.GENERALIZATION)] == [
      "memorization", "hybrid", "generalization"]


def test_critical_n_on_logistic_curves():
  n = np.logspace(1, 4, 31)  # symmetric in log n around n_c = 10**2.5
  n_c, sharpness = 10**2.5, 3.0
  falling = 1.0 / (1.0 + (n / n_c) ** sharpness)  # memorization score: 1 → 0
  scores = np.stack([falling, 1.0 - falling, 0.2 + 0.5 * falling])  # range-relative level is scale-free
  np.testing.assert_allclose(metrics.critical_n(n, scores), n_c, rtol=1e-10)
  # Level 0.2 of a falling logistic: (n/n_c)^k = 4, up to the log-linear interpolation error.
  np.testing.assert_allclose(metrics.critical_n(n, falling, level=0.2), n_c * 4 ** (1 / sharpness), rtol=0.02)
  with_nan = falling.copy()
  with_nan[[0, 20]] = np.nan
  assert np.isfinite(metrics.critical_n(n, with_nan))
  assert np.isnan(metrics.critical_n(n, np.ones_like(n)))  # flat: never crosses
  assert np.isnan(metrics.critical_n(n, falling, level=1.5, absolute=True))
  np.testing.assert_allclose(metrics.critical_n(n, falling, level=0.5, absolute=True), n_c, rtol=1e-10)
  assert metrics.critical_n(n, np.broadcast_to(falling, (2, 3, len(n)))).shape == (2, 3)


def test_power_law_fit_recovers_exponent():
  rng = np.random.default_rng(12)
  x = np.logspace(1, 3, 12)
  y = 2.5 * x**-0.7 * np.exp(0.05 * rng.normal(size=x.size))
  a, c, half = metrics.power_law_fit(x, y)
  ref = scipy.stats.linregress(np.log(x), np.log(y))
  assert a == pytest.approx(ref.slope) and abs(a + 0.7) < half < 0.1
  assert c == pytest.approx(np.exp(ref.intercept))
  a, c, half = metrics.power_law_fit(np.r_[x, np.nan, 5.0], np.r_[2.5 * x**-0.7, 1.0, np.nan])
  assert (a, c) == (pytest.approx(-0.7), pytest.approx(2.5)) and half == pytest.approx(0.0, abs=1e-9)
  assert np.isnan(metrics.power_law_fit([1.0, 2.0, np.nan], [1.0, 2.0, 3.0])).all()


@pytest.mark.slow
def test_metrics_vmap_over_configurations_equals_loop():
  X, labels, _ = _blobs(n_k=8)
  X, X_test = jnp.array(X, jnp.float32), jnp.array(X[::5] + 0.1, jnp.float32)
  B, (N, d), p = 3, X.shape, 6
  kW, kw = jax.random.split(jax.random.PRNGKey(13))
  Ws = (0.3 * jax.random.normal(kW, (B, d, p))).at[0, :, 4:].set(0.0)  # width sweep by zero columns
  ws = jax.random.randint(kw, (B, N), 0, 3).astype(jnp.float32)
  sigmas, lams, ps = jnp.array([0.2, 0.3, 0.5]), jnp.array([0.0, 1e-3, 1e-4]), jnp.array([1, 2, 3])

  def measure(W, w, sigma, lam, p_k):
    M = metrics.memorization_target(X, w, sigma, lam)
    G = metrics.generalization_target(X, labels, w, 3, sigma, lam, p_k)
    per = metrics.per_cluster_stored(W, X, labels, w, 3, threshold=0.5)
    gt = lambda y: y / (1.0 + sigma**2)
    return dict(stored=metrics.weighted_stored_fraction(W, X, w, 0.5), per=per, regime=metrics.regime(per),
                d_mem=metrics.gram_distance(W, M @ M.T), d_gen=metrics.gram_distance(W, G),
                nn=metrics.nn_ratio(X_test, X, w), spiky=metrics.spikiness(jax.nn.relu(X @ W)),
                gaps=metrics.denoising_gaps({"W": W}, X, w, jax.random.PRNGKey(14), sigma, gt, X_test, num_noise=2))

  batched = jax.jit(jax.vmap(measure))(Ws, ws, sigmas, lams, ps)
  single = jax.jit(measure)
  for b in range(B):
    jax.tree_util.tree_map(lambda x, y, b=b: np.testing.assert_allclose(x[b], y, rtol=2e-4, atol=1e-6),
                           batched, single(Ws[b], ws[b], sigmas[b], lams[b], ps[b]))


@pytest.mark.parametrize("call, match", [
    (lambda X, W, lab: metrics.weighted_stored_fraction(W, X, jnp.ones(3)), "w must have shape"),
    (lambda X, W, lab: metrics.weighted_stored_fraction(W, X, -jnp.ones(len(X))), "w must be finite"),
    (lambda X, W, lab: metrics.weighted_stored_fraction(W[:3], X, jnp.ones(len(X))), "X must have 3 columns"),
    (lambda X, W, lab: metrics.per_cluster_stored(W, X, lab, jnp.ones(len(X)), 2), "labels must be integers"),
    (lambda X, W, lab: metrics.per_cluster_stored(W, X, lab, jnp.ones(len(X)), 3.0), "num_clusters"),
    (lambda X, W, lab: metrics.memorization_target(X, jnp.ones(len(X)), -1.0, 0.0), "sigma"),
    (lambda X, W, lab: metrics.generalization_target(X, lab, jnp.ones(len(X)), 3, 0.1, 0.0, jnp.array([1, 2])),
     "p_per_cluster"),
    (lambda X, W, lab: metrics.gram_distance(W, jnp.eye(3)), "target_gram"),
    (lambda X, W, lab: metrics.weighted_empirical(jnp.ones(3), X, jnp.ones(len(X)), 0.1), "y must have"),
    (lambda X, W, lab: metrics.weighted_empirical(X, X, jnp.ones(len(X)), 0.0), "sigma"),
    (lambda X, W, lab: metrics.nn_ratio(X, X[:1], jnp.ones(1)), "at least 2 rows"),
    (lambda X, W, lab: metrics.denoising_gaps({"W": W}, X, jnp.ones(len(X)), jax.random.PRNGKey(0), 0.1,
                                              lambda y: y, X[:, :3]), "X_test"),
    (lambda X, W, lab: metrics.regime(jnp.array([0.5, 1.5])), "per_cluster_memorized"),
    (lambda X, W, lab: metrics.critical_n([10, 5, 20], np.ones(3)), "n_values"),
    (lambda X, W, lab: metrics.critical_n([1, 2, 3], np.ones(4)), "scores"),
    (lambda X, W, lab: metrics.critical_n([1, 2, 3], np.ones(3), level=2.0), "level"),
    (lambda X, W, lab: metrics.power_law_fit([1, 2, 3], [1, 2]), "x and y"),
])
def test_weighted_metrics_reject_bad_inputs(call, match):
  X = jnp.array(np.random.default_rng(15).normal(size=(6, 4)), jnp.float32)
  W, labels = jnp.ones((4, 2)), jnp.array([0, 0, 1, 1, 2, 2])
  with pytest.raises(ValueError, match=match):
    call(X, W, labels)


def test_stored_fractions_of_failed_runs_are_nan_and_thresholds_are_cosines():
  X = jnp.eye(3)
  bad = jnp.full((3, 2), jnp.nan)
  assert np.isnan(float(metrics.stored_fraction(bad, X)))
  assert np.isnan(float(metrics.weighted_stored_fraction(bad, X, jnp.ones(3))))
  assert float(metrics.stored_fraction(jnp.eye(3), X)) == 1.0  # the sound case is untouched
  for threshold in (2.0, -1.5):
    with pytest.raises(ValueError, match="threshold"):
      metrics.stored_fraction(jnp.eye(3), X, threshold)
