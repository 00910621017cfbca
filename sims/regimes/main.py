"""absl entry point of the regimes app: ``python -m sims.regimes --help`` lists the flags.

The flags, the config and both directories are checked before the first model trains; a bad
one ends the app with one line naming it (exit status 1).
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
from ml_collections import config_flags

import sims.regimes as regimes
from sims import _flags
from sims.regimes import experiments

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "regimes.py"),
    "Preset: sims/configs/regimes.py[:<preset>] (presets: default, smoke); override fields with --config.<field>=...")
_WORKDIR = flags.DEFINE_string("workdir", "runs/regimes", "Where results (regimes.npz, regimes.json) go.")
_FIGDIR = flags.DEFINE_string("figdir", "", "Where figures go; empty = <workdir>/figures. "
                              "--figdir=figures rewrites the committed figures.")
_EXPERIMENTS = flags.DEFINE_list("experiments", [], "Run only these experiments (names: "
                                 f"{', '.join(experiments.EXPERIMENTS)}); empty = all.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a run with other settings in --workdir.")


def summary_rows(summary: dict) -> list[dict]:
  """The closing table: per model, the fraction of samples stored and its loss against the analytic one."""
  rows = []
  for name in ("memorization", "generalization", "hybrid", "digits_memorization", "digits_generalization"):
    s = summary.get(name)
    if s is not None:
      analytic = s.get("loss_W_mem", s.get("loss_analytic"))
      rows.append({"model": name, "stored": s["stored_fraction"], "loss": s["loss"],
                   "analytic loss": analytic if analytic is not None else "—"})
  return rows


@_flags.exit_on_flag_error
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  _flags.quiet_logs()
  workdir = _WORKDIR.value
  figdir = _flags.figdir_for(workdir, _FIGDIR.value)
  summary = regimes.run(_CONFIG.value, workdir, figdir, experiments=_EXPERIMENTS.value, overwrite=_OVERWRITE.value)
  print(_flags.summary_table(summary_rows(summary)))
  print(f"wrote {figdir}/regimes_*.png and {workdir}/regimes.npz/.json in {summary['seconds']:.0f} s")


if __name__ == "__main__":
  app.run(main)
