"""absl flags shared by the sims apps, defined only when an app runs as ``__main__``.

Defining flags at import time would make two apps impossible to import together (absl
refuses a flag defined twice), so each app calls :func:`define` from its ``__main__`` block.
"""

from __future__ import annotations

import os

from absl import flags
from ml_collections import config_flags


def define(config_file: str, workdir: str, **extra) -> dict:
  """Defines ``--config`` (an ml_collections preset file in ``sims/configs/``), ``--workdir``,
  ``--figdir`` and any ``extra`` flags (name → FlagHolder-returning thunk); returns the holders."""
  holders = dict(
      config=config_flags.DEFINE_config_file(
          "config", os.path.join(os.path.dirname(__file__), "configs", config_file), "Preset (ml_collections)."),
      workdir=flags.DEFINE_string("workdir", workdir, "Where results (.npz, .json) go."),
      figdir=flags.DEFINE_string("figdir", "figures", "Where figures go."))
  holders.update({name: make() for name, make in extra.items()})
  return holders


def writable_dir(name: str, path: str) -> str:
  """Creates ``path`` if needed and checks that files can be written there, before any work.

  Raises ``ValueError`` naming the flag (``name``) when ``path`` is a file, cannot be
  created, or is not writable.
  """
  import tempfile
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(f"--{name}={path!r} is a file, not a directory")
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as err:
    raise ValueError(f"--{name}={path!r} is not a writable directory: {err}") from None
  return path
