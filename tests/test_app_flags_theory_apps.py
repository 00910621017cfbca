"""Bad flags, configs and command lines of the theory apps (margin_check, diffusion_toy, detect_steer,
deep_diffusion): each is a ValueError naming the flag (the app exits with that message), raised before
anything trains or draws data, so the workdir stays empty. (phase_diagram and regimes: tests/test_app_flags.py.)"""

import importlib

import pytest

from _app_flags import case_ids, config, files, refuse_work

APPS = ("margin_check", "diffusion_toy", "detect_steer", "deep_diffusion")
PRESET = dict(margin_check="smoke", diffusion_toy="smoke", detect_steer="smoke", deep_diffusion="smoke")

# (app, {config path: value}, regex the message must match: the override that would fix it)
CONFIGS = [
    ("margin_check", {"cor33.K": 1}, r"--config\.cor33\.K=1\b"),
    ("margin_check", {"cor33.train_n_k": (16,)}, r"--config\.cor33\.train_n_k="),  # never trained
    ("margin_check", {"cor33.beta": 0.1}, r"--config\.cor33\.beta="),
    ("margin_check", {"families[1].ps": (1, 2)}, r"--config\.families\[1\]\.ps="),
    ("margin_check", {"families[0].kind": "other"}, r"--config\.families\[0\]\.kind="),
    ("margin_check", {"sigma": (0.5, 0.005)}, r"--config\.sigma="),
    ("margin_check", {"lam_frac": 1.0}, r"--config\.lam_frac="),
    ("margin_check", {"limits.sigma": (0.0, 1.6)}, r"--config\.limits\.sigma="),
    ("margin_check", {"jacobian.mem_p": 4}, r"--config\.jacobian\.mem_p=4\b"),
    ("margin_check", {"draws_per_dim": 1}, r"--config\.draws_per_dim="),
    ("margin_check", {"basin_deltas": ()}, r"--config\.basin_deltas="),
    ("margin_check", {"train.learning_rate": 0.0}, r"--config\.train\b.*learning_rate"),
    ("diffusion_toy", {"K": 1}, r"--config\.K=1\b"),
    ("diffusion_toy", {"d": 2}, r"--config\.d=2\b"),
    ("diffusion_toy", {"n": (2, 0)}, r"--config\.n="),
    ("diffusion_toy", {"n": (2, 3)}, r"--config\.n=.*\bK\b"),  # the figure needs an n >= K
    ("diffusion_toy", {"sigma_min": 3.0}, r"--config\.sigma_max=.*sigma_min"),
    ("diffusion_toy", {"sampler.clamp": -1.0}, r"--config\.sampler\.clamp="),
    ("diffusion_toy", {"digits.show": 1000}, r"--config\.digits\.show="),
    ("diffusion_toy", {"dae.sigma": 0.0}, r"--config\.dae\.sigma="),
    ("diffusion_toy", {"buckets": "pow3"}, r"--config\.buckets="),
    ("detect_steer", {"roc_sigma": 0.3}, r"--config\.roc_sigma=.*score_sigmas"),  # no ROC drawn
    ("detect_steer", {"score_sigmas": ()}, r"--config\.score_sigmas="),
    ("detect_steer", {"synthetic.n_abundant": 1}, r"--config\.synthetic\.n_abundant="),
    ("detect_steer", {"synthetic.d": 4}, r"--config\.synthetic\.d=4\b"),
    ("detect_steer", {"digits.n_test": 1797}, r"--config\.digits\.n_test="),
    ("detect_steer", {"steer.target_class": 10}, r"--config\.steer\.target_class="),
    ("detect_steer", {"steer.window_skip_last": 15}, r"--config\.steer\.window_skip_last="),
    ("detect_steer", {"steer.grid_cols": 99}, r"--config\.steer\.grid_cols="),
    ("detect_steer", {"synthetic.train.learning_rate": 0.0}, r"--config\.synthetic\.train\b.*learning_rate"),
    ("deep_diffusion", {"sweep.n_values": (2,)}, r"--config\.sweep\.n_values="),  # no n_half from one point
    ("deep_diffusion", {"sweep.n_values": (64, 2)}, r"--config\.sweep\.n_values=.*increase"),
    ("deep_diffusion", {"sweep.n_values": (2, 2000)}, r"--config\.sweep\.n_values=.*1797"),
    ("deep_diffusion", {"unet.image_size": 12}, r"--config\.unet\.image_size=12\b"),
    ("deep_diffusion", {"data": "mnist"}, r"--config\.data='mnist'.*bars"),
    ("deep_diffusion", {"valid_distance": 0.0}, r"--config\.valid_distance="),
    ("deep_diffusion", {"unet.groups": 3}, r"--config\.unet\b.*groups"),
    ("deep_diffusion", {"train.learning_rate": 0.0}, r"--config\.train\b.*learning_rate"),
    ("deep_diffusion", {"detect.poolings": ("max", "sum")}, r"--config\.detect\.poolings="),
    ("deep_diffusion", {"steer.num_seeds": 1000}, r"--config\.steer\.num_seeds=.*num_samples"),
    ("deep_diffusion", {"hybrid.target_class": 10}, r"--config\.hybrid\.target_class="),
    ("deep_diffusion", {"jacobian.sigmas": ()}, r"--config\.jacobian\.sigmas="),
    ("deep_diffusion", {"steer.vector": "pooled"}, r"--config\.steer\.vector="),
    ("deep_diffusion", {"detect.poolings": ("mean",)}, r"--config\.detect\.poolings=.*'max'"),
    ("deep_diffusion", {"steer.window_first_frac": 0.9, "steer.window_skip_last": 10},
     r"--config\.steer\.window_skip_last=10: leaves no step"),
    ("deep_diffusion", {"steer.blocks": "down"}, r"--config\.steer\.blocks="),
]

