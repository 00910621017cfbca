"""Smoke-runs the sims apps at their ``smoke`` preset through ``run(...)`` and checks what they write."""

import contextlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from relu_dae import results
from sims import regimes
from sims.configs import regimes as regimes_config


@pytest.mark.slow
def test_regimes_smoke_writes_figures_and_results(tmp_path):
  config = regimes_config.get_config("smoke")
  summary = regimes.run(config, str(tmp_path / "work"), str(tmp_path / "figs"), progress=False)
  for name in ["regimes_weights.png", "regimes_representations.png"]:
    assert os.path.getsize(tmp_path / "figs" / name) > 10_000
  arrays, meta = results.load(str(tmp_path / "work" / "regimes"))
  assert arrays["mem_W"].shape == (config.d, config.mem.p) and np.all(np.isfinite(arrays["mem_W"]))
  assert meta["summary"]["generalization"]["allocation"] == summary["generalization"]["allocation"]
  assert sum(summary["generalization"]["allocation"]) + summary["generalization"]["dead_units"] == config.gen.p
  assert meta["experiments"] == list(regimes.EXPERIMENTS)
  # Even the smoke preset's steps store every locally sparse sample (the memorization minimum is found fast).
  assert summary["memorization"]["stored_fraction"] == 1.0


def test_regimes_weight_panels_say_which_columns_they_draw():
  from sims.regimes import plots
  assert plots.column_note([2, 0], 16) == "columns #2, #0 of p=16"
  assert plots.column_note(range(12), 12) == "first 10 of p=12 columns (#0–#9)"
  assert plots.column_note([5, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11], 12).startswith("first 10 of p=12 columns (#5, #1,")


@pytest.mark.slow
def test_regimes_runs_only_the_chosen_experiments_and_overwrites_on_request(tmp_path):
  """From the command line: --experiments=memorization trains that model only; a second run with
  another config in the same workdir is refused before training, and passes with --overwrite."""
  work = tmp_path / "work"
  cli = [sys.executable, "-m", "sims.regimes", "--config=sims/configs/regimes.py:smoke", f"--workdir={work}",
         "--experiments=memorization"]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run(cli, capture_output=True, text=True, timeout=300, cwd=root)
  assert out.returncode == 0, out.stderr[-2000:]
  _, meta = results.load(str(work / "regimes"))
  assert meta["experiments"] == ["memorization"] and list(meta["summary"]) == ["memorization", "representations",
                                                                                 "seconds"]
  assert "memorization" in out.stdout and "Unable to initialize backend" not in out.stderr
  out = subprocess.run(cli + ["--config.mem.train.steps=50"], capture_output=True, text=True, timeout=300, cwd=root)
  assert out.returncode == 1 and "--overwrite" in out.stderr and "mem.train.steps" in out.stderr, out.stderr[-2000:]
  out = subprocess.run(cli + ["--config.mem.train.steps=50", "--overwrite"], capture_output=True, text=True,
                       timeout=300, cwd=root)
  assert out.returncode == 0, out.stderr[-2000:]
  assert results.load(str(work / "regimes"))[1]["config"]["mem"]["train"]["steps"] == 50


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
  paths = phase_diagram.run(config, work, figs, plot_only=True, experiments=("hybrid",))
  assert sorted(os.path.basename(p) for p in paths) == ["critical_n.png", "phase_hybrid.png"]


@pytest.mark.slow
def test_phase_diagram_runs_only_the_chosen_experiment(tmp_path):
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  c = phase_config.get_config("smoke")
  c.refine.rounds = 0
  paths = phase_diagram.run(c, str(tmp_path), str(tmp_path / "figs"), experiments=("n_p",), progress=False)
  assert [os.path.basename(p) for p in paths] == ["phase_n_p.png"]  # critical_n.png needs all four
  assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".json")) == ["n_p.json", "run.json"]


def _old_spectra(fam, n, dup):
  """The spectra as the app computed them before streaming: every cluster's Gram at once (K, d, d)."""
  from relu_dae import sweep
  first = sweep.first_rows(fam.labels[None])[0]
  w = np.asarray(sweep.sample_weights(fam.labels, first, n, dup, fam.num_clusters), np.float64)
  member = np.eye(fam.num_clusters)[fam.labels] * w[:, None]
  evals, evecs = np.linalg.eigh(np.einsum("nk,nd,ne->kde", member, fam.X, fam.X))
  return evals.astype(np.float32), evecs.astype(np.float32), member.sum(0).astype(np.float32)


