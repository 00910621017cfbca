"""Bad inputs to relu_dae.boundaries raise ValueError/TypeError naming the parameter."""

import numpy as np
import pytest

from relu_dae import boundaries as bd
from _bad_inputs import case, check, check_coverage, ids

N = np.array([2, 4, 8, 16])
SCORES = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.6, 0.0, 0.0], [1.0, 1.0, 0.2, 0.0]])  # 3 seeds
CODES = np.array([[0, 0, 2, np.nan], [1, 2, 2, 1]])
X = np.array([2.0, 4.0, 8.0, 16.0])
EST = 3.0 * X**0.7
SAMPLES = EST[:, None] * np.ones((4, 5))

interval = lambda **kw: bd.critical_n_interval(**{**dict(n_values=N, scores=SCORES, num_boot=20), **kw})
fit = lambda **kw: bd.power_law_interval(**{**dict(x=X, estimate=EST, samples=SAMPLES), **kw})
refine = lambda **kw: bd.refine_n(**{**dict(n_values=[4, 8, 16], estimate=np.array([6.0]), low=np.array([5.0]),
                                             high=np.array([7.0])), **kw})

CASES = [
    case(bd.regime_fractions, TypeError, "codes", lambda: bd.regime_fractions("0 0 2")),
    case(bd.regime_fractions, ValueError, "codes", lambda: bd.regime_fractions(np.array([5, 0, 0]))),
    case(bd.regime_fractions, ValueError, "codes", lambda: bd.regime_fractions(np.array([0.5, 1, 2]))),
    case(bd.regime_fractions, ValueError, "axis", lambda: bd.regime_fractions(CODES, axis=2)),
    case(bd.regime_fractions, TypeError, "axis", lambda: bd.regime_fractions(CODES, axis=1.0)),
    case(bd.regime_fractions, ValueError, "codes", lambda: bd.regime_fractions(np.float64(0.0))),
    case(bd.majority, ValueError, "fractions", lambda: bd.majority(np.array([[0.6, 0.4]]))),
    case(bd.majority, TypeError, "fractions", lambda: bd.majority("0.6 0 0.4")),
    case(bd.majority, ValueError, "fractions", lambda: bd.majority(np.array([-0.2, 0.6, 0.6]))),
    case(bd.majority, ValueError, "fractions", lambda: bd.majority(np.array([0.5, 0.5, 0.5]))),
    case(bd.majority, ValueError, "fractions", lambda: bd.majority(np.array([0.5, np.nan, 0.5]))),
    case(bd.critical_n_interval, ValueError, "scores", lambda: interval(scores=SCORES[0])),
    case(bd.critical_n_interval, ValueError, "confidence", lambda: interval(confidence=1.0)),
    case(bd.critical_n_interval, TypeError, "confidence", lambda: interval(confidence="95%")),
    case(bd.critical_n_interval, ValueError, "num_boot", lambda: interval(num_boot=2.5)),
    case(bd.critical_n_interval, ValueError, "num_boot", lambda: interval(num_boot=0)),
    case(bd.critical_n_interval, ValueError, r"\bseed\b", lambda: interval(seed=-1)),
    case(bd.critical_n_interval, TypeError, r"\bseed\b", lambda: interval(seed="0")),
    case(bd.critical_n_interval, ValueError, "n_values", lambda: interval(n_values=N[::-1])),
    case(bd.critical_n_interval, ValueError, "scores", lambda: interval(scores=SCORES[:, :3])),
    case(bd.critical_n_interval, TypeError, "scores", lambda: interval(scores=[["a"] * 4] * 3)),
    case(bd.critical_n_interval, ValueError, "scores", lambda: interval(scores=np.where(SCORES > 0.5, np.inf, 0))),
    case(bd.critical_n_interval, ValueError, "level", lambda: interval(level=np.nan)),
    case(bd.critical_n_interval, ValueError, "scores", lambda: interval(scores=np.ones((0, 4)))),
    case(bd.capacity_bound, ValueError, "level", lambda: bd.capacity_bound([5.0], 4, 0.0)),
    case(bd.capacity_bound, TypeError, "level", lambda: bd.capacity_bound([5.0], 4, "0.5")),
    case(bd.capacity_bound, ValueError, r"\bp\b", lambda: bd.capacity_bound([5.0], 0)),
    case(bd.capacity_bound, TypeError, r"\bp\b", lambda: bd.capacity_bound([5.0], "16")),
    case(bd.capacity_bound, TypeError, "n_star", lambda: bd.capacity_bound(None, 4)),
    case(bd.capacity_bound, ValueError, r"\bp\b", lambda: bd.capacity_bound([5.0, 6.0, 7.0], [4, 8])),
    case(bd.power_law_interval, ValueError, "estimate", lambda: fit(estimate=EST[:3])),
    case(bd.power_law_interval, ValueError, "samples", lambda: fit(samples=SAMPLES[:, 0])),
    case(bd.power_law_interval, ValueError, "keep", lambda: fit(keep=np.ones(3, bool))),
    case(bd.power_law_interval, ValueError, "confidence", lambda: fit(confidence=0.0)),
    case(bd.power_law_interval, ValueError, r"\bx\b", lambda: fit(x=np.array([0.0, 4.0, 8.0, 16.0]))),
    case(bd.power_law_interval, TypeError, r"\bx\b", lambda: fit(x="2 4 8 16")),
    case(bd.power_law_interval, ValueError, "samples", lambda: fit(samples=SAMPLES[:3])),
    case(bd.power_law_interval, ValueError, "keep", lambda: fit(keep=np.array([0.5, 1, 1, 1]))),
    case(bd.refine_n, ValueError, "n_values", lambda: refine(n_values=[])),
    case(bd.refine_n, ValueError, "n_values", lambda: refine(n_values=[2.5, 8, 16])),
    case(bd.refine_n, TypeError, "n_values", lambda: refine(n_values="4 8 16")),
    case(bd.refine_n, ValueError, r"\blow\b", lambda: refine(estimate=np.array([6.0, 12.0]), high=np.array([7.0, 13.0]),
                                                          low=np.array([5.0, 11.0, 1.0]))),
    case(bd.refine_n, ValueError, r"\bhigh\b", lambda: refine(high=np.array([7.0, 8.0]))),
    case(bd.refine_n, ValueError, r"\brel\b", lambda: refine(rel=-0.1)),
    case(bd.refine_n, ValueError, "per_bracket", lambda: refine(per_bracket=0)),
    case(bd.refine_n, ValueError, "per_bracket", lambda: refine(per_bracket=1.5)),
    case(bd.refine_n, TypeError, "estimate", lambda: refine(estimate=None)),
    case(bd.capacity_bound, ValueError, "n_star", lambda: bd.capacity_bound(np.array([-7.0]), 16)),
    case(bd.refine_n, ValueError, "low <= estimate <= high",
         lambda: bd.refine_n([4, 8, 16], np.array([6.0]), np.array([7.0]), np.array([5.0]))),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(bd, CASES, exempt={"CriticalN": "a NamedTuple of result arrays",
                                    "PowerLaw": "a NamedTuple of fit results"})
