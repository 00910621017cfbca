"""The checks every sims app runs on its flags and config before it trains anything, and the
helpers its ``main`` shares (:func:`prepare_dirs`, :func:`experiments`, :func:`quiet_logs`,
:func:`summary_table`). Each app defines its own absl flags in ``sims/<app>/main.py``.

Outputs go under ``--workdir``: figures default to ``<workdir>/figures``, so the committed
``figures/`` are only rewritten on request (``--figdir=figures``).

The checks raise :class:`FlagError` (a ``ValueError``) naming the flag or the override that
would fix it, e.g. ``--config.n_sigma.K=1: must be an integer >= 2 ...``; run from the command
line (:func:`exit_on_flag_error`), the app then exits with that message, before any work.
"""

from __future__ import annotations

import contextlib
import math
import os
import re

import numpy as np

__all__ = ["RUN_FILE", "FlagError", "checked_dirs", "choice", "exit_on_flag_error", "experiments", "fail",
           "figdir_for", "get", "integer", "integers", "optional_real", "prepare_dirs", "prepare_workdir", "quiet_logs",
           "real", "reals", "saved_results", "section", "seed", "summary_table", "writable_dir"]


class FlagError(ValueError):
  """A bad flag or config field, found before any work; the message names the flag."""


def exit_on_flag_error(main):
  """Wraps an app's ``main``: a :class:`FlagError` ends the app with its message (exit status 1)
  instead of a traceback; any other error keeps its traceback."""
  import functools
  import sys

  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except FlagError as err:
      sys.exit(f"error: {err}")
  return wrapped


def figdir_for(workdir: str, figdir: str | None) -> str:
  """``figdir``, or ``<workdir>/figures`` when it is ``None`` or empty (the flag's default)."""
  return figdir if figdir else os.path.join(workdir, "figures")


def writable_dir(name: str, path: str) -> str:
  """Creates ``path`` if needed and checks that files can be written there, before any work.

  Raises ``ValueError`` naming the flag (``name``) when ``path`` is a file, cannot be
  created, or is not writable.
  """
  import tempfile
  if not isinstance(path, (str, os.PathLike)) or not str(path):
    raise FlagError(f"--{name} must be a directory path, got {path!r}")
  if os.path.exists(path) and not os.path.isdir(path):
    raise FlagError(f"--{name}={path!r} is a file, not a directory")
  try:
    os.makedirs(path, exist_ok=True)
    with tempfile.TemporaryFile(dir=path):
      pass
  except OSError as err:
    raise FlagError(f"--{name}={path!r} is not a writable directory: {err}") from None
  return path


def checked_dirs(workdir: str, figdir: str | None) -> str:
  """Checks that ``workdir`` and ``figdir`` (default ``<workdir>/figures``) are writable directories, before
  any work; returns the figdir. For apps whose ``run`` is called without claiming the workdir."""
  figdir = figdir_for(workdir, figdir)
  writable_dir("workdir", workdir)
  return writable_dir("figdir", figdir)


def saved_results(workdir: str, stems) -> None:
  """Raises ``ValueError`` naming ``--workdir`` unless every ``<workdir>/<stem>.npz`` and ``.json``
  exists (what ``--plot_only`` redraws from)."""
  for stem in stems:
    for ext in (".npz", ".json"):
      if not os.path.isfile(os.path.join(workdir, stem + ext)):
        raise FlagError(f"--plot_only redraws from saved results, but --workdir={workdir!r} has no {stem}{ext}: "
                         "run without --plot_only first (or point --workdir at a finished run)")


RUN_FILE = "run.json"


def _flat(tree, prefix: str = "") -> dict:
  """``{"a.b": leaf}`` of a nested dict (lists and tuples are leaves, as in a config)."""
  if not isinstance(tree, dict):
    return {prefix: tree}
  out = {}
  for name, value in tree.items():
    out.update(_flat(value, f"{prefix}.{name}" if prefix else str(name)))
  return out


