"""detection: AUROC / TPR@1%FPR against scikit-learn and brute force, bootstrap intervals,
score orientation, and analytic memorizing vs generalizing minima."""

import numpy as np
import jax
import jax.numpy as jnp
import pytest
import sklearn.metrics

from relu_dae import data
from relu_dae import detection
from relu_dae import minima


def brute_force_tpr(pos, neg, level):
  """max over thresholds t of TPR(t) subject to FPR(t) <= level (classify s >= t as positive)."""
  best = 0.0
  for t in np.concatenate([pos, neg, [np.inf]]):
    if np.mean(neg >= t) <= level:
      best = max(best, np.mean(pos >= t))
  return best


def test_perfect_separation_gives_auroc_one_and_tpr_one():
  r = detection.evaluate(np.arange(10.0) + 100, np.arange(50.0))
  assert r.auroc == 1.0 and r.tpr_at_1pct_fpr == 1.0


def test_identical_distributions_give_auroc_one_half():
  rng = np.random.default_rng(0)
  # AUROC of two independent samples of 2000 from one law: std sqrt((n+n+1)/(12 n n)) ≈ 0.0065.
  r = detection.evaluate(rng.normal(size=2000), rng.normal(size=2000))
  assert abs(r.auroc - 0.5) < 0.03


@pytest.mark.parametrize("n_neg", [100, 200, 300])
def test_tpr_at_1pct_fpr_matches_brute_force(n_neg):
  rng = np.random.default_rng(n_neg)
  pos, neg = rng.normal(1.0, 1.0, 40), rng.normal(0.0, 1.0, n_neg)
  r = detection.evaluate(pos, neg)
  assert r.tpr_at_1pct_fpr == pytest.approx(brute_force_tpr(pos, neg, 0.01))
  y = np.r_[np.ones(40), np.zeros(n_neg)]
  assert r.auroc == pytest.approx(sklearn.metrics.roc_auc_score(y, np.r_[pos, neg]))


def test_tpr_interpolates_tied_scores():
  # 50 negatives; one ties with a positive, so the ROC steps diagonally (0, 0.5) -> (0.02, 0.75).
  neg = np.r_[2.0, np.arange(49.0) - 100]
  pos = np.array([1.0, 2.0, 3.0, 4.0])
  r = detection.evaluate(pos, neg)
  assert brute_force_tpr(pos, neg, 0.01) == 0.5
  assert r.tpr_at_1pct_fpr == pytest.approx(0.625)  # halfway along the diagonal segment


@pytest.mark.slow
def test_bootstrap_contains_estimate_and_shrinks_with_samples():
  rng = np.random.default_rng(1)
  widths = []
  for n in (30, 600):
    pos, neg = rng.normal(1.0, 1.0, n), rng.normal(0.0, 1.0, n)
    est = detection.evaluate(pos, neg)
    ci = detection.bootstrap_ci(jax.random.PRNGKey(0), pos, neg, num=300)
    assert ci.auroc[0] <= est.auroc <= ci.auroc[1]
    assert ci.tpr_at_1pct_fpr[0] <= est.tpr_at_1pct_fpr <= ci.tpr_at_1pct_fpr[1]
    widths.append(ci.auroc[1] - ci.auroc[0])
  assert widths[1] < widths[0] / 2  # width ∝ 1/sqrt(n): expect ~ /4.5


def test_bootstrap_is_reproducible_from_seed():
  a = detection.bootstrap_ci(3, [1.0, 2.0, 0.5], [0.0, 1.5], num=20)
  assert a == detection.bootstrap_ci(3, [1.0, 2.0, 0.5], [0.0, 1.5], num=20)


def test_scores_are_oriented_higher_is_spikier():
  one_hot, flat = jnp.array([1.0, 0.0, 0.0, 0.0]), jnp.ones(4) / 2
  for name, fn in detection.SCORES.items():
    assert fn(one_hot) > fn(flat), name
  assert float(detection.SCORES["participation_ratio"](one_hot)) == -1.0


