"""Bad inputs to relu_dae.mask_flips raise ValueError/TypeError naming the parameter."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import mask_flips
from _bad_inputs import case, check, check_coverage, ids

T = mask_flips
KEY = jax.random.PRNGKey(0)
NAN, INF = float("nan"), float("inf")

# Four samples in d = 2 and weights W (2, 3).
X = jnp.array([[2.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [-0.5, -2.0]])
W = jnp.array([[3.0, -1.0, 0.5], [0.0, 0.0, 1.5]])


def with_nan(a, where=(0, 0)):
  return jnp.asarray(a).at[where].set(NAN)


flip = lambda **kw: T.mask_flip_probability(**{**dict(X=X, W=W, sigma=0.5), **kw})
stab = lambda **kw: T.mask_stability(**{**dict(X=X, W=W, sigma=0.5), **kw})
mc = lambda **kw: T.mask_stability_mc(**{**dict(key=KEY, X=X, W=W, sigma=0.5, num_draws=4), **kw})

CASES = [
    case(T.mask_flip_probability, TypeError, r"\bX\b", lambda: flip(X="abc")),
    case(T.mask_flip_probability, ValueError, r"\bW\b", lambda: flip(W=jnp.ones((3, 2)))),
    case(T.mask_flip_probability, ValueError, r"\bW\b", lambda: flip(W=with_nan(W))),
    case(T.mask_flip_probability, ValueError, "sigma", lambda: flip(sigma=-1.0)),
    case(T.mask_flip_probability, TypeError, "sigma", lambda: flip(sigma="1")),
    case(T.mask_flip_probability, ValueError, "sigma", lambda: flip(sigma=jnp.ones(3))),
    case(T.mask_stability, ValueError, r"\bX\b", lambda: stab(X=X.at[0, 0].set(INF))),
    case(T.mask_stability, TypeError, r"\bW\b", lambda: stab(W=W.astype(jnp.complex64))),
    case(T.mask_stability, TypeError, "sigma", lambda: stab(sigma=None)),
    case(T.mask_stability, ValueError, r"\bX\b", lambda: stab(X=jnp.zeros((0, 2)))),
    case(T.mask_stability_mc, TypeError, "key", lambda: mc(key=None)),
    case(T.mask_stability_mc, ValueError, "key", lambda: mc(key=jax.random.split(KEY, 2))),
    case(T.mask_stability_mc, ValueError, "num_draws", lambda: mc(num_draws=0)),
    case(T.mask_stability_mc, ValueError, "num_draws", lambda: mc(num_draws=2.5)),
    case(T.mask_stability_mc, TypeError, "num_draws", lambda: mc(num_draws="10")),
    case(T.mask_stability_mc, ValueError, "sigma", lambda: mc(sigma=INF)),
    case(T.mask_stability_mc, ValueError, r"\bW\b", lambda: mc(W=jnp.ones((3, 2)))),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(mask_flips, CASES, exempt={"MaskFlipMC": "a NamedTuple result container that only holds the "
                                                          "computed values"})


def test_degenerate_inputs_give_their_limits():
  """Tiny σ > 0 whose square underflows: the σ → 0⁺ limits, not NaN or a σ = 1 answer."""
  on_plane = jnp.array([[0.0, 1.0]])
  P = T.mask_flip_probability(jnp.concatenate([X, on_plane]), W, 1e-46)  # σ‖w‖ = 0 in float32
  np.testing.assert_array_equal(np.asarray(P[:-1]), 0.0)  # far from every hyperplane: no flips
  assert float(P[-1, 0]) == 0.5  # on unit 0's hyperplane: half the draws flip