def prepare_workdir(workdir: str, app: str, settings: dict, *, overwrite: bool) -> str:
  """Claims ``workdir`` for one run of ``app`` with ``settings`` (a JSON-able dict, e.g. the config),
  before any work.

  A new or empty directory gets ``<workdir>/run.json`` recording ``app`` and ``settings``. A
  directory holding a run with the same settings is reused: the run resumes. One holding a run with
  other settings raises :class:`FlagError` naming the settings that differ and the two ways on:
  ``--overwrite`` (the old run is deleted first) or a new ``--workdir``. A non-empty directory
  without ``run.json`` is never deleted, even with ``overwrite``.

  Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = prepare_workdir(d, "demo", {"n": 1}, overwrite=False)
    >>> _ = prepare_workdir(d, "demo", {"n": 1}, overwrite=False)  # same run: resumes
    >>> prepare_workdir(d, "demo", {"n": 2}, overwrite=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sims._flags.FlagError: --workdir=... holds a demo run with other settings (n: 1 there, 2 now); pass --overwrite ...
  """
  import json
  import shutil
  writable_dir("workdir", workdir)
  record = {"app": app, "settings": json.loads(json.dumps(settings, default=list))}
  path = os.path.join(workdir, RUN_FILE)
  if os.path.isfile(path):
    with open(path) as f:
      old = json.load(f)
    if old == record:
      return workdir
    if not overwrite:
      raise FlagError(f"--workdir={workdir!r} holds {_describe(old, record)}; pass --overwrite to replace it, "
                      "or choose a new --workdir")
    shutil.rmtree(workdir)
    writable_dir("workdir", workdir)
  elif os.listdir(workdir):
    raise FlagError(f"--workdir={workdir!r} is not empty and holds no {RUN_FILE} of an app run: "
                    "choose a new or empty --workdir (nothing there is deleted, even with --overwrite)")
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=1, sort_keys=True)
  os.replace(tmp, path)
  return workdir


def _describe(old: dict, new: dict, shown: int = 4) -> str:
  """What differs between two run records, for :func:`prepare_workdir`'s message."""
  if old.get("app") != new["app"]:
    return f"a run of another app ({old.get('app')!r})"
  a, b = _flat(old.get("settings", {})), _flat(new["settings"])
  keys = [k for k in sorted(set(a) | set(b)) if a.get(k, "<unset>") != b.get(k, "<unset>")]
  diff = ", ".join(f"{k}: {a.get(k, '<unset>')} there, {b.get(k, '<unset>')} now" for k in keys[:shown])
  more = f", and {len(keys) - shown} more" if len(keys) > shown else ""
  return f"a {new['app']} run with other settings ({diff}{more})"


def prepare_dirs(workdir: str, figdir: str | None, app: str, settings: dict, *, overwrite: bool) -> tuple[str, str]:
  """:func:`prepare_workdir`, then :func:`writable_dir` of ``figdir`` (default ``<workdir>/figures``),
  in the order that leaves nothing behind when either is refused: a figdir outside the workdir is
  checked first, one inside it only once the workdir is claimed. Returns ``(workdir, figdir)``."""
  figdir = figdir_for(workdir, figdir)
  inside = os.path.commonpath([os.path.abspath(figdir), os.path.abspath(workdir)]) == os.path.abspath(workdir)
  if not inside:
    writable_dir("figdir", figdir)
  prepare_workdir(workdir, app, settings, overwrite=overwrite)
  return workdir, writable_dir("figdir", figdir)


def experiments(names, known) -> tuple[str, ...]:
  """The experiments ``--experiments`` selects, in the order of ``known``; all of them when empty.

  Raises :class:`FlagError` naming the flag for an unknown or repeated name.

  Example:
    >>> experiments([], ("a", "b")), experiments(["b", "a"], ("a", "b"))
    (('a', 'b'), ('a', 'b'))
  """
  names = tuple(names or ())
  shown = ",".join(str(n) for n in names)
  for name in names:
    if name not in known:
      raise FlagError(f"--experiments={shown}: unknown experiment {name!r}; names: {', '.join(known)}")
  if len(set(names)) < len(names):
    raise FlagError(f"--experiments={shown}: an experiment is listed twice")
  return tuple(n for n in known if n in names) if names else tuple(known)


def quiet_logs() -> None:
  """Lowers JAX's start-up logging to errors (the "Unable to initialize backend 'tpu'" line),
  without choosing a platform: ``JAX_PLATFORMS`` stays the user's, so GPUs are still found."""
  import logging
  logging.getLogger("jax._src.xla_bridge").setLevel(logging.ERROR)


def summary_table(rows: list[dict]) -> str:
  """A plain-text table of ``rows`` (dicts with the same keys), the apps' closing summary.

  Example:
    >>> print(summary_table([{"experiment": "n_p", "configs": 12}, {"experiment": "hybrid", "configs": 8}]))
    experiment  configs
    n_p              12
    hybrid            8
  """
  if not rows:
    return ""
  keys = list(rows[0])
  cells = [[_cell(r.get(k)) for k in keys] for r in rows]
  widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
  align = [str.ljust if all(isinstance(r.get(k), str) for r in rows) else str.rjust for k in keys]
  lines = ["  ".join(a(k, w) for a, k, w in zip(align, keys, widths)).rstrip()]
  lines += ["  ".join(a(c, w) for a, c, w in zip(align, row, widths)).rstrip() for row in cells]
  return "\n".join(lines)


def _cell(v) -> str:
  if isinstance(v, float):
    return f"{v:.3g}"
  return "" if v is None else str(v)


# ----------------------------------------------------------------------------- config fields


def get(c, path: str):
  """The value at a dotted ``path`` of config ``c`` (``"families[2].d"`` indexes lists)."""
  node = c
  for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
    node = node[int(index)] if index else node[name]
  return node


