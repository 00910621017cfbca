"""Bad inputs to relu_dae.margins raise ValueError/TypeError naming the parameter."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import margins
from _bad_inputs import case, check, check_coverage, ids

T = margins
KEY = jax.random.PRNGKey(0)
NAN = float("nan")

# Two clusters of two samples in d = 2; W (2, 3) whose first unit sees cluster 0, second cluster 1.
X = jnp.array([[2.0, 0.0], [1.0, 0.2], [-1.0, 0.5], [-0.5, -2.0]])
L = jnp.array([0, 0, 1, 1])
W = jnp.array([[3.0, -1.0, 0.5], [0.0, 0.0, 1.5]])
OWNER = np.array([0, 1, 1])
XB, WB = jnp.stack([X, 2 * X]), jnp.stack([W, W])  # batches of B = 2
X2, L2 = jnp.array([[1.0, 0.0], [-1.0, 0.0]]), jnp.array([0, 1])  # paper_margin: beta = -1


def with_nan(a, where=(0, 0)):
  return jnp.asarray(a).at[where].set(NAN)


margin = lambda **kw: T.margin(**{**dict(X=X, labels=L, W=W), **kw})
margin_batch = lambda **kw: T.margin_batch(**{**dict(X=XB, labels=L, W=WB, owner=OWNER), **kw})
rot = lambda **kw: T.best_rotation(**{**dict(X=X, labels=L, W=W, owner=OWNER, key=KEY, steps=2), **kw})
rotb = lambda **kw: T.best_rotation_batch(**{**dict(X=XB, labels=L, W=WB, owner=OWNER, key=KEY, steps=2), **kw})
paper = lambda **kw: T.paper_margin(**{**dict(X=X2, labels=L2, p_per_cluster=1), **kw})

CASES = [
    case(T.margin, TypeError, r"\bX\b", lambda: margin(X="abc")),
    case(T.margin, ValueError, r"\bX\b", lambda: margin(X=X[0])),
    case(T.margin, ValueError, r"\bX\b", lambda: margin(X=with_nan(X))),
    case(T.margin, ValueError, "labels", lambda: margin(labels=L[:3])),
    case(T.margin, TypeError, "labels", lambda: margin(labels=None)),
    case(T.margin, ValueError, "labels", lambda: margin(labels=jnp.array([0, 0.5, 1, 1]))),
    case(T.margin, ValueError, "labels", lambda: margin(labels=jnp.array([0, 0, -1, -1]))),
    case(T.margin, ValueError, r"\bW\b", lambda: margin(W=jnp.ones((3, 3)))),
    case(T.margin, TypeError, r"\bW\b", lambda: margin(W=W.astype(jnp.complex64))),
    case(T.margin, ValueError, r"\bW\b", lambda: margin(W=jnp.zeros((2, 3)))),
    case(T.margin, ValueError, "owner", lambda: margin(owner=[0, 5, 1])),
    case(T.margin, ValueError, "owner", lambda: margin(owner=[0, 1])),
    case(T.margin, TypeError, "owner", lambda: margin(owner="abc")),
    case(T.best_rotation, TypeError, r"\bX\b", lambda: rot(X="abc")),
    case(T.best_rotation, ValueError, r"\bW\b", lambda: rot(W=W[:1])),
    case(T.best_rotation, ValueError, "owner", lambda: rot(owner=np.array([0, 1, 7]))),
    case(T.best_rotation, ValueError, r"\bW\b", lambda: rot(W=jnp.zeros_like(W))),
    case(T.best_rotation, ValueError, "key", lambda: rot(key=0)),
    case(T.best_rotation, ValueError, "starts", lambda: rot(starts=0)),
    case(T.best_rotation, ValueError, "steps", lambda: rot(steps=-1)),
    case(T.best_rotation_batch, ValueError, r"\bX\b", lambda: rotb(X=X)),
    case(T.best_rotation_batch, ValueError, r"\bW\b", lambda: rotb(W=WB[:1])),
    case(T.best_rotation_batch, ValueError, "owner", lambda: rotb(owner=np.array([0, 1, 7]))),
    case(T.best_rotation_batch, ValueError, "owner", lambda: rotb(owner=np.array([-1, -1, -1]))),
    case(T.best_rotation_batch, ValueError, "labels", lambda: rotb(labels=L[:3])),
    case(T.best_rotation_batch, ValueError, "starts", lambda: rotb(starts=1.5)),
    case(T.margin_batch, ValueError, r"\bX\b", lambda: margin_batch(X=X)),
    case(T.margin_batch, TypeError, r"\bX\b", lambda: margin_batch(X="abc")),
    case(T.margin_batch, ValueError, r"\bX\b", lambda: margin_batch(X=with_nan(XB, (0, 0, 0)))),
    case(T.margin_batch, ValueError, r"\bW\b", lambda: margin_batch(W=WB[:1])),
    case(T.margin_batch, TypeError, r"\bW\b", lambda: margin_batch(W=WB.astype(jnp.complex64))),
    case(T.margin_batch, ValueError, "labels", lambda: margin_batch(labels=L[:3])),
    case(T.margin_batch, ValueError, "labels", lambda: margin_batch(labels=jnp.array([0, 0.5, 1, 1]))),
    case(T.margin_batch, ValueError, "owner", lambda: margin_batch(owner=np.array([0, 1, 7]))),
    case(T.margin_batch, ValueError, "owner", lambda: margin_batch(owner=np.array([0, 1]))),
    case(T.paper_margin, TypeError, r"\bX\b", lambda: paper(X=None)),
    case(T.paper_margin, ValueError, "labels", lambda: paper(labels=jnp.array([0, 1, 1]))),
    case(T.paper_margin, ValueError, "p_per_cluster", lambda: paper(p_per_cluster=0)),
    case(T.paper_margin, TypeError, "p_per_cluster", lambda: paper(p_per_cluster="1")),
    case(T.paper_margin, ValueError, "p_per_cluster", lambda: paper(p_per_cluster=[1, 1, 1])),
    case(T.paper_margin, ValueError, "p_per_cluster", lambda: paper(p_per_cluster=1.5)),
    case(T.paper_margin, TypeError, "sigma", lambda: paper(sigma="0.1")),
    case(T.paper_margin, ValueError, "sigma", lambda: paper(sigma=NAN)),
    case(T.paper_margin, ValueError, "lam", lambda: paper(lam=-1.0)),
    case(T.paper_margin, ValueError, r"\bX\b", lambda: paper(X=jnp.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]]),
                                                             labels=jnp.array([0, 0, 1]))),  # zero mean
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  container = "a NamedTuple result container that only holds the computed values"
  check_coverage(margins, CASES, exempt={name: container for name in ("Margin", "RotatedMargin", "PaperMargin")})
