"""``python -m sims.real_steer``: absl flags, checked before any model loads, then :func:`sims.real_steer.run`.

Example::

  python -m sims.real_steer --config.target=oil.txt --config.memorized=memorized.txt --config.ordinary=ordinary.txt
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
from ml_collections import config_flags

from sims import _flags
from sims.real_detect import main_body
from sims.real_steer import run, validate_config

__all__ = ["main"]

_CONFIG = config_flags.DEFINE_config_file(
    "config", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "real_steer.py"),
    "Preset: sims/configs/real_steer.py[:<preset>] (sd14 = the official steering notebook on SD1.4, dit); "
    "override fields with --config.<field>=...")
_WORKDIR = flags.DEFINE_string("workdir", "runs/real_steer", "Where steer.jsonl, images/ and summary.json go; "
                               "a rerun with the same config resumes at the first missing image.")
_FIGDIR = flags.DEFINE_string("figdir", "", "Where the steering figure goes; empty = <workdir>/figures.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a run with other settings in --workdir.")


@_flags.exit_on_flag_error
def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  _flags.quiet_logs()
  out = main_body("real_steer", _CONFIG.value, _WORKDIR.value, _FIGDIR.value, _OVERWRITE.value, run, validate_config)
  workdir = _WORKDIR.value
  print(f"generated {out['new']} new images; wrote {workdir}/summary.json and {out['figure']} "
        f"in {out['seconds']:.0f} s")


if __name__ == "__main__":
  app.run(main)