def fail(path: str, value, need: str):
  """Raises the ``ValueError`` of a bad field: ``--config.<path>=<value>: <need>``."""
  shown = repr(value) if isinstance(value, str) else value
  raise FlagError(f"--config.{path}={shown}: {need}")


def _is_int(v) -> bool:
  return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
  return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _interval(lo, hi, closed) -> str:
  if hi == math.inf:
    return (">= " if closed[0] else "> ") + f"{lo:g}"
  if lo == -math.inf:
    return ("<= " if closed[1] else "< ") + f"{hi:g}"
  return "in " + ("[" if closed[0] else "(") + f"{lo:g}, {hi:g}" + ("]" if closed[1] else ")")


def _inside(v, lo, hi, closed) -> bool:
  return (v >= lo if closed[0] else v > lo) and (v <= hi if closed[1] else v < hi)


def _bound(lo, hi, hi_name, lo_name=None) -> str:
  named = lambda name, v: f"{name}={v}" if name else f"{v}"
  return f">= {named(lo_name, lo)}" + ("" if hi is None else f" and <= {named(hi_name, hi)}")


def integer(c, path: str, lo: int = 1, hi: int | None = None, *, hi_name: str | None = None,
            lo_name: str | None = None) -> int:
  """An integer field in ``[lo, hi]`` (bools refused); ``lo_name``/``hi_name`` say where the bounds come from."""
  v = get(c, path)
  if not (_is_int(v) and v >= lo and (hi is None or v <= hi)):
    fail(path, v, f"must be an integer {_bound(lo, hi, hi_name, lo_name)}")
  return int(v)


def real(c, path: str, lo: float = -math.inf, hi: float = math.inf, closed=(True, True)) -> float:
  """A finite real field in the interval ``lo..hi`` (ends ``closed`` or open)."""
  v = get(c, path)
  if not (_is_real(v) and math.isfinite(v) and _inside(v, lo, hi, closed)):
    fail(path, v, f"must be a finite number {_interval(lo, hi, closed)}")
  return float(v)


def optional_real(c, path: str, lo: float = -math.inf, hi: float = math.inf, closed=(True, True)):
  """``None`` or a :func:`real` field."""
  return None if get(c, path) is None else real(c, path, lo, hi, closed)


def _sequence(c, path: str, min_len: int, what: str) -> tuple:
  v = get(c, path)
  if isinstance(v, (str, bytes)) or not isinstance(v, (tuple, list)) or len(v) < min_len:
    fail(path, v, f"must be a {'non-empty tuple' if min_len == 1 else f'tuple of at least {min_len}'} of {what}")
  return tuple(v)


def reals(c, path: str, lo: float = -math.inf, hi: float = math.inf, closed=(True, True), *,
          min_len: int = 1, distinct: bool = False) -> tuple:
  """A tuple of at least ``min_len`` finite reals in ``lo..hi`` (``distinct``: no repeats)."""
  v = _sequence(c, path, min_len, f"finite numbers {_interval(lo, hi, closed)}")
  if not all(_is_real(x) and math.isfinite(x) and _inside(x, lo, hi, closed) for x in v):
    fail(path, v, f"every entry must be a finite number {_interval(lo, hi, closed)}")
  if distinct and len(set(v)) < len(v):
    fail(path, v, "entries must be distinct")
  return tuple(float(x) for x in v)


def integers(c, path: str, lo: int = 1, hi: int | None = None, *, min_len: int = 1,
             distinct: bool = False, hi_name: str | None = None) -> tuple:
  """A tuple of at least ``min_len`` integers in ``[lo, hi]`` (``distinct``: no repeats)."""
  bound = _bound(lo, hi, hi_name)
  v = _sequence(c, path, min_len, f"integers {bound}")
  if not all(_is_int(x) and x >= lo and (hi is None or x <= hi) for x in v):
    fail(path, v, f"every entry must be an integer {bound}")
  if distinct and len(set(v)) < len(v):
    fail(path, v, "entries must be distinct")
  return tuple(int(x) for x in v)


def choice(c, path: str, options) -> object:
  """A field that must be one of ``options``."""
  v = get(c, path)
  if isinstance(v, (list, dict)) or v not in tuple(options):
    fail(path, v, f"must be one of {tuple(options)}")
  return v


def seed(c, path: str) -> int:
  """A PRNG seed: an integer in ``[0, 2**31)`` (what ``relu_dae.sweep`` accepts)."""
  return integer(c, path, 0, 2**31 - 1)


@contextlib.contextmanager
def section(path: str):
  """Re-raises a library check's error inside the block as a ``ValueError`` naming ``--config.<path>``."""
  try:
    yield
  except (TypeError, ValueError, ZeroDivisionError) as err:
    raise FlagError(f"--config.{path}: {err}") from None