# (app, what is wrong, regex)
DIRS = [(app, "workdir_is_a_file", r"--workdir=") for app in APPS] + [
    (app, "figdir_is_a_file", r"--figdir=") for app in APPS] + [
    ("margin_check", "verdicts_is_a_directory", r"--verdicts="),
    ("diffusion_toy", "plot_only_without_results", r"--workdir=.*diffusion"),
    ("margin_check", "plot_only_without_results", r"--workdir=.*margin_check"),
]

@pytest.fixture
def no_work(monkeypatch):
  """Training and data drawing fail the test: the checks must come first."""
  refuse_work(monkeypatch)


def _config(app: str, overrides: dict):
  return config(app, PRESET[app], overrides)


def _run(app: str, c, work, figs=None, verdicts=None, **kwargs):
  module = importlib.import_module(f"sims.{app}")
  kwargs["progress"] = False
  if app == "margin_check":
    return module.run(c, str(work), figs, verdicts, **kwargs)
  return module.run(c, str(work), figs, **kwargs)


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
  presets = dict(margin_check=("smoke", "default"), diffusion_toy=("smoke", "default", "paper"),
                 detect_steer=("smoke", "default", "paper"), deep_diffusion=("smoke", "default", "gpu"))
  for app, names in presets.items():
    module = importlib.import_module(f"sims.{app}")
    for name in names:
      module.validate_config(importlib.import_module(f"sims.configs.{app}").get_config(name))


@pytest.mark.parametrize("app", APPS)
def test_quick_preset_is_gone(app):
  """One preset mechanism: default (the committed run) and smoke (tests); no 'quick'."""
  with pytest.raises(ValueError, match="preset"):
    importlib.import_module(f"sims.configs.{app}").get_config("quick")


# ----------------------------------------------------------------------------- the command lines

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
COMMON_FLAGS = ("--config", "--workdir", "--figdir", "--experiments", "--overwrite")
EXTRA_FLAGS = dict(margin_check=("--verdicts", "--plot_only"), diffusion_toy=("--plot_only",), detect_steer=(),
                   deep_diffusion=())

# (app, arguments, text the one-line error must contain)
CLI = [
    ("margin_check", ("--config=sims/configs/margin_check.py:smoke", "--config.refine_steps=0"),
     "--config.refine_steps=0"),
    ("margin_check", ("--config=sims/configs/margin_check.py:smoke", "--experiments=cor33,bogus"), "--experiments="),
    ("margin_check", ("--quick",), "quick"),  # the old flag is gone
    ("diffusion_toy", ("--config.K=1",), "--config.K=1"),
    ("diffusion_toy", ("--experiments=digits,nope",), "--experiments="),
    ("diffusion_toy", ("--config=sims/configs/diffusion_toy.py:quick",), "preset"),
    ("detect_steer", ("--config.roc_sigma=0.3",), "--config.roc_sigma=0.3"),
    ("detect_steer", ("--experiments=steering,nope",), "--experiments="),
    ("detect_steer", ("--config=sims/configs/detect_steer.py:quick",), "preset"),
    ("deep_diffusion", ("--config.sweep.seeds=0",), "--config.sweep.seeds=0"),
    ("deep_diffusion", ("--experiments=sweep,nope",), "--experiments="),
    ("deep_diffusion", ("--config=sims/configs/deep_diffusion.py:paper",), "preset"),
]


def _cli(app: str, *args, timeout=120):
  import subprocess
  import sys
  return subprocess.run([sys.executable, "-m", f"sims.{app}", *args], capture_output=True, text=True,
                        timeout=timeout, cwd=ROOT)


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
def test_help_lists_the_flags(app):
  out = _cli(app, "--help")
  for flag in COMMON_FLAGS + EXTRA_FLAGS[app]:
    assert flag in out.stdout or flag.replace("--", "--[no]") in out.stdout, out.stdout[-2000:]
  assert "--quick" not in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("app, args, match", CLI, ids=[f"{a}-{'-'.join(x)}" for a, x, _ in CLI])
def test_bad_flag_exits_1_with_one_line_before_any_work(tmp_path, app, args, match):
  out = _cli(app, *args, f"--workdir={tmp_path / 'work'}")
  assert out.returncode == 1 and match in out.stderr, out.stderr[-2000:]
  if match != "preset":  # an unknown preset fails inside absl's flag parsing, which prints the config's traceback
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
  assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())


def test_every_app_has_three_bad_command_lines():
  for app in APPS:
    assert sum(row[0] == app for row in CLI) >= 3, app
