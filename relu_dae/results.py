"""Results on disk: arrays as ``.npz`` plus metadata as ``.json``, written atomically.

Never pickled: arrays load with ``allow_pickle=False`` and metadata is plain JSON.
Each write goes to a temporary file in the target directory, then ``os.replace``
renames it, so a killed run leaves either the old file or the new one, never half.

Examples:
  >>> import numpy as np, tempfile, os, relu_dae as rd
  >>> d = tempfile.mkdtemp()
  >>> _ = rd.results.save(os.path.join(d, "run"), {"x": np.arange(3)}, {"sigma": 0.2})
  >>> arrays, meta = rd.results.load(os.path.join(d, "run"))
  >>> arrays["x"].tolist(), meta["sigma"]
  ([0, 1, 2], 0.2)
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import tempfile
import zipfile
from typing import Any
from collections.abc import Mapping

import numpy as np

from relu_dae import _checks

__all__ = [
    "versions", "save_json", "save", "load",
]


def versions() -> dict[str, str]:
  """Versions of the packages that determine a result."""
  import jax
  import optax
  import relu_dae
  return {"relu_dae": relu_dae.__version__, "jax": jax.__version__, "optax": optax.__version__,
          "numpy": np.__version__, "python": platform.python_version(),
          "backend": jax.default_backend()}


class _MissingFile(FileNotFoundError, ValueError):  # noqa: N818  (both a FileNotFoundError and a ValueError)
  """A missing result file: a ``FileNotFoundError`` and, as a bad argument, a ``ValueError``."""


# Names np.savez takes as its own arguments: as array names they would collide or vanish.
_SAVEZ_RESERVED = ("file", "allow_pickle")


def _json_text(name: str, obj) -> str:
  if not isinstance(obj, Mapping):
    raise TypeError(f"{name} must be a mapping (e.g. a dict), got {type(obj).__name__}")
  try:
    return json.dumps(_jsonable(obj), indent=2, sort_keys=True, allow_nan=False)
  except ValueError as e:
    raise ValueError(f"{name}: {e}") from None


def _storable(arrays) -> dict[str, np.ndarray]:
  """``arrays`` as numpy arrays that ``.npz`` holds without pickling; names checked."""
  if not isinstance(arrays, Mapping):
    raise TypeError(f"arrays must be a mapping name -> array, got {type(arrays).__name__}")
  out = {}
  for k, v in arrays.items():
    if not isinstance(k, str):
      raise TypeError(f"arrays keys must be strings, got {k!r}")
    if k in _SAVEZ_RESERVED:
      raise ValueError(f"arrays key {k!r} is reserved by numpy.savez; rename it")
    try:
      out[k] = np.asarray(v)
    except ValueError:  # ragged nesting
      raise TypeError(f"arrays[{k!r}] is ragged, not a rectangular array; results are never pickled") from None
    if out[k].dtype.hasobject:
      raise TypeError(f"arrays[{k!r}] has dtype {out[k].dtype} (Python objects, given a "
                      f"{type(v).__name__}); results are never pickled, store numbers or strings")
  return out


def _atomic_write(path: str, write) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    with os.fdopen(fd, "wb") as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _jsonable(x: Any) -> Any:
  """Converts numpy scalars/arrays and non-finite floats (→ ``None``) to strict JSON."""
  if isinstance(x, Mapping):
    out = {str(k): _jsonable(v) for k, v in x.items()}
    if len(out) < len(x):
      keys = [k for k in x if [str(j) for j in x].count(str(k)) > 1]
      raise ValueError(f"keys {keys} would become the same JSON key")
    return out
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, np.ndarray) or (hasattr(x, "__array__") and not isinstance(x, (str, bytes))):
    arr = np.asarray(x)
    return _jsonable(arr.tolist()) if arr.ndim else _jsonable(arr.item())
  if isinstance(x, float) and not math.isfinite(x):
    return None
  if isinstance(x, (bool, int, float, str)) or x is None:
    return x
  if callable(x) and hasattr(x, "__qualname__"):  # a function: its name, never its address
    return f"{getattr(x, '__module__', '')}.{x.__qualname__}"
  return str(x)


def save_json(path: str, obj: Mapping[str, Any]) -> str:
  """Atomically writes strict JSON (non-finite numbers become ``null``)."""
  path = _checks.output_file("path", path)
  text = _json_text("obj", obj)
  _atomic_write(path, lambda f: f.write(text.encode()))
  return path


def save(stem: str, arrays: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
  """Writes ``stem.npz`` (arrays) and ``stem.json`` (meta + versions + time), atomically.

  Non-finite arrays are written as they are (NaN marks a failed run in an array
  result); flag such runs in ``meta`` as well. Returns ``stem``. Everything is checked
  before anything is written: ``stem`` is the name without extension, ``arrays`` hold no
  Python objects (``TypeError`` naming the key), ``meta`` is a mapping.
  """
  stem = _checks.output_file("stem", stem, ".npz", ".json")
  if stem.endswith((".npz", ".json")):
    raise ValueError(f"stem is the name without extension (save writes stem.npz and stem.json), got {stem!r}")
  arrays = _storable(arrays)
  if not isinstance(meta, Mapping):
    raise TypeError(f"meta must be a mapping (e.g. a dict), got {type(meta).__name__}")
  info = {"meta": dict(meta), "versions": versions(),
          "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
  text = _json_text("meta", info)
  _atomic_write(stem + ".npz", lambda f: np.savez(f, **arrays))
  _atomic_write(stem + ".json", lambda f: f.write(text.encode()))
  return stem


def load(stem: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
  """Loads what :func:`save` wrote: ``(arrays, meta)``; never unpickles.

  ``stem`` is the name without extension. A missing ``stem.npz`` or ``stem.json`` raises an
  error that is both ``FileNotFoundError`` and ``ValueError``; a ``stem.npz`` that is not an
  ``.npz`` archive, or a ``stem.json`` that :func:`save` did not write, a ``ValueError``.
  """
  stem = _checks.path("stem", stem)
  for ext in (".npz", ".json"):
    if not os.path.isfile(stem + ext):
      hint = " (stem is the name without extension)" if stem.endswith((".npz", ".json")) else ""
      what = "is a directory" if os.path.isdir(stem + ext) else "does not exist"
      raise _MissingFile(f"stem: {stem + ext!r} {what}{hint}")
  if not zipfile.is_zipfile(stem + ".npz"):
    raise ValueError(f"stem: {stem + '.npz'!r} is not an .npz archive")
  with np.load(stem + ".npz", allow_pickle=False) as f:
    arrays = {k: f[k] for k in f.files}
  return arrays, _load_meta(stem)


def _load_meta(stem: str) -> dict[str, Any]:
  with open(stem + ".json") as f:
    try:
      info = json.load(f)
    except ValueError as e:
      raise ValueError(f"stem: {stem + '.json'!r} is not valid JSON ({e})") from None
  if not isinstance(info, Mapping) or "meta" not in info:
    raise ValueError(f"stem: {stem + '.json'!r} was not written by results.save (no 'meta' entry)")
  return info["meta"]
