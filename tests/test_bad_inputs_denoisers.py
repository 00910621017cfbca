"""Bad inputs to relu_dae.denoisers raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import pytest

from relu_dae import denoisers
from _bad_inputs import case, check, check_coverage, ids

X = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
Y = jnp.array([0.9, 0.2])
MEANS, COVS, W = jnp.eye(2), jnp.stack([jnp.eye(2), 0.5 * jnp.eye(2)]), jnp.array([0.3, 0.7])
EVALS, EVECS = jnp.linalg.eigh(COVS)
S = jnp.diag(jnp.array([2.0, 1.0, 0.0]))
post = lambda **kw: denoisers.empirical_posterior(**{**dict(y=Y, X=X, sigma=0.1), **kw})
emp = lambda **kw: denoisers.empirical(**{**dict(y=Y, X=X, sigma=0.1), **kw})
gpm = lambda **kw: denoisers.gaussian_posterior_mean(**{**dict(y=Y, mean=MEANS[0], cov=COVS[0], sigma=0.1), **kw})
gm = lambda **kw: denoisers.gaussian_mixture(**{**dict(y=Y, means=MEANS, covs=COVS, weights=W, sigma=0.1), **kw})
spec = lambda **kw: denoisers.gaussian_mixture_spectral(**{**dict(y=Y, means=MEANS, evals=EVALS, evecs=EVECS,
                                                                  weights=W, sigma=0.1), **kw})
wm = lambda **kw: denoisers.wiener_matrix(**{**dict(S=S, sigma=0.1), **kw})
wi = lambda **kw: denoisers.wiener(**{**dict(y=jnp.ones(3), S=S, sigma=0.1), **kw})

CASES = [
    case(denoisers.empirical_posterior, ValueError, "sigma", lambda: post(sigma=0.0)),
    case(denoisers.empirical_posterior, TypeError, "sigma", lambda: post(sigma="0.1")),
    case(denoisers.empirical_posterior, ValueError, r"\by\b", lambda: post(y=jnp.ones(3))),
    case(denoisers.empirical_posterior, ValueError, r"\bX\b", lambda: post(X=X * 1e20)),
    case(denoisers.empirical, ValueError, "sigma", lambda: emp(sigma=-1.0)),
    case(denoisers.empirical, TypeError, r"\bX\b", lambda: emp(X=X.astype(jnp.complex64))),
    case(denoisers.empirical, ValueError, r"\bX\b", lambda: emp(X=jnp.ones((0, 2)))),
    case(denoisers.empirical, ValueError, r"\by\b", lambda: emp(y=jnp.array([jnp.nan, 0.0]))),
    case(denoisers.empirical, TypeError, r"\by\b", lambda: emp(y=None)),
    case(denoisers.gaussian_posterior_mean, ValueError, r"\bcov\b", lambda: gpm(cov=jnp.eye(3))),
    case(denoisers.gaussian_posterior_mean, ValueError, r"\bcov\b", lambda: gpm(cov=jnp.zeros((2, 2)), sigma=0.0)),
    case(denoisers.gaussian_posterior_mean, ValueError, r"\bmean\b", lambda: gpm(mean=MEANS)),
    case(denoisers.gaussian_posterior_mean, TypeError, r"\bmean\b", lambda: gpm(mean="0")),
    case(denoisers.gaussian_posterior_mean, ValueError, "sigma", lambda: gpm(sigma=float("inf"))),
    case(denoisers.gaussian_mixture, ValueError, "covs", lambda: gm(covs=jnp.ones((2, 3, 3)))),
    case(denoisers.gaussian_mixture, ValueError, "covs", lambda: gm(covs=jnp.zeros((2, 2, 2)), sigma=0.0)),
    case(denoisers.gaussian_mixture, ValueError, "covs", lambda: gm(covs=-COVS)),
    case(denoisers.gaussian_mixture, ValueError, "weights", lambda: gm(weights=jnp.zeros(2))),
    case(denoisers.gaussian_mixture, ValueError, "weights", lambda: gm(weights=jnp.ones(3))),
    case(denoisers.gaussian_mixture, ValueError, r"\by\b", lambda: gm(y=jnp.ones((4, 3)))),
    case(denoisers.gaussian_mixture, TypeError, "means", lambda: gm(means=None)),
    case(denoisers.gaussian_mixture_spectral, ValueError, "evals", lambda: spec(evals=EVALS[:1])),
    case(denoisers.gaussian_mixture_spectral, ValueError, "evecs", lambda: spec(evecs=EVECS[:, :1])),
    case(denoisers.gaussian_mixture_spectral, ValueError, "weights", lambda: spec(weights=-W)),
    case(denoisers.gaussian_mixture_spectral, ValueError, "weights", lambda: spec(weights=jnp.ones(5))),
    case(denoisers.gaussian_mixture_spectral, ValueError, "evals", lambda: spec(evals=0 * EVALS, sigma=0.0)),
    case(denoisers.gaussian_mixture_spectral, ValueError, "sigma", lambda: spec(sigma=-0.1)),
    case(denoisers.wiener_matrix, ValueError, r"\bS\b", lambda: wm(S=jnp.ones((3, 2)))),
    case(denoisers.wiener_matrix, ValueError, r"\bS\b", lambda: wm(sigma=0.0)),
    case(denoisers.wiener_matrix, ValueError, r"\bS\b", lambda: wm(S=S.at[0, 0].set(jnp.nan))),
    case(denoisers.wiener_matrix, TypeError, r"\bS\b", lambda: wm(S="I")),
    case(denoisers.wiener_matrix, ValueError, "rank", lambda: wm(rank=4)),
    case(denoisers.wiener_matrix, ValueError, "shrink", lambda: wm(shrink=-0.1)),
    case(denoisers.wiener, ValueError, r"\by\b", lambda: wi(y=jnp.ones(2))),
    case(denoisers.wiener, TypeError, r"\by\b", lambda: wi(y="y")),
    case(denoisers.wiener, ValueError, "rank", lambda: wi(rank=0)),
    case(denoisers.wiener, TypeError, "sigma", lambda: wi(sigma=[0.1])),
    case(denoisers.gaussian_mixture, ValueError, "sigma", lambda: gm(sigma=1e20)),
    case(denoisers.gaussian_posterior_mean, ValueError, "sigma", lambda: gpm(sigma=1e20)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(denoisers, CASES, exempt={})


def test_empirical_at_underflowing_sigma_is_the_nearest_sample():
  y = jnp.array([[0.9, 0.2], [-0.8, -1.1], [0.5, 0.5]])  # the last is equidistant from x_1 and x_2
  out = denoisers.empirical(y, X, sigma=1e-30)
  assert jnp.array_equal(out, jnp.array([[1.0, 0.0], [-1.0, -1.0], [0.5, 0.5]]))
  assert jnp.allclose(denoisers.empirical(y, X, 1e-3), out, atol=1e-6)


def test_checks_stay_traceable():
  f = jax.jit(jax.vmap(lambda s: denoisers.gaussian_mixture_spectral(Y, MEANS, EVALS, EVECS, W, s)))
  assert f(jnp.array([0.0, 0.1])).shape == (2, 2)
  assert jax.jit(denoisers.empirical)(Y, X, 0.1).shape == (2,)
