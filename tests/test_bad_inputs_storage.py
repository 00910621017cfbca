"""Bad inputs to relu_dae.storage raise ValueError/TypeError naming the parameter.

The functions moved here from relu_dae.metrics / relu_dae.detection, whose tables hold their cases
(the same function objects, re-exported there); this table collects them for this module's coverage.
"""

import pytest

from relu_dae import storage
from _bad_inputs import case, check, check_coverage, ids
from test_bad_inputs_detection import CASES as _DETECTION
from test_bad_inputs_metrics import CASES as _METRICS

import jax.numpy as jnp

X = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])  # (N=4, d=3)
W = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # (d=3, p=2)
w = jnp.ones(4)
LAB = jnp.array([0, 0, 1, 1])
st = storage

CASES = [c for c in _METRICS + _DETECTION if getattr(c.fn, "__module__", None) == "relu_dae.storage"]
for fn in (st.stored_samples, st.weighted_stored_fraction, st.cosine_stored_fraction):
  CASES += [
      case(fn, ValueError, r"\bw\b", lambda fn=fn: fn(W, X, w[:3])),
      case(fn, ValueError, "threshold", lambda fn=fn: fn(W, X, w, 1.5)),
      case(fn, ValueError, r"\bX\b", lambda fn=fn: fn(W, X[:, :2], w)),
      case(fn, TypeError, r"\bW\b", lambda fn=fn: fn("W", X, w)),
  ]
CASES += [
    case(st.stored_samples, ValueError, r"\bW\b", lambda: st.stored_samples(W * jnp.nan, X, w)),
    case(st.per_cluster_stored, ValueError, "labels", lambda: st.per_cluster_stored(W, X, LAB + 5, w, 2)),
    case(st.per_cluster_stored, ValueError, "num_clusters", lambda: st.per_cluster_stored(W, X, LAB, w, 0)),
    case(st.per_cluster_stored, ValueError, "threshold", lambda: st.per_cluster_stored(W, X, LAB, w, 2, -2.0)),
    case(st.per_cluster_stored, ValueError, r"\bw\b", lambda: st.per_cluster_stored(W, X, LAB, -w, 2)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(storage, CASES, exempt={})
