"""Bad inputs to relu_dae.train raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import convergence, sweep
from relu_dae import train as tr
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
CFG = tr.TrainConfig(steps=2, chunk_size=1)
P = {"W": np.full((3, 2), 0.1, np.float32)}
X = np.ones((4, 3), np.float32)
HIST = tr.History(jnp.zeros(2), jnp.array(-1), jnp.array(2), jnp.array(2), jnp.nan, jnp.nan)
LOSS = lambda p, k: jnp.sum(p["W"] ** 2)
C = tr.TrainConfig
train = lambda **kw: tr.train(**{**dict(params=P, X=X, key=KEY, config=CFG), **kw})
fit = lambda **kw: tr.fit(**{**dict(params=P, X=X, key=KEY, config=CFG, progress=False), **kw})
minimize = lambda **kw: tr.minimize(**{**dict(loss_fn=LOSS, params=P, key=KEY, config=CFG), **kw})
minibatch = lambda **kw: tr.minibatch(**{**dict(key=KEY, size=3, n=4), **kw})

CASES = [
    case(C, ValueError, "steps", lambda: C(steps=0)),
    case(C, TypeError, "steps", lambda: C(steps="100")),
    case(C, ValueError, "matmul_dtype", lambda: C(matmul_dtype="fp16")),
    case(C, TypeError, "sigma", lambda: C(sigma="0.2")),
    case(C, ValueError, "sigma", lambda: C(sigma=float("nan"))),
    case(C, ValueError, r"\blam\b", lambda: C(lam=-1e-3)),
    case(C, TypeError, "optimizer", lambda: C(optimizer=None)),
    case(C, ValueError, "optimizer", lambda: C(optimizer="Adam")),
    case(C, ValueError, "learning_rate", lambda: C(learning_rate=0.0)),
    case(C, TypeError, "learning_rate", lambda: C(learning_rate="1e-3")),
    case(C, ValueError, "batch_size", lambda: C(batch_size=2.5)),
    case(C, ValueError, "num_noise", lambda: C(num_noise=0)),
    case(C, ValueError, "decoupled_weight_decay", lambda: C(decoupled_weight_decay=float("inf"))),
    case(C, ValueError, "momentum", lambda: C(momentum=-0.1)),
    case(C, TypeError, "momentum", lambda: C(momentum="0.9")),
    case(C, ValueError, "chunk_size", lambda: C(chunk_size=-5)),
    case(C, TypeError, "blowup", lambda: C(blowup="1e3")),
    case(C, ValueError, "blowup", lambda: C(blowup=float("nan"))),
    case(C, TypeError, "schedule", lambda: C(schedule=1)),
    case(C, TypeError, "convergence", lambda: C(convergence={"patience": 3})),
    case(C, ValueError, "chunk_size", lambda: C(steps=10, chunk_size=3, convergence=convergence.Convergence())),
    case(C, TypeError, "sigma", lambda: C(sigma=jnp.float32(0.2))),  # an array: not hashable, not static
    case(tr.aliased_tied, TypeError, "inner", lambda: tr.aliased_tied("rmsprop", 0.1)),
    case(tr.aliased_tied, TypeError, "inner", lambda: tr.aliased_tied(tr.TrainConfig(), 0.1)),
    case(tr.aliased_tied, ValueError, "decay", lambda: tr.aliased_tied(tr.make_optimizer(tr.TrainConfig()), -0.1)),
    case(tr.aliased_tied, TypeError, "decay", lambda: tr.aliased_tied(tr.make_optimizer(tr.TrainConfig()), "0.1")),
    case(tr.TrainConfig, ValueError, "eps", lambda: tr.TrainConfig(eps=0.0)),
    case(tr.TrainConfig, TypeError, "tying", lambda: tr.TrainConfig(tying=True)),
    case(tr.TrainConfig, ValueError, "tying", lambda: tr.TrainConfig(tying="aliased", optimizer="sgd")),
    case(tr.minimize, TypeError, "optimizer", lambda: tr.minimize(lambda p, k: 0.0, {"W": jnp.ones((2, 2))},
                                                                  KEY, tr.TrainConfig(), optimizer="adam")),
    case(tr.progress_bar, ValueError, "total", lambda: tr.progress_bar(0, "train").__enter__()),
    case(tr.progress_bar, TypeError, "desc", lambda: tr.progress_bar(10, 3).__enter__()),
    case(tr.progress_bar, TypeError, "enabled", lambda: tr.progress_bar(10, "train", "yes").__enter__()),
    case(tr.make_optimizer, TypeError, "config", lambda: tr.make_optimizer(None)),
    case(tr.make_optimizer, TypeError, "config", lambda: tr.make_optimizer("adam")),
    case(tr.make_optimizer, TypeError, "config", lambda: tr.make_optimizer({"optimizer": "adam"})),
    case(tr.make_optimizer, TypeError, "config", lambda: tr.make_optimizer(sweep.SweepConfig())),
    case(tr.minibatch, ValueError, "size", lambda: minibatch(size=0)),
    case(tr.minibatch, ValueError, r"\bn\b", lambda: minibatch(n=2.5)),
    case(tr.minibatch, TypeError, r"\bn\b", lambda: minibatch(n=None)),
    case(tr.minibatch, ValueError, "weights", lambda: minibatch(weights=jnp.ones(3))),
    case(tr.minibatch, ValueError, "weights", lambda: minibatch(weights=jnp.zeros(4))),
    case(tr.minibatch, TypeError, "key", lambda: minibatch(key="0")),
    case(tr.train, TypeError, "config", lambda: train(config=None)),
    case(tr.train, TypeError, "params", lambda: train(params=None)),
    case(tr.train, ValueError, "params", lambda: train(params={"W": np.ones(3, np.float32)})),
    case(tr.train, ValueError, "params", lambda: train(params={"W": np.full((3, 2), 1e20, np.float32)})),
    case(tr.train, ValueError, r"\bX\b", lambda: train(X=np.ones((0, 3), np.float32))),
    case(tr.train, ValueError, r"\bX\b", lambda: train(X=X * 1e20)),
    case(tr.train, TypeError, "sigma", lambda: train(sigma="0.1")),
    case(tr.train, ValueError, r"\blam\b", lambda: train(lam=-1.0)),
    case(tr.train, ValueError, "unit_mask", lambda: train(unit_mask=np.array([1.0, np.nan]))),
    case(tr.train, ValueError, "weights", lambda: train(weights=np.array([1.0, 1.0, np.inf, 1.0]))),
    case(tr.train, TypeError, "callback", lambda: train(callback="print")),
    case(tr.train, ValueError, "key", lambda: train(key=jax.random.split(KEY, 2))),
    case(tr.minimize, TypeError, "loss_fn", lambda: minimize(loss_fn=None)),
    case(tr.minimize, TypeError, "config", lambda: minimize(config=dict(steps=2))),
    case(tr.minimize, TypeError, "params", lambda: minimize(params={"W": np.ones((3, 2), np.complex64)})),
    case(tr.minimize, ValueError, "params", lambda: minimize(params={"W": np.full((3, 2), np.nan, np.float32)})),
    case(tr.minimize, ValueError, "key", lambda: minimize(key=jnp.zeros(3, jnp.uint32))),
    case(tr.minimize, TypeError, "callback", lambda: minimize(callback=3)),
    case(tr.raise_if_nonfinite, TypeError, "history", lambda: tr.raise_if_nonfinite(None)),
    case(tr.raise_if_nonfinite, TypeError, "history", lambda: tr.raise_if_nonfinite({"nonfinite_step": 3})),
    case(tr.raise_if_nonfinite, ValueError, "history",
         lambda: tr.raise_if_nonfinite(jax.tree.map(lambda a: jnp.stack([a, a]), HIST))),
    case(tr.fit, TypeError, "config", lambda: fit(config=None)),
    case(tr.fit, TypeError, "progress", lambda: fit(progress="no")),
    case(tr.fit, TypeError, "desc", lambda: fit(desc=None)),
    case(tr.fit, ValueError, r"\bX\b", lambda: fit(X=np.ones((4, 2), np.float32))),
    case(tr.fit, ValueError, "weights", lambda: fit(weights=-np.ones(4))),
    case(tr.train, ValueError, "unit_mask", lambda: train(unit_mask=jnp.array([0.5, 1.0]))),
    case(tr.train, ValueError, "unit_mask", lambda: train(unit_mask=jnp.zeros(2))),
    case(C, ValueError, "steps", lambda: C(steps=2**31)),
    case(C, ValueError, "learning_rate", lambda: C(learning_rate=1e20)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(tr, CASES, exempt={"History": "a NamedTuple of arrays returned by train"})


@pytest.mark.slow
def test_integer_weights_and_data_train_as_float32():
  params, hist = tr.train({"W": np.ones((3, 2), np.int32)}, np.ones((4, 3), np.int32), KEY, CFG)
  assert params["W"].dtype == jnp.float32 and hist.loss.shape == (2,)
