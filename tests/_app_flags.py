"""The harness of the apps' bad-flag tables (tests/test_app_flags*.py): a guard that fails a test if
anything trains or draws data, configs with overrides, files left behind, readable case ids."""

import collections
import contextlib
import importlib
import pathlib

import pytest

from sims import _flags

WORK = ("relu_dae.train.fit", "relu_dae.train.train", "relu_dae.diffusion.fit", "relu_dae.diffusion.train",
        "relu_dae.sweep.run", "relu_dae.unet.train", "relu_dae.data.separable_mixture",
        "relu_dae.data.separable_mixture_arrays", "relu_dae.data.locally_sparse", "relu_dae.data.simplex_means",
        "relu_dae.data.load_digits")


def refuse_work(monkeypatch) -> None:
  """Makes every training and data-drawing entry point fail the test: the checks must come first."""
  for target in WORK:
    module, name = target.rsplit(".", 1)

    def refuse(*args, _name=target, **kwargs):
      pytest.fail(f"{_name} ran before the flags and config were checked")

    monkeypatch.setattr(importlib.import_module(module), name, refuse)


def config(app: str, preset: str, overrides: dict):
  """``sims/configs/<app>.py:<preset>`` with ``{dotted path: value}`` overrides (``families[1].ps`` indexes)."""
  c = importlib.import_module(f"sims.configs.{app}").get_config(preset)
  for path, value in overrides.items():
    parent, _, key = path.rpartition(".")
    node = _flags.get(c, parent) if parent else c
    with node.unlocked() if hasattr(node, "unlocked") else contextlib.nullcontext():
      node[key] = value
  return c


def files(path: pathlib.Path) -> list:
  """Every file below ``path`` (none if it is not a directory)."""
  return [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []


def case_ids(rows) -> list[str]:
  """``<app>-<k>`` for the k-th row of each app."""
  seen = collections.Counter()
  out = []
  for row in rows:
    seen[row[0]] += 1
    out.append(f"{row[0]}-{seen[row[0]]}")
  return out
