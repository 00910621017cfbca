"""Bad inputs to relu_dae.model raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import model
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
P = {"W": jnp.ones((4, 3))}
X = jnp.ones((2, 4))
NAN_X = X.at[0, 0].set(jnp.nan)

CASES = [
    case(model.init, ValueError, r"\bd\b", lambda: model.init(KEY, 0, 3)),
    case(model.init, TypeError, r"\bd\b", lambda: model.init(KEY, "4", 3)),
    case(model.init, ValueError, r"\bp\b", lambda: model.init(KEY, 4, 2.5)),
    case(model.init, ValueError, "scale", lambda: model.init(KEY, 4, 3, scale=-1.0)),
    case(model.init, TypeError, "scale", lambda: model.init(KEY, 4, 3, scale="0.1")),
    case(model.init, TypeError, "key", lambda: model.init(None, 4, 3)),
    case(model.init, TypeError, "tied", lambda: model.init(KEY, 4, 3, tied="no")),
    case(model.weights, TypeError, "params", lambda: model.weights(None)),
    case(model.weights, ValueError, "params", lambda: model.weights({"V": jnp.ones((4, 3))})),
    case(model.weights, ValueError, "params", lambda: model.weights({"W1": jnp.ones((4, 3)), "W2": jnp.ones((4, 2))})),
    case(model.weights, TypeError, "params", lambda: model.weights({"W": "ones"})),
    case(model.weights, TypeError, "params", lambda: model.weights({"W": jnp.ones((4, 3)) * 1j})),
    case(model.weights, ValueError, "params", lambda: model.weights({"W": jnp.ones(4)})),
    case(model.is_tied, TypeError, "params", lambda: model.is_tied([jnp.ones((4, 3))])),
    case(model.is_tied, ValueError, "params", lambda: model.is_tied({"W": jnp.ones((4, 3)), "W1": jnp.ones((4, 3))})),
    case(model.is_tied, ValueError, "params", lambda: model.is_tied({})),
    case(model.preactivation, ValueError, r"\bx\b", lambda: model.preactivation(P, jnp.ones((2, 5)))),
    case(model.preactivation, TypeError, r"\bx\b", lambda: model.preactivation(P, "x")),
    case(model.preactivation, TypeError, r"\bx\b", lambda: model.preactivation(P, X * 1j)),
    case(model.preactivation, TypeError, "params", lambda: model.preactivation(None, X)),
    case(model.represent, ValueError, r"\bx\b", lambda: model.represent(P, NAN_X)),
    case(model.represent, ValueError, r"\bx\b", lambda: model.represent(P, X * 1e20)),
    case(model.represent, ValueError, r"\bx\b", lambda: model.represent(P, jnp.float32(1.0))),
    case(model.represent, TypeError, r"\bx\b", lambda: model.represent(P, None)),
    case(model.apply, ValueError, r"\bx\b", lambda: model.apply(P, jnp.ones((2, 3)))),
    case(model.apply, ValueError, r"\bx\b", lambda: model.apply(P, np.full((2, 4), np.inf))),
    case(model.apply, TypeError, r"\bx\b", lambda: model.apply(P, np.array([["a"] * 4]))),
    case(model.apply, ValueError, "matmul_dtype", lambda: model.apply(P, jnp.ones((2, 4)), matmul_dtype="float16")),
    case(model.represent, ValueError, "matmul_dtype", lambda: model.represent(P, jnp.ones((2, 4)), matmul_dtype=1)),
    case(model.preactivation, ValueError, "matmul_dtype",
         lambda: model.preactivation(P, jnp.ones((2, 4)), matmul_dtype=jnp.bfloat16)),
    case(model.apply, ValueError, "params", lambda: model.apply({"W": jnp.ones((4, 3, 1))}, X)),
    case(model.decode, ValueError, r"\bh\b", lambda: model.decode(P, jnp.ones((2, 4)))),
    case(model.decode, TypeError, r"\bh\b", lambda: model.decode(P, {"h": 1.0})),
    case(model.decode, ValueError, r"\bh\b", lambda: model.decode(P, jnp.full((2, 3), jnp.nan))),
    case(model.decode, TypeError, "params", lambda: model.decode("W", jnp.ones(3))),
    case(model.jacobian, ValueError, r"\bx\b", lambda: model.jacobian(P, jnp.ones(5))),
    case(model.jacobian, TypeError, r"\bx\b", lambda: model.jacobian(P, jnp.ones(4, jnp.complex64))),
    case(model.jacobian, ValueError, r"\bx\b", lambda: model.jacobian(P, jnp.full(4, 1e20))),
    case(model.jacobian, ValueError, "params", lambda: model.jacobian({"W1": jnp.ones((4, 3))}, X)),
    case(model.init, ValueError, "scale", lambda: model.init(KEY, 4, 3, scale=1e20)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(model, CASES, exempt={})


def test_checks_stay_traceable():
  f = jax.jit(jax.vmap(model.apply, (None, 0)))
  assert f(P, jnp.ones((3, 2, 4))).shape == (3, 2, 4)
  assert model.apply(P, jnp.ones((2, 4), jnp.int32)).dtype == jnp.float32
  nan_params = {"W": jnp.full((4, 3), jnp.nan)}  # a diverged run's params: NaN out, not an error
  assert bool(jnp.all(jnp.isnan(model.apply(nan_params, X))))
