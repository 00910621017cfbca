"""Bad inputs to relu_dae.certificates raise ValueError/TypeError naming the parameter."""

import pytest

import jax.numpy as jnp

from relu_dae import certificates
from _bad_inputs import case, check, check_coverage, ids

T = certificates
NAN = float("nan")

# Four samples in d = 2 and tied weights W (2, 3).
X = jnp.array([[2.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [-0.5, -2.0]])
W = jnp.array([[3.0, -1.0, 0.5], [0.0, 0.0, 1.5]])
P = {"W": W}
XB, WB = jnp.stack([X, 2 * X]), jnp.stack([W, W])  # batches of B = 2


def with_nan(a, where=(0, 0)):
  return jnp.asarray(a).at[where].set(NAN)


fd = lambda **kw: T.frozen_derivatives(**{**dict(params=P, X=X, sigma=0.1, lam=0.0), **kw})
stat = lambda **kw: T.stationarity(**{**dict(params=P, X=X, sigma=0.1, lam=0.0), **kw})
cert = lambda **kw: T.certify_batch(**{**dict(params={"W": WB}, X=XB, sigma=jnp.array([0.1, 0.2]),
                                              lam=jnp.zeros(2)), **kw})

CASES = [
    case(T.frozen_derivatives, TypeError, "params", lambda: fd(params=None)),
    case(T.frozen_derivatives, ValueError, "params", lambda: fd(params={"V": W})),
    case(T.frozen_derivatives, TypeError, "params", lambda: fd(params={"W": W.astype(jnp.complex64)})),
    case(T.frozen_derivatives, ValueError, r"\bX\b", lambda: fd(X=jnp.ones((4, 3)))),
    case(T.frozen_derivatives, TypeError, "sigma", lambda: fd(sigma="0.1")),
    case(T.frozen_derivatives, ValueError, "lam", lambda: fd(lam=-1.0)),
    case(T.stationarity, TypeError, "params", lambda: stat(params=W)),
    case(T.stationarity, ValueError, "params", lambda: stat(params={"W1": W, "W2": W[:, :2]})),
    case(T.stationarity, ValueError, "params", lambda: stat(params={"W": with_nan(W)})),
    case(T.stationarity, ValueError, r"\bX\b", lambda: stat(X=jnp.zeros((4, 2)))),  # zero energy
    case(T.stationarity, ValueError, r"\bX\b", lambda: stat(X=X * 1e20)),
    case(T.stationarity, ValueError, "sigma", lambda: stat(sigma=-0.1)),
    case(T.stationarity, TypeError, "lam", lambda: stat(lam=None)),
    case(T.certify_batch, ValueError, r"\bX\b", lambda: cert(X=X)),
    case(T.certify_batch, ValueError, r"\bX\b", lambda: cert(X=jnp.stack([X, jnp.zeros_like(X)]))),
    case(T.certify_batch, ValueError, "params", lambda: cert(params={"W": W})),
    case(T.certify_batch, ValueError, "params", lambda: cert(params={"W": WB[:1]})),
    case(T.certify_batch, ValueError, "sigma", lambda: cert(sigma=jnp.ones(3))),
    case(T.certify_batch, TypeError, "sigma", lambda: cert(sigma="0.1")),
    case(T.certify_batch, ValueError, "lam", lambda: cert(lam=jnp.array([0.0, -1.0]))),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(certificates, CASES, exempt={
      "Certificate": "a NamedTuple result container that only holds the computed values"})
  # frozen_derivatives_batch is jit(vmap(frozen_derivatives)), not a Python function: the coverage count
  # does not see it, so its shape checks are exercised here.
  with pytest.raises(ValueError, match="params"):
    T.frozen_derivatives_batch({"V": WB}, XB, jnp.zeros(2), jnp.zeros(2))
  with pytest.raises(TypeError, match="params"):
    T.frozen_derivatives_batch(None, XB, jnp.zeros(2), jnp.zeros(2))
  with pytest.raises(ValueError, match=r"\bX\b"):
    T.frozen_derivatives_batch({"W": WB}, jnp.ones((2, 4, 3)), jnp.zeros(2), jnp.zeros(2))
