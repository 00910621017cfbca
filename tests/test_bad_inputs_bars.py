"""Bad inputs to relu_dae.bars raise ValueError/TypeError naming the parameter."""

import jax
import numpy as np
import pytest

from relu_dae import bars
from _bad_inputs import case, check, check_coverage, ids

KEY = jax.random.PRNGKey(0)
SPEC = bars.BarSpec()
G = np.zeros((2, 64))

CASES = [
    case(bars.render, ValueError, "labels", lambda: bars.render([0, 10], [[3, 3], [3, 3]])),
    case(bars.render, ValueError, "labels", lambda: bars.render([0.5], [[3, 3]])),
    case(bars.render, ValueError, "centres", lambda: bars.render([0, 1], [[3, 3]])),
    case(bars.render, TypeError, "spec", lambda: bars.render([0], [[3, 3]], (8, 10))),
    case(bars.render, ValueError, "spec.image_size", lambda: bars.render([0], [[3, 3]], SPEC._replace(image_size=12))),
    case(bars.sample, ValueError, r"\bn\b", lambda: bars.sample(KEY, 0, SPEC)),
    case(bars.sample, ValueError, "key", lambda: bars.sample(0, 4, SPEC)),
    case(bars.sample, ValueError, "spec.margin", lambda: bars.sample(KEY, 4, SPEC._replace(margin=4.0))),
    case(bars.sample, ValueError, "spec.width", lambda: bars.sample(KEY, 4, SPEC._replace(width=0.0))),
    case(bars.sample, ValueError, "spec.num_classes", lambda: bars.sample(KEY, 4, SPEC._replace(num_classes=0))),
    case(bars.distance_to_family, ValueError, r"\bG\b", lambda: bars.distance_to_family(np.zeros((2, 63)))),
    case(bars.distance_to_family, ValueError, r"\bG\b", lambda: bars.distance_to_family(np.full((2, 64), np.nan))),
    case(bars.distance_to_family, ValueError, "resolution", lambda: bars.distance_to_family(G, resolution=0.0)),
    case(bars.distance_to_family, TypeError, "refine", lambda: bars.distance_to_family(G, refine="yes")),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(bars, CASES, exempt={"BarSpec": "a NamedTuple of the family's settings, checked where it is used",
                                      "FamilyFit": "a NamedTuple result of distance_to_family()"})
