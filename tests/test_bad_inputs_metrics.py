"""Bad inputs to relu_dae.metrics raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import metrics as m
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
X = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])  # (N=4, d=3)
W = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # (d=3, p=2)
w = jnp.ones(4)
LAB = jnp.array([0, 0, 1, 1])
H = jnp.array([[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]])
NAN_X = X.at[0, 0].set(jnp.nan)
EVALS, EVECS, N_K = m.cluster_spectra(X, LAB, w, 2)
S = jnp.array([[1.0, 0.2], [0.0, jnp.nan]])
N = [10, 100, 1000]

gaps = lambda **kw: m.denoising_gaps(**{**dict(params={"W": W}, X=X, w=w, key=KEY, sigma=0.3,
                                                 gt_denoiser=lambda y: y, X_test=X[:2]), **kw})
gen_t = lambda **kw: m.generalization_target(**{**dict(X=X, labels=LAB, w=w, num_clusters=2, sigma=0.3,
                                                        lam=0.0, p_per_cluster=1), **kw})
gen_g = lambda **kw: m.generalization_gram(**{**dict(evals=EVALS, evecs=EVECS, n_k=N_K, sigma=0.3, lam=0.0,
                                                      p_per_cluster=1), **kw})
per_c = lambda **kw: m.per_cluster_stored(**{**dict(W=W, X=X, labels=LAB, w=w, num_clusters=2), **kw})

CASES = [
    case(m.column_cosines, TypeError, r"\bW\b", lambda: m.column_cosines("W", X)),
    case(m.column_cosines, ValueError, r"\bW\b", lambda: m.column_cosines(jnp.ones(3), X)),
    case(m.column_cosines, ValueError, r"\bX\b", lambda: m.column_cosines(W, X[:, :2])),
    case(m.column_cosines, ValueError, r"\bX\b", lambda: m.column_cosines(W, NAN_X)),
    case(m.column_cosines, TypeError, r"\bW\b", lambda: m.column_cosines(W * 1j, X)),
    case(m.best_column_cosine, TypeError, r"\bW\b", lambda: m.best_column_cosine(None, X)),
    case(m.best_column_cosine, ValueError, r"\bX\b", lambda: m.best_column_cosine(W, X[0])),
    case(m.best_column_cosine, ValueError, r"\bW\b", lambda: m.best_column_cosine(jnp.ones((3, 0)), X)),
    case(m.best_column_cosine, ValueError, r"\bX\b", lambda: m.best_column_cosine(W, jnp.ones((0, 3)))),
    case(m.best_column_cosine, ValueError, r"\bX\b", lambda: m.best_column_cosine(W, X * 1e20)),
    case(m.stored_fraction, ValueError, "threshold", lambda: m.stored_fraction(W, X, threshold=2)),
    case(m.stored_fraction, TypeError, "threshold", lambda: m.stored_fraction(W, X, threshold="0.9")),
    case(m.stored_fraction, ValueError, r"\bX\b", lambda: m.stored_fraction(W, X[:, :2])),
    case(m.stored_fraction, ValueError, r"\bW\b", lambda: m.stored_fraction(W[None], X)),
    case(m.stored_fraction, ValueError, r"\bX\b", lambda: m.stored_fraction(W, NAN_X)),
    case(m.match_columns, ValueError, "W_ref", lambda: m.match_columns(W, jnp.ones((4, 2)))),
    case(m.match_columns, ValueError, r"\bW\b", lambda: m.match_columns(W, jnp.ones((3, 3)))),
    case(m.match_columns, TypeError, r"\bW\b", lambda: m.match_columns("W", W)),
    case(m.match_columns, ValueError, "W_ref", lambda: m.match_columns(W, W.at[0, 0].set(jnp.inf))),
    case(m.gram_distance, ValueError, "target_gram", lambda: m.gram_distance(W, jnp.eye(2))),
    case(m.gram_distance, ValueError, r"\bW\b", lambda: m.gram_distance(jnp.ones(3), jnp.eye(3))),
    case(m.gram_distance, TypeError, "target_gram", lambda: m.gram_distance(W, "eye")),
    case(m.gram_distance, ValueError, "target_gram", lambda: m.gram_distance(W, jnp.zeros((3, 3)))),
    case(m.gram_distance, ValueError, "target_gram", lambda: m.gram_distance(W, jnp.full((3, 3), jnp.nan))),
    case(m.projector_error, ValueError, "W_ref", lambda: m.projector_error(W, jnp.ones(3))),
    case(m.projector_error, ValueError, "W_ref", lambda: m.projector_error(W, jnp.ones((4, 2)))),
    case(m.projector_error, ValueError, "W_ref", lambda: m.projector_error(W, jnp.zeros((3, 2)))),
    case(m.projector_error, TypeError, "W_ref", lambda: m.projector_error(W, None)),
    case(m.unit_allocation, TypeError, "params", lambda: m.unit_allocation(None, X, LAB)),
    case(m.unit_allocation, ValueError, "labels", lambda: m.unit_allocation({"W": W}, X, LAB[:3])),
    case(m.unit_allocation, ValueError, r"\bX\b", lambda: m.unit_allocation({"W": W}, X[:, :2], LAB)),
    case(m.unit_allocation, ValueError, "labels", lambda: m.unit_allocation({"W": W}, X, [0, 0.5, 1, 1])),
    case(m.unit_allocation, ValueError, "params", lambda: m.unit_allocation({"W": W * jnp.nan}, X, LAB)),
    case(m.unit_allocation, TypeError, "labels", lambda: m.unit_allocation({"W": W}, X, ["a", "a", "b", "b"])),
    case(m.representation_std, TypeError, r"\bh\b", lambda: m.representation_std("h")),
    case(m.representation_std, ValueError, r"\bh\b", lambda: m.representation_std(jnp.float32(1.0))),
    case(m.representation_std, ValueError, r"\bh\b", lambda: m.representation_std(H.at[0, 0].set(jnp.nan))),
    case(m.l4_over_l2, TypeError, r"\bh\b", lambda: m.l4_over_l2(H * 1j)),
    case(m.l4_over_l2, ValueError, r"\bh\b", lambda: m.l4_over_l2(jnp.ones((2, 0)))),
    case(m.l4_over_l2, ValueError, r"\bh\b", lambda: m.l4_over_l2(H * 1e20)),
    case(m.top1_share, TypeError, r"\bh\b", lambda: m.top1_share(None)),
    case(m.top1_share, ValueError, r"\bh\b", lambda: m.top1_share(H.at[1, 1].set(jnp.inf))),
    case(m.top1_share, ValueError, r"\bh\b", lambda: m.top1_share(jnp.zeros((0,)))),
    case(m.participation_ratio, TypeError, r"\bh\b", lambda: m.participation_ratio({"h": H})),
    case(m.participation_ratio, ValueError, r"\bh\b", lambda: m.participation_ratio(3.0)),
    case(m.participation_ratio, ValueError, r"\bh\b", lambda: m.participation_ratio(H * jnp.nan)),
    case(m.procrustes_align, ValueError, r"W_ref and W", lambda: m.procrustes_align(W, W[:, :1])),
    case(m.procrustes_align, TypeError, "W_ref", lambda: m.procrustes_align("W", W)),
    case(m.procrustes_align, ValueError, r"\bW\b", lambda: m.procrustes_align(W, W * jnp.nan)),
    case(m.procrustes_align, ValueError, "W_ref", lambda: m.procrustes_align(jnp.ones(3), W)),
    case(m.stored_samples, ValueError, r"\bw\b", lambda: m.stored_samples(W, X, jnp.ones(3))),
    case(m.stored_samples, ValueError, r"\bw\b", lambda: m.stored_samples(W, X, -w)),
    case(m.stored_samples, ValueError, "threshold", lambda: m.stored_samples(W, X, w, 1.5)),
    case(m.stored_samples, TypeError, "relative", lambda: m.stored_samples(W, X, w, relative="no")),
    case(m.stored_samples, ValueError, r"\bW\b", lambda: m.stored_samples(W * jnp.nan, X, w)),
    case(m.stored_samples, ValueError, r"\bX\b", lambda: m.stored_samples(W, X[:, :2], w)),
    case(m.weighted_stored_fraction, ValueError, r"\bw\b", lambda: m.weighted_stored_fraction(W, X, w[:3])),
    case(m.weighted_stored_fraction, TypeError, "threshold",
         lambda: m.weighted_stored_fraction(W, X, w, threshold=None)),
    case(m.weighted_stored_fraction, TypeError, "relative", lambda: m.weighted_stored_fraction(W, X, w, relative=1)),
    case(m.weighted_stored_fraction, ValueError, r"\bX\b", lambda: m.weighted_stored_fraction(W, X[0], w)),
    case(m.weighted_stored_fraction, ValueError, r"\bw\b", lambda: m.weighted_stored_fraction(W, X, w * jnp.nan)),
    case(m.weighted_stored_fraction, TypeError, r"\bw\b", lambda: m.weighted_stored_fraction(W, X, "ones")),
    case(m.per_cluster_stored, ValueError, "labels", lambda: per_c(labels=LAB[:3])),
    case(m.per_cluster_stored, ValueError, "labels", lambda: per_c(labels=jnp.array([0, 0, 1, 2]))),
    case(m.per_cluster_stored, ValueError, "num_clusters", lambda: per_c(num_clusters=0)),
    case(m.per_cluster_stored, TypeError, "num_clusters", lambda: per_c(num_clusters="2")),
    case(m.per_cluster_stored, ValueError, "labels", lambda: per_c(labels=jnp.array([0.0, 0.0, 1.0, 1.0]))),
    case(m.per_cluster_stored, ValueError, r"\bw\b", lambda: per_c(w=-w)),
    case(m.memorization_target, ValueError, "sigma", lambda: m.memorization_target(X, w, -1.0, 0.0)),
    case(m.memorization_target, TypeError, "sigma", lambda: m.memorization_target(X, w, "0.1", 0.0)),
    case(m.memorization_target, ValueError, "lam", lambda: m.memorization_target(X, w, 0.1, float("nan"))),
    case(m.memorization_target, ValueError, r"\bw\b", lambda: m.memorization_target(X, w[:2], 0.1, 0.0)),
    case(m.memorization_target, ValueError, r"\bX\b", lambda: m.memorization_target(X[0], w, 0.1, 0.0)),
    case(m.memorization_target, ValueError, "sigma", lambda: m.memorization_target(X, w, jnp.ones(2), 0.0)),
    case(m.generalization_target, ValueError, "p_per_cluster", lambda: gen_t(p_per_cluster=-1)),
    case(m.generalization_target, ValueError, "p_per_cluster", lambda: gen_t(p_per_cluster=1.5)),
    case(m.generalization_target, ValueError, "p_per_cluster", lambda: gen_t(p_per_cluster=jnp.array([1, 1, 1]))),
    case(m.generalization_target, TypeError, "sigma", lambda: gen_t(sigma="x")),
    case(m.generalization_target, ValueError, "labels", lambda: gen_t(labels=jnp.array([0, 0, 1, 5]))),
    case(m.generalization_target, ValueError, "lam", lambda: gen_t(lam=-1.0)),
    case(m.cluster_spectra, ValueError, "labels", lambda: m.cluster_spectra(X, LAB[:2], w, 2)),
    case(m.cluster_spectra, ValueError, "num_clusters", lambda: m.cluster_spectra(X, LAB, w, 2.5)),
    case(m.cluster_spectra, ValueError, r"\bw\b", lambda: m.cluster_spectra(X, LAB, -w, 2)),
    case(m.cluster_spectra, TypeError, r"\bX\b", lambda: m.cluster_spectra("X", LAB, w, 2)),
    case(m.cluster_spectra, TypeError, "labels", lambda: m.cluster_spectra(X, None, w, 2)),
    case(m.generalization_gram, ValueError, "evecs", lambda: gen_g(evecs=EVECS[:, :2])),
    case(m.generalization_gram, ValueError, "n_k", lambda: gen_g(n_k=N_K[:1])),
    case(m.generalization_gram, ValueError, "evals", lambda: gen_g(evals=EVALS[0])),
    case(m.generalization_gram, ValueError, "sigma", lambda: gen_g(sigma=-1.0)),
    case(m.generalization_gram, ValueError, "p_per_cluster", lambda: gen_g(p_per_cluster=-1)),
    case(m.generalization_gram, ValueError, "n_k", lambda: gen_g(n_k=-N_K)),
    case(m.weighted_empirical, ValueError, "sigma", lambda: m.weighted_empirical(X, X, w, 0.0)),
    case(m.weighted_empirical, TypeError, r"\bw\b", lambda: m.weighted_empirical(X, X, None, 0.1)),
    case(m.weighted_empirical, ValueError, r"\by\b", lambda: m.weighted_empirical(jnp.ones(2), X, w, 0.1)),
    case(m.weighted_empirical, TypeError, r"\by\b", lambda: m.weighted_empirical("y", X, w, 0.1)),
    case(m.weighted_empirical, ValueError, r"\bw\b", lambda: m.weighted_empirical(X, X, w[:3], 0.1)),
    case(m.weighted_empirical, ValueError, r"\by\b", lambda: m.weighted_empirical(NAN_X, X, w, 0.1)),
    case(m.denoising_gaps, ValueError, r"\bkey\b", lambda: gaps(key=0)),
    case(m.denoising_gaps, TypeError, "gt_denoiser", lambda: gaps(gt_denoiser=None)),
    case(m.denoising_gaps, ValueError, "num_noise", lambda: gaps(num_noise=0)),
    case(m.denoising_gaps, ValueError, "X_test", lambda: gaps(X_test=X[:, :2])),
    case(m.denoising_gaps, ValueError, r"\bw\b", lambda: gaps(w=jnp.zeros(4))),
    case(m.denoising_gaps, ValueError, "sigma", lambda: gaps(sigma=-0.1)),
    case(m.denoising_gaps, TypeError, "params", lambda: gaps(params=W)),
    case(m.denoising_gaps, ValueError, "gt_denoiser", lambda: gaps(gt_denoiser=lambda y: y[..., :2])),
    case(m.nearest_neighbours, ValueError, "outputs", lambda: m.nearest_neighbours(jnp.ones((2, 2)), X, w)),
    case(m.nearest_neighbours, ValueError, r"\bX\b", lambda: m.nearest_neighbours(X, X[:1], w[:1])),
    case(m.nearest_neighbours, TypeError, "direction", lambda: m.nearest_neighbours(X, X, w, direction=1)),
    case(m.nearest_neighbours, ValueError, r"\bw\b", lambda: m.nearest_neighbours(X, X, -w)),
    case(m.nn_ratio, ValueError, "outputs", lambda: m.nn_ratio(jnp.ones((2, 2)), X, w)),
    case(m.nn_ratio, ValueError, r"\bX\b", lambda: m.nn_ratio(X, X[:1], w[:1])),
    case(m.nn_ratio, TypeError, "outputs", lambda: m.nn_ratio("x", X, w)),
    case(m.nn_ratio, TypeError, "direction", lambda: m.nn_ratio(X, X, w, direction="yes")),
    case(m.nn_ratio, ValueError, r"\bw\b", lambda: m.nn_ratio(X, X, w[:3])),
    case(m.nn_ratio, ValueError, "outputs", lambda: m.nn_ratio(NAN_X, X, w)),
    case(m.is_copy, TypeError, "ratio", lambda: m.is_copy("0.2")),
    case(m.is_copy, TypeError, "ratio", lambda: m.is_copy(jnp.array([0.1j]))),
    case(m.is_copy, ValueError, "threshold", lambda: m.is_copy(jnp.array([0.1]), threshold=1.5)),
    case(m.is_copy, TypeError, "threshold", lambda: m.is_copy(jnp.array([0.1]), threshold="1/3")),
    case(m.is_copy, ValueError, "ratio", lambda: m.is_copy(jnp.array([-0.5, 0.1]))),
    case(m.spikiness, ValueError, r"\bh\b", lambda: m.spikiness(jnp.float32(2.0))),
    case(m.spikiness, TypeError, r"\bh\b", lambda: m.spikiness("h")),
    case(m.spikiness, ValueError, r"\bh\b", lambda: m.spikiness(H * jnp.nan)),
    case(m.spikiness, ValueError, r"\bh\b", lambda: m.spikiness(jnp.ones((2, 0)))),
    case(m.regime, ValueError, "per_cluster_memorized", lambda: m.regime(jnp.array([0.5, 1.5]))),
    case(m.regime, TypeError, "per_cluster_memorized", lambda: m.regime("memorized")),
    case(m.regime, ValueError, "per_cluster_memorized", lambda: m.regime(jnp.float32(0.5))),
    case(m.regime, ValueError, "threshold", lambda: m.regime(S, threshold=2.0)),
    case(m.regime, TypeError, "threshold", lambda: m.regime(S, threshold=None)),
    case(m.regime, TypeError, "per_cluster_memorized", lambda: m.regime(S * 1j)),
    case(m.critical_n, ValueError, "n_values", lambda: m.critical_n([10, 5, 20], np.ones(3))),
    case(m.critical_n, TypeError, "n_values", lambda: m.critical_n("10, 100", np.ones(2))),
    case(m.critical_n, ValueError, "scores", lambda: m.critical_n(N, np.ones(4))),
    case(m.critical_n, ValueError, "scores", lambda: m.critical_n(N, [1.0, np.inf, 0.0])),
    case(m.critical_n, ValueError, "level", lambda: m.critical_n(N, [1.0, 0.5, 0.0], level=2.0)),
    case(m.critical_n, TypeError, "level", lambda: m.critical_n(N, [1.0, 0.5, 0.0], level="0.5")),
    case(m.critical_n, TypeError, "absolute", lambda: m.critical_n(N, [1.0, 0.5, 0.0], absolute="yes")),
    case(m.critical_n, TypeError, "scores", lambda: m.critical_n(N, np.array([1.0, 0.5, 0.0]) * 1j)),
    case(m.critical_n, ValueError, "n_values", lambda: m.critical_n([10], [1.0])),
    case(m.power_law_fit, TypeError, r"\bx\b", lambda: m.power_law_fit("1 2 3", [1, 2, 3])),
    case(m.power_law_fit, TypeError, r"\by\b", lambda: m.power_law_fit([1, 2, 3], np.array([1, 2, 3]) * 1j)),
    case(m.power_law_fit, ValueError, "x and y", lambda: m.power_law_fit([1, 2, 3], [1, 2])),
    case(m.power_law_fit, TypeError, r"\bx\b", lambda: m.power_law_fit({"x": 1}, [1, 2, 3])),
    case(m.power_law_fit, ValueError, r"\by\b", lambda: m.power_law_fit([1, 2, 3], [[1, 2], [3]])),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(m, CASES, exempt={})
