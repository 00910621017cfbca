"""results: round trip, strict JSON, no pickles, no partial files."""

import json
import os

import numpy as np
import pytest

from relu_dae import results


def test_round_trip_and_versions(tmp_path):
  stem = str(tmp_path / "sub" / "run")
  arrays = {"W": np.arange(6.0).reshape(2, 3), "ok": np.array([True, False])}
  results.save(stem, arrays, {"sigma": 0.2, "loss": float("nan"), "n": np.int64(5)})
  got, meta = results.load(stem)
  np.testing.assert_array_equal(got["W"], arrays["W"])
  assert meta == {"sigma": 0.2, "loss": None, "n": 5}  # NaN → null: strict JSON
  with open(stem + ".json") as f:
    info = json.load(f)
  assert "jax" in info["versions"] and "written" in info
  assert sorted(os.listdir(tmp_path / "sub")) == ["run.json", "run.npz"]  # no temp files left behind


def test_object_arrays_are_refused(tmp_path):
  with pytest.raises(TypeError, match=r"arrays\[.bad.\].*never pickled"):
    results.save(str(tmp_path / "x"), {"bad": np.array([{"a": 1}], dtype=object)}, {})


def test_failed_write_keeps_old_file(tmp_path):
  path = str(tmp_path / "r.json")
  results.save_json(path, {"v": 1})
  with pytest.raises(TypeError):
    results._atomic_write(path, lambda f: f.write("not bytes"))
  with open(path) as f:
    assert json.load(f) == {"v": 1}
  assert os.listdir(tmp_path) == ["r.json"]
