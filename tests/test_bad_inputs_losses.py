"""Bad inputs to relu_dae.losses raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import losses
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
P = {"W": jnp.ones((4, 3))}
X = jnp.ones((5, 4))
W = jnp.ones((4, 3))
dae = lambda **kw: losses.dae_loss(**{**dict(params=P, X=X, key=KEY, sigma=0.1, lam=0.0), **kw})
frozen = lambda **kw: losses.frozen_mask_loss(**{**dict(params=P, X=X, sigma=0.1, lam=0.0), **kw})
noise = lambda **kw: losses.sample_noise(**{**dict(key=KEY, n=5, num_noise=2, d=4), **kw})
lin = lambda **kw: losses.linear_ae_loss(**{**dict(W2=W, W1=W, X=X, sigma=0.1, lam=0.0), **kw})

CASES = [
    case(losses.weight_penalty, TypeError, "params", lambda: losses.weight_penalty(None)),
    case(losses.weight_penalty, ValueError, "params", lambda: losses.weight_penalty({"W2": W})),
    case(losses.weight_penalty, TypeError, "params", lambda: losses.weight_penalty({"W": W.astype(jnp.complex64)})),
    case(losses.sample_noise, TypeError, "key", lambda: noise(key="seed")),
    case(losses.sample_noise, ValueError, r"\bn\b", lambda: noise(n=0)),
    case(losses.sample_noise, ValueError, "num_noise", lambda: noise(num_noise=1.5)),
    case(losses.sample_noise, TypeError, r"\bd\b", lambda: noise(d=None)),
    case(losses.sample_noise, TypeError, "dtype", lambda: noise(dtype=jnp.int32)),
    case(losses.dae_loss, ValueError, "sigma", lambda: dae(sigma=-0.1)),
    case(losses.dae_loss, TypeError, "sigma", lambda: dae(sigma="0.1")),
    case(losses.dae_loss, ValueError, "matmul_dtype", lambda: dae(matmul_dtype="int8")),
    case(losses.dae_loss, ValueError, "lam", lambda: dae(lam=float("nan"))),
    case(losses.dae_loss, ValueError, r"\bX\b", lambda: dae(X=jnp.ones((5, 3)))),
    case(losses.dae_loss, ValueError, r"\bX\b", lambda: dae(X=X * 1e20)),
    case(losses.dae_loss, TypeError, r"\bX\b", lambda: dae(X=X * 1j)),
    case(losses.dae_loss, TypeError, "key", lambda: dae(key=None)),
    case(losses.dae_loss, ValueError, "num_noise", lambda: dae(num_noise=0)),
    case(losses.dae_loss, ValueError, "weights", lambda: dae(weights=jnp.zeros(5))),
    case(losses.dae_loss, ValueError, "weights", lambda: dae(weights=jnp.ones(4))),
    case(losses.frozen_mask_loss, ValueError, "weights", lambda: frozen(weights=-jnp.ones(5))),
    case(losses.frozen_mask_loss, ValueError, r"\bX\b", lambda: frozen(X=jnp.ones((0, 4)))),
    case(losses.frozen_mask_loss, ValueError, r"\bX\b", lambda: frozen(X=jnp.ones(4))),
    case(losses.frozen_mask_loss, ValueError, "sigma", lambda: frozen(sigma=jnp.ones(2))),
    case(losses.frozen_mask_loss, TypeError, "params", lambda: frozen(params=[W])),
    case(losses.linear_ae_loss, ValueError, "W1 and W2", lambda: lin(W1=jnp.ones((4, 2)))),
    case(losses.linear_ae_loss, TypeError, "W1", lambda: lin(W1="W")),
    case(losses.linear_ae_loss, ValueError, "W2", lambda: lin(W2=W.at[0, 0].set(jnp.inf))),
    case(losses.linear_ae_loss, ValueError, r"\bX\b", lambda: lin(X=np.ones((5, 3)))),
    case(losses.linear_ae_loss, ValueError, "lam", lambda: lin(lam=-1.0)),
    case(losses.linear_ae_loss, TypeError, "sigma", lambda: lin(sigma=None)),
    case(losses.dae_loss, ValueError, "sigma", lambda: dae(sigma=1e20)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(losses, CASES, exempt={})


def test_checks_stay_traceable():
  f = jax.jit(jax.vmap(lambda s, w: losses.dae_loss(P, X, KEY, s, 0.0, weights=w), (0, None)))
  assert f(jnp.array([0.1, 0.2]), jnp.ones(5)).shape == (2,)
  as_int = losses.dae_loss(P, X.astype(jnp.int32), KEY, 0.1, 0.0)  # integer data are float32
  assert jnp.allclose(as_int, losses.dae_loss(P, X, KEY, 0.1, 0.0))
