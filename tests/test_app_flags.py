"""Bad flags and configs of the sims apps: each is a ValueError naming the flag (the app exits with
that message), raised before anything trains or draws data, so the workdir stays empty."""

import importlib
import os
import pathlib
import re
import subprocess
import sys

import pytest

from _app_flags import case_ids, config, files, refuse_work
from sims import _flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
APPS = ("phase_diagram", "regimes")  # margin_check, diffusion_toy, detect_steer: tests/test_app_flags_theory_apps.py
PRESET = dict(phase_diagram="smoke", regimes="smoke")

# (app, {config path: value}, regex the message must match: the override that would fix it)
CONFIGS = [
    ("phase_diagram", {"n_sigma.K": 1}, r"--config\.n_sigma\.K=1\b"),  # used to end in ZeroDivisionError
    ("phase_diagram", {"d": 0}, r"--config\.d=0\b"),  # used to end in ZeroDivisionError
    ("phase_diagram", {"alpha_K.K": (2, 40)}, r"--config\.alpha_K\.K="),  # the last experiment's value
    ("phase_diagram", {"hybrid.duplicated": (0.0, 1.5)}, r"--config\.hybrid\.duplicated="),
    ("phase_diagram", {"n_sigma.sigma": (0.0, 0.2)}, r"--config\.n_sigma\.sigma="),
    ("phase_diagram", {"n_sigma.premise_alpha": -1.0}, r"--config\.n_sigma\.premise_alpha="),
    ("phase_diagram", {"convergence.patience": 0}, r"--config\.convergence\b.*patience"),
    ("phase_diagram", {"seeds": (0, 0)}, r"--config\.seeds=.*distinct"),
    ("phase_diagram", {"refine.rel": 0.0}, r"--config\.refine\.rel="),
    ("phase_diagram", {"d": 2}, r"--config\.(alpha_K|n_sigma)\.K=.*\bd\b"),  # K means need d >= K
    ("regimes", {"d": 32}, r"--config\.d=32\b"),
    ("regimes", {"mem.p": 4}, r"--config\.mem\.p=4\b.*mem\.n"),  # Cor. 3.2: p >= n
    ("regimes", {"gen.K": 1}, r"--config\.gen\.K=1\b"),
    ("regimes", {"gen.beta": -0.9}, r"--config\.gen\.beta="),
    ("regimes", {"hybrid.train.sigma": 0.0}, r"--config\.hybrid\.train\.sigma="),
    ("regimes", {"digits.train_gen.learning_rate": -1.0}, r"--config\.digits\.train_gen\b.*learning_rate"),
    ("regimes", {"digits.n_mem": 5000}, r"--config\.digits\.n_mem="),
    ("regimes", {"num_hist_inputs": 0}, r"--config\.num_hist_inputs="),
    ("regimes", {"mem.train.lam": 2.0}, r"--config\.mem\.train\.lam=2\.0\b"),  # no W_mem (Eq. 9)
]

# (app, what is wrong, regex)
DIRS = [(app, "workdir_is_a_file", r"--workdir=") for app in APPS] + [
    (app, "figdir_is_a_file", r"--figdir=") for app in APPS] + [
    ("phase_diagram", "plot_only_without_results", r"--workdir=.*n_sigma"),
]

@pytest.fixture
def no_work(monkeypatch):
  """Training and data drawing fail the test: the checks must come first."""
  refuse_work(monkeypatch)


def _config(app: str, overrides: dict):
  return config(app, PRESET[app], overrides)


def _run(app: str, c, work, figs=None, verdicts=None, **kwargs):
  module = importlib.import_module(f"sims.{app}")
  return module.run(c, str(work), figs, progress=False, **kwargs)


@pytest.mark.parametrize("app, overrides, match", CONFIGS, ids=case_ids(CONFIGS))
def test_bad_config_is_refused_before_any_work(tmp_path, no_work, app, overrides, match):
  c = _config(app, overrides)
  work = tmp_path / "work"
  with pytest.raises(ValueError, match=match):
    _run(app, c, work, str(tmp_path / "figs"))
  assert files(work) == []  # no sweep chunks, no results


