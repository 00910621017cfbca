"""Smoke-runs every sims/ app at its ``quick`` preset and checks what it writes."""

import contextlib
import json
import os

import numpy as np
import pytest

from relu_dae import results
from sims import regimes
from sims.configs import regimes as regimes_config


@pytest.mark.slow
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


@pytest.mark.slow
def test_phase_diagram_smoke_writes_figures_results_and_redraws(tmp_path):
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  config = phase_config.get_config("smoke")
  work, figs = str(tmp_path / "work"), str(tmp_path / "figs")
  paths = phase_diagram.run(config, work, figs, progress=False)
  names = ["phase_n_sigma.png", "phase_n_p.png", "phase_hybrid.png", "critical_n.png"]
  assert sorted(os.path.basename(p) for p in paths) == sorted(names)
  arrays, meta = results.load(os.path.join(work, "n_sigma"))
  C = int(np.prod(meta["grid_shape"]))
  assert arrays["stored"].shape == (C,) and set(np.unique(arrays["regime"])) <= {0, 1, 2}
  assert meta["families"][0] == "locally sparse" and meta["devices"]
  assert arrays["converged"].shape == (C,) and 0.0 <= meta["converged_fraction"] <= 1.0
  assert len(meta["premises"]) == len(meta["families"]) == 3
  summary = json.load(open(os.path.join(work, "critical_summary.json")))
  for fam in meta["families"]:
    entry = summary["n_sigma"][fam]["stored"]
    assert len(entry["n_star"]) == len(entry["ci95_low"]) == len(entry["capacity_bound"]) == len(config.n_sigma.sigma)
  assert set(summary["p"]["fits"]["stored"]) >= {"exponent", "ci95_low", "ci95_high", "points"}
  assert summary["runs"]["n_sigma"]["seeds"] == len(config.seeds)
  for name in names:
    os.remove(os.path.join(figs, name))
  phase_diagram.run(config, work, figs, plot_only=True)  # redraws from the saved results only
  for name in names:
    assert os.path.getsize(os.path.join(figs, name)) > 10_000


