"""Bad inputs to relu_dae.data raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import data
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
MEANS = jnp.eye(2, 3)
SPEC = data.mixture_spec(MEANS)
X = jnp.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0], [-0.9, -0.1]])
LABELS = np.array([0, 0, 1, 1])
spec = lambda **kw: data.mixture_spec(**{**dict(means=MEANS), **kw})
sep = lambda **kw: data.separable_mixture(**{**dict(key=KEY, d=4, K=2, n_per_cluster=3, alpha=0.1, beta=-0.5), **kw})
arrays = lambda **kw: data.separable_mixture_arrays(**{**dict(key=KEY, d=4, counts=(3, 3), alpha=0.1, beta=-0.5,
                                                              rank=2), **kw})
simplex = lambda **kw: data.simplex_means(**{**dict(K=3, d=4), **kw})
sparse = lambda **kw: data.locally_sparse(**{**dict(key=KEY, n=3, d=4), **kw})

CASES = [
    case(data.mixture_spec, ValueError, "means", lambda: spec(means=jnp.ones(3))),
    case(data.mixture_spec, ValueError, "means", lambda: spec(means=MEANS * 1e20)),
    case(data.mixture_spec, TypeError, "means", lambda: spec(means=MEANS * 1j)),
    case(data.mixture_spec, ValueError, "cov_factors", lambda: spec(cov_factors=jnp.ones((2, 2, 1)))),
    case(data.mixture_spec, TypeError, "cov_factors", lambda: spec(cov_factors="diag")),
    case(data.mixture_spec, ValueError, "cov_factors", lambda: spec(cov_factors=jnp.full((2, 3, 1), jnp.nan))),
    case(data.mixture_spec, ValueError, "weights", lambda: spec(weights=jnp.zeros(2))),
    case(data.mixture_spec, ValueError, "weights", lambda: spec(weights=jnp.ones(3))),
    case(data.mixture_spec, TypeError, "weights", lambda: spec(weights={"a": 1.0})),
    case(data.sample_mixture, TypeError, "spec", lambda: data.sample_mixture(KEY, MEANS, 4)),
    case(data.sample_mixture, ValueError, r"\bn\b", lambda: data.sample_mixture(KEY, SPEC, 0)),
    case(data.sample_mixture, ValueError, r"\bn\b", lambda: data.sample_mixture(KEY, SPEC, 4.0)),
    case(data.sample_mixture, ValueError, "key", lambda: data.sample_mixture(0, SPEC, 4)),
    case(data.sample_mixture_counts, ValueError, "counts", lambda: data.sample_mixture_counts(KEY, SPEC, [2, 2, 2])),
    case(data.sample_mixture_counts, ValueError, "counts", lambda: data.sample_mixture_counts(KEY, SPEC, [2, -1])),
    case(data.sample_mixture_counts, TypeError, "counts", lambda: data.sample_mixture_counts(KEY, SPEC, 4)),
    case(data.sample_mixture_counts, TypeError, "spec", lambda: data.sample_mixture_counts(KEY, None, [2, 2])),
    case(data.random_orthogonal, ValueError, r"\br\b", lambda: data.random_orthogonal(KEY, 3, 5)),
    case(data.random_orthogonal, ValueError, r"\bd\b", lambda: data.random_orthogonal(KEY, 0)),
    case(data.random_orthogonal, TypeError, r"\bd\b", lambda: data.random_orthogonal(KEY, "3")),
    case(data.random_orthogonal, TypeError, "key", lambda: data.random_orthogonal(None, 3)),
    case(data.simplex_means, ValueError, r"d must be >= K", lambda: simplex(d=2)),
    case(data.simplex_means, ValueError, "beta", lambda: simplex(beta=-0.9)),
    case(data.simplex_means, ValueError, "beta", lambda: simplex(beta=1.0)),
    case(data.simplex_means, TypeError, "beta", lambda: simplex(beta="-0.5")),
    case(data.simplex_means, ValueError, "norm", lambda: simplex(norm=0.0)),
    case(data.simplex_means, ValueError, r"\bK\b", lambda: simplex(K=0)),
    case(data.separable_mixture, ValueError, "alpha", lambda: sep(alpha=-0.1)),
    case(data.separable_mixture, TypeError, "alpha", lambda: sep(alpha="0.1")),
    case(data.separable_mixture, ValueError, "n_per_cluster", lambda: sep(n_per_cluster=[3, 3, 3])),
    case(data.separable_mixture, TypeError, "n_per_cluster", lambda: sep(n_per_cluster="3")),
    case(data.separable_mixture, ValueError, "rank", lambda: sep(rank=5)),
    case(data.separable_mixture, ValueError, "decay", lambda: sep(decay=0.0)),
    case(data.separable_mixture, TypeError, "beta", lambda: sep(beta=None)),
    case(data.separable_mixture, ValueError, "norm", lambda: sep(norm=-1.0)),
    case(data.separable_mixture_arrays, ValueError, "counts", lambda: arrays(counts=(3, 0))),
    case(data.separable_mixture_arrays, TypeError, "counts", lambda: arrays(counts=6)),
    case(data.separable_mixture_arrays, ValueError, "alpha", lambda: arrays(alpha=jnp.ones(3))),
    case(data.separable_mixture_arrays, ValueError, "alpha", lambda: arrays(alpha=jnp.array([0.1, jnp.nan]))),
    case(data.separable_mixture_arrays, ValueError, "rank", lambda: arrays(rank=5)),
    case(data.separable_mixture_arrays, TypeError, "key", lambda: arrays(key="key")),
    case(data.locally_sparse, ValueError, r"\bd\b.*\bn\b", lambda: sparse(n=20, d=4)),
    case(data.locally_sparse, ValueError, r"\bn\b", lambda: sparse(n=0)),
    case(data.locally_sparse, ValueError, "beta", lambda: sparse(beta=-0.9)),
    case(data.locally_sparse, ValueError, "norm", lambda: sparse(norm=float("inf"))),
    case(data.locally_sparse, TypeError, r"\bd\b", lambda: sparse(d=None)),
    case(data.separability, ValueError, "labels", lambda: data.separability(X, LABELS[:3])),
    case(data.separability, TypeError, "labels", lambda: data.separability(X, None)),
    case(data.separability, ValueError, "labels", lambda: data.separability(X, LABELS + 0.5)),
    case(data.separability, ValueError, r"\bX\b", lambda: data.separability(X * 1e20, LABELS)),
    case(data.separability, TypeError, r"\bX\b", lambda: data.separability(X * 1j, LABELS)),
    case(data.separability, ValueError, r"zero mean", lambda: data.separability(X, np.zeros(4))),
    case(data.load_digits, TypeError, "center", lambda: data.load_digits(center="yes")),
    case(data.load_digits, TypeError, "center", lambda: data.load_digits(center=None)),
    case(data.load_digits, TypeError, "center", lambda: data.load_digits(center=1)),
    case(data.negatively_correlated_subset, ValueError, r"\bm\b", lambda: data.negatively_correlated_subset(X, 5)),
    case(data.negatively_correlated_subset, ValueError, r"\bm\b", lambda: data.negatively_correlated_subset(X, 0)),
    case(data.negatively_correlated_subset, ValueError, r"\bX\b",
         lambda: data.negatively_correlated_subset(X.at[1].set(0.0), 2)),
    case(data.negatively_correlated_subset, ValueError, r"\bX\b",
         lambda: data.negatively_correlated_subset(X.at[0, 0].set(jnp.inf), 2)),
    case(data.negatively_correlated_subset, TypeError, r"\bX\b", lambda: data.negatively_correlated_subset("X", 2)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(data, CASES, exempt={"MixtureSpec": "a NamedTuple of arrays built by mixture_spec()",
                                      "SeparableSpec": "a NamedTuple result of separable_mixture()"})


def test_checks_stay_traceable():
  draw = jax.jit(lambda a, b, s: data.separable_mixture_arrays(KEY, d=4, counts=(3, 3), alpha=a, beta=b, rank=2,
                                                              norm=s)[0])
  assert draw(jnp.array([0.1, 0.2]), -0.5, 2.0).shape == (6, 4)
  assert jax.jit(lambda b: data.simplex_means(3, 4, beta=b))(-0.4).shape == (3, 4)
