"""Bad inputs to relu_dae.moment_matching raise ValueError/TypeError naming the parameter."""

import pytest

import jax
import jax.numpy as jnp

from relu_dae import moment_matching
from _bad_inputs import case, check, check_coverage, ids

T = moment_matching
KEY = jax.random.PRNGKey(0)
NAN = float("nan")

# Four samples in d = 2 and tied weights W (2, 3).
X = jnp.array([[2.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [-0.5, -2.0]])
W = jnp.array([[3.0, -1.0, 0.5], [0.0, 0.0, 1.5]])
P = {"W": W}
EPS = T.moment_matched_noise(KEY, 4, 4, 2)  # (n, M, d) = (4, 4, 2)


def with_nan(a, where=(0, 0)):
  return jnp.asarray(a).at[where].set(NAN)


noise = lambda **kw: T.moment_matched_noise(**{**dict(key=KEY, n=4, num_draws=4, d=2), **kw})
mml = lambda **kw: T.moment_matched_loss(**{**dict(params=P, X=X, eps=EPS, sigma=0.1, lam=0.0), **kw})
refine = lambda **kw: T.refine(**{**dict(params=P, X=X, eps=EPS, sigma=0.1, lam=0.0, steps=2), **kw})

CASES = [
    case(T.moment_matched_noise, TypeError, "key", lambda: noise(key="abc")),
    case(T.moment_matched_noise, ValueError, r"\bn\b", lambda: noise(n=0)),
    case(T.moment_matched_noise, ValueError, r"\bn\b", lambda: noise(n=2.0)),
    case(T.moment_matched_noise, TypeError, r"\bd\b", lambda: noise(d="2")),
    case(T.moment_matched_noise, ValueError, "num_draws", lambda: noise(num_draws=5)),
    case(T.moment_matched_noise, ValueError, "num_draws", lambda: noise(num_draws=2)),  # M/2 < d
    case(T.moment_matched_noise, TypeError, "dtype", lambda: noise(dtype="int32")),
    case(T.moment_matched_noise, TypeError, "dtype", lambda: noise(dtype="bogus")),
    case(T.moment_matched_loss, TypeError, "params", lambda: mml(params=None)),
    case(T.moment_matched_loss, ValueError, "eps", lambda: mml(eps=EPS[:3])),
    case(T.moment_matched_loss, ValueError, "eps", lambda: mml(eps=jnp.ones((4, 4, 3)))),
    case(T.moment_matched_loss, ValueError, "eps", lambda: mml(eps=EPS[:, 0])),
    case(T.moment_matched_loss, ValueError, "eps", lambda: mml(eps=with_nan(EPS, (0, 0, 0)))),
    case(T.moment_matched_loss, TypeError, "sigma", lambda: mml(sigma="0.1")),
    case(T.moment_matched_loss, ValueError, r"\bX\b", lambda: mml(X=jnp.ones((4, 3)))),
    case(T.refine, ValueError, "steps", lambda: refine(steps=0)),
    case(T.refine, ValueError, "steps", lambda: refine(steps=2.5)),
    case(T.refine, ValueError, "memory_size", lambda: refine(memory_size=0)),
    case(T.refine, ValueError, "eps", lambda: refine(eps=EPS[:3])),
    case(T.refine, ValueError, "lam", lambda: refine(lam=-1.0)),
    case(T.refine, ValueError, "params", lambda: refine(params={"W": jnp.ones((3, 2))})),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(moment_matching, CASES, exempt={"Refined": "a NamedTuple result container that only holds the "
                                                              "computed values"})
