"""Bad input raises ValueError naming the parameter (DESIGN.md, Validation)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import relu_dae as rd

KEY = jax.random.PRNGKey(0)
P = {"W": jnp.ones((4, 3))}
X = jnp.ones((5, 4))

CASES = [
    ("d", lambda: rd.model.init(KEY, 0, 3)),
    ("p", lambda: rd.model.init(KEY, 4, 2.5)),
    ("scale", lambda: rd.model.init(KEY, 4, 3, scale=-1.0)),
    ("params", lambda: rd.model.apply({"V": jnp.ones((4, 3))}, X)),
    ("params", lambda: rd.model.apply({"W1": jnp.ones((4, 3)), "W2": jnp.ones((4, 2))}, X)),
    ("x must have trailing dimension", lambda: rd.model.apply(P, jnp.ones((2, 5)))),
    ("sigma", lambda: rd.losses.dae_loss(P, X, KEY, -0.1, 0.0)),
    ("lam", lambda: rd.losses.dae_loss(P, X, KEY, 0.1, -1.0)),
    ("num_noise", lambda: rd.losses.dae_loss(P, X, KEY, 0.1, 0.0, num_noise=0)),
    ("X", lambda: rd.losses.dae_loss(P, X.at[0, 0].set(jnp.nan), KEY, 0.1, 0.0)),
    ("X", lambda: rd.losses.dae_loss(P, jnp.ones((5, 3)), KEY, 0.1, 0.0)),
    ("weights", lambda: rd.losses.dae_loss(P, X, KEY, 0.1, 0.0, weights=jnp.ones(4))),
    ("W1 and W2", lambda: rd.losses.linear_ae_loss(jnp.ones((4, 3)), jnp.ones((4, 2)), X, 0.1, 0.0)),
    ("beta", lambda: rd.data.separable_mixture(KEY, d=8, K=3, n_per_cluster=4, alpha=0.1, beta=-0.9)),
    ("d must be >= K", lambda: rd.data.separable_mixture(KEY, d=2, K=3, n_per_cluster=4, alpha=0.1, beta=-0.5)),
    ("alpha", lambda: rd.data.separable_mixture(KEY, d=8, K=3, n_per_cluster=4, alpha=-0.1, beta=-0.5)),
    ("n_per_cluster", lambda: rd.data.separable_mixture(KEY, d=8, K=3, n_per_cluster=[4, 4], alpha=0.1, beta=-0.5)),
    ("rank", lambda: rd.data.separable_mixture(KEY, d=8, K=3, n_per_cluster=4, alpha=0.1, beta=-0.5, rank=9)),
    ("labels", lambda: rd.data.separability(X, np.zeros(4))),
    ("zero mean", lambda: rd.data.separability(jnp.array([[1.0, 0.0], [-1.0, 0.0]]), np.zeros(2))),
    ("weights", lambda: rd.data.mixture_spec(jnp.eye(2), None, jnp.array([0.5, -0.5]))),
    ("m must be", lambda: rd.data.negatively_correlated_subset(X, 6)),
    ("sigma", lambda: rd.denoisers.empirical(jnp.ones(4), X, 0.0)),
    ("y must have trailing", lambda: rd.denoisers.empirical(jnp.ones(3), X, 0.1)),
    ("covs", lambda: rd.denoisers.gaussian_mixture(jnp.ones(2), jnp.eye(2), jnp.ones((2, 3, 3)), jnp.ones(2), 0.1)),
    ("rank", lambda: rd.denoisers.wiener_matrix(jnp.eye(3), 0.1, rank=4)),
    ("S must be a square", lambda: rd.denoisers.wiener_matrix(jnp.ones((3, 2)), 0.1)),
    ("p must be >= n", lambda: rd.minima.memorization(X, 0.1, 0.0, 4)),
    ("lam too large", lambda: rd.minima.memorization(X, 0.1, 1.0, 5)),
    ("p_per_cluster", lambda: rd.minima.generalization(X, np.zeros(5), 0.1, 0.0, [1, 2])),
    ("O must have shape", lambda: rd.minima.cluster_block(X, 5, 0.1, 0.0, 1, O=jnp.eye(2))),
    ("steps", lambda: rd.train.TrainConfig(steps=0)),
    ("optimizer", lambda: rd.train.TrainConfig(optimizer="lbfgs")),
    ("schedule", lambda: rd.train.TrainConfig(schedule="linear")),
    ("learning_rate", lambda: rd.train.TrainConfig(learning_rate=0.0)),
    ("batch_size", lambda: rd.train.TrainConfig(batch_size=-2)),
    ("X must have 4 columns", lambda: rd.train.train(P, jnp.ones((5, 3)), KEY, rd.train.TrainConfig(steps=1))),
    ("unit_mask", lambda: rd.train.train(P, X, KEY, rd.train.TrainConfig(steps=1), unit_mask=jnp.ones(4))),
]


@pytest.mark.parametrize("needle,call", CASES, ids=[f"{i}-{c[0]}" for i, c in enumerate(CASES)])
def test_bad_input_raises_value_error_naming_it(needle, call):
  with pytest.raises(ValueError, match=needle):
    call()
