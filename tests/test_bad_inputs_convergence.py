"""Bad inputs to relu_dae.convergence raise ValueError/TypeError naming the parameter."""

import jax.numpy as jnp
import pytest

from relu_dae import convergence
from _bad_inputs import case, check, check_coverage, ids

C = convergence.Convergence
RULE, STATE = C(), convergence.init()
update = lambda **kw: convergence.update(**{**dict(rule=RULE, state=STATE, monitor=1.0, norm=1.0,
                                                    weight_change=0.1), **kw})

CASES = [
    case(C, ValueError, "patience", lambda: C(patience=0)),
    case(C, TypeError, "patience", lambda: C(patience="3")),
    case(C, ValueError, "rtol", lambda: C(rtol=-1e-3)),
    case(C, TypeError, "factor", lambda: C(factor="0.5")),
    case(C, ValueError, "factor", lambda: C(factor=1.0)),
    case(C, ValueError, "min_scale", lambda: C(min_scale=0.0)),
    case(C, ValueError, "wtol", lambda: C(wtol=float("nan"))),
    case(C, ValueError, "rise", lambda: C(rise=1.0)),
    case(C, ValueError, "norm_rise", lambda: C(norm_rise=float("inf"))),
    case(C, ValueError, "monitor_draws", lambda: C(monitor_draws=2.5)),
    case(convergence.update, TypeError, "rule", lambda: update(rule=None)),
    case(convergence.update, TypeError, "state", lambda: update(state=(1.0, 2.0))),
    case(convergence.update, ValueError, "monitor", lambda: update(monitor=jnp.ones(3))),
    case(convergence.update, TypeError, "weight_change", lambda: update(weight_change="0.1")),
    case(convergence.update, TypeError, "norm", lambda: update(norm=1j)),
    case(convergence.update, ValueError, "norm", lambda: update(norm=-1.0)),
    case(convergence.update, ValueError, "weight_change", lambda: update(weight_change=-0.5)),
    case(C, ValueError, "rtol", lambda: C(rtol=1.5)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(convergence, CASES, exempt={"State": "a NamedTuple of arrays built by init()",
                                             "init": "takes no arguments"})
