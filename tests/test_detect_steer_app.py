"""Smoke-runs sims.detect_steer at its ``smoke`` preset and checks what it writes; its command line."""

import json
import os

import numpy as np
import pytest

from relu_dae import results


@pytest.mark.slow
def test_detect_steer_smoke_writes_figures_and_sane_tables(tmp_path):
  from sims import detect_steer
  from sims.configs import detect_steer as config_lib
  config = config_lib.get_config("smoke")
  work, figs = str(tmp_path / "work"), str(tmp_path / "figs")
  out = detect_steer.run(config, work, figs, progress=False)
  names = ["detection_roc.png", "steering_response.png", "steering_digits.png"]
  assert sorted(os.path.basename(p) for p in out["figures"]) == sorted(names)
  for name in names:
    assert os.path.getsize(os.path.join(figs, name)) > 10_000

  with open(os.path.join(work, "detection.json")) as f:
    det = json.load(f)["datasets"]
  assert set(det) == {"synthetic", "digits"}
  num_rows = 0
  for d in det.values():
    for n in d["counts"].values():
      assert n["n_total"] == config.num_samples
      # Every sample is a copy of a duplicated sample, a copy of an abundant one, or novel.
      assert n["n_pos"] + n["n_neg"] + n["n_copies_of_abundant"] == n["n_total"]
    for row in d["rows"]:
      num_rows += 1
      assert 0.0 <= row["auroc"] <= 1.0 and 0.0 <= row["tpr_at_1pct_fpr"] <= 1.0
      lo, hi = row["auroc_ci"]
      assert 0.0 <= lo <= hi <= 1.0
      assert row["n_pos"] == d["counts"][row["labelling"]]["n_pos"] >= 2
  assert num_rows > 0  # the smoke models do memorize some duplicated samples

  with open(os.path.join(work, "steering.json")) as f:
    steer = json.load(f)["datasets"]
  for s in steer.values():
    assert len(s["a"]) == config.steer.num_a and s["a"][0] == 0.0
    assert s["sampling_a0_max_abs_diff"] < 1e-4  # a = 0 reproduces the unsteered samples
    for group in ("memorized", "generalized"):
      st = s["onestep"][group]
      assert st["num_inputs"] == config.steer.num_inputs
      assert all(0.0 <= p <= 1.0 for p in st["mean_curve"])
      tv, jump = st["per_input_total_variation"], st["per_input_max_jump"]
      assert 0.0 <= jump["value"] <= tv["value"] + 1e-12 and tv["ci"][0] <= tv["value"] <= tv["ci"][1]

  arrays, _ = results.load(os.path.join(work, "arrays"))
  G = arrays["digits_generated"]
  assert G.shape == (config.num_samples, 64) and np.all(np.isfinite(G))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args, timeout=120):
  import subprocess
  import sys
  return subprocess.run([sys.executable, "-m", "sims.detect_steer", *args], capture_output=True, text=True,
                        timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_experiments_flag_runs_only_detection_and_workdir_records(tmp_path):
  work, smoke = tmp_path / "work", "--config=sims/configs/detect_steer.py:smoke"
  out = _cli(smoke, "--experiments=detection", f"--workdir={work}", timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  assert (work / "detection.json").exists() and not (work / "steering.json").exists()
  assert sorted(p.name for p in (work / "figures").iterdir()) == ["detection_roc.png"]
  out = _cli(smoke, "--config.num_samples=100", f"--workdir={work}")
  assert out.returncode == 1 and "num_samples" in out.stderr and "--overwrite" in out.stderr, out.stderr[-2000:]
