"""``python -m sims.detect_steer``: absl flags, checked before the first model trains, then
:func:`sims.detect_steer.run`.

Example::

  python -m sims.detect_steer --config=sims/configs/detect_steer.py:smoke --workdir=/tmp/detect_steer_smoke
"""

from __future__ import annotations

import json
import logging as std_logging
import os

from absl import app
from absl import flags
from ml_collections import config_flags

from sims import _flags
from sims.detect_steer import EXPERIMENTS, run, validate_config, validate_experiments

__all__ = ["main"]

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "detect_steer.py"),
    "Preset: sims/configs/detect_steer.py[:<preset>] (presets: default = the committed figures, smoke = tests, "
    "paper = larger); override fields with --config.<field>=...")
_WORKDIR = flags.DEFINE_string("workdir", "runs/detect_steer", "Where detection.json, steering.json and arrays.npz go "
                               "(runs/ is not tracked).")
_FIGDIR = flags.DEFINE_string("figdir", "", "Where figures go; empty = <workdir>/figures; --figdir=figures rewrites "
                              "the committed figures.")
_EXPERIMENTS = flags.DEFINE_list("experiments", [], f"Run only these experiments (names: {', '.join(EXPERIMENTS)}); "
                                 "empty = all.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a run with other settings in --workdir.")


@_flags.exit_on_flag_error
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.ERROR)  # no "Unable to initialize backend"
  c, workdir = _CONFIG.value, _WORKDIR.value
  selected = validate_experiments(_EXPERIMENTS.value)
  validate_config(c)
  _flags.prepare_workdir(workdir, "detect_steer", json.loads(json.dumps(c.to_dict(), default=list)),
                         overwrite=_OVERWRITE.value)
  out = run(c, workdir, _FIGDIR.value, experiments=selected)
  print(f"wrote {', '.join(out['figures'])} and {workdir}/detection.json, steering.json in {out['seconds']:.0f} s")


if __name__ == "__main__":
  app.run(main)
