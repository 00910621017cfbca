"""Bad inputs to relu_dae.unit_birth raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import pytest

from relu_dae import unit_birth as ub
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
X = jnp.array([[2.0, -1.0, 0.0], [-1.0, 2.0, 0.0]])
U = jnp.ones(3)
W = {"W": jnp.zeros((3, 3))}

CASES = [
    case(ub.coefficient, ValueError, r"\bu\b", lambda: ub.coefficient(jnp.ones(4), X, 0.3, 0.0)),
    case(ub.coefficient, ValueError, r"\bu\b", lambda: ub.coefficient(jnp.zeros(3), X, 0.3, 0.0)),
    case(ub.coefficient, ValueError, r"\bu\b", lambda: ub.coefficient(jnp.ones((2, 2, 3)), X, 0.3, 0.0)),
    case(ub.coefficient, ValueError, "sigma", lambda: ub.coefficient(U, X, 0.0, 0.0)),
    case(ub.coefficient, ValueError, "lam", lambda: ub.coefficient(U, X, 0.3, 3.0)),
    case(ub.coefficient, TypeError, "sigma", lambda: ub.coefficient(U, X, "0.3", 0.0)),
    case(ub.coefficient, ValueError, r"\bX\b", lambda: ub.coefficient(U, jnp.ones(3), 0.3, 0.0)),
    case(ub.coefficient, ValueError, r"\bX\b", lambda: ub.coefficient(U, jnp.zeros((2, 3)), 0.3, 0.0)),
    case(ub.coefficient_mc, ValueError, "params", lambda: ub.coefficient_mc(
        {"W1": jnp.zeros((3, 3)), "W2": jnp.zeros((3, 3))}, X, 0.3, U, KEY, 10)),
    case(ub.coefficient_mc, ValueError, r"\bX\b", lambda: ub.coefficient_mc(W, jnp.ones((2, 4)), 0.3, U, KEY, 10)),
    case(ub.coefficient_mc, ValueError, "num_draws", lambda: ub.coefficient_mc(W, X, 0.3, U, KEY, 1)),
    case(ub.coefficient_mc, TypeError, "num_draws", lambda: ub.coefficient_mc(W, X, 0.3, U, KEY, None)),
    case(ub.coefficient_mc, ValueError, "key", lambda: ub.coefficient_mc(W, X, 0.3, U, jnp.zeros(3), 10)),
    case(ub.coefficient_mc, TypeError, "control_variate", lambda: ub.coefficient_mc(
        W, X, 0.3, U, KEY, 10, control_variate="yes")),
    case(ub.coefficient_mc, ValueError, r"\bu\b", lambda: ub.coefficient_mc(W, X, 0.3, jnp.full(3, jnp.nan), KEY, 10)),
    case(ub.initial_directions, ValueError, "starts", lambda: ub.initial_directions(X, 0.3, KEY, 0)),
    case(ub.initial_directions, ValueError, "key", lambda: ub.initial_directions(X, 0.3, jnp.zeros(3, jnp.uint32), 4)),
    case(ub.initial_directions, ValueError, "sigma", lambda: ub.initial_directions(X, -0.3, KEY, 4)),
    case(ub.worst_direction, ValueError, "steps", lambda: ub.worst_direction(X, 0.3, 0.0, KEY, steps=0)),
    case(ub.worst_direction, TypeError, "starts", lambda: ub.worst_direction(X, 0.3, 0.0, KEY, starts="8")),
    case(ub.worst_direction, ValueError, "lam", lambda: ub.worst_direction(X, 0.3, -1.0, KEY)),
    case(ub.curvature, ValueError, "lam", lambda: ub.curvature(X, 0.3, jnp.nan, KEY)),
    case(ub.curvature, ValueError, "sigma", lambda: ub.curvature(X, jnp.inf, 0.0, KEY)),
    case(ub.curvature, ValueError, "steps", lambda: ub.curvature(X, 0.3, 0.0, KEY, steps=2.5)),
    case(ub.passes, ValueError, r"\bp\b", lambda: ub.passes(X, 0.3, 0.0, KEY, p=1)),
    case(ub.passes, ValueError, r"\bp\b", lambda: ub.passes(X, 0.3, 0.0, KEY, p=2.5)),
    case(ub.passes, ValueError, "lam", lambda: ub.passes(X, 0.3, 5.0, KEY)),
    case(ub.passes, ValueError, "key", lambda: ub.passes(X, 0.3, 0.0, 7)),
    case(ub.threshold, ValueError, "grid", lambda: ub.threshold(X, 0.3, KEY, grid=0)),
    case(ub.threshold, ValueError, "iters", lambda: ub.threshold(X, 0.3, KEY, iters=-1)),
    case(ub.threshold, TypeError, "sigma", lambda: ub.threshold(X, None, KEY)),
    case(ub.threshold, ValueError, r"\bX\b", lambda: ub.threshold(jnp.array([[1.0, jnp.inf]]), 0.3, KEY)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(ub, CASES, exempt={"Estimate": "a NamedTuple of arrays (mean, stderr)",
                                    "Worst": "a NamedTuple of arrays (g, u)",
                                    "Curvature": "a NamedTuple of arrays (value, g, u)"})
