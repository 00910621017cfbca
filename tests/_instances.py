"""Shared test instances (one construction each, cached per float width)."""

import functools

import jax
import jax.numpy as jnp

from relu_dae import data, minima


@functools.cache
def _separable(dtype: str):
  X, labels, _ = data.separable_mixture(jax.random.PRNGKey(1), d=10, K=3, n_per_cluster=20, alpha=0.05,
                                        beta=-0.4, rank=3, decay=0.7, norm=2.0)
  W = minima.generalization(X, labels, 0.3, 1e-4, [2, 3, 1])
  return X, labels, 0.3, 1e-4, [2, 3, 1], W


def separable_instance():
  """Small separable mixture whose W_gen has a block-diagonal clean mask (γ_op > 0):
  ``(X, labels, sigma, lam, p_per_cluster, W_gen)``, in the float width in force (x64 or not)."""
  return _separable(str(jnp.zeros(()).dtype))