@pytest.mark.slow
def test_scores_shapes_and_noise_average(key):
  params = {"W": jax.random.normal(key, (8, 12))}
  x = jax.random.normal(jax.random.PRNGKey(1), (5, 8))
  s = detection.scores(params, x, 0.2, key, num_noise=3)
  assert set(s) == set(detection.SCORES) and all(v.shape == (5,) for v in s.values())
  clean = detection.scores(params, x, 0.0, key, names=["std"])
  np.testing.assert_allclose(clean["std"], jnp.std(jax.nn.relu(x @ params["W"]), axis=-1), rtol=1e-6)


@pytest.mark.slow
def test_memorizing_minimum_has_higher_top1_share_than_generalizing(key):
  sigma = 0.1
  X_mem = data.locally_sparse(key, n=8, d=16)
  W_mem = minima.memorization(X_mem, sigma, 0.0, p=8)
  X_gen, labels, _ = data.separable_mixture(key, d=16, K=2, n_per_cluster=100, alpha=0.3, beta=-0.5,
                                            decay=0.7)
  W_gen = minima.generalization(X_gen, labels, sigma, 0.0, p_per_cluster=4)
  s_mem = detection.scores({"W": W_mem}, X_mem, sigma, key, names=["top1_share"])["top1_share"]
  s_gen = detection.scores({"W": W_gen}, X_gen, sigma, key, names=["top1_share"])["top1_share"]
  assert float(jnp.mean(s_mem)) > 0.9 > 0.6 > float(jnp.mean(s_gen))
  assert detection.evaluate(s_mem, s_gen).auroc > 0.95


@pytest.mark.parametrize("kwargs, match", [
    (dict(scores_pos=[], scores_neg=[1.0]), "scores_pos"),
    (dict(scores_pos=[1.0], scores_neg=[]), "scores_neg"),
    (dict(scores_pos=[1.0], scores_neg=[np.nan]), "scores_neg"),
    (dict(scores_pos=[[1.0]], scores_neg=[1.0]), "scores_pos"),
])
def test_evaluate_rejects_bad_scores(kwargs, match):
  with pytest.raises(ValueError, match=match):
    detection.evaluate(**kwargs)


def test_bad_arguments_raise(key):
  params = {"W": jnp.ones((3, 2))}
  with pytest.raises(ValueError, match="sigma"):
    detection.scores(params, jnp.ones((2, 3)), -1.0, key)
  with pytest.raises(ValueError, match="names"):
    detection.scores(params, jnp.ones((2, 3)), 0.1, key, names=["kurtosis"])
  with pytest.raises(ValueError, match="num_noise"):
    detection.scores(params, jnp.ones((2, 3)), 0.1, key, num_noise=0)
  with pytest.raises(ValueError, match="level"):
    detection.bootstrap_ci(0, [1.0], [0.0], level=1.5)
  with pytest.raises(ValueError, match="seed"):
    detection.bootstrap_ci(-1, [1.0], [0.0])


@pytest.mark.slow
def test_scores_and_steering_vector_accept_diffusion_params_with_its_encoder():
  from relu_dae import diffusion, steering
  params = diffusion.init(jax.random.PRNGKey(0), d=6, p=4)
  x = jax.random.normal(jax.random.PRNGKey(1), (5, 6))
  key = jax.random.PRNGKey(2)
  got = detection.scores(params, x, 0.1, key, represent=diffusion.represent)
  ref = detection.scores({"W": params["W"]}, x, 0.1, key)  # the diffusion encoder is [Wᵀy]₊
  for name in ref:
    np.testing.assert_allclose(np.asarray(got[name]), np.asarray(ref[name]), rtol=1e-6)
  v = steering.steering_vector(params, x, 0.1, key, represent=diffusion.represent)
  np.testing.assert_allclose(np.asarray(v), np.asarray(steering.steering_vector({"W": params["W"]}, x, 0.1, key)),
                             rtol=1e-6)
  with pytest.raises(ValueError, match="params"):  # the default encoder still checks
    detection.scores(params, x, 0.1, key)