def test_apps_parse_their_flags_from_the_command_line(tmp_path):
  import subprocess
  import sys
  for module in ("sims.regimes", "sims.phase_diagram"):
    out = subprocess.run([sys.executable, "-m", module, "--helpfull"], capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr  # absl prints help and exits with status 1
    assert "--config" in text and "--workdir" in text and "DuplicateFlagError" not in text, text[-2000:]


def test_phase_diagram_presets_build_valid_grids():
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  from relu_dae import sweep
  for preset in ("smoke", "quick", "paper"):
    c = phase_config.get_config(preset)
    for experiment in phase_diagram.EXPERIMENTS:
      e = c[experiment]
      num_families = len(e.K) * len(e.alpha) if experiment == "alpha_K" else (3 if experiment == "n_sigma" else 1)
      grid = phase_diagram._grid(c, experiment, num_families).resolved(c.p_max)
      assert max(grid.n) <= c.pool and max(grid.p) <= c.p_max
      Ks = e.K if experiment == "alpha_K" else (e.K,)
      assert all(c.d >= K for K in Ks)  # simplex means need d >= K


def test_refinement_rounds_add_n_inside_brackets_and_resume_bit_identically(tmp_path, monkeypatch):
  """One adaptive round on the smoke n × σ sweep: the new n lie strictly inside the brackets
  of the round-0 storage crossings; a run killed inside the refinement round resumes to the
  same bytes; the merged grid is the union, every configuration measured once."""
  from relu_dae import boundaries, sweep
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  c = phase_config.get_config("smoke")
  c.refine.rounds = 1
  whole = results.load(phase_diagram.run_experiment(c, "n_sigma", str(tmp_path / "whole"), progress=False))
  rounds = whole[1]["refinement"]
  coarse = list(c.n_sigma.n)
  added = rounds[1]["n"] if len(rounds) > 1 else []
  assert whole[1]["grid"]["n"] == sorted(coarse + added)
  for n in added:  # every new n splits a bracket of the coarse grid
    assert n not in coarse and min(coarse) < n < max(coarse)
  assert rounds[0]["configs"] + sum(r["configs"] for r in rounds[1:]) == len(whole[0]["ok"])
  if not added:
    return
  real = sweep._train_chunk
  workdir = str(tmp_path / "killed")
  state = {"refining": False}
  real_run = sweep.run

  def run(grid, config, workdir, **kwargs):
    state["refining"] = "refine" in os.path.basename(workdir)
    return real_run(grid, config, workdir, **kwargs)

  def train_chunk(*args, **kwargs):
    if state["refining"]:
      raise KeyboardInterrupt("simulated kill in the refinement round")
    return real(*args, **kwargs)

  monkeypatch.setattr(sweep, "run", run)
  monkeypatch.setattr(sweep, "_train_chunk", train_chunk)
  with pytest.raises(KeyboardInterrupt):
    phase_diagram.run_experiment(c, "n_sigma", workdir, progress=False)
  monkeypatch.setattr(sweep, "_train_chunk", real)
  resumed = results.load(phase_diagram.run_experiment(c, "n_sigma", workdir, progress=False))
  assert resumed[0].keys() == whole[0].keys()
  for k in whole[0]:
    np.testing.assert_array_equal(resumed[0][k], whole[0][k], err_msg=k)


def test_fresh_pools_give_every_seed_its_own_data(tmp_path):
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  c = phase_config.get_config("smoke")
  c.fresh_pools, c.refine.rounds = True, 0
  arrays, meta = results.load(phase_diagram.run_experiment(c, "n_p", str(tmp_path), progress=False))
  assert meta["pool_draws"] == len(c.seeds) and len(meta["premises_per_draw"][0]) == len(c.seeds)
  draws = meta["premises_per_draw"][0]
  assert draws[0]["beta_samples"] != draws[1]["beta_samples"]  # the draws are different data
  assert np.isfinite(arrays["stored"]).all()


@pytest.mark.parametrize("field, value, match", [
    ("n_sigma.K", 1, "K"),
    ("d", 0, "config.d"),
    ("alpha_K.K", (2, 40), "K"),
    ("n_p.p", (4, 64), "p_max"),
    ("hybrid.n", (2, 99), "pool"),
    ("hybrid.duplicated", (0.0, 1.5), "duplicated"),
    ("stored_threshold", 1.5, "stored_threshold"),
    ("train.learning_rate", -1.0, "learning_rate"),
    ("refine.rounds", -1, "refine.rounds"),
])
def test_phase_diagram_refuses_a_bad_config_before_training(tmp_path, monkeypatch, field, value, match):
  from relu_dae import sweep
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  c = phase_config.get_config("smoke")
  node, key = c, field.split(".")
  for part in key[:-1]:
    node = node[part]
  with node.unlocked() if hasattr(node, "unlocked") else contextlib.nullcontext():
    node[key[-1]] = value
  monkeypatch.setattr(sweep, "run", lambda *a, **k: pytest.fail("a sweep started before the config was checked"))
  with pytest.raises(ValueError, match=match):
    phase_diagram.run(c, str(tmp_path / "work"), str(tmp_path / "figs"), progress=False)


def test_phase_diagram_refuses_a_workdir_that_is_a_file(tmp_path):
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  path = tmp_path / "file"
  path.write_text("")
  with pytest.raises(ValueError, match="workdir"):
    phase_diagram.run(phase_config.get_config("smoke"), str(path), str(tmp_path / "figs"), progress=False)


@pytest.mark.parametrize("app", ["regimes", "margin_check", "diffusion_toy", "detect_steer", "phase_diagram"])
def test_every_app_refuses_an_unwritable_directory_before_working(tmp_path, app):
  """A --workdir that is a file, or a read-only --figdir, is a ValueError naming the flag."""
  import importlib
  module = importlib.import_module(f"sims.{app}")
  config = importlib.import_module(f"sims.configs.{app}").get_config()
  extra = (str(tmp_path / "verdicts.json"),) if app == "margin_check" else ()
  kwargs = {} if app == "regimes" else {"progress": False}
  afile = tmp_path / "a_file"
  afile.write_text("")
  with pytest.raises(ValueError, match="--workdir"):
    module.run(config, str(afile), str(tmp_path / "figs"), *extra, **kwargs)
  readonly = tmp_path / "readonly"
  readonly.mkdir()
  readonly.chmod(0o500)
  try:
    if os.access(readonly, os.W_OK):  # root ignores permissions: nothing to check
      return
    with pytest.raises(ValueError, match="--figdir"):
      module.run(config, str(tmp_path / "work"), str(readonly / "figs"), *extra, **kwargs)
  finally:
    readonly.chmod(0o700)


@pytest.mark.parametrize("field, value, match", [
    ("K", 0, "config.K"), ("copy_threshold", 1.5, "copy_threshold"), ("n", (2, 0), r"config\.n="),
    ("train.learning_rate", -1.0, "learning_rate"), ("sampler.num_steps", 0, "num_steps"),
    ("digits.n_gen", 5000, "n_gen")])
def test_diffusion_toy_refuses_a_bad_config_before_training(tmp_path, monkeypatch, field, value, match):
  from relu_dae import sweep
  from sims import diffusion_toy
  from sims.configs import diffusion_toy as config_lib
  c = config_lib.get_config("smoke")
  node, key = c, field.split(".")
  for part in key[:-1]:
    node = node[part]
  node[key[-1]] = value
  monkeypatch.setattr(sweep, "run", lambda *a, **k: pytest.fail("a sweep started before the config was checked"))
  with pytest.raises(ValueError, match=match):
    diffusion_toy.run(c, str(tmp_path / "work"), str(tmp_path / "figs"), progress=False)


def test_phase_plots_count_failed_seeds_per_cell():
  from sims import phase_plots
  shape = (3, 2, 1, 1, 4, 1, 1)  # (n, σ, λ, p, seed, duplicated, data)
  ok = np.ones(shape, bool)
  ok[1, 0, 0, 0, [0, 2], 0, 0] = False  # two seeds failed at n index 1, σ index 0
  meta = {"grid_shape": list(shape)}
  failed = phase_plots._failed({"ok": ok.ravel()}, meta)  # (σ, λ, p, dup, data, n)
  assert failed.shape == (2, 1, 1, 1, 1, 3) and failed.sum() == 2 and failed[0, 0, 0, 0, 0, 1] == 2
