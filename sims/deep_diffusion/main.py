"""``python -m sims.deep_diffusion``: absl flags, checked before the first model trains, then
:func:`sims.deep_diffusion.run`.

Example::

  python -m sims.deep_diffusion --config=sims/configs/deep_diffusion.py:smoke --workdir=/tmp/deep_diffusion_smoke
"""

from __future__ import annotations

import json
import logging as std_logging
import os

from absl import app
from absl import flags
from ml_collections import config_flags

from sims import _flags
from sims.deep_diffusion import EXPERIMENTS, run, validate_config, validate_experiments

__all__ = ["main"]

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "deep_diffusion.py"),
    "Preset: sims/configs/deep_diffusion.py[:<preset>] (presets: default = the committed figures, smoke = tests, "
    "gpu = larger images and models); override fields with --config.<field>=...")
_WORKDIR = flags.DEFINE_string("workdir", "runs/deep_diffusion", "Where sweep.json, hybrid.json, arrays.npz and the "
                               "trained models go (runs/ is not tracked); a rerun with the same config resumes.")
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
  _flags.prepare_workdir(workdir, "deep_diffusion", json.loads(json.dumps(c.to_dict(), default=list)),
                         overwrite=_OVERWRITE.value)
  out = run(c, workdir, _FIGDIR.value, experiments=selected)
  written = ", ".join(f"{workdir}/{name}.json" for name in selected)
  print(f"wrote {', '.join(out['figures'])} and {written} in {out['seconds']:.0f} s")


if __name__ == "__main__":
  app.run(main)
