"""Bad inputs to relu_dae.plotting raise ValueError/TypeError naming the parameter."""

import os
import tempfile

import matplotlib.figure
import numpy as np
import pytest

from relu_dae import plotting
from _bad_inputs import case, check, check_coverage, ids

_TMP = tempfile.TemporaryDirectory()
DIR = _TMP.name
FIG = matplotlib.figure.Figure(figsize=(1, 1))
REF = np.ones((4, 3))
PANEL = dict(title="t", ref=REF, learned=REF, ref_label="r", learned_label="l")
EXAMPLE = dict(title="t", h=np.ones(5))
HIST = dict(title="t", xlabel="x", series=[("a", np.arange(4.0)), ("b", np.ones(3))])
pairs = lambda panels=None, **kw: plotting.weight_pairs([{**PANEL, **(panels or {})}], **{"image_shape": (2, 2), **kw})
reps = lambda **kw: plotting.representations(**{**dict(examples=[EXAMPLE], histograms=[HIST]), **kw})
hist = lambda series: reps(histograms=[{**HIST, "series": series}])
save = lambda **kw: plotting.save(**{**dict(fig=FIG, path=os.path.join(DIR, "f.png")), **kw})

CASES = [
    case(plotting.weight_pairs, TypeError, "panels", lambda: plotting.weight_pairs(None)),
    case(plotting.weight_pairs, TypeError, "panels", lambda: plotting.weight_pairs(PANEL)),  # a dict, not a list
    case(plotting.weight_pairs, ValueError, "panels", lambda: plotting.weight_pairs([])),
    case(plotting.weight_pairs, ValueError, "learned_label", lambda: plotting.weight_pairs([dict(title="t", ref=REF,
                                                                                                 learned=REF)])),
    case(plotting.weight_pairs, ValueError, "learned", lambda: pairs({"learned": np.ones((4, 2))})),
    case(plotting.weight_pairs, ValueError, "ref", lambda: pairs({"ref": np.ones(4)})),
    case(plotting.weight_pairs, ValueError, "ref", lambda: pairs({"ref": np.full((4, 3), np.nan)})),
    case(plotting.weight_pairs, TypeError, "learned", lambda: pairs({"learned": REF * 1j})),
    case(plotting.weight_pairs, ValueError, "cos", lambda: pairs({"cos": np.ones(2)})),
    case(plotting.weight_pairs, ValueError, "image_shape", lambda: pairs(image_shape=(8, 8))),  # d = 4
    case(plotting.weight_pairs, TypeError, "image_shape", lambda: pairs(image_shape="2x2")),
    case(plotting.weight_pairs, ValueError, "image_shape", lambda: pairs(image_shape=(4, 0))),
    case(plotting.weight_pairs, ValueError, "max_cols", lambda: pairs(max_cols=0)),
    case(plotting.representations, TypeError, "examples", lambda: reps(examples=None)),
    case(plotting.representations, TypeError, "histograms", lambda: reps(histograms=HIST)),
    case(plotting.representations, ValueError, "both empty", lambda: reps(examples=[], histograms=[])),
    case(plotting.representations, ValueError, "examples", lambda: reps(examples=[{**EXAMPLE, "h": np.ones((2, 3))}])),
    case(plotting.representations, ValueError, "examples", lambda: reps(examples=[{**EXAMPLE, "h": np.ones(0)}])),
    case(plotting.representations, ValueError, "examples", lambda: reps(examples=[{"h": np.ones(3)}])),  # no title
    case(plotting.representations, ValueError, "series", lambda: hist([])),
    case(plotting.representations, TypeError, "series", lambda: hist("std")),
    case(plotting.representations, ValueError, "series", lambda: hist([np.ones(3)])),  # not a (label, values) pair
    case(plotting.representations, TypeError, "series", lambda: hist([("a", ["x", "y"])])),
    case(plotting.representations, ValueError, "series", lambda: hist([("a", np.array([1.0, np.inf]))])),
    case(plotting.save, TypeError, r"\bfig\b", lambda: save(fig=None)),
    case(plotting.save, TypeError, r"ax\.figure", lambda: save(fig=FIG.add_subplot())),
    case(plotting.save, ValueError, "path", lambda: save(path=DIR)),
    case(plotting.save, ValueError, "path", lambda: save(path=os.path.join(DIR, "f.xyz"))),
    case(plotting.save, ValueError, "path", lambda: save(path=os.path.join(DIR, "figure"))),  # no extension
    case(plotting.save, TypeError, "path", lambda: save(path=None)),
    case(plotting.save, ValueError, "dpi", lambda: save(dpi=0)),
    case(plotting.save, TypeError, "dpi", lambda: save(dpi="high")),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(plotting, CASES, exempt={})


# Two fixed bugs: save wrote PNG bytes whatever the extension, and a fifth histogram series was dropped.

def test_save_writes_the_format_of_the_extension():
  path = plotting.save(matplotlib.figure.Figure(figsize=(1, 1)), os.path.join(DIR, "sub", "f.pdf"), dpi=20)
  with open(path, "rb") as f:
    assert f.read(4) == b"%PDF"
  assert os.listdir(os.path.dirname(path)) == ["f.pdf"]  # no temporary file left


def test_every_histogram_series_is_drawn():
  series = [(str(k), np.arange(3.0) + k) for k in range(5)]
  fig = plotting.representations([], [dict(title="t", xlabel="x", series=series)])
  labels = fig.axes[1].get_legend_handles_labels()[1]  # a 2 x 1 grid: the histograms are the second axes
  assert labels == [str(k) for k in range(5)]
  plotting.plt.close(fig)