@pytest.mark.parametrize("app, problem, match", DIRS, ids=case_ids(DIRS))
def test_bad_directory_is_refused_before_any_work(tmp_path, no_work, app, problem, match):
  c = _config(app, {})
  work, figs, verdicts, kwargs = tmp_path / "work", None, None, {}
  afile = tmp_path / "a_file"
  afile.write_text("")
  if problem == "workdir_is_a_file":
    work = afile
  elif problem == "figdir_is_a_file":
    figs = str(afile)
  elif problem == "verdicts_is_a_directory":
    verdicts = str(tmp_path)
  else:
    kwargs["plot_only"] = True
  with pytest.raises(ValueError, match=match):
    _run(app, c, work, figs, verdicts, **kwargs)
  assert files(tmp_path / "work") == []


def test_every_app_has_three_bad_configs_and_a_bad_directory():
  for app in APPS:
    assert sum(row[0] == app for row in CONFIGS) >= 3, app
    assert sum(row[0] == app for row in DIRS) >= 2, app


def test_every_preset_passes_its_app_checks():
  presets = dict(phase_diagram=("smoke", "default", "paper"), regimes=("smoke", "default"))
  for app, names in presets.items():
    module = importlib.import_module(f"sims.{app}")
    for name in names:
      module.validate_config(importlib.import_module(f"sims.configs.{app}").get_config(name))


def test_figures_default_to_the_workdir():
  assert _flags.figdir_for("results/x", "") == os.path.join("results/x", "figures")
  assert _flags.figdir_for("results/x", None) == os.path.join("results/x", "figures")
  assert _flags.figdir_for("results/x", "figures") == "figures"


def _cli(*args):
  return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("args, match", [
    (("sims.phase_diagram", "--config.n_sigma.K=1"), "--config.n_sigma.K=1"),
    (("sims.phase_diagram", "--experiments=n_sigma,bogus"), "--experiments=n_sigma,bogus"),
    (("sims.regimes", "--experiments=memorisation"), "--experiments=memorisation"),
    (("sims.regimes", "--config.mem.p=4"), "--config.mem.p=4"),
], ids=["phase_diagram-K", "phase_diagram-experiments", "regimes-experiments", "regimes-mem-p"])
@pytest.mark.slow
def test_app_exits_with_the_message_before_any_work(tmp_path, args, match):
  work = tmp_path / "work"
  out = _cli(*args, f"--workdir={work}")
  assert out.returncode == 1 and match in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
  assert len(out.stderr.strip().splitlines()) == 1, out.stderr[-2000:]  # one line, naming the flag
  assert files(work) == []


@pytest.mark.parametrize("app", APPS)
def test_a_workdir_holding_another_run_is_refused_before_any_work(tmp_path, no_work, app):
  """The workdir records its run's config (run.json): another config there is refused up front,
  naming what differs and --overwrite, before any experiment trains (it used to crash in a
  later experiment's sweep with "holds a different sweep")."""
  work = tmp_path / "work"
  other = _config(app, {"seeds": (7, 8)} if app == "phase_diagram" else {"seed": 7})
  _flags.prepare_workdir(str(work), app, other.to_dict(), overwrite=False)
  with pytest.raises(ValueError, match=r"--workdir=.*other settings.*--overwrite"):
    _run(app, _config(app, {}), work)
  assert [p.name for p in files(work)] == [_flags.RUN_FILE]


@pytest.mark.slow
def test_a_workdir_holding_another_run_is_refused_from_the_command_line(tmp_path):
  from sims.configs import phase_diagram as presets
  work = tmp_path / "work"
  _flags.prepare_workdir(str(work), "phase_diagram", presets.get_config("default").to_dict(), overwrite=False)
  out = _cli("sims.phase_diagram", "--config=sims/configs/phase_diagram.py:smoke", f"--workdir={work}")
  assert out.returncode == 1 and "--overwrite" in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
  assert [p.name for p in files(work)] == [_flags.RUN_FILE]


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
def test_help_lists_the_app_flags(app):
  out = _cli(f"sims.{app}", "--help")
  text = out.stdout + out.stderr
  for flag in ("config", "workdir", "figdir", "experiments", "overwrite"):
    assert re.search(rf"--(\[no\])?{flag}\b", text), (flag, text[-2000:])
  assert "<workdir>/figures" in text and "--figdir=figures" in text and f"runs/{app}" in text, text[-2000:]
  assert "DuplicateFlagError" not in text
