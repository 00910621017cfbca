"""Bad inputs to relu_dae.results raise ValueError/TypeError naming the parameter; nothing is written."""

import json
import os
import tempfile

import numpy as np
import pytest

from relu_dae import results
from _bad_inputs import case, check, check_coverage, ids

_TMP = tempfile.TemporaryDirectory()
DIR = _TMP.name
A_FILE = os.path.join(DIR, "a_file")
NOT_NPZ = os.path.join(DIR, "not_npz")
NO_META = os.path.join(DIR, "no_meta")
HALF = os.path.join(DIR, "half")  # an .npz without its .json
GOOD = os.path.join(DIR, "good")


def _setup():
  with open(A_FILE, "w") as f:
    f.write("x")
  results.save(GOOD, {"x": np.arange(3)}, {"sigma": 0.2})
  with open(NOT_NPZ + ".npz", "w") as f:
    f.write("not a zip archive")
  with open(NOT_NPZ + ".json", "w") as f:
    json.dump({"meta": {}}, f)
  np.savez(NO_META + ".npz", x=np.ones(2))
  with open(NO_META + ".json", "w") as f:
    json.dump({"sigma": 0.2}, f)
  np.savez(HALF + ".npz", x=np.ones(2))


_setup()
OUT = os.path.join(DIR, "out", "run")  # where the bad saves would write
save = lambda **kw: results.save(**{**dict(stem=OUT, arrays={"x": np.ones(2)}, meta={"a": 1}), **kw})
save_json = lambda **kw: results.save_json(**{**dict(path=OUT + ".json", obj={"a": 1}), **kw})

CASES = [
    case(results.save_json, TypeError, "path", lambda: save_json(path=None)),
    case(results.save_json, ValueError, "path", lambda: save_json(path=DIR)),
    case(results.save_json, ValueError, "path", lambda: save_json(path=os.path.join(A_FILE, "r.json"))),
    case(results.save_json, ValueError, "path", lambda: save_json(path="")),
    case(results.save_json, TypeError, "obj", lambda: save_json(obj=[1, 2])),
    case(results.save_json, ValueError, "obj", lambda: save_json(obj={1: "a", "1": "b"})),  # one JSON key
    case(results.save, TypeError, "stem", lambda: save(stem=3)),
    case(results.save, ValueError, "stem", lambda: save(stem=DIR)),
    case(results.save, ValueError, "stem", lambda: save(stem=DIR + os.sep)),
    case(results.save, ValueError, "stem", lambda: save(stem=OUT + ".npz")),
    case(results.save, TypeError, r"arrays\['bad'\]", lambda: save(arrays={"bad": np.array([{"a": 1}], dtype=object)})),
    case(results.save, TypeError, r"arrays\['none'\]", lambda: save(arrays={"none": None})),
    case(results.save, TypeError, r"arrays\['ragged'\]", lambda: save(arrays={"ragged": [[1.0], [2.0, 3.0]]})),
    case(results.save, ValueError, r"arrays key 'file'", lambda: save(arrays={"file": np.ones(2)})),
    case(results.save, ValueError, r"arrays key 'allow_pickle'", lambda: save(arrays={"allow_pickle": np.ones(2)})),
    case(results.save, TypeError, "arrays", lambda: save(arrays=[np.ones(2)])),
    case(results.save, TypeError, "arrays", lambda: save(arrays={0: np.ones(2)})),
    case(results.save, TypeError, "meta", lambda: save(meta=None)),
    case(results.save, ValueError, "meta", lambda: save(meta={"n": {2: 1, "2": 3}})),
    case(results.load, TypeError, "stem", lambda: results.load(None)),
    case(results.load, ValueError, "stem", lambda: results.load(os.path.join(DIR, "missing"))),
    case(results.load, ValueError, "without extension", lambda: results.load(GOOD + ".npz")),
    case(results.load, ValueError, "stem", lambda: results.load(NOT_NPZ)),
    case(results.load, ValueError, "stem", lambda: results.load(NO_META)),
    case(results.load, ValueError, "stem", lambda: results.load(HALF)),
]


@pytest.mark.parametrize("c", CASES, ids=ids(CASES))
def test_bad_input(c):
  check(c)


def test_bad_saves_write_nothing():
  for c in CASES:
    if c.fn is not results.load:
      check(c)
  assert not os.path.exists(os.path.dirname(OUT))


def test_a_missing_result_is_also_file_not_found():
  with pytest.raises(FileNotFoundError):
    results.load(os.path.join(DIR, "missing"))


def test_every_public_callable_has_three_bad_inputs():
  check_coverage(results, CASES, exempt={"versions": "takes no arguments"})