@pytest.mark.slow
def test_streamed_cluster_spectra_give_the_old_generalization_targets():
  """cluster_spectra (one cluster at a time, top pairs) against the old all-clusters-at-once eigh, on
  every smoke family, training-set size and duplicated fraction: the same counts and eigenvalues,
  and the same Cor. 3.3 target Gram at every σ, p of the smoke grid (eigenvectors of repeated
  eigenvalues may rotate, the Gram may not)."""
  from relu_dae import minima as rd_minima
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  c = phase_config.get_config("smoke")
  fams = [draws[0] for draws in phase_diagram.families(c, "n_sigma")[0]]
  cases = [(f, n, 0.0) for f in fams for n in c.n_sigma.n] + [(fams[1], n, dup) for n in c.hybrid.n
                                                               for dup in c.hybrid.duplicated]
  for fam, n, dup in cases:
    rank = min(max(c.p_max // fam.num_clusters, 1), fam.X.shape[1])
    new, old = phase_diagram.cluster_spectra(fam, n, dup, rank), _old_spectra(fam, n, dup)
    np.testing.assert_allclose(new[0], old[0][:, -rank:], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(new[2], old[2])
    for sigma in c.n_sigma.sigma:
      for p in c.n_p.p:
        p_k = max(p // fam.num_clusters, 1)
        np.testing.assert_allclose(rd_minima.generalization_gram(*new, sigma, c.lam, p_k),
                                   rd_minima.generalization_gram(*old, sigma, c.lam, p_k), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{fam.name} n={n} dup={dup} σ={sigma} p={p}")


def test_phase_diagram_presets_build_valid_grids():
  from sims import phase_diagram
  from sims.configs import phase_diagram as phase_config
  for preset in ("smoke", "default", "paper"):
    c = phase_config.get_config(preset)
    for experiment in phase_diagram.EXPERIMENTS:
      e = c[experiment]
      num_families = len(e.K) * len(e.alpha) if experiment == "alpha_K" else (3 if experiment == "n_sigma" else 1)
      grid = phase_diagram.grid(c, experiment, num_families).resolved(c.p_max)
      assert max(grid.n) <= c.pool and max(grid.p) <= c.p_max
      Ks = e.K if experiment == "alpha_K" else (e.K,)
      assert all(c.d >= K for K in Ks)  # simplex means need d >= K


@pytest.mark.slow
def test_refinement_rounds_add_n_inside_brackets_and_resume_bit_identically(tmp_path, monkeypatch):
  """One adaptive round on the smoke n × σ sweep: the new n lie strictly inside the brackets
  of the round-0 storage crossings; a run killed inside the refinement round resumes to the
  same bytes; the merged grid is the union, every configuration measured once."""
  from relu_dae import sweep
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


@pytest.mark.slow
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


@pytest.mark.parametrize("app", ["regimes", "phase_diagram"])  # the other apps: their own test files
def test_every_app_refuses_an_unwritable_directory_before_working(tmp_path, app):
  """A --workdir that is a file, or a read-only --figdir, is a ValueError naming the flag."""
  import importlib
  module = importlib.import_module(f"sims.{app}")
  config = importlib.import_module(f"sims.configs.{app}").get_config()
  extra = ()
  kwargs = {"progress": False}
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


def test_phase_diagram_counts_failed_seeds_per_cell():
  from sims.phase_diagram import analysis
  shape = (3, 2, 1, 1, 4, 1, 1)  # (n, σ, λ, p, seed, duplicated, data)
  ok = np.ones(shape, bool)
  ok[1, 0, 0, 0, [0, 2], 0, 0] = False  # two seeds failed at n index 1, σ index 0
  meta = {"grid_shape": list(shape)}
  failed = analysis.failed_seeds({"ok": ok.ravel()}, meta)  # (σ, λ, p, dup, data, n)
  assert failed.shape == (2, 1, 1, 1, 1, 3) and failed.sum() == 2 and failed[0, 0, 0, 0, 0, 1] == 2


@pytest.mark.slow
def test_phase_diagram_dry_run_prints_the_plan_and_trains_nothing(tmp_path):
  """``--dry_run`` at the paper preset: the plan of all four experiments, from sweep.plan, in seconds;
  no workdir is created."""
  import subprocess
  import sys
  from relu_dae import sweep
  from sims.configs import phase_diagram as phase_config
  from sims.phase_diagram import experiments
  workdir = tmp_path / "never"
  run = subprocess.run([sys.executable, "-m", "sims.phase_diagram", "--dry_run", f"--workdir={workdir}",
                        "--config=sims/configs/phase_diagram.py:paper"], capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-3000:]
  assert not workdir.exists()
  c = phase_config.get_config("paper")
  total = sum(len(experiments.grid(c, e, experiments.num_families(c, e)).resolved(c.p_max).configurations()["n"])
              for e in experiments.EXPERIMENTS)
  assert f"{total} configurations in" in run.stdout
  # The app exposes one CPU device per core before planning, so its chunks are multiples of the core count.
  import dataclasses
  import os
  config = dataclasses.replace(experiments.sweep_config(c), chunk_multiple=os.cpu_count() or 1)
  chunks = sum(len(sweep.plan(experiments.grid(c, e, experiments.num_families(c, e)), config, int(c.pool), int(c.d)))
               for e in experiments.EXPERIMENTS)
  assert f"in {chunks} chunks" in run.stdout
