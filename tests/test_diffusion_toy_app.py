"""Tests for sims.diffusion_toy: its measures against brute force, the masked-width trick, and a
smoke run of the app (figures, results, resume, ``--plot_only``)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jax
import jax.numpy as jnp

from relu_dae import diffusion
from relu_dae import results
from relu_dae import train as train_lib
from relu_dae import stats
from sims import diffusion_toy
from sims.configs import diffusion_toy as config_lib
from sims.diffusion_toy import experiments


@pytest.mark.slow
def test_sample_measures_match_brute_force(key):
  X = np.asarray(jax.random.normal(key, (12, 5)))
  S = np.array(jax.random.normal(jax.random.PRNGKey(1), (9, 5)))
  S[:3] = 0.5 * X[[0, 4, 7]] + 1e-3  # scaled copies of present samples: direction copies, not copies
  w = np.ones(12)
  w[[2, 3, 9]] = 0.0
  got = jax.tree.map(np.asarray, experiments.sample_measures(jnp.asarray(S), jnp.asarray(X), jnp.asarray(w)))
  Xp = X[w > 0]
  unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)
  for name, A, B in (("ratio", S, Xp), ("dir_ratio", unit(S), unit(Xp))):
    dist = np.sort(np.linalg.norm(A[:, None] - B[None], axis=-1), axis=1)
    np.testing.assert_allclose(got[name], dist[:, 0] / dist[:, 1], rtol=1e-4)
  cos = unit(S) @ unit(Xp).T
  np.testing.assert_allclose(got["cosine"], cos.max(1), rtol=1e-5)
  np.testing.assert_array_equal(got["nn_cos"], np.flatnonzero(w > 0)[cos.argmax(1)])
  assert np.all(got["dir_ratio"][:3] < 0.01) and np.all(got["cosine"][:3] > 0.999)


@pytest.mark.slow
def test_masked_units_stay_zero_and_give_the_narrow_model(key):
  """A width-6 model padded with 4 zero columns trains exactly like the width-6 model (Adam)."""
  X = jax.random.normal(key, (8, 5))
  narrow = diffusion.init(jax.random.PRNGKey(3), 5, 6, hidden=4)
  wide = dict(narrow, W=jnp.pad(narrow["W"], ((0, 0), (0, 4))),
              time=dict(narrow["time"], w2=jnp.pad(narrow["time"]["w2"], ((0, 0), (0, 4))),
                        b2=jnp.pad(narrow["time"]["b2"], (0, 4))))
  tc = train_lib.TrainConfig(steps=60, learning_rate=1e-2, num_noise=2, chunk_size=30)
  got, _ = diffusion.train(wide, X, jax.random.PRNGKey(4), tc)
  want, _ = diffusion.train(narrow, X, jax.random.PRNGKey(4), tc)
  assert float(jnp.max(jnp.abs(got["W"][:, 6:]))) == 0.0
  np.testing.assert_allclose(got["W"][:, :6], want["W"], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got["skip"], want["skip"], rtol=1e-4, atol=1e-6)


def test_hierarchical_bootstrap_spread_matches_binomial():
  rng = np.random.default_rng(0)
  flags = (rng.random((4, 200)) < 0.3).astype(float)  # 4 seeds with the same rate
  boots = stats.hierarchical_bootstrap(flags, np.random.default_rng(1), 4000)  # the app's bootstrap
  # Two-level resampling of exchangeable seeds: Var = p(1−p)/(Sm) (within) + (≈ same) between.
  p = flags.mean()
  within = np.sqrt(p * (1 - p) / flags.size)
  assert abs(boots.mean() - p) < 4 * within / np.sqrt(4000) + 1e-3
  assert within < boots.std() < 2.0 * within
  flags[1] = np.nan  # a failed seed is skipped, not counted as zero
  assert abs(np.nanmean(stats.hierarchical_bootstrap(flags, np.random.default_rng(2), 500))
             - np.nanmean(flags)) < 0.02


def test_critical_n_labels_and_interval():
  n = [2, 4, 8, 16]
  mean = np.array([1.0, 0.9, 0.2, 0.0])
  boots = mean + np.random.default_rng(0).normal(0, 0.02, (200, 4))
  out = stats.bootstrap_crossing(n, mean, boots, 0.5)._asdict()  # the app's critical n
  # by hand: log-n interpolation between n = 4 (0.9) and n = 8 (0.2)
  assert out["n_c_where"] == "crossed" and out["n_c"] == pytest.approx(4 * 2 ** ((0.9 - 0.5) / 0.7))
  assert 4 < out["n_c_ci"][0] <= out["n_c"] <= out["n_c_ci"][1] < 8
  assert stats.bootstrap_crossing(n, mean * 0.4, boots * 0.4, 0.5).n_c_where == "below_grid"
  assert stats.bootstrap_crossing(n, np.ones(4), np.ones((5, 4)), 0.5).n_c_where == "above_grid"


def test_presets():
  for preset in ("smoke", "default", "paper"):
    c = config_lib.get_config(preset)
    assert min(c.n) >= 2 and max(c.p) <= 4096 and c.d >= c.K and c.buckets in ("pow2", "single")
    assert c.digits.n_mem < c.digits.n_gen <= 1797
  with pytest.raises(ValueError, match="preset"):
    config_lib.get_config("huge")


@pytest.mark.slow
def test_smoke_run_writes_results_figures_resumes_and_redraws(tmp_path):
  c = config_lib.get_config("smoke")
  work, figs = str(tmp_path / "work"), str(tmp_path / "figs")
  names = ["diffusion_copy_rate.png", "diffusion_samples.png"]
  paths = diffusion_toy.run(c, work, figs, progress=False)
  assert sorted(os.path.basename(p) for p in paths) == names
  with open(os.path.join(work, "summary.json")) as f:
    summary = json.load(f)
  models = summary["models"]
  for p in c.p:
    for measure in ("copy", "dir_copy"):
      s = models["diffusion"][str(p)][measure]
      rate = np.array(s["mean"], float)
      assert np.all((0 <= rate) & (rate <= 1)) and np.all(np.array(s["ci_low"]) <= rate + 1e-12)
  assert np.all(np.array(models["emp"]["copy"]["mean"]) >= 0.9)  # f_emp at σ_min = 0.02 copies
  gt = np.array(models["gt"]["copy"]["mean"])
  assert gt[-1] <= 0.1 and np.all(gt <= 0.35)  # f_gt generates new samples
  arrays, meta = results.load(os.path.join(work, "diffusion"))
  assert arrays["ratio"].shape == (len(c.n) * len(c.p) * len(c.seeds), c.sampler.num_samples)
  assert arrays["ok"].all() and meta["num_not_ok"] == 0
  parts = [os.path.join(work, name + ".npz") for name in ("diffusion", "dae", "oracles", "digits")]
  for name in ("diffusion", "dae", "digits"):
    chunks = os.path.join(work, f"{name}_sweep", "chunks")
    parts += [os.path.join(chunks, f) for f in os.listdir(chunks)]
  stamps = {p: os.path.getmtime(p) for p in parts}
  for name in names:
    os.remove(os.path.join(figs, name))
  diffusion_toy.run(c, work, figs, progress=False)  # resume: every part is reused, nothing recomputed
  assert {p: os.path.getmtime(p) for p in parts} == stamps
  for name in names:
    os.remove(os.path.join(figs, name))
  diffusion_toy.run(c, work, figs, plot_only=True)
  for name in names:
    assert os.path.getsize(os.path.join(figs, name)) > 10_000


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args, timeout=120):
  return subprocess.run([sys.executable, "-m", "sims.diffusion_toy", *args], capture_output=True, text=True,
                        timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_experiments_flag_and_workdir_records(tmp_path):
  work, smoke = tmp_path / "work", "--config=sims/configs/diffusion_toy.py:smoke"
  out = _cli(smoke, "--experiments=digits", f"--workdir={work}", timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  assert sorted(p.name for p in work.glob("*.npz")) == ["digits.npz"]
  summary = json.loads((work / "summary.json").read_text())
  assert summary["experiments"] == ["digits"] and summary["models"] == {} and "digits" in summary
  out = _cli(smoke, "--experiments=digits", "--config.digits.steps=50", f"--workdir={work}")
  assert out.returncode == 1 and "digits.steps" in out.stderr and "--overwrite" in out.stderr, out.stderr[-2000:]
  out = _cli(smoke, "--experiments=digits", "--config.digits.steps=50", f"--workdir={work}", "--overwrite",
             timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
