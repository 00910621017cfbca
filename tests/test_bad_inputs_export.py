"""Bad inputs to relu_dae.export raise TypeError/ValueError naming the parameter."""

import os
import tempfile

import numpy as np
import pytest

from relu_dae import export, results
from _bad_inputs import case, check, check_coverage, ids

pytest.importorskip("pandas")
pytest.importorskip("xarray")

_TMP = tempfile.TemporaryDirectory()
NOT_A_SWEEP = os.path.join(_TMP.name, "plain")
results.save(NOT_A_SWEEP, {"x": np.arange(3)}, {"sigma": 0.2})

CASES = [
    case(fn, exc, regex, (lambda fn=fn, arg=arg: fn(arg)))
    for fn in (export.to_dataframe, export.to_dataset)
    for exc, regex, arg in [
        (TypeError, "result", 3),
        (TypeError, "result", {"n": [1, 2]}),
        (ValueError, "stem", os.path.join(_TMP.name, "missing")),
        (ValueError, "without extension", NOT_A_SWEEP + ".npz"),
        (ValueError, "not a sweep", NOT_A_SWEEP),
    ]
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(export, CASES, exempt={})
