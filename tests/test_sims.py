"""Smoke-runs every sims/ app at its ``quick`` preset and checks what it writes."""

import os

import numpy as np

from relu_dae import results
from sims import regimes
from sims.configs import regimes as regimes_config


def test_regimes_quick_writes_figures_and_results(tmp_path):
  config = regimes_config.get_config("quick")
  summary = regimes.run(config, str(tmp_path / "work"), str(tmp_path / "figs"))
  for name in ["regimes_weights.png", "regimes_representations.png"]:
    assert os.path.getsize(tmp_path / "figs" / name) > 10_000
  arrays, meta = results.load(str(tmp_path / "work" / "regimes"))
  assert arrays["mem_W"].shape == (config.d, config.mem.p) and np.all(np.isfinite(arrays["mem_W"]))
  assert meta["summary"]["generalization"]["allocation"] == summary["generalization"]["allocation"]
  assert sum(summary["generalization"]["allocation"]) + summary["generalization"]["dead_units"] == config.gen.p
  # Even 300 steps store every locally sparse sample (the memorization minimum is found fast).
  assert summary["memorization"]["stored_fraction"] == 1.0
