"""Bad inputs to relu_dae.steering raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import diffusion
from relu_dae import steering
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
P = {"W": jnp.eye(2, 3)}  # d = 2, p = 3
X = jnp.array([[1.0, 0.0], [0.0, 2.0]])
V = jnp.array([0.0, 1.0, 0.5])
CLF = steering.nearest_mean_classifier(X)
DIFF = diffusion.init(KEY, d=2, p=3, hidden=2)
vec = lambda **kw: steering.steering_vector(**{**dict(params=P, X_target=X, sigma=0.1, key=KEY), **kw})
con = lambda **kw: steering.contrastive_vector(**{**dict(params=P, X_target=X, X_source=X, sigma=0.1, key=KEY),
                                                  **kw})
steer = lambda **kw: steering.steer(**{**dict(params=P, y=X, v=V, a=1.0), **kw})
curve = lambda **kw: steering.response_curve(**{**dict(params=P, Y=X, v=V, a_values=jnp.array([0.0, 1.0]),
                                                      classify=CLF.predict), **kw})
smooth = steering.smoothness
nmc = steering.nearest_mean_classifier
den = lambda **kw: steering.steered_denoiser(**{**dict(params=P, v=V, a=1.0), **kw})
win = lambda **kw: steering.step_window(**{**dict(num_steps=10, first=2, last=8), **kw})

CASES = [
    case(steering.steering_vector, ValueError, "params", lambda: vec(params={"W1": jnp.eye(2, 3)})),
    case(steering.steering_vector, ValueError, "X_target", lambda: vec(X_target=jnp.ones((2, 5)))),  # d = 2
    case(steering.steering_vector, TypeError, "X_target", lambda: vec(X_target=None)),
    case(steering.steering_vector, ValueError, "X_target", lambda: vec(X_target=jnp.ones(2))),
    case(steering.steering_vector, ValueError, "sigma", lambda: vec(sigma=float("nan"))),
    case(steering.steering_vector, ValueError, "key", lambda: vec(key=jnp.zeros(2))),  # float, not a key
    case(steering.steering_vector, TypeError, "key", lambda: vec(key="seed")),
    case(steering.steering_vector, ValueError, "num_noise", lambda: vec(num_noise=-1)),
    case(steering.steering_vector, TypeError, "represent", lambda: vec(represent=None)),
    case(steering.contrastive_vector, ValueError, "X_source", lambda: con(X_source=jnp.ones((2, 3)))),
    case(steering.contrastive_vector, TypeError, "X_source", lambda: con(X_source="baseline")),
    case(steering.contrastive_vector, ValueError, "X_source", lambda: con(X_source=X.at[0, 0].set(jnp.inf))),
    case(steering.contrastive_vector, ValueError, "X_target", lambda: con(X_target=jnp.ones((0, 2)))),
    case(steering.contrastive_vector, TypeError, "sigma", lambda: con(sigma=[0.1])),
    case(steering.steer, ValueError, r"\bv\b", lambda: steer(v=jnp.ones(4))),
    case(steering.steer, TypeError, r"\bv\b", lambda: steer(v="up")),
    case(steering.steer, ValueError, r"\bv\b", lambda: steer(v=jnp.full(3, jnp.nan))),
    case(steering.steer, ValueError, r"\by\b", lambda: steer(y=jnp.ones((2, 3)))),
    case(steering.steer, TypeError, r"\by\b", lambda: steer(y=X + 1j)),
    case(steering.steer, ValueError, r"\ba\b", lambda: steer(a=jnp.ones(3))),  # y has batch shape (2,)
    case(steering.steer, TypeError, r"\ba\b", lambda: steer(a="strong")),
    case(steering.steer, TypeError, "decode", lambda: steer(decode=1.0)),
    case(steering.response_curve, ValueError, "a_values", lambda: curve(a_values=jnp.ones((2, 2)))),
    case(steering.response_curve, ValueError, "a_values", lambda: curve(a_values=jnp.array([]))),
    case(steering.response_curve, TypeError, "classify", lambda: curve(classify="argmax")),
    case(steering.response_curve, ValueError, "classify", lambda: curve(classify=lambda y: y[:1, 0])),
    case(steering.response_curve, ValueError, r"\bY\b", lambda: curve(Y=jnp.ones((2, 5)))),
    case(steering.response_curve, TypeError, "steer_kwargs", lambda: curve(decoder=lambda p, h: h)),
    case(smooth, ValueError, "curve", lambda: smooth(np.ones(1))),
    case(smooth, ValueError, "curve", lambda: smooth(np.array([0.0, np.nan, 1.0]))),
    case(smooth, TypeError, "curve", lambda: smooth(None)),
    case(smooth, ValueError, "curve", lambda: smooth(np.ones((3, 0)))),
    case(smooth, TypeError, "per_sample", lambda: smooth(np.ones((3, 2)), per_sample="yes")),
    case(steering.smoothness_per_sample, ValueError, "curve", lambda: steering.smoothness_per_sample(np.ones(3))),
    case(steering.smoothness_per_sample, ValueError, "curve", lambda: steering.smoothness_per_sample(np.ones((1, 2)))),
    case(steering.smoothness_per_sample, ValueError, "curve", lambda: steering.smoothness_per_sample(np.ones((3, 0)))),
    case(steering.smoothness_per_sample, TypeError, "curve", lambda: steering.smoothness_per_sample("flat")),
    case(steering.smoothness_per_sample, ValueError, "curve",
         lambda: steering.smoothness_per_sample(np.array([[0.0], [np.inf]]))),
    case(nmc, ValueError, "means", lambda: nmc(jnp.ones((1, 2)))),
    case(nmc, TypeError, "means", lambda: nmc({"a": [0.0, 1.0]})),
    case(nmc, ValueError, "tau", lambda: nmc(X, tau=0.0)),
    case(nmc, TypeError, "tau", lambda: nmc(X, tau="1")),
    case(nmc, ValueError, "tau", lambda: nmc(X, tau=1e-300)),  # underflows float32: NaN probabilities
    case(nmc, ValueError, r"\by\b", lambda: CLF.proba(jnp.ones((4, 3)))),  # the classifier it returns
    case(steering.steered_denoiser, ValueError, "sigma_window", lambda: den(sigma_window=(0.5, 0.1))),
    case(steering.steered_denoiser, TypeError, "sigma_window", lambda: den(sigma_window=("0.1", 1.0))),
    case(steering.steered_denoiser, TypeError, "sigma_window", lambda: den(sigma_window="early")),
    case(steering.steered_denoiser, ValueError, r"\bv\b", lambda: den(params=DIFF, v=jnp.ones(4))),
    case(steering.steered_denoiser, TypeError, r"\bv\b", lambda: den(v=None)),
    case(steering.steered_denoiser, TypeError, r"\ba\b", lambda: den(a="1")),
    case(steering.steered_denoiser, ValueError, r"\ba\b", lambda: den(a=float("nan"))),
    case(steering.steered_denoiser, TypeError, "params", lambda: den(params=[jnp.eye(2, 3)])),
    case(steering.step_window, ValueError, "first", lambda: win(first=-1)),
    case(steering.step_window, ValueError, "last", lambda: win(last=11)),
    case(steering.step_window, ValueError, "last", lambda: win(first=5, last=5)),
    case(steering.step_window, TypeError, "first", lambda: win(first="2")),
    case(steering.step_window, ValueError, "last", lambda: win(last=8.0)),
    case(steering.step_window, ValueError, "num_steps", lambda: win(num_steps=0)),
    case(steering.step_window, ValueError, "sigma_min", lambda: win(sigma_min=100.0, sigma_max=1.0)),
    case(steering.step_window, ValueError, "sigma_max", lambda: win(sigma_max=-1.0)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(steering, CASES, exempt={"NearestMean": "a NamedTuple of the two functions built by "
                                                         "nearest_mean_classifier"})
