"""Bad inputs to relu_dae.spikiness raise ValueError/TypeError naming the parameter.

The functions moved here from relu_dae.metrics / relu_dae.detection, whose tables hold their cases
(the same function objects, re-exported there); this table collects them for this module's coverage.
"""

import pytest

from relu_dae import spikiness
from _bad_inputs import check, check_coverage, ids
from test_bad_inputs_detection import CASES as _DETECTION
from test_bad_inputs_metrics import CASES as _METRICS

CASES = [c for c in _METRICS + _DETECTION if getattr(c.fn, "__module__", None) == "relu_dae.spikiness"]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(spikiness, CASES, exempt={})
