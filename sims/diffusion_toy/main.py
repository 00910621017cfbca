"""``python -m sims.diffusion_toy``: absl flags, checked before anything trains, then :func:`sims.diffusion_toy.run`.

Example::

  python -m sims.diffusion_toy --config=sims/configs/diffusion_toy.py:smoke --workdir=/tmp/diffusion_toy_smoke
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import time

from absl import app
from absl import flags
from ml_collections import config_flags

from sims import _flags
from sims.diffusion_toy import EXPERIMENTS, run, validate_config, validate_experiments

__all__ = ["main"]

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "diffusion_toy.py"),
    "Preset: sims/configs/diffusion_toy.py[:<preset>] (presets: default = the committed figures, smoke = tests, "
    "paper = GPU size); override fields with --config.<field>=...")
_WORKDIR = flags.DEFINE_string("workdir", "runs/diffusion_toy",
                               "Where results (.npz, .json) go (runs/ is not tracked).")
_FIGDIR = flags.DEFINE_string("figdir", "", "Where figures go; empty = <workdir>/figures; --figdir=figures rewrites "
                              "the committed figures.")
_EXPERIMENTS = flags.DEFINE_list("experiments", [], f"Run only these experiments (names: {', '.join(EXPERIMENTS)}); "
                                 "empty = all.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a run with other settings in --workdir.")
_PLOT_ONLY = flags.DEFINE_bool("plot_only", False, "Redraw the figures from saved results.")


@_flags.exit_on_flag_error
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.ERROR)  # no "Unable to initialize backend"
  c, workdir = _CONFIG.value, _WORKDIR.value
  selected = validate_experiments(_EXPERIMENTS.value)
  if not _PLOT_ONLY.value:
    validate_config(c)
    _flags.prepare_workdir(workdir, "diffusion_toy", json.loads(json.dumps(c.to_dict(), default=list)),
                           overwrite=_OVERWRITE.value)
  start = time.perf_counter()
  paths = run(c, workdir, _FIGDIR.value, experiments=selected, plot_only=_PLOT_ONLY.value)
  print(f"wrote {', '.join(paths) or 'no figures'} and {workdir}/*.npz/.json in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
  app.run(main)
