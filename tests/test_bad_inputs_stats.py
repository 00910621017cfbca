"""Bad inputs to relu_dae.stats raise ValueError/TypeError naming the parameter."""

import numpy as np
import pytest

from relu_dae import stats as st
from _bad_inputs import case, check, check_coverage, ids

N = [10, 100, 1000]
MEAN = np.array([0.0, 0.5, 1.0])
BOOTS = np.array([[0.0, 0.4, 1.0], [0.0, 0.6, 1.0]])
V = np.array([[0.0, 1.0], [1.0, 1.0]])
boot_x = lambda **kw: st.bootstrap_crossing(**{**dict(n_values=N, mean=MEAN, boots=BOOTS, level=0.5), **kw})

CASES = [
    case(st.critical_n, ValueError, "n_values", lambda: st.critical_n([10, 5, 20], np.ones(3))),
    case(st.critical_n, TypeError, "n_values", lambda: st.critical_n("10, 100", np.ones(2))),
    case(st.critical_n, ValueError, "scores", lambda: st.critical_n(N, np.ones(4))),
    case(st.critical_n, ValueError, "scores", lambda: st.critical_n(N, [1.0, np.inf, 0.0])),
    case(st.critical_n, ValueError, "level", lambda: st.critical_n(N, [1.0, 0.5, 0.0], np.nan)),
    case(st.critical_n, TypeError, "level", lambda: st.critical_n(N, [1.0, 0.5, 0.0], "0.5")),
    case(st.critical_n, TypeError, "scores", lambda: st.critical_n(N, np.array([1.0, 0.5, 0.0]) * 1j)),
    case(st.critical_n, ValueError, "n_values", lambda: st.critical_n([10], [1.0])),
    case(st.critical_n_relative, ValueError, "fraction", lambda: st.critical_n_relative(N, [1.0, 0.5, 0.0], 2.0)),
    case(st.critical_n_relative, TypeError, "fraction", lambda: st.critical_n_relative(N, [1.0, 0.5, 0.0], "0.5")),
    case(st.critical_n_relative, ValueError, "n_values", lambda: st.critical_n_relative([0, 1, 2], np.ones(3))),
    case(st.critical_n_relative, ValueError, "scores", lambda: st.critical_n_relative(N, np.ones((2, 2)))),
    case(st.bootstrap_crossing, ValueError, "mean", lambda: boot_x(mean=BOOTS)),
    case(st.bootstrap_crossing, ValueError, "boots", lambda: boot_x(boots=MEAN)),
    case(st.bootstrap_crossing, ValueError, "boots", lambda: boot_x(boots=np.ones((0, 3)))),
    case(st.bootstrap_crossing, ValueError, "scores", lambda: boot_x(mean=MEAN[:2])),
    case(st.bootstrap_crossing, TypeError, "level", lambda: boot_x(level=None)),
    case(st.bootstrap_crossing, ValueError, "n_values", lambda: boot_x(n_values=[3, 2, 1])),
    case(st.power_law_fit, TypeError, r"\bx\b", lambda: st.power_law_fit("1 2 3", [1, 2, 3])),
    case(st.power_law_fit, TypeError, r"\by\b", lambda: st.power_law_fit([1, 2, 3], np.array([1, 2, 3]) * 1j)),
    case(st.power_law_fit, ValueError, "x and y", lambda: st.power_law_fit([1, 2, 3], [1, 2])),
    case(st.power_law_fit, TypeError, r"\bx\b", lambda: st.power_law_fit({"x": 1}, [1, 2, 3])),
    case(st.power_law_fit, ValueError, r"\by\b", lambda: st.power_law_fit([1, 2, 3], [[1, 2], [3]])),
    case(st.line_fit, TypeError, r"\bx\b", lambda: st.line_fit(None, [1, 2, 3])),
    case(st.line_fit, TypeError, r"\by\b", lambda: st.line_fit([1, 2, 3], "123")),
    case(st.line_fit, ValueError, "x and y", lambda: st.line_fit([1, 2, 3, 4], [1, 2, 3])),
    case(st.hierarchical_bootstrap, ValueError, "values", lambda: st.hierarchical_bootstrap(np.ones(3), 0, 5)),
    case(st.hierarchical_bootstrap, ValueError, "values", lambda: st.hierarchical_bootstrap(np.ones((0, 3)), 0, 5)),
    case(st.hierarchical_bootstrap, ValueError, "values", lambda: st.hierarchical_bootstrap(V + np.inf, 0, 5)),
    case(st.hierarchical_bootstrap, TypeError, "rng",
         lambda: st.hierarchical_bootstrap(V, np.random.RandomState(0), 5)),
    case(st.hierarchical_bootstrap, ValueError, "rng", lambda: st.hierarchical_bootstrap(V, -1, 5)),
    case(st.hierarchical_bootstrap, ValueError, "num", lambda: st.hierarchical_bootstrap(V, 0, 0)),
    case(st.wilson_interval, ValueError, "successes", lambda: st.wilson_interval(11, 10)),
    case(st.wilson_interval, ValueError, "successes", lambda: st.wilson_interval(2.5, 10)),
    case(st.wilson_interval, TypeError, "trials", lambda: st.wilson_interval(1, "10")),
    case(st.wilson_interval, ValueError, "trials", lambda: st.wilson_interval(0, -1)),
    case(st.wilson_interval, ValueError, "level", lambda: st.wilson_interval(1, 10, 1.0)),
    case(st.wilson_interval, TypeError, "successes", lambda: st.wilson_interval(True, 10)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(st, CASES, exempt={"LineFit": "a NamedTuple of floats returned by line_fit",
                                    "BootstrapCrossing": "a NamedTuple returned by bootstrap_crossing"})
