"""The optional dependencies of :mod:`relu_dae.real`, checked once with an install hint."""

from __future__ import annotations

import importlib.util

INSTALL = 'pip install "relu-dae[real]"  (torch, diffusers, transformers)'


def require() -> None:
  """Raises ``ImportError`` naming what is missing and how to install it."""
  missing = [m for m in ("torch", "diffusers") if importlib.util.find_spec(m) is None]
  if missing:
    raise ImportError(f"relu_dae.real needs {', '.join(missing)}, which the core package does not install: {INSTALL}")
