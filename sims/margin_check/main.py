"""``python -m sims.margin_check``: absl flags, checked before anything is computed, then :func:`sims.margin_check.run`.

Example::

  python -m sims.margin_check --config=sims/configs/margin_check.py:smoke --workdir=/tmp/mc_smoke
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import time

from absl import app
from absl import flags
from ml_collections import config_flags

import relu_dae as rd
from sims import _flags
from sims.margin_check import experiments as experiments_lib
from sims.margin_check import run, validate_config, validate_experiments

__all__ = ["main", "run_settings"]

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "margin_check.py"),
    "Preset: sims/configs/margin_check.py[:<preset>] (presets: default = the committed run, smoke = a short "
    "test run); override fields with --config.<field>=...")
_WORKDIR = flags.DEFINE_string("workdir", "runs/margin_check", "Where margin_check.{npz,json} go (runs/ is not "
                               "tracked; the committed run is --workdir=results/margin_check).")
_FIGDIR = flags.DEFINE_string("figdir", "", "Where figures go; empty = <workdir>/figures; --figdir=figures rewrites "
                              "the committed figures.")
_EXPERIMENTS = flags.DEFINE_list("experiments", [], "Run only these experiments (names: "
                                 f"{', '.join(experiments_lib.EXPERIMENTS)}); empty = all. Verdicts of the others "
                                 "say 'not run' unless --workdir holds them from a run of the same config.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a run with other settings in --workdir.")
_VERDICTS = flags.DEFINE_string("verdicts", "", "Verdict table path; empty = <workdir>/theory_verdicts.json.")
_PLOT_ONLY = flags.DEFINE_bool("plot_only", False, "Only redraw the figures (and rewrite the verdicts) from the "
                               "saved results in --workdir.")

_OUTPUTS = ("margin_check.npz", "margin_check.json", "theory_verdicts.json", "figures")


def run_settings(c) -> dict:
  """The config as a JSON dict for ``sims._flags.prepare_workdir``: ``ConfigDict.to_dict()`` leaves
  the families (a list of ConfigDicts) unconverted, so they are converted here, field by field."""
  d = c.to_dict()
  d["families"] = [dict(f) for f in c.families]
  return json.loads(json.dumps(d, default=list))


def _adopt_saved_run(workdir: str, c, settings: dict) -> None:
  """A workdir written before run records existed (the committed ``results/margin_check``) holds
  only this app's outputs and no ``run.json``: record the settings its ``margin_check.json`` was
  written with, so that :func:`sims._flags.prepare_workdir` compares them with this run's (and
  ``--overwrite`` may replace it) instead of refusing a non-empty directory."""
  record = os.path.join(workdir, _flags.RUN_FILE)
  stem = os.path.join(workdir, "margin_check")
  if (not os.path.isdir(workdir) or os.path.exists(record) or not os.path.isfile(stem + ".json")
      or not set(os.listdir(workdir)) <= set(_OUTPUTS)):
    return
  _, meta = rd.results.load(stem)
  same = json.loads(json.dumps(rd.results._jsonable(c.to_dict()))) == meta.get("config")
  saved = settings if same else {"config": "unknown: written before run records, with other settings than now"}
  with open(record, "w") as f:
    json.dump({"app": "margin_check", "settings": saved}, f, indent=1, sort_keys=True)


@_flags.exit_on_flag_error
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.ERROR)  # no "Unable to initialize backend"
  import jax
  jax.config.update("jax_enable_x64", True)
  c, workdir = _CONFIG.value, _WORKDIR.value
  validate_config(c)
  selected = validate_experiments(_EXPERIMENTS.value)
  if not _PLOT_ONLY.value:  # a redraw reads a finished run and claims nothing
    settings = run_settings(c)
    _adopt_saved_run(workdir, c, settings)
    _flags.prepare_workdir(workdir, "margin_check", settings, overwrite=_OVERWRITE.value)
  verdict_path = _VERDICTS.value or os.path.join(workdir, "theory_verdicts.json")
  start = time.perf_counter()
  paths = run(c, workdir, _FIGDIR.value, verdict_path, experiments=selected, plot_only=_PLOT_ONLY.value)
  print(f"wrote {', '.join(paths) or 'no figures'}, {verdict_path} and {workdir}/margin_check.* "
        f"in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
  app.run(main)
