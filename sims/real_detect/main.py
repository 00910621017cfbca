"""``python -m sims.real_detect``: absl flags, checked before any model loads, then :func:`sims.real_detect.run`.

Example::

  python -m sims.real_detect --config.memorized=memorized.txt --config.ordinary=ordinary.txt --workdir=runs/sd14
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
from ml_collections import config_flags

from sims import _flags
from sims.real_detect import main_body
from sims.real_detect import run, validate_config

__all__ = ["main"]

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "real_detect.py"),
    "Preset: sims/configs/real_detect.py[:<preset>] (sd14 = Table 1 on Stable Diffusion 1.4, dit, ddpm); "
    "override fields with --config.<field>=...")
_WORKDIR = flags.DEFINE_string("workdir", "runs/real_detect", "Where scores.jsonl, images/, summary.json and "
                               "table.md go; a rerun with the same config resumes at the first unscored image.")
_FIGDIR = flags.DEFINE_string("figdir", "", "Where the ROC figure goes; empty = <workdir>/figures.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a run with other settings in --workdir.")


@_flags.exit_on_flag_error
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  _flags.quiet_logs()
  out = main_body("real_detect", _CONFIG.value, _WORKDIR.value, _FIGDIR.value, _OVERWRITE.value, run, validate_config)
  workdir = _WORKDIR.value
  print(f"scored {out['new']} new images; wrote {workdir}/summary.json, {workdir}/table.md"
        f"{' and ' + out['figure'] if out['figure'] else ''} in {out['seconds']:.0f} s")


if __name__ == "__main__":
  app.run(main)
