"""Bad inputs to relu_dae.minima raise ValueError/TypeError naming the parameter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from relu_dae import minima
from _bad_inputs import case, check, check_coverage, ids

X = jnp.array([[1.0, -0.5, 0.0], [-0.5, 1.0, 0.0], [0.0, -0.5, 1.0]])
XK = jnp.array([[1.0, 0.2, 0.0], [1.0, -0.2, 0.1], [0.9, 0.0, -0.1], [1.1, 0.1, 0.0]])
GX = jnp.concatenate([XK, -XK])
GL = np.array([0] * 4 + [1] * 4)
scales = lambda **kw: minima.memorization_scales(**{**dict(X=X, sigma=0.1, lam=0.0), **kw})
mem = lambda **kw: minima.memorization(**{**dict(X=X, sigma=0.1, lam=0.0, p=3), **kw})
mloss = lambda **kw: minima.memorization_loss(**{**dict(X=X, sigma=0.1), **kw})
block = lambda **kw: minima.cluster_block(**{**dict(Xk=XK, n=8, sigma=0.1, lam=0.0, p_k=2), **kw})
gen = lambda **kw: minima.generalization(**{**dict(X=GX, labels=GL, sigma=0.1, lam=0.0, p_per_cluster=2), **kw})
hyb = lambda **kw: minima.hybrid(**{**dict(X=GX, labels=GL, sigma=0.1, lam=0.0, p_per_cluster=2), **kw})
top = lambda **kw: minima.top_cluster_spectra(**{**dict(X=GX, labels=GL, w=np.ones(8), num_clusters=2, rank=2), **kw})
eig = lambda **kw: minima.block_gram_eigenvalues(**{**dict(Xk=XK, n=8, sigma=0.1, lam=0.0, p_k=2), **kw})

CASES = [
    case(minima.top_cluster_spectra, ValueError, "rank", lambda: top(rank=4)),  # > d = 3
    case(minima.top_cluster_spectra, ValueError, "rank", lambda: top(rank=0)),
    case(minima.top_cluster_spectra, ValueError, "labels", lambda: top(labels=GL[:3])),
    case(minima.top_cluster_spectra, ValueError, r"\bw\b", lambda: top(w=-np.ones(8))),
    case(minima.top_cluster_spectra, TypeError, r"\bX\b", lambda: top(X="X")),
    case(minima.memorization_scales, ValueError, r"\bX\b.*zero rows", lambda: scales(X=X.at[1].set(0.0))),
    case(minima.memorization_scales, ValueError, r"\bX\b", lambda: scales(X=X * 1e-30)),
    case(minima.memorization_scales, ValueError, r"\bn\b", lambda: scales(n=2)),
    case(minima.memorization_scales, ValueError, "lam", lambda: scales(lam=-0.1)),
    case(minima.memorization_scales, TypeError, "sigma", lambda: scales(sigma=None)),
    case(minima.memorization, ValueError, r"\bX\b.*zero rows", lambda: mem(X=X.at[0].set(0.0))),
    case(minima.memorization, ValueError, r"\bp\b", lambda: mem(p=2)),
    case(minima.memorization, ValueError, "lam too large", lambda: mem(lam=1.0)),
    case(minima.memorization, ValueError, r"\bX\b", lambda: mem(X=X * 1e20)),
    case(minima.memorization, TypeError, r"\bX\b", lambda: mem(X=X * 1j)),
    case(minima.memorization, TypeError, r"\bp\b", lambda: mem(p="3")),
    case(minima.memorization_loss, ValueError, "weights", lambda: mloss(weights=jnp.zeros(3))),
    case(minima.memorization_loss, ValueError, "weights", lambda: mloss(weights=jnp.ones(2))),
    case(minima.memorization_loss, ValueError, r"\bX\b.*zero rows", lambda: mloss(X=X.at[2].set(0.0), sigma=0.0)),
    case(minima.memorization_loss, ValueError, "sigma", lambda: mloss(sigma=-0.1)),
    case(minima.memorization_loss, ValueError, r"\bX\b", lambda: mloss(X=jnp.full((2, 3), jnp.nan))),
    case(minima.equiangular_rotation, ValueError, r"\bm\b", lambda: minima.equiangular_rotation(jnp.zeros(3))),
    case(minima.equiangular_rotation, ValueError, r"\bm\b", lambda: minima.equiangular_rotation(jnp.ones((2, 2)))),
    case(minima.equiangular_rotation, TypeError, r"\bm\b", lambda: minima.equiangular_rotation("m")),
    case(minima.equiangular_rotation, ValueError, r"\bm\b", lambda: minima.equiangular_rotation(jnp.zeros(0))),
    case(minima.cluster_block, ValueError, "O must have shape", lambda: block(O=jnp.eye(3))),
    case(minima.cluster_block, ValueError, r"O must be orthogonal", lambda: block(O=2 * jnp.eye(2))),
    case(minima.cluster_block, ValueError, r"p_k=4 exceeds the numerical rank",
         lambda: block(Xk=XK[:, :2].repeat(2, 1)[:, :4], p_k=4)),
    case(minima.cluster_block, ValueError, r"p_k=5 exceeds", lambda: block(p_k=5)),
    case(minima.cluster_block, ValueError, r"\bn\b", lambda: block(n=3)),
    case(minima.cluster_block, ValueError, "lam too large", lambda: block(lam=10.0)),
    case(minima.cluster_block, ValueError, r"\bXk\b.*mean", lambda: block(Xk=jnp.concatenate([XK, -XK]))),
    case(minima.cluster_block, TypeError, "sigma", lambda: block(sigma="0.1")),
    case(minima.generalization, ValueError, "p_per_cluster", lambda: gen(p_per_cluster=[1, 2, 3])),
    case(minima.generalization, ValueError, r"p_per_cluster\[1\]=4", lambda: gen(p_per_cluster=[2, 4])),
    case(minima.generalization, ValueError, "labels", lambda: gen(labels=GL[:5])),
    case(minima.generalization, TypeError, "labels", lambda: gen(labels="01")),
    case(minima.generalization, ValueError, "labels", lambda: gen(labels=GL + 0.5)),
    case(minima.generalization, ValueError, "lam", lambda: gen(lam=float("nan"))),
    case(minima.is_duplicate_cluster, ValueError, r"\bXk\b", lambda: minima.is_duplicate_cluster(jnp.ones((0, 3)))),
    case(minima.is_duplicate_cluster, ValueError, r"\bXk\b", lambda: minima.is_duplicate_cluster(jnp.ones(3))),
    case(minima.is_duplicate_cluster, TypeError, r"\bXk\b", lambda: minima.is_duplicate_cluster(None)),
    case(minima.hybrid, TypeError, "p_per_cluster", lambda: hyb(p_per_cluster="2")),
    case(minima.hybrid, ValueError, "p_per_cluster", lambda: hyb(p_per_cluster=0)),
    case(minima.hybrid, TypeError, "labels", lambda: hyb(labels=None)),
    case(minima.hybrid, ValueError, r"\bX\b", lambda: hyb(X=GX * 1e20)),
    case(minima.hybrid, TypeError, "sigma", lambda: hyb(sigma=[0.1])),
    case(minima.block_gram_eigenvalues, ValueError, r"p_k=5 exceeds", lambda: eig(p_k=5)),
    case(minima.block_gram_eigenvalues, ValueError, r"\bn\b", lambda: eig(n=0)),
    case(minima.block_gram_eigenvalues, ValueError, "sigma", lambda: eig(sigma=-1.0)),
    case(minima.block_gram_eigenvalues, TypeError, r"\bXk\b", lambda: eig(Xk={"x": XK})),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(minima, CASES + TARGET_CASES, exempt={})


def test_checks_stay_traceable():
  f = jax.jit(lambda X, s, l: minima.memorization(X, s, l, 4))
  assert f(X, 0.1, 0.0).shape == (3, 4)
  g = jax.jit(lambda Xk, s, l: minima.cluster_block(Xk, 8, s, l, 2))
  assert g(XK, 0.1, 0.0).shape == (3, 2)


# The traceable targets moved here from relu_dae.metrics; their cases stay in that table (the same
# functions, re-exported there) and are counted for this module too.
from test_bad_inputs_metrics import CASES as _METRICS_CASES  # noqa: E402

TARGET_CASES = [c for c in _METRICS_CASES if getattr(c.fn, "__module__", None) == "relu_dae.minima"]


@pytest.mark.parametrize("c", TARGET_CASES, ids=ids(TARGET_CASES))
def test_bad_input_targets(c):
  check(c)

